/*
 * kmap: one kernel page mapped to frame after frame, the way 32-bit Linux
 * reaches highmem (kmap_local: a fixmap PTE written and invalidated with
 * TLBIMVA to map a page, cleared and invalidated again to unmap it).
 *
 * The page is global and kernel-only, and the loop runs in two address
 * spaces (ASIDs 1 and 2, switched every few rounds), so ESPT mirrors it in
 * the kernel slot of each and every invalidation reaches both.  Frames
 * come in pairs, so that a page is often mapped to the frame it had just
 * before (ESPT then gives the revoked mapping its rights back) and
 * otherwise to another one (it maps over the revoked page).  Every round
 * reads the frame's tag and stores a stamp through the page; every few
 * rounds a load of the unmapped page must fault.  At the end each frame
 * must hold the stamp of the last round that mapped it.  Then the page
 * keeps its frame and changes rights instead, each change invalidated by
 * address: read-only (stores fault), read/write again, access flag clear
 * (loads fault).
 */
#include "bm.h"

static uint64_t l1a[512] __attribute__((aligned(4096)));
static uint64_t l1b[512] __attribute__((aligned(4096)));
static uint64_t l2low[512] __attribute__((aligned(4096)));
static uint64_t l2hi[512] __attribute__((aligned(4096)));
static uint64_t l3[512] __attribute__((aligned(4096)));

#define FIXMAP 0xbfe0f000u  /* the page that moves */
#define FRAMES 0x41100000u  /* NFRAMES frames from here */
#define NFRAMES 6
#define ROUNDS 600

#define LFS_TRANS_L3 0x07
#define LFS_AF_L3    0x0b
#define LFS_PERM_L3  0x0f

static uint32_t tag(uint32_t pa) { return pa ^ 0x3c3c0000u; }

static volatile uint64_t *fixmap_pte(void)
{
    return &l3[(FIXMAP >> 12) & 511];
}

/* The page's descriptor changed: make the walker see it, invalidate it. */
static void fixmap_changed(void)
{
    dcache_clean_range((uint32_t)fixmap_pte(), 8);
    dsb();
    tlbimvaa(FIXMAP);
    dsb();
    isb();
}

static void set_fixmap(uint32_t pa)
{
    if (pa) {
        lp_page(l3, FIXMAP, pa, LAP_PRW, 0);
    } else {
        *fixmap_pte() = 0;
    }
    fixmap_changed();
}

static void space(uint64_t *l1, uint32_t asid)
{
    set_ttbr0_64((uint32_t)l1 | ((uint64_t)asid << 48));
    isb();
}

int main(void)
{
    /* two spaces with the same tables: the identity map and a kernel
     * table at 0xbfe00000 holding the fixmap page, a global mapping */
    lp_identity(l1a, l2low);
    lp_identity(l1b, l2low);
    lp_table1(l1a, 0x80000000, l2hi);
    lp_table1(l1b, 0x80000000, l2hi);
    lp_table2(l2hi, 0xbfe00000, l3);
    for (uint32_t i = 0; i < NFRAMES; i++) {
        uint32_t pa = FRAMES + i * PAGE;
        st32(pa, tag(pa));
        st32(pa + 4, 0);
    }
    mmu_on_lpae(l1a, 1);

    uint32_t last[NFRAMES] = {0};
    uint32_t asid = 1;
    begin("kmap: %u rounds over %u frames in two address spaces", ROUNDS, NFRAMES);
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        uint32_t f = (r / 2 + r / 7) % NFRAMES;
        uint32_t pa = FRAMES + f * PAGE;
        if (r % 5 == 0) {
            asid = 3 - asid;
            space(asid == 1 ? l1a : l1b, asid);
        }
        set_fixmap(pa);
        eq32(ld32(FIXMAP), tag(pa), "tag through the page, round %u", r);
        eq32(ld32(FIXMAP + 4), last[f], "last stamp of the frame, round %u", r);
        st32(FIXMAP + 4, r);
        last[f] = r;
        set_fixmap(0);
        if (r % 8 == 0) {
            fault_arm();
            uint32_t v = ld32(FIXMAP);
            eq32(fault_disarm(), 1, "unmapped page faults, round %u", r);
            eq32(fsr_status(flt.fsr), LFS_TRANS_L3, "fault status, round %u", r);
            eq32(v, SENTINEL, "no value from the unmapped page, round %u", r);
        }
    }
    end();
    begin("kmap: every frame holds its last stamp");
    for (uint32_t i = 0; i < NFRAMES; i++) {
        eq32(ld32(FRAMES + i * PAGE + 4), last[i], "frame %u", i);
    }
    end();

    /*
     * The same frame with other rights or attributes, each change
     * invalidated by address: read-only (a store must fault), read/write
     * again, and access flag clear (a load must fault).
     */
    uint32_t pa = FRAMES;
    set_fixmap(pa);
    begin("rights: %u rounds of read/write, read-only, access flag clear", 60);
    for (uint32_t r = 1; r <= 60; r++) {
        st32(FIXMAP + 8, r);
        eq32(ld32(pa + 8), r, "store through the page, round %u", r);
        lp_page(l3, FIXMAP, pa, LAP_PRO, 0);
        fixmap_changed();
        eq32(ld32(FIXMAP + 8), r, "load from the read-only page, round %u", r);
        fault_arm();
        st32(FIXMAP + 8, 0xdead);
        eq32(fault_disarm(), 1, "store to the read-only page faults, round %u", r);
        eq32(fsr_status(flt.fsr), LFS_PERM_L3, "fault status, round %u", r);
        eq32(ld32(pa + 8), r, "read-only page unchanged, round %u", r);
        if (r % 3 == 0) {
            *fixmap_pte() &= ~(1ull << 10);
            fixmap_changed();
            fault_arm();
            uint32_t v = ld32(FIXMAP + 8);
            eq32(fault_disarm(), 1, "access flag fault, round %u", r);
            eq32(fsr_status(flt.fsr), LFS_AF_L3, "fault status, round %u", r);
            eq32(v, SENTINEL, "no value with the access flag clear, round %u", r);
        }
        set_fixmap(pa);
    }
    end();
    finish("kmap");
}
