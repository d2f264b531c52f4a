#!/usr/bin/env python3
"""Generate one random bare-metal ARMv7-A program for differential testing.

    gen.py SEED [--keep I,J,...] [--ops N] > prog.c
    gen.py SEED --count            number of operations of SEED's program

The program (C with inline assembly, built against tests/baremetal/lib)
performs a random sequence of operations drawn from page-table edits (short
and long descriptors, every kind of entry), TLB maintenance (every
operation, and sometimes none), ASID, TTBR0 and DACR switches, loads and
stores of every size from PL1, with LDRT/STRT and from USR mode, faults
included, exclusives, and self-modifying code.  Every value read and every
abort is printed and folded into a running checksum, so the console output
of espt=off and espt=on must be identical byte for byte.

The generator keeps a model of the translation tables and of what the TLB
may hold (every entry that a walk could have cached since its last
invalidation, by ASID, for the data and the instruction side) and only
emits an access whose outcome is architecturally determined: all that the
TLB may hold for its address agrees with the tables.  Edits made without
maintenance are kept, and the program then stays off the addresses whose
translation they left open.  The model also predicts each outcome (value,
fault status, address); the program prints "MODEL" where QEMU disagrees,
which with espt=off means the generator is wrong (or QEMU is).

With --keep, only the listed operations are emitted (the runner's test-case
minimisation).  The others are replayed through the model as if absent, and
a kept operation that has become undetermined or unsafe in the smaller
program is dropped (a comment says so).
"""

import argparse
import random
import sys

M32 = 0xFFFFFFFF
PAGE = 0x1000
MIB = 0x100000
SENTINEL = 0x5E17E1
EXC_PABT, EXC_DABT = 3, 4
G = -1                                  # tag of a global TLB entry

# ---------------------------------------------------------------- layout
POOL_LO, POOL_HI = 0x41000000, 0x43000000   # physical memory the ops may touch
RAM_LO, RAM_HI = 0x40000000, 0x50000000
CODE_PAGES = (0x41002000, 0x42001000)       # code at [0, 0x800), data above
SLOT = 0x40
NSLOTS = 0x800 // SLOT
UART = 0x09000000
PL011_ID = (0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1)
HOT_MIB = (0x41000000, 0x41100000, 0x42000000, 0x42100000)
NSPACES = 3

# short descriptors: two 16 MiB groups of first-level entries
S_GROUPS = (0x80000000, 0x81000000)
S_TBL_L1 = (0x800, 0x801, 0x80F, 0x810, 0x811)   # entries that may point to a table
S_SMALL = (0, 1, 2, 3, 4, 0x10, 0x11, 0x1F, 0x20, 0xFF)
S_LARGE = (0x00, 0x10, 0xF0)
# long descriptors: first-level entries 2 and 3 (0x80000000, 0xc0000000)
L_L1 = (2, 3)
L_L2 = (0, 1, 2, 3, 8, 511)
L_TBL_L2 = (0, 1, 511)
L_L3 = (0, 1, 2, 3, 15, 16, 17, 255, 511)

INV = ('F', 0)
DEFAULT_OPS = 600


def pattern(seed, addr):
    """lib.c pattern(): the initial contents of every word of the pool."""
    x = ((addr * 0x9E3779B1) & M32) ^ ((seed * 0x85EBCA6B) & M32)
    x ^= x >> 15
    x = (x * 0xC2B2AE35) & M32
    x ^= x >> 13
    return x


def movw(rd, imm):
    return 0xE3000000 | ((imm >> 12) & 0xF) << 16 | rd << 12 | (imm & 0xFFF)


def movt(rd, imm):
    return 0xE3400000 | ((imm >> 12) & 0xF) << 16 | rd << 12 | (imm & 0xFFF)


BX_LR = 0xE12FFF1E


def sext(v, bits):
    v &= (1 << bits) - 1
    return (v - (1 << bits)) & M32 if v >> (bits - 1) else v


def hx(v):
    return '0x%08x' % (v & M32)


# ------------------------------------------------------------ instructions
# name: size, store, signed, alignment with SCTLR.A=0, with SCTLR.A=1,
#       checked against user permissions from PL1 (LDRT/STRT family)
INS = {
    'ldrb': (1, 0, 0, 1, 1, 0), 'ldrsb': (1, 0, 1, 1, 1, 0),
    'ldrh': (2, 0, 0, 1, 2, 0), 'ldrsh': (2, 0, 1, 1, 2, 0),
    'ldr': (4, 0, 0, 1, 4, 0), 'ldrd': (8, 0, 0, 4, 4, 0),
    'ldm': (32, 0, 0, 4, 4, 0), 'vldr': (8, 0, 0, 4, 4, 0),
    'ldrt': (4, 0, 0, 1, 4, 1), 'ldrbt': (1, 0, 0, 1, 1, 1),
    'ldrht': (2, 0, 0, 1, 2, 1), 'ldrsbt': (1, 0, 1, 1, 1, 1),
    'ldrsht': (2, 0, 1, 1, 2, 1),
    'ldrex': (4, 0, 0, 4, 4, 0), 'ldrexb': (1, 0, 0, 1, 1, 0),
    'ldrexh': (2, 0, 0, 2, 2, 0), 'ldrexd': (8, 0, 0, 8, 8, 0),
    'strb': (1, 1, 0, 1, 1, 0), 'strh': (2, 1, 0, 1, 2, 0),
    'str': (4, 1, 0, 1, 4, 0), 'strd': (8, 1, 0, 4, 4, 0),
    'stm': (32, 1, 0, 4, 4, 0), 'vstr': (8, 1, 0, 4, 4, 0),
    'strt': (4, 1, 0, 1, 4, 1), 'strbt': (1, 1, 0, 1, 1, 1),
    'strht': (2, 1, 0, 1, 2, 1),
    'vld1': (32, 0, 0, 1, 1, 0), 'vst1': (32, 1, 0, 1, 4, 0),
}
BE_INS = ('ldrh', 'ldrsh', 'ldr', 'ldrd', 'strh', 'str', 'strd')
PL1_INS = sorted(INS)
USR_INS = ('ldrb', 'ldrsb', 'ldrh', 'ldrsh', 'ldr', 'ldrd', 'ldm',
           'strb', 'strh', 'str', 'strd', 'stm')
BURST_INS = ('ldr', 'ldrb', 'ldrh', 'ldrsb', 'ldrsh', 'str', 'strb', 'strh',
             'ldrt', 'strt')
# C for one PL1 access: %A the address, %V the value (stores)
C_LOAD = {
    'ldrb': 'ld8', 'ldrsb': 'lds8', 'ldrh': 'ld16', 'ldrsh': 'lds16',
    'ldr': 'ld32', 'ldrt': 'ldt32', 'ldrbt': 'ldtb8', 'ldrht': 'ldth16',
    'ldrsbt': 'ldtsb8', 'ldrsht': 'ldtsh16', 'ldrex': 'ldrex32',
    'ldrexb': 'ldrexb8', 'ldrexh': 'ldrexh16',
}
C_STORE = {'strb': 'st8', 'strh': 'st16', 'str': 'st32', 'strt': 'stt32',
           'strbt': 'sttb8', 'strht': 'stth16'}

# loads and stores that write their base back: model instruction, where
# the access is (relative to the base), what the base becomes, the asm
WB = {
    'ldr_post': ('ldr', 0, 1, 'ldr %[x0], [%[b]], #OFF'),
    'ldr_pre': ('ldr', 1, 1, 'ldr %[x0], [%[b], #OFF]!'),
    'ldrb_post': ('ldrb', 0, 1, 'ldrb %[x0], [%[b]], #OFF'),
    'ldrsh_pre': ('ldrsh', 1, 1, 'ldrsh %[x0], [%[b], #OFF]!'),
    'ldrt_post': ('ldrt', 0, 1, 'ldrt %[x0], [%[b]], #OFF'),
    'str_post': ('str', 0, 1, 'str %[y0], [%[b]], #OFF'),
    'str_pre': ('str', 1, 1, 'str %[y0], [%[b], #OFF]!'),
    'strh_pre': ('strh', 1, 1, 'strh %[y0], [%[b], #OFF]!'),
    'strt_post': ('strt', 0, 1, 'strt %[y0], [%[b]], #OFF'),
    'ldrd_pre': ('ldrd', 1, 1, 'ldrd %[d0], %H[d0], [%[b], #OFF]!'),
    'ldm_wb': ('ldrd', 0, 8, 'ldmia %[b]!, {r2, r3}\\n\\tmov %[x0], r2\\n\\tmov %[x1], r3'),
    'stmdb_wb': ('strd', -8, -8, 'mov r2, %[y0]\\n\\tmov r3, %[y1]\\n\\tstmdb %[b]!, {r2, r3}'),
}

TLBI = {   # name: (crm, opc2, kind, sides)
    'TLBIALL': (7, 0, 'all', 'DI'), 'TLBIMVA': (7, 1, 'mva', 'DI'),
    'TLBIASID': (7, 2, 'asid', 'DI'), 'TLBIMVAA': (7, 3, 'mvaa', 'DI'),
    'TLBIALLIS': (3, 0, 'all', 'DI'), 'TLBIMVAIS': (3, 1, 'mva', 'DI'),
    'TLBIASIDIS': (3, 2, 'asid', 'DI'), 'TLBIMVAAIS': (3, 3, 'mvaa', 'DI'),
    'ITLBIALL': (5, 0, 'all', 'I'), 'ITLBIMVA': (5, 1, 'mva', 'I'),
    'ITLBIASID': (5, 2, 'asid', 'I'),
    'DTLBIALL': (6, 0, 'all', 'D'), 'DTLBIMVA': (6, 1, 'mva', 'D'),
    'DTLBIASID': (6, 2, 'asid', 'D'),
}


# ------------------------------------------------------------------ memory
class Mem:
    """The pool's contents, page by page, from the first touch on; and the
    code slots (constant returned, instruction-side synchronisation)."""

    def __init__(self, seed):
        self.seed = seed & M32
        self.pages = {}
        self.slots = {}
        for cp in CODE_PAGES:
            self.page(cp)

    def page(self, base):
        p = self.pages.get(base)
        if p is None:
            p = bytearray(PAGE)
            for off in range(0, PAGE, 4):
                p[off:off + 4] = pattern(self.seed, base + off).to_bytes(4, 'little')
            if base in CODE_PAGES:
                for i in range(NSLOTS):
                    pa = base + i * SLOT
                    k = pattern(self.seed ^ 0x5EED, pa)
                    self._code(p, i * SLOT, k)
                    self.slots[pa] = [k, True, set()]
            self.pages[base] = p
        return p

    @staticmethod
    def _code(p, off, k):
        for i, w in enumerate((movw(0, k & 0xFFFF), movt(0, k >> 16), BX_LR)):
            p[off + 4 * i:off + 4 * i + 4] = w.to_bytes(4, 'little')

    def read(self, segs):
        out = b''
        for pa, n in segs:
            p = self.page(pa & ~0xFFF)
            out += bytes(p[pa & 0xFFF:(pa & 0xFFF) + n])
        return out

    def write(self, segs, data):
        i = 0
        for pa, n in segs:
            p = self.page(pa & ~0xFFF)
            p[pa & 0xFFF:(pa & 0xFFF) + n] = data[i:i + n]
            i += n

    def word(self, pa):
        return int.from_bytes(self.read([(pa, 4)]), 'little')


def is_code(pa):
    return (pa & ~0xFFF) in CODE_PAGES and (pa & 0xFFF) < 0x800


