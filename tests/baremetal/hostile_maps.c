/*
 * hostile_maps: a guest that tries to make the host spend memory that
 * grows with its address spaces, not with its RAM.
 *
 * Long descriptors.  Under each of 12 ASIDs (one 64-bit TTBR0 write each)
 * the whole 4 GiB virtual address space maps guest RAM (SCRATCH and above,
 * 240 MiB) over and over with not-global entries: three 2 MiB chunks in
 * four are 2 MiB blocks, the fourth points to one of four level-3 tables
 * of 4 KiB pages shared by all ASIDs.  Only the image's own mappings stay
 * as they are (global): RAM identity-mapped as 2 MiB blocks, the UART and
 * virtio-mmio as device blocks.  The program then loads and stores one
 * word in every 2 MiB chunk under every ASID: ESPT mirrors each of them
 * in the slot of that ASID and mmu index, so every touch costs the host
 * a page table (2 MiB of a slot's 4 GiB), 12 x 2048 of them per mmu
 * index if nothing bounded them (96 MiB).  Passes 0 and 2 use LDR/STR,
 * passes 1 and 3 LDRT/STRT (the user mmu index: another slot per ASID,
 * 192 MiB of host page tables in all; the VMA budget alone stops them
 * at about 120 MiB).  Each pass touches the same 64 KiB window of a
 * chunk (another page of it in a block), so that a shadow that kept
 * everything would need no more fills after pass 1, and one bounded by
 * the host memory it may use refills all the time.  Pass 4 touches
 * every 64 KiB of the blocks in 1 GiB of every ASID: each fill there
 * mirrors 16 pages, which the host merges into one mapping per block,
 * so what grows is the book-keeping per page (2.4 million pages).
 *
 * The espt=off run takes about a second; with the shadow from the first
 * access (ESPT_GOVERNOR=off) about 300000 fills, 8-17 s on a busy
 * 2-core VM.
 *
 * Every load through the hostile mapping is compared with the same word
 * read through the identity map of the physical address the tables give,
 * and so is every store.  The last line before PASS is a checksum of all
 * the values loaded, which depends on the order of every store through
 * every alias: espt=off and espt=on must print the same.
 */
#include "bm.h"

#define NASID   12
#define SPARSE_PASSES 4
#define CHUNK   0x200000u                      /* 2 MiB */
#define NCHUNK  2048u                          /* 4 GiB / 2 MiB */
#define NBLK    ((RAM_END - SCRATCH) / CHUNK)  /* 120 blocks of RAM to alias */
#define NL3     4                              /* shared level-3 tables */

static uint64_t l1[NASID][4] __attribute__((aligned(32)));
static uint64_t l2[NASID][4][512] __attribute__((aligned(4096)));
static uint64_t l3[NL3][512] __attribute__((aligned(4096)));

static uint32_t asid_of(uint32_t a) { return 3 + 19 * a; }   /* 3 .. 212 */

/* chunks that keep the image's own mappings */
static int reserved(uint32_t c)
{
    return c == (UART_BASE >> 21) || c == (VIRTIO_BASE >> 21) ||
           (c >= (RAM_BASE >> 21) && c < (RAM_END >> 21));
}

static int uses_l3(uint32_t c) { return (c & 3) == 3; }
static uint32_t l3_of(uint32_t a, uint32_t c) { return ((c >> 2) + a) % NL3; }
static uint32_t block_pa(uint32_t a, uint32_t c)
{
    return SCRATCH + ((c * 37 + a * 11) % NBLK) * CHUNK;
}
/* level-3 table t maps its 512 pages, shuffled, onto one block of RAM */
static uint32_t l3_page_pa(uint32_t t, uint32_t page)
{
    return SCRATCH + (NBLK - 1 - t) * CHUNK + ((page * 97 + t * 31) & 511) * PAGE;
}

/* the physical address of va under ASID index a, from the tables' layout */
static uint32_t pa_of(uint32_t a, uint32_t va)
{
    uint32_t c = va >> 21;
    if (uses_l3(c)) {
        return l3_page_pa(l3_of(a, c), (va >> 12) & 511) + (va & (PAGE - 1));
    }
    return block_pa(a, c) + (va & (CHUNK - 1));
}

