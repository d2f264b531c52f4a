/*
 * smc_loop: self-modifying code.  A function in its own page is rewritten
 * (a different immediate each time), cleaned to the point of unification,
 * the instruction cache and branch predictor invalidated, and called; data
 * in the same page is updated too, as a JIT's literal pools are.
 *
 *   smc_loop ITERATIONS
 */
#include "bench.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t code[1024] __attribute__((aligned(4096)));

#define MOV_R0_IMM(i) (0xe3a00000u | ((i) & 0xffu))   /* mov r0, #imm8 */
#define ADD_R0_IMM(i) (0xe2800000u | ((i) & 0xffu))   /* add r0, r0, #imm8 */
#define BX_LR         0xe12fff1eu

static void sync_code(uint32_t a)
{
    dccmvau(a);
    dsb();
    icimvau(a);
    bpiall();
    dsb();
    isb();
}

int main(void)
{
    char *argv[8];
    int argc = bench_args(argv, 8);
    uint32_t n = bench_arg(argc, argv, 1, 10000);
    bench_identity(l1);
    mmu_on_short(l1);
    uint32_t (*fn)(void) = (uint32_t (*)(void))(uintptr_t)code;
    uint32_t s = 0;
    for (uint32_t i = 0; i < n; i++) {
        code[0] = MOV_R0_IMM(i);
        code[1] = ADD_R0_IMM(i >> 8);
        code[2] = BX_LR;
        code[512 + (i & 255)] = s;          /* data beside the code */
        sync_code((uint32_t)code);
        s = s * 33u + fn() + code[512 + ((i + 1) & 255)];
    }
    pr("smc_loop: %u rewrites\n", n);
    bench_done("smc_loop", "code", s);
}