def is_slot(pa):
    return is_code(pa) and pa % SLOT == 0


# ------------------------------------------------------------------- TLB
class TLB:
    """Everything one side of the TLB may hold: leaf entries
    ('L', tag, va, size, pa, perm) and cached table walks
    ('W', tag, va, size, tid, ctx), bucketed by MiB."""

    def __init__(self):
        self.b = {}
        self.big = set()

    def add(self, e):
        if e[3] > 16 * MIB:
            self.big.add(e)
        else:
            for m in range(e[2] >> 20, (e[2] + e[3] - 1 >> 20) + 1):
                self.b.setdefault(m, set()).add(e)

    def lookup(self, va):
        return [e for e in self.b.get(va >> 20, ()) if e[2] <= va < e[2] + e[3]] + \
               [e for e in self.big if e[2] <= va < e[2] + e[3]]

    def remove_if(self, pred):
        for m in list(self.b):
            self.b[m] = {e for e in self.b[m] if not pred(e)}
        self.big = {e for e in self.big if not pred(e)}

    def clear(self):
        self.b = {}
        self.big = set()


# ----------------------------------------------------------------- model
class Model:
    """Translation tables, the possible TLB contents and the CPU state of
    one phase (one descriptor format)."""

    def __init__(self, fmt, mem, asids):
        self.fmt = fmt
        self.mem = mem
        self.tab = {}
        for s in range(NSPACES):
            if fmt == 'short':
                self.tab['s1.%d' % s] = {}
                for k in range(len(S_TBL_L1)):
                    self.tab['s2.%d.%d' % (s, k)] = {}
            else:
                self.tab['l1.%d' % s] = {}
                for j in range(len(L_L1)):
                    self.tab['l2.%d.%d' % (s, j)] = {}
                    for k in range(len(L_TBL_L2)):
                        self.tab['l3.%d.%d.%d' % (s, j, k)] = {}
        self.afe = False            # SCTLR.AFE (short descriptors)
        self.asid_of = list(asids)
        self.cur = 0
        self.cur_asid = asids[0]
        self.dacr = 0x55555555
        self.align = False
        self.tlb = {'D': TLB(), 'I': TLB()}
        # --avoid-known: code run lately, by (address space, address), with
        # the translation it ran under; see Emitter.op_exec
        self.ran = {}

    # -- table walks ------------------------------------------------------
    def walk(self, s, va):
        """('leaf', va_base, size, pa_base, perm, ng) or ('fault', ...)"""
        if RAM_LO <= va < RAM_HI:           # the fixed identity map
            if self.fmt == 'short':
                return ('leaf', va & ~0xFFFFF, MIB, va & ~0xFFFFF, ('s', 3, 0, 0, 0, 1), 0)
            return ('leaf', RAM_LO, 1 << 30, RAM_LO, ('l', 1, 0, 0, 1), 0)
        if UART <= va < UART + MIB:
            if self.fmt == 'short':
                return ('leaf', UART, MIB, UART, ('s', 1, 1, 0, 0, 1), 0)
            return ('leaf', UART, 2 * MIB, UART, ('l', 0, 1, 1, 2), 0)
        if self.fmt == 'short':
            d = self.tab['s1.%d' % s].get(va >> 20, INV)
            if d[0] == 'S':
                return ('leaf', va & ~0xFFFFF, MIB, d[1], ('s', d[2], d[5], d[6], d[4], 1), d[3])
            if d[0] == 'SS':
                return ('leaf', va & ~0xFFFFFF, 16 * MIB, d[1], ('s', d[2], d[4], d[5], 0, 1), d[3])
            if d[0] == 'T':
                return self.walk_l2(d[1], d[2], va)
            return ('fault', 'trans', 1, 0)
        d = self.tab['l1.%d' % s].get(va >> 30, INV)
        return self.lp_level(d, 1, va, (0, 0, 0))

    def walk_l2(self, tid, dom, va):
        e = self.tab[tid].get((va >> 12) & 0xFF, INV)
        if e[0] == 'P':
            return ('leaf', va & ~0xFFF, PAGE, e[1], ('s', e[2], e[4], 0, dom, 0), e[3])
        if e[0] == 'L':
            return ('leaf', va & ~0xFFFF, 0x10000, e[1], ('s', e[2], e[4], 0, dom, 0), e[3])
        return ('fault', 'trans', 2, dom)

    @staticmethod
    def lp_index(level, va):
        return (va >> 30) if level == 1 else (va >> 21) & 511 if level == 2 else (va >> 12) & 511

    def lp_level(self, d, level, va, attrs):
        if d[0] == 'B':
            _, pa, ap, ng, xn, pxn, af = d
            if not af:
                return ('fault', 'af', level)
            apt, xnt, pxnt = attrs
            if apt & 1:
                ap &= ~1
            if apt & 2:
                ap |= 2
            size = 1 << (30 if level == 1 else 21 if level == 2 else 12)
            return ('leaf', va & ~(size - 1), size, pa,
                    ('l', ap, xn | xnt, pxn | pxnt, level), ng)
        if d[0] == 'T' and level < 3:
            _, tid, apt, xnt, pxnt = d
            a = (attrs[0] | apt, attrs[1] | xnt, attrs[2] | pxnt)
            nxt = self.tab[tid].get(self.lp_index(level + 1, va), INV)
            return self.lp_level(nxt, level + 1, va, a)
        return ('fault', 'trans', level)

    def walk_from(self, w, va):
        """The walk that a cached table entry w leads to, for va."""
        if self.fmt == 'short':
            return self.walk_l2(w[4], w[5], va)
        level, attrs = w[5]
        nxt = self.tab[w[4]].get(self.lp_index(level + 1, va), INV)
        return self.lp_level(nxt, level + 1, va, attrs)

    def walk_all(self, s):
        """Every leaf and table entry of space s a walk can reach."""
        leaves, walks = [], []
        if self.fmt == 'short':
            for i, d in self.tab['s1.%d' % s].items():
                va = i << 20
                if d[0] == 'S':
                    leaves.append((va, MIB, d[1], ('s', d[2], d[5], d[6], d[4], 1), d[3]))
                elif d[0] == 'SS':
                    leaves.append((va & ~0xFFFFFF, 16 * MIB, d[1], ('s', d[2], d[4], d[5], 0, 1), d[3]))
                elif d[0] == 'T':
                    walks.append((va, MIB, d[1], d[2]))
                    for j, e in self.tab[d[1]].items():
                        if e[0] == 'P':
                            leaves.append((va | j << 12, PAGE, e[1], ('s', e[2], e[4], 0, d[2], 0), e[3]))
                        elif e[0] == 'L':
                            leaves.append((va | (j & 0xF0) << 12, 0x10000, e[1],
                                           ('s', e[2], e[4], 0, d[2], 0), e[3]))
            return leaves, walks

        def rec(tid, level, base, attrs):
            for i, d in self.tab[tid].items():
                va = base | i << (30 if level == 1 else 21 if level == 2 else 12)
                if d[0] == 'T' and level < 3:
                    a = (attrs[0] | d[2], attrs[1] | d[3], attrs[2] | d[4])
                    walks.append((va, 1 << (30 if level == 1 else 21), d[1], (level, a)))
                    rec(d[1], level + 1, va, a)
                else:
                    w = self.lp_level(d, level, va, attrs)
                    if w[0] == 'leaf':
                        leaves.append(w[1:])
        rec('l1.%d' % s, 1, 0, (0, 0, 0))
        return leaves, walks

    # -- the TLB --------------------------------------------------------
    def refill(self, asid=None):
        """The current space may be walked (speculatively) at any time."""
        a = self.cur_asid if asid is None else asid
        leaves, walks = self.walk_all(self.cur)
        for t in self.tlb.values():
            for va, size, pa, perm, ng in leaves:
                t.add(('L', a if ng else G, va, size, pa, perm))
            for va, size, tid, ctx in walks:
                t.add(('W', a, va, size, tid, ctx))

    def tlbi(self, name, arg):
        _, _, kind, sides = TLBI[name]
        va, asid = arg & ~0xFFF, arg & 0xFF
        if kind in ('all', 'asid'):
            self.ran = {}       # QEMU flushes its jump cache, ESPT drops its kept ones
        else:                   # only the page named (and the one before) is cleared
            self.ran = {k: r for k, r in self.ran.items() if k[1] & ~0xFFF not in (va, va - PAGE)}
        for side in sides:
            t = self.tlb[side]
            if kind == 'all':
                t.clear()
            elif kind == 'mva':
                t.remove_if(lambda e: e[2] <= va < e[2] + e[3] and
                            (e[1] == asid or (e[0] == 'L' and e[1] == G)))
            elif kind == 'asid':
                t.remove_if(lambda e: e[1] == asid)
            else:
                t.remove_if(lambda e: e[2] <= va < e[2] + e[3])
        self.refill()

    @staticmethod
    def res_at(w, va):
        if w[0] == 'fault':
            return w
        return ('ok', w[3] + (va - w[1]), w[4])

    def possible(self, va, side):
        """Every outcome the translation of va may have now."""
        a = self.cur_asid
        res = {self.res_at(self.walk(self.cur, va), va)}
        for e in self.tlb[side].lookup(va):
            if e[0] == 'L':
                if e[1] in (G, a):
                    res.add(('ok', e[4] + (va - e[2]), e[5]))
            elif e[1] == a:
                res.add(self.res_at(self.walk_from(e, va), va))
        return res

    unsafe = False

    def determined(self, va, side):
        if self.unsafe:     # --unsafe: the tables alone, stale TLB entries ignored
            return self.res_at(self.walk(self.cur, va), va)
        p = self.possible(va, side)
        return next(iter(p)) if len(p) == 1 else None

    # -- permissions and fault status ------------------------------------
    @staticmethod
    def ap_rights(ap, user):
        if ap in (0, 4):
            return 0, 0
        if ap == 1:
            return (0, 0) if user else (1, 1)
        if ap == 2:
            return (1, 0) if user else (1, 1)
        if ap == 3:
            return 1, 1
        if ap == 5:
            return (0, 0) if user else (1, 0)
        return 1, 0

    @staticmethod
    def ap_rights_simple(ap, user):
        if ap == 0:
            return (0, 0) if user else (1, 1)
        if ap == 1:
            return 1, 1
        if ap == 2:
            return (0, 0) if user else (1, 0)
        return 1, 0

    def domain(self, dom):
        return (self.dacr >> (2 * dom)) & 3

    def fault(self, r, acc, user):
        """None, or the fault status of access acc ('r', 'w', 'x') of r."""
        if self.fmt == 'short':
            if r[0] == 'fault':
                if r[2] == 2 and self.domain(r[3]) in (0, 2):
                    return 0x0B        # QEMU checks the domain first
                return 0x05 if r[2] == 1 else 0x07
            _, ap, xn, pxn, dom, sect = r[2]
            dp = self.domain(dom)
            if dp in (0, 2):
                return 0x09 if sect else 0x0B
            if dp == 3:
                return None
            if self.afe:
                # AP[0] is the access flag; AP[2:1] the simplified model
                # (entries with AF=0 are in the TLB model all the same)
                if not ap & 1:
                    return 0x03 if sect else 0x06
                rd, wr = self.ap_rights_simple(ap >> 1, user)
            else:
                rd, wr = self.ap_rights(ap, user)
            if acc == 'x':
                ok = rd and not xn and (user or not pxn)
            else:
                ok = rd and (acc == 'r' or wr)
            return None if ok else (0x0D if sect else 0x0F)
        if r[0] == 'fault':
            return (0x04 if r[1] == 'trans' else 0x08) | r[2]
        _, ap, xn, pxn, level = r[2]
        if acc == 'x':
            ok = not xn and ((ap & 1) if user else not pxn)
        elif user:
            ok = (ap & 1) and (acc == 'r' or ap == 1)
        else:
            ok = acc == 'r' or not ap & 2
        return None if ok else 0x0C | level

    def align_fs(self):
        return 0x01 if self.fmt == 'short' else 0x21


