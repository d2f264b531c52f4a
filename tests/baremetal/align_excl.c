/*
 * align_excl: alignment faults, exclusives, big-endian data, 4 GiB wrap.
 *
 * - SCTLR.A = 1: unaligned LDR/LDRH/STR/STRH take alignment faults; byte
 *   accesses and word-aligned LDRD/LDM/VLDR do not.
 * - SCTLR.A = 0: unaligned LDR works, but LDRD/LDM/STM/VLDR need word
 *   alignment and LDREX* natural alignment whatever SCTLR.A says.
 * - LDREX/STREX succeed, fail after CLREX, and a counter incremented 10000
 *   times through two aliases of one physical word ends at 10000.
 * - SETEND BE: 16/32/64-bit loads and stores see big-endian byte order,
 *   also across a page boundary.
 * - An unaligned access at 0xfffffffe with both the last and the first page
 *   of the address space mapped.
 */
#include "bm.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l2[256] __attribute__((aligned(1024)));

#define BUF      0x41000000u /* identity mapped */
#define BUF_ALT  0x90000000u /* section alias of BUF */
#define V_CROSS  0xa0001000u /* page boundary: below -> PA_LO, above -> PA_HI */
#define PA_LO    0x41500000u
#define PA_HI    0x41600000u
#define PA_TOP   0x41300000u /* behind VA 0xfff00000 */
#define PA_ZERO  0x41400000u /* behind VA 0x00000000 */

#define FS_ALIGN 0x01

static void bytes_put(uint32_t a, const uint8_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        st8(a + i, b[i]);
    }
}

/* ------------------------------------------------------------ alignment */

static void faults(const char *name, uint32_t wnr, uint32_t far)
{
    check_dabort(name, FS_ALIGN, wnr, far);
}

