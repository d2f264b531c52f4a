/*
 * mmio_loop: reads of the PL011 flag register (UARTFR) with the MMU on,
 * each one a device access that must leave translated code for QEMU's
 * device emulation, mixed with a few RAM accesses.
 *
 *   mmio_loop MREADS       (millions of UARTFR reads)
 */
#include "bench.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t ram[1024];

int main(void)
{
    char *argv[8];
    int argc = bench_args(argv, 8);
    uint32_t n = bench_arg(argc, argv, 1, 1) * 1000000u;
    bench_identity(l1);
    mmu_on_short(l1);
    volatile uint32_t *fr = (volatile uint32_t *)(UART_BASE + 0x18);
    volatile uint32_t *r = ram;
    uint32_t s = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = *fr;
        s = s * 31u + (v & 0xf8u);
        r[i & 1023] += s;
    }
    for (uint32_t i = 0; i < 1024; i++) {
        s += r[i];
    }
    pr("mmio_loop: %u UARTFR reads\n", n);
    bench_done("mmio_loop", "uartfr", s);
}