def xf(kind, fs, wnr, count=1):
    return count << 24 | kind << 16 | wnr << 8 | fs


# ---------------------------------------------------------- descriptors
def enc_short(tid, d):
    """C expression of a short descriptor."""
    if d[0] == 'F':
        return hx(d[1])
    if d[0] == 'T':
        s, k = tid_table(d[1])
        return '(uint32_t)sl2[%d][%d] | %du << 5 | 1u' % (s, k, d[2])
    if tid.startswith('s1'):
        if d[0] == 'S':
            _, pa, ap, ng, dom, xn, pxn = d
            v = (pa & 0xFFF00000) | 2 | pxn | 0xC | xn << 4 | dom << 5 | (ap & 3) << 10 | \
                1 << 12 | (ap >> 2) << 15 | 1 << 16 | ng << 17
        else:
            _, pa, ap, ng, xn, pxn = d
            v = (pa & 0xFF000000) | 2 | pxn | 0xC | xn << 4 | (ap & 3) << 10 | \
                1 << 12 | (ap >> 2) << 15 | 1 << 16 | ng << 17 | 1 << 18
        return hx(v)
    _, pa, ap, ng, xn = d
    if d[0] == 'P':
        v = (pa & ~0xFFF) | 2 | xn | 0xC | (ap & 3) << 4 | 1 << 6 | (ap >> 2) << 9 | 1 << 10 | ng << 11
    else:
        v = (pa & ~0xFFFF) | 1 | 0xC | (ap & 3) << 4 | (ap >> 2) << 9 | 1 << 10 | ng << 11 | \
            1 << 12 | xn << 15
    return hx(v)


def tid_table(tid):
    parts = tid.split('.')
    return tuple(int(x) for x in parts[1:])


def enc_long(tid, d):
    level = {'l1': 1, 'l2': 2, 'l3': 3}[tid[:2]]
    if d[0] == 'F':
        return '0x%016xull' % d[1]
    if d[0] == 'R':
        return '0x%016xull' % (d[1] | 1)
    if d[0] == 'T':
        idx = tid_table(d[1])
        arr = 'll2[%d][%d]' % idx if len(idx) == 2 else 'll3[%d][%d][%d]' % idx
        hi = d[4] << 59 | d[3] << 60 | d[2] << 61
        return '((uint64_t)(uint32_t)%s | 3ull | 0x%016xull)' % (arr, hi)
    _, pa, ap, ng, xn, pxn, af = d
    v = pa | (3 if level == 3 else 1) | ap << 6 | 3 << 8 | af << 10 | ng << 11 | \
        pxn << 53 | xn << 54
    return '0x%016xull' % v


def c_table(tid):
    idx = tid_table(tid)
    name = {'s1': 'sl1', 's2': 'sl2', 'l1': 'll1', 'l2': 'll2', 'l3': 'll3'}[tid[:2]]
    return name + ''.join('[%d]' % i for i in idx)


