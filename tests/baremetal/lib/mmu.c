/*
 * Translation table builders for the short-descriptor (VMSAv7) and the
 * long-descriptor (LPAE) formats, and MMU on/off sequences.
 *
 * Every descriptor write is cleaned to the point of coherency so that the
 * table walker sees it whatever the walk cacheability; callers still need
 * the TLB maintenance the architecture asks for.
 */
#include "bm.h"

static void sync_desc(volatile void *p, uint32_t len)
{
    dcache_clean_range((uint32_t)p, len);
}

/* ------------------------------------------------ short-descriptor format */

/* first-level section / supersection bits */
#define S_SECTION    0x2u
#define S_B          (1u << 2)
#define S_C          (1u << 3)
#define S_XN         (1u << 4)
#define S_AP10(ap)   (((ap) & 3u) << 10)
#define S_TEX(t)     ((uint32_t)(t) << 12)
#define S_AP2(ap)    ((((ap) >> 2) & 1u) << 15)
#define S_S          (1u << 16)
#define S_NG         (1u << 17)
#define S_SUPER      (1u << 18)
/* second-level small (4 KiB) / large (64 KiB) page bits */
#define P_SMALL      0x2u
#define P_LARGE      0x1u
#define P_XN_SMALL   (1u << 0)
#define P_B          (1u << 2)
#define P_C          (1u << 3)
#define P_AP10(ap)   (((ap) & 3u) << 4)
#define P_TEX_SMALL(t) ((uint32_t)(t) << 6)
#define P_AP2(ap)    ((((ap) >> 2) & 1u) << 9)
#define P_S          (1u << 10)
#define P_NG         (1u << 11)
#define P_TEX_LARGE(t) ((uint32_t)(t) << 12)
#define P_XN_LARGE   (1u << 15)

/* normal memory: TEX=001 C=1 B=1 (write-back write-allocate), shareable;
 * device: TEX=000 C=0 B=1 (shareable device) */
static uint32_t section_bits(uint32_t ap, uint32_t fl)
{
    uint32_t d = S_SECTION | S_AP10(ap) | S_AP2(ap);
    d |= (fl & M_DEVICE) ? S_B : (S_TEX(1) | S_C | S_B | S_S);
    if (fl & M_XN) {
        d |= S_XN;
    }
    if (fl & M_NG) {
        d |= S_NG;
    }
    return d;
}

void sd_section(uint32_t *l1, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl)
{
    uint32_t dom = (fl >> 8) & 0xf;
    volatile uint32_t *e = &l1[va >> 20];
    *e = (pa & 0xfff00000u) | section_bits(ap, fl) | (dom << 5);
    sync_desc(e, 4);
}

/* A supersection maps 16 MiB and is repeated in 16 consecutive entries;
 * it always belongs to domain 0. */
void sd_supersection(uint32_t *l1, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl)
{
    volatile uint32_t *e = &l1[(va >> 20) & ~15u];
    uint32_t d = (pa & 0xff000000u) | section_bits(ap, fl) | S_SUPER;
    for (int i = 0; i < 16; i++) {
        e[i] = d;
    }
    sync_desc(e, 64);
}

void sd_table(uint32_t *l1, uint32_t va, uint32_t *l2, uint32_t fl)
{
    uint32_t dom = (fl >> 8) & 0xf;
    volatile uint32_t *e = &l1[va >> 20];
    *e = ((uint32_t)l2 & 0xfffffc00u) | (dom << 5) | 0x1u;
    sync_desc(e, 4);
}

void sd_unmap(uint32_t *l1, uint32_t va)
{
    volatile uint32_t *e = &l1[va >> 20];
    *e = 0;
    sync_desc(e, 4);
}

void sd_page(uint32_t *l2, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl)
{
    uint32_t d = (pa & 0xfffff000u) | P_SMALL | P_AP10(ap) | P_AP2(ap);
    d |= (fl & M_DEVICE) ? P_B : (P_TEX_SMALL(1) | P_C | P_B | P_S);
    if (fl & M_XN) {
        d |= P_XN_SMALL;
    }
    if (fl & M_NG) {
        d |= P_NG;
    }
    volatile uint32_t *e = &l2[(va >> 12) & 0xff];
    *e = d;
    sync_desc(e, 4);
}

/* A large page maps 64 KiB and is repeated in 16 consecutive entries. */
void sd_large(uint32_t *l2, uint32_t va, uint32_t pa, uint32_t ap, uint32_t fl)
{
    uint32_t d = (pa & 0xffff0000u) | P_LARGE | P_AP10(ap) | P_AP2(ap);
    d |= (fl & M_DEVICE) ? P_B : (P_TEX_LARGE(1) | P_C | P_B | P_S);
    if (fl & M_XN) {
        d |= P_XN_LARGE;
    }
    if (fl & M_NG) {
        d |= P_NG;
    }
    volatile uint32_t *e = &l2[(va >> 12) & 0xf0];
    for (int i = 0; i < 16; i++) {
        e[i] = d;
    }
    sync_desc(e, 64);
}

