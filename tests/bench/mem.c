/*
 * mem: loads and stores over a working set mapped with 4 KiB pages.
 *
 *   mem seq|rand SIZE MACCESSES
 *
 * seq: passes over the working set, each word loaded and stored back
 * (a read-modify-write stream), until MACCESSES million words are done.
 * rand: MACCESSES million read-modify-writes of words at pseudo-random
 * places in the working set.  SIZE is a power of two, 64K to 256M.
 */
#include "bench.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l2[256][256] __attribute__((aligned(1024)));

static uint32_t seq(volatile uint32_t *p, uint32_t words, uint64_t total)
{
    uint32_t s = 0;
    for (uint64_t done = 0; done < total; done += words) {
        for (uint32_t i = 0; i < words; i += 4) {
            s += p[i];
            p[i] = s;
            s ^= p[i + 1];
            p[i + 1] = s + i;
            s += p[i + 2];
            p[i + 2] = s;
            s ^= p[i + 3];
            p[i + 3] = s - i;
        }
    }
    return s;
}

static uint32_t rnd_rmw(volatile uint32_t *p, uint32_t words, uint64_t total)
{
    uint32_t s = 0, x = 2463534242u, mask = words - 1;
    for (uint64_t n = 0; n < total; n += 2) {
        x = x * 1664525u + 1013904223u;
        uint32_t a = (x >> 7) & mask;
        uint32_t b = (x >> 3) & mask;
        s += p[a];
        p[a] = s ^ x;
        s ^= p[b];
        p[b] = s + (uint32_t)n;
    }
    return s;
}

int main(void)
{
    char *argv[8];
    int argc = bench_args(argv, 8);
    int random = argc > 1 && bench_streq(argv[1], "rand");
    uint32_t size = bench_arg(argc, argv, 2, 64u << 10);
    uint32_t mega = bench_arg(argc, argv, 3, 8);
    uint64_t total = (uint64_t)mega * 1000000u;
    if (size < 4096 || size > WS_MAX || (size & (size - 1))) {
        pr("FAIL bad size %u\n", size);
        sys_exit(1);
    }
    bench_identity(l1);
    bench_map_pages(l1, l2, WS_VA, WS_PA, size, 0);
    mmu_on_short(l1);
    volatile uint32_t *p = (volatile uint32_t *)WS_VA;
    uint32_t s = random ? rnd_rmw(p, size / 4, total) : seq(p, size / 4, total);
    pr("mem: %s over %u KiB, %u M accesses\n", random ? "random" : "sequential",
       size >> 10, mega);
    bench_done("mem", random ? "rand" : "seq", s);
}
