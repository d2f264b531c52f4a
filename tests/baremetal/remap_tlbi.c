/*
 * remap_tlbi: rewriting a live translation and invalidating it.
 *
 * A mapping (section, supersection, small page, large page; then LPAE 2 MiB
 * block and 4 KiB page) is read page by page, its descriptor is rewritten to
 * point at other physical memory, ONE address inside it is invalidated
 * (TLBIMVA and friends), and every page of the mapping must then read the
 * new backing: a TLB maintenance operation by address removes the whole
 * entry, however large.  Stores after the remap must land in the new
 * backing only.  Mappings around the changed one must be unaffected.
 */
#include "bm.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l2[256] __attribute__((aligned(1024)));
static uint64_t lp1[512] __attribute__((aligned(4096)));
static uint64_t lp2low[512] __attribute__((aligned(4096)));
static uint64_t lp2[512] __attribute__((aligned(4096)));
static uint64_t lp3[512] __attribute__((aligned(4096)));

struct remap {
    const char *name;
    uint32_t va, span;          /* the virtual range of the changed entry */
    uint32_t pa[2];             /* the two backings it alternates between */
    void (*set)(uint32_t va, uint32_t pa); /* rewrite the descriptor */
    void (*inval)(uint32_t va); /* the TLB maintenance under test */
    const char *inval_name;
    uint32_t nb_va[2], nb_pa[2]; /* neighbouring pages that never change */
};

/* descriptor writers */
static void set_section(uint32_t va, uint32_t pa) { sd_section(l1, va, pa, AP_RW, 0); }
static void set_super(uint32_t va, uint32_t pa) { sd_supersection(l1, va, pa, AP_RW, 0); }
static void set_small(uint32_t va, uint32_t pa) { sd_page(l2, va, pa, AP_RW, 0); }
static void set_large(uint32_t va, uint32_t pa) { sd_large(l2, va, pa, AP_RW, 0); }
static void set_block2m(uint32_t va, uint32_t pa) { lp_block2m(lp2, va, pa, LAP_RW, 0); }
static void set_page4k(uint32_t va, uint32_t pa) { lp_page(lp3, va, pa, LAP_RW, 0); }

/* TLB maintenance; the ASID is 0 throughout and the mappings are global */
static void inv_mva(uint32_t va) { tlbimva(va & ~0xfffu); }
static void inv_mvaa(uint32_t va) { tlbimvaa(va & ~0xfffu); }
static void inv_mvais(uint32_t va) { tlbimvais(va & ~0xfffu); }
static void inv_mvaais(uint32_t va) { tlbimvaais(va & ~0xfffu); }
static void inv_all(uint32_t va) { (void)va; tlbiall(); }
static void inv_allis(uint32_t va) { (void)va; tlbiallis(); }

/* every page starts with its own physical address and ends with its inverse */
static void tag_pages(uint32_t pa, uint32_t span)
{
    for (uint32_t p = pa; p < pa + span; p += PAGE) {
        st32(p, p);
        st32(p + 8, 0);
        st32(p + PAGE - 4, ~p);
    }
}

static void check_backing(const struct remap *r, uint32_t pa, uint32_t round)
{
    for (uint32_t off = 0; off < r->span; off += PAGE) {
        eq32(ld32(r->va + off), pa + off, "first word of va 0x%x", r->va + off);
        eq32(ld32(r->va + off + PAGE - 4), ~(pa + off), "last word of va 0x%x",
             r->va + off);
        st32(r->va + off + 8, (round << 24) | off >> 12);
    }
    for (uint32_t off = 0; off < r->span; off += PAGE) {
        eq32(ld32(pa + off + 8), (round << 24) | off >> 12,
             "store through va landed at PA 0x%x", pa + off + 8);
    }
    for (int i = 0; i < 2; i++) {
        if (r->nb_va[i]) {
            eq32(ld32(r->nb_va[i]), r->nb_pa[i], "neighbour va 0x%x", r->nb_va[i]);
        }
    }
}

#define ROUNDS 4

