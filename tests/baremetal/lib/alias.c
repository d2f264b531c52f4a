/*
 * Aliasing and page-crossing checks shared by the two MMU format tests.
 * The data always goes in through one virtual address and comes out
 * through another; the physical page is checked through the identity map.
 */
#include "alias.h"

#define REPEAT 3 /* offsets tried per (writer, reader) pair */

/* where-argument: writer index, reader index, page offset */
#define WHERE "writer<<24|reader<<16|offset = 0x%x"
#define ARG(w, r, off) (((uint32_t)(w) << 24) | ((uint32_t)(r) << 16) | (off))

enum kind { K_BYTE, K_HALF, K_WORD, K_DWORD, K_LDM, K_VFP, K_UWORD, K_UHALF, K_MIXED, K_COUNT };

static const char *const kind_name[K_COUNT] = {
    "strb/ldrb/ldrsb", "strh/ldrh/ldrsh", "str/ldr", "strd/ldrd",
    "stm/ldm x8", "vstr/vldr d0", "unaligned str/ldr", "unaligned strh/ldrh/ldrsh",
    "str then ldrb x4",
};

static uint32_t pick_offset(enum kind k)
{
    uint32_t off = rnd() & 0xfc0;                 /* room for 32 bytes */
    switch (k) {
    case K_BYTE:  return off + (rnd() & 31);
    case K_HALF:  return off + (rnd() & 30);
    case K_WORD:
    case K_LDM:   return off + (rnd() & 28);      /* LDM: 8 words still fit */
    case K_DWORD:
    case K_VFP:   return off + (rnd() & 28);      /* word aligned is enough */
    case K_UWORD: return off + 4 * (rnd() & 3) + 1 + rnd() % 3;
    case K_UHALF: return off + (rnd() & 30) + 1;
    default:      return off + (rnd() & 28);
    }
}

static void one(enum kind k, uint32_t wva, uint32_t rva, uint32_t where, uint32_t it)
{
    uint32_t v = rnd();
    /* alternate the sign bits so both extensions are exercised */
    v = (it & 1) ? (v | 0x80008080u) : (v & ~0x80008080u);
    uint64_t v64 = ((uint64_t)rnd() << 32) | v;

    switch (k) {
    case K_BYTE:
        st8(wva, v);
        eq32(ld8(rva), v & 0xff, WHERE, where);
        eq32(lds8(rva), (uint32_t)(int32_t)(int8_t)v, WHERE, where);
        break;
    case K_HALF:
    case K_UHALF:
        st16(wva, v);
        eq32(ld16(rva), v & 0xffff, WHERE, where);
        eq32(lds16(rva), (uint32_t)(int32_t)(int16_t)v, WHERE, where);
        break;
    case K_WORD:
    case K_UWORD:
        st32(wva, v);
        eq32(ld32(rva), v, WHERE, where);
        break;
    case K_DWORD:
        st64(wva, v64);
        eq64(ld64(rva), v64, WHERE, where);
        /* each half on its own, too */
        eq32(ld32(rva), (uint32_t)v64, WHERE, where);
        eq32(ld32(rva + 4), (uint32_t)(v64 >> 32), WHERE, where);
        break;
    case K_VFP:
        vstr64((void *)wva, v64);
        eq64(vldr64((void *)rva), v64, WHERE, where);
        eq64(ld64(rva), v64, WHERE, where);
        break;
    case K_LDM: {
        uint32_t in[8], out[8];
        for (int i = 0; i < 8; i++) {
            in[i] = v ^ (0x01010101u * (uint32_t)i) ^ rnd();
        }
        stm8((void *)wva, in);
        ldm8((void *)rva, out);
        for (int i = 0; i < 8; i++) {
            eq32(out[i], in[i], WHERE, where + 4 * (uint32_t)i);
            eq32(ld32(rva + 4 * (uint32_t)i), in[i], WHERE, where + 4 * (uint32_t)i);
        }
        break;
    }
    case K_MIXED:
        st32(wva, v);
        for (uint32_t i = 0; i < 4; i++) {
            eq32(ld8(rva + i), (v >> (8 * i)) & 0xff, WHERE, where + i);
        }
        break;
    default:
        break;
    }
}

void alias_suite(const struct alias *al, int n)
{
    pr("# aliases of one physical page:");
    for (int i = 0; i < n; i++) {
        pr(" %s=0x%08x", al[i].name, al[i].va);
    }
    pr("\n");

    rnd_seed(0x1234567);
    for (int k = 0; k < K_COUNT; k++) {
        begin("alias %s", kind_name[k]);
        uint32_t it = 0;
        for (int w = 0; w < n; w++) {
            for (int r = 0; r < n; r++) {
                if (r == w) {
                    continue;
                }
                for (int rep = 0; rep < REPEAT; rep++, it++) {
                    uint32_t off = pick_offset((enum kind)k);
                    one((enum kind)k, al[w].va + off, al[r].va + off, ARG(w, r, off), it);
                }
            }
        }
        end();
    }
}

