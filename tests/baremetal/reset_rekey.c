/*
 * reset_rekey: the address space of a vCPU across a machine reset.
 *
 * ESPT files the mirrors it makes under a key of the guest address space
 * (long descriptors: the ASIDs of TTBR0 and TTBR1), and changes the key
 * when the guest writes those registers.  A reset changes them without
 * such a write: if the key is not brought back to what the registers say,
 * what runs after the reset is filed under the address space that ran
 * before it, and once the guest switches to that address space for real,
 * nothing is swapped and it sees another address space's pages.
 *
 * The program runs twice in one QEMU.  Phase 1: long descriptors, ASID 7
 * with table A, which maps a virtual data page and code page to A's
 * frames, used for a while so that the shadow mirrors them; then PSCI
 * SYSTEM_RESET.  The phase is kept in a word of RAM outside the image,
 * which a reset leaves alone.  Phase 2, from the entry point again:
 * ASID 0 with table B, which maps the same virtual pages to B's frames,
 * used for a while; then one 64-bit TTBR0 write switches to ASID 7 and
 * table A, whose data and code must be A's.  Stores made there must reach
 * A's frame and not B's; back in ASID 0, B's data, code and counter must
 * be as B left them; ASID 7 once more; and after a TLBIALL, everything
 * again.  Between the reset and those checks the program writes neither
 * DACR nor CONTEXTIDR (with long descriptors a DACR write makes QEMU
 * compute the key afresh, which would hide the fault) and issues no TLB
 * invalidation: the reset emptied the TLBs (a Cortex-A15 invalidates them
 * at reset, as QEMU does).
 *
 * With a second vCPU (-smp 2), CPU0 powers CPU1 on with PSCI CPU_ON in
 * each phase, and CPU1 goes through the same steps with tables and frames
 * of its own; CPU_ON resets CPU1 too.  CPU1 reports through memory and
 * CPU0 prints both reports, CPU0's first.
 */
#include "bm.h"

#define NCPU        2
#define PHASE_PA    0x41f00000u  /* outside the image: survives the reset */
#define P1FAIL_PA   0x41f00004u  /* phase 1's failed checks, for phase 2 */
#define PHASE_MAGIC 0x7e5e7000u  /* + phase number */

#define DATA 0x80000000u         /* the virtual data page */
#define CODE 0x80001000u         /* the virtual code page */
#define CNT   0x10u              /* data page: rounds counted through DATA */
#define STAMP 0x20u              /* data page: a store made after the switch */
#define WARM_MS     300          /* long enough for the governor to shadow */
#define WARM_ROUNDS 5000         /* and at least this many rounds */

enum { A, B };
static const uint32_t asid_of[2] = {7, 0};

static uint64_t l1[NCPU][2][512] __attribute__((aligned(4096)));
static uint64_t l2[NCPU][2][512] __attribute__((aligned(4096)));
static uint64_t l3[NCPU][2][512] __attribute__((aligned(4096)));
static uint64_t l2low[512] __attribute__((aligned(4096)));

/* each CPU has a data and a code frame per space */
static uint32_t data_pa(uint32_t c, int s) { return 0x41000000u + c * 0x100000u + (uint32_t)s * 0x2000u; }
static uint32_t code_pa(uint32_t c, int s) { return data_pa(c, s) + PAGE; }
static uint32_t code_val(uint32_t c, int s, uint32_t f)
{
    return 0xc0de0000u | c << 8 | (uint32_t)s << 4 | f;
}
static const uint32_t dofs[3] = {0x0, 0x800, 0xffc};  /* tagged data words */
static const uint32_t fofs[3] = {0x0, 0x400, 0xff0};  /* functions */

/* --------------------------------------------------------- what a CPU saw */

