/*
 * smc: self-modifying code.
 *
 * Functions are generated into a code page at PA 0x41000000, which is
 * mapped twice (identity and a section alias at 0x90000000).  New
 * instructions are written through one mapping, made visible with
 * DCCMVAU / DSB / ICIMVAU / BPIALL / DSB / ISB, and executed through either
 * mapping, many times with different immediates and operations.  Also: one
 * of sixteen functions in the page rewritten at a time, a literal in the
 * code page changed by plain stores, and a function that patches its own
 * next instruction.
 */
#include "bm.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));

#define CODE     0x41000000u /* identity mapping of the code page */
#define CODE_ALT 0x90000000u /* section alias of the same page */

/* ARM encodings */
#define MOV_R1_R0     0xe1a01000u
#define ADD_R0_R0_R1  0xe0800001u
#define SUB_R0_R0_R1  0xe0400001u
#define EOR_R0_R0_R1  0xe0200001u
#define NOP           0xe320f000u
#define LDR_R0_PC_4   0xe59f0004u /* ldr r0, [pc, #4] */

typedef uint32_t (*fn1)(uint32_t);
typedef uint32_t (*fn3)(uint32_t, uint32_t, uint32_t);

/* make [va, va+len) written through wva executable at xva */
static void sync_code(uint32_t wva, uint32_t xva, uint32_t len)
{
    uint32_t line = dcache_line();
    for (uint32_t o = 0; o < len; o += line) {
        dccmvau(wva + o);
    }
    dsb();
    for (uint32_t o = 0; o < len; o += 4) { /* the I-cache line may be smaller */
        icimvau(xva + o);
    }
    bpiall();
    dsb();
    isb();
}

static const uint32_t ops[3] = {ADD_R0_R0_R1, SUB_R0_R0_R1, EOR_R0_R0_R1};

static uint32_t model(unsigned op, uint32_t k, uint32_t arg)
{
    return op == 0 ? k + arg : op == 1 ? k - arg : k ^ arg;
}

/* f(arg) = k <op> arg, 6 instructions (one slot is 32 bytes) */
static void gen(uint32_t wva, unsigned op, uint32_t k)
{
    st32(wva + 0, MOV_R1_R0);
    st32(wva + 4, movw(0, k & 0xffff));
    st32(wva + 8, movt(0, k >> 16));
    st32(wva + 12, ops[op]);
    st32(wva + 16, BX_LR);
    st32(wva + 20, NOP);
}

/* A function that patches its own "mov r0, #0" and then executes it:
 *   r0 = new instruction, r1 = where to store it, r2 = its executable VA */
__asm__(".section .rodata\n"
        ".balign 4\n"
        ".arm\n"
        "self_patch_tmpl:\n"
        "    str r0, [r1]\n"
        "    mcr p15, 0, r1, c7, c11, 1\n" /* DCCMVAU */
        "    dsb\n"
        "    mcr p15, 0, r2, c7, c5, 1\n"  /* ICIMVAU */
        "    mcr p15, 0, r0, c7, c5, 6\n"  /* BPIALL */
        "    dsb\n"
        "    isb\n"
        "self_patch_slot:\n"
        "    mov r0, #0\n"
        "    bx lr\n"
        "self_patch_end:\n"
        ".text\n");
extern const uint32_t self_patch_tmpl[], self_patch_slot[], self_patch_end[];

int main(void)
{
    sd_identity(l1);
    sd_section(l1, CODE_ALT, CODE, AP_RW, 0);
    mmu_on_short(l1);

    /* 1. one function rewritten 2000 times through both mappings */
    rnd_seed(42);
    begin("one function rewritten 2000 times");
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t wva = (i & 1) ? CODE_ALT : CODE;
        uint32_t xva = (i & 2) ? CODE_ALT : CODE;
        unsigned op = i % 3;
        uint32_t k = rnd(), arg = i * 0x01010101u;
        gen(wva, op, k);
        sync_code(wva, xva, 32);
        eq32(((fn1)xva)(arg), model(op, k, arg), "iteration %u", i);
    }
    end();

    /* 2. sixteen functions in one page, one rewritten at a time */
    uint32_t k[16];
    unsigned op[16];
    for (uint32_t s = 0; s < 16; s++) {
        k[s] = rnd();
        op[s] = s % 3;
        gen(CODE + 32 * s, op[s], k[s]);
    }
    sync_code(CODE, CODE, 16 * 32);
    begin("16 functions in a page, 500 single rewrites");
    for (uint32_t i = 0; i < 500; i++) {
        uint32_t s = rnd() % 16;
        k[s] = rnd();
        op[s] = (op[s] + 1) % 3;
        uint32_t wva = ((i & 1) ? CODE_ALT : CODE) + 32 * s;
        gen(wva, op[s], k[s]);
        sync_code(wva, CODE + 32 * s, 32);
        for (uint32_t t = 0; t < 16; t++) {
            uint32_t xva = ((i & 2) ? CODE_ALT : CODE) + 32 * t;
            eq32(((fn1)xva)(i), model(op[t], k[t], i), "slot %u", t);
        }
    }
    end();

    /* 3. a literal in the code page, changed by plain stores */
    uint32_t lit_fn = CODE + 0x800;
    st32(lit_fn + 0, LDR_R0_PC_4);  /* loads the word at lit_fn + 12 */
    st32(lit_fn + 4, BX_LR);
    st32(lit_fn + 8, NOP);
    st32(lit_fn + 12, 0);
    sync_code(lit_fn, lit_fn, 16);
    begin("literal in the code page rewritten 1000 times");
    for (uint32_t i = 0; i < 1000; i++) {
        uint32_t v = rnd();
        st32(((i & 1) ? CODE_ALT : CODE) + 0x80c, v);
        eq32(((fn1)lit_fn)(0), v, "iteration %u", i);
    }
    end();

    /* 4. a function that patches its own next instruction */
    uint32_t sp_fn = CODE + 0xc00;
    uint32_t n = (uint32_t)(self_patch_end - self_patch_tmpl);
    uint32_t slot = 4 * (uint32_t)(self_patch_slot - self_patch_tmpl);
    for (uint32_t i = 0; i < n; i++) {
        st32(sp_fn + 4 * i, self_patch_tmpl[i]);
    }
    sync_code(sp_fn, sp_fn, 4 * n);
    begin("function patching its own next instruction, 1000 times");
    for (uint32_t i = 0; i < 1000; i++) {
        uint32_t imm = rnd() & 0xffff;
        uint32_t store_va = ((i & 1) ? CODE_ALT : CODE) + 0xc00 + slot;
        uint32_t got = ((fn3)sp_fn)(movw(0, imm), store_va, sp_fn + slot);
        eq32(got, imm, "iteration %u", i);
    }
    end();

    finish("smc");
}
