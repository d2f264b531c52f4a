#!/usr/bin/env python3
"""Generate the deterministic input files of the Linux benchmark guest.

    gen-inputs.py OUTDIR

Writes, from a fixed 32-bit linear congruential generator (so the bytes
never depend on the Python version):

  text.txt   16 MiB of English-like text: words of a Zipf-distributed
             vocabulary, sentences, paragraphs (compressors, perl)
  dna.txt    FASTA-like DNA records, 24 MiB (grep)
  doc.xml    a DocBook 5 article: sections, paragraphs, lists, tables,
             cross references (xsltproc with the DocBook XSL stylesheets);
             doc-small.xml, the same with a tenth of the sections
"""
import os
import sys


class Lcg:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF

    def next(self):
        self.s = (self.s * 1103515245 + 12345) & 0xFFFFFFFF
        return self.s >> 8  # 24 good bits

    def below(self, n):
        return self.next() % n


SYLLABLES = ("ka ri to na me su lo ve an er in on st th qu pr ex co de "
             "ma pe ti ul or ab ge mi ra so").split()


def vocabulary(rng, n):
    words, seen = [], set()
    while len(words) < n:
        w = "".join(SYLLABLES[rng.below(len(SYLLABLES))]
                    for _ in range(1 + rng.below(4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def zipf_table(n):
    # cumulative weights 1/(i+1), scaled to integers
    cum, total = [], 0
    for i in range(n):
        total += 1_000_000 // (i + 1)
        cum.append(total)
    return cum, total


def pick(rng, words, cum, total):
    import bisect
    r = (rng.next() * 256 + rng.below(256)) % total
    return words[bisect.bisect_right(cum, r)]


def text(path, size):
    rng = Lcg(20240601)
    words = vocabulary(rng, 6000)
    cum, total = zipf_table(len(words))
    out, n = [], 0
    while n < size:
        para = []
        for _ in range(2 + rng.below(6)):
            s = [pick(rng, words, cum, total) for _ in range(4 + rng.below(14))]
            s[0] = s[0].capitalize()
            if rng.below(5) == 0:
                s.insert(1 + rng.below(len(s) - 1), str(rng.below(100000)))
            para.append(" ".join(s) + rng.below(8) // 7 * "?" + (rng.below(8) < 7) * ".")
        line = " ".join(para) + "\n\n"
        out.append(line)
        n += len(line)
    with open(path, "w") as f:
        f.write("".join(out)[:size])


def dna(path, size):
    rng = Lcg(77)
    out, n, rec = [], 0, 0
    while n < size:
        rec += 1
        hdr = ">seq%06d len=%d\n" % (rec, 0)
        body = []
        length = 600 + rng.below(2400)
        seq = "".join("ACGT"[rng.next() >> 22] for _ in range(length))
        # plant some motifs
        if rng.below(3) == 0:
            p = rng.below(length - 20)
            seq = seq[:p] + "GAATTC" + seq[p + 6:]
        if rng.below(7) == 0:
            p = rng.below(length - 20)
            seq = seq[:p] + "TATAAAAG" + seq[p + 8:]
        for i in range(0, length, 60):
            body.append(seq[i:i + 60] + "\n")
        chunk = hdr.replace("len=0", "len=%d" % length) + "".join(body)
        out.append(chunk)
        n += len(chunk)
    with open(path, "w") as f:
        f.write("".join(out))


def doc(path, sections):
    rng = Lcg(4242)
    words = vocabulary(rng, 3000)
    cum, total = zipf_table(len(words))

    def sent(lo, hi):
        return " ".join(pick(rng, words, cum, total) for _ in range(lo + rng.below(hi - lo)))

    o = ['<?xml version="1.0" encoding="UTF-8"?>\n',
         '<article xmlns="http://docbook.org/ns/docbook" '
         'xmlns:xlink="http://www.w3.org/1999/xlink" version="5.0">\n',
         '<info><title>ESPT benchmark document</title></info>\n']
    for s in range(sections):
        o.append('<section xml:id="s%d"><title>%s</title>\n' % (s, sent(2, 6)))
        for sub in range(3):
            o.append('<section xml:id="s%d-%d"><title>%s</title>\n' % (s, sub, sent(2, 5)))
            for _ in range(3):
                o.append("<para>%s <emphasis>%s</emphasis> %s" % (sent(8, 30), sent(1, 4), sent(4, 20)))
                if s > 0 and rng.below(3) == 0:
                    o.append(' (see <xref linkend="s%d"/>)' % rng.below(s))
                o.append("</para>\n")
            o.append("<itemizedlist>\n")
            for _ in range(2 + rng.below(4)):
                o.append("<listitem><para>%s</para></listitem>\n" % sent(3, 10))
            o.append("</itemizedlist>\n")
            if rng.below(2) == 0:
                o.append('<table><title>%s</title><tgroup cols="3"><tbody>\n' % sent(2, 4))
                for _ in range(4):
                    o.append("<row>%s</row>\n" % "".join(
                        "<entry>%s</entry>" % sent(1, 3) for _ in range(3)))
                o.append("</tbody></tgroup></table>\n")
            o.append("</section>\n")
        o.append("</section>\n")
    o.append("</article>\n")
    with open(path, "w") as f:
        f.write("".join(o))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    text(os.path.join(out, "text.txt"), 16 << 20)
    dna(os.path.join(out, "dna.txt"), 24 << 20)
    doc(os.path.join(out, "doc.xml"), 160)
    doc(os.path.join(out, "doc-small.xml"), 16)


if __name__ == "__main__":
    main()