static void alignment(void)
{
    uint32_t out[8], in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    fill_words(BUF, 256, 3);

    set_sctlr(get_sctlr() | SCTLR_A);
    check32("SCTLR.A set", get_sctlr() & SCTLR_A, SCTLR_A);
    static const char *const ldr_names[] = {"A=1: ldr at +1", "A=1: ldr at +2",
                                            "A=1: ldr at +3"};
    for (uint32_t d = 1; d <= 3; d++) {
        fault_arm();
        ld32(BUF + 0x10 + d);
        faults(ldr_names[d - 1], 0, BUF + 0x10 + d);
    }
    fault_arm();
    ld16(BUF + 0x21);
    faults("A=1: ldrh at +1", 0, BUF + 0x21);
    fault_arm();
    lds16(BUF + 0x23);
    faults("A=1: ldrsh at +3", 0, BUF + 0x23);
    fault_arm();
    st32(BUF + 0x32, 0xdeadbeef);
    faults("A=1: str at +2", 1, BUF + 0x32);
    check32("A=1: str at +2 stored nothing", ld32(BUF + 0x30), pattern(3, BUF + 0x30));
    fault_arm();
    st16(BUF + 0x41, 0xbeef);
    faults("A=1: strh at +1", 1, BUF + 0x41);
    fault_arm();
    uint32_t v8 = ld8(BUF + 0x53);
    st8(BUF + 0x57, 0x5a);
    uint32_t v16 = ld16(BUF + 0x56);
    check_nofault("A=1: ldrb/strb at +3, ldrh at +2");
    check32("A=1: ldrb value", v8, pattern(3, BUF + 0x50) >> 24);
    check32("A=1: ldrh value", v16, 0x5a00 | ((pattern(3, BUF + 0x54) >> 16) & 0xff));
    fault_arm();
    uint64_t v64 = ld64(BUF + 0x64);
    ldm8((void *)(BUF + 0x84), out);
    uint64_t vf = vldr64((void *)(BUF + 0x6c));
    check_nofault("A=1: ldrd, ldm, vldr at 4-byte aligned (not 8) addresses");
    check32("A=1: ldrd low word", (uint32_t)v64, pattern(3, BUF + 0x64));
    check32("A=1: ldm word 7", out[7], pattern(3, BUF + 0xa0));
    check32("A=1: vldr high word", (uint32_t)(vf >> 32), pattern(3, BUF + 0x70));
    fault_arm();
    ld64(BUF + 0x62);
    faults("A=1: ldrd at +2", 0, BUF + 0x62);

    set_sctlr(get_sctlr() & ~SCTLR_A);
    fault_arm();
    uint32_t u = ld32(BUF + 0x11);
    check_nofault("A=0: ldr at +1");
    check32("A=0: ldr at +1 value", u,
            (pattern(3, BUF + 0x10) >> 8) | (pattern(3, BUF + 0x14) << 24));
    fault_arm();
    ld64(BUF + 0x62);
    faults("A=0: ldrd at +2", 0, BUF + 0x62);
    fault_arm();
    st64(BUF + 0x66, 0);
    faults("A=0: strd at +6", 1, BUF + 0x66);
    fault_arm();
    ldm8((void *)(BUF + 0x82), out);
    faults("A=0: ldm at +2", 0, BUF + 0x82);
    fault_arm();
    stm8((void *)(BUF + 0x81), in);
    faults("A=0: stm at +1", 1, BUF + 0x81);
    fault_arm();
    vldr64((void *)(BUF + 0x6a));
    faults("A=0: vldr at +2", 0, BUF + 0x6a);
    fault_arm();
    ldrex32(BUF + 0x92);
    faults("A=0: ldrex at +2", 0, BUF + 0x92);
    fault_arm();
    ldrexh16(BUF + 0x93);
    faults("A=0: ldrexh at +3", 0, BUF + 0x93);
    fault_arm();
    ldrexd64(BUF + 0x94);
    faults("A=0: ldrexd at +4", 0, BUF + 0x94);
    clrex();
    begin("A=0: faulting stores changed nothing");
    for (uint32_t a = BUF + 0x60; a < BUF + 0xa4; a += 4) {
        eq32(ld32(a), pattern(3, a), "word at 0x%x", a);
    }
    end();
}

/* ----------------------------------------------------------- exclusives */

static uint32_t atomic_inc(uint32_t a)
{
    uint32_t v;
    do {
        v = ldrex32(a) + 1;
    } while (strex32(a, v));
    return v;
}

static void exclusives(void)
{
    uint32_t x = BUF + 0x200;
    st32(x, 100);
    uint32_t v = ldrex32(x);
    check32("ldrex value", v, 100);
    check32("strex after ldrex succeeds", strex32(x, v + 1), 0);
    check32("strex stored", ld32(x), 101);
    ldrex32(x);
    clrex();
    check32("strex after clrex fails", strex32(x, 7), 1);
    check32("failed strex stored nothing", ld32(x), 101);
    check32("strex without ldrex fails", strex32(x, 8), 1);

    st32(x + 8, 0x11223344);
    check32("ldrexb", ldrexb8(x + 9), 0x33);
    check32("strexb succeeds", strexb8(x + 9, 0xaa), 0);
    check32("ldrexh", ldrexh16(x + 10), 0x1122);
    check32("strexh succeeds", strexh16(x + 10, 0xbbcc), 0);
    check32("byte/halfword exclusives stored", ld32(x + 8), 0xbbccaa44);
    st64(x + 16, 0x0123456789abcdefull);
    begin("ldrexd/strexd");
    eq64(ldrexd64(x + 16), 0x0123456789abcdefull, "ldrexd", 0);
    eq32(strexd64(x + 16, 0xfedcba9876543210ull), 0, "strexd status", 0);
    eq64(ld64(x + 16), 0xfedcba9876543210ull, "stored", 0);
    end();

    /* 10000 atomic increments through two aliases of one word */
    uint32_t c = BUF + 0x300;
    st32(c, 0);
    begin("10000 ldrex/strex increments through two aliases");
    for (uint32_t i = 1; i <= 10000; i++) {
        uint32_t got = atomic_inc((i & 1) ? c : BUF_ALT + (c - BUF));
        if (i % 1000 == 0) {
            eq32(got, i, "value returned at step %u", i);
            eq32(ld32((i & 1) ? BUF_ALT + (c - BUF) : c), i, "plain load at step %u", i);
        }
    }
    eq32(ld32(c), 10000, "final value", 0);
    eq32(ld32(BUF_ALT + (c - BUF)), 10000, "final value through alias", 0);
    end();
}

