/*
 * Startup, exception vectors and the USR-mode trampoline.
 *
 * QEMU's virt board enters an ELF -kernel at its entry point in SVC mode
 * with the MMU off.  We set up a stack per mode, point VBAR at our vectors,
 * clear .bss and call main().
 */
    .syntax unified
    .arm

#define MODE_USR 0x10
#define MODE_FIQ 0x11
#define MODE_IRQ 0x12
#define MODE_SVC 0x13
#define MODE_ABT 0x17
#define MODE_UND 0x1b
#define MODE_SYS 0x1f

#define EXC_RESET 0
#define EXC_UND   1
#define EXC_SVC   2
#define EXC_PABT  3
#define EXC_DABT  4
#define EXC_IRQ   5
#define EXC_FIQ   6

/* The first 4 KiB of the image (PA 0x40000000) is a scratch page that
 * tests may overwrite; code starts at 0x40001000. */
    .section .lowpage, "aw"
    .space 4096

    .section .text.start, "ax"
    .global _start
_start:
    cpsid aif
    cps #MODE_ABT
    ldr sp, =abt_stack_top
    cps #MODE_UND
    ldr sp, =und_stack_top
    cps #MODE_IRQ
    ldr sp, =irq_stack_top
    cps #MODE_FIQ
    ldr sp, =irq_stack_top
    cps #MODE_SYS                  /* SYS shares sp with USR */
    ldr sp, =usr_stack_top
    cps #MODE_SVC
    ldr sp, =svc_stack_top

    /* SCTLR: MMU, alignment checks and caches off, low vectors via VBAR */
    mrc p15, 0, r0, c1, c0, 0
    bic r0, r0, #(1 << 0) | (1 << 1) | (1 << 2)
    bic r0, r0, #(1 << 12) | (1 << 13)
    bic r0, r0, #(1 << 25)         /* EE: little-endian exceptions */
    mcr p15, 0, r0, c1, c0, 0
    isb
    ldr r0, =vectors
    mcr p15, 0, r0, c12, c0, 0     /* VBAR */
    isb

    ldr r0, =__bss_start
    ldr r1, =__bss_end
    mov r2, #0
1:  cmp r0, r1
    strlo r2, [r0], #4
    blo 1b

    bl uart_init
    bl main
    bl sys_exit                    /* r0 = main's result (0 = pass) */

/* ------------------------------------------------------------ vectors */
    .text
    .balign 32
vectors:
    b reset_stub
    b und_stub
    b svc_stub
    b pabt_stub
    b dabt_stub
    b .
    b irq_stub
    b fiq_stub

/* Save r0-r12 and the faulting instruction's address, call
 * exc_handler(kind, frame) in the exception's mode, resume at frame->pc. */
.macro STUB name, kind, adjust
\name:
    sub lr, lr, #\adjust
    push {r0-r12, lr}
    mov r0, #\kind
    mov r1, sp
    bl exc_handler
    pop {r0-r12, lr}
    movs pc, lr
.endm

    STUB und_stub,  EXC_UND,  4    /* lr = insn + 4 (ARM state) */
    STUB pabt_stub, EXC_PABT, 4    /* lr = insn + 4 */
    STUB dabt_stub, EXC_DABT, 8    /* lr = insn + 8 */
    STUB irq_stub,  EXC_IRQ,  4
    STUB fiq_stub,  EXC_FIQ,  4
    STUB reset_stub, EXC_RESET, 0

/* ------------------------------------------------------- USR mode */

/* uint32_t run_user(uint32_t (*fn)(uint32_t), uint32_t arg)
 * Runs fn(arg) in USR mode with IRQ/FIQ/async aborts masked.  fn returns to
 * user_return, whose SVC brings us back here with fn's result in r0. */
    .global run_user
run_user:
    push {r4-r12, lr}
    ldr r2, =saved_svc_sp
    str sp, [r2]
    ldr r2, =usr_stack_top
    ldr r3, =user_return
    cps #MODE_SYS
    mov sp, r2
    mov lr, r3
    cps #MODE_SVC
    mov r3, #(MODE_USR | 0x1c0)   /* A, I, F masked */
    msr spsr_cxsf, r3
    mov lr, r0
    mov r0, r1
    movs pc, lr                    /* enter fn in USR mode */

user_return:
    svc #0

svc_stub:
    mrs r12, spsr
    and r12, r12, #0x1f
    cmp r12, #MODE_USR
    bne 1f
    ldr r12, =saved_svc_sp         /* USR code finished: back to run_user's caller */
    ldr sp, [r12]
    pop {r4-r12, pc}
1:  sub lr, lr, #4                 /* SVC from PL1: report it */
    push {r0-r12, lr}
    mov r0, #EXC_SVC
    mov r1, sp
    bl exc_handler
    b .

    .ltorg

/* ------------------------------------------------------------ stacks */
    .bss
    .balign 8
saved_svc_sp:
    .space 8
    .balign 16
    .space 16384
svc_stack_top:
    .space 4096
abt_stack_top:
    .space 4096
und_stack_top:
    .space 1024
irq_stack_top:
    .space 8192
    .global usr_stack_top
usr_stack_top:
