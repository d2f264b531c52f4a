/*
 * Shared code of the bare-metal microbenchmarks (the programs in tests/bench).
 *
 * They reuse the startup code, UART output, semihosting exit and table
 * builders of tests/baremetal/lib, and add: the program's arguments (from
 * -semihosting-config arg=...), an identity map of 1 GiB of RAM, and
 * 4 KiB-page mappings of large working sets.  Run them with -m 1G.
 */
#ifndef BENCH_H
#define BENCH_H

#include "bm.h"

#define BENCH_RAM_END 0x80000000u   /* -m 1G */
#define WS_VA 0x10000000u           /* working sets are mapped here */
#define WS_PA 0x48000000u           /* ... onto this physical memory */
#define WS_MAX (256u * MIB)

/* argv[0] is the program name; returns argc (at most max).  A last
 * argument "hold" is taken off and makes bench_done() halt instead of
 * exiting (for ci/bench --profile, which then reads the monitor). */
int bench_args(char **argv, int max);
/* "123", "64K", "256M": a number with an optional K/M suffix (x1024). */
uint32_t bench_num(const char *s);
/* argv[i] as a number, or def if absent */
uint32_t bench_arg(int argc, char **argv, int i, uint32_t def);
int bench_streq(const char *a, const char *b);

/* Short-descriptor identity map: RAM (-m 1G) as sections, PL011 and
 * virtio-mmio as device sections. */
void bench_identity(uint32_t *l1);
/* Map [va, va+len) to [pa, pa+len) with 4 KiB pages, using the 1 KiB
 * second-level tables l2[(va - WS_VA) >> 20]. */
void bench_map_pages(uint32_t *l1, uint32_t (*l2)[256], uint32_t va, uint32_t pa,
                     uint32_t len, uint32_t fl);

/* Print "<name>: <what> checksum 0x..." and exit 0 (or halt, see above). */
void bench_done(const char *name, const char *what, uint32_t sum)
    __attribute__((noreturn));

#endif
