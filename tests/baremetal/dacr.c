/*
 * dacr: address spaces told apart by DACR as well as by ASID.
 *
 * Short descriptors, used the way Linux's software PAN
 * (CONFIG_CPU_SW_DOMAIN_PAN) uses them: user pages are in domain 1, which
 * the kernel sets to "no access" while it runs and to "client" around each
 * user access and in user mode, so the DACR changes several times per
 * system call.  Two processes P and Q (two ASIDs) share a global kernel
 * section in domain 0.  Each step changes page tables while one (ASID,
 * DACR) pair is current, publishes the change with TLB maintenance
 * (TLBIMVA, TLBIASID, TLBIMVAA, TLBIALL), and checks what every pair sees,
 * from SVC and USR mode, domain faults included: ESPT keeps the mirrors
 * made under each DACR, and they must follow maintenance done under
 * another one.  Domain 1 as "manager" (access permissions ignored) is
 * switched in and out too.  Last, with long descriptors, where the DACR
 * is not used, DACR writes must change nothing.
 */
#include "bm.h"

#define ASID_P 3u
#define ASID_Q 7u
enum { P, Q, NSPACES };
static const uint32_t asid_of[NSPACES] = {ASID_P, ASID_Q};

#define DACR_UACCESS 0x55555555u                  /* every domain client */
#define DACR_KERNEL (DACR_UACCESS & ~(3u << 2))   /* domain 1 no access */
#define DACR_MANAGER (DACR_UACCESS | (3u << 2))   /* domain 1 manager */

/* virtual layout (short descriptors) */
#define V_USER  0x90000000u /* page, domain 1, nG, RW for everyone */
#define V_KONLY 0x90001000u /* page, domain 1, nG, PL1 only */
#define V_USECT 0x90100000u /* section, domain 1, nG, RW for everyone */
#define V_KERN  0x90200000u /* section, domain 0, global, PL1 only */

/* physical backings; word 0 of each page holds its address */
#define SECT_P  0x41000000u
#define SECT_Q  0x41100000u
#define SECT_P2 0x41200000u
#define KERN    0x41300000u
#define KERN2   0x41400000u
#define PG_P    0x42000000u
#define PG_Q    0x42001000u
#define PG_P2   0x42002000u
#define PG_Q2   0x42003000u
#define PG_K    0x42004000u

/* short-descriptor fault status codes */
#define FS_DOM_SECT  0x09
#define FS_DOM_PAGE  0x0b
#define FS_PERM_PAGE 0x0f

static uint32_t l1[NSPACES][4096] __attribute__((aligned(16384)));
static uint32_t l2[NSPACES][256] __attribute__((aligned(1024)));
static uint64_t ll1[512] __attribute__((aligned(4096)));
static uint64_t ll2[512] __attribute__((aligned(4096)));
static uint64_t ll2low[512] __attribute__((aligned(4096)));

static const uint32_t backings[] = {SECT_P, SECT_Q, SECT_P2, KERN, KERN2,
                                    PG_P, PG_Q, PG_P2, PG_Q2, PG_K};

static void tag_all(void)
{
    for (unsigned i = 0; i < sizeof(backings) / 4; i++) {
        st32(backings[i], backings[i]);
        st32(backings[i] + 0x10, 0);
    }
}

static void use(int s)
{
    /* reserved ASID 0 while TTBR0 changes, as Linux does */
    set_contextidr(0);
    set_ttbr0((uint32_t)l1[s]);
    set_contextidr(asid_of[s]);
}

static void publish(void)
{
    dsb();
    isb();
}

static uint32_t u_load(uint32_t a) { return ld32(a); }
static uint32_t u_bump(uint32_t a) { st32(a, ld32(a) + 1); return 0; }

/* an SVC-mode load of va must give exp without a fault */
static void svc_sees(uint32_t va, uint32_t exp, uint32_t step)
{
    fault_arm();
    uint32_t got = ld32(va);
    unsigned n = fault_disarm();
    eq32(n, 0, "aborts on svc load, step %u", step);
    eq32(got, exp, "svc load, step %u", step);
}

static void usr_sees(uint32_t va, uint32_t exp, uint32_t step)
{
    fault_arm();
    uint32_t got = run_user(u_load, va);
    unsigned n = fault_disarm();
    eq32(n, 0, "aborts on usr load, step %u", step);
    eq32(got, exp, "usr load, step %u", step);
}

