/*
 * loadvm_rekey: address spaces across loadvm.
 *
 * ESPT files the mirrors it makes under a key of the guest address space
 * (long descriptors: the ASIDs of TTBR0 and TTBR1) and changes the key
 * when the guest writes those registers.  loadvm puts back the registers
 * of the snapshot without such a write: if the key is not brought back to
 * what they say, what runs next is filed under the address space that
 * ran when loadvm came, and the guest's next switch to that one swaps
 * nothing, so it sees the other address space's pages.
 *
 * Two address spaces, ASIDs 5 and 9 (long descriptors), map one virtual
 * data page and one virtual code page to frames of their own, with
 * different data and code.  The program switches between them with
 * 64-bit TTBR0 writes alone, every round, and checks every round that it
 * sees the current space's data and code, and counts the round in the
 * space's data page, for 6 s of guest time (the generic timer's virtual
 * count).  Meanwhile the runner (tests.sh, loadvm_rekey.py) saves the VM
 * once and loads that snapshot six times; loadvm also puts back the
 * guest's time, so the program ends 5 s or so after the last one.
 *
 * A word per CPU at STATE_PA names the space the CPU is in, from its
 * TTBR0 write to the first block of the function (close) that ends the
 * round with a load from the data page; 0 elsewhere.  The
 * runner saves while every CPU's word says ASID 5 and loads while they
 * say ASID 9: every loadvm then changes the address space under the
 * guest, and the guest, put back in ASID 5, always fetches code and loads
 * data there before it switches to ASID 9.  A fault that depends on it
 * shows at every load, whatever the moment.
 *
 * The output does not depend on timing: nothing is printed during the
 * loop but FAIL lines, which only a fault prints (a loadvm puts back the
 * count of those already printed, so there can be more than five).  With
 * -smp 2, CPU1 (powered on with PSCI CPU_ON) runs the same loop with
 * counters of its own, and CPU0 prints its summary after its own.
 */
#include "bm.h"

#define NCPU     2
#define STATE_PA 0x41f00000u  /* per CPU: its space's ASID or 0; read by the runner */
#define SPAN_MS  6000
#define DATA 0x80000000u      /* the virtual data page */
#define CODE 0x80001000u      /* the virtual code page */
#define CNT  0x100u           /* data page: a round counter per CPU */
#define MAX_LINES 5

enum { A, B };
static const uint32_t asid_of[2] = {5, 9};

static uint64_t l1[2][512] __attribute__((aligned(4096)));
static uint64_t l2[2][512] __attribute__((aligned(4096)));
static uint64_t l3[2][512] __attribute__((aligned(4096)));
static uint64_t l2low[512] __attribute__((aligned(4096)));

static uint32_t data_pa(int s) { return 0x41000000u + (uint32_t)s * 0x2000u; }
static uint32_t code_pa(int s) { return data_pa(s) + PAGE; }
static uint32_t code_val(int s, uint32_t f) { return 0xc0de0000u | asid_of[s] << 4 | f; }
static const uint32_t dofs[3] = {0x0, 0x800, 0xffc};  /* tagged data words */
static const uint32_t fofs[3] = {0x0, 0x400, 0xff0};  /* functions */
#define CLOSE 0x800u          /* code page: the function that ends a round */

struct result {
    volatile uint32_t done;
    uint32_t rounds[2];            /* per space */
    uint32_t bad, lines;           /* mismatching rounds, FAIL lines printed */
    uint32_t bad_asid, bad_what, bad_got, bad_exp; /* the first mismatch */
};
static struct result res[NCPU];

static void write_code(int s)
{
    for (uint32_t f = 0; f < 3; f++) {
        uint32_t a = code_pa(s) + fofs[f], v = code_val(s, f);
        st32(a + 0, movw(0, v & 0xffff));
        st32(a + 4, movt(0, v >> 16));
        st32(a + 8, BX_LR);
        dccmvau(a);
        dccmvau(a + 8);
    }
    /*
     * close(state, data): loads the data page's first word, clears the
     * caller's state word, returns code_val(s, 3) + that word.  The load
     * and the store are in the block that starts the function, so a VM
     * stopped while the state word names this space has still to fetch
     * this code and load that data in it.
     */
    static const uint32_t close_insns[] = {
        0xe5912000u,                 /* ldr r2, [r1] */
        0xe3a03000u,                 /* mov r3, #0 */
        0xe5803000u,                 /* str r3, [r0] */
        0, 0,                        /* movw/movt r0, code_val(s, 3) */
        0xe0800002u,                 /* add r0, r0, r2 */
        BX_LR,
    };
    uint32_t a = code_pa(s) + CLOSE, v = code_val(s, 3);
    for (uint32_t i = 0; i < sizeof(close_insns) / 4; i++) {
        st32(a + 4 * i, close_insns[i]);
    }
    st32(a + 12, movw(0, v & 0xffff));
    st32(a + 16, movt(0, v >> 16));
    for (uint32_t o = 0; o < sizeof(close_insns); o += 4) {
        dccmvau(a + o);
    }
    code_written();
}

static void setup(void)
{
    for (int s = A; s <= B; s++) {
        lp_identity(l1[s], l2low);
        lp_table1(l1[s], DATA, l2[s]);
        lp_table2(l2[s], DATA, l3[s]);
        lp_page(l3[s], DATA, data_pa(s), LAP_PRW, M_NG);
        lp_page(l3[s], CODE, code_pa(s), LAP_PRW, M_NG);
        for (int k = 0; k < 3; k++) {
            st32(data_pa(s) + dofs[k], data_pa(s) + dofs[k]);
        }
        for (uint32_t c = 0; c < NCPU; c++) {
            st32(data_pa(s) + CNT + 4 * c, 0);
        }
        write_code(s);
    }
    for (uint32_t c = 0; c < NCPU; c++) {
        st32(STATE_PA + 4 * c, 0);
    }
}

