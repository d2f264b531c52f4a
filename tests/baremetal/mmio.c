/*
 * mmio: device registers through the MMU.
 *
 * With the MMU on and the devices mapped as Device memory (identity and an
 * alias), read the PL011's identification registers and flags and the
 * identification registers of all 32 virtio-mmio transports many times,
 * with single loads, LDRD and LDM; write the UART through the alias.
 * -nic none leaves every transport without a device: DeviceID reads 0.
 */
#include "bm.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint64_t lp1[512] __attribute__((aligned(4096)));
static uint64_t lp2low[512] __attribute__((aligned(4096)));
static uint64_t lp2hi[512] __attribute__((aligned(4096)));

#define UART_ALT   0xb9000000u /* alias of the PL011 */
#define VIRTIO_ALT 0xba000000u /* alias of the virtio-mmio transports */
#define LP_UART_ALT   0x89000000u
#define LP_VIRTIO_ALT 0x8a000000u

/* PL011 PeriphID0-3 and PCellID0-3 (offsets 0xfe0-0xffc) */
static const uint8_t pl011_id[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
#define UARTFR        0x18
#define FR_TXFE       0x80
#define FR_TXFF       0x20
#define FR_BUSY       0x08

#define VIRTIO_MAGIC  0x74726976u /* "virt" */
#define VIRTIO_VENDOR 0x554d4551u /* "QEMU" */
#define NTRANSPORTS   32

static void uart_checks(const char *fmt, uint32_t base, uint32_t rounds)
{
    begin("%s: PL011 id registers and flags x%u", fmt, rounds);
    for (uint32_t r = 0; r < rounds; r++) {
        for (uint32_t i = 0; i < 8; i++) {
            eq32(ld32(base + 0xfe0 + 4 * i), pl011_id[i], "id register 0x%x", 0xfe0 + 4 * i);
        }
        /* transmitter idle: TXFE set, TXFF and BUSY clear (RX state is the host's) */
        eq32(ld32(base + UARTFR) & (FR_TXFE | FR_TXFF | FR_BUSY), FR_TXFE, "UARTFR round %u",
             r);
    }
    end();
}

static void virtio_checks(const char *fmt, uint32_t base, uint32_t rounds)
{
    begin("%s: virtio-mmio magic/version/device/vendor x%u", fmt, rounds);
    for (uint32_t r = 0; r < rounds; r++) {
        for (uint32_t t = 0; t < NTRANSPORTS; t++) {
            uint32_t b = base + 0x200 * t;
            eq32(ld32(b + 0x0), VIRTIO_MAGIC, "magic, transport %u", t);
            eq32(ld32(b + 0x4), 1, "version (legacy), transport %u", t);
            eq32(ld32(b + 0x8), 0, "device id, transport %u", t);
            eq32(ld32(b + 0xc), VIRTIO_VENDOR, "vendor id, transport %u", t);
        }
    }
    end();
}

static void multi_checks(const char *fmt, uint32_t vbase, uint32_t ubase)
{
    begin("%s: LDRD and LDM of device registers", fmt);
    for (uint32_t t = 0; t < NTRANSPORTS; t++) {
        uint32_t b = vbase + 0x200 * t, out[8];
        eq64(ld64(b), ((uint64_t)1 << 32) | VIRTIO_MAGIC, "ldrd magic+version, transport %u",
             t);
        ldm8((void *)b, out);
        eq32(out[0], VIRTIO_MAGIC, "ldm word 0, transport %u", t);
        eq32(out[1], 1, "ldm word 1, transport %u", t);
        eq32(out[2], 0, "ldm word 2, transport %u", t);
        eq32(out[3], VIRTIO_VENDOR, "ldm word 3, transport %u", t);
    }
    uint32_t out[8];
    ldm8((void *)(ubase + 0xfe0), out);
    for (uint32_t i = 0; i < 8; i++) {
        eq32(out[i], pl011_id[i], "ldm of PL011 id word %u", i);
    }
    end();
}

static void alias_write(uint32_t ubase, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            alias_write(ubase, "\r");
        }
        while (ld32(ubase + UARTFR) & FR_TXFF) {
        }
        st32(ubase, (uint8_t)*s);
    }
}

int main(void)
{
    sd_identity(l1);
    sd_section(l1, UART_ALT, UART_BASE, AP_PRW, M_DEVICE | M_XN);
    sd_section(l1, VIRTIO_ALT, VIRTIO_BASE, AP_PRW, M_DEVICE | M_XN);
    mmu_on_short(l1);

    uart_checks("short identity", UART_BASE, 2000);
    uart_checks("short alias", UART_ALT, 2000);
    virtio_checks("short identity", VIRTIO_BASE, 200);
    virtio_checks("short alias", VIRTIO_ALT, 200);
    multi_checks("short", VIRTIO_ALT, UART_ALT);
    alias_write(UART_ALT, "ok short: this line was written through the UART alias\n");

    mmu_off();
    lp_identity(lp1, lp2low);
    lp_table1(lp1, 0x80000000, lp2hi);
    lp_block2m(lp2hi, LP_UART_ALT, UART_BASE, LAP_PRW, M_DEVICE | M_XN);
    lp_block2m(lp2hi, LP_VIRTIO_ALT, VIRTIO_BASE, LAP_PRW, M_DEVICE | M_XN);
    mmu_on_lpae(lp1, 0);

    uart_checks("lpae alias", LP_UART_ALT, 2000);
    virtio_checks("lpae alias", LP_VIRTIO_ALT, 200);
    multi_checks("lpae", LP_VIRTIO_ALT, LP_UART_ALT);
    alias_write(LP_UART_ALT, "ok lpae: this line was written through the UART alias\n");

    finish("mmio");
}