/* a load of va (from USR mode if usr) must abort with status fs */
static void load_faults(int usr, uint32_t va, uint32_t fs, uint32_t step)
{
    fault_arm();
    if (usr) {
        run_user(u_load, va);
    } else {
        ld32(va);
    }
    unsigned n = fault_disarm();
    eq32(n, 1, "aborts, step %u", step);
    eq32(fsr_status(flt.fsr), fs, "fault status, step %u", step);
    eq32(flt.far, va, "DFAR, step %u", step);
}

/* what space s sees in each DACR setting, given its current backings */
static void expect_all(int s, uint32_t page, uint32_t sect, uint32_t kern,
                       uint32_t step)
{
    use(s);
    set_dacr(DACR_KERNEL);
    svc_sees(V_KERN, kern, step);
    load_faults(0, V_USER, FS_DOM_PAGE, step);
    load_faults(0, V_USECT, FS_DOM_SECT, step);
    set_dacr(DACR_UACCESS);
    svc_sees(V_USER, page, step);
    svc_sees(V_USECT, sect, step);
    usr_sees(V_USER, page, step);
    usr_sees(V_USECT, sect, step);
    svc_sees(V_KERN, kern, step);
    set_dacr(DACR_KERNEL);
    svc_sees(V_KERN, kern, step);
}

