/*
 * Shared declarations for the bare-metal ARMv7-A test programs.
 *
 * Everything here runs at PL1 (SVC mode) on QEMU's "virt" board with a
 * Cortex-A15, except the functions handed to run_user(), which run in USR
 * mode.  Output goes to the PL011 UART; the program ends QEMU through
 * semihosting SYS_EXIT.
 */
#ifndef BM_H
#define BM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- physical memory map of -M virt (the parts the tests use) ---- */
#define RAM_BASE    0x40000000u /* the image is linked here */
#define RAM_END     0x50000000u /* -m 256M */
#define UART_BASE   0x09000000u /* PL011 */
#define VIRTIO_BASE 0x0a000000u /* 32 virtio-mmio transports, 0x200 apart */
#define LOWPAGE     0x40000000u /* first 4 KiB of the image: scratch page */
#define SCRATCH     0x41000000u /* test data lives at and above this PA */

#define PAGE 0x1000u
#define MIB  0x100000u

/* ---- output and results ---- */
void uart_init(void);
void uart_putc(char c);
void pr(const char *fmt, ...);                 /* %s %c %d %u %x, width, 0, ll */
void vpr(const char *fmt, va_list ap);

/*
 * A named check groups one or more comparisons.  begin() names it; every
 * mismatch prints "FAIL <name> (<where>): got X expected Y" (the first few
 * per check); end() prints "ok <name>" when nothing failed.
 */
void begin(const char *fmt, ...);
int eq32(uint32_t got, uint32_t exp, const char *where, uint32_t arg);
int eq64(uint64_t got, uint64_t exp, const char *where, uint32_t arg);
int end(void);
int check32(const char *name, uint32_t got, uint32_t exp);
void note(const char *fmt, ...);               /* informational line */
/* Print "PASS <name>" and exit 0 when no check failed, else exit 1. */
void finish(const char *name) __attribute__((noreturn));
void sys_exit(int failed) __attribute__((noreturn));
extern unsigned total_failures;

/* ---- exceptions ---- */
enum { EXC_RESET, EXC_UND, EXC_SVC, EXC_PABT, EXC_DABT, EXC_IRQ, EXC_FIQ };

struct fault {
    unsigned armed;    /* set by fault_arm(); an abort/undef is then expected */
    unsigned count;    /* how many were taken while armed */
    uint32_t kind;     /* EXC_DABT, EXC_PABT or EXC_UND */
    uint32_t fsr, far; /* DFSR/DFAR or IFSR/IFAR */
    uint32_t pc;       /* address of the faulting instruction */
    uint32_t mode;     /* CPSR mode the fault was taken from */
};
extern volatile struct fault flt;

/*
 * Expect faults: each one is recorded and its instruction skipped.  A
 * prefetch abort is taken at the first instruction of a function called
 * with BL/BLX (its own code is what cannot be fetched), so the function
 * returns at once instead, with FAULT_RET in r0.
 */
#define FAULT_RET 0xfa017ed0u
void fault_arm(void);
void return_to_caller(void);                  /* ops.S: bx lr */
/* Stop expecting; returns the number of faults taken since fault_arm(). */
unsigned fault_disarm(void);
/*
 * Check that exactly one data abort was taken since fault_arm() with fault
 * status fs (short-descriptor FS[4:0] or long-descriptor STATUS[5:0],
 * chosen by DFSR.LPAE), write-not-read wnr and fault address far.
 */
void check_dabort(const char *name, uint32_t fs, uint32_t wnr, uint32_t far);
/* Check that no fault was taken since fault_arm(). */
void check_nofault(const char *name);
uint32_t fsr_status(uint32_t fsr);

/* Run fn(arg) in USR mode (IRQs masked) and return its result. */
uint32_t run_user(uint32_t (*fn)(uint32_t), uint32_t arg);

/* ---- ARM encodings, for tests that generate code ---- */
#define BX_LR 0xe12fff1eu
static inline uint32_t movw(uint32_t rd, uint32_t imm) /* rd = imm16 */
{
    return 0xe3000000u | ((imm >> 12) & 0xf) << 16 | rd << 12 | (imm & 0xfff);
}
static inline uint32_t movt(uint32_t rd, uint32_t imm) /* rd[31:16] = imm16 */
{
    return 0xe3400000u | ((imm >> 12) & 0xf) << 16 | rd << 12 | (imm & 0xfff);
}

