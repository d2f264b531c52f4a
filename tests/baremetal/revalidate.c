/*
 * revalidate: translations behind whole and ASID-wide invalidations.
 *
 * ESPT keeps what it mirrored across TLBIALL and TLBIASID, unusable, and
 * brings a page back when the guest's tables still give the same page with
 * the same or fewer rights.  So every case here is one a revalidation could
 * get wrong: pages read again unchanged after TLBIALL (they must come back),
 * some pages of a run remapped and the others not behind one TLBIALL, rights
 * reduced behind TLBIALL (a store must fault, then work again once they are
 * restored), a space's pages and section/block remapped from another space
 * behind TLBIASID, and global mappings read from two spaces across TLBIALL
 * and then moved.  Small pages, sections and LPAE 2 MiB blocks, short and
 * long descriptors.  Every store must land in the backing the tables name
 * at that moment, and no other.
 */
#include "bm.h"

#define ASID_A 5u
#define ASID_B 9u
enum { A, B, NSPACES };
static const uint32_t asid_of[NSPACES] = {ASID_A, ASID_B};

#define NPAGES 8
#define ROUNDS 6

struct env {
    const char *fmt;
    void (*use)(int s);
    void (*map_page)(int s, unsigned i, uint32_t pa, int ro);
    void (*map_big)(int s, uint32_t pa, int ro);
    void (*map_glob)(uint32_t pa);
    uint32_t va_pages, va_big, va_glob;
    uint32_t fs_perm_big; /* permission fault status of the big mapping */
};

/* ------------------------------------------------------ short descriptors */
static uint32_t sl1[NSPACES][4096] __attribute__((aligned(16384)));
static uint32_t sl2[NSPACES][256] __attribute__((aligned(1024)));

static void s_use(int s)
{
    set_contextidr(0);
    set_ttbr0((uint32_t)sl1[s]);
    set_contextidr(asid_of[s]);
}
static void s_page(int s, unsigned i, uint32_t pa, int ro)
{
    sd_page(sl2[s], 0xa0000000 + i * PAGE, pa, ro ? AP_RO : AP_RW, M_NG);
}
static void s_big(int s, uint32_t pa, int ro)
{
    sd_section(sl1[s], 0x90000000, pa, ro ? AP_RO : AP_RW, M_NG);
}
static void s_glob(uint32_t pa)
{
    for (int s = 0; s < NSPACES; s++) {
        sd_section(sl1[s], 0x90100000, pa, AP_RW, 0);
    }
}
static const struct env short_env = {"short", s_use, s_page, s_big, s_glob,
                                     0xa0000000, 0x90000000, 0x90100000, 0x0d};

/* ------------------------------------------------------- long descriptors */
static uint64_t ll1[NSPACES][512] __attribute__((aligned(4096)));
static uint64_t ll2[NSPACES][512] __attribute__((aligned(4096)));
static uint64_t ll3[NSPACES][512] __attribute__((aligned(4096)));
static uint64_t ll2low[512] __attribute__((aligned(4096)));

static void l_use(int s)
{
    set_ttbr0_64((uint32_t)ll1[s] | ((uint64_t)asid_of[s] << 48));
}
static void l_page(int s, unsigned i, uint32_t pa, int ro)
{
    lp_page(ll3[s], 0x80400000 + i * PAGE, pa, ro ? LAP_RO : LAP_RW, M_NG);
}
static void l_big(int s, uint32_t pa, int ro)
{
    lp_block2m(ll2[s], 0x80000000, pa, ro ? LAP_RO : LAP_RW, M_NG);
}
static void l_glob(uint32_t pa)
{
    for (int s = 0; s < NSPACES; s++) {
        lp_block2m(ll2[s], 0x80200000, pa, LAP_RW, 0);
    }
}
static const struct env lpae_env = {"lpae", l_use, l_page, l_big, l_glob,
                                    0x80400000, 0x80000000, 0x80200000, 0x0e};

/* ------------------------------------------------------------- backings */
#define BIG_A   0x41000000u
#define BIG_A2  0x41200000u
#define BIG_B   0x41400000u
#define GLOB    0x41c00000u
#define GLOB2   0x41e00000u
#define PG_A    0x42000000u /* A's pages, NPAGES of them */
#define PG_A2   0x42010000u /* the other backing of each */
#define PG_B    0x42020000u

/* offsets in every backing page: its own address, and two counters */
#define W_SELF  0x0
#define W_COUNT 0x10
#define W_LAST  0x14

