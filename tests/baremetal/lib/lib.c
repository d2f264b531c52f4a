/*
 * UART output, check bookkeeping, semihosting exit, exception reporting and
 * cache maintenance shared by every test program.
 */
#include "bm.h"

/* ---------------------------------------------------------------- UART */

#define UARTDR   (*(volatile uint32_t *)(UART_BASE + 0x00))
#define UARTFR   (*(volatile uint32_t *)(UART_BASE + 0x18))
#define UARTCR   (*(volatile uint32_t *)(UART_BASE + 0x30))
#define FR_TXFF  (1u << 5)

void uart_init(void)
{
    UARTCR = 0x301; /* UARTEN | TXE | RXE */
}

void uart_putc(char c)
{
    if (c == '\n') {
        uart_putc('\r');
    }
    while (UARTFR & FR_TXFF) {
    }
    UARTDR = (uint8_t)c;
}

static void put_num(uint64_t v, unsigned base, int width, int zero, int neg)
{
    char buf[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg) {
        buf[n++] = '-';
    }
    while (n < width) {
        uart_putc(zero ? '0' : ' ');
        width--;
    }
    while (n) {
        uart_putc(buf[--n]);
    }
}

void vpr(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            uart_putc(*fmt);
            continue;
        }
        fmt++;
        int zero = 0, width = 0, longs = 0;
        if (*fmt == '0') {
            zero = 1;
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            while (*s) {
                uart_putc(*s++);
            }
            break;
        }
        case 'c':
            uart_putc((char)va_arg(ap, int));
            break;
        case 'd': {
            int32_t v = va_arg(ap, int32_t);
            put_num(v < 0 ? -(int64_t)v : v, 10, width, zero, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t);
            put_num(v, *fmt == 'x' ? 16 : 10, width, zero, 0);
            break;
        }
        case '%':
            uart_putc('%');
            break;
        default:
            uart_putc('?');
            break;
        }
    }
}

void pr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpr(fmt, ap);
    va_end(ap);
}

/* -------------------------------------------------------------- checks */

#define MAX_FAIL_LINES 5

unsigned total_failures;
static char cur_name[96];
static unsigned cur_n, cur_bad;

static void fmt_into(char *dst, size_t size, const char *fmt, va_list ap)
{
    /* a tiny formatter for check names: %s %x %u only */
    size_t n = 0;
    for (; *fmt && n + 1 < size; fmt++) {
        if (*fmt != '%') {
            dst[n++] = *fmt;
            continue;
        }
        fmt++;
        if (*fmt == 's') {
            const char *s = va_arg(ap, const char *);
            while (*s && n + 1 < size) {
                dst[n++] = *s++;
            }
        } else if (*fmt == 'x' || *fmt == 'u') {
            uint32_t v = va_arg(ap, uint32_t);
            unsigned base = *fmt == 'x' ? 16 : 10;
            char tmp[12];
            int t = 0;
            do {
                unsigned d = v % base;
                tmp[t++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
                v /= base;
            } while (v);
            while (t && n + 1 < size) {
                dst[n++] = tmp[--t];
            }
        }
    }
    dst[n] = 0;
}

void begin(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fmt_into(cur_name, sizeof(cur_name), fmt, ap);
    va_end(ap);
    cur_n = 0;
    cur_bad = 0;
}

static void mismatch(const char *where, uint32_t arg)
{
    cur_bad++;
    if (cur_bad > MAX_FAIL_LINES) {
        return;
    }
    pr("FAIL %s", cur_name);
    if (where) {
        pr(" (");
        pr(where, arg);
        pr(")");
    }
    pr(": got ");
}

int eq32(uint32_t got, uint32_t exp, const char *where, uint32_t arg)
{
    cur_n++;
    if (got == exp) {
        return 1;
    }
    mismatch(where, arg);
    if (cur_bad <= MAX_FAIL_LINES) {
        pr("0x%08x expected 0x%08x\n", got, exp);
    }
    return 0;
}

int eq64(uint64_t got, uint64_t exp, const char *where, uint32_t arg)
{
    cur_n++;
    if (got == exp) {
        return 1;
    }
    mismatch(where, arg);
    if (cur_bad <= MAX_FAIL_LINES) {
        pr("0x%016llx expected 0x%016llx\n", got, exp);
    }
    return 0;
}

int end(void)
{
    if (cur_bad) {
        total_failures++;
        if (cur_bad > MAX_FAIL_LINES) {
            pr("FAIL %s: %u of %u comparisons failed\n", cur_name, cur_bad, cur_n);
        }
        return 0;
    }
    if (cur_n == 1) {
        pr("ok %s\n", cur_name);
    } else {
        pr("ok %s [%u]\n", cur_name, cur_n);
    }
    return 1;
}

int check32(const char *name, uint32_t got, uint32_t exp)
{
    begin("%s", name);
    eq32(got, exp, 0, 0);
    return end();
}

void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pr("note ");
    vpr(fmt, ap);
    pr("\n");
    va_end(ap);
}

