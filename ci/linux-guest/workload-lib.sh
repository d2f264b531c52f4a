# shellcheck shell=dash
# Helpers shared by the guest's workloads (installed as
# /usr/lib/espt/workload-lib.sh and sourced by espt-workload and
# espt-workload-smp).  Results go to stdout; a failed check is a "FAIL"
# line and its step is added to FAILED.

FAILED=""

# work_dir DIR: an empty DIR as the current directory.
work_dir() {
    rm -rf "$1"
    mkdir -p "$1"
    cd "$1" || exit 1
}

ok() { echo "  ok: $1"; }
bad() { echo "FAIL $1"; FAILED="$FAILED $2"; }
# expect STEP WHAT ACTUAL EXPECTED
expect() {
    if [ "$3" = "$4" ]; then ok "$2"; else bad "$1: $2: got '$3', expected '$4'" "$1"; fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c <"$1" | tr -d ' '; }

# gen_data LINES SEED: LINES lines of "key value word" (~17 bytes each)
# from a 32-bit linear congruential generator (exact in gawk's doubles).
gen_data() {
    gawk -v n="$1" -v s="$2" 'BEGIN {
        split("alpha bravo charlie delta echo foxtrot golf hotel india juliet", w, " ")
        for (i = 1; i <= n; i++) {
            s = (s * 69069 + 1) % 4294967296
            printf "k%03d %d %s\n", int(s / 65536) % 400, int(s / 256) % 100000, w[1 + int(s / 16777216) % 10]
        }
    }'
}
