/*
 * mixed_idx: blocks whose accesses use two mmu indexes.
 *
 * With espt=on, a translation block keeps the slot base of the mmu index
 * that most of its accesses use in a host register and loads the base of
 * any other index from the vCPU's table.  Each block here is one run of
 * straight-line code mixing LDR/STR/STM (SVC mode, PL1 permissions) with
 * LDRT/STRT (user permissions): one where PL1 accesses are the majority,
 * one where LDRT/STRT are.  The pages differ in what each privilege may
 * do, so an access made through the other index's slot would read, write
 * or fault differently: a kernel-only page (LDRT faults), a page that
 * users may only read (STRT faults) and a page everyone may write, which
 * is moved to another frame with TLBIMVA between rounds.  Every value
 * loaded and stored is checked, and so is every abort.
 */
#include "bm.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));
static uint32_t l2[256] __attribute__((aligned(1024)));

#define V_K 0xb0000000u /* PL1 RW, user none */
#define V_R 0xb0001000u /* PL1 RW, user RO */
#define V_U 0xb0002000u /* RW for everyone, moved between rounds */
#define P_K 0x41000000u
#define P_R 0x41001000u
#define P_U0 0x41002000u /* V_U's frames: P_U0 + n * PAGE, n < NFRAMES */
#define NFRAMES 4
#define ROUNDS 300

/* short-descriptor fault status of a permission fault on a page */
#define FS_PERM_PAGE 0x0f

static uint32_t out[8];

/*
 * PL1 majority: six PL1 accesses (four of them the STM), an LDRT and an
 * STRT.  r4 = [k], r5 = [k + 4], r6 = LDRT [u], r7 = [k + 8]; then
 * [k + 12] = r6 and, unprivileged, [u + 4] = r4.  t is the LDRT target:
 * u, or a page that users may not read.
 */
static void blk_priv(uint32_t k, uint32_t t, uint32_t u)
{
    __asm__ volatile(
        "mov r4, %[s]\n\t"
        "mov r5, %[s]\n\t"
        "mov r6, %[s]\n\t"
        "mov r7, %[s]\n\t"
        "ldr r4, [%[k]]\n\t"
        "ldr r5, [%[k], #4]\n\t"
        "ldrt r6, [%[t]]\n\t"
        "ldr r7, [%[k], #8]\n\t"
        "str r6, [%[k], #12]\n\t"
        "add %[u], %[u], #4\n\t"
        "strt r4, [%[u]]\n\t"
        "stm %[o], {r4-r7}\n\t"
        : [u] "+r"(u)
        : [k] "r"(k), [t] "r"(t), [o] "r"(out), [s] "r"(SENTINEL)
        : "r4", "r5", "r6", "r7", "memory");
}

/*
 * LDRT/STRT majority: eight unprivileged accesses, a PL1 load and store
 * and a two-register STM.  r4-r7 = LDRT [u], [u + 4], [u + 8], [u + 12];
 * unprivileged [w], [w + 4], [w + 8], [w + 12] = r7, r6, r5, r4 (w: u + 16,
 * or a page that users may only read); r8 = [k]; [k + 16] = r5.
 */
static void blk_user(uint32_t k, uint32_t u, uint32_t w)
{
    __asm__ volatile(
        "mov r4, %[s]\n\t"
        "mov r5, %[s]\n\t"
        "mov r6, %[s]\n\t"
        "mov r7, %[s]\n\t"
        "mov r8, %[s]\n\t"
        "ldrt r4, [%[u]], #4\n\t"
        "ldrt r5, [%[u]], #4\n\t"
        "ldrt r6, [%[u]], #4\n\t"
        "ldrt r7, [%[u]], #4\n\t"
        "strt r7, [%[w]], #4\n\t"
        "strt r6, [%[w]], #4\n\t"
        "strt r5, [%[w]], #4\n\t"
        "strt r4, [%[w]], #4\n\t"
        "ldr r8, [%[k]]\n\t"
        "str r5, [%[k], #16]\n\t"
        "stm %[o], {r4, r8}\n\t"
        : [u] "+r"(u), [w] "+r"(w)
        : [k] "r"(k), [o] "r"(out), [s] "r"(SENTINEL)
        : "r4", "r5", "r6", "r7", "r8", "memory");
}

/* the frame that V_U maps in round r */
static uint32_t frame_u(unsigned r)
{
    return P_U0 + (r % NFRAMES) * PAGE;
}

