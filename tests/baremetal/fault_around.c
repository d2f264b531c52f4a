/*
 * fault_around: the guest's neighbouring mappings of a fill (long
 * descriptors).
 *
 * With espt=on, the first fill of a 4 KiB page in a 64 KiB window where
 * nothing is mirrored yet also mirrors the window's other valid pages
 * that the soft TLB would serve on its fast path.  Each window here is
 * entered through one page and then checked page by page, so that every
 * neighbour is first used after it may have been mirrored:
 *
 * - a window of 16 pages contiguous in physical memory, two of them
 *   rewritten (to other memory, and to invalid) with TLBIMVA before
 *   their first use, then everything again after TLBIALL;
 * - a window of every kind of entry: invalid (made valid later without
 *   TLB maintenance), access flag clear, pairs of read-only and of kernel-only pages, physically descending
 *   pages, and aliases of two frames holding code that ran before the
 *   window was entered (they must stay read-only in the shadow, so that
 *   a store through them still reaches the code and the new code runs);
 * - a window entered through a device page (the UART);
 * - a window of user pages entered from USR mode, one page remapped from
 *   SVC mode in between.
 */
#include "bm.h"

static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l2low[512] __attribute__((aligned(4096)));
static uint64_t l2hi[512] __attribute__((aligned(4096)));
static uint64_t l3[512] __attribute__((aligned(4096)));

#define W1 0x80400000u      /* contiguous window */
#define W2 0x80410000u      /* mixed window */
#define W3 0x80420000u      /* user window */
#define W4 0x80430000u      /* window around a device page */
#define P1 0x41010000u      /* W1's frames */
#define P1_ALT 0x41050000u  /* the other backing of W1's page 9 */
#define P2 0x41020000u      /* W2's frames (some of them) */
#define P3 0x41060000u      /* W3's frames */
#define P3_ALT 0x41070000u  /* the other backing of W3's page 7 */
#define P4 0x41080000u      /* W4's frames */
#define CODE 0x4103e000u    /* a frame holding code, aliased in W2 */
#define NPAGES 16

/* long-descriptor fault status codes, level 3 */
#define LFS_TRANS_L3 0x07
#define LFS_AF_L3    0x0b
#define LFS_PERM_L3  0x0f

#define L_AF_BIT (1ull << 10)

static uint32_t tag(uint32_t pa) { return pa ^ 0x5a5a0000u; }

static void tag_frame(uint32_t pa)
{
    st32(pa, tag(pa));
    st32(pa + 8, 0);
    st32(pa + PAGE - 4, ~tag(pa));
}

static void page_at(uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl)
{
    lp_page(l3, va, pa, ap, fl);
}

static void unmap_at(uint32_t va)
{
    volatile uint64_t *e = &l3[(va >> 12) & 511];
    *e = 0;
    dcache_clean_range((uint32_t)e, 8);
    dsb();
}

static void clear_af_at(uint32_t va)
{
    volatile uint64_t *e = &l3[(va >> 12) & 511];
    *e &= ~L_AF_BIT;
    dcache_clean_range((uint32_t)e, 8);
    dsb();
}

static void sync_tlbimva(uint32_t va)
{
    dsb();
    tlbimva(va);
    dsb();
    isb();
}

/* a page reads as its frame, and a store through it lands there only */
static void check_page(uint32_t va, uint32_t pa, uint32_t stamp)
{
    eq32(ld32(va), tag(pa), "first word of va 0x%x", va);
    eq32(ld32(va + PAGE - 4), ~tag(pa), "last word of va 0x%x", va);
    st32(va + 8, stamp);
    eq32(ld32(pa + 8), stamp, "store through va 0x%x", va);
}

static uint32_t u_load(uint32_t va) { return ld32(va); }
static uint32_t u_store(uint32_t va) { st32(va + 8, va); return 0; }
static uint32_t u_sum(uint32_t va)
{
    uint32_t s = 0;
    for (uint32_t i = 0; i < NPAGES; i++) {
        s = s * 31 + ld32(va + i * PAGE);
    }
    return s;
}

