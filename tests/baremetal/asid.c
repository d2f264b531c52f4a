/*
 * asid: address spaces told apart by ASID.
 *
 * Spaces A and B (and later C) map the same virtual addresses to different
 * physical pages with not-global (nG = 1) entries, and share a global
 * (nG = 0) mapping.  The test switches between them many times, then uses
 * TLBIASID, TLBIMVA with an ASID, TLBIMVAA and TLBIALL to publish table
 * changes for one space while running in the other, and reuses an ASID for
 * a new table.  A fourth space D, with an ASID of its own, checks that
 * TLBIASID of one ASID leaves a third space's translations alone and that
 * D's own TLBIASIDIS, issued from another space, reaches it.  Done twice:
 * short descriptors (ASID in CONTEXTIDR) and long descriptors (ASID in
 * TTBR0[55:48]).
 */
#include "bm.h"

#define ASID_A 5u
#define ASID_B 9u
#define ASID_D 13u
enum { A, B, C, D, NSPACES };
/* C reuses A's ASID */
static const uint32_t asid_of[NSPACES] = {ASID_A, ASID_B, ASID_A, ASID_D};

struct env {
    const char *fmt;
    void (*use)(int s);                  /* make space s current */
    void (*map_big)(int s, uint32_t pa); /* the nG section / 2 MiB block */
    void (*map_page)(int s, uint32_t pa);/* the nG 4 KiB page */
    void (*map_glob)(uint32_t pa);       /* the global mapping, in every table */
    uint32_t va_big, va_page, va_glob;
};

/* ------------------------------------------------------ short descriptors */
static uint32_t sl1[NSPACES][4096] __attribute__((aligned(16384)));
static uint32_t sl2[NSPACES][256] __attribute__((aligned(1024)));

static void s_use(int s)
{
    /* reserved ASID 0 while TTBR0 changes, so no walk is tagged wrongly */
    set_contextidr(0);
    set_ttbr0((uint32_t)sl1[s]);
    set_contextidr(asid_of[s]);
}
static void s_big(int s, uint32_t pa) { sd_section(sl1[s], 0x90000000, pa, AP_RW, M_NG); }
static void s_page(int s, uint32_t pa) { sd_page(sl2[s], 0xa0000000, pa, AP_RW, M_NG); }
static void s_glob(uint32_t pa)
{
    for (int s = 0; s < NSPACES; s++) {
        sd_section(sl1[s], 0x90100000, pa, AP_RW, 0);
    }
}
static const struct env short_env = {"short", s_use, s_big, s_page, s_glob,
                                     0x90000000, 0xa0000000, 0x90100000};

/* ------------------------------------------------------- long descriptors */
static uint64_t ll1[NSPACES][512] __attribute__((aligned(4096)));
static uint64_t ll2[NSPACES][512] __attribute__((aligned(4096)));
static uint64_t ll3[NSPACES][512] __attribute__((aligned(4096)));
static uint64_t ll2low[512] __attribute__((aligned(4096)));

static void l_use(int s)
{
    /* one 64-bit write changes table and ASID together */
    set_ttbr0_64((uint32_t)ll1[s] | ((uint64_t)asid_of[s] << 48));
}
static void l_big(int s, uint32_t pa) { lp_block2m(ll2[s], 0x80000000, pa, LAP_RW, M_NG); }
static void l_page(int s, uint32_t pa) { lp_page(ll3[s], 0x80400000, pa, LAP_RW, M_NG); }
static void l_glob(uint32_t pa)
{
    for (int s = 0; s < NSPACES; s++) {
        lp_block2m(ll2[s], 0x80200000, pa, LAP_RW, 0);
    }
}
static const struct env lpae_env = {"lpae", l_use, l_big, l_page, l_glob,
                                    0x80000000, 0x80400000, 0x80200000};

/* ------------------------------------------------------------- scenario */

/* physical backings (2 MiB aligned so that both formats can use them) */
#define BIG_A   0x41000000u
#define BIG_B   0x41200000u
#define BIG_C   0x41400000u
#define BIG_B2  0x41600000u
#define BIG_A3  0x41800000u
#define BIG_B3  0x41a00000u
#define GLOB    0x41c00000u
#define GLOB2   0x41e00000u
#define PG_A    0x42000000u
#define PG_B    0x42001000u
#define PG_C    0x42002000u
#define PG_A2   0x42003000u
#define BIG_D   0x42200000u
#define PG_D    0x42004000u

static const uint32_t all_backings[] = {BIG_A, BIG_B, BIG_C, BIG_B2, BIG_A3, BIG_B3,
                                        GLOB, GLOB2, PG_A, PG_B, PG_C, PG_A2,
                                        BIG_D, PG_D};