static void tag(uint32_t pa, uint32_t len)
{
    for (uint32_t p = pa; p < pa + len; p += PAGE) {
        st32(p + W_SELF, p);
        st32(p + W_COUNT, 0);
        st32(p + W_LAST, 0);
    }
}

/* the pages of the big mapping that the test touches */
static const uint32_t big_offs[] = {0, 3 * PAGE, 0x80000, MIB - PAGE};
#define NBIG (sizeof(big_offs) / sizeof(big_offs[0]))

static void flush_all(void)
{
    dsb();
    tlbiall();
    dsb();
    isb();
}

/* what space A maps now */
static uint32_t pg_of[NPAGES], big_of;

static void map_a(const struct env *e)
{
    for (unsigned i = 0; i < NPAGES; i++) {
        e->map_page(A, i, pg_of[i], 0);
    }
    e->map_big(A, big_of, 0);
}

/* reads every page of A through its current mapping and bumps its counter */
static void touch_a(const struct env *e, uint32_t step)
{
    for (unsigned i = 0; i < NPAGES; i++) {
        uint32_t va = e->va_pages + i * PAGE;
        eq32(ld32(va + W_SELF), pg_of[i], "page (step << 8 | page) 0x%x", step << 8 | i);
        st32(va + W_COUNT, ld32(va + W_COUNT) + 1);
        st32(va + W_LAST, step);
    }
    for (unsigned k = 0; k < NBIG; k++) {
        uint32_t va = e->va_big + big_offs[k];
        eq32(ld32(va + W_SELF), big_of + big_offs[k], "big + 0x%x", big_offs[k]);
        st32(va + W_COUNT, ld32(va + W_COUNT) + 1);
        st32(va + W_LAST, step);
    }
}

/* the stores of touch_a(step) are in the backings A maps, and only there */
static void check_landed(uint32_t step)
{
    for (unsigned i = 0; i < NPAGES; i++) {
        uint32_t other = pg_of[i] == PG_A + i * PAGE ? PG_A2 : PG_A;
        eq32(ld32(pg_of[i] + W_LAST), step, "store to page %u landed", i);
        eq32(ld32(other + i * PAGE + W_LAST) == step, 0,
             "store to page %u landed in the old backing", i);
    }
    uint32_t other = big_of == BIG_A ? BIG_A2 : BIG_A;
    for (unsigned k = 0; k < NBIG; k++) {
        eq32(ld32(big_of + big_offs[k] + W_LAST), step, "big + 0x%x landed", big_offs[k]);
        eq32(ld32(other + big_offs[k] + W_LAST) == step, 0,
             "big + 0x%x landed in the old backing", big_offs[k]);
    }
}

static uint32_t sum_counts(uint32_t pa0, uint32_t pa1)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < NPAGES; i++) {
        n += ld32(pa0 + i * PAGE + W_COUNT) + ld32(pa1 + i * PAGE + W_COUNT);
    }
    return n;
}

