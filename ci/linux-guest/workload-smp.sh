#!/bin/dash
# ESPT Linux guest SMP workload (installed as /usr/bin/espt-workload-smp, run
# by /init with espt.workload=smp on a guest started with -smp 2 or more).
#
# What it is for: address spaces that are live on two vCPUs at once.  The
# threads of one process run on both CPUs while one of them maps and unmaps
# memory (xz -T2, sort --parallel=2: every munmap is a broadcast TLB
# invalidation that must reach the other vCPU's shadow before the memory is
# reused), processes migrate between CPUs, and fork/exec loops on both CPUs
# recycle ASIDs concurrently.  Every result is checked against the same
# computation done single-threaded, and everything printed is deterministic
# (not the CPU count, not the order jobs finish in).  The last lines are
# "SMP WORKLOAD DONE" and then "PASS linux-smp" or "FAIL linux-smp: ...".

set -u
export LC_ALL=C

LINES=80000         # generated data lines (~17 bytes each)
JOBS=4              # concurrent processes in step 3
FORKS=100           # fork/exec iterations of each of the two loops in step 4

. /usr/lib/espt/workload-lib.sh
W=/tmp/espt-smp
work_dir "$W"

echo "=== smp workload"
CPUS=$(grep -c '^processor' /proc/cpuinfo)
if [ "$CPUS" -ge 2 ]; then ok "more than one CPU online"; else bad "cpus: only $CPUS online (start QEMU with -smp 2)" cpus; fi

# --- 1. data --------------------------------------------------------------------
echo "--- data"
gen_data "$LINES" 19700101 >data.txt
ORIG=$(sha data.txt)
echo "  data.txt: sha256 $ORIG"

# --- 2. threads of one process on both CPUs ----------------------------------------
echo "--- threads"
# Small blocks make xz compress (and decompress) with two threads for real;
# the threaded output is deterministic for a given block size.
xz -T2 --block-size=128KiB -6 -c data.txt >data.xz || bad "threads: xz -T2 exited $?" threads
echo "  xz -T2: sha256 $(sha data.xz)"
xz -T2 -d -c data.xz >data.out || bad "threads: xz -T2 -d exited $?" threads
expect threads "xz -T2 round trip" "$(sha data.out)" "$ORIG"
xz -T1 -d -c data.xz >data.out || bad "threads: xz -T1 -d exited $?" threads
expect threads "xz -T1 reads what -T2 wrote" "$(sha data.out)" "$ORIG"
# sort's merge threads, with a buffer small enough to spill to temporary files.
sort --parallel=2 -S 1M -k2,2n -k1,1 -k3,3 data.txt >sorted.par
sort --parallel=1 -k2,2n -k1,1 -k3,3 data.txt >sorted.one
echo "  sort --parallel=2: sha256 $(sha sorted.par)"
expect threads "sort --parallel=2 = --parallel=1" "$(sha sorted.par)" "$(sha sorted.one)"
rm -f data.out sorted.*

# --- 3. concurrent processes --------------------------------------------------------
echo "--- processes in parallel"
job() { # N: a pipeline whose result depends on N
    gawk -v m="$1" '{ s[$1] = (s[$1] * 31 + $2 * m) % 1000000007 } END { for (k in s) print k, s[k] }' data.txt |
        sort | gzip -9 -n | gzip -d | sha256sum | cut -d' ' -f1
}
i=1
while [ $i -le $JOBS ]; do
    job $i >par.$i &
    i=$((i + 1))
done
wait
i=1
while [ $i -le $JOBS ]; do
    echo "  job $i: $(cat par.$i)"
    expect parallel "job $i in parallel = alone" "$(cat par.$i)" "$(job $i)"
    i=$((i + 1))
done
rm -f par.*

# --- 4. fork/exec on both CPUs at once ---------------------------------------------
echo "--- fork/exec in parallel"
forks() { # N TAG: N fork/exec iterations, prints the count and a checksum
    n=0 s=0
    while [ $n -lt "$1" ]; do
        # shellcheck disable=SC2003 # running external programs is the point
        s=$(expr "(" "$s" "*" 7 + "$n" ")" % 1000003)
        n=$((n + 1))
        /bin/true || bad "forks: /bin/true failed" forks
    done
    echo "$2 $n $s"
}
forks $FORKS a >forks.a &
forks $FORKS b >forks.b &
wait
WANT=$(gawk -v n=$FORKS 'BEGIN { s = 0; for (i = 0; i < n; i++) s = (s * 7 + i) % 1000003; print n, s }')
expect forks "loop a" "$(cut -d' ' -f2- forks.a)" "$WANT"
expect forks "loop b" "$(cut -d' ' -f2- forks.b)" "$WANT"
echo "  each loop: $WANT"
rm -f forks.*

# --- 5. memory churn on both CPUs ------------------------------------------------------
echo "--- memory churn in parallel"
churn() { # SEED: large allocations freed and reused (mmap/munmap), checksummed
    perl -e 'my ($seed) = @ARGV; my $sum = 0;
        for my $round (1 .. 40) {
            my $len = (1 + ($round * $seed) % 7) << 20;
            my $s = chr(65 + ($round + $seed) % 26) x $len;
            substr($s, ($round * 4099) % $len, 1) = "!";
            $sum = ($sum * 33 + index($s, "!") + length($s)) % 4294967291;
        }
        print "$sum\n"' "$1"
}
churn 3 >churn.a &
churn 5 >churn.b &
wait
expect churn "churn 3 in parallel = alone" "$(cat churn.a)" "$(churn 3)"
expect churn "churn 5 in parallel = alone" "$(cat churn.b)" "$(churn 5)"
echo "  checksums: $(cat churn.a) $(cat churn.b)"
rm -f churn.*

cd /
rm -rf "$W"
echo "SMP WORKLOAD DONE"
if [ -z "$FAILED" ]; then
    echo "PASS linux-smp"
else
    echo "FAIL linux-smp:$FAILED"
fi
