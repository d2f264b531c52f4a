/* Multi-register and VFP accesses used by several tests, each done by
 * exactly one load/store instruction. */
    .syntax unified
    .arm
    .fpu neon
    .text

/* void ldm8(const void *src, uint32_t out[8]) */
    .global ldm8
ldm8:
    push {r4-r11}
    ldr r2, =0x5e17e1              /* SENTINEL, kept if the LDM is skipped */
    mov r3, r2
    mov r4, r2
    mov r5, r2
    mov r6, r2
    mov r7, r2
    mov r8, r2
    mov r9, r2
    ldmia r0, {r2-r9}
    str r2, [r1]
    str r3, [r1, #4]
    str r4, [r1, #8]
    str r5, [r1, #12]
    str r6, [r1, #16]
    str r7, [r1, #20]
    str r8, [r1, #24]
    str r9, [r1, #28]
    pop {r4-r11}
    bx lr

/* void stm8(void *dst, const uint32_t in[8]) */
    .global stm8
stm8:
    push {r4-r11}
    ldr r2, [r1]
    ldr r3, [r1, #4]
    ldr r4, [r1, #8]
    ldr r5, [r1, #12]
    ldr r6, [r1, #16]
    ldr r7, [r1, #20]
    ldr r8, [r1, #24]
    ldr r9, [r1, #28]
    stmia r0, {r2-r9}
    pop {r4-r11}
    bx lr

/* void fpu_enable(void) */
    .global fpu_enable
fpu_enable:
    mrc p15, 0, r0, c1, c0, 2      /* CPACR: full access to cp10/cp11 */
    orr r0, r0, #(0xf << 20)
    mcr p15, 0, r0, c1, c0, 2
    isb
    mov r0, #(1 << 30)             /* FPEXC.EN */
    vmsr fpexc, r0
    bx lr

/* Where a prefetch abort of a called function resumes (see fault_arm). */
    .global return_to_caller
return_to_caller:
    bx lr

/* uint64_t vldr64(const void *p) */
    .global vldr64
vldr64:
    ldr r2, =0x5e17e1
    mov r3, #0
    vmov d0, r2, r3
    vldr d0, [r0]
    vmov r0, r1, d0
    bx lr

/* void vstr64(void *p, uint64_t v)   (v arrives in r2:r3) */
    .global vstr64
vstr64:
    vmov d0, r2, r3
    vstr d0, [r0]
    bx lr

    .ltorg