static void short_descriptors(void)
{
    for (int s = 0; s < NSPACES; s++) {
        sd_identity(l1[s]);
        sd_table(l1[s], V_USER, l2[s], M_DOM(1));
        sd_page(l2[s], V_USER, s == P ? PG_P : PG_Q, AP_RW, M_NG);
        sd_page(l2[s], V_KONLY, PG_K, AP_PRW, M_NG);
        sd_section(l1[s], V_USECT, s == P ? SECT_P : SECT_Q, AP_RW, M_NG | M_DOM(1));
        sd_section(l1[s], V_KERN, KERN, AP_PRW, M_DOM(0));
    }
    tag_all();
    mmu_on_short(l1[P]);

    /* 1. system calls: DACR toggled around user accesses, switches between */
    begin("short: 300 rounds of kernel entry, user access and exit");
    for (uint32_t i = 0; i < 300; i++) {
        int s = (int)((i / 3) & 1);
        uint32_t page = s == P ? PG_P : PG_Q;
        if (i % 3 == 0) {
            use(s);
        }
        set_dacr(DACR_KERNEL);                  /* kernel entry */
        svc_sees(V_KERN, KERN, i);
        if (i % 5 == 0) {
            load_faults(0, V_USER, FS_DOM_PAGE, i);
        }
        set_dacr(DACR_UACCESS);                 /* copy_to_user */
        st32(V_USER + 0x10, ld32(V_USER + 0x10) + 1);
        set_dacr(DACR_KERNEL);
        svc_sees(V_KERN + 0x10, 0, i);
        set_dacr(DACR_UACCESS);                 /* return to user */
        fault_arm();
        run_user(u_bump, V_USECT + 0x10);
        eq32(fault_disarm(), 0, "aborts on usr store, step %u", i);
        usr_sees(V_USER, page, i);
        if (i % 7 == 0) {
            load_faults(1, V_KONLY, FS_PERM_PAGE, i);
        }
    }
    eq32(ld32(PG_P + 0x10), 150, "P's page counter", 0);
    eq32(ld32(PG_Q + 0x10), 150, "Q's page counter", 0);
    eq32(ld32(SECT_P + 0x10), 150, "P's section counter", 0);
    eq32(ld32(SECT_Q + 0x10), 150, "Q's section counter", 0);
    end();

    /* 2. remapped with user access off, TLBIMVA(va | P): seen with it on */
    begin("short: page remapped under one DACR, TLBIMVA, seen under the other");
    use(P);
    set_dacr(DACR_UACCESS);
    svc_sees(V_USER, PG_P, 1);
    usr_sees(V_USER, PG_P, 2);
    set_dacr(DACR_KERNEL);
    sd_page(l2[P], V_USER, PG_P2, AP_RW, M_NG);
    tlbimva(V_USER | ASID_P);
    publish();
    set_dacr(DACR_UACCESS);
    svc_sees(V_USER, PG_P2, 3);
    usr_sees(V_USER, PG_P2, 4);
    expect_all(Q, PG_Q, SECT_Q, KERN, 5);
    expect_all(P, PG_P2, SECT_P, KERN, 6);
    end();

    /* 3. TLBIASID(P) issued in Q, user access on; P checked in both DACRs */
    begin("short: TLBIASID of another ASID under another DACR");
    use(P);
    set_dacr(DACR_UACCESS);
    svc_sees(V_USECT, SECT_P, 1);
    set_dacr(DACR_KERNEL);
    use(Q);
    set_dacr(DACR_UACCESS);
    svc_sees(V_USECT, SECT_Q, 2);
    sd_section(l1[P], V_USECT, SECT_P2, AP_RW, M_NG | M_DOM(1));
    tlbiasid(ASID_P);
    publish();
    svc_sees(V_USECT, SECT_Q, 3);
    expect_all(P, PG_P2, SECT_P2, KERN, 4);
    expect_all(Q, PG_Q, SECT_Q, KERN, 5);
    end();

    /* 4. the global kernel section remapped, TLBIMVAA with user access on */
    begin("short: global section remapped, TLBIMVAA, every ASID and DACR");
    use(Q);
    set_dacr(DACR_UACCESS);
    for (int s = 0; s < NSPACES; s++) {
        sd_section(l1[s], V_KERN, KERN2, AP_PRW, M_DOM(0));
    }
    tlbimvaa(V_KERN + 0x3000);
    publish();
    expect_all(P, PG_P2, SECT_P2, KERN2, 1);
    expect_all(Q, PG_Q, SECT_Q, KERN2, 2);
    end();

    /* 5. domain 1 as manager: access permissions ignored, back and forth */
    begin("short: domain 1 manager, client and no access in turn");
    use(P);
    for (uint32_t i = 0; i < 90; i++) {
        switch (i % 3) {
        case 0:
            set_dacr(DACR_MANAGER);
            usr_sees(V_KONLY, PG_K, i);
            break;
        case 1:
            set_dacr(DACR_UACCESS);
            load_faults(1, V_KONLY, FS_PERM_PAGE, i);
            svc_sees(V_KONLY, PG_K, i);
            break;
        default:
            set_dacr(DACR_KERNEL);
            load_faults(0, V_KONLY, FS_DOM_PAGE, i);
            break;
        }
        if (i == 45) {
            use(Q);
        }
    }
    end();

    /* 6. both user pages remapped, one TLBIALL under the manager DACR */
    begin("short: user pages remapped, TLBIALL");
    use(P);
    set_dacr(DACR_MANAGER);
    usr_sees(V_USER, PG_P2, 1);
    sd_page(l2[P], V_USER, PG_P, AP_RW, M_NG);
    sd_page(l2[Q], V_USER, PG_Q2, AP_RW, M_NG);
    tlbiall();
    publish();
    usr_sees(V_USER, PG_P, 2);
    expect_all(Q, PG_Q2, SECT_Q, KERN2, 3);
    expect_all(P, PG_P, SECT_P2, KERN2, 4);
    end();

    begin("short: backings after the stores");
    static const uint32_t untouched[] = {SECT_P2, KERN, KERN2, PG_P2, PG_Q2, PG_K};
    for (unsigned i = 0; i < sizeof(untouched) / 4; i++) {
        eq32(ld32(untouched[i] + 0x10), 0, "counter at PA 0x%x", untouched[i] + 0x10);
    }
    end();
    set_dacr(DACR_UACCESS);
}

/* with long descriptors the DACR is ignored: any value, same translation */
static void long_descriptors(void)
{
    static const uint32_t values[] = {0, DACR_KERNEL, DACR_UACCESS, DACR_MANAGER};

    mmu_off();
    lp_identity(ll1, ll2low);
    lp_table1(ll1, 0x80000000, ll2);
    lp_block2m(ll2, 0x80000000, SECT_P, LAP_RW, M_NG);
    mmu_on_lpae(ll1, ASID_P);

    begin("lpae: DACR writes change no translation");
    for (uint32_t i = 0; i < 40; i++) {
        if (i == 20) {
            lp_block2m(ll2, 0x80000000, SECT_P2, LAP_RW, M_NG);
            tlbimvaa(0x80000000);
            publish();
        }
        set_dacr(values[i % 4]);
        svc_sees(0x80000000, i < 20 ? SECT_P : SECT_P2, i);
        usr_sees(0x80000000, i < 20 ? SECT_P : SECT_P2, i);
    }
    end();
    set_dacr(DACR_UACCESS);
}

int main(void)
{
    short_descriptors();
    long_descriptors();
    finish("dacr");
}
