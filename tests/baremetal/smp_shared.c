/*
 * smp_shared: several CPUs running one address space, whose mirror ESPT
 * shares between their vCPUs.
 *
 * Every CPU the machine has (PSCI CPU_ON until it says there is no such
 * CPU: run with -smp 2 and -smp 4) turns its MMU on with the same tables,
 * DACR, TTBCR and ASID, so that all of them run one address space.  Then,
 * phase by phase, with a barrier between phases:
 *
 *  A. CPU0 rewrites a page-table entry and broadcasts TLBIMVAIS while the
 *     others read the page in a loop; once CPU0 says it is done, every
 *     read sees the new page, never the old one.  200 rounds.
 *  B. CPU0 changes a mapping that the others keep reading (so that it is
 *     mirrored), invalidates it with a local TLBIMVA (every fourth round
 *     TLBIALL) and reads it: CPU0 never reads through the old mapping,
 *     whatever the others' TLBs still hold.  200 rounds.
 *  C. Every CPU reads 16 pages at once, CPU0 remaps all of them between
 *     rounds (TLBIALLIS): every CPU sees each round's pages.  100 rounds.
 *  D. LDREX/STREX increments of one counter and plain stores with
 *     barriers, from every CPU, through the shadow: exact final values.
 *  E. CPU0 writes code into a page (cleaning it to PoU and invalidating
 *     the instruction caches, inner shareable) that the others then run.
 *  F. ASID reuse: every CPU runs ASID 5 with table A; the others move to
 *     ASID 6; CPU0 invalidates ASID 5 (TLBIASIDIS), gives it table B and
 *     reads; then the others come back to ASID 5 with table B: all of
 *     them see B's page, none A's.
 *
 * The CPUs other than CPU0 record what they saw in memory; CPU0 prints
 * everything, in an order that does not depend on timing.
 */
#include "bm.h"

#define MAX_CPU 4
#define WIN     0x80000000u     /* the shared window: 256 pages */
#define WIN2    0x90000000u     /* phase F's window (non-global pages) */
#define NFR     32              /* frames the window pages are mapped to */
#define FRAME(i) (SCRATCH + (uint32_t)(i) * PAGE)
#define TAG(i)  (0xf4a70000u | (uint32_t)(i))
#define CTR_FRAME   40          /* phase D's counter page */
#define WORDS_FRAME 41          /* phase D's per-CPU words */
#define CODE_FRAME  48          /* phase E's code page */
#define F_FRAME_A   50
#define F_FRAME_B   51

#define PAGE_A  (WIN + 0 * PAGE)
#define PAGE_B  (WIN + 1 * PAGE)
#define PAGES_C (WIN + 16 * PAGE)
#define NPAGES_C 16
#define PAGE_D  (WIN + 40 * PAGE)
#define PAGE_DW (WIN + 41 * PAGE)
#define PAGE_E  (WIN + 48 * PAGE)

#define ROUNDS_A 200
#define ROUNDS_B 200
#define ROUNDS_C 100
#define INCS_D   2000
#define ROUNDS_E 40

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l1a[4096] __attribute__((aligned(16384)));
static uint32_t l1b[4096] __attribute__((aligned(16384)));
static uint32_t l2[256] __attribute__((aligned(1024)));
static uint32_t l2a[256] __attribute__((aligned(1024)));
static uint32_t l2b[256] __attribute__((aligned(1024)));

static uint32_t ncpu;

static inline void dmb(void) { __asm__ volatile("dmb" ::: "memory"); }
static inline void icialluis(void) { MCR(0, c7, c1, 0, 0); }

static uint32_t atomic_add(volatile uint32_t *p, uint32_t v)
{
    uint32_t old, sum, fail;
    __asm__ volatile("1: ldrex %0, [%3]\n"
                     "   add %1, %0, %4\n"
                     "   strex %2, %1, [%3]\n"
                     "   teq %2, #0\n"
                     "   bne 1b"
                     : "=&r"(old), "=&r"(sum), "=&r"(fail)
                     : "r"(p), "r"(v)
                     : "memory", "cc");
    dmb();
    return old;
}

/* ------------------------------------------------------------ barriers */

static volatile uint32_t bar_count, bar_gen;

static void barrier(void)
{
    uint32_t g = bar_gen;
    dmb();
    if (atomic_add(&bar_count, 1) == ncpu - 1) {
        bar_count = 0;
        dmb();
        bar_gen = g + 1;
        dsb();
    } else {
        while (bar_gen == g) {
        }
    }
    dmb();
}

/* ------------------------------------------------------ what CPUs saw */