void sd_identity(uint32_t *l1)
{
    for (uint32_t a = RAM_BASE; a < RAM_END; a += MIB) {
        sd_section(l1, a, a, AP_RW, 0);
    }
    sd_section(l1, UART_BASE, UART_BASE, AP_PRW, M_DEVICE | M_XN);
    sd_section(l1, VIRTIO_BASE, VIRTIO_BASE, AP_PRW, M_DEVICE | M_XN);
}

void mmu_on_short(uint32_t *l1)
{
    set_ttbcr(0);                 /* EAE = 0, N = 0: TTBR0 covers 4 GiB */
    set_ttbr0((uint32_t)l1);
    set_dacr(0x55555555);         /* every domain: client */
    set_contextidr(0);            /* ASID 0 */
    tlbiall();
    iciallu();
    bpiall();
    dsb();
    isb();
    set_sctlr(get_sctlr() | SCTLR_M | SCTLR_C | SCTLR_I | SCTLR_Z);
}

/* ------------------------------------------------- long-descriptor format */

#define L_BLOCK      0x1ull
#define L_TABLE      0x3ull      /* also a level-3 page */
#define L_ATTR(i)    ((uint64_t)(i) << 2)
#define L_AP(ap)     ((uint64_t)(ap) << 6)
#define L_SH_INNER   (3ull << 8)
#define L_AF         (1ull << 10)
#define L_NG         (1ull << 11)
#define L_PXN        (1ull << 53)
#define L_XN         (1ull << 54)

/* MAIR0: attr0 normal write-back RW-allocate, attr1 device (nGnRE) */
#define MAIR0_VALUE  0x000004ffu
#define ATTR_NORMAL  0
#define ATTR_DEVICE  1

static uint64_t lp_bits(uint32_t ap, uint32_t fl)
{
    uint64_t d = L_AF | L_AP(ap);
    d |= (fl & M_DEVICE) ? L_ATTR(ATTR_DEVICE) : (L_ATTR(ATTR_NORMAL) | L_SH_INNER);
    if (fl & M_XN) {
        d |= L_XN | L_PXN;
    }
    if (fl & M_NG) {
        d |= L_NG;
    }
    return d;
}

static void lp_set(uint64_t *t, unsigned idx, uint64_t d)
{
    volatile uint64_t *e = &t[idx];
    *e = d;
    sync_desc(e, 8);
}

void lp_block1g(uint64_t *l1, uint32_t va, uint64_t pa, uint32_t ap, uint32_t fl)
{
    lp_set(l1, va >> 30, (pa & 0xffc0000000ull) | lp_bits(ap, fl) | L_BLOCK);
}

void lp_block2m(uint64_t *l2, uint32_t va, uint64_t pa, uint32_t ap, uint32_t fl)
{
    lp_set(l2, (va >> 21) & 511, (pa & 0xffffe00000ull) | lp_bits(ap, fl) | L_BLOCK);
}

void lp_page(uint64_t *l3, uint32_t va, uint64_t pa, uint32_t ap, uint32_t fl)
{
    lp_set(l3, (va >> 12) & 511, (pa & 0xfffffff000ull) | lp_bits(ap, fl) | L_TABLE);
}

void lp_table1(uint64_t *l1, uint32_t va, uint64_t *l2)
{
    lp_set(l1, va >> 30, (uint32_t)l2 | L_TABLE);
}

void lp_table2(uint64_t *l2, uint32_t va, uint64_t *l3)
{
    lp_set(l2, (va >> 21) & 511, (uint32_t)l3 | L_TABLE);
}

void lp_identity(uint64_t *l1, uint64_t *l2low)
{
    lp_table1(l1, 0, l2low);
    lp_block2m(l2low, UART_BASE, UART_BASE, LAP_PRW, M_DEVICE | M_XN);
    lp_block2m(l2low, VIRTIO_BASE, VIRTIO_BASE, LAP_PRW, M_DEVICE | M_XN);
    lp_block1g(l1, RAM_BASE, RAM_BASE, LAP_RW, 0);
}

void mmu_on_lpae(uint64_t *l1, uint32_t asid)
{
    /* EAE, T0SZ = 0 (TTBR0 covers 4 GiB), EPD1 (no TTBR1 walks), A1 = 0
     * (ASID from TTBR0), walks inner/outer write-back, inner shareable */
    set_ttbcr((1u << 31) | (1u << 23) | (3u << 12) | (1u << 10) | (1u << 8));
    set_mair0(MAIR0_VALUE);
    set_mair1(0);
    set_ttbr0_64((uint32_t)l1 | ((uint64_t)asid << 48));
    set_dacr(0x55555555);         /* ignored by LPAE, harmless */
    tlbiall();
    iciallu();
    bpiall();
    dsb();
    isb();
    set_sctlr(get_sctlr() | SCTLR_M | SCTLR_C | SCTLR_I | SCTLR_Z);
}

void mmu_off(void)
{
    set_sctlr(get_sctlr() & ~SCTLR_C);
    dcache_clean_inval_all();
    set_sctlr(get_sctlr() & ~(SCTLR_M | SCTLR_I));
    tlbiall();
    iciallu();
    bpiall();
    dsb();
    isb();
}