static void build_tables(void)
{
    for (uint32_t t = 0; t < NL3; t++) {
        for (uint32_t p = 0; p < 512; p++) {
            lp_page(l3[t], p * PAGE, l3_page_pa(t, p), LAP_RW, M_NG | M_XN);
        }
    }
    for (uint32_t a = 0; a < NASID; a++) {
        for (uint32_t i = 0; i < 4; i++) {
            lp_table1(l1[a], i << 30, l2[a][i]);
        }
        for (uint32_t c = 0; c < NCHUNK; c++) {
            uint64_t *t2 = l2[a][c >> 9];
            uint32_t va = c << 21;
            if (reserved(c)) {
                if (va == UART_BASE || va == VIRTIO_BASE) {
                    lp_block2m(t2, va, va, LAP_PRW, M_DEVICE | M_XN);
                } else {
                    lp_block2m(t2, va, va, LAP_RW, 0);   /* RAM identity */
                }
            } else if (uses_l3(c)) {
                lp_table2(t2, va, l3[l3_of(a, c)]);
            } else {
                lp_block2m(t2, va, block_pa(a, c), LAP_RW, M_NG | M_XN);
            }
        }
    }
}

static void use(uint32_t a)
{
    set_ttbr0_64((uint32_t)l1[a] | ((uint64_t)asid_of(a) << 48));
}

static uint32_t checksum, loads;

/* Load and store one word at va under ASID index a, and check both
 * against the identity map of the physical address the tables give. */
static void touch(uint32_t a, uint32_t va, int user, uint32_t tag)
{
    uint32_t pa = pa_of(a, va);
    uint32_t v = user ? ldt32(va) : ld32(va);
    eq32(v, ld32(pa), "load at va 0x%x", va);
    checksum = (checksum ^ v) * 0x01000193u;
    loads++;
    uint32_t nv = v * 0x9e3779b1u + tag;
    if (user) {
        stt32(va, nv);
    } else {
        st32(va, nv);
    }
    eq32(ld32(pa), nv, "store at va 0x%x", va);
}

/* One word in every 2 MiB chunk of the 4 GiB, under each ASID in turn. */
static void sparse_pass(uint32_t p)
{
    int user = p & 1;
    begin("pass %u: one word per 2 MiB of 4 GiB under 12 ASIDs, %s", p,
          user ? "ldrt/strt" : "ldr/str");
    for (uint32_t a = 0; a < NASID; a++) {
        use(a);
        for (uint32_t c = 0; c < NCHUNK; c++) {
            if (reserved(c)) {
                continue;
            }
            /* One 64 KiB window per chunk and ASID, the same every pass,
             * so that a shadow that kept everything would need one host
             * mapping per chunk and slot.  A block's window is mirrored
             * whole (a run fill), so each pass takes another page of it;
             * a 4 KiB page is mirrored alone, so it keeps its page. */
            uint32_t win = (c * 13 + a * 29) & 31;
            uint32_t page = win * 16 + (uses_l3(c) ? 0 : (c + p * 5) & 15);
            touch(a, c << 21 | page << 12 | ((c + a + p) & 1023) << 2, user,
                  a << 24 | c << 8 | p);
        }
    }
    end();
}

/* One word in every 64 KiB of the 2 MiB blocks in [DENSE_LO, DENSE_HI),
 * under each ASID in turn: every page of those blocks gets mirrored (in
 * runs that the host merges into one mapping per block), which costs
 * book-keeping per page rather than page tables. */
#define DENSE_LO 0x80000000u
#define DENSE_HI 0xc0000000u

static void dense_pass(uint32_t p)
{
    begin("pass %u: one word per 64 KiB of the blocks in 0x%x-0x%x under 12 ASIDs", p,
          DENSE_LO, DENSE_HI - 1);
    for (uint32_t a = 0; a < NASID; a++) {
        use(a);
        for (uint32_t va = DENSE_LO; va < DENSE_HI; va += 0x10000) {
            uint32_t c = va >> 21;
            if (uses_l3(c)) {
                continue;
            }
            uint32_t page = (va >> 12) + ((c + a) & 15);
            touch(a, page << 12 | ((va >> 16) & 1023) << 2, 0, a << 24 | (va >> 16) << 4 | p);
        }
    }
    end();
}

int main(void)
{
    build_tables();
    mmu_on_lpae(l1[0], asid_of(0));
    for (uint32_t p = 0; p < SPARSE_PASSES; p++) {
        sparse_pass(p);
    }
    dense_pass(SPARSE_PASSES);
    use(0);
    pr("checksum 0x%08x of %u loads\n", checksum, loads);
    finish("hostile_maps");
}
