# shellcheck shell=bash
# Differential guest-test runner, sourced by ci/test and by each suite's
# tests.sh.  Every guest test runs four times on the same emulator binary:
# with -accel tcg,espt=off; with espt=on, where the engine's governor
# shadows an address space only once it has run for a while and sends it
# back to the soft TLB when it churns; with espt=on and ESPT_GOVERNOR=off
# ("shadow"), where every access goes through the shadow from the start;
# and with espt=on and a governor tuned to turn the shadow off as soon as
# it charges a few refills and back on a millisecond later ("flip").  The
# console outputs must be identical byte for byte, every run must exit
# with the expected status, and the espt=off output must match the test's
# success pattern.  Identical output alone would pass a run that fell back
# to plain TCG, so every espt=on run must also show that ESPT was active
# and did its work (_guest_espt_used: QEMU's trace event espt_exit).
#
# Environment:
#   QEMU            emulator to run (default: build/bin/qemu-system-arm)
#   GUEST_OUT       where logs go (default: build/test-output)
#   GUEST_FILTER    only run tests whose name matches this extended regex
#   GUEST_NO_ESPT   1: run both passes with plain "-accel tcg" (for QEMU
#                   binaries without ESPT, while developing a test)

GUEST_ROOT=${GUEST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
QEMU=${QEMU:-$GUEST_ROOT/build/bin/qemu-system-arm}
GUEST_OUT=${GUEST_OUT:-$GUEST_ROOT/build/test-output}
GUEST_PASSED=${GUEST_PASSED:-0}
GUEST_FAILED=${GUEST_FAILED:-0}
GUEST_FAILED_NAMES=${GUEST_FAILED_NAMES:-}
mkdir -p "$GUEST_OUT"

# The modes of a guest test: "off", "on" (the default policy), "shadow"
# (espt=on, governor off) and "flip" (espt=on, the shadow turned off after
# a few refills and back on after a millisecond, over and over).
GUEST_MODES=(off on shadow flip)
GUEST_FLIP_GOVERNOR=promote_ms=0,window_ms=1,share_pct=1,backoff_ms=1,backoff_max_ms=1

_guest_accel() {
    if [ "${GUEST_NO_ESPT:-0}" = 1 ]; then
        echo "tcg"
    elif [ "$1" = shadow ] || [ "$1" = flip ]; then
        echo "tcg,espt=on"
    else
        echo "tcg,espt=$1"
    fi
}

# QEMU arguments of a run in MODE: the trace event that says at exit
# what ESPT did (nothing with espt=off, which never starts it).
_guest_trace_args() {
    if [ "${GUEST_NO_ESPT:-0}" != 1 ] && [ "$1" != off ]; then
        echo "-trace espt_exit"
    fi
}

# _guest_espt_used BASE MODE: why the espt=on run in MODE, whose stderr is
# BASE.MODE.err, does not show that ESPT did its work, or nothing.  It
# must not have fallen back to plain TCG ("espt=on ignored"), and its
# espt_exit line must say "active 1".  With the shadow on from the first
# access (shadow) or back on every millisecond (flip), it must also have
# mirrored pages and redirected faults; the default policy (on) may leave
# a short-lived program on the soft TLB, as it should, so there the
# engine only has to have been active.
_guest_espt_used() {
    local base=$1 mode=$2 line fills run_fills redirects
    if [ "${GUEST_NO_ESPT:-0}" = 1 ] || [ "$mode" = off ]; then
        return 0
    fi
    if grep -q 'espt=on ignored' "$base.$mode.err" 2>/dev/null; then
        echo -n " espt=$mode fell back to plain TCG ($(grep -m1 -o 'espt=on ignored: [^;]*' "$base.$mode.err"));"
        return 0
    fi
    line=$(grep -m1 -E 'espt_exit active [01] ' "$base.$mode.err" 2>/dev/null)
    if [ -z "$line" ]; then
        echo -n " espt=$mode: no espt_exit trace on stderr (QEMU did not exit normally?);"
        return 0
    fi
    if ! [[ $line =~ active\ 1\ fills\ ([0-9]+)\ run_fills\ ([0-9]+)\ redirects\ ([0-9]+) ]]; then
        echo -n " espt=$mode: ESPT was not active ($line);"
        return 0
    fi
    fills=${BASH_REMATCH[1]} run_fills=${BASH_REMATCH[2]} redirects=${BASH_REMATCH[3]}
    if [ "$mode" != on ] && { [ $((fills + run_fills)) -eq 0 ] || [ "$redirects" -eq 0 ]; }; then
        echo -n " espt=$mode: the shadow was not used (fills $fills, run fills $run_fills, redirects $redirects);"
    fi
    # GUEST_EXPECT_REVIVED=1: a test of mirrors kept across invalidations
    # must have brought some back (the shadow mode keeps them all).
    if [ "${GUEST_EXPECT_REVIVED:-0}" = 1 ] && [ "$mode" = shadow ] &&
        ! [[ $line =~ \ revived\ [1-9] ]]; then
        echo -n " espt=$mode: no page was revalidated ($line);"
    fi
}

# _guest_take_trace BASE.MODE: a test that sends QEMU's log to its
# console output (-d int -D /dev/stdout) gets the espt_exit trace there
# too; move it to the .err file, where _guest_espt_used reads it, so that
# the outputs compared are the guest's alone.
_guest_take_trace() {
    local run=$1
    if grep -q '^espt_exit active ' "$run.log" 2>/dev/null; then
        grep '^espt_exit active ' "$run.log" >>"$run.err"
        grep -v '^espt_exit active ' "$run.log" >"$run.log.tmp"
        mv "$run.log.tmp" "$run.log"
    fi
}

_guest_governor() {
    case $1 in
    shadow) echo off ;;
    flip) echo "$GUEST_FLIP_GOVERNOR" ;;
    *) echo "${ESPT_GOVERNOR:-}" ;;
    esac
}

