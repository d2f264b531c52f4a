/*
 * perm_faults: access permissions and domains (short descriptors).
 *
 * Kernel-only, user-read-only, read-only and full-access pages, checked from
 * USR mode, from SVC mode and with LDRT/STRT (SVC mode, user permissions).
 * Then DACR: a domain set to "no access" faults with a domain fault and
 * "manager" skips the AP check, with the DACR changed back and forth and
 * no page-table change in between.  Each abort's fault status, WnR and
 * DFAR are checked and printed.
 */
#include "bm.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l2[256] __attribute__((aligned(1024)));
static uint32_t l2d2[256] __attribute__((aligned(1024)));

/* virtual layout */
#define V_KERN   0xb0000000u /* page: PL1 RW, user none */
#define V_URO    0xb0001000u /* page: PL1 RW, user RO */
#define V_RO     0xb0002000u /* page: RO for everyone */
#define V_FULL   0xb0003000u /* page: RW for everyone */
#define V_ROW    0xb0004000u /* page: writable alias of V_RO's frame */
#define V_HOLE   0xb0005000u /* page: not mapped */
#define V_DOM1   0xb0100000u /* section in domain 1, AP = no access */
#define V_KSECT  0xb0200000u /* section: PL1 RW, user none */
#define V_NOSECT 0xb0300000u /* no first-level entry */
#define V_DOM2   0xb0400000u /* page of a second-level table in domain 2 */

/* short-descriptor fault status codes */
#define FS_ALIGN       0x01
#define FS_TRANS_SECT  0x05
#define FS_TRANS_PAGE  0x07
#define FS_DOM_SECT    0x09
#define FS_DOM_PAGE    0x0b
#define FS_PERM_SECT   0x0d
#define FS_PERM_PAGE   0x0f

#define DACR_ALL_CLIENT 0x55555555u
static uint32_t dacr_with(unsigned dom, uint32_t v)
{
    return (DACR_ALL_CLIENT & ~(3u << (2 * dom))) | (v << (2 * dom));
}
#define D_NOACCESS 0u
#define D_CLIENT   1u
#define D_MANAGER  3u

static uint32_t stored(uint32_t a) { return a ^ 0x600df00du; }

/* run in USR mode */
static uint32_t u_load(uint32_t a) { return ld32(a); }
static uint32_t u_store(uint32_t a) { st32(a, stored(a)); return 0; }

static void fill(uint32_t pa) { fill_words(pa, PAGE, 7); }
static uint32_t orig(uint32_t pa) { return pattern(7, pa); }

static void user_load_faults(const char *name, uint32_t va, uint32_t fs)
{
    fault_arm();
    uint32_t v = run_user(u_load, va);
    check_dabort(name, fs, 0, va);
    begin("%s: no value, taken from usr", name);
    eq32(v, SENTINEL, 0, 0);
    eq32(flt.mode, 0x10, "mode", 0);
    end();
}

static void user_store_faults(const char *name, uint32_t va, uint32_t pa, uint32_t fs)
{
    uint32_t before = ld32(pa);
    fault_arm();
    run_user(u_store, va);
    check_dabort(name, fs, 1, va);
    begin("%s: memory unchanged, taken from usr", name);
    eq32(ld32(pa), before, 0, 0);
    eq32(flt.mode, 0x10, "mode", 0);
    end();
}

static void svc_load_faults(const char *name, uint32_t va, uint32_t fs)
{
    fault_arm();
    uint32_t v = ld32(va);
    check_dabort(name, fs, 0, va);
    begin("%s: no value", name);
    eq32(v, SENTINEL, 0, 0);
    end();
}

static void svc_store_faults(const char *name, uint32_t va, uint32_t pa, uint32_t fs)
{
    uint32_t before = ld32(pa);
    fault_arm();
    st32(va, stored(va));
    check_dabort(name, fs, 1, va);
    begin("%s: memory unchanged", name);
    eq32(ld32(pa), before, 0, 0);
    end();
}

static void works(const char *name, uint32_t got, uint32_t exp)
{
    unsigned n = fault_disarm();
    begin("%s", name);
    eq32(n, 0, "aborts taken", 0);
    eq32(got, exp, 0, 0);
    end();
}

