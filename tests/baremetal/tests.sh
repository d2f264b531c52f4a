# shellcheck shell=bash
# Bare-metal ARMv7-A guest tests.  Sourced by the test runner after
# ci/lib/guest.sh, with BAREMETAL_OUT set to the directory that
# tests/baremetal/build.sh filled.  guest_test runs each program with
# -accel tcg,espt=off and espt=on and compares the two console outputs.

: "${BAREMETAL_OUT:?set BAREMETAL_OUT to the directory filled by tests/baremetal/build.sh}"

BAREMETAL_PROGRAMS=(mmu_short mmu_lpae perm_faults remap_tlbi asid dacr align_excl smc mmio romd fault_around kmap mixed_idx jmp_cache watch)

for _bm in "${BAREMETAL_PROGRAMS[@]}"; do
    guest_test "baremetal/$_bm" 60 0 '^PASS' -- \
        -M virt -cpu cortex-a15 -m 256M -nographic -nic none \
        -semihosting-config enable=on,target=native \
        -kernel "$BAREMETAL_OUT/$_bm.elf"
done
unset _bm

# A program that resets the machine with PSCI SYSTEM_RESET and runs again
# from its entry (reset_rekey.c): after the reset, ASID 0 and then ASID 7,
# reached by a TTBR0 write alone, must each see its own pages.  On two
# vCPUs, CPU0 powers CPU1 on with PSCI CPU_ON to do the same.
for _smp in 1 2; do
    _name=baremetal/reset-rekey
    [ "$_smp" = 1 ] || _name=$_name-smp$_smp
    guest_test "$_name" 60 0 '^PASS reset_rekey' -- \
        -M virt -cpu cortex-a15 -smp "$_smp" -m 256M -nographic -nic none \
        -semihosting-config enable=on,target=native \
        -kernel "$BAREMETAL_OUT/reset_rekey.elf"
done
unset _smp _name

# baremetal_loadvm_test NAME SMP: loadvm under a running program
# (loadvm_rekey.c), which switches between ASIDs 5 and 9 for 6 s of guest
# time.  In each mode QEMU gets a qcow2 drive to hold the snapshot and its
# monitor on a unix socket; loadvm_rekey.py saves the VM once (about a
# second in) and loads that snapshot six times, 0.4 s apart, and the
# program runs to its end.  The outputs are then judged as guest_test
# judges them.
baremetal_loadvm_test() {
    local name=$1 smp=$2
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    local base="$GUEST_OUT/${name//\//_}" mode rc mrc why="" pid sock img used=""
    local -a trace
    local -A rcs
    for mode in "${GUEST_MODES[@]}"; do
        # /tmp: a unix socket's path must stay short.
        sock=$(mktemp -u /tmp/espt-mon.XXXXXX)
        img=$base.$mode.qcow2
        rm -f "$img" "$base.$mode.log" "$base.$mode.err"
        if ! qemu-img create -q -f qcow2 "$img" 16M >"$base.$mode.mon" 2>&1; then
            why="$why espt=$mode: qemu-img create failed ($base.$mode.mon);"
            rcs[$mode]=-
            continue
        fi
        # What _guest_espt_used reads (espt_exit), where guest.sh has both.
        trace=()
        if declare -F _guest_trace_args >/dev/null; then
            read -ra trace <<<"$(_guest_trace_args "$mode")"
        fi
        ESPT_GOVERNOR=$(_guest_governor "$mode") \
            timeout --kill-after=10 120 "$QEMU" \
            -M virt -cpu cortex-a15 -smp "$smp" -m 256M -display none -nic none \
            -serial stdio -monitor "unix:$sock,server=on,wait=off" \
            -drive "if=none,id=snap,format=qcow2,file=$img" \
            -semihosting-config enable=on,target=native \
            -kernel "$BAREMETAL_OUT/loadvm_rekey.elf" \
            -accel "$(_guest_accel "$mode")" "${trace[@]}" \
            </dev/null >"$base.$mode.log" 2>"$base.$mode.err" &
        pid=$!
        python3 "$GUEST_ROOT/tests/baremetal/loadvm_rekey.py" "$sock" "$smp" \
            >>"$base.$mode.mon" 2>&1
        mrc=$?
        wait "$pid"
        rc=$?
        rcs[$mode]=$rc
        rm -f "$sock" "$img"
        if [ "$mrc" -ne 0 ]; then
            why="$why espt=$mode: savevm/loadvm did not go through ($base.$mode.mon);"
        fi
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            why="$why espt=$mode timed out after 120s;"
        elif [ "$rc" -ne 0 ]; then
            why="$why espt=$mode exited $rc (expected 0);"
        fi
        if declare -F _guest_espt_used >/dev/null; then
            why="$why$(_guest_espt_used "$base" "$mode")"
        fi
    done
    why="$why$(_guest_oracle "$base" '^PASS loadvm_rekey')"
    declare -F _guest_espt_used >/dev/null && used=", shadow used"
    guest_result "guest/$name" "$why" \
        "(savevm once, loadvm 6 times; espt=off rc=${rcs[off]}, espt=on rc=${rcs[on]}, shadow rc=${rcs[shadow]}, flip rc=${rcs[flip]}, identical output${used})" \
        "$base".{off,on,shadow,flip}.log "$base".{on,shadow,flip}.err
}

baremetal_loadvm_test baremetal/loadvm-rekey 1
baremetal_loadvm_test baremetal/loadvm-rekey-smp2 2

# gdbstub watchpoints set on a page the shadow mirrors (watch.c, watch.gdb):
# every watched access must stop in gdb, with and without ESPT.
gdb_guest_test baremetal/gdb-watchpoints 120 '^watch_done after 12 stops' \
    "$GUEST_ROOT/tests/baremetal/watch.gdb" "$BAREMETAL_OUT/watch.elf" -- \
    -M virt -cpu cortex-a15 -m 256M -display none -nic none -monitor none \
    -semihosting-config enable=on,target=native -kernel "$BAREMETAL_OUT/watch.elf"