/* ---- helpers in ops.S ---- */
void ldm8(const void *src, uint32_t out[8]);  /* one LDMIA of 8 registers */
void stm8(void *dst, const uint32_t in[8]);   /* one STMIA of 8 registers */
void fpu_enable(void);                        /* CPACR cp10/cp11 + FPEXC.EN */
uint64_t vldr64(const void *p);               /* VLDR d0, [p] */
void vstr64(void *p, uint64_t v);             /* VSTR d0, [p] */

/* ---- system registers ---- */
#define MRC(op1, crn, crm, op2)                                              \
    ({ uint32_t v_;                                                          \
       __asm__ volatile("mrc p15, " #op1 ", %0, " #crn ", " #crm ", " #op2   \
                        : "=r"(v_)); v_; })
#define MCR(op1, crn, crm, op2, val)                                         \
    __asm__ volatile("mcr p15, " #op1 ", %0, " #crn ", " #crm ", " #op2      \
                     :: "r"((uint32_t)(val)) : "memory")

#define SCTLR_M  (1u << 0)
#define SCTLR_A  (1u << 1)
#define SCTLR_C  (1u << 2)
#define SCTLR_Z  (1u << 11)
#define SCTLR_I  (1u << 12)
#define SCTLR_V  (1u << 13)

static inline uint32_t get_sctlr(void) { return MRC(0, c1, c0, 0); }
static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void dsb(void) { __asm__ volatile("dsb" ::: "memory"); }
static inline void set_sctlr(uint32_t v) { MCR(0, c1, c0, 0, v); isb(); }
static inline uint32_t get_dfsr(void) { return MRC(0, c5, c0, 0); }
static inline uint32_t get_dfar(void) { return MRC(0, c6, c0, 0); }
static inline uint32_t get_ifsr(void) { return MRC(0, c5, c0, 1); }
static inline uint32_t get_ifar(void) { return MRC(0, c6, c0, 2); }
static inline void set_ttbcr(uint32_t v) { MCR(0, c2, c0, 2, v); isb(); }
static inline void set_dacr(uint32_t v) { MCR(0, c3, c0, 0, v); isb(); }
static inline void set_contextidr(uint32_t v) { MCR(0, c13, c0, 1, v); isb(); }
static inline void set_ttbr0(uint32_t v) { MCR(0, c2, c0, 0, v); isb(); }
static inline void set_ttbr0_64(uint64_t v)
{
    __asm__ volatile("mcrr p15, 0, %0, %1, c2"
                     :: "r"((uint32_t)v), "r"((uint32_t)(v >> 32)) : "memory");
    isb();
}
static inline void set_mair0(uint32_t v) { MCR(0, c10, c2, 0, v); }
static inline void set_mair1(uint32_t v) { MCR(0, c10, c2, 1, v); }

/* TLB maintenance (the operand formats are the same for both formats) */
static inline void tlbiall(void) { MCR(0, c8, c7, 0, 0); }
static inline void tlbimva(uint32_t va_asid) { MCR(0, c8, c7, 1, va_asid); }
static inline void tlbiasid(uint32_t asid) { MCR(0, c8, c7, 2, asid); }
static inline void tlbimvaa(uint32_t va) { MCR(0, c8, c7, 3, va); }
static inline void tlbiallis(void) { MCR(0, c8, c3, 0, 0); }
static inline void tlbimvais(uint32_t va_asid) { MCR(0, c8, c3, 1, va_asid); }
static inline void tlbiasidis(uint32_t asid) { MCR(0, c8, c3, 2, asid); }
static inline void tlbimvaais(uint32_t va) { MCR(0, c8, c3, 3, va); }

/* cache maintenance */
static inline void dccmvac(uint32_t va) { MCR(0, c7, c10, 1, va); }
static inline void dccmvau(uint32_t va) { MCR(0, c7, c11, 1, va); }
static inline void dccimvac(uint32_t va) { MCR(0, c7, c14, 1, va); }
static inline void icimvau(uint32_t va) { MCR(0, c7, c5, 1, va); }
static inline void iciallu(void) { MCR(0, c7, c5, 0, 0); }
static inline void bpiall(void) { MCR(0, c7, c5, 6, 0); }

/*
 * After code was written and its lines cleaned to PoU (dccmvau): make it
 * what instruction fetch sees, with the sequence the architecture asks.
 */