int main(void)
{
    sd_identity(l1);
    sd_table(l1, 0xb0000000, l2, M_DOM(0));
    sd_page(l2, V_KERN, 0x41000000, AP_PRW, 0);
    sd_page(l2, V_URO, 0x41001000, AP_PRW_UR, 0);
    sd_page(l2, V_RO, 0x41002000, AP_RO, 0);
    sd_page(l2, V_FULL, 0x41003000, AP_RW, 0);
    sd_page(l2, V_ROW, 0x41002000, AP_RW, 0);
    sd_section(l1, V_DOM1, 0x41100000, AP_NONE, M_DOM(1));
    sd_section(l1, V_KSECT, 0x41200000, AP_PRW, 0);
    sd_table(l1, V_DOM2, l2d2, M_DOM(2));
    sd_page(l2d2, V_DOM2, 0x41400000, AP_RW, 0);
    for (uint32_t pa = 0x41000000; pa < 0x41004000; pa += PAGE) {
        fill(pa);
    }
    fill(0x41100000);
    fill(0x41200000);
    fill(0x41400000);
    mmu_on_short(l1);

    /* ---- kernel-only page ---- */
    fault_arm();
    works("svc load, kernel-only page", ld32(V_KERN + 0x10), orig(0x41000010));
    user_load_faults("usr load, kernel-only page", V_KERN + 0x10, FS_PERM_PAGE);
    user_store_faults("usr store, kernel-only page", V_KERN + 0x24, 0x41000024, FS_PERM_PAGE);
    fault_arm();
    st32(V_KERN + 0x24, 0x11112222);
    works("svc store, kernel-only page", ld32(0x41000024), 0x11112222);
    user_load_faults("usr load, kernel-only page, after svc store", V_KERN + 0x24,
                     FS_PERM_PAGE);

    /* ---- user read-only page ---- */
    fault_arm();
    works("usr load, user-RO page", run_user(u_load, V_URO + 0x40), orig(0x41001040));
    user_store_faults("usr store, user-RO page", V_URO + 0x40, 0x41001040, FS_PERM_PAGE);
    fault_arm();
    st32(V_URO + 0x40, 0x33334444);
    works("svc store, user-RO page", ld32(0x41001040), 0x33334444);
    fault_arm();
    works("usr load sees svc store, user-RO page", run_user(u_load, V_URO + 0x40),
          0x33334444);

    /* ---- read-only page ---- */
    fault_arm();
    works("svc load, RO page", ld32(V_RO + 0x80), orig(0x41002080));
    svc_store_faults("svc store, RO page", V_RO + 0x80, 0x41002080, FS_PERM_PAGE);
    user_store_faults("usr store, RO page", V_RO + 0x84, 0x41002084, FS_PERM_PAGE);
    fault_arm();
    st32(V_ROW + 0x80, 0x55556666);
    works("RO page sees store through writable alias", ld32(V_RO + 0x80), 0x55556666);
    fault_arm();
    works("usr load, RO page", run_user(u_load, V_RO + 0x80), 0x55556666);

    /* ---- full-access page ---- */
    fault_arm();
    run_user(u_store, V_FULL + 0xc0);
    works("usr store, full-access page", ld32(0x410030c0), stored(V_FULL + 0xc0));

    /* ---- LDRT/STRT: SVC mode, user permissions ---- */
    fault_arm();
    uint32_t v = ldt32(V_KERN + 0x10);
    check_dabort("ldrt from svc, kernel-only page", FS_PERM_PAGE, 0, V_KERN + 0x10);
    check32("ldrt from svc, kernel-only page: no value", v, SENTINEL);
    fault_arm();
    works("ldr from svc, kernel-only page, after ldrt", ld32(V_KERN + 0x10),
          orig(0x41000010));
    fault_arm();
    stt32(V_KERN + 0x10, 0x77778888);
    check_dabort("strt from svc, kernel-only page", FS_PERM_PAGE, 1, V_KERN + 0x10);
    fault_arm();
    works("ldrt from svc, user-RO page", ldt32(V_URO + 0x40), 0x33334444);
    fault_arm();
    stt32(V_URO + 0x44, 0x9999aaaa);
    check_dabort("strt from svc, user-RO page", FS_PERM_PAGE, 1, V_URO + 0x44);
    check32("strt from svc, user-RO page: memory unchanged", ld32(0x41001044),
            orig(0x41001044));
    fault_arm();
    stt32(V_FULL + 0x48, 0xbbbbcccc);
    works("strt from svc, full-access page", ld32(0x41003048), 0xbbbbcccc);
    fault_arm();
    v = ldt32(V_KSECT + 0x100);
    check_dabort("ldrt from svc, kernel-only section", FS_PERM_SECT, 0, V_KSECT + 0x100);

    /* ---- kernel-only section, translation faults ---- */
    fault_arm();
    works("svc load, kernel-only section", ld32(V_KSECT + 0x100), orig(0x41200100));
    user_load_faults("usr load, kernel-only section", V_KSECT + 0x100, FS_PERM_SECT);
    svc_load_faults("svc load, no first-level entry", V_NOSECT + 0x8, FS_TRANS_SECT);
    svc_load_faults("svc load, no second-level entry", V_HOLE + 0xc, FS_TRANS_PAGE);
    fault_arm();
    st32(V_HOLE + 0x10, 1);
    check_dabort("svc store, no second-level entry", FS_TRANS_PAGE, 1, V_HOLE + 0x10);
    user_load_faults("usr load, no first-level entry", V_NOSECT + 0x8, FS_TRANS_SECT);

    /* ---- domains: DACR changes with no page-table change ---- */
    svc_load_faults("domain 1 client, AP none: svc load", V_DOM1 + 0x20, FS_PERM_SECT);
    set_dacr(dacr_with(1, D_NOACCESS));
    svc_load_faults("domain 1 no access: svc load", V_DOM1 + 0x20, FS_DOM_SECT);
    svc_store_faults("domain 1 no access: svc store", V_DOM1 + 0x20, 0x41100020,
                     FS_DOM_SECT);
    user_load_faults("domain 1 no access: usr load", V_DOM1 + 0x20, FS_DOM_SECT);
    set_dacr(dacr_with(1, D_MANAGER));
    fault_arm();
    works("domain 1 manager: svc load (AP ignored)", ld32(V_DOM1 + 0x20), orig(0x41100020));
    fault_arm();
    st32(V_DOM1 + 0x20, 0xcafe0001);
    works("domain 1 manager: svc store (AP ignored)", ld32(0x41100020), 0xcafe0001);
    fault_arm();
    run_user(u_store, V_DOM1 + 0x24);
    works("domain 1 manager: usr store (AP ignored)", ld32(0x41100024),
          stored(V_DOM1 + 0x24));
    fault_arm();
    works("domain 1 manager: usr load (AP ignored)", run_user(u_load, V_DOM1 + 0x20),
          0xcafe0001);
    set_dacr(dacr_with(1, D_NOACCESS));
    svc_load_faults("domain 1 no access again: svc load", V_DOM1 + 0x20, FS_DOM_SECT);
    user_store_faults("domain 1 no access again: usr store", V_DOM1 + 0x24, 0x41100024,
                      FS_DOM_SECT);
    set_dacr(dacr_with(1, D_CLIENT));
    svc_store_faults("domain 1 client again: svc store", V_DOM1 + 0x20, 0x41100020,
                     FS_PERM_SECT);

    /* a second-level table in domain 2: page-level domain faults */
    fault_arm();
    works("domain 2 client: usr load", run_user(u_load, V_DOM2 + 0x30), orig(0x41400030));
    set_dacr(dacr_with(2, D_NOACCESS));
    user_load_faults("domain 2 no access: usr load", V_DOM2 + 0x30, FS_DOM_PAGE);
    svc_store_faults("domain 2 no access: svc store", V_DOM2 + 0x34, 0x41400034,
                     FS_DOM_PAGE);
    set_dacr(dacr_with(2, D_MANAGER));
    fault_arm();
    works("domain 2 manager: usr load", run_user(u_load, V_DOM2 + 0x30), orig(0x41400030));

    /* flip domain 1 between manager and no access many times */
    begin("domain 1 manager/no-access flips");
    for (uint32_t i = 0; i < 200; i++) {
        uint32_t va = V_DOM1 + ((i * 0x1234) & 0xffffc);
        set_dacr(dacr_with(1, (i & 1) ? D_NOACCESS : D_MANAGER));
        fault_arm();
        uint32_t got = ld32(va);
        unsigned n = fault_disarm();
        if (i & 1) {
            eq32(n, 1, "aborts at step %u", i);
            eq32(fsr_status(flt.fsr), FS_DOM_SECT, "fault status at step %u", i);
            eq32(flt.far, va, "DFAR at step %u", i);
        } else {
            eq32(n, 0, "aborts at step %u", i);
            eq32(got, ld32(0x41100000 + (va & 0xfffff)), "value at step %u", i);
        }
    }
    end();
    set_dacr(DACR_ALL_CLIENT);

    finish("perm_faults");
}
