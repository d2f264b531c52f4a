/*
 * large_page_jmp_cache: code in a large page that was made unexecutable
 * and invalidated by another of its addresses must not run again.
 *
 * Found by tests/fuzz (seed 30029 with --ops 2000; minimised with
 * --keep 29,40,198,209,215,218,219,223).  Build it as a tests/baremetal
 * program (copy it there, or link it against the lib objects with the
 * flags of tests/baremetal/build.sh) and run it with espt=off and with
 * espt=on and ESPT_GOVERNOR=off.
 *
 * A TLB invalidation by address removes the whole entry that translates
 * the address, however large: after a section, supersection or block is
 * made execute-never (or kernel-only, or invalid, or moved) and one of
 * its addresses is invalidated, fetching from any of its pages must use
 * the new descriptor.  QEMU's soft TLB does that (a page flush that hits
 * a large page flushes the whole mmu index), but its jump cache is
 * cleared only around the address named (tlb_flush_page_by_mmuidx_async_0
 * in accel/tcg/cputlb.c), so a block translated from another page of the
 * large page is still found there and runs without a translation:
 *
 *   1. plain TCG, one address space: a 1 MiB section made XN, TLBIMVA of
 *      another page of it: the code still runs (espt=off and espt=on).
 *      Any full flush in between hides it, as an ASID or DACR write does
 *      with plain TCG.
 *   2. ESPT keeps a jump cache per address space (patch 0024) and brings
 *      it back on a switch, having cleared only the pages that page
 *      flushes named: a 1 GiB block (long descriptors) made XN while
 *      another ASID is current, TLBIMVAA of another page, then back to
 *      the first ASID: espt=off takes the prefetch abort, espt=on with
 *      the shadow runs the old block.
 *   3. The same with no switch but a DACR write, which long descriptors
 *      ignore (a switch to the same ESPT key, keeping the jump cache,
 *      where plain TCG flushes everything): a 2 MiB block made kernel-only,
 *      then code in it called from USR mode.  This is the fuzzer's case.
 *
 * The code runs at virtual addresses whose jump-cache bucket is used by
 * nothing else in this program, so that nothing evicts the stale entry by
 * chance.  Expected output (correct): three "ok" lines and PASS.
 */
#include "bm.h"

static uint32_t sl1[4096] __attribute__((aligned(16384)));
static uint64_t la[512] __attribute__((aligned(4096)));
static uint64_t lb[512] __attribute__((aligned(4096)));
static uint64_t l2[512] __attribute__((aligned(4096)));
static uint64_t l2low[512] __attribute__((aligned(4096)));

#define FN1 0x41030000u     /* physical addresses of three small functions */
#define FN2 0x41031000u
#define FN3 0x41032000u

static void put_fn(uint32_t pa, uint32_t k)
{
    st32(pa, movw(0, k));
    st32(pa + 4, BX_LR);
}

/* call va at PL1 (or in USR mode); returns its r0 (FAULT_RET if it aborted) */
static uint32_t call(uint32_t va, int usr)
{
    return usr ? run_user((uint32_t (*)(uint32_t))va, 0) : ((uint32_t (*)(void))va)();
}

static void check_pabt(const char *name, uint32_t va, int usr, uint32_t fs)
{
    fault_arm();
    uint32_t r = call(va, usr);
    unsigned n = fault_disarm();
    begin("%s", name);
    eq32(r, FAULT_RET, "the call returned (the old code ran)", 0);
    eq32(n, 1, "prefetch aborts", 0);
    if (n) {
        eq32(flt.kind, EXC_PABT, "exception kind", 0);
        eq32(fsr_status(flt.fsr), fs, "fault status", 0);
        eq32(flt.far, va, "IFAR", 0);
    }
    end();
}

int main(void)
{
    put_fn(FN1, 0x111);
    put_fn(FN2, 0x222);
    put_fn(FN3, 0x333);

    /* 1. short descriptors: section at 0x81000000 -> 0x41000000 */
    sd_identity(sl1);
    sd_section(sl1, 0x81000000, 0x41000000, AP_RW, 0);
    mmu_on_short(sl1);
    check32("1: section: the code runs", call(FN1 + 0x40000000, 0), 0x111);
    sd_section(sl1, 0x81000000, 0x41000000, AP_RW, M_XN);
    tlbimva(0x810ff000);                  /* another page of the section */
    dsb();
    isb();
    check_pabt("1: section made XN, TLBIMVA of another of its pages", FN1 + 0x40000000, 0, 0x0d);
    mmu_off();

    /* 2. long descriptors: ASIDs 1 (table la) and 2 (table lb); a 1 GiB
     *    block at 0x80000000 -> 0x40000000 in la */
    lp_identity(la, l2low);
    lp_identity(lb, l2low);
    lp_block1g(la, 0x80000000, 0x40000000, LAP_RW, M_NG);
    mmu_on_lpae(la, 1);
    check32("2: 1 GiB block: the code runs", call(FN2 + 0x40000000, 0), 0x222);
    set_ttbr0_64((uint32_t)lb | (uint64_t)2 << 48);          /* to ASID 2 */
    lp_block1g(la, 0x80000000, 0x40000000, LAP_RW, M_NG | M_XN);
    tlbimvaa(0xbfe0f000);                 /* another page of the block */
    dsb();
    isb();
    set_ttbr0_64((uint32_t)la | (uint64_t)1 << 48);          /* back to ASID 1 */
    check_pabt("2: 1 GiB block made XN from another ASID, TLBIMVAA of another page",
               FN2 + 0x40000000, 0, 0x0d);

    /* 3. long descriptors, one ASID: a 2 MiB block at 0x81000000 ->
     *    0x41000000 readable and executable from USR mode, then kernel-only */
    lp_table1(la, 0x80000000, l2);
    lp_block2m(l2, 0x81000000, 0x41000000, LAP_RO, 0);
    tlbiall();
    dsb();
    isb();
    check32("3: 2 MiB block: the code runs in USR mode", call(FN3 + 0x40000000, 1), 0x333);
    set_dacr(0x5555555d);                 /* ignored with long descriptors */
    lp_block2m(l2, 0x81000000, 0x41000000, LAP_PRW, 0);
    tlbimvaa(0x811ff000);                 /* another page of the block */
    dsb();
    isb();
    check_pabt("3: 2 MiB block made kernel-only after a DACR write, TLBIMVAA of another page",
               FN3 + 0x40000000, 1, 0x0e);
    set_dacr(0x55555555);

    finish("large_page_jmp_cache");
}