static inline void code_written(void)
{
    dsb();
    iciallu();
    bpiall();
    dsb();
    isb();
}
uint32_t dcache_line(void);
void dcache_clean_range(uint32_t va, uint32_t len);   /* to PoC */
void dcache_clean_inval_all(void);                    /* by set/way */

/* ---- single-instruction memory accesses ----
 * Each is exactly one load/store instruction so that an abort handler that
 * skips the faulting instruction resumes right after it.  Loads return
 * SENTINEL when the instruction was skipped.
 */
#define SENTINEL 0x5e17e1u

#define LD(name, insn, type)                                                 \
    static inline type name(uint32_t a)                                      \
    {                                                                        \
        type v = (type)SENTINEL;                                             \
        __asm__ volatile(insn " %0, [%1]" : "+r"(v) : "r"(a) : "memory");    \
        return v;                                                            \
    }
#define ST(name, insn, type)                                                 \
    static inline void name(uint32_t a, type v)                              \
    {                                                                        \
        __asm__ volatile(insn " %0, [%1]" :: "r"(v), "r"(a) : "memory");     \
    }
LD(ld8, "ldrb", uint32_t)
LD(ld16, "ldrh", uint32_t)
LD(ld32, "ldr", uint32_t)
LD(lds8, "ldrsb", uint32_t)
LD(lds16, "ldrsh", uint32_t)
LD(ldt32, "ldrt", uint32_t)   /* unprivileged (user permission) load */
LD(ldrex32, "ldrex", uint32_t)
LD(ldrexb8, "ldrexb", uint32_t)
LD(ldrexh16, "ldrexh", uint32_t)
ST(st8, "strb", uint32_t)
ST(st16, "strh", uint32_t)
ST(st32, "str", uint32_t)
ST(stt32, "strt", uint32_t)   /* unprivileged (user permission) store */

static inline uint64_t ld64(uint32_t a)        /* LDRD */
{
    uint64_t v = SENTINEL;
    __asm__ volatile("ldrd %0, %H0, [%1]" : "+r"(v) : "r"(a) : "memory");
    return v;
}
static inline void st64(uint32_t a, uint64_t v) /* STRD */
{
    __asm__ volatile("strd %0, %H0, [%1]" :: "r"(v), "r"(a) : "memory");
}
static inline uint64_t ldrexd64(uint32_t a)
{
    uint64_t v = SENTINEL;
    __asm__ volatile("ldrexd %0, %H0, [%1]" : "+r"(v) : "r"(a) : "memory");
    return v;
}
/* STREX family: return the status (0 = stored, 1 = failed) */
#define STREX(name, insn, type)                                              \
    static inline uint32_t name(uint32_t a, type v)                          \
    {                                                                        \
        uint32_t s = SENTINEL;                                               \
        __asm__ volatile(insn " %0, %1, [%2]"                                \
                         : "+&r"(s) : "r"(v), "r"(a) : "memory");            \
        return s;                                                            \
    }
STREX(strex32, "strex", uint32_t)
STREX(strexb8, "strexb", uint32_t)
STREX(strexh16, "strexh", uint32_t)
static inline uint32_t strexd64(uint32_t a, uint64_t v)
{
    uint32_t s = SENTINEL;
    __asm__ volatile("strexd %0, %1, %H1, [%2]"
                     : "+&r"(s) : "r"(v), "r"(a) : "memory");
    return s;
}
static inline void clrex(void) { __asm__ volatile("clrex" ::: "memory"); }

/* ---- page tables: mmu.c ---- */
/* short-descriptor AP[2:0] values (SCTLR.AFE = 0) */
#define AP_NONE   0u  /* no access */
#define AP_PRW    1u  /* PL1 read/write, user none */
#define AP_PRW_UR 2u  /* PL1 read/write, user read-only */
#define AP_RW     3u  /* read/write for everyone */
#define AP_PRO    5u  /* PL1 read-only, user none */
#define AP_RO     7u  /* read-only for everyone */
/* long-descriptor AP[2:1] values */
#define LAP_PRW   0u  /* PL1 read/write, user none */
#define LAP_RW    1u  /* read/write for everyone */
#define LAP_PRO   2u  /* PL1 read-only, user none */
#define LAP_RO    3u  /* read-only for everyone */
/* mapping flags (both formats unless noted) */
#define M_DEVICE   (1u << 0)  /* device memory instead of normal write-back */
#define M_XN       (1u << 1)  /* execute never */
#define M_NG       (1u << 2)  /* not global: tagged with the current ASID */
#define M_DOM(d)   ((uint32_t)(d) << 8) /* short descriptors: domain 0-15 */

