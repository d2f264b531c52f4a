#!/bin/dash
# ESPT Linux guest workload (installed as /usr/bin/espt-workload, run by
# /init).  It runs under dash, so every command below is the real Debian
# program found on PATH (busybox sh would run its own applets instead).
#
# Every result is checked in the guest against an independent computation,
# and everything printed is deterministic: no times, sizes of things that
# depend on the environment, PIDs or dates.  The last lines are
# "WORKLOAD DONE" and then "PASS linux-workload" or "FAIL linux-workload: ...".
#
# ESPT_SCALE (kernel command line espt.scale=N, default 1) multiplies the
# amount of work; the printed results depend on it.

set -u
export LC_ALL=C
SCALE=${ESPT_SCALE:-1}
case $SCALE in ''|*[!0-9]*|0) echo "FAIL bad ESPT_SCALE=$SCALE"; SCALE=1 ;; esac

# Sizes for about a minute of work under plain TCG.  The pi computation is
# quadratic in its number of digits, everything else linear.
LINES=$((240000 * SCALE))      # generated data lines (~17 bytes each)
PI_DIGITS=$((2500 * SCALE))    # digits of pi, computed two ways
SIEVE=$((600000 * SCALE))      # primes below this, counted two ways
FORKS=$((500 * SCALE))         # shell fork/exec iterations
PERL_FORKS=$((200 * SCALE))    # perl fork/exec/wait iterations

. /usr/lib/espt/workload-lib.sh
W=/tmp/espt-work
work_dir "$W"

echo "=== workload start (scale $SCALE)"

# --- 1. generate data ---------------------------------------------------------
echo "--- data"
gen_data "$LINES" 20240601 >data.txt
expect data "line count" "$(wc -l <data.txt | tr -d ' ')" "$LINES"
echo "  data.txt: $(size data.txt) bytes, sha256 $(sha data.txt)"
ORIG=$(sha data.txt)

# --- 2. compression round trips ---------------------------------------------
echo "--- compression"
roundtrip() { # NAME SUFFIX COMPRESS... -- DECOMPRESS...
    name=$1 suf=$2
    shift 2
    comp=""
    while [ "$1" != "--" ]; do comp="$comp $1"; shift; done
    shift
    $comp <data.txt >"data.$suf" || bad "compression: $name exited $?" compression
    "$@" <"data.$suf" >"data.$suf.out" || bad "compression: $name -d exited $?" compression
    echo "  $name: $(size "data.$suf") bytes, sha256 $(sha "data.$suf")"
    expect compression "$name round trip" "$(sha "data.$suf.out")" "$ORIG"
    rm -f "data.$suf.out"
}
roundtrip gzip gz gzip -9 -n -c -- gzip -d -c
roundtrip xz xz xz -6 -c -- xz -d -c
roundtrip bzip2 bz2 bzip2 -9 -c -- bzip2 -d -c
expect compression "gzip -t" "$(gzip -t data.gz && echo good)" good
expect compression "xz -t" "$(xz -t data.xz && echo good)" good
# tar of the perl library, extracted again and compared file by file.
mkdir tree
tar -C /usr/lib -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -f - arm-linux-gnueabihf/perl-base | xz -1 -c >tree.tar.xz
xz -d -c tree.tar.xz | tar -C tree -x -f -
(cd /usr/lib && find arm-linux-gnueabihf/perl-base -type f | sort | xargs sha256sum) >tree.want
(cd tree && find arm-linux-gnueabihf/perl-base -type f | sort | xargs sha256sum) >tree.got
echo "  tree: $(wc -l <tree.want | tr -d ' ') files, sha256 $(sha tree.want)"
expect compression "tar+xz round trip" "$(sha tree.got)" "$(sha tree.want)"
rm -rf tree tree.tar.xz