typedef uint32_t (*fn0)(void);
typedef uint32_t (*close_fn)(volatile uint32_t *state, uint32_t data);

/*
 * Make space s current with one 64-bit TTBR0 write (table and ASID
 * together), and name it in the state word in the same block of
 * translated code: QEMU stops a vCPU only between blocks, so a stopped VM
 * shows both or neither.
 */
static void enter(volatile uint32_t *state, int s)
{
    uint64_t ttbr = (uint32_t)l1[s] | ((uint64_t)asid_of[s] << 48);
    __asm__ volatile(".balign 16\n\t" /* the three in one page */
                     "str %0, [%1]\n\t"
                     "mcrr p15, 0, %2, %3, c2\n\t"
                     "isb"
                     :: "r"(asid_of[s]), "r"(state), "r"((uint32_t)ttbr),
                        "r"((uint32_t)(ttbr >> 32)) : "memory");
}

/* A comparison failed: the first is kept, and CPU0 prints a few. */
static void mismatch(uint32_t c, int s, uint32_t what, uint32_t got, uint32_t exp)
{
    struct result *r = &res[c];
    if (r->bad_asid == 0) { /* none kept yet: ASIDs are 5 and 9 */
        r->bad_asid = asid_of[s];
        r->bad_what = what;
        r->bad_got = got;
        r->bad_exp = exp;
    }
    /* only CPU0 prints, and it prints as it goes */
    if (c == 0 && r->lines < MAX_LINES) {
        r->lines++;
        pr("FAIL cpu0 in ASID %u (%s 0x%03x): got 0x%08x expected 0x%08x\n",
           asid_of[s], what >= 0x1000 ? "function at" : "data word at", what & 0xfff,
           got, exp);
    }
}

static void run(uint32_t c)
{
    volatile uint32_t *state = (volatile uint32_t *)(STATE_PA + 4 * c);

    mmu_on_lpae(l1[A], asid_of[A]);
    uint64_t end = deadline_ms(SPAN_MS);
    uint32_t r = 0, more;
    do {
        int s = (int)(r & 1);
        enter(state, s); /* the state word was 0: see close */
        unsigned bad = 0;
        for (int k = 0; k < 3; k++) {
            uint32_t got = ld32(DATA + dofs[k]), exp = data_pa(s) + dofs[k];
            if (got != exp) {
                mismatch(c, s, dofs[k], got, exp);
                bad = 1;
            }
        }
        for (uint32_t f = 0; f < 3; f++) {
            uint32_t got = ((fn0)(CODE + fofs[f]))(), exp = code_val(s, f);
            if (got != exp) {
                mismatch(c, s, 0x1000 | fofs[f], got, exp);
                bad = 1;
            }
        }
        st32(DATA + CNT + 4 * c, ld32(DATA + CNT + 4 * c) + 1);
        /* Reading the virtual count ends a block of translated code, and
         * QEMU stops vCPUs mostly there: read it while the state word
         * names the space, so that most stops find it named. */
        more = !passed(end);
        /* the last access of the round clears the state word */
        uint32_t got = ((close_fn)(CODE + CLOSE))(state, DATA);
        uint32_t exp = code_val(s, 3) + data_pa(s);
        if (got != exp) {
            mismatch(c, s, 0x1000 | CLOSE, got, exp);
            bad = 1;
        }
        res[c].bad += bad;
        res[c].rounds[s]++;
        r++;
    } while (more);
    dsb();
    res[c].done = 1;
}

static void report(uint32_t c)
{
    struct result *r = &res[c];
    uint32_t all = r->rounds[A] + r->rounds[B];
    if (r->bad == 0) {
        pr("ok cpu%u: ASIDs 5 and 9 alternated for %u s of guest time, each round saw its own space\n",
           c, SPAN_MS / 1000);
    } else {
        total_failures++;
        pr("FAIL cpu%u: %u of %u rounds saw the other space; first in ASID %u, %s 0x%03x: got 0x%08x expected 0x%08x\n",
           c, r->bad, all, r->bad_asid,
           r->bad_what >= 0x1000 ? "function at" : "data word at", r->bad_what & 0xfff,
           r->bad_got, r->bad_exp);
    }
    begin("cpu%u: each space's frame counted its own rounds", c);
    for (int s = A; s <= B; s++) {
        eq32(ld32(data_pa(s) + CNT + 4 * c), r->rounds[s], "counter of ASID %u", asid_of[s]);
    }
    end();
}

int main(void)
{
    setup();
    pr("# ASIDs 5 and 9 alternate for %u s; the runner saves once and loads six times\n",
       SPAN_MS / 1000);
    int32_t r = cpu_start(1, run, 1);
    int two = r == PSCI_SUCCESS;
    if (two) {
        pr("# cpu1 powered on with PSCI CPU_ON\n");
    } else {
        pr("# one vCPU: PSCI CPU_ON of CPU1 returned %d\n", r);
    }
    run(0);
    report(0);
    if (two) {
        if (!wait_flag(&res[1].done, 30000)) {
            pr("FAIL cpu1 did not report within 30 s\n");
            total_failures++;
        } else {
            report(1);
        }
    }
    finish("loadvm_rekey");
}