/* ----------------------------------------------------------- big-endian */

static void be_st32(uint32_t a, uint32_t v)
{
    __asm__ volatile("setend be\n\tstr %0, [%1]\n\tsetend le" :: "r"(v), "r"(a) : "memory");
}
static uint32_t be_ld32(uint32_t a)
{
    uint32_t v;
    __asm__ volatile("setend be\n\tldr %0, [%1]\n\tsetend le" : "=r"(v) : "r"(a) : "memory");
    return v;
}
static void be_st16(uint32_t a, uint32_t v)
{
    __asm__ volatile("setend be\n\tstrh %0, [%1]\n\tsetend le" :: "r"(v), "r"(a) : "memory");
}
static uint32_t be_ld16(uint32_t a)
{
    uint32_t v;
    __asm__ volatile("setend be\n\tldrh %0, [%1]\n\tsetend le" : "=r"(v) : "r"(a) : "memory");
    return v;
}
static uint32_t be_lds16(uint32_t a)
{
    uint32_t v;
    __asm__ volatile("setend be\n\tldrsh %0, [%1]\n\tsetend le" : "=r"(v) : "r"(a) : "memory");
    return v;
}
static void be_st64(uint32_t a, uint64_t v)
{
    __asm__ volatile("setend be\n\tstrd %0, %H0, [%1]\n\tsetend le"
                     :: "r"(v), "r"(a) : "memory");
}
static uint64_t be_ld64(uint32_t a)
{
    uint64_t v;
    __asm__ volatile("setend be\n\tldrd %0, %H0, [%1]\n\tsetend le"
                     : "=r"(v) : "r"(a) : "memory");
    return v;
}
static uint64_t be_vldr(uint32_t a)
{
    uint32_t lo, hi;
    __asm__ volatile(".fpu neon\n\tsetend be\n\tvldr d1, [%2]\n\tsetend le\n\t"
                     "vmov %0, %1, d1"
                     : "=r"(lo), "=r"(hi) : "r"(a) : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t bytes_le(uint32_t a, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = n; i-- > 0;) {
        v = (v << 8) | ld8(a + i);
    }
    return v;
}

static void big_endian(void)
{
    static const uint8_t seq[8] = {0x81, 0x02, 0x83, 0x04, 0x85, 0x06, 0x87, 0x08};
    uint32_t b = BUF + 0x400;

    bytes_put(b, seq, 8);
    begin("setend be: loads");
    eq32(be_ld32(b), 0x81028304, "ldr", 0);
    eq32(be_ld16(b + 2), 0x8304, "ldrh", 0);
    eq32(be_lds16(b + 2), 0xffff8304, "ldrsh", 0);
    eq32(be_ld32(b + 1), 0x02830485, "unaligned ldr", 0);
    eq64(be_ld64(b), 0x8506870881028304ull, "ldrd: Rt = word at +0, Rt2 = word at +4", 0);
    eq64(be_vldr(b), 0x8102830485068708ull, "vldr: one big-endian doubleword", 0);
    eq32(ld32(b), 0x04830281, "little-endian ldr afterwards", 0);
    end();

    begin("setend be: stores");
    be_st32(b + 0x10, 0xa1b2c3d4);
    eq32(bytes_le(b + 0x10, 4), 0xd4c3b2a1, "str", 0);
    be_st16(b + 0x15, 0xe5f6);
    eq32(bytes_le(b + 0x15, 2), 0xf6e5, "unaligned strh", 0);
    be_st64(b + 0x18, 0x1122334455667788ull);
    eq32(bytes_le(b + 0x18, 4), 0x88776655, "strd Rt", 0);
    eq32(bytes_le(b + 0x1c, 4), 0x44332211, "strd Rt2", 0);
    end();

    /* across a page boundary whose two sides are unrelated physical pages */
    st32(PA_LO + PAGE - 4, 0x44332211);
    st32(PA_HI, 0x88776655);
    begin("setend be: across a page boundary");
    eq32(be_ld32(V_CROSS - 2), 0x33445566, "ldr at 0x%x", V_CROSS - 2);
    be_st32(V_CROSS - 1, 0xcafef00d);
    eq32(ld8(PA_LO + PAGE - 1), 0xca, "byte at PA_LO end", 0);
    eq32(ld8(PA_HI), 0xfe, "byte at PA_HI + 0", 0);
    eq32(ld8(PA_HI + 2), 0x0d, "byte at PA_HI + 2", 0);
    eq32(be_lds16(V_CROSS - 1), 0xffffcafe, "ldrsh at 0x%x", V_CROSS - 1);
    end();
}

/* ------------------------------------------------------- 4 GiB wrap */

static void wrap(void)
{
    static const uint8_t top[4] = {0xa0, 0xa1, 0xa2, 0xa3};
    static const uint8_t bot[4] = {0xb0, 0xb1, 0xb2, 0xb3};
    bytes_put(PA_TOP + MIB - 4, top, 4);
    bytes_put(PA_ZERO, bot, 4);

    begin("last and first page mapped");
    eq32(ld32(0xfffffffc), 0xa3a2a1a0, "ldr 0xfffffffc", 0);
    eq32(ld32(0x00000000), 0xb3b2b1b0, "ldr 0x00000000", 0);
    end();

    /* AArch32 addresses wrap modulo 2^32: the access continues at 0 */
    fault_arm();
    uint32_t w = ld32(0xfffffffe);
    uint32_t h = ld16(0xffffffff);
    uint64_t d = ld64(0xfffffffc);
    unsigned n = fault_disarm();
    begin("unaligned loads wrapping past 0xffffffff");
    eq32(n, 0, "aborts", 0);
    eq32(w, 0xb1b0a3a2, "ldr at 0xfffffffe", 0);
    eq32(h, 0xb0a3, "ldrh at 0xffffffff", 0);
    eq64(d, 0xb3b2b1b0a3a2a1a0ull, "ldrd at 0xfffffffc", 0);
    end();

    fault_arm();
    st32(0xfffffffd, 0x44332211);
    n = fault_disarm();
    begin("unaligned store wrapping past 0xffffffff");
    eq32(n, 0, "aborts", 0);
    eq32(bytes_le(PA_TOP + MIB - 4, 4), 0x332211a0, "bytes at the top", 0);
    eq32(bytes_le(PA_ZERO, 4), 0xb3b2b144, "bytes at 0", 0);
    end();
}

int main(void)
{
    sd_identity(l1);
    sd_section(l1, BUF_ALT, BUF, AP_RW, 0);
    sd_table(l1, V_CROSS, l2, M_DOM(0));
    sd_page(l2, V_CROSS - PAGE, PA_LO, AP_RW, 0);
    sd_page(l2, V_CROSS, PA_HI, AP_RW, 0);
    sd_section(l1, 0xfff00000, PA_TOP, AP_RW, 0);
    sd_section(l1, 0x00000000, PA_ZERO, AP_RW, 0);
    mmu_on_short(l1);
    fpu_enable();

    alignment();
    exclusives();
    big_endian();
    wrap();
    finish("align_excl");
}
