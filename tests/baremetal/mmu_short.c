/*
 * mmu_short: short-descriptor translation (TTBCR.EAE = 0).
 *
 * One physical page (PA 0x41000000) is reachable through a 16 MiB
 * supersection, a 1 MiB section, a 4 KiB small page and a 64 KiB large
 * page as well as the identity map.  Every access size is written through
 * one alias and read back through the others; then unaligned accesses cross
 * page boundaries between mappings of every kind whose physical pages are
 * not adjacent.
 */
#include "alias.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l2[256] __attribute__((aligned(1024)));

#define PA 0x41000000u

int main(void)
{
    sd_identity(l1);
    sd_supersection(l1, 0x80000000, PA, AP_RW, 0);      /* 0x80000000-0x80ffffff */
    sd_section(l1, 0x81000000, 0x42400000, AP_RW, 0);   /* right after it */
    sd_section(l1, 0x90000000, PA, AP_RW, 0);
    sd_section(l1, 0x90100000, 0x42300000, AP_RW, 0);
    sd_table(l1, 0xa0000000, l2, M_DOM(0));
    sd_page(l2, 0xa0000000, PA, AP_RW, 0);
    sd_page(l2, 0xa0001000, 0x41005000, AP_RW, 0);
    sd_large(l2, 0xa0010000, PA, AP_RW, 0);             /* 0xa0010000-0xa001ffff */
    sd_page(l2, 0xa0020000, 0x41007000, AP_RW, 0);
    mmu_on_short(l1);
    fpu_enable();

    check32("mmu on, short descriptors, SCTLR.A=0",
            get_sctlr() & (SCTLR_M | SCTLR_A), SCTLR_M);

    static const struct alias al[] = {
        {"identity", PA},
        {"supersection", 0x80000000},
        {"section", 0x90000000},
        {"small", 0xa0000000},
        {"large", 0xa0010000},
    };
    alias_suite(al, sizeof(al) / sizeof(al[0]));

    cross_suite("small->small", 0xa0001000, PA, 0x41005000);
    cross_suite("large->small", 0xa0020000, PA + 0xf000, 0x41007000);
    cross_suite("section->section", 0x90100000, PA + 0xff000, 0x42300000);
    cross_suite("supersection->section", 0x81000000, PA + 0xfff000, 0x42400000);

    finish("mmu_short");
}