enum { C_A, C_B, C_C, C_D_COUNT, C_D_WORDS, C_E, C_F_CPU0, C_F_BACK, NCHK };
static const char *const chk_name[NCHK] = {
    "A: after TLBIMVAIS and the handshake, the new page only",
    "B: after a local TLBIMVA/TLBIALL, the invalidating CPU reads the new page only",
    "C: every CPU sees each round's remapped pages",
    "D: LDREX/STREX counter, exact",
    "D: plain stores with barriers, exact",
    "E: code written by CPU0 runs as written",
    "F: ASID 5 reassigned to table B: CPU0 reads B's page",
    "F: CPUs back in ASID 5 read B's page",
};

struct chk {
    uint32_t n, bad, got, exp;
};
static struct chk chk[MAX_CPU][NCHK];

static void rec(uint32_t c, int i, uint32_t got, uint32_t exp)
{
    struct chk *k = &chk[c][i];
    if (got != exp && k->bad++ == 0) {
        k->got = got;
        k->exp = exp;
    }
    k->n++;
}

/* -------------------------------------------------------------- phases */

static volatile uint32_t gen_a, acks_a;

static void phase_a(uint32_t c)
{
    if (c == 0) {
        for (uint32_t k = 1; k <= ROUNDS_A; k++) {
            sd_page(l2, PAGE_A, FRAME(k % 8), AP_RW, 0);
            dsb();
            tlbimvais(PAGE_A);
            dsb();
            isb();
            gen_a = k;
            dsb();
            while (acks_a != (ncpu - 1) * k) {
            }
            dmb();
        }
        return;
    }
    uint32_t last = 0;
    while (last < ROUNDS_A) {
        uint32_t g = gen_a;
        dmb();
        (void)ld32(PAGE_A);     /* keeps the page in use, old or new */
        if (g != last) {
            for (int m = 0; m < 50; m++) {
                rec(c, C_A, ld32(PAGE_A), TAG(g % 8));
            }
            last = g;
            atomic_add(&acks_a, 1);
        }
    }
}

static volatile uint32_t done_b;

static void phase_b(uint32_t c)
{
    if (c != 0) {
        while (!done_b) {
            (void)ld32(PAGE_B);
        }
        return;
    }
    for (uint32_t k = 1; k <= ROUNDS_B; k++) {
        /* let the others read (and mirror) the current mapping */
        for (volatile int spin = 0; spin < 200; spin++) {
        }
        sd_page(l2, PAGE_B, FRAME(8 + k % 8), AP_RW, 0);
        dsb();
        if (k % 4) {
            tlbimva(PAGE_B);
        } else {
            tlbiall();
        }
        dsb();
        isb();
        for (int m = 0; m < 50; m++) {
            rec(0, C_B, ld32(PAGE_B), TAG(8 + k % 8));
        }
    }
    done_b = 1;
    dsb();
}

static void phase_c(uint32_t c)
{
    for (uint32_t k = 1; k <= ROUNDS_C; k++) {
        if (c == 0) {
            for (uint32_t i = 0; i < NPAGES_C; i++) {
                sd_page(l2, PAGES_C + i * PAGE, FRAME((i + k) % NFR), AP_RW, 0);
            }
            dsb();
            tlbiallis();
            dsb();
            isb();
        }
        barrier();
        for (uint32_t i = 0; i < NPAGES_C; i++) {
            uint32_t j = (i + c) % NPAGES_C;   /* all at once, not in step */
            rec(c, C_C, ld32(PAGES_C + j * PAGE), TAG((j + k) % NFR));
        }
        barrier();
    }
}

static void phase_d(uint32_t c)
{
    for (uint32_t n = 1; n <= INCS_D; n++) {
        atomic_add((volatile uint32_t *)PAGE_D, 1);
        st32(PAGE_DW + c * 64, n);
        dmb();
    }
    barrier();
    rec(c, C_D_COUNT, ld32(PAGE_D), INCS_D * ncpu);
    for (uint32_t o = 0; o < ncpu; o++) {
        rec(c, C_D_WORDS, ld32(PAGE_DW + o * 64), INCS_D);
    }
}

static volatile uint32_t gen_e, acks_e;

static uint32_t code_val(uint32_t k)
{
    return 0xc0de0000u | k;
}

static void phase_e(uint32_t c)
{
    uint32_t (*fn)(void) = (uint32_t (*)(void))PAGE_E;
    if (c == 0) {
        for (uint32_t k = 1; k <= ROUNDS_E; k++) {
            st32(PAGE_E + 0, movw(0, code_val(k) & 0xffff));
            st32(PAGE_E + 4, movt(0, code_val(k) >> 16));
            st32(PAGE_E + 8, BX_LR);
            dccmvau(PAGE_E);
            dsb();
            icialluis();
            bpiall();
            dsb();
            isb();
            rec(0, C_E, fn(), code_val(k));
            gen_e = k;
            dsb();
            while (acks_e != (ncpu - 1) * k) {
            }
            dmb();
        }
        return;
    }
    for (uint32_t k = 1; k <= ROUNDS_E; k++) {
        while (gen_e != k) {
        }
        dmb();
        isb();
        rec(c, C_E, fn(), code_val(k));
        atomic_add(&acks_e, 1);
    }
}

