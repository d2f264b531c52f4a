/*
 * watch: gdbstub watchpoints on a page that the shadow already mirrors.
 *
 * tests.sh runs it under gdb (watch.gdb) as well as on its own.  The program
 * first loads and stores all over one page through an alias section, long
 * enough for ESPT's governor to shadow the address space and mirror the
 * page writable, then calls watch_ready(), where gdb sets a write
 * watchpoint on one word of the page and a read watchpoint on another (at
 * their alias addresses).  From then on every store to the first word and
 * every load of the second must stop in gdb, which prints what it sees;
 * the accesses to the rest of the page in between must not.  After
 * watch_done() gdb deletes both and the program runs to its end, checking
 * its own arithmetic.  If ESPT kept the page mirrored once a watchpoint
 * covers it, the accesses would go through the shadow and gdb would stop
 * fewer times: the outputs would differ from espt=off.
 */
#include "bm.h"

static uint32_t l1[4096] __attribute__((aligned(16384)));

#define ALIAS   0x90000000u   /* a section mapping PA */
#define PA      0x41000000u
#define WR_OFS  0x100u        /* the word gdb watches for stores */
#define RD_OFS  0x104u        /* the word gdb watches for loads */
#define WARMUP  400000
#define ROUNDS  6
#define BETWEEN 20000

/* gdb breaks on these two; noinline and the asm keep the calls. */
void __attribute__((noinline)) watch_ready(void)
{
    __asm__ volatile("" ::: "memory");
}

void __attribute__((noinline)) watch_done(void)
{
    __asm__ volatile("" ::: "memory");
}

/* Loads and stores over the page except the two watched words. */
static uint32_t churn(uint32_t n, uint32_t seed)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ofs = ((i * 0x9e37u + seed) & 0x3fcu) | 0x400u; /* 0x400-0x7fc */
        st32(ALIAS + ofs, i ^ seed);
        sum += ld32(ALIAS + (ofs ^ 0x800u)) ^ i; /* 0xc00-0xffc */
        st32(ALIAS + (ofs ^ 0x800u), sum);
    }
    return sum;
}

int main(void)
{
    sd_identity(l1);
    sd_section(l1, ALIAS, PA, AP_RW, 0);
    mmu_on_short(l1);
    for (uint32_t o = 0; o < PAGE; o += 4) {
        st32(PA + o, 0);
    }
    st32(ALIAS + RD_OFS, 7);

    begin("warm-up through the alias");
    uint32_t warm = churn(WARMUP, 1);
    eq32(ld32(ALIAS + WR_OFS), 0, "watched word before the watchpoints", 0);
    end();

    watch_ready();
    uint32_t sum = 0;
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        sum += churn(BETWEEN, r);
        st32(ALIAS + WR_OFS, r * 111);           /* gdb stops: write */
        sum += ld32(ALIAS + RD_OFS);             /* gdb stops: read */
        st32(ALIAS + RD_OFS, r + 7);             /* no stop: a store */
    }
    watch_done();
    sum += churn(BETWEEN, 99);

    begin("after the watched rounds");
    eq32(ld32(PA + WR_OFS), ROUNDS * 111, "last store through the alias, read at PA", 0);
    eq32(ld32(PA + RD_OFS), ROUNDS + 7, "read-watched word, read at PA", 0);
    end();
    note("checksums: warm-up 0x%x, rounds 0x%x", warm, sum);
    finish("watch");
}
