/*
 * asid_switch: two address spaces, told apart by ASID, that map the same
 * virtual range (not global) to different physical pages; the code and the
 * rest of RAM are global.  Each round makes space A current (CONTEXTIDR to
 * the reserved ASID 0, TTBR0, CONTEXTIDR to A's ASID, as an OS does),
 * touches PAGES pages, then does the same in B.
 *
 *   asid_switch ROUNDS PAGES
 */
#include "bench.h"

#define NSPACE 2
static uint32_t l1[NSPACE][4096] __attribute__((aligned(16384)));
static uint32_t l2[NSPACE][256][256] __attribute__((aligned(1024)));
static const uint32_t asid[NSPACE] = {7, 11};

static void use(int s)
{
    set_contextidr(0);
    set_ttbr0((uint32_t)l1[s]);
    set_contextidr(asid[s]);
}

int main(void)
{
    char *argv[8];
    int argc = bench_args(argv, 8);
    uint32_t rounds = bench_arg(argc, argv, 1, 10000);
    uint32_t pages = bench_arg(argc, argv, 2, 32);
    if (pages == 0 || pages > 256) {
        pr("FAIL bad page count %u\n", pages);
        sys_exit(1);
    }
    for (int s = 0; s < NSPACE; s++) {
        bench_identity(l1[s]);
        bench_map_pages(l1[s], l2[s], WS_VA, WS_PA + (uint32_t)s * MIB, pages * PAGE, M_NG);
    }
    mmu_on_short(l1[0]);
    uint32_t sum = 0;
    for (uint32_t r = 0; r < rounds; r++) {
        for (int s = 0; s < NSPACE; s++) {
            use(s);
            for (uint32_t pg = 0; pg < pages; pg++) {
                volatile uint32_t *w = (volatile uint32_t *)(WS_VA + pg * PAGE + (r & 63) * 4);
                sum += *w + (uint32_t)s;
                *w = sum;
            }
        }
    }
    pr("asid_switch: %u rounds x %u spaces x %u pages\n", rounds, NSPACE, pages);
    bench_done("asid_switch", "spaces", sum);
}