static void contiguous_window(void)
{
    for (uint32_t i = 0; i < NPAGES; i++) {
        tag_frame(P1 + i * PAGE);
        page_at(W1 + i * PAGE, P1 + i * PAGE, LAP_RW, 0);
    }
    tag_frame(P1_ALT);
    dsb();
    tlbiall();
    dsb();
    isb();

    begin("contiguous window: enter through page 5");
    eq32(ld32(W1 + 5 * PAGE + 0x40), 0, "page 5 offset 0x40", 0);
    end();

    /* two neighbours change before they are ever used */
    page_at(W1 + 9 * PAGE, P1_ALT, LAP_RW, 0);
    sync_tlbimva(W1 + 9 * PAGE);
    unmap_at(W1 + 10 * PAGE);
    sync_tlbimva(W1 + 10 * PAGE);

    begin("contiguous window: every page, 9 remapped, 10 unmapped");
    for (uint32_t i = 0; i < NPAGES; i++) {
        if (i == 9) {
            check_page(W1 + i * PAGE, P1_ALT, 0x100 + i);
        } else if (i != 10) {
            check_page(W1 + i * PAGE, P1 + i * PAGE, 0x100 + i);
        }
    }
    end();
    fault_arm();
    uint32_t v = ld32(W1 + 10 * PAGE + 4);
    check_dabort("contiguous window: unmapped neighbour faults", LFS_TRANS_L3, 0,
                 W1 + 10 * PAGE + 4);
    check32("contiguous window: unmapped neighbour gives no value", v, SENTINEL);

    /* back to the start, emptied by TLBIALL, entered through another page */
    page_at(W1 + 9 * PAGE, P1 + 9 * PAGE, LAP_RW, 0);
    page_at(W1 + 10 * PAGE, P1 + 10 * PAGE, LAP_RW, 0);
    dsb();
    tlbiall();
    dsb();
    isb();
    begin("contiguous window after TLBIALL: enter through page 12");
    eq32(ld32(W1 + 12 * PAGE + 8), 0x100 + 12, "page 12 stamp", 0);
    end();
    begin("contiguous window after TLBIALL: every page");
    for (uint32_t i = 0; i < NPAGES; i++) {
        check_page(W1 + i * PAGE, P1 + i * PAGE, 0x200 + i);
    }
    end();
}

/* mov r0, #n; bx lr */
static void write_code(uint32_t va, uint32_t n)
{
    st32(va, 0xe3a00000u | n);
    st32(va + 4, 0xe12fff1eu);
}

static uint32_t call_code(uint32_t pa)
{
    dcache_clean_range(pa, 8);
    code_written();
    return ((uint32_t (*)(void))pa)();
}

/* A load of W2's page @i faults with @fs; the page works once valid. */
static void faults_until_valid(const char *what, uint32_t i, uint32_t fs)
{
    uint32_t va = W2 + i * PAGE, pa = P2 + i * PAGE;

    fault_arm();
    uint32_t v = ld32(va);
    check_dabort(what, fs, 0, va);
    check32(what, v, SENTINEL);
    page_at(va, pa, LAP_RW, 0);
    dsb();
    isb();
    begin("%s, made valid", what);
    check_page(va, pa, 0x300 + i);
    end();
}

static void mixed_window(void)
{
    for (uint32_t i = 0; i < NPAGES; i++) {
        tag_frame(P2 + i * PAGE);
    }
    tag_frame(0x41030000u);
    tag_frame(0x41031000u);
    for (uint32_t i = 0; i < 4; i++) {
        page_at(W2 + i * PAGE, P2 + i * PAGE, LAP_RW, 0);
    }
    unmap_at(W2 + 4 * PAGE);                              /* invalid */
    page_at(W2 + 5 * PAGE, P2 + 5 * PAGE, LAP_RW, 0);
    clear_af_at(W2 + 5 * PAGE);                           /* access flag clear */
    page_at(W2 + 6 * PAGE, 0x41030000u, LAP_RW, 0);       /* contiguous pair */
    page_at(W2 + 7 * PAGE, 0x41031000u, LAP_RW, 0);       /* elsewhere */
    page_at(W2 + 8 * PAGE, P2 + 8 * PAGE, LAP_RO, 0);     /* read-only pair */
    page_at(W2 + 9 * PAGE, P2 + 9 * PAGE, LAP_RO, 0);
    page_at(W2 + 10 * PAGE, P2 + 11 * PAGE, LAP_RW, 0);   /* descending */
    page_at(W2 + 11 * PAGE, P2 + 10 * PAGE, LAP_RW, 0);
    page_at(W2 + 12 * PAGE, P2 + 12 * PAGE, LAP_PRW, 0);  /* kernel-only pair */
    page_at(W2 + 13 * PAGE, P2 + 13 * PAGE, LAP_PRW, 0);
    page_at(W2 + 14 * PAGE, CODE, LAP_RW, M_XN);          /* alias of code */
    page_at(W2 + 15 * PAGE, CODE + PAGE, LAP_RW, M_XN);
    dsb();
    tlbiall();
    dsb();
    isb();

    /* translated before the window is entered: their frames are clean */
    write_code(CODE, 1);
    write_code(CODE + PAGE, 11);
    check32("mixed window: code before", call_code(CODE), 1);
    check32("mixed window: code before, second frame", call_code(CODE + PAGE), 11);

    begin("mixed window: enter through page 2");
    eq32(ld32(W2 + 2 * PAGE), tag(P2 + 2 * PAGE), "page 2", 0);
    end();

    begin("mixed window: plain pages");
    for (uint32_t i = 0; i < 4; i++) {
        check_page(W2 + i * PAGE, P2 + i * PAGE, 0x300 + i);
    }
    check_page(W2 + 6 * PAGE, 0x41030000u, 0x306);
    check_page(W2 + 7 * PAGE, 0x41031000u, 0x307);
    check_page(W2 + 10 * PAGE, P2 + 11 * PAGE, 0x30a);
    check_page(W2 + 11 * PAGE, P2 + 10 * PAGE, 0x30b);
    check_page(W2 + 12 * PAGE, P2 + 12 * PAGE, 0x30c);
    check_page(W2 + 13 * PAGE, P2 + 13 * PAGE, 0x30d);
    end();

    /*
     * Entries that were invalid at the fill (no translation, access flag
     * clear) fault, then work once made valid: no TLBI is needed for an
     * entry that no TLB may have held.
     */
    faults_until_valid("mixed window: invalid neighbour", 4, LFS_TRANS_L3);
    faults_until_valid("mixed window: access flag clear", 5, LFS_AF_L3);

    /* read-only neighbours */
    for (uint32_t i = 8; i < 10; i++) {
        uint32_t va = W2 + i * PAGE;
        begin("mixed window: read-only page %u reads", i);
        eq32(ld32(va), tag(P2 + i * PAGE), "first word", 0);
        end();
        fault_arm();
        st32(va + 8, 0xdead);
        check_dabort("mixed window: store to read-only page", LFS_PERM_L3, 1, va + 8);
        check32("mixed window: read-only page unchanged", ld32(P2 + i * PAGE + 8), 0);
    }

    /* kernel-only and user neighbours, from USR mode */
    fault_arm();
    uint32_t v = run_user(u_load, W2 + 12 * PAGE);
    check_dabort("mixed window: usr load of kernel-only page", LFS_PERM_L3, 0, W2 + 12 * PAGE);
    check32("mixed window: usr load of kernel-only page gives no value", v, SENTINEL);
    fault_arm();
    begin("mixed window: usr load and store of user page");
    eq32(run_user(u_load, W2 + 1 * PAGE), tag(P2 + 1 * PAGE), "load", 0);
    run_user(u_store, W2 + 1 * PAGE);
    eq32(ld32(P2 + 1 * PAGE + 8), W2 + 1 * PAGE, "store", 0);
    eq32(fault_disarm(), 0, "aborts taken", 0);
    end();

    /* the aliases of the code frames: a store must still reach the code */
    st32(W2 + 15 * PAGE, 0xe3a00000u | 12);
    check32("mixed window: code rewritten through the neighbour", call_code(CODE + PAGE), 12);
    st32(W2 + 14 * PAGE, 0xe3a00000u | 2);
    check32("mixed window: code rewritten through the other", call_code(CODE), 2);
    st32(W2 + 15 * PAGE, 0xe3a00000u | 13);
    check32("mixed window: code rewritten again", call_code(CODE + PAGE), 13);
}