static void run_remap(const struct remap *r)
{
    uint32_t pages = r->span / PAGE;
    for (int i = 0; i < 2; i++) {
        tag_pages(r->pa[i], r->span);
        if (r->nb_va[i]) {
            tag_pages(r->nb_pa[i], PAGE);
        }
    }
    r->set(r->va, r->pa[0]);
    dsb();
    tlbiall();
    dsb();
    isb();
    begin("%s: initial mapping", r->name);
    check_backing(r, r->pa[0], 0);
    end();

    for (uint32_t round = 1; round <= ROUNDS; round++) {
        uint32_t pa = r->pa[round & 1], old = r->pa[(round + 1) & 1];
        uint32_t one = r->va + ((round * 0x9e3u + 0x123u) % pages) * PAGE +
                       ((round * 0x44u) & 0xffcu);
        for (uint32_t off = 0; off < r->span; off += PAGE) {
            st32(old + off + 8, 0);
        }
        begin("%s: remap %u, %s of 0x%x", r->name, round, r->inval_name, one);
        /* touch every page right before the change so that the old
         * translation is as cached as it gets */
        for (uint32_t off = 0; off < r->span; off += PAGE) {
            eq32(ld32(r->va + off), old + off, "va 0x%x before the remap", r->va + off);
        }
        r->set(r->va, pa);      /* cleans the descriptor and does a DSB */
        r->inval(one);
        dsb();
        isb();
        check_backing(r, pa, round);
        for (uint32_t off = 0; off < r->span; off += PAGE) {
            eq32(ld32(old + off + 8), 0, "old backing untouched at PA 0x%x", old + off + 8);
        }
        end();
    }
}

/* several entries rewritten, then one TLBIALL */
static void run_all_at_once(const struct remap *rs, int n, const char *name)
{
    for (int k = 0; k < n; k++) {
        tag_pages(rs[k].pa[0], rs[k].span);
        tag_pages(rs[k].pa[1], rs[k].span);
        rs[k].set(rs[k].va, rs[k].pa[0]);
    }
    tlbiall();
    dsb();
    isb();
    begin("%s: before", name);
    for (int k = 0; k < n; k++) {
        check_backing(&rs[k], rs[k].pa[0], 5);
    }
    end();
    for (int k = 0; k < n; k++) {
        rs[k].set(rs[k].va, rs[k].pa[1]);
    }
    tlbiall();
    dsb();
    isb();
    begin("%s: after one TLBIALL", name);
    for (int k = 0; k < n; k++) {
        check_backing(&rs[k], rs[k].pa[1], 6);
    }
    end();
}

static const struct remap short_cases[] = {
    {"section", 0x90000000, MIB, {0x41000000, 0x41100000}, set_section, inv_mva, "TLBIMVA",
     {0x8ff00000, 0x90100000}, {0x41400000, 0x41300000}},
    {"section", 0x90000000, MIB, {0x41000000, 0x41100000}, set_section, inv_mvaa, "TLBIMVAA",
     {0x8ff00000, 0x90100000}, {0x41400000, 0x41300000}},
    {"section", 0x90000000, MIB, {0x41000000, 0x41100000}, set_section, inv_mvais,
     "TLBIMVAIS", {0x8ff00000, 0x90100000}, {0x41400000, 0x41300000}},
    {"section", 0x90000000, MIB, {0x41000000, 0x41100000}, set_section, inv_all, "TLBIALL",
     {0x8ff00000, 0x90100000}, {0x41400000, 0x41300000}},
    {"supersection", 0x80000000, 16 * MIB, {0x42000000, 0x43000000}, set_super, inv_mva,
     "TLBIMVA", {0x7ff00000, 0x81000000}, {0x41600000, 0x41500000}},
    {"supersection", 0x80000000, 16 * MIB, {0x42000000, 0x43000000}, set_super,
     inv_mvaais, "TLBIMVAAIS", {0x7ff00000, 0x81000000}, {0x41600000, 0x41500000}},
    {"small page", 0xa0005000, PAGE, {0x41700000, 0x41701000}, set_small, inv_mva,
     "TLBIMVA", {0xa0004000, 0xa0006000}, {0x41702000, 0x41703000}},
    {"large page", 0xa0010000, 0x10000, {0x41710000, 0x41720000}, set_large, inv_mva,
     "TLBIMVA", {0xa000f000, 0xa0020000}, {0x41704000, 0x41705000}},
};