# ------------------------------------------------------------- programs
class Emitter:
    """Replays operations through the model and writes the C."""

    def __init__(self, seed):
        self.mem = Mem(seed)
        self.m = None
        self.stats = {}
        self.seen = {}
        self.last_fault = None

    def setup(self, phase):
        self.m = Model(phase['fmt'], self.mem, phase['asids'])
        self.m.afe = phase.get('afe', False)
        for sl in self.mem.slots.values():    # mmu_on does ICIALLU
            sl[1] = True
        return self.m

    # -- operations -------------------------------------------------------
    def run(self, n, op):
        """Validate op in the current state, update the model, return its C
        (None if the op is undetermined or unsafe here)."""
        c = getattr(self, 'op_' + op['k'])(n, op)
        key = op['k'] if c is not None else op['k'] + ' (invalid)'
        if c is not None and op['k'] in ('acc', 'exec'):
            r = self.m.determined(op['va'], 'I' if op['k'] == 'exec' else 'D')
            where = 'identity' if RAM_LO <= op['va'] < RAM_HI else 'mapped'
            if r[0] == 'fault':
                where = 'unmapped'
            key += ' ' + where + (' abort' if self.last_fault else '')
            # power: the page was seen translated otherwise by this space
            # before (remapped, permissions changed, unmapped, remapped back)
            seen = (self.m.fmt, self.m.cur, op['va'] >> 12, op['k'])
            r = (r[0], r[1] >> 12 if r[0] == 'ok' else r[1], r[2])
            if seen in self.seen and self.seen[seen] != r:
                self.stats['access after its translation changed'] = \
                    self.stats.get('access after its translation changed', 0) + 1
            self.seen[seen] = r
        self.stats[key] = self.stats.get(key, 0) + 1
        return c

    def op_edit(self, n, op):
        m = self.m
        lines = []
        for tid, idx, cnt, d in op['w']:
            for i in range(cnt):
                m.tab[tid][idx + i] = d
            if m.fmt == 'short':
                lines.append('w32(&%s[%d], %s, %d);' % (c_table(tid), idx, enc_short(tid, d), cnt))
            else:
                lines.append('w64(&%s[%d], %s);' % (c_table(tid), idx, enc_long(tid, d)))
        lines.append('isb();')
        m.refill()
        return ' '.join(lines)

    def op_tlbi(self, n, op):
        crm, opc2, _, _ = TLBI[op['op']]
        self.m.tlbi(op['op'], op['arg'])
        return 'MCR(0, c8, c%d, %d, %s); dsb(); isb(); /* %s */' % (crm, opc2, hx(op['arg']), op['op'])

    def op_sw(self, n, op):
        m = self.m
        s = op['sp']
        a = m.asid_of[s]
        if m.fmt == 'short':
            if op['how'] == 'via0':
                m.cur_asid = 0
                m.refill()
                m.cur = s
                m.refill()
                c = 'set_contextidr(0); set_ttbr0((uint32_t)sl1[%d]); ' % s
            else:
                m.cur = s
                m.refill()
                c = 'set_ttbr0((uint32_t)sl1[%d]); ' % s
            m.cur_asid = a
            m.refill()
            return c + 'set_contextidr(%s);' % hx(op['procid'] << 8 | a)
        m.cur, m.cur_asid = s, a
        m.refill()
        return 'set_ttbr0_64((uint32_t)ll1[%d] | (uint64_t)%d << 48);' % (s, a)

    def op_asid(self, n, op):
        m = self.m
        s, a = op['sp'], op['asid']
        m.asid_of[s] = a
        if s != m.cur:
            return '/* space %d gets ASID %d */' % (s, a)
        m.cur_asid = a
        m.refill()
        if m.fmt == 'short':
            return 'set_contextidr(%s);' % hx(op['procid'] << 8 | a)
        return 'set_ttbr0_64((uint32_t)ll1[%d] | (uint64_t)%d << 48);' % (s, a)

    def op_dacr(self, n, op):
        self.m.dacr = op['v']
        return 'set_dacr(%s);' % hx(op['v'])

    def op_align(self, n, op):
        self.m.align = op['on']
        self.m.refill()
        return 'set_sctlr(get_sctlr() %s);' % ('| SCTLR_A' if op['on'] else '& ~SCTLR_A')

    def op_noise(self, n, op):
        m = self.m
        if op['what'] == 'ttbr':
            if m.fmt == 'short':
                return 'set_ttbr0((uint32_t)sl1[%d]);' % m.cur
            return 'set_ttbr0_64((uint32_t)ll1[%d] | (uint64_t)%d << 48);' % (m.cur, m.cur_asid)
        if op['what'] == 'contextidr':
            if m.fmt == 'short':     # same ASID, other PROCID
                return 'set_contextidr(%s);' % hx(op['v'] << 8 | m.cur_asid)
            return 'set_contextidr(%s);' % hx(op['v'])
        # DACR with long descriptors: ignored
        if m.fmt == 'short':
            return '/* (DACR noise only with long descriptors) */'
        return 'set_dacr(%s);' % hx(op['v'])

    # -- accesses ---------------------------------------------------------
    def check_access(self, ins, va, mode):
        """None if not allowed, else (fault or None, segs, wnr)."""
        m = self.m
        size, store, _, al0, al1, tchk = INS[ins]
        user = mode == 'usr' or tchk
        end = va + size - 1
        if end > M32:
            return None
        pages = [va & ~0xFFF]
        if (end & ~0xFFF) != pages[0]:
            pages.append(end & ~0xFFF)
        res = []
        for p in pages:
            r = m.determined(max(p, va), 'D')
            if r is None:
                return None
            res.append(r)
        faults = [m.fault(r, 'w' if store else 'r', user) for r in res]
        misaligned = va % (al1 if m.align else al0) != 0
        if len(pages) > 1 and (misaligned or any(f is not None for f in faults)):
            return None
        if misaligned:
            if faults[0] is not None:
                return None
            return (xf(EXC_DABT, m.align_fs(), store), va), [], store
        if faults[0] is not None:
            return (xf(EXC_DABT, faults[0], store), va), [], store
        segs = []
        a = va
        for r in res:
            pa = r[1]
            n = min(va + size, (a & ~0xFFF) + PAGE) - a
            if not (POOL_LO <= pa and pa + n <= POOL_HI):
                return None
            if store and any(is_code(pa + i) for i in range(n)):
                return None
            segs.append((pa, n))
            a += n
        return None, segs, store

    def predict_load(self, ins, segs, be=False):
        size, _, signed, _, _, _ = INS[ins]
        b = self.mem.read(segs)
        order = 'big' if be else 'little'
        if size <= 4:
            v = int.from_bytes(b, order)
            return [sext(v, size * 8) if signed else v]
        return [int.from_bytes(b[i:i + 4], order) for i in range(0, size, 4)]

    @staticmethod
    def store_bytes(ins, val, be=False):
        size = INS[ins][0]
        if be:
            if size <= 4:
                return (val[0] & ((1 << (8 * size)) - 1)).to_bytes(size, 'big')
            return b''.join(w.to_bytes(4, 'big') for w in val)[:size]
        return b''.join(w.to_bytes(4, 'little') for w in val)[:size]

    def c_be(self, ins, A, val):
        """One access with CPSR.E set (SETEND BE around it)."""
        if ins == 'ldrd':
            return ('fault_arm(); d = %s; __asm__ volatile("setend be\\n\\tldrd %%0, %%H0, [%%1]\\n\\t'
                    'setend le" : "+&r"(d) : "r"(%s) : "memory"); v[0] = (uint32_t)d; '
                    'v[1] = (uint32_t)(d >> 32);' % (hx(SENTINEL), A))
        if ins == 'strd':
            return ('fault_arm(); __asm__ volatile("setend be\\n\\tstrd %%0, %%H0, [%%1]\\n\\t'
                    'setend le" :: "r"(0x%08x%08xull), "r"(%s) : "memory");' % (val[1], val[0], A))
        if INS[ins][1]:
            return ('fault_arm(); __asm__ volatile("setend be\\n\\t%s %%0, [%%1]\\n\\tsetend le"'
                    ' :: "r"(%s), "r"(%s) : "memory");' % (ins, hx(val[0]), A))
        return ('fault_arm(); v[0] = %s; __asm__ volatile("setend be\\n\\t%s %%0, [%%1]\\n\\t'
                'setend le" : "+r"(v[0]) : "r"(%s) : "memory");' % (hx(SENTINEL), ins, A))

    def op_acc(self, n, op):
        ins, va, mode = op['ins'], op['va'], op['mode']
        chk = self.check_access(ins, va, mode)
        if chk is None:
            return None
        fault, segs, store = chk
        size = INS[ins][0]
        be = op.get('be', False)
        vals = []
        if fault is None:
            if store:
                self.mem.write(segs, self.store_bytes(ins, op['val'], be))
            else:
                vals = self.predict_load(ins, segs, be)
        A = hx(va)
        nv = 0 if store else (1 if size <= 4 else size // 4)
        if mode == 'usr':
            c = self.c_user(ins, A, op['val'])
        elif be:
            c = self.c_be(ins, A, op['val'])
        else:
            c = self.c_pl1(ins, A, op['val'])
        return '%s %s' % (c, self.c_done(n, nv, 0, fault, vals))

    def c_pl1(self, ins, A, val):
        if ins in C_LOAD:
            c = 'v[0] = %s(%s);' % (C_LOAD[ins], A)
            if ins.startswith('ldrex'):
                c += ' clrex();'
            return 'fault_arm(); ' + c
        if ins in C_STORE:
            return 'fault_arm(); %s(%s, %s);' % (C_STORE[ins], A, hx(val[0]))
        if ins in ('ldrd', 'vldr', 'ldrexd'):
            f = {'ldrd': 'ld64', 'vldr': 'vldr64', 'ldrexd': 'ldrexd64'}[ins]
            arg = '(const void *)' + A if ins == 'vldr' else A
            c = 'd = %s(%s); v[0] = (uint32_t)d; v[1] = (uint32_t)(d >> 32);' % (f, arg)
            if ins == 'ldrexd':
                c += ' clrex();'
            return 'fault_arm(); ' + c
        if ins in ('strd', 'vstr'):
            d = '0x%08x%08xull' % (val[1], val[0])
            if ins == 'strd':
                return 'fault_arm(); st64(%s, %s);' % (A, d)
            return 'fault_arm(); vstr64((void *)%s, %s);' % (A, d)
        if ins == 'ldm':
            return 'fault_arm(); ldm8((const void *)%s, v);' % A
        if ins == 'vld1':
            return ('fault_arm(); __asm__ volatile(".fpu neon\\n\\tvld1.8 {d0-d3}, [%%0]\\n\\t'
                    'vst1.8 {d0-d3}, [%%1]" :: "r"(%s), "r"(v) : "memory");' % A)
        if ins == 'vst1':
            return ('set8(%s); fault_arm(); __asm__ volatile(".fpu neon\\n\\tvld1.8 {d0-d3}, [%%1]\\n\\t'
                    'vst1.32 {d0-d3}, [%%0]" :: "r"(%s), "r"(w8) : "memory");'
                    % (', '.join(hx(x) for x in val), A))
        return 'set8(%s); fault_arm(); stm8((void *)%s, w8);' % (
            ', '.join(hx(x) for x in val), A)

    def c_user(self, ins, A, val):
        size, store = INS[ins][:2]
        if store:
            setv = ' '.join('uv[%d] = %s;' % (i, hx(val[i])) for i in range((size + 3) // 4))
            return '%s fault_arm(); run_user(u_%s, %s);' % (setv, ins, A)
        if size <= 4:
            return 'fault_arm(); v[0] = run_user(u_%s, %s);' % (ins, A)
        return 'fault_arm(); run_user(u_%s, %s); getuv(v, %d);' % (ins, A, size // 4)

    def c_done(self, n, nv, always, fault, vals, xv=None):
        self.last_fault = fault
        if fault is None:
            fx, far = 0, 0
        else:
            fx, far = fault
        ex = vals if xv is None else xv
        exp = '(const uint32_t[]){%s}' % ', '.join(hx(x) for x in ex) if ex else '0'
        return 'done(%d, %d, %d, %s, %s, %s);' % (n, nv, always, hx(fx), hx(far), exp)

    def op_burst(self, n, op):
        outs, ins_, asm, vals, exp = [], [], [], [], []
        nf, last = 0, None
        for i, (ins, va, val) in enumerate(op['acc']):
            chk = self.check_access(ins, va, 'pl1')
            if chk is None:
                return None
            fault, segs, store = chk
            if fault is not None:
                nf += 1
                last = fault
            if store:
                if fault is None:
                    self.mem.write(segs, val[0].to_bytes(4, 'little')[:INS[ins][0]])
                ins_.append('[a%d] "r"(%s), [x%d] "r"(%s)' % (i, hx(va), i, hx(val[0])))
                asm.append('%s %%[x%d], [%%[a%d]]' % (ins, i, i))
            else:
                ins_.append('[a%d] "r"(%s)' % (i, hx(va)))
                asm.append('%s %%[r%d], [%%[a%d]]' % (ins, i, i))
                outs.append('[r%d] "+r"(b%d)' % (i, i))
                if fault is None:
                    vals.append('b%d' % i)
                    exp.append(self.predict_load(ins, segs)[0])
        decl = ''.join('uint32_t b%d = %s; ' % (i, hx(SENTINEL))
                       for i, a in enumerate(op['acc']) if not INS[a[0]][1])
        fault = None if last is None else (xf(EXC_DABT, last[0] & 0xFF, (last[0] >> 8) & 1, nf), last[1])
        c = '{ %sfault_arm(); __asm__ volatile("%s" : %s : %s : "memory"); ' % (
            decl, '\\n\\t'.join(asm), ', '.join(outs), ', '.join(ins_))
        c += ''.join('v[%d] = %s; ' % (j, b) for j, b in enumerate(vals))
        return c + self.c_done(n, len(vals), 1, fault, exp) + ' }'

    def op_wb(self, n, op):
        form, base, off = op['form'], op['base'], op['off']
        ins, where, newb, asm = WB[form]
        if form in ('ldm_wb', 'stmdb_wb'):
            va, nb = (base + where) & M32, (base + newb) & M32
        else:
            va, nb = ((base + off) & M32) if where else base, (base + off) & M32
        chk = self.check_access(ins, va, 'pl1')
        if chk is None:
            return None
        fault, segs, store = chk
        size = INS[ins][0]
        vals = [base if fault else nb]
        if fault is None:
            if store:
                self.mem.write(segs, b''.join(w.to_bytes(4, 'little') for w in op['val'])[:size])
            else:
                vals += self.predict_load(ins, segs)
        asm = asm.replace('#OFF', '#%d' % off)
        outs = ['[b] "+&r"(b)']
        ins_ = []
        if store:
            ins_ = ['[y0] "r"(%s)' % hx(op['val'][0]), '[y1] "r"(%s)' % hx(op['val'][1])]
        elif form == 'ldrd_pre':
            outs.append('[d0] "+&r"(d)')
        elif '[x0]' in asm:
            outs += ['[x0] "+&r"(x0)', '[x1] "+&r"(x1)']
        clob = ', "r2", "r3"' if form in ('ldm_wb', 'stmdb_wb') else ''
        xs = ', x0 = %s, x1 = %s' % (hx(SENTINEL), hx(SENTINEL)) if '[x0]' in asm else ''
        c = ('{ uint32_t b = %s%s; d = %s; fault_arm(); __asm__ volatile("%s" : %s : %s : "memory"%s); '
             % (hx(base), xs, hx(SENTINEL), asm, ', '.join(outs), ', '.join(ins_), clob))
        c += 'v[0] = b; '
        if form == 'ldrd_pre':
            c += 'v[1] = (uint32_t)d; v[2] = (uint32_t)(d >> 32); '
        elif not store:
            c += 'v[1] = x0; v[2] = x1; '
        nv = len(vals)
        return c + self.c_done(n, nv, 1, fault, vals) + ' }'

    def op_excl(self, n, op):
        m = self.m
        sz, va, delta = op['sz'], op['va'], op['delta']
        ins = {1: 'ldrexb', 2: 'ldrexh', 4: 'ldrex', 8: 'ldrexd'}[sz]
        chk = self.check_access(ins, va, 'pl1')
        if chk is None or chk[0] is not None:
            return None
        # the store must be allowed too
        r = m.determined(va, 'D')
        if m.fault(r, 'w', False) is not None or is_code(r[1]):
            return None
        segs = chk[1]
        old = self.predict_load(ins, segs)
        sfx = {1: 'b', 2: 'h', 4: '', 8: 'd'}[sz]
        if sz == 8:
            new = [old[0] ^ (delta & M32), old[1] ^ (delta >> 32)]
        else:
            new = [(old[0] + delta) & ((1 << (8 * sz)) - 1)]
        if op['clr']:
            st = 1
        else:
            st = 0
            data = b''.join(w.to_bytes(4, 'little') for w in new)[:sz]
            self.mem.write(segs, data)
        A = hx(va)
        if sz == 8:
            if op['clr']:
                body = ('"clrex\\n\\tstrexd %%0, %%1, %%H1, [%%2]" : "+&r"(s) : "r"(0x%016xull), "r"(%s)'
                        % (delta, A))
                c = '{ uint32_t s = %s; fault_arm(); __asm__ volatile(%s : "memory"); v[0] = s; ' % (
                    hx(SENTINEL), body)
                return c + self.c_done(n, 1, 0, None, [st]) + ' }'
            c = ('{ uint64_t o = %s, x; uint32_t s = %s; fault_arm(); __asm__ volatile('
                 '"ldrexd %%0, %%H0, [%%3]\\n\\teor %%Q1, %%Q0, %%4\\n\\teor %%R1, %%R0, %%5\\n\\t'
                 'strexd %%2, %%Q1, %%R1, [%%3]" : "+&r"(o), "=&r"(x), "+&r"(s) : "r"(%s), '
                 '"r"(%s), "r"(%s) : "memory"); v[0] = (uint32_t)o; v[1] = (uint32_t)(o >> 32); '
                 'v[2] = s; ') % (hx(SENTINEL), hx(SENTINEL), A, hx(delta & M32), hx(delta >> 32))
            return c + self.c_done(n, 3, 0, None, old + [st]) + ' }'
        if op['clr']:
            c = ('{ uint32_t s = %s; fault_arm(); __asm__ volatile("clrex\\n\\tstrex%s %%0, %%1, [%%2]"'
                 ' : "+&r"(s) : "r"(%s), "r"(%s) : "memory"); v[0] = s; ') % (
                hx(SENTINEL), sfx, hx(delta), A)
            return c + self.c_done(n, 1, 0, None, [st]) + ' }'
        c = ('{ uint32_t o = %s, x, s = %s; fault_arm(); __asm__ volatile('
             '"ldrex%s %%0, [%%3]\\n\\tadd %%1, %%0, %%4\\n\\tstrex%s %%2, %%1, [%%3]"'
             ' : "+&r"(o), "=&r"(x), "+&r"(s) : "r"(%s), "r"(%s) : "memory"); v[0] = o; v[1] = s; ') % (
            hx(SENTINEL), hx(SENTINEL), sfx, sfx, A, hx(delta))
        return c + self.c_done(n, 2, 0, None, old + [st]) + ' }'

    avoid_known = False

    def op_exec(self, n, op):
        m = self.m
        va, mode = op['va'], op['mode']
        r = m.determined(va, 'I')
        if r is None:
            return None
        key = ((m.dacr if m.fmt == 'short' else 0, m.cur_asid), va)
        if self.avoid_known:
            # QEMU's jump cache survives a page flush of another page of a
            # large page (and ESPT keeps one per address space): code that
            # ran under another translation may run again (README)
            if key in m.ran and m.ran[key] != r:
                return None
            m.ran[key] = r
        f = m.fault(r, 'x', mode == 'usr')
        if f is None:
            pa = r[1]
            if not is_slot(pa):
                return None
            sl = self.mem.slots[pa]
            if not (sl[1] or va in sl[2]):
                return None
            fault, vals = None, [sl[0]]
        else:
            fault, vals = (xf(EXC_PABT, f, 0), va), []
        if mode == 'usr':
            c = 'fault_arm(); v[0] = run_user((uint32_t (*)(uint32_t))%s, 0);' % hx(va)
        else:
            c = 'fault_arm(); v[0] = ((uint32_t (*)(void))%s)();' % hx(va)
        return c + ' ' + self.c_done(n, 1, 0, fault, vals)

    def op_smc(self, n, op):
        m = self.m
        slot, wva, xva, k = op['slot'], op['wva'], op['xva'], op['K']
        r = m.determined(wva, 'D')
        if r is None or r[0] != 'ok' or r[1] != slot or m.fault(r, 'w', False) is not None:
            return None
        if xva is not None:
            x = m.determined(xva, 'I')
            if x is None or x[0] != 'ok' or x[1] != slot:
                return None
        p = self.mem.page(slot & ~0xFFF)
        Mem._code(p, slot & 0xFFF, k)
        sl = self.mem.slots[slot]
        sl[0] = k
        if xva is None:
            for s2 in self.mem.slots.values():
                s2[1] = True
            inv = 'iciallu();'
        else:
            sl[1], sl[2] = False, {xva}
            inv = 'icimvau(%s);' % hx(xva)
        c = ('fault_arm(); st32(%s, %s); st32(%s, %s); st32(%s, BX_LR); dccmvau(%s); dsb(); '
             '%s bpiall(); dsb(); isb(); ') % (
            hx(wva), hx(movw(0, k & 0xFFFF)), hx(wva + 4), hx(movt(0, k >> 16)), hx(wva + 8),
            hx(slot), inv)
        return c + self.c_done(n, 0, 0, None, [])

    def op_spin(self, n, op):
        m = self.m
        total = 0
        for va in op['vas']:
            r = m.determined(va, 'D')
            if r is None or r[0] != 'ok' or m.fault(r, 'r', False) is not None:
                return None
            pa = r[1]
            if UART <= pa < UART + PAGE:
                off = pa - UART - 0xFE0
                if not (0 <= off < 32 and off % 4 == 0):
                    return None
                total += PL011_ID[off // 4]
            elif POOL_LO <= pa < POOL_HI and pa % 4 == 0:
                total += self.mem.word(pa)
            else:
                return None
        total = (total * op['n']) & M32
        vas = ', '.join(hx(v) for v in op['vas'])
        c = ('{ static const uint32_t va[] = {%s}; uint32_t acc = 0; fault_arm(); '
             'for (uint32_t i = 0; i < %d; i++) for (unsigned j = 0; j < %d; j++) acc += ld32(va[j]); '
             'v[0] = acc; ') % (vas, op['n'], len(op['vas']))
        return c + self.c_done(n, 1, 0, None, [total]) + ' }'

    def op_digest(self, n, op):
        pages = sorted(self.mem.pages)
        ck = 0
        for p in pages:
            b = self.mem.pages[p]
            for off in range(0, PAGE, 4):
                ck = ((ck << 5 | ck >> 27) & M32) ^ int.from_bytes(b[off:off + 4], 'little')
                ck = (ck * 0x01000193) & M32
        lst = ', '.join(hx(p) for p in pages)
        c = ('{ static const uint32_t pg[] = {%s}; fault_arm(); v[0] = digest(pg, %d); '
             % (lst, len(pages)))
        return c + self.c_done(n, 1, 0, None, [ck]) + ' }'


PRELUDE = r'''
/* translation tables of the three address spaces */
static uint32_t sl1[3][4096] __attribute__((aligned(16384)));
static uint32_t sl2[3][5][256] __attribute__((aligned(1024)));
static uint64_t ll1[3][512] __attribute__((aligned(4096)));
static uint64_t ll2[3][2][512] __attribute__((aligned(4096)));
static uint64_t ll3[3][2][3][512] __attribute__((aligned(4096)));
static uint64_t ll2low[512] __attribute__((aligned(4096)));

LD(ldtb8, "ldrbt", uint32_t)
LD(ldth16, "ldrht", uint32_t)
LD(ldtsb8, "ldrsbt", uint32_t)
LD(ldtsh16, "ldrsht", uint32_t)
ST(sttb8, "strbt", uint32_t)
ST(stth16, "strht", uint32_t)

#define U __attribute__((unused))
static uint32_t ck = 0x811c9dc5u, model_bad;
static uint32_t v[8], w8[8];
static uint64_t d U;
static volatile uint32_t uv[8];

static void fold(uint32_t x)
{
    ck = ((ck << 5) | (ck >> 27)) ^ x;
    ck *= 0x01000193u;
}

/* Report operation op: nv values v[] (printed unless it aborted, or always),
 * the aborts taken since fault_arm(); then the model's check: xf is the
 * expected count << 24 | kind << 16 | WnR << 8 | status (0: none), xfar
 * the expected fault address, xv the expected values. */
static U void done(unsigned op, unsigned nv, int always, uint32_t xf, uint32_t xfar,
                   const uint32_t *xv)
{
    unsigned nf = fault_disarm();
    uint32_t got = 0;
    pr("%u", op);
    if (nf) {
        got = nf << 24 | flt.kind << 16 | ((flt.fsr >> 11) & 1) << 8 | fsr_status(flt.fsr);
        fold(nf);
        fold(flt.kind);
        fold(flt.fsr);
        fold(flt.far);
        fold(flt.mode);
        pr(" abort %u %s fsr %08x far %08x from %x", nf,
           flt.kind == EXC_DABT ? "data" : flt.kind == EXC_PABT ? "prefetch" : "undef",
           flt.fsr, flt.far, flt.mode);
    }
    int shown = !nf || always;
    for (unsigned i = 0; shown && i < nv; i++) {
        fold(v[i]);
        pr(" %08x", v[i]);
    }
    pr(" | %08x\n", ck);
    int bad = got != xf || (nf && flt.far != xfar);
    for (unsigned i = 0; shown && xv && i < nv; i++) {
        bad |= v[i] != xv[i];
    }
    if (bad) {
        model_bad++;
        pr("MODEL %u: expected", op);
        if (xf) {
            pr(" abort %u kind %u wnr %u fs %02x far %08x", xf >> 24, (xf >> 16) & 0xff,
               (xf >> 8) & 1, xf & 0xff, xfar);
        }
        for (unsigned i = 0; shown && xv && i < nv; i++) {
            pr(" %08x", xv[i]);
        }
        pr("\n");
    }
}

static U void w32(volatile uint32_t *e, uint32_t x, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        e[i] = x;
    }
    dcache_clean_range((uint32_t)e, 4 * n);
}

static U void w64(volatile uint64_t *e, uint64_t x)
{
    st64((uint32_t)e, x);   /* STRD: single-copy atomic */
    dcache_clean_range((uint32_t)e, 8);
}

static U void set8(uint32_t a, uint32_t b, uint32_t c, uint32_t e, uint32_t f,
                   uint32_t g, uint32_t h, uint32_t i)
{
    w8[0] = a; w8[1] = b; w8[2] = c; w8[3] = e;
    w8[4] = f; w8[5] = g; w8[6] = h; w8[7] = i;
}

static U void getuv(uint32_t *o, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        o[i] = uv[i];
    }
}

static U uint32_t digest(const uint32_t *pg, unsigned n)
{
    uint32_t x = 0;
    for (unsigned i = 0; i < n; i++) {
        for (uint32_t a = pg[i]; a < pg[i] + PAGE; a += 4) {
            x = ((x << 5) | (x >> 27)) ^ ld32(a);
            x *= 0x01000193u;
        }
    }
    return x;
}

/* USR-mode accesses (run_user); values in and out through uv[] */
static U uint32_t u_ldrb(uint32_t a) { return ld8(a); }
static U uint32_t u_ldrsb(uint32_t a) { return lds8(a); }
static U uint32_t u_ldrh(uint32_t a) { return ld16(a); }
static U uint32_t u_ldrsh(uint32_t a) { return lds16(a); }
static U uint32_t u_ldr(uint32_t a) { return ld32(a); }
static U uint32_t u_ldrd(uint32_t a)
{
    uint64_t x = ld64(a);
    uv[0] = (uint32_t)x;
    uv[1] = (uint32_t)(x >> 32);
    return 0;
}
static U uint32_t u_ldm(uint32_t a) { ldm8((const void *)a, (uint32_t *)uv); return 0; }
static U uint32_t u_strb(uint32_t a) { st8(a, uv[0]); return 0; }
static U uint32_t u_strh(uint32_t a) { st16(a, uv[0]); return 0; }
static U uint32_t u_str(uint32_t a) { st32(a, uv[0]); return 0; }
static U uint32_t u_strd(uint32_t a) { st64(a, (uint64_t)uv[1] << 32 | uv[0]); return 0; }
static U uint32_t u_stm(uint32_t a) { stm8((void *)a, (const uint32_t *)uv); return 0; }

static void fill(const uint32_t *pg, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fill_words(pg[i], PAGE, SEED);
    }
    for (unsigned c = 0; c < sizeof(code_pages) / 4; c++) {
        for (uint32_t s = code_pages[c]; s < code_pages[c] + 0x800; s += 0x40) {
            uint32_t k = pattern(SEED ^ 0x5eedu, s);
            st32(s, movw(0, k & 0xffff));
            st32(s + 4, movt(0, k >> 16));
            st32(s + 8, BX_LR);
        }
    }
}

static U void setup_short(uint32_t asid, int afe)
{
    memset(sl1, 0, sizeof(sl1));
    memset(sl2, 0, sizeof(sl2));
    for (int s = 0; s < 3; s++) {
        sd_identity(sl1[s]);
    }
    dcache_clean_range((uint32_t)sl1, sizeof(sl1));
    dcache_clean_range((uint32_t)sl2, sizeof(sl2));
    set_sctlr((get_sctlr() & ~(SCTLR_A | 1u << 29)) | (afe ? 1u << 29 : 0)); /* AFE */
    mmu_on_short(sl1[0]);
    set_contextidr(asid);
}

static U void setup_lpae(uint32_t asid)
{
    memset(ll1, 0, sizeof(ll1));
    memset(ll2, 0, sizeof(ll2));
    memset(ll3, 0, sizeof(ll3));
    memset(ll2low, 0, sizeof(ll2low));
    for (int s = 0; s < 3; s++) {
        lp_identity(ll1[s], ll2low);
    }
    dcache_clean_range((uint32_t)ll1, sizeof(ll1));
    dcache_clean_range((uint32_t)ll2, sizeof(ll2));
    dcache_clean_range((uint32_t)ll3, sizeof(ll3));
    set_sctlr(get_sctlr() & ~(SCTLR_A | 1u << 29));
    mmu_on_lpae(ll1[0], asid);
}
'''


# -------------------------------------------------------------- generator
class Gen:
    """Draws operations at random, using the model to aim them."""

    def __init__(self, seed, nops):
        self.seed = seed
        self.rng = random.Random(seed)
        self.nops = nops
        self.em = Emitter(seed)
        self.hot = []            # recent interesting VAs
        self.queue = []          # follow-up intentions
        self.hist = {}           # space -> pages it accessed lately

    # -- helpers --------------------------------------------------------
    def ch(self, seq):
        return self.rng.choice(seq)

    def wch(self, pairs):
        tot = sum(w for _, w in pairs)
        x = self.rng.random() * tot
        for v, w in pairs:
            x -= w
            if x < 0:
                return v
        return pairs[-1][0]

    def add_hot(self, va):
        self.hot.append(va & ~0xFFF)
        if len(self.hot) > 12:
            self.hot.pop(0)

    def pick_pa_page(self):
        r = self.rng.random()
        if r < 0.15:
            return self.ch(CODE_PAGES)
        if r < 0.85:
            return self.ch(HOT_MIB) + self.ch((0, 1, 2, 3, 4, 5, 6, 7, 0x10, 0x11, 0xFF)) * PAGE
        return POOL_LO + self.rng.randrange((POOL_HI - POOL_LO) // PAGE) * PAGE

    def near_pa(self, table, j):
        """A frame for entry j: often the one that continues a neighbour's."""
        if self.rng.random() < 0.5:
            for dj in (-1, 1, -2, 2):
                e = table.get(j + dj)
                if e and e[0] in ('P', 'B') and POOL_LO <= e[1] - dj * PAGE < POOL_HI - PAGE:
                    return e[1] - dj * PAGE
        return self.pick_pa_page()

    def page_offsets(self, size):
        if size <= PAGE:
            return [0]
        cands = [o for o in (0, 1, 2, 3, 15, 16, 17, 0xFF, 0x100, 0x1FF, 0xFFF, 0x1000)
                 if o * PAGE < size]
        return [o * PAGE for o in cands]

    def va_in_leaf(self, leaf):
        va, size, pa = leaf[0], leaf[1], leaf[2]
        if size >= 16 * MIB:
            # aim at the pool: a hot page, or a code page
            tgt = self.pick_pa_page()
            if pa <= tgt < pa + size:
                return va + (tgt - pa)
            if size == 16 * MIB:
                return va + self.ch((0, 1, 2, 15)) * MIB + self.ch(self.page_offsets(MIB))
            return va + (POOL_LO - pa) + self.ch(self.page_offsets(MIB))
        return va + self.ch(self.page_offsets(size))

    def playground_page(self):
        m = self.em.m
        if m.fmt == 'short':
            return self.ch(S_GROUPS) + self.ch((0, 1, 2, 15)) * MIB + self.ch(self.page_offsets(MIB))
        base = self.ch(L_L1) << 30
        return base + self.ch(L_L2) * 2 * MIB + self.ch(L_L3) * PAGE

    def pick_va_page(self, want_slot=False):
        m = self.em.m
        r = self.rng.random()
        if want_slot:
            cands = []
            leaves, _ = m.walk_all(m.cur)
            for lf in leaves:
                for cp in CODE_PAGES:
                    if lf[2] <= cp < lf[2] + lf[1]:
                        cands.append(lf[0] + cp - lf[2])
            if cands and r < 0.85:
                return self.ch(cands)
            return self.ch(CODE_PAGES)
        if r < 0.08:
            return self.pick_va_page(want_slot=True)
        if r < 0.3 and self.hot:
            return self.ch(self.hot)
        if r < 0.45 and self.hist.get(m.cur):
            return self.ch(self.hist[m.cur])[0]
        if r < 0.85:
            leaves, _ = m.walk_all(m.cur)
            if leaves:
                return self.va_in_leaf(self.ch(leaves))
        if r < 0.93:
            return self.playground_page()
        return self.pick_pa_page()        # the identity map

    def offset(self, size, align):
        r = self.rng.random()
        if r < 0.12:                           # straddle the page end
            return PAGE - self.rng.randrange(1, size + 1) if size > 1 else PAGE - 1
        if r < 0.2:
            return self.rng.randrange(PAGE - size + 1)          # any alignment
        if r < 0.3:
            return 0x800 + self.rng.randrange(0x800 // 4 - 8) * 4  # a code page's data half
        return self.rng.randrange(PAGE // align) * align if size < 32 else \
            self.rng.randrange((PAGE - 32) // 4) * 4

    def rval(self, n):
        return [self.rng.getrandbits(32) for _ in range(n)]

    # -- operations -------------------------------------------------------
    def g_acc(self, va_page=None):
        mode = 'usr' if self.rng.random() < 0.2 else 'pl1'
        ins = self.ch(USR_INS if mode == 'usr' else PL1_INS)
        size = INS[ins][0]
        page = va_page if va_page is not None else self.pick_va_page()
        va = page + self.offset(size, min(size, 4) if size != 8 else 8)
        op = {'k': 'acc', 'ins': ins, 'va': va & M32, 'mode': mode,
              'val': self.rval((size + 3) // 4)}
        if mode == 'pl1' and ins in BE_INS and self.rng.random() < 0.25:
            op['be'] = 1
        return op

    def g_burst(self):
        acc = []
        for _ in range(self.rng.randrange(2, 5)):
            ins = self.ch(BURST_INS)
            size = INS[ins][0]
            va = self.pick_va_page() + self.rng.randrange(PAGE // size) * size
            acc.append((ins, va, self.rval(1)))
        return {'k': 'burst', 'acc': acc}

    def g_wb(self):
        form = self.ch(sorted(WB))
        ins = WB[form][0]
        size = INS[ins][0]
        al = 4 if size == 8 else size
        off = self.ch((4, 8, 12, -4, -8, 16)) if size >= 4 else self.ch((1, 2, 4, -2, -1, 8)) * size
        if form in ('ldrt_post', 'strt_post', 'ldr_post', 'str_post', 'ldrb_post') and off < 0:
            off = -off
        page = self.pick_va_page()
        base = page + 16 + self.rng.randrange((PAGE - 48) // al) * al
        return {'k': 'wb', 'form': form, 'base': base, 'off': off, 'val': self.rval(2)}

    def g_excl(self):
        sz = self.ch((1, 2, 4, 4, 8))
        va = self.pick_va_page() + self.rng.randrange(PAGE // sz) * sz
        delta = self.rng.getrandbits(64 if sz == 8 else 8 * sz)
        return {'k': 'excl', 'sz': sz, 'va': va, 'delta': delta, 'clr': self.rng.random() < 0.2}

    def g_exec(self):
        page = self.pick_va_page(want_slot=True)
        slot = self.rng.randrange(NSLOTS)
        return {'k': 'exec', 'va': page + slot * SLOT,
                'mode': 'usr' if self.rng.random() < 0.25 else 'pl1'}

    def g_smc(self):
        slot = self.rng.randrange(NSLOTS) * SLOT
        cp = self.ch(CODE_PAGES)
        wpage = self.pick_va_page(want_slot=True) if self.rng.random() < 0.6 else cp
        xpage = self.pick_va_page(want_slot=True)
        # the chosen pages must show the same code page
        m = self.em.m
        rw = m.determined(wpage, 'D')
        if rw and rw[0] == 'ok' and rw[1] in CODE_PAGES:
            cp = rw[1]
        else:
            wpage = cp
        rx = m.determined(xpage, 'I')
        if not (rx and rx[0] == 'ok' and rx[1] == cp):
            xpage = cp
        xva = None if self.rng.random() < 0.35 else xpage + slot
        return {'k': 'smc', 'slot': cp + slot, 'wva': wpage + slot, 'xva': xva,
                'K': self.rng.getrandbits(32)}

    def g_warm(self):
        """A loop long enough (some 20-60 ms) for the default governor to
        shadow the current address space (20 ms of quiet run time)."""
        op = self.g_spin(2, mmio=False)
        op['n'] = self.ch((12000000, 16000000, 20000000)) // len(op['vas'])
        return op

    def g_spin(self, least=1, mmio=True):
        vas = []
        for _ in range(self.rng.randrange(least, 5)):
            if mmio and self.rng.random() < 0.25:
                vas.append(UART + 0xFE0 + 4 * self.rng.randrange(8))
            else:
                vas.append(self.pick_va_page() + self.rng.randrange(PAGE // 4) * 4)
        return {'k': 'spin', 'vas': vas, 'n': self.ch((2000, 5000, 20000, 50000))}

    def g_tlbi(self, va=None, asid=None):
        m = self.em.m
        name = self.wch([('TLBIALL', 3), ('TLBIMVA', 8), ('TLBIASID', 4), ('TLBIMVAA', 6),
                         ('TLBIALLIS', 1), ('TLBIMVAIS', 3), ('TLBIASIDIS', 2), ('TLBIMVAAIS', 3),
                         ('ITLBIALL', 0.5), ('ITLBIMVA', 1), ('ITLBIASID', 0.5),
                         ('DTLBIALL', 0.5), ('DTLBIMVA', 1.5), ('DTLBIASID', 1)])
        if va is None:
            va = self.ch(self.hot) if self.hot and self.rng.random() < 0.8 else self.playground_page()
        if asid is None:
            asid = m.cur_asid if self.rng.random() < 0.5 else self.ch(m.asid_of)
        kind = TLBI[name][2]
        va &= ~0xFFF
        arg = {'all': self.rng.getrandbits(32) if self.rng.random() < 0.2 else 0,
               'mva': va | asid, 'asid': asid, 'mvaa': va}[kind]
        return {'k': 'tlbi', 'op': name, 'arg': arg}

    def g_sw(self):
        m = self.em.m
        s = self.ch([x for x in range(NSPACES) if x != m.cur])
        return {'k': 'sw', 'sp': s, 'how': 'direct' if self.rng.random() < 0.15 else 'via0',
                'procid': self.rng.getrandbits(8) if self.rng.random() < 0.2 else 0}

    def g_asid(self):
        a = self.rng.randrange(1, 7) if self.rng.random() < 0.8 else self.rng.randrange(7, 256)
        return {'k': 'asid', 'sp': self.rng.randrange(NSPACES), 'asid': a,
                'procid': self.rng.getrandbits(8) if self.rng.random() < 0.2 else 0}

    def new_dacr(self):
        v = self.ch((1, 1, 1, 3))
        for dom in range(1, 16):
            v |= self.wch([(1, 6), (0, 2), (3, 2)]) << (2 * dom)
        return v

    def g_dacr(self):
        # mostly a few values that come back (address spaces are keyed
        # by DACR), sometimes a new one
        if self.rng.random() < 0.85:
            return {'k': 'dacr', 'v': self.ch(self.dacrs)}
        return {'k': 'dacr', 'v': self.new_dacr()}

    def g_noise(self):
        return {'k': 'noise', 'what': self.ch(('ttbr', 'contextidr', 'dacr')),
                'v': self.rng.getrandbits(24 if self.em.m.fmt == 'short' else 32)}

    # -- edits ------------------------------------------------------------
    def s_ap(self):
        if self.em.m.afe:       # AP[2:1] and the access flag AP[0]
            return self.wch([(1, 6), (0, 3), (2, 2), (3, 2)]) << 1 | int(self.rng.random() < 0.85)
        return self.wch([(3, 8), (1, 3), (2, 2), (5, 2), (7, 2), (0, 1), (6, 0.5)])

    def s_leaf_attrs(self):
        return (self.s_ap(), int(self.rng.random() < 0.5), int(self.rng.random() < 0.15))

    def junk(self, short):
        if self.rng.random() < 0.7:
            return 0
        return self.rng.getrandbits(32) & ~3 if short else self.rng.getrandbits(40) << 12 & ~1

    def g_edit_short(self):
        m = self.em.m
        rng = self.rng
        s = m.cur if rng.random() < 0.7 else rng.randrange(NSPACES)
        l1 = 's1.%d' % s
        r = rng.random()
        if r < 0.45:
            # a first-level entry: section, table, invalid
            g = self.ch(S_GROUPS) >> 20
            idx = g + self.ch((0, 0, 1, 1, 2, 15))
            gbase = idx & ~15
            in_ss = any(m.tab[l1].get(gbase + i, INV)[0] == 'SS' for i in range(16))
            kind = self.wch([('S', 6), ('T', 3 if idx in S_TBL_L1 else 0), ('F', 2)])
            if kind == 'S':
                pa = self.ch(HOT_MIB) if rng.random() < 0.7 else \
                    POOL_LO + rng.randrange((POOL_HI - POOL_LO) // MIB) * MIB
                ap, ng, xn = self.s_leaf_attrs()
                d = ('S', pa, ap, ng, self.ch((0, 0, 1, 2, 3)), xn, int(rng.random() < 0.05))
            elif kind == 'T':
                k = S_TBL_L1.index(idx)
                owner = s if rng.random() < 0.8 else rng.randrange(NSPACES)
                d = ('T', 's2.%d.%d' % (owner, k), self.ch((0, 0, 1, 2, 3)))
            else:
                d = ('F', self.junk(True))
            va = idx << 20
            if in_ss:
                # a supersection group is rewritten whole
                w = [(l1, gbase + i, 1, d if gbase + i == idx else ('F', 0)) for i in range(16)]
            else:
                w = [(l1, idx, 1, d)]
        elif r < 0.55:
            gbase = self.ch(S_GROUPS) >> 20
            pa = self.ch((0x41000000, 0x42000000))
            ap, ng, xn = self.s_leaf_attrs()
            d = ('SS', pa, ap, ng, xn, int(rng.random() < 0.05))
            w = [(l1, gbase, 16, d)]
            va = (gbase << 20) + self.ch((0, 1, 2, 15)) * MIB
        else:
            # a second-level entry, preferably in a table that is in use
            k = rng.randrange(len(S_TBL_L1))
            cur = m.tab[l1].get(S_TBL_L1[k], INV)
            tid = cur[1] if cur[0] == 'T' else 's2.%d.%d' % (s, k)
            j = self.ch(S_SMALL)
            kind = self.wch([('P', 6), ('L', 2), ('F', 2)])
            ap, ng, xn = self.s_leaf_attrs()
            if kind == 'L':
                j &= 0xF0
                pa = self.ch(HOT_MIB) + self.ch((0, 1, 15)) * 0x10000
                w = [(tid, j, 16, ('L', pa, ap, ng, xn))]
            else:
                d = ('P', self.near_pa(m.tab[tid], j), ap, ng, xn) if kind == 'P' else ('F', self.junk(True))
                grp = j & 0xF0
                if any(m.tab[tid].get(grp + i, INV)[0] == 'L' for i in range(16)):
                    w = [(tid, grp + i, 1, d if grp + i == j else ('F', 0)) for i in range(16)]
                else:
                    w = [(tid, j, 1, d)]
            va = (S_TBL_L1[k] << 20) | j << 12
        return {'k': 'edit', 'w': w}, va, s

    def l_attrs(self):
        ap = self.wch([(1, 6), (0, 3), (2, 2), (3, 2)])
        return (ap, int(self.rng.random() < 0.5), int(self.rng.random() < 0.15),
                int(self.rng.random() < 0.1), int(self.rng.random() > 0.08))

    def t_attrs(self):
        if self.rng.random() < 0.8:
            return 0, 0, 0
        return self.rng.randrange(4), int(self.rng.random() < 0.3), int(self.rng.random() < 0.3)

    def g_edit_lpae(self):
        m = self.em.m
        rng = self.rng
        s = m.cur if rng.random() < 0.7 else rng.randrange(NSPACES)
        r = rng.random()
        j = rng.randrange(len(L_L1))
        if r < 0.12:
            tid, idx = 'l1.%d' % s, L_L1[j]
            kind = self.wch([('B', 2), ('T', 6), ('F', 1)])
            if kind == 'T':
                owner = s if rng.random() < 0.85 else rng.randrange(NSPACES)
                d = ('T', 'l2.%d.%d' % (owner, j)) + self.t_attrs()
            elif kind == 'B':
                d = ('B', RAM_LO) + self.l_attrs()
            else:
                d = ('F', self.junk(False))
            va = idx << 30
        else:
            l1d = m.tab['l1.%d' % s].get(L_L1[j], INV)
            l2 = l1d[1] if l1d[0] == 'T' else 'l2.%d.%d' % (s, j)
            sp, jj = tid_table(l2)
            if r < 0.45:
                tid, idx = l2, self.ch(L_L2)
                kind = self.wch([('B', 4), ('T', 4 if idx in L_TBL_L2 else 0), ('F', 2)])
                if kind == 'T':
                    k = L_TBL_L2.index(idx)
                    owner = sp if rng.random() < 0.85 else rng.randrange(NSPACES)
                    d = ('T', 'l3.%d.%d.%d' % (owner, jj, k)) + self.t_attrs()
                elif kind == 'B':
                    pa = self.ch((0x41000000, 0x41200000, 0x42000000, 0x42200000))
                    d = ('B', pa) + self.l_attrs()
                else:
                    d = ('F', self.junk(False))
                va = (L_L1[j] << 30) + idx * 2 * MIB
            else:
                k = rng.randrange(len(L_TBL_L2))
                l2d = m.tab[l2].get(L_TBL_L2[k], INV)
                tid = l2d[1] if l2d[0] == 'T' else 'l3.%d.%d.%d' % (sp, jj, k)
                idx = self.ch(L_L3)
                kind = self.wch([('B', 6), ('F', 2), ('R', 0.3)])
                if kind == 'B':
                    d = ('B', self.near_pa(m.tab[tid], idx)) + self.l_attrs()
                else:
                    d = (kind, self.junk(False))
                va = (L_L1[j] << 30) + L_TBL_L2[k] * 2 * MIB + idx * PAGE
        return {'k': 'edit', 'w': [(tid, idx, 1, d)]}, va, s

    def mutate(self, d, level):
        """Another descriptor for a live leaf: moved, other rights, other
        nG/XN, or invalid."""
        rng = self.rng
        m = self.em.m
        what = self.wch([('pa', 5), ('ap', 3), ('ng', 1), ('xn', 1), ('inv', 2)])
        if what == 'inv':
            return ('F', self.junk(m.fmt == 'short'))
        d = list(d)
        if what == 'pa':
            if m.fmt == 'short':
                if d[0] == 'S':
                    d[1] = self.ch(HOT_MIB) if rng.random() < 0.7 else \
                        POOL_LO + rng.randrange((POOL_HI - POOL_LO) // MIB) * MIB
                elif d[0] == 'SS':
                    d[1] = 0x41000000 if d[1] != 0x41000000 else 0x42000000
                elif d[0] == 'L':
                    d[1] = self.ch(HOT_MIB) + self.ch((0, 1, 15)) * 0x10000
                else:
                    d[1] = self.pick_pa_page()
            else:
                if level == 3:
                    d[1] = self.pick_pa_page()
                elif level == 2:
                    d[1] = self.ch((0x41000000, 0x41200000, 0x42000000, 0x42200000))
                else:
                    what = 'ap'
        if what == 'ap':
            d[2] = self.s_ap() if m.fmt == 'short' else self.l_attrs()[0]
            if m.fmt == 'lpae' and rng.random() < 0.3:
                d[6] = 1 - d[6]              # the access flag
        elif what == 'ng':
            d[3] = 1 - d[3]
        elif what == 'xn':
            i = 5 if d[0] == 'S' else 4
            d[i] = 1 - d[i]
        return tuple(d)

    def g_edit_live(self, s):
        """Change the entry that maps a page space s accessed (or ran code
        from) lately.  Returns (writes, va, the entry's base and size, the
        address of the code run there or None), or None."""
        m = self.em.m
        if not self.hist.get(s):
            return None
        va, xva = self.ch(self.hist[s])
        if m.fmt == 'short':
            l1 = 's1.%d' % s
            i = va >> 20
            d = m.tab[l1].get(i, INV)
            if d[0] == 'S':
                return [(l1, i, 1, self.mutate(d, 1))], va, (i << 20, MIB), xva
            if d[0] == 'SS':
                return [(l1, i & ~15, 16, self.mutate(d, 1))], va, ((i & ~15) << 20, 16 * MIB), xva
            if d[0] != 'T':
                return None
            j = (va >> 12) & 0xFF
            e = m.tab[d[1]].get(j, INV)
            if e[0] == 'P':
                return [(d[1], j, 1, self.mutate(e, 2))], va, (va, PAGE), xva
            if e[0] == 'L':
                return [(d[1], j & 0xF0, 16, self.mutate(e, 2))], va, (va & ~0xFFFF, 0x10000), xva
            return None
        tid, level = 'l1.%d' % s, 1
        while True:
            idx = Model.lp_index(level, va)
            d = m.tab[tid].get(idx, INV)
            if d[0] == 'B':
                size = 1 << (30 if level == 1 else 21 if level == 2 else 12)
                return [(tid, idx, 1, self.mutate(d, level))], va, (va & ~(size - 1), size), xva
            if d[0] != 'T' or level == 3:
                return None
            tid, level = d[1], level + 1

    def g_populate(self, s):
        """Edits that give space s a bit of everything to start with."""
        rng = self.rng
        ops = []

        def e(tid, idx, cnt, d):
            ops.append({'k': 'edit', 'w': [(tid, idx, cnt, d)]})
        m = self.em.m
        share = s > 0 and rng.random() < 0.6
        if m.fmt == 'short':
            l1 = 's1.%d' % s
            if share:
                # the kernel half (group B) as space 0 has it: same sections,
                # same second-level tables
                for i in range(0x810, 0x820):
                    d = m.tab['s1.0'].get(i)
                    if d is not None:
                        e(l1, i, 1, d)
            for k, idx in enumerate(S_TBL_L1):
                if share and idx >= 0x810:
                    continue
                if rng.random() < 0.3 and idx != 0x800:
                    ap, ng, xn = self.s_leaf_attrs()
                    e(l1, idx, 1, ('S', self.ch(HOT_MIB), ap, ng, self.ch((0, 0, 1, 2, 3)), xn, 0))
                    continue
                tid = 's2.%d.%d' % (s, k)
                e(l1, idx, 1, ('T', tid, self.ch((0, 0, 1, 2, 3))))
                run = self.pick_pa_page() if rng.random() < 0.6 else None
                for j in rng.sample(S_SMALL, rng.randrange(3, 8)):
                    ap, ng, xn = self.s_leaf_attrs()
                    pa = run + j * PAGE if run is not None and j < 0x20 else self.pick_pa_page()
                    e(tid, j, 1, ('P', pa, ap, ng, xn))
                if rng.random() < 0.5:
                    ap, ng, xn = self.s_leaf_attrs()
                    g = self.ch((0x10, 0xF0)) if k else 0x40
                    e(tid, g, 16, ('L', self.ch(HOT_MIB) + self.ch((0, 1, 15)) * 0x10000, ap, ng, xn))
            for idx in (0x802, 0x803, 0x80E):
                ap, ng, xn = self.s_leaf_attrs()
                e(l1, idx, 1, ('S', self.ch(HOT_MIB), ap, ng, self.ch((0, 0, 1, 2, 3)), xn, 0))
            if rng.random() < 0.35 and not share:
                ap, ng, xn = self.s_leaf_attrs()
                e(l1, 0x810, 16, ('SS', self.ch((0x41000000, 0x42000000)), ap, ng, xn, 0))
            return ops
        for j, i1 in enumerate(L_L1):
            l2 = 'l2.%d.%d' % (s, j)
            if j == 1 and share and 3 in m.tab['l1.0']:
                e('l1.%d' % s, i1, 1, m.tab['l1.0'][3])
                continue
            if j == 1 and rng.random() < 0.5:
                e('l1.%d' % s, i1, 1, ('B', RAM_LO) + self.l_attrs())
                continue
            e('l1.%d' % s, i1, 1, ('T', l2) + self.t_attrs())
            for k, i2 in enumerate(L_L2):
                if i2 in L_TBL_L2 and rng.random() < 0.7:
                    l3 = 'l3.%d.%d.%d' % (s, j, L_TBL_L2.index(i2))
                    e(l2, i2, 1, ('T', l3) + self.t_attrs())
                    run = self.pick_pa_page() if rng.random() < 0.6 else None
                    for i3 in rng.sample(L_L3, rng.randrange(3, 8)):
                        pa = run + i3 * PAGE if run is not None and i3 < 0x20 else self.pick_pa_page()
                        e(l3, i3, 1, ('B', pa) + self.l_attrs())
                elif rng.random() < 0.6:
                    e(l2, i2, 1, ('B', self.ch((0x41000000, 0x41200000, 0x42000000, 0x42200000)))
                      + self.l_attrs())
        return ops

    def g_followups(self, va, s, live=None):
        """After an edit: usually its TLB maintenance, then accesses there.
        live: (entry base, size, code address) of a live entry's edit."""
        m = self.em.m
        rng = self.rng
        q = []
        r = rng.random()
        asid = m.asid_of[s]
        if r < (0.85 if live else 0.7):
            name = self.wch([('TLBIMVA', 5), ('TLBIMVAA', 3), ('TLBIMVAIS', 1), ('TLBIMVAAIS', 1),
                             ('TLBIASID', 2), ('TLBIASIDIS', 1), ('TLBIALL', 1), ('TLBIALLIS', 0.5),
                             ('DTLBIMVA', 0.7), ('ITLBIMVA', 0.3)])
            kind = TLBI[name][2]
            if live and rng.random() < 0.5:
                # any page of the entry: a large one goes whole
                page = live[0] + rng.randrange(live[1] // PAGE) * PAGE
            else:
                page = (va & ~0xFFF) + (0 if live or rng.random() < 0.5 else rng.randrange(4) * PAGE)
            arg = {'all': 0, 'mva': page | asid, 'asid': asid, 'mvaa': page}[kind]
            q.append({'k': 'tlbi', 'op': name, 'arg': arg})
        if s != m.cur and rng.random() < (0.8 if live else 0.5):
            q.append({'k': 'sw', 'sp': s, 'how': 'via0', 'procid': 0})
        for _ in range(rng.randrange(1, 4)):
            q.append(('acc', va & ~0xFFF))
        if live and live[2] is not None:
            q.insert(len(q) - 1, {'k': 'exec', 'va': live[2], 'mode': self.ch(('pl1', 'usr'))})
        elif rng.random() < 0.2:
            q.append(('exec', None))
        return q

    # -- the program ----------------------------------------------------
    def one(self):
        """One operation: a follow-up of the last edit, or a random one.
        Returns (op, remake) where remake() draws another of the same kind."""
        em = self.em
        m = em.m
        short = m.fmt == 'short'
        while self.queue and self.rng.random() < 0.85:
            it = self.queue.pop(0)
            if isinstance(it, dict):
                return it, None
            if it[0] == 'acc':
                return self.g_acc(it[1]), self.g_acc
            if it[0] == 'exec':
                return self.g_exec(), self.g_exec
        k = self.wch([('acc', 40), ('burst', 5), ('wb', 4), ('edit', 17), ('tlbi', 9), ('sw', 5),
                      ('asid', 1.5), ('dacr', 4 if short else 0.5), ('excl', 4), ('exec', 5),
                      ('smc', 3), ('spin', 0.8), ('warm', 0.4), ('digest', 0.3), ('align', 0.7),
                      ('noise', 1)])
        if k == 'edit':
            s = m.cur if self.rng.random() < 0.75 else self.rng.randrange(NSPACES)
            live = self.g_edit_live(s) if self.rng.random() < 0.65 else None
            if live:
                op, va = {'k': 'edit', 'w': live[0]}, live[1]
            else:
                op, va, s = self.g_edit_short() if short else self.g_edit_lpae()
            self.add_hot(va)
            self.queue = self.g_followups(va, s, live[2] + (live[3],) if live else None)
            return op, None
        if k == 'align':
            return {'k': 'align', 'on': not m.align if self.rng.random() < 0.7 else m.align}, None
        if k == 'digest':
            return {'k': 'digest'}, None
        f = getattr(self, 'g_' + k)
        op = f()
        if k == 'smc':
            x = op['xva'] if op['xva'] is not None else op['wva']
            self.queue = [{'k': 'exec', 'va': x, 'mode': 'pl1'}] + \
                ([{'k': 'exec', 'va': op['slot'], 'mode': 'usr'}] if self.rng.random() < 0.3 else [])
        return op, f

    def generate(self):
        rng = self.rng
        nphase = 1 if rng.random() < 0.45 else 2
        phases = []
        for p in range(nphase):
            fmt = self.ch(('short', 'lpae'))
            asids = [rng.randrange(1, 7) for _ in range(NSPACES)]
            phases.append({'fmt': fmt, 'asids': asids, 'ops': [],
                           'afe': int(fmt == 'short' and rng.random() < 0.35)})
        n = 0
        for p, ph in enumerate(phases):
            self.em.setup(ph)
            self.hot, self.queue, self.hist = [], [], {}
            self.dacrs = [0x55555555] + [self.new_dacr() for _ in range(rng.randrange(1, 4))]
            tries = 0
            ninit = 0
            for sp in range(NSPACES):
                for op in self.g_populate(sp) + \
                        ([{'k': 'tlbi', 'op': 'TLBIALL', 'arg': 0}] if sp == NSPACES - 1 else []):
                    self.em.run(n, op)
                    ph['ops'].append(op)
                    n += 1
                    ninit += 1
            count = ninit + self.nops // nphase
            for _ in range(10):     # let the default governor shadow the first space
                op = self.g_warm()
                if self.em.run(n, op) is not None:
                    ph['ops'].append(op)
                    n += 1
                    break
            while len(ph['ops']) < count and tries < count * 40:
                tries += 1
                op, remake = self.one()
                c = self.em.run(n, op)
                for _ in range(10):
                    if c is not None or remake is None:
                        break
                    op = remake()
                    c = self.em.run(n, op)
                if c is None:
                    continue
                if op['k'] in ('acc', 'exec'):
                    self.add_hot(op['va'])
                    h = self.hist.setdefault(self.em.m.cur, [])
                    if not RAM_LO <= op['va'] < RAM_HI:
                        h.append((op['va'] & ~0xFFF, op['va'] if op['k'] == 'exec' else None))
                        del h[:-48]
                ph['ops'].append(op)
                n += 1
            # end of phase: everything invalidated, then a digest of memory
            op = {'k': 'tlbi', 'op': 'TLBIALL', 'arg': 0}
            self.em.run(n, op)
            ph['ops'].append(op)
            n += 1
            op = {'k': 'digest'}
            self.em.run(n, op)
            ph['ops'].append(op)
            n += 1
        return phases


def emit(seed, phases, keep, argv):
    em = Emitter(seed)
    body = []
    n = 0
    funcs = []
    for p, ph in enumerate(phases):
        em.setup(ph)
        chunk = []
        fname = 'phase%d_%d' % (p, 0)
        args = '%d' % ph['asids'][0] if ph['fmt'] == 'lpae' else '%d, %d' % (ph['asids'][0], ph['afe'])
        funcs.append((fname, ph['fmt'], args, True))
        chunk_i = 0
        for op in ph['ops']:
            if keep is None or n in keep:
                c = em.run(n, op)
                if c is None:
                    chunk.append('    /* op %d (%s) dropped: undetermined here */' % (n, op['k']))
                else:
                    chunk.append('    ' + c)
            n += 1
            if len(chunk) >= 40:
                body.append((fname, chunk))
                chunk_i += 1
                fname = 'phase%d_%d' % (p, chunk_i)
                funcs.append((fname, ph['fmt'], None, False))
                chunk = []
        body.append((fname, chunk))
    nops = n
    out = ['/* generated by tests/fuzz/gen.py %s: %d ops */' % (' '.join(argv), nops),
           '#include "bm.h"',
           '#define SEED %su' % hx(seed)]
    pages = sorted(em.mem.pages)
    out.append('static const uint32_t code_pages[] = {%s};' % ', '.join(hx(c) for c in CODE_PAGES))
    out.append(PRELUDE)
    out.append('static const uint32_t touched[] = {%s};' % ', '.join(hx(p) for p in pages))
    for fname, chunk in body:
        out.append('static __attribute__((noinline)) void %s(void)\n{' % fname)
        out.extend(chunk)
        out.append('}')
    out.append('int main(void)\n{')
    out.append('    fill(touched, %d);' % len(pages))
    out.append('    fpu_enable();')
    first = True
    for fname, fmt, asid, start in funcs:
        if start:
            if not first:
                out.append('    mmu_off();')
            first = False
            out.append('    setup_%s(%s);' % (fmt, asid))
        out.append('    %s();' % fname)
    out.append('    pr("end ck %08x model %u\\n", ck, model_bad);')
    out.append('    finish("fuzz");')
    out.append('}')
    return '\n'.join(out) + '\n', nops, em.stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('seed', type=int)
    ap.add_argument('--keep', help='comma-separated operation indexes to keep')
    ap.add_argument('--ops', type=int, default=DEFAULT_OPS, help='random operations per program')
    ap.add_argument('--count', action='store_true', help='print the number of operations')
    ap.add_argument('--stats', action='store_true', help='print what the operations do, to stderr')
    ap.add_argument('--avoid-known', action='store_true',
                    help='stay clear of the known QEMU/ESPT jump-cache issue with large pages '
                         '(README), to look for other bugs while it stands')
    ap.add_argument('--unsafe', action='store_true',
                    help='ignore what the TLB may hold: accesses may then be undetermined '
                         '(only to show that the oracle sees stale translations)')
    a = ap.parse_args()
    Model.unsafe = a.unsafe
    Emitter.avoid_known = a.avoid_known
    g = Gen(a.seed, a.ops)
    phases = g.generate()
    keep = None
    if a.keep is not None:
        keep = {int(x) for x in a.keep.split(',') if x.strip()}
    argv = [str(a.seed)] + (['--ops', str(a.ops)] if a.ops != DEFAULT_OPS else []) + \
        (['--unsafe'] if a.unsafe else []) + (['--avoid-known'] if a.avoid_known else []) + \
        (['--keep', a.keep] if a.keep is not None else [])
    text, nops, stats = emit(a.seed, phases, keep, argv)
    if a.stats:
        for k in sorted(stats):
            sys.stderr.write('%6d %s\n' % (stats[k], k))
    if a.count:
        print(nops)
        return
    sys.stdout.write(text)


if __name__ == '__main__':
    main()