/* ------------------------------------------------------------ crossing */

#define WIN 40 /* bytes modelled on each side of the boundary */

static uint32_t c_va_b, c_pa_lo, c_pa_hi;
static uint8_t model[2 * WIN];

static uint32_t phys(uint32_t va)
{
    if (va < c_va_b) {
        return c_pa_lo + PAGE - (c_va_b - va);
    }
    return c_pa_hi + (va - c_va_b);
}

static void model_load(void)
{
    for (uint32_t i = 0; i < 2 * WIN; i++) {
        model[i] = (uint8_t)ld8(phys(c_va_b - WIN + i));
    }
}

static void model_put(uint32_t va, uint64_t v, uint32_t size)
{
    for (uint32_t i = 0; i < size; i++) {
        model[va - (c_va_b - WIN) + i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t model_get(uint32_t va, uint32_t size)
{
    uint64_t v = 0;
    for (uint32_t i = size; i-- > 0;) {
        v = (v << 8) | model[va - (c_va_b - WIN) + i];
    }
    return v;
}

/* every modelled byte, read back through the identity map */
static void model_verify(void)
{
    for (uint32_t i = 0; i < 2 * WIN; i++) {
        uint32_t va = c_va_b - WIN + i;
        eq32(ld8(phys(va)), model[i], "physical byte behind va 0x%x", va);
    }
}

void cross_suite(const char *name, uint32_t va_b, uint32_t pa_lo, uint32_t pa_hi)
{
    c_va_b = va_b;
    c_pa_lo = pa_lo;
    c_pa_hi = pa_hi;
    fill_words(pa_lo, PAGE, va_b);
    fill_words(pa_hi, PAGE, ~va_b);
    /* the physical neighbours must not be touched by crossing stores */
    uint32_t nb_lo = pa_lo + PAGE;
    uint32_t nb_hi = pa_hi > RAM_BASE ? pa_hi - 4 : pa_hi + PAGE;
    uint32_t nb_lo_v = ld32(nb_lo), nb_hi_v = ld32(nb_hi);
    rnd_seed(va_b);

    begin("cross %s: loads", name);
    model_load();
    for (uint32_t d = 1; d <= 3; d++) {
        uint32_t va = va_b - d;
        eq32(ld32(va), (uint32_t)model_get(va, 4), "ldr at 0x%x", va);
    }
    eq32(ld16(va_b - 1), (uint32_t)model_get(va_b - 1, 2), "ldrh at 0x%x", va_b - 1);
    eq32(lds16(va_b - 1), (uint32_t)(int32_t)(int16_t)model_get(va_b - 1, 2),
         "ldrsh at 0x%x", va_b - 1);
    eq64(ld64(va_b - 4), model_get(va_b - 4, 8), "ldrd at 0x%x", va_b - 4);
    eq64(vldr64((void *)(va_b - 4)), model_get(va_b - 4, 8), "vldr at 0x%x", va_b - 4);
    for (uint32_t d = 4; d <= 28; d += 12) {
        uint32_t out[8], va = va_b - d;
        ldm8((void *)va, out);
        for (uint32_t i = 0; i < 8; i++) {
            eq32(out[i], (uint32_t)model_get(va + 4 * i, 4), "ldm word at 0x%x", va + 4 * i);
        }
    }
    end();

    begin("cross %s: stores", name);
    for (uint32_t d = 1; d <= 3; d++) {
        uint32_t va = va_b - d, v = rnd();
        st32(va, v);
        model_put(va, v, 4);
        model_verify();
        eq32(ld32(va), v, "ldr after str at 0x%x", va);
    }
    {
        uint32_t va = va_b - 1, v = rnd() | 0x8000;
        st16(va, v);
        model_put(va, v, 2);
        model_verify();
        eq32(lds16(va), (uint32_t)(int32_t)(int16_t)v, "ldrsh after strh at 0x%x", va);
    }
    {
        uint32_t va = va_b - 4;
        uint64_t v = ((uint64_t)rnd() << 32) | rnd();
        st64(va, v);
        model_put(va, v, 8);
        model_verify();
        v = ~v;
        vstr64((void *)va, v);
        model_put(va, v, 8);
        model_verify();
        eq64(ld64(va), v, "ldrd after vstr at 0x%x", va);
    }
    for (uint32_t d = 4; d <= 28; d += 12) {
        uint32_t in[8], va = va_b - d;
        for (int i = 0; i < 8; i++) {
            in[i] = rnd();
        }
        stm8((void *)va, in);
        for (uint32_t i = 0; i < 8; i++) {
            model_put(va + 4 * i, in[i], 4);
        }
        model_verify();
    }
    eq32(ld32(nb_lo), nb_lo_v, "untouched neighbour PA 0x%x", nb_lo);
    eq32(ld32(nb_hi), nb_hi_v, "untouched neighbour PA 0x%x", nb_hi);
    end();
}