static uint32_t seed_of(unsigned r)
{
    return r * 7 + 3;
}

static uint32_t val(unsigned r, uint32_t pa)
{
    return pattern(seed_of(r), pa);
}

/* the words the blocks read, fresh for round r */
static void seed_all(unsigned r)
{
    fill_words(P_K, 32, seed_of(r));
    fill_words(P_R, 32, seed_of(r));
    fill_words(frame_u(r), 32, seed_of(r));
}

static void move_u(unsigned round)
{
    sd_page(l2, V_U, frame_u(round), AP_RW, 0);
    dsb();
    tlbimva(V_U);
    dsb();
    isb();
}

static void round_priv(unsigned r)
{
    uint32_t pu = frame_u(r);

    fault_arm();
    blk_priv(V_K, V_U, V_U);
    unsigned n = fault_disarm();
    begin("pl1-majority block, round %u", r);
    eq32(n, 0, "aborts taken", 0);
    eq32(out[0], val(r, P_K), "ldr [k]", 0);
    eq32(out[1], val(r, P_K + 4), "ldr [k + 4]", 0);
    eq32(out[2], val(r, pu), "ldrt [u]", 0);
    eq32(out[3], val(r, P_K + 8), "ldr [k + 8]", 0);
    eq32(ld32(P_K + 12), val(r, pu), "str [k + 12]", 0);
    eq32(ld32(pu + 4), val(r, P_K), "strt [u + 4]", 0);
    end();

    /* the same block, its LDRT aimed at the kernel-only page */
    fault_arm();
    blk_priv(V_K, V_K + 0x20, V_U + 0x20);
    check_dabort("pl1-majority block: ldrt of a kernel-only page",
                 FS_PERM_PAGE, 0, V_K + 0x20);
    begin("pl1-majority block with a faulting ldrt, round %u", r);
    eq32(out[0], val(r, P_K), "ldr [k]", 0);
    eq32(out[2], SENTINEL, "ldrt [k + 0x20]: no value", 0);
    eq32(out[3], val(r, P_K + 8), "ldr [k + 8]", 0);
    eq32(ld32(P_K + 12), SENTINEL, "str [k + 12] of no value", 0);
    eq32(ld32(pu + 0x24), val(r, P_K), "strt [u + 0x24]", 0);
    end();
}

static void round_user(unsigned r)
{
    uint32_t pu = frame_u(r);

    fault_arm();
    blk_user(V_K, V_U, V_U + 16);
    unsigned n = fault_disarm();
    begin("ldrt-majority block, round %u", r);
    eq32(n, 0, "aborts taken", 0);
    eq32(out[0], val(r, pu), "ldrt [u]", 0);
    eq32(out[1], val(r, P_K), "ldr [k]", 0);
    for (uint32_t i = 0; i < 4; i++) {
        eq32(ld32(pu + 16 + 4 * i), val(r, pu + 12 - 4 * i), "strt [u + 16 + 4i]", i);
    }
    eq32(ld32(P_K + 16), val(r, pu + 4), "str [k + 16]", 0);
    end();

    /* its stores aimed at the page that users may only read */
    uint32_t before = ld32(P_R);
    fault_arm();
    blk_user(V_K, V_U, V_R);
    unsigned taken = fault_disarm();
    begin("ldrt-majority block with faulting strt, round %u", r);
    eq32(taken, 4, "aborts taken", 0);
    eq32(fsr_status(flt.fsr), FS_PERM_PAGE, "last fault status", 0);
    /* a faulting STRT does not write its base back */
    eq32(flt.far, V_R, "last fault address", 0);
    eq32(ld32(P_R), before, "user-RO page unchanged", 0);
    eq32(out[1], val(r, P_K), "ldr [k]", 0);
    eq32(ld32(P_K + 16), val(r, pu + 4), "str [k + 16]", 0);
    end();
}

int main(void)
{
    sd_identity(l1);
    sd_table(l1, 0xb0000000, l2, M_DOM(0));
    sd_page(l2, V_K, P_K, AP_PRW, 0);
    sd_page(l2, V_R, P_R, AP_PRW_UR, 0);
    move_u(0);
    mmu_on_short(l1);

    for (unsigned r = 0; r < ROUNDS; r++) {
        move_u(r);
        seed_all(r);
        if (r & 1) {
            round_user(r);
            seed_all(r);
            round_priv(r);
        } else {
            round_priv(r);
            seed_all(r);
            round_user(r);
        }
    }
    finish("mixed_idx");
}