# guest_result NAME WHY OK_TEXT [LOG...]: counts one test or check.  An
# empty WHY is a pass ("ok   NAME OK_TEXT"); otherwise it fails with WHY,
# followed by the last lines of each LOG that exists (8 of a single one).
guest_result() {
    local name=$1 why=$2 ok_text=$3
    shift 3
    if [ -z "$why" ]; then
        GUEST_PASSED=$((GUEST_PASSED + 1))
        echo "ok   $name${ok_text:+ $ok_text}"
    else
        GUEST_FAILED=$((GUEST_FAILED + 1))
        GUEST_FAILED_NAMES="$GUEST_FAILED_NAMES $name"
        echo "FAIL $name:$why"
        if [ $# -eq 1 ]; then
            tail -n 8 "$1" 2>/dev/null | sed 's/^/  /'
        elif [ $# -gt 1 ]; then
            echo "  --- last lines of espt=off / espt=on output:"
            tail -n 5 "$@" 2>/dev/null | sed 's/^/  /'
        fi
    fi
    return 0
}

# _guest_oracle BASE PATTERN: why the outputs BASE.MODE.log of the four
# modes fail the oracle (all identical to espt=off, PATTERN in it, no line
# starting with FAIL), or nothing.
_guest_oracle() {
    local base=$1 pattern=$2 mode
    for mode in on shadow flip; do
        cmp -s "$base.off.log" "$base.$mode.log" ||
            echo -n " outputs differ (diff $base.off.log $base.$mode.log);"
    done
    grep -Eq -- "$pattern" "$base.off.log" || echo -n " output lacks /$pattern/;"
    ! grep -q '^FAIL' "$base".{off,on,shadow,flip}.log || echo -n " a FAIL line was printed;"
}

# guest_test NAME TIMEOUT_S EXPECT_RC PATTERN -- QEMU ARGS...
#   NAME       unique test name (letters, digits, '-', '_', '/')
#   TIMEOUT_S  wall-clock limit for one run
#   EXPECT_RC  exit status QEMU must return in both runs
#   PATTERN    extended regex that the output must contain (e.g. '^PASS')
# The output must not contain a line starting with FAIL.
guest_test() {
    local name=$1 timeout_s=$2 expect_rc=$3 pattern=$4
    shift 4
    [ "$1" = "--" ] && shift
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    local base="$GUEST_OUT/${name//\//_}" mode rc why=""
    local -A rcs
    for mode in "${GUEST_MODES[@]}"; do
        # shellcheck disable=SC2046 # the trace arguments are words
        ESPT_GOVERNOR=$(_guest_governor "$mode") \
            timeout --kill-after=10 "$timeout_s" "$QEMU" "$@" \
            -accel "$(_guest_accel "$mode")" $(_guest_trace_args "$mode") \
            </dev/null >"$base.$mode.log" 2>"$base.$mode.err"
        rc=$?
        rcs[$mode]=$rc
        _guest_take_trace "$base.$mode"
        why="$why$(_guest_espt_used "$base" "$mode")"
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            why="$why espt=$mode timed out after ${timeout_s}s;"
        elif [ "$rc" -ne "$expect_rc" ]; then
            why="$why espt=$mode exited $rc (expected $expect_rc);"
        fi
    done
    why="$why$(_guest_oracle "$base" "$pattern")"
    guest_result "guest/$name" "$why" \
        "(espt=off rc=${rcs[off]}, espt=on rc=${rcs[on]}, shadow rc=${rcs[shadow]}, flip rc=${rcs[flip]}, identical output, shadow used)" \
        "$base".{off,on,shadow,flip}.log "$base".{on,shadow,flip}.err
}

# gdb_guest_test NAME TIMEOUT_S PATTERN GDB_SCRIPT ELF -- QEMU ARGS...
#   Like guest_test, with gdb attached through QEMU's gdbstub: QEMU starts
#   stopped (-S) with its stub on a unix socket, gdb-multiarch loads ELF's
#   symbols, connects and runs GDB_SCRIPT in batch mode, which must end by
#   detaching so that the guest runs to its end.  What is compared between
#   the four modes is gdb's output followed by the guest's console; PATTERN
#   must match it with espt=off.
gdb_guest_test() {
    local name=$1 timeout_s=$2 pattern=$3 script=$4 elf=$5
    shift 5
    [ "$1" = "--" ] && shift
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    local base="$GUEST_OUT/${name//\//_}" mode rc grc why="" pid i sock
    for mode in "${GUEST_MODES[@]}"; do
        # /tmp: a unix socket's path must stay short.
        sock=$(mktemp -u /tmp/espt-gdb.XXXXXX)
        rm -f "$base.$mode.console"
        # shellcheck disable=SC2046 # the trace arguments are words
        ESPT_GOVERNOR=$(_guest_governor "$mode") \
            timeout --kill-after=10 "$timeout_s" "$QEMU" "$@" \
            -accel "$(_guest_accel "$mode")" $(_guest_trace_args "$mode") -S \
            -gdb "unix:$sock,server=on,wait=on" -serial "file:$base.$mode.console" \
            </dev/null >/dev/null 2>"$base.$mode.err" &
        pid=$!
        for ((i = 0; i < 100; i++)); do
            [ -S "$sock" ] && break
            sleep 0.1
        done
        timeout --kill-after=10 "$timeout_s" gdb-multiarch -batch -nx \
            -ex "file $elf" -ex "target remote $sock" -x "$script" \
            </dev/null >"$base.$mode.gdb" 2>&1
        grc=$?
        wait "$pid"
        rc=$?
        rm -f "$sock"
        why="$why$(_guest_espt_used "$base" "$mode")"
        cat "$base.$mode.gdb" "$base.$mode.console" >"$base.$mode.log" 2>/dev/null
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || [ "$grc" -eq 124 ] || [ "$grc" -eq 137 ]; then
            why="$why espt=$mode timed out after ${timeout_s}s;"
        elif [ "$rc" -ne 0 ] || [ "$grc" -ne 0 ]; then
            why="$why espt=$mode: QEMU exited $rc, gdb $grc;"
        fi
    done
    why="$why$(_guest_oracle "$base" "$pattern")"
    guest_result "guest/$name" "$why" \
        "(gdb attached; espt=off, on, shadow and flip: identical output)" \
        "$base".{off,on,shadow,flip}.log "$base".{on,shadow,flip}.err
}