# --- 3. sort, uniq, awk ------------------------------------------------------
echo "--- text processing"
# Occurrences per key, three ways: sort|uniq, gawk, perl.
cut -d' ' -f1 data.txt | sort | uniq -c | gawk '{ print $2, $1 }' >count.uniq
gawk '{ c[$1]++ } END { for (k in c) print k, c[k] }' data.txt | sort >count.awk
perl -ne '/^(\S+)/ and $c{$1}++; END { print "$_ $c{$_}\n" for sort keys %c }' data.txt >count.perl
echo "  keys: $(wc -l <count.uniq | tr -d ' '), sha256 $(sha count.uniq)"
expect text "gawk counts = sort|uniq" "$(sha count.awk)" "$(sha count.uniq)"
expect text "perl counts = sort|uniq" "$(sha count.perl)" "$(sha count.uniq)"
echo "  most frequent keys:"
sort -k2,2nr -k1,1 count.uniq | head -n 3 | sed 's/^/    /'
# Sums of values per word, gawk against perl.
gawk '{ s[$3] += $2 } END { for (w in s) print w, s[w] }' data.txt | sort >sum.awk
perl -ane '$s{$F[2]} += $F[1]; END { print "$_ $s{$_}\n" for sort keys %s }' data.txt >sum.perl
echo "  value sums per word:"
sed 's/^/    /' sum.awk
expect text "perl sums = gawk sums" "$(sha sum.perl)" "$(sha sum.awk)"
# Numeric sort and unique values.
cut -d' ' -f2 data.txt | sort -n >values.sorted
expect text "sort -n is ordered" "$(sort -n -c values.sorted && echo sorted)" sorted
MEDIAN=$(sed -n "$(( (LINES + 1) / 2 ))p" values.sorted)
PMEDIAN=$(perl -ane 'push @v, $F[1]; END { @v = sort { $a <=> $b } @v; print $v[$#v / 2] }' data.txt)
echo "  median value: $MEDIAN, distinct values: $(uniq values.sorted | wc -l | tr -d ' ')"
expect text "perl median = sort median" "$PMEDIAN" "$MEDIAN"
rm -f count.* sum.* values.sorted

# --- 4. computation (perl, gawk) ------------------------------------------
echo "--- computation"
cat >pi.pl <<'EOF'
# Digits of pi in base-10000 fixed point (limb 0 is the integer part), from a
# Machin-like arccotangent formula chosen by the second argument.
use strict; use warnings; use integer;
my ($D, $formula) = @ARGV;
my $L = int($D / 4) + 3;
my $B = 10000;
sub divs { my ($a, $d) = @_; my ($r, @q) = (0);
    for my $x (@$a) { my $c = $r * $B + $x; push @q, $c / $d; $r = $c % $d } \@q }
sub muls { my ($a, $m) = @_; my ($c, @p) = (0);
    for my $x (reverse @$a) { my $t = $x * $m + $c; unshift @p, $t % $B; $c = $t / $B } \@p }
sub addsub { my ($a, $b, $sign) = @_; my ($c, @s) = (0);
    for (my $i = $L - 1; $i >= 0; $i--) {
        my $t = $a->[$i] + $sign * $b->[$i] + $c;
        if ($t >= $B) { $t -= $B; $c = 1 } elsif ($t < 0) { $t += $B; $c = -1 } else { $c = 0 }
        $s[$i] = $t }
    \@s }
sub acot { my ($x) = @_; my $p = divs([1, (0) x ($L - 1)], $x); my $sum = $p; my $k = 1;
    while (1) { $p = divs($p, $x * $x); last unless grep { $_ } @$p;
        $sum = addsub($sum, divs($p, 2 * $k + 1), ($k & 1) ? -1 : 1); $k++ }
    $sum }
