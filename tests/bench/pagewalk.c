/*
 * pagewalk: one read-modify-write per 4 KiB page, over many pages, in a
 * scrambled page order, so that nearly every access needs a translation
 * that the last few accesses did not use.
 *
 *   pagewalk PAGES PASSES        (PAGES a power of two, at most 65536)
 */
#include "bench.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l2[256][256] __attribute__((aligned(1024)));

int main(void)
{
    char *argv[8];
    int argc = bench_args(argv, 8);
    uint32_t pages = bench_arg(argc, argv, 1, 16384);
    uint32_t passes = bench_arg(argc, argv, 2, 10);
    if (pages == 0 || pages > WS_MAX / PAGE || (pages & (pages - 1))) {
        pr("FAIL bad page count %u\n", pages);
        sys_exit(1);
    }
    bench_identity(l1);
    bench_map_pages(l1, l2, WS_VA, WS_PA, pages * PAGE, 0);
    mmu_on_short(l1);
    uint32_t s = 0, mask = pages - 1;
    for (uint32_t pass = 0; pass < passes; pass++) {
        uint32_t mul = 40503u + 2u * pass;   /* odd: a permutation of the pages */
        for (uint32_t i = 0; i < pages; i++) {
            uint32_t pg = (i * mul + pass) & mask;
            volatile uint32_t *w =
                (volatile uint32_t *)(WS_VA + pg * PAGE + ((pg * 68u) & (PAGE - 4)));
            s += *w;
            *w = s ^ i;
        }
    }
    pr("pagewalk: %u pages x %u passes\n", pages, passes);
    bench_done("pagewalk", "pages", s);
}