/* word 0 of every backing page holds its physical address */
static void tag_all(void)
{
    for (unsigned i = 0; i < sizeof(all_backings) / 4; i++) {
        for (uint32_t off = 0; off < 4 * PAGE; off += PAGE) {
            st32(all_backings[i] + off, all_backings[i] + off);
            st32(all_backings[i] + off + 0x10, 0);
        }
    }
}

/* the current space must see these backings */
static void expect(const struct env *e, uint32_t big, uint32_t page, uint32_t glob,
                   uint32_t step)
{
    eq32(ld32(e->va_big), big, "big mapping, step %u", step);
    eq32(ld32(e->va_big + 3 * PAGE), big + 3 * PAGE, "big mapping + 3 pages, step %u",
         step);
    eq32(ld32(e->va_page), page, "page mapping, step %u", step);
    eq32(ld32(e->va_glob), glob, "global mapping, step %u", step);
}

/* make space s current; it must see these backings and GLOB */
static void visit(const struct env *e, int s, uint32_t big, uint32_t page,
                  uint32_t step)
{
    e->use(s);
    expect(e, big, page, GLOB, step);
}

static void scenario(const struct env *e)
{
    tag_all();
    for (int s = 0; s < 3; s++) {
        e->map_big(s, s == A ? BIG_A : s == B ? BIG_B : BIG_C);
        e->map_page(s, s == A ? PG_A : s == B ? PG_B : PG_C);
    }
    e->map_glob(GLOB);
    tlbiall();
    dsb();
    isb();

    /* 1. switch back and forth; each space increments its own counters */
    begin("%s: 400 switches between A and B", e->fmt);
    for (uint32_t i = 0; i < 400; i++) {
        int s = (int)(i & 1);
        e->use(s);
        expect(e, s == A ? BIG_A : BIG_B, s == A ? PG_A : PG_B, GLOB, i);
        st32(e->va_big + 0x10, ld32(e->va_big + 0x10) + 1);
        st32(e->va_page + 0x10, ld32(e->va_page + 0x10) + 1);
        st32(e->va_glob + 0x10, ld32(e->va_glob + 0x10) + 1);
    }
    eq32(ld32(BIG_A + 0x10), 200, "A's section/block counter", 0);
    eq32(ld32(BIG_B + 0x10), 200, "B's section/block counter", 0);
    eq32(ld32(PG_A + 0x10), 200, "A's page counter", 0);
    eq32(ld32(PG_B + 0x10), 200, "B's page counter", 0);
    eq32(ld32(GLOB + 0x10), 400, "global counter", 0);
    end();

    /* 2. from A, remap B's big mapping and TLBIASID(B) */
    e->use(A);
    e->map_big(B, BIG_B2);
    tlbiasid(ASID_B);
    dsb();
    isb();
    begin("%s: TLBIASID(B) issued in A", e->fmt);
    expect(e, BIG_A, PG_A, GLOB, 1);
    e->use(B);
    expect(e, BIG_B2, PG_B, GLOB, 2);
    e->use(A);
    expect(e, BIG_A, PG_A, GLOB, 3);
    end();

    /* 3. from B, remap A's page and TLBIMVA(page | A) */
    e->use(B);
    e->map_page(A, PG_A2);
    tlbimva(e->va_page | ASID_A);
    dsb();
    isb();
    begin("%s: TLBIMVA(va, ASID A) issued in B", e->fmt);
    expect(e, BIG_B2, PG_B, GLOB, 1);
    e->use(A);
    expect(e, BIG_A, PG_A2, GLOB, 2);
    e->use(B);
    expect(e, BIG_B2, PG_B, GLOB, 3);
    end();

    /* 4. remap both big mappings, one TLBIMVAA for all ASIDs */
    e->map_big(A, BIG_A3);
    e->map_big(B, BIG_B3);
    tlbimvaa(e->va_big + 0x5000);
    dsb();
    isb();
    begin("%s: TLBIMVAA of one address, both spaces", e->fmt);
    for (uint32_t i = 0; i < 20; i++) {
        int s = (int)(i & 1);
        e->use(s);
        expect(e, s == A ? BIG_A3 : BIG_B3, s == A ? PG_A2 : PG_B, GLOB, i);
    }
    end();

    /* 5. remap the global mapping; TLBIMVA with B's ASID hits global entries */
    e->use(B);
    e->map_glob(GLOB2);
    tlbimva((e->va_glob + 0x7000) | ASID_B);
    dsb();
    isb();
    begin("%s: global mapping remapped, TLBIMVA", e->fmt);
    for (uint32_t i = 0; i < 20; i++) {
        int s = (int)(i & 1);
        e->use(s);
        expect(e, s == A ? BIG_A3 : BIG_B3, s == A ? PG_A2 : PG_B, GLOB2, i);
    }
    end();

    /* 6. reuse A's ASID for table C after TLBIASIDIS(A), then give it back */
    e->use(B);
    tlbiasidis(ASID_A);
    dsb();
    isb();
    begin("%s: ASID of A reused for table C", e->fmt);
    e->use(C);
    expect(e, BIG_C, PG_C, GLOB2, 1);
    e->use(B);
    expect(e, BIG_B3, PG_B, GLOB2, 2);
    e->use(C);
    expect(e, BIG_C, PG_C, GLOB2, 3);
    e->use(B);
    tlbiasid(ASID_A);
    dsb();
    isb();
    e->use(A);
    expect(e, BIG_A3, PG_A2, GLOB2, 4);
    end();

    /* 7. everything back, one TLBIALL */
    e->map_big(A, BIG_A);
    e->map_big(B, BIG_B);
    e->map_page(A, PG_A);
    e->map_glob(GLOB);
    tlbiall();
    dsb();
    isb();
    begin("%s: all remapped, TLBIALL", e->fmt);
    for (uint32_t i = 0; i < 20; i++) {
        int s = (int)(i & 1);
        e->use(s);
        expect(e, s == A ? BIG_A : BIG_B, s == A ? PG_A : PG_B, GLOB, i);
    }
    end();

    /* 8. TLBIASID(B) leaves D's translations; D's own TLBIASIDIS reaches it */
    e->map_big(D, BIG_D);
    e->map_page(D, PG_D);
    dsb();
    isb();
    begin("%s: a third ASID across TLBIASID of another", e->fmt);
    for (uint32_t i = 0; i < 30; i++) {
        static const int order[3] = {A, B, D};
        int s = order[i % 3];
        visit(e, s, s == A ? BIG_A : s == B ? BIG_B : BIG_D,
              s == A ? PG_A : s == B ? PG_B : PG_D, i);
    }
    e->use(A);
    e->map_page(B, PG_A2);
    tlbiasid(ASID_B);
    dsb();
    isb();
    visit(e, D, BIG_D, PG_D, 100);
    visit(e, B, BIG_B, PG_A2, 101);
    visit(e, A, BIG_A, PG_A, 102);
    visit(e, D, BIG_D, PG_D, 103);
    e->use(B);
    e->map_page(D, PG_C);
    e->map_big(D, BIG_C);
    tlbiasidis(ASID_D);
    dsb();
    isb();
    visit(e, A, BIG_A, PG_A, 104);
    visit(e, D, BIG_C, PG_C, 105);
    visit(e, B, BIG_B, PG_A2, 106);
    visit(e, D, BIG_C, PG_C, 107);
    end();
    /* back as step 7 left it, for the second format */
    e->map_page(B, PG_B);
    tlbiasid(ASID_B);
    dsb();
    isb();

    /* the physical pages saw exactly the stores made in their own space */
    begin("%s: backings after the stores", e->fmt);
    static const uint32_t untouched[] = {BIG_C, BIG_B2, BIG_A3, BIG_B3, GLOB2, PG_C, PG_A2};
    for (unsigned i = 0; i < sizeof(untouched) / 4; i++) {
        eq32(ld32(untouched[i] + 0x10), 0, "counter at PA 0x%x", untouched[i] + 0x10);
    }
    end();
}

int main(void)
{
    for (int s = 0; s < NSPACES; s++) {
        sd_identity(sl1[s]);
        sd_table(sl1[s], 0xa0000000, sl2[s], M_DOM(0));
    }
    mmu_on_short(sl1[A]);
    scenario(&short_env);
    short_env.use(B);
    check32("short: CONTEXTIDR holds ASID B", MRC(0, c13, c0, 1) & 0xff, ASID_B);
    short_env.use(A);
    check32("short: CONTEXTIDR holds ASID A", MRC(0, c13, c0, 1) & 0xff, ASID_A);

    mmu_off();
    for (int s = 0; s < NSPACES; s++) {
        lp_identity(ll1[s], ll2low);
        lp_table1(ll1[s], 0x80000000, ll2[s]);
        lp_table2(ll2[s], 0x80400000, ll3[s]);
    }
    mmu_on_lpae(ll1[A], ASID_A);
    scenario(&lpae_env);

    finish("asid");
}
