/*
 * PSCI calls and a second CPU, for the tests that reset the machine or
 * run on two vCPUs.
 *
 * On QEMU's virt board without EL2 and EL3 (the default for cortex-a15),
 * QEMU implements PSCI itself with HVC as the conduit, and the CPUs other
 * than CPU0 start powered off.  CPU_ON resets the CPU it starts and enters
 * it at the given address in SVC mode with the MMU off and r0 = the
 * context id, which here points at the CPU's boot block.
 */
#include "bm.h"

#define MAX_CPUS 4

struct boot {
    uint32_t fn, arg, vbar, svc_sp, abt_sp, und_sp; /* offsets used below */
};
static struct boot boot[MAX_CPUS];
static uint8_t stacks[MAX_CPUS][16384 + 4096 + 1024] __attribute__((aligned(16)));

void secondary_entry(void);
__asm__(
    "   .section .text.secondary_entry, \"ax\"\n"
    "   .arm\n"
    "   .global secondary_entry\n"
    "secondary_entry:\n"
    "   cpsid aif\n"
    "   mov r4, r0\n"
    "   cps #0x17\n"              /* ABT */
    "   ldr sp, [r4, #16]\n"
    "   cps #0x1b\n"              /* UND */
    "   ldr sp, [r4, #20]\n"
    "   cps #0x13\n"              /* SVC */
    "   ldr sp, [r4, #12]\n"
    "   ldr r1, [r4, #8]\n"
    "   mcr p15, 0, r1, c12, c0, 0\n" /* VBAR: CPU0's vectors */
    "   isb\n"
    "   ldr r0, [r4, #4]\n"
    "   ldr r1, [r4]\n"
    "   blx r1\n"
    "1: wfi\n"
    "   b 1b\n"
    "   .text\n");

int32_t psci_call(uint32_t fn, uint32_t a1, uint32_t a2, uint32_t a3)
{
    register uint32_t r0 __asm__("r0") = fn;
    register uint32_t r1 __asm__("r1") = a1;
    register uint32_t r2 __asm__("r2") = a2;
    register uint32_t r3 __asm__("r3") = a3;
    /* HVC #0, spelled out: -march=armv7-a has no virtualization extension */
    __asm__ volatile(".inst 0xe1400070" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r3) : "memory");
    return (int32_t)r0;
}

int32_t cpu_start(uint32_t cpu, void (*fn)(uint32_t), uint32_t arg)
{
    if (cpu == 0 || cpu >= MAX_CPUS) {
        return PSCI_INVALID;
    }
    struct boot *b = &boot[cpu];
    uint32_t top = (uint32_t)stacks[cpu] + sizeof(stacks[cpu]);
    b->fn = (uint32_t)fn;
    b->arg = arg;
    b->vbar = MRC(0, c12, c0, 0);
    b->und_sp = top;
    b->abt_sp = top - 1024;
    b->svc_sp = top - 1024 - 4096;
    /* the new CPU reads its boot block with the MMU (and caches) off */
    dcache_clean_range((uint32_t)b, sizeof(*b));
    return psci_call(PSCI_CPU_ON, cpu, (uint32_t)secondary_entry, (uint32_t)b);
}

int32_t system_reset(void)
{
    return psci_call(PSCI_SYSTEM_RESET, 0, 0, 0);
}

uint64_t deadline_ms(uint32_t ms)
{
    return cntvct() + (uint64_t)(cntfrq() / 1000u) * ms;
}

uint32_t wait_flag(volatile uint32_t *flag, uint32_t ms)
{
    uint64_t end = deadline_ms(ms);
    while (!*flag && !passed(end)) {
    }
    return *flag;
}