static void use_table(uint32_t *t, uint32_t asid)
{
    set_contextidr(asid == 5 ? 6 : 5 + 2);  /* off ASID 5 while TTBR0 changes */
    set_ttbr0((uint32_t)t);
    set_contextidr(asid);
}

static void phase_f(uint32_t c)
{
    use_table(l1a, 5);
    for (int m = 0; m < 2000; m++) {
        (void)ld32(WIN2);
    }
    barrier();
    if (c != 0) {
        use_table(l1, 6);
    }
    barrier();
    if (c == 0) {
        tlbiasidis(5);
        dsb();
        isb();
        use_table(l1b, 5);
        for (int m = 0; m < 50; m++) {
            rec(0, C_F_CPU0, ld32(WIN2), TAG(F_FRAME_B));
        }
    }
    barrier();
    if (c != 0) {
        use_table(l1b, 5);
        for (int m = 0; m < 50; m++) {
            rec(c, C_F_BACK, ld32(WIN2), TAG(F_FRAME_B));
        }
    }
    barrier();
    use_table(l1, 0);
}

static volatile uint32_t started, go;

static void run(uint32_t c)
{
    if (c != 0) {
        mmu_on_short(l1);
        atomic_add(&started, 1);
        while (!go) {      /* until CPU0 knows how many CPUs there are */
        }
        dmb();
    }
    barrier();
    phase_a(c);
    barrier();
    phase_b(c);
    barrier();
    phase_c(c);
    barrier();
    phase_d(c);
    barrier();
    phase_e(c);
    barrier();
    phase_f(c);
    barrier();
}

static void secondary(uint32_t c)
{
    run(c);
}

/* --------------------------------------------------------------- setup */

static void setup(void)
{
    for (uint32_t i = 0; i < 64; i++) {
        for (uint32_t o = 0; o < PAGE; o += 4) {
            st32(FRAME(i) + o, o ? 0 : TAG(i));
        }
    }
    memset((void *)FRAME(CTR_FRAME), 0, PAGE);
    memset((void *)FRAME(WORDS_FRAME), 0, PAGE);
    sd_identity(l1);
    sd_table(l1, WIN, l2, 0);
    sd_page(l2, PAGE_A, FRAME(0), AP_RW, 0);
    sd_page(l2, PAGE_B, FRAME(8), AP_RW, 0);
    for (uint32_t i = 0; i < NPAGES_C; i++) {
        sd_page(l2, PAGES_C + i * PAGE, FRAME(i), AP_RW, 0);
    }
    sd_page(l2, PAGE_D, FRAME(CTR_FRAME), AP_RW, 0);
    sd_page(l2, PAGE_DW, FRAME(WORDS_FRAME), AP_RW, 0);
    sd_page(l2, PAGE_E, FRAME(CODE_FRAME), AP_RW, 0);
    memcpy(l1a, l1, sizeof(l1));
    memcpy(l1b, l1, sizeof(l1));
    sd_table(l1a, WIN2, l2a, 0);
    sd_table(l1b, WIN2, l2b, 0);
    sd_page(l2a, WIN2, FRAME(F_FRAME_A), AP_RW, M_NG);
    sd_page(l2b, WIN2, FRAME(F_FRAME_B), AP_RW, M_NG);
    dcache_clean_range((uint32_t)l1a, sizeof(l1a));
    dcache_clean_range((uint32_t)l1b, sizeof(l1b));
}

int main(void)
{
    setup();
    mmu_on_short(l1);
    ncpu = 1;
    for (uint32_t c = 1; c < MAX_CPU; c++) {
        if (cpu_start(c, secondary, c) != PSCI_SUCCESS) {
            break;
        }
        ncpu++;
    }
    dsb();
    pr("cpus: %u\n", ncpu);
    if (wait_flag(&started, 5000) == 0 && ncpu > 1) {
        pr("FAIL secondary CPUs did not start\n");
        sys_exit(1);
    }
    while (started != ncpu - 1) {
    }
    go = 1;
    dsb();
    run(0);
    for (int i = 0; i < NCHK; i++) {
        for (uint32_t c = 0; c < ncpu; c++) {
            const struct chk *k = &chk[c][i];
            if (k->n == 0) {
                continue;
            }
            if (k->bad == 0) {
                pr("ok cpu%u %s\n", c, chk_name[i]);
                continue;
            }
            total_failures++;
            pr("FAIL cpu%u %s: got 0x%08x expected 0x%08x (%u of %u)\n", c,
               chk_name[i], k->got, k->exp, k->bad, k->n);
        }
    }
    finish("smp_shared");
}
