/* Arguments, mappings and the final line of the microbenchmarks. */
#include "bench.h"

#define SYS_GET_CMDLINE 0x15

static char cmdline[256];
static int hold;

static uint32_t semihost(uint32_t op, void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("svc 0x123456" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int bench_args(char **argv, int max)
{
    struct { char *buf; uint32_t len; } blk = {cmdline, sizeof(cmdline) - 1};
    int argc = 0;
    if (semihost(SYS_GET_CMDLINE, &blk) != 0) {
        return 0;
    }
    cmdline[blk.len < sizeof(cmdline) ? blk.len : sizeof(cmdline) - 1] = 0;
    char *p = cmdline;
    while (*p && argc < max) {
        while (*p == ' ') {
            *p++ = 0;
        }
        if (!*p) {
            break;
        }
        argv[argc++] = p;
        while (*p && *p != ' ') {
            p++;
        }
    }
    if (argc > 1 && bench_streq(argv[argc - 1], "hold")) {
        hold = 1;
        argc--;
    }
    return argc;
}

uint32_t bench_num(const char *s)
{
    uint32_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint32_t)(*s++ - '0');
    }
    if (*s == 'K' || *s == 'k') {
        v <<= 10;
    } else if (*s == 'M' || *s == 'm') {
        v <<= 20;
    }
    return v;
}

uint32_t bench_arg(int argc, char **argv, int i, uint32_t def)
{
    return i < argc ? bench_num(argv[i]) : def;
}

int bench_streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

void bench_identity(uint32_t *l1)
{
    for (uint32_t a = RAM_BASE; a < BENCH_RAM_END; a += MIB) {
        sd_section(l1, a, a, AP_RW, 0);
    }
    sd_section(l1, UART_BASE, UART_BASE, AP_PRW, M_DEVICE | M_XN);
    sd_section(l1, VIRTIO_BASE, VIRTIO_BASE, AP_PRW, M_DEVICE | M_XN);
}

void bench_map_pages(uint32_t *l1, uint32_t (*l2)[256], uint32_t va, uint32_t pa,
                     uint32_t len, uint32_t fl)
{
    for (uint32_t off = 0; off < len; off += PAGE) {
        uint32_t v = va + off;
        uint32_t *t = l2[(v - WS_VA) >> 20];
        if ((off & (MIB - 1)) == 0 || off == 0) {
            sd_table(l1, v, t, 0);
        }
        sd_page(t, v, pa + off, AP_RW, fl);
    }
}

void bench_done(const char *name, const char *what, uint32_t sum)
{
    pr("%s: %s checksum 0x%08x\n", name, what, sum);
    if (hold) {
        /* ci/bench --profile: stay alive (halted) for the monitor */
        for (;;) {
            __asm__ volatile("wfi" ::: "memory");
        }
    }
    sys_exit(0);
}