static void device_window(void)
{
    for (uint32_t i = 0; i < NPAGES; i++) {
        tag_frame(P4 + i * PAGE);
        if (i == 8) {
            page_at(W4 + i * PAGE, UART_BASE, LAP_PRW, M_DEVICE | M_XN);
        } else {
            page_at(W4 + i * PAGE, P4 + i * PAGE, LAP_RW, 0);
        }
    }
    dsb();
    tlbiall();
    dsb();
    isb();
    /* entered through the device page: the UART's identification */
    begin("device window: UART through the window");
    for (uint32_t off = 0xfe0; off < 0x1000; off += 4) {
        eq32(ld32(W4 + 8 * PAGE + off), ld32(UART_BASE + off), "UART id at 0x%x", off);
    }
    end();
    begin("device window: every other page");
    for (uint32_t i = 0; i < NPAGES; i++) {
        if (i != 8) {
            check_page(W4 + i * PAGE, P4 + i * PAGE, 0x400 + i);
        }
    }
    end();
}

static void user_window(void)
{
    uint32_t expect = 0, alt = 0;
    for (uint32_t i = 0; i < NPAGES; i++) {
        tag_frame(P3 + i * PAGE);
        page_at(W3 + i * PAGE, P3 + i * PAGE, LAP_RW, 0);
        expect = expect * 31 + tag(P3 + i * PAGE);
        alt = alt * 31 + tag(i == 7 ? P3_ALT : P3 + i * PAGE);
    }
    tag_frame(P3_ALT);
    dsb();
    tlbiall();
    dsb();
    isb();

    fault_arm();
    begin("user window: enter from usr through page 3");
    eq32(run_user(u_load, W3 + 3 * PAGE), tag(P3 + 3 * PAGE), "page 3", 0);
    end();
    page_at(W3 + 7 * PAGE, P3_ALT, LAP_RW, 0);
    sync_tlbimva(W3 + 7 * PAGE);
    begin("user window: every page from usr, page 7 remapped");
    eq32(run_user(u_sum, W3), alt, "checksum", 0);
    end();
    page_at(W3 + 7 * PAGE, P3 + 7 * PAGE, LAP_RW, 0);
    sync_tlbimva(W3 + 7 * PAGE);
    begin("user window: every page from usr, page 7 back");
    eq32(run_user(u_sum, W3), expect, "checksum", 0);
    eq32(fault_disarm(), 0, "aborts taken", 0);
    end();
}

int main(void)
{
    lp_identity(l1, l2low);
    lp_table1(l1, 0x80000000, l2hi);
    lp_table2(l2hi, 0x80400000, l3);
    mmu_on_lpae(l1, 0);

    for (int round = 0; round < 3; round++) {
        note("round %d", round);
        contiguous_window();
        mixed_window();
        device_window();
        user_window();
    }
    finish("fault_around");
}