/* ---------------------------------------------------------- semihosting */

#define SYS_EXIT                       0x18
#define ADP_Stopped_ApplicationExit    0x20026
#define ADP_Stopped_RunTimeErrorUnknown 0x20023

void sys_exit(int failed)
{
    register uint32_t r0 __asm__("r0") = SYS_EXIT;
    register uint32_t r1 __asm__("r1") =
        failed ? ADP_Stopped_RunTimeErrorUnknown : ADP_Stopped_ApplicationExit;
    __asm__ volatile("svc 0x123456" : "+r"(r0) : "r"(r1) : "memory");
    /* only reached if semihosting is off: the SVC vector reported it */
    for (;;) {
        __asm__ volatile("wfi");
    }
}

void finish(const char *name)
{
    if (total_failures == 0) {
        pr("PASS %s\n", name);
        sys_exit(0);
    }
    pr("FAIL %s: %u check(s) failed\n", name, total_failures);
    sys_exit(1);
}

/* ----------------------------------------------------------- exceptions */

volatile struct fault flt;

void fault_arm(void)
{
    flt.count = 0;
    flt.kind = flt.fsr = flt.far = flt.pc = flt.mode = 0;
    __asm__ volatile("" ::: "memory");
    flt.armed = 1;
    __asm__ volatile("" ::: "memory");
}

unsigned fault_disarm(void)
{
    __asm__ volatile("" ::: "memory");
    flt.armed = 0;
    return flt.count;
}

uint32_t fsr_status(uint32_t fsr)
{
    if (fsr & (1u << 9)) {           /* LPAE: long-descriptor format */
        return fsr & 0x3f;
    }
    return ((fsr >> 6) & 0x10) | (fsr & 0xf);
}

static const char *mode_name(uint32_t m)
{
    switch (m) {
    case 0x10: return "usr";
    case 0x13: return "svc";
    case 0x17: return "abt";
    case 0x1b: return "und";
    case 0x1f: return "sys";
    default:   return "?";
    }
}

void check_dabort(const char *name, uint32_t fs, uint32_t wnr, uint32_t far)
{
    unsigned n = fault_disarm();
    uint32_t got_fs = fsr_status(flt.fsr), got_wnr = (flt.fsr >> 11) & 1;
    begin("%s", name);
    eq32(n, 1, "number of aborts", 0);
    if (n) {
        eq32(flt.kind, EXC_DABT, "exception kind", 0);
        eq32(got_fs, fs, "fault status", 0);
        eq32(got_wnr, wnr, "WnR", 0);
        eq32(flt.far, far, "DFAR", 0);
    }
    if (cur_bad == 0) {
        pr("ok %s: data abort fs=0x%02x wnr=%u far=0x%08x from %s\n", name,
           got_fs, got_wnr, flt.far, mode_name(flt.mode));
        return;
    }
    end();
}

void check_nofault(const char *name)
{
    unsigned n = fault_disarm();
    begin("%s", name);
    if (!eq32(n, 0, "number of aborts", 0)) {
        pr("FAIL %s: unexpected fault fsr=0x%08x far=0x%08x\n", name, flt.fsr,
           flt.far);
    }
    end();
}

struct frame {
    uint32_t r[13];
    uint32_t pc; /* address of the faulting instruction; resume address */
};

static const char *const exc_names[] = {
    "reset", "undefined instruction", "svc", "prefetch abort", "data abort",
    "irq", "fiq",
};