my @terms = $formula eq "machin" ? ([16, 5], [-4, 239]) : ([48, 18], [32, 57], [-20, 239]);
my $pi = [(0) x $L];
for my $t (@terms) { $pi = addsub($pi, muls(acot($t->[1]), abs $t->[0]), $t->[0] < 0 ? -1 : 1) }
my $s = $pi->[0] . "."; $s .= sprintf "%04d", $pi->[$_] for 1 .. $L - 1;
print substr($s, 0, $D + 2), "\n";
EOF
perl pi.pl "$PI_DIGITS" machin >pi.machin
perl pi.pl "$PI_DIGITS" gauss >pi.gauss
echo "  pi to $PI_DIGITS digits: $(cut -c1-32 pi.machin)... sha256 $(sha pi.machin)"
expect compute "Machin = Gauss" "$(sha pi.gauss)" "$(sha pi.machin)"
expect compute "pi prefix" "$(cut -c1-52 pi.machin)" "3.14159265358979323846264338327950288419716939937510"
PRIMES=$(perl -e 'my $n = shift; my $s = "\1" x $n; vec($s, $_, 8) = 0 for 0, 1;
    for (my $i = 2; $i * $i < $n; $i++) { next unless vec($s, $i, 8);
        for (my $j = $i * $i; $j < $n; $j += $i) { vec($s, $j, 8) = 0 } }
    print $s =~ tr/\1//' "$SIEVE")
# The same count from gawk, sieving odd numbers only.
GPRIMES=$(gawk -v n="$SIEVE" 'BEGIN {
    c = (n > 2)
    for (i = 3; i < n; i += 2) {
        if (i in comp) { delete comp[i]; continue }
        c++
        for (j = i * i; j < n; j += 2 * i) comp[j] = 1
    }
    print c
}')
echo "  primes below $SIEVE: $PRIMES"
expect compute "gawk sieve = perl sieve" "$GPRIMES" "$PRIMES"
[ "$SIEVE" = 600000 ] && expect compute "sieve count" "$PRIMES" 49098
QUEENS=$(perl -e 'my $n = 8; my $c = 0;
    sub place { my ($r, $cols, $d1, $d2) = @_; if ($r == $n) { $c++; return }
        for my $q (0 .. $n - 1) { next if $cols & 1 << $q or $d1 & 1 << ($r + $q) or $d2 & 1 << ($r - $q + $n);
            place($r + 1, $cols | 1 << $q, $d1 | 1 << ($r + $q), $d2 | 1 << ($r - $q + $n)) } }
    place(0, 0, 0, 0); print $c')
expect compute "8 queens solutions" "$QUEENS" 92
rm -f pi.*

# --- 5. processes ---------------------------------------------------------------
echo "--- processes"
i=0
n=0
while [ $i -lt "$FORKS" ]; do
    /bin/true || bad "processes: /bin/true failed" processes
    # shellcheck disable=SC2003 # running the external program is the point
    n=$(expr "$n" + 1)
    i=$((i + 1))
done
echo "  shell fork/exec iterations: $n"
expect processes "expr counted every iteration" "$n" "$FORKS"
PF=$(perl -e 'my $n = shift; my ($sum, $want) = (0, 0);
    for my $i (1 .. $n) { my $pid = fork // die "fork: $!";
        if (!$pid) { exec "/bin/sh", "-c", "exit " . ($i % 7) or die "exec: $!" }
        waitpid($pid, 0) == $pid or die "waitpid"; $sum += $? >> 8; $want += $i % 7 }
    print "$sum $want"' "$PERL_FORKS")
echo "  perl fork/exec/wait exit status sum: ${PF% *}"
expect processes "exit statuses" "${PF% *}" "${PF#* }"
# fork and copy-on-write: parent and child write the same pages of a
# 1 MiB buffer, in turn, and each must see its own writes and none of the
# other's (the kernel write-protects both copies and flushes the TLB).
COW=$(perl -e 'my ($n, $pages) = (shift, 256); my $buf = "P" x (4096 * $pages);
    my $good = 0;
    for my $i (1 .. $n) {
        my $tag = chr(65 + $i % 26);
        pipe(my $cr, my $pw) or die "pipe: $!"; pipe(my $pr, my $cw) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $pw; close $pr;
            substr($buf, 4096 * $_, 1) = $tag for 0 .. $pages - 1;
            syswrite $cw, "w"; sysread $cr, my $go, 1;
            my $ok = 1;
            for (0 .. $pages - 1) { $ok = 0 if substr($buf, 4096 * $_, 2) ne "${tag}P" }
            exit($ok ? 0 : 1);
        }
        close $cw; close $cr;
        sysread $pr, my $done, 1;
        substr($buf, 4096 * $_ + 1, 1) = "Q" for 0 .. $pages - 1;
        syswrite $pw, "g";
        waitpid($pid, 0) == $pid or die "waitpid";
        my $ok = $? == 0;
        for (0 .. $pages - 1) { $ok = 0 if substr($buf, 4096 * $_, 2) ne "PQ" }
        substr($buf, 4096 * $_ + 1, 1) = "P" for 0 .. $pages - 1;
        $good++ if $ok;
    }
    print "$good $n"' "$((FORKS / 10))")
echo "  fork/COW: ${COW% *} of ${COW#* } parent/child pairs saw their own writes only"
expect processes "fork/COW pairs" "$COW" "$((FORKS / 10)) $((FORKS / 10))"
PIPE=$(seq 1 "$((FORKS * 50))" | gawk '{ s += $1 } END { print s }')
expect processes "seq | gawk sum" "$PIPE" "$(( FORKS * 50 * (FORKS * 50 + 1) / 2 ))"

cd /
rm -rf "$W"
echo "WORKLOAD DONE"
if [ -z "$FAILED" ]; then
    echo "PASS linux-workload"
else
    echo "FAIL linux-workload:$FAILED"
fi
