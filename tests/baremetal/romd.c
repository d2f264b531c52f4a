/*
 * romd: an access site that meets MMIO, then RAM again at the same place.
 *
 * The virt board's first flash (pflash0 at 0) is a ROM device: in read
 * array mode its contents are read like RAM (and ESPT mirrors them
 * read-only), after a command write its reads go to the device (MMIO).
 * One load instruction (ld32) reads the flash through all three phases:
 * read array, CFI query mode, read array again, many times each; with
 * ESPT the site is patched to its slow path in the MMIO phase and must
 * still read the right contents afterwards.  MMU off: flat addresses.
 */
#include "bm.h"

#define FLASH 0x00000000u
#define CMD_CFI_QUERY 0x98u
#define CMD_READ_ARRAY 0xffu

/*
 * Read array mode: no -drive if=pflash, so the flash holds what QEMU's
 * -kernel boot code put at the start of it (its boot stub's data words).
 */
static const uint32_t array[3] = {0x01000000u, 0x00000000u, 0x03000000u};

static void read_phase(const char *what, uint32_t rounds, int expect_cfi)
{
    begin("%s x%u", what, rounds);
    for (uint32_t r = 0; r < rounds; r++) {
        for (uint32_t w = 0x10; w < 0x13; w++) {
            uint32_t got = ld32(FLASH + 4 * w);
            if (expect_cfi) {
                /* "QRY", one byte per 16-bit device lane, two lanes */
                static const uint32_t qry[3] = {0x00510051u, 0x00520052u, 0x00590059u};
                eq32(got, qry[w - 0x10], "CFI word 0x%x", w);
            } else {
                eq32(got, array[w - 0x10], "array word 0x%x", w);
            }
        }
    }
    end();
}

int main(void)
{
    read_phase("read array mode (RAM-like reads)", 500, 0);
    st32(FLASH, CMD_CFI_QUERY | (CMD_CFI_QUERY << 16));
    read_phase("CFI query mode (device reads)", 500, 1);
    st32(FLASH, CMD_READ_ARRAY | (CMD_READ_ARRAY << 16));
    read_phase("read array mode again", 500, 0);
    st32(FLASH, CMD_CFI_QUERY | (CMD_CFI_QUERY << 16));
    read_phase("CFI query mode again", 50, 1);
    st32(FLASH, CMD_READ_ARRAY | (CMD_READ_ARRAY << 16));
    read_phase("read array mode at last", 50, 0);
    finish("romd");
}