/* Called from the vector stubs in start.S, in the exception's mode. */
void exc_handler(uint32_t kind, struct frame *f)
{
    uint32_t spsr, fsr = 0, far = 0;
    __asm__ volatile("mrs %0, spsr" : "=r"(spsr));
    if (kind == EXC_DABT) {
        fsr = get_dfsr();
        far = get_dfar();
    } else if (kind == EXC_PABT) {
        fsr = get_ifsr();
        far = get_ifar();
    } else {
        far = f->pc;
    }
    if (flt.armed && (kind == EXC_DABT || kind == EXC_UND || kind == EXC_PABT)) {
        flt.count++;
        flt.kind = kind;
        flt.fsr = fsr;
        flt.far = far;
        flt.pc = f->pc;
        flt.mode = spsr & 0x1f;
        if (kind == EXC_PABT) {
            /* the interrupted mode's lr still holds the caller's return */
            f->r[0] = FAULT_RET;
            f->pc = (uint32_t)return_to_caller;
        } else {
            f->pc += 4; /* skip the faulting (ARM) instruction */
        }
        return;
    }
    pr("FAIL unexpected %s: fsr=0x%08x far=0x%08x pc=0x%08x mode=%s\n",
       kind < 7 ? exc_names[kind] : "exception", fsr, far, f->pc,
       mode_name(spsr & 0x1f));
    if (kind == EXC_SVC) {
        /* SVC from a privileged mode: semihosting is not enabled */
        pr("FAIL svc reached the vector: is -semihosting-config enable=on set?\n");
        for (;;) {
            __asm__ volatile("wfi");
        }
    }
    sys_exit(1);
}

/* ---------------------------------------------------------------- caches */

uint32_t dcache_line(void)
{
    uint32_t ctr = MRC(0, c0, c0, 1);
    return 4u << ((ctr >> 16) & 0xf);
}

void dcache_clean_range(uint32_t va, uint32_t len)
{
    uint32_t line = dcache_line();
    uint32_t end = va + len;
    for (va &= ~(line - 1); va < end; va += line) {
        dccmvac(va);
    }
    dsb();
}

void dcache_clean_inval_all(void)
{
    uint32_t clidr = MRC(1, c0, c0, 1);
    uint32_t loc = (clidr >> 24) & 7;
    dsb();
    for (uint32_t level = 0; level < loc; level++) {
        uint32_t ctype = (clidr >> (level * 3)) & 7;
        if (ctype < 2) {
            continue; /* no data cache at this level */
        }
        MCR(2, c0, c0, 0, level << 1); /* CSSELR */
        isb();
        uint32_t ccsidr = MRC(1, c0, c0, 0);
        uint32_t line_shift = (ccsidr & 7) + 4;
        uint32_t ways = ((ccsidr >> 3) & 0x3ff) + 1;
        uint32_t sets = ((ccsidr >> 13) & 0x7fff) + 1;
        uint32_t way_shift = ways > 1 ? (uint32_t)__builtin_clz(ways - 1) : 0;
        for (uint32_t w = 0; w < ways; w++) {
            for (uint32_t s = 0; s < sets; s++) {
                MCR(0, c7, c14, 2, (w << way_shift) | (s << line_shift) | (level << 1));
            }
        }
    }
    dsb();
    isb();
}

/* ------------------------------------------------------------------ misc */

void *memset(void *d, int c, size_t n)
{
    volatile uint8_t *p = d;
    while (n--) {
        *p++ = (uint8_t)c;
    }
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    volatile uint8_t *p = d;
    const volatile uint8_t *q = s;
    while (n--) {
        *p++ = *q++;
    }
    return d;
}

static uint32_t rnd_state = 1;

void rnd_seed(uint32_t s)
{
    rnd_state = s ? s : 1;
}

uint32_t rnd(void)
{
    /* xorshift32 */
    uint32_t x = rnd_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rnd_state = x;
    return x;
}

uint32_t pattern(uint32_t seed, uint32_t addr)
{
    uint32_t x = addr * 0x9e3779b1u ^ seed * 0x85ebca6bu;
    x ^= x >> 15;
    x *= 0xc2b2ae35u;
    x ^= x >> 13;
    return x;
}

void fill_words(uint32_t pa, uint32_t len, uint32_t seed)
{
    for (uint32_t a = pa; a < pa + len; a += 4) {
        *(volatile uint32_t *)a = pattern(seed, a);
    }
}
