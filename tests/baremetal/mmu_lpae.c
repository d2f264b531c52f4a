/*
 * mmu_lpae: long-descriptor translation (TTBCR.EAE = 1, 64-bit TTBR0).
 *
 * One physical page (PA 0x41000000) is reachable through a 1 GiB block, a
 * 2 MiB block and a 4 KiB page of a third-level table as well as the
 * identity map (itself a 1 GiB block).  Every access size goes in through
 * one alias and comes out through the others; then accesses cross page
 * boundaries between blocks and pages with discontiguous physical pages.
 */
#include "alias.h"

static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l2low[512] __attribute__((aligned(4096)));
static uint64_t l2hi[512] __attribute__((aligned(4096)));
static uint64_t l3[512] __attribute__((aligned(4096)));

#define PA 0x41000000u

int main(void)
{
    lp_identity(l1, l2low);                               /* 0x40000000: 1 GiB */
    lp_block1g(l1, 0xc0000000, RAM_BASE, LAP_RW, 0);      /* 1 GiB alias of RAM */
    lp_table1(l1, 0x80000000, l2hi);
    lp_block2m(l2hi, 0x80000000, PA, LAP_RW, 0);
    lp_block2m(l2hi, 0x80200000, 0x42400000, LAP_RW, 0);
    lp_table2(l2hi, 0x80400000, l3);                      /* 0x80400000: pages */
    lp_page(l3, 0x80400000, PA, LAP_RW, 0);
    lp_page(l3, 0x80401000, 0x41005000, LAP_RW, 0);
    lp_page(l3, 0x805ff000, 0x41003000, LAP_RW, 0);
    lp_block2m(l2hi, 0x80600000, 0x42600000, LAP_RW, 0);
    lp_block2m(l2hi, 0xbfe00000, 0x42800000, LAP_RW, 0);  /* just below 0xc0000000 */
    mmu_on_lpae(l1, 0);
    fpu_enable();

    check32("mmu on, long descriptors, SCTLR.A=0",
            get_sctlr() & (SCTLR_M | SCTLR_A), SCTLR_M);
    check32("TTBCR.EAE", MRC(0, c2, c0, 2) >> 31, 1);

    static const struct alias al[] = {
        {"identity", PA},
        {"block1g", 0xc0000000 + (PA - RAM_BASE)},
        {"block2m", 0x80000000},
        {"page", 0x80400000},
    };
    alias_suite(al, sizeof(al) / sizeof(al[0]));

    cross_suite("page->page", 0x80401000, PA, 0x41005000);
    cross_suite("block2m->block2m", 0x80200000, PA + 0x1ff000, 0x42400000);
    cross_suite("block2m->page", 0x80400000, 0x425ff000, PA);
    cross_suite("page->block2m", 0x80600000, 0x41003000, 0x42600000);
    cross_suite("block2m->block1g", 0xc0000000, 0x429ff000, LOWPAGE);

    finish("mmu_lpae");
}