/* short-descriptor: l1 is 4096 entries (16 KiB aligned), l2 256 entries */
void sd_section(uint32_t *l1, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl);
void sd_supersection(uint32_t *l1, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl);
void sd_table(uint32_t *l1, uint32_t va, uint32_t *l2, uint32_t fl); /* fl: domain */
void sd_page(uint32_t *l2, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl);
void sd_large(uint32_t *l2, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl);
void sd_unmap(uint32_t *l1, uint32_t va);
/* RAM identity (sections, AP_RW) + UART/virtio as device, PL1 only */
void sd_identity(uint32_t *l1);
/* TTBCR = 0, TTBR0 = l1, DACR all client, ASID 0, MMU + caches on */
void mmu_on_short(uint32_t *l1);

/* long-descriptor: every table is 512 entries, 4 KiB aligned */
void lp_block1g(uint64_t *l1, uint32_t va, uint64_t pa, uint32_t ap, uint32_t fl);
void lp_block2m(uint64_t *l2, uint32_t va, uint64_t pa, uint32_t ap, uint32_t fl);
void lp_page(uint64_t *l3, uint32_t va, uint64_t pa, uint32_t ap, uint32_t fl);
void lp_table1(uint64_t *l1, uint32_t va, uint64_t *l2);
void lp_table2(uint64_t *l2, uint32_t va, uint64_t *l3);
/* RAM identity as one 1 GiB block, UART/virtio as 2 MiB device blocks in l2low */
void lp_identity(uint64_t *l1, uint64_t *l2low);
/* TTBCR.EAE = 1, MAIR0/1, TTBR0 = l1 with asid, MMU + caches on */
void mmu_on_lpae(uint64_t *l1, uint32_t asid);
void mmu_off(void);

/* ---- generic timer (virtual count, readable at PL1) ---- */
static inline uint64_t cntvct(void)
{
    uint32_t lo, hi;
    __asm__ volatile("isb\n\tmrrc p15, 1, %0, %1, c14" : "=r"(lo), "=r"(hi) :: "memory");
    return (uint64_t)hi << 32 | lo;
}
static inline uint32_t cntfrq(void) { return MRC(0, c14, c0, 0); }
/* the count ms milliseconds from now */
uint64_t deadline_ms(uint32_t ms);
static inline int passed(uint64_t deadline) { return cntvct() >= deadline; }

/* ---- PSCI and other CPUs: smp.c ----
 * QEMU's virt board without EL2/EL3 implements PSCI itself, reached with
 * HVC; the CPUs other than CPU0 start powered off. */
#define PSCI_CPU_ON       0x84000003u
#define PSCI_SYSTEM_RESET 0x84000009u
#define PSCI_SUCCESS      0
#define PSCI_INVALID      (-2)        /* CPU_ON: no such CPU */
int32_t psci_call(uint32_t fn, uint32_t a1, uint32_t a2, uint32_t a3);
/*
 * Power on CPU cpu (MPIDR affinity 0, 1..3) to run fn(arg) in SVC mode
 * with the MMU off, on stacks of its own and with CPU0's vectors; when fn
 * returns the CPU waits in WFI.  Returns PSCI's status (PSCI_SUCCESS, or
 * PSCI_INVALID when the machine has no such CPU).
 */
int32_t cpu_start(uint32_t cpu, void (*fn)(uint32_t), uint32_t arg);
/* Reset the whole machine; returns only if PSCI refused. */
int32_t system_reset(void);
/* Wait until *flag is nonzero or ms of guest time have passed; returns *flag. */
uint32_t wait_flag(volatile uint32_t *flag, uint32_t ms);
static inline uint32_t cpu_index(void) { return MRC(0, c0, c0, 5) & 0xff; }

/* ---- misc ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
/* deterministic pseudo-random numbers */
uint32_t rnd(void);
void rnd_seed(uint32_t s);
/* fill a physical (identity-mapped) range with a pattern derived from seed */
void fill_words(uint32_t pa, uint32_t len, uint32_t seed);
uint32_t pattern(uint32_t seed, uint32_t addr);

#endif