enum {
    R_P1_WARM, R_P1_COUNT,
    R_WARM, R_A_DATA, R_A_CODE, R_A_STORE, R_B_UNTOUCHED, R_B_DATA, R_B_CODE,
    R_B_COUNT, R_A2_DATA, R_A2_CODE, R_FL_DATA, R_FL_CODE, NREC
};
static const char *const rec_name[NREC] = {
    "phase 1: ASID 7 (table A) used for a while, its data and code",
    "phase 1: A's counter",
    "phase 2: ASID 0 (table B) used for a while, its data and code",
    "phase 2: switched to ASID 7 (table A): A's data",
    "phase 2: switched to ASID 7 (table A): A's code",
    "phase 2: a store in ASID 7 reached A's frame",
    "phase 2: a store in ASID 7 left B's frame alone",
    "phase 2: back in ASID 0: B's data",
    "phase 2: back in ASID 0: B's code",
    "phase 2: back in ASID 0: B's counter",
    "phase 2: ASID 7 again: A's data",
    "phase 2: ASID 7 again: A's code",
    "phase 2: ASID 7 after TLBIALL: A's data",
    "phase 2: ASID 7 after TLBIALL: A's code",
};

/* Several comparisons per record: the first mismatch is kept. */
struct rec {
    uint32_t n, bad, got, exp;
};
struct result {
    volatile uint32_t done;
    struct rec r[NREC];
};
static struct result res[NCPU];

static void rec(uint32_t c, int i, uint32_t got, uint32_t exp)
{
    struct rec *r = &res[c].r[i];
    if (got != exp && r->bad++ == 0) {
        r->got = got;
        r->exp = exp;
    }
    r->n++;
}

static void print_recs(uint32_t c, int from, int to)
{
    for (int i = from; i < to; i++) {
        const struct rec *r = &res[c].r[i];
        if (r->n == 0) {
            continue;
        }
        if (r->bad == 0) {
            pr("ok cpu%u %s\n", c, rec_name[i]);
            continue;
        }
        total_failures++;
        pr("FAIL cpu%u %s: got 0x%08x expected 0x%08x", c, rec_name[i], r->got, r->exp);
        if (r->n > 1) {
            pr(" (%u of %u comparisons failed)", r->bad, r->n);
        }
        pr("\n");
    }
}

/* ------------------------------------------------------------- the spaces */

static void write_code(uint32_t pa, uint32_t c, int s)
{
    for (uint32_t f = 0; f < 3; f++) {
        uint32_t a = pa + fofs[f], v = code_val(c, s, f);
        st32(a + 0, movw(0, v & 0xffff));
        st32(a + 4, movt(0, v >> 16));
        st32(a + 8, BX_LR);
        dccmvau(a);
        dccmvau(a + 8);
    }
    code_written();
}

/* Tables and frames of every CPU, with the MMU off. */
static void setup(void)
{
    for (uint32_t c = 0; c < NCPU; c++) {
        for (int s = A; s <= B; s++) {
            lp_identity(l1[c][s], l2low);
            lp_table1(l1[c][s], DATA, l2[c][s]);
            lp_table2(l2[c][s], DATA, l3[c][s]);
            lp_page(l3[c][s], DATA, data_pa(c, s), LAP_PRW, M_NG);
            lp_page(l3[c][s], CODE, code_pa(c, s), LAP_PRW, M_NG);
            for (int k = 0; k < 3; k++) {
                st32(data_pa(c, s) + dofs[k], data_pa(c, s) + dofs[k]);
            }
            st32(data_pa(c, s) + CNT, 0);
            st32(data_pa(c, s) + STAMP, 0);
            write_code(code_pa(c, s), c, s);
        }
    }
}

/* One 64-bit TTBR0 write changes table and ASID together. */
static void use(uint32_t c, int s)
{
    set_ttbr0_64((uint32_t)l1[c][s] | ((uint64_t)asid_of[s] << 48));
}

/* After the reset: the MMU on without writing DACR or invalidating TLBs. */
static void mmu_on_quiet(uint32_t c, int s)
{
    set_ttbcr((1u << 31) | (1u << 23) | (3u << 12) | (1u << 10) | (1u << 8));
    set_mair0(0x000004ffu);
    set_mair1(0);
    use(c, s);
    set_sctlr(get_sctlr() | SCTLR_M | SCTLR_C | SCTLR_I | SCTLR_Z);
}

typedef uint32_t (*fn0)(void);