static const struct remap lpae_cases[] = {
    {"lpae 2M block", 0x80000000, 2 * MIB, {0x41000000, 0x41200000}, set_block2m, inv_mva,
     "TLBIMVA", {0, 0x80200000}, {0, 0x41400000}},
    {"lpae 2M block", 0x80000000, 2 * MIB, {0x41000000, 0x41200000}, set_block2m,
     inv_mvaa, "TLBIMVAA", {0, 0x80200000}, {0, 0x41400000}},
    {"lpae 2M block", 0x80000000, 2 * MIB, {0x41000000, 0x41200000}, set_block2m,
     inv_allis, "TLBIALLIS", {0, 0x80200000}, {0, 0x41400000}},
    {"lpae 4K page", 0x80405000, PAGE, {0x41600000, 0x41601000}, set_page4k, inv_mva,
     "TLBIMVA", {0x80404000, 0x80406000}, {0x41602000, 0x41603000}},
};

int main(void)
{
    /* short descriptors */
    sd_identity(l1);
    sd_section(l1, 0x8ff00000, 0x41400000, AP_RW, 0);
    sd_section(l1, 0x90100000, 0x41300000, AP_RW, 0);
    sd_section(l1, 0x7ff00000, 0x41600000, AP_RW, 0);
    sd_section(l1, 0x81000000, 0x41500000, AP_RW, 0);
    sd_table(l1, 0xa0000000, l2, M_DOM(0));
    sd_page(l2, 0xa0004000, 0x41702000, AP_RW, 0);
    sd_page(l2, 0xa0006000, 0x41703000, AP_RW, 0);
    sd_page(l2, 0xa000f000, 0x41704000, AP_RW, 0);
    sd_page(l2, 0xa0020000, 0x41705000, AP_RW, 0);
    mmu_on_short(l1);
    for (unsigned i = 0; i < sizeof(short_cases) / sizeof(short_cases[0]); i++) {
        run_remap(&short_cases[i]);
    }
    static const struct remap together[] = {
        {"section", 0x90000000, MIB, {0x41000000, 0x41100000}, set_section, inv_all, "",
         {0, 0}, {0, 0}},
        {"supersection", 0x80000000, 16 * MIB, {0x42000000, 0x43000000}, set_super,
         inv_all, "", {0, 0}, {0, 0}},
        {"small page", 0xa0005000, PAGE, {0x41700000, 0x41701000}, set_small, inv_all, "",
         {0, 0}, {0, 0}},
        {"large page", 0xa0010000, 0x10000, {0x41710000, 0x41720000}, set_large, inv_all,
         "", {0, 0}, {0, 0}},
    };
    run_all_at_once(together, 4, "short: four entries rewritten");

    /* long descriptors */
    mmu_off();
    lp_identity(lp1, lp2low);
    lp_table1(lp1, 0x80000000, lp2);
    lp_block2m(lp2, 0x80200000, 0x41400000, LAP_RW, 0);
    lp_table2(lp2, 0x80400000, lp3);
    lp_page(lp3, 0x80404000, 0x41602000, LAP_RW, 0);
    lp_page(lp3, 0x80406000, 0x41603000, LAP_RW, 0);
    mmu_on_lpae(lp1, 0);
    for (unsigned i = 0; i < sizeof(lpae_cases) / sizeof(lpae_cases[0]); i++) {
        run_remap(&lpae_cases[i]);
    }
    static const struct remap lp_together[] = {
        {"lpae 2M block", 0x80000000, 2 * MIB, {0x41000000, 0x41200000}, set_block2m,
         inv_all, "", {0, 0}, {0, 0}},
        {"lpae 4K page", 0x80405000, PAGE, {0x41600000, 0x41601000}, set_page4k, inv_all,
         "", {0, 0}, {0, 0}},
    };
    run_all_at_once(lp_together, 2, "lpae: two entries rewritten");

    finish("remap_tlbi");
}