static void scenario(const struct env *e)
{
    uint32_t step = 1;
    tag(PG_A, NPAGES * PAGE);
    tag(PG_A2, NPAGES * PAGE);
    tag(PG_B, NPAGES * PAGE);
    for (unsigned k = 0; k < NBIG; k++) {
        tag(BIG_A + big_offs[k], PAGE);
        tag(BIG_A2 + big_offs[k], PAGE);
        tag(BIG_B + big_offs[k], PAGE);
    }
    tag(GLOB, PAGE);
    tag(GLOB2, PAGE);
    for (unsigned i = 0; i < NPAGES; i++) {
        pg_of[i] = PG_A + i * PAGE;
        e->map_page(B, i, PG_B + i * PAGE, 0);
    }
    big_of = BIG_A;
    map_a(e);
    e->map_big(B, BIG_B, 0);
    e->map_glob(GLOB);
    e->use(A);
    flush_all();

    /* 1. nothing changes; TLBIALL between rounds */
    begin("%s: unchanged tables, TLBIALL every round", e->fmt);
    for (uint32_t r = 0; r < ROUNDS; r++, step++) {
        touch_a(e, step);
        eq32(ld32(e->va_glob + W_SELF), GLOB, "global mapping, round %u", r);
        flush_all();
        check_landed(step);
    }
    eq32(sum_counts(PG_A, PG_A2), NPAGES * ROUNDS, "page counters", 0);
    eq32(ld32(BIG_A + MIB - PAGE + W_COUNT), ROUNDS, "big counter", 0);
    end();

    /* 2. every other page and the big mapping move, one TLBIALL */
    begin("%s: half the pages remapped, TLBIALL", e->fmt);
    for (uint32_t r = 0; r < ROUNDS; r++, step++) {
        touch_a(e, step);
        for (unsigned i = r & 1; i < NPAGES; i += 2) {
            pg_of[i] = pg_of[i] == PG_A + i * PAGE ? PG_A2 + i * PAGE : PG_A + i * PAGE;
        }
        big_of = big_of == BIG_A ? BIG_A2 : BIG_A;
        map_a(e);
        flush_all();
        touch_a(e, step + 100);
        check_landed(step + 100);
    }
    eq32(sum_counts(PG_A, PG_A2), NPAGES * ROUNDS * 3, "page counters", 0);
    end();

    /* 3. rights reduced behind TLBIALL, then given back */
    uint32_t va = e->va_pages + 2 * PAGE;
    st32(va + W_LAST, 0x1111);
    e->map_page(A, 2, pg_of[2], 1);
    flush_all();
    begin("%s: page read-only behind TLBIALL, load", e->fmt);
    eq32(ld32(va + W_LAST), 0x1111, "value", 0);
    end();
    fault_arm();
    st32(va + W_LAST, 0x2222);
    check_dabort("store to a page made read-only behind TLBIALL", 0x0f, 1, va + W_LAST);
    uint32_t bva = e->va_big + 3 * PAGE;
    st32(bva + W_LAST, 0x3333);
    e->map_big(A, big_of, 1);
    flush_all();
    fault_arm();
    st32(bva + W_LAST, 0x4444);
    check_dabort("store to a section/block made read-only behind TLBIALL",
                 e->fs_perm_big, 1, bva + W_LAST);
    map_a(e);
    flush_all();
    st32(va + W_LAST, 0x5555);
    st32(bva + W_LAST, 0x6666);
    begin("%s: rights given back behind TLBIALL", e->fmt);
    eq32(ld32(pg_of[2] + W_LAST), 0x5555, "page store landed", 0);
    eq32(ld32(big_of + 3 * PAGE + W_LAST), 0x6666, "big store landed", 0);
    end();

    /* 4. A remapped from B behind TLBIASID(A); B's own tables unchanged */
    begin("%s: A remapped from B, TLBIASID", e->fmt);
    for (uint32_t r = 0; r < ROUNDS; r++, step++) {
        e->use(A);
        touch_a(e, step);
        e->use(B);
        for (unsigned i = 0; i < NPAGES; i++) {
            eq32(ld32(e->va_pages + i * PAGE + W_SELF), PG_B + i * PAGE, "B's page %u", i);
        }
        eq32(ld32(e->va_big + W_SELF), BIG_B, "B's big mapping", r);
        for (unsigned i = (r + 1) & 1; i < NPAGES; i += 2) {
            pg_of[i] = pg_of[i] == PG_A + i * PAGE ? PG_A2 + i * PAGE : PG_A + i * PAGE;
        }
        big_of = big_of == BIG_A ? BIG_A2 : BIG_A;
        map_a(e);
        dsb();
        tlbiasid(ASID_A);
        dsb();
        isb();
        eq32(ld32(e->va_pages + W_SELF), PG_B, "B's page 0 after TLBIASID(A)", r);
        e->use(A);
        touch_a(e, step + 200);
        check_landed(step + 200);
    }
    end();

    /* 5. global mappings, read from both spaces across TLBIALL, then moved */
    begin("%s: global mapping across TLBIALL", e->fmt);
    for (uint32_t r = 0; r < ROUNDS; r++) {
        uint32_t glob = r < ROUNDS / 2 ? GLOB : GLOB2;
        if (r == ROUNDS / 2) {
            e->map_glob(GLOB2);
        }
        flush_all();
        for (int s = 0; s < NSPACES; s++) {
            e->use(s);
            eq32(ld32(e->va_glob + W_SELF), glob, "global mapping in space %d", s);
            st32(e->va_glob + W_COUNT, ld32(e->va_glob + W_COUNT) + 1);
        }
    }
    eq32(ld32(GLOB + W_COUNT), ROUNDS, "counter of the first global backing", 0);
    eq32(ld32(GLOB2 + W_COUNT), ROUNDS, "counter of the second global backing", 0);
    e->map_glob(GLOB);
    e->use(A);
    flush_all();
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

    mmu_off();
    for (int s = 0; s < NSPACES; s++) {
        lp_identity(ll1[s], ll2low);
        lp_table1(ll1[s], 0x80000000, ll2[s]);
        lp_table2(ll2[s], 0x80400000, ll3[s]);
    }
    mmu_on_lpae(ll1[A], ASID_A);
    scenario(&lpae_env);

    finish("revalidate");
}