/* The current space must be s: its data words and its functions. */
static void check_space(uint32_t c, int i_data, int i_code, int s)
{
    for (int k = 0; k < 3; k++) {
        rec(c, i_data, ld32(DATA + dofs[k]), data_pa(c, s) + dofs[k]);
    }
    for (uint32_t f = 0; f < 3; f++) {
        rec(c, i_code, ((fn0)(CODE + fofs[f]))(), code_val(c, s, f));
    }
}

/* Use space s (current) for WARM_MS of guest time and WARM_ROUNDS at
 * least, counting the rounds in its data page; returns the rounds. */
static uint32_t warm(uint32_t c, int i, int s)
{
    uint64_t end = deadline_ms(WARM_MS);
    uint32_t n = 0;
    do {
        check_space(c, i, i, s);
        st32(DATA + CNT, ld32(DATA + CNT) + 1);
        n++;
    } while (n < WARM_ROUNDS || !passed(end));
    return n;
}

/* ------------------------------------------------------------- the phases */

static void phase1_cpu(uint32_t c)
{
    mmu_on_lpae(l1[c][A], asid_of[A]);
    uint32_t n = warm(c, R_P1_WARM, A);
    rec(c, R_P1_COUNT, ld32(data_pa(c, A) + CNT), n);
    dsb();
    res[c].done = 1;
    /* stays in ASID 7, MMU on, until the reset */
}

static void phase2_cpu(uint32_t c)
{
    mmu_on_quiet(c, B);
    uint32_t n = warm(c, R_WARM, B);

    use(c, A); /* ASID 0 -> 7: nothing else tells QEMU */
    check_space(c, R_A_DATA, R_A_CODE, A);
    uint32_t stamp = 0x57a70000u | c;
    st32(DATA + STAMP, stamp);
    rec(c, R_A_STORE, ld32(data_pa(c, A) + STAMP), stamp);
    rec(c, R_B_UNTOUCHED, ld32(data_pa(c, B) + STAMP), 0);

    use(c, B);
    check_space(c, R_B_DATA, R_B_CODE, B);
    rec(c, R_B_COUNT, ld32(DATA + CNT), n);

    use(c, A);
    check_space(c, R_A2_DATA, R_A2_CODE, A);

    tlbiall();
    dsb();
    isb();
    check_space(c, R_FL_DATA, R_FL_CODE, A);
    dsb();
    res[c].done = 1;
}

/* Power CPU1 on to run fn; returns whether there is a CPU1. */
static int start_cpu1(void (*fn)(uint32_t))
{
    int32_t r = cpu_start(1, fn, 1);
    if (r == PSCI_SUCCESS) {
        pr("# cpu1 powered on with PSCI CPU_ON\n");
        return 1;
    }
    pr("# one vCPU: PSCI CPU_ON of CPU1 returned %d\n", r);
    return 0;
}

static void report(int two, int from, int to)
{
    print_recs(0, from, to);
    if (!two) {
        return;
    }
    if (!wait_flag(&res[1].done, 30000)) {
        pr("FAIL cpu1 did not report within 30 s\n");
        total_failures++;
        return;
    }
    print_recs(1, from, to);
}

int main(void)
{
    uint32_t phase = ld32(PHASE_PA);

    if (phase == PHASE_MAGIC + 2) {
        pr("FAIL reset_rekey: phase 2 was reset\n");
        sys_exit(1);
    }
    if (phase != PHASE_MAGIC + 1) {
        pr("# phase 1: ASID 7, then PSCI SYSTEM_RESET\n");
        setup();
        int two = start_cpu1(phase1_cpu);
        phase1_cpu(0);
        report(two, R_P1_WARM, R_P1_COUNT + 1);
        st32(PHASE_PA, PHASE_MAGIC + 1);
        st32(P1FAIL_PA, total_failures);
        dccmvac(PHASE_PA);
        dsb();
        int32_t r = system_reset();
        pr("FAIL PSCI SYSTEM_RESET returned %d\n", r);
        sys_exit(1);
    }

    st32(PHASE_PA, PHASE_MAGIC + 2);
    total_failures = ld32(P1FAIL_PA);
    pr("# phase 2: after the reset, ASID 0, then ASID 7 by a TTBR0 write alone\n");
    setup();
    int two = start_cpu1(phase2_cpu);
    phase2_cpu(0);
    report(two, R_WARM, NREC);
    finish("reset_rekey");
}
