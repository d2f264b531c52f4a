/*
 * jmp_cache: code reached by indirect calls across address-space switches.
 *
 * QEMU looks up the block to run at a virtual pc in a per-vCPU jump cache
 * before its hash table; with ESPT, the cache of an address space is kept
 * while the vCPU runs another one, and every invalidation made meanwhile
 * must reach it.  One virtual code page X is mapped, not global (nG = 1),
 * to a different physical page in each of two address spaces (ASIDs A and
 * B), in a domain of its own.  Each round switches space and DACR (that
 * domain client, manager or no access) and calls X, which must run the
 * code of the page the current space maps, or take a prefetch abort (a
 * domain fault) with no access.  In between, with the other space
 * current: X is remapped in one space and invalidated with TLBIMVA (with
 * its ASID), TLBIASID, TLBIMVAA or TLBIALL; the code of a page is
 * rewritten (with the cache maintenance the architecture asks for); and A's
 * ASID is given to a new table.  Short descriptors: the ASID is in
 * CONTEXTIDR and QEMU keys the address space by DACR and ASID.
 */
#include "bm.h"

enum { A, B, C, NSPACES };
static const uint32_t asid_of[NSPACES] = {5, 9, 5}; /* C reuses A's ASID */

static uint32_t l1[NSPACES][4096] __attribute__((aligned(16384)));
static uint32_t l2[NSPACES][256] __attribute__((aligned(1024)));

#define X        0x90000000u  /* the virtual code page */
#define XDOM     3u           /* its domain */
#define NPAGES   4
#define CODE_PA  0x41000000u  /* NPAGES physical code pages from here */
#define ROUNDS   3000

#define DACR_BASE (0x55555555u & ~(3u << (2 * XDOM)))
static const uint32_t dacr_of[3] = {
    DACR_BASE | (1u << (2 * XDOM)),  /* client */
    DACR_BASE | (3u << (2 * XDOM)),  /* manager */
    DACR_BASE,                       /* no access */
};
#define FS_DOMAIN_PAGE 0x0b

static uint32_t value_of[NPAGES]; /* what the code of each page returns */
static uint32_t page_of[NSPACES]; /* which page X maps to in each space */
static int cur = -1;
static uint32_t cur_dacr;

/* Three functions per page: the jump cache is indexed by pc, in groups
 * of entries per page that a page flush clears. */
static const uint32_t fn_ofs[] = {0x0, 0x400, 0xff0};

static void write_code(uint32_t page, uint32_t v)
{
    uint32_t pa = CODE_PA + page * PAGE;
    for (unsigned i = 0; i < 3; i++) {
        uint32_t a = pa + fn_ofs[i];
        st32(a + 0, movw(0, (v + i) & 0xffff));
        st32(a + 4, movt(0, (v + i) >> 16));
        st32(a + 8, BX_LR);
        dccmvau(a);
        dccmvau(a + 8);
    }
    code_written();
    value_of[page] = v;
}

static void use(int s, uint32_t dacr)
{
    if (s != cur) {
        set_contextidr(0); /* reserved ASID while TTBR0 changes */
        set_ttbr0((uint32_t)l1[s]);
        set_contextidr(asid_of[s]);
        cur = s;
    }
    if (dacr != cur_dacr) {
        set_dacr(dacr);
        cur_dacr = dacr;
    }
}

static void map_x(int s, uint32_t page)
{
    sd_page(l2[s], X, CODE_PA + page * PAGE, AP_RW, M_NG);
    page_of[s] = page;
}

typedef uint32_t (*fn0)(void);

/* Call each function of X in space s with DACR variant d and check it. */
static void call_x(int s, unsigned d, uint32_t round)
{
    use(s, dacr_of[d]);
    for (unsigned i = 0; i < 3; i++) {
        uint32_t fn = X + fn_ofs[i];
        if (d == 2) {
            fault_arm();
            uint32_t got = ((fn0)fn)();
            unsigned n = fault_disarm();
            eq32(got, FAULT_RET, "no access, round %u", round);
            eq32(n, 1, "prefetch aborts, round %u", round);
            eq32(flt.kind, EXC_PABT, "exception kind, round %u", round);
            eq32(fsr_status(flt.fsr), FS_DOMAIN_PAGE, "IFSR, round %u", round);
            eq32(flt.far, fn, "IFAR, round %u", round);
        } else {
            eq32(((fn0)fn)(), value_of[page_of[s]] + i, "round %u", round);
        }
    }
}

/* Publish X's new mapping in space s with one of the four invalidations. */
static void invalidate_x(int s, unsigned how)
{
    dsb();
    switch (how % 4) {
    case 0: tlbimva(X | asid_of[s]); break;
    case 1: tlbiasid(asid_of[s]); break;
    case 2: tlbimvaa(X); break;
    default: tlbiall(); break;
    }
    dsb();
    isb();
}

int main(void)
{
    for (int s = 0; s < NSPACES; s++) {
        sd_identity(l1[s]);
        sd_table(l1[s], X, l2[s], M_DOM(XDOM));
    }
    mmu_on_short(l1[A]);
    cur_dacr = 0x55555555u;
    rnd_seed(7);
    for (uint32_t p = 0; p < NPAGES; p++) {
        write_code(p, 0x1000u * (p + 1));
    }
    map_x(A, 0);
    map_x(B, 1);

    begin("switching back and forth, %u rounds", ROUNDS);
    for (uint32_t r = 0; r < ROUNDS; r++) {
        call_x(rnd() % 2, rnd() % 8 == 0 ? 2 : rnd() % 2, r);
    }
    end();

    begin("X remapped in the other space and invalidated, %u rounds", ROUNDS);
    for (uint32_t r = 0; r < ROUNDS; r++) {
        int s = rnd() % 2, other = 1 - s;
        call_x(s, rnd() % 2, r);
        if (r % 3 == 0) {
            /* from s, change the other space's X */
            map_x(other, (page_of[other] + 1 + rnd() % (NPAGES - 1)) % NPAGES);
            invalidate_x(other, r / 3);
        }
        call_x(other, rnd() % 2, r);
    }
    end();

    begin("code rewritten while its space is away, %u rounds", ROUNDS / 3);
    for (uint32_t r = 0; r < ROUNDS / 3; r++) {
        int s = rnd() % 2, other = 1 - s;
        call_x(other, 0, r);
        call_x(s, rnd() % 2, r);
        write_code(page_of[other], rnd());
        call_x(s, 0, r);
        call_x(other, rnd() % 2, r);
    }
    end();

    begin("an ASID given to a new table");
    call_x(A, 0, 0);
    call_x(B, 0, 0);
    map_x(C, (page_of[A] + 1) % NPAGES);
    dsb();
    tlbiasid(asid_of[A]);
    dsb();
    isb();
    for (uint32_t r = 0; r < ROUNDS / 3; r++) {
        call_x(r % 2 ? B : C, rnd() % 2, r);
    }
    end();

    finish("jmp_cache");
}
