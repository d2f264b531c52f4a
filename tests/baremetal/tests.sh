# shellcheck shell=bash
# Bare-metal ARMv7-A guest tests.  Sourced by the test runner after
# ci/lib/guest.sh, with BAREMETAL_OUT set to the directory that
# tests/baremetal/build.sh filled.  guest_test runs each program with
# -accel tcg,espt=off and espt=on and compares the two console outputs.

: "${BAREMETAL_OUT:?set BAREMETAL_OUT to the directory filled by tests/baremetal/build.sh}"

BAREMETAL_PROGRAMS=(mmu_short mmu_lpae perm_faults remap_tlbi asid dacr align_excl smc mmio romd fault_around kmap mixed_idx jmp_cache large_page_jmp_cache watch)

for _bm in "${BAREMETAL_PROGRAMS[@]}"; do
    guest_test "baremetal/$_bm" 60 0 '^PASS' -- \
        -M virt -cpu cortex-a15 -m 256M -nographic -nic none \
        -semihosting-config enable=on,target=native \
        -kernel "$BAREMETAL_OUT/$_bm.elf"
done
unset _bm

# Translations behind TLBIALL and TLBIASID (revalidate.c): unchanged pages
# come back by revalidation, which the shadow run must show (its espt_exit
# line counts the pages revived); changed pages, reduced rights, pages
# remapped behind TLBIASID and moved global mappings must not.  On one
# vCPU and, sharing the mirror with an idle second, on two.
for _smp in 1 2; do
    _name=baremetal/revalidate
    [ "$_smp" = 1 ] || _name=$_name-smp$_smp
    GUEST_EXPECT_REVIVED=1 guest_test "$_name" 60 0 '^PASS revalidate' -- \
        -M virt -cpu cortex-a15 -smp "$_smp" -m 256M -nographic -nic none \
        -semihosting-config enable=on,target=native \
        -kernel "$BAREMETAL_OUT/revalidate.elf"
done
unset _smp _name

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

# Several CPUs in one address space, whose mirror ESPT shares between
# their vCPUs (smp_shared.c): broadcast and local invalidations racing
# with the other CPUs' reads, simultaneous faults on remapped pages,
# LDREX/STREX and plain stores, code written by one CPU and run by the
# others, an ASID reassigned while another CPU last ran it.  On -smp 4
# the four vCPUs share this host's two cores.
for _smp in 2 4; do
    guest_test "baremetal/smp-shared-smp$_smp" 120 0 '^PASS smp_shared' -- \
        -M virt -cpu cortex-a15 -smp "$_smp" -m 256M -nographic -nic none \
        -semihosting-config enable=on,target=native \
        -kernel "$BAREMETAL_OUT/smp_shared.elf"
done
unset _smp

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

# A hostile guest (hostile_maps.c): its RAM mapped over and over across
# the 4 GiB of 12 ASIDs, one page touched in every 2 MiB under both mmu
# indexes, then every 64 KiB of 1 GiB of blocks.  First as a differential
# test like the others.
guest_test baremetal/hostile-maps 120 0 '^PASS hostile_maps' -- \
    -M virt -cpu cortex-a15 -m 256M -nographic -nic none \
    -semihosting-config enable=on,target=native \
    -kernel "$BAREMETAL_OUT/hostile_maps.elf"

# Then for the host memory it makes QEMU spend: once with espt=off and
# once with espt=on and ESPT_GOVERNOR=off (the shadow from the first
# access), each sampled every 0.2 s from /proc/PID/status.  The engine
# keeps the host memory of mirrors (page tables and book-keeping) within
# a quarter of guest RAM, at least 64 MiB; so the espt=on peak of VmPTE
# may exceed the espt=off peak by no more than that bound, and the peak
# of RssAnon by no more than the bound and 64 MiB of slack (allocator
# and the engine's other tables).  Without the bound this guest drives
# VmPTE past 120 MiB and RssAnon past 300 MiB.  Guest RAM comes from a
# shared memfd in both runs: QEMU's default RAM is anonymous memory with
# espt=off (the guest touches all of it, 256 MiB of RssAnon) and shared
# with espt=on, so only with the same backend in both does RssAnon
# compare QEMU's own memory.
run_hostile_memory_check() {
    local name=isolation/hostile-guest-memory-bound
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    local base=$GUEST_OUT/hostile-memory ram_mib=256 limit_s=120 mode pid rc key val deadline
    local why="" bound_kib slack_kib=$((64 * 1024)) d_pte d_anon
    local -A pte anon what=([off]="espt=off" [shadow]="espt=on (ESPT_GOVERNOR=off)")
    bound_kib=$((ram_mib * 1024 / 4))
    [ "$bound_kib" -ge $((64 * 1024)) ] || bound_kib=$((64 * 1024))
    for mode in off shadow; do
        pte[$mode]=0
        anon[$mode]=0
        # Not through timeout(1): $! must be QEMU itself.  The
        # trace argument is a word list.
        # shellcheck disable=SC2046
        ESPT_GOVERNOR=$(_guest_governor "$mode") "$QEMU" \
            -M virt,memory-backend=mem0 -cpu cortex-a15 -m "${ram_mib}M" \
            -object "memory-backend-memfd,id=mem0,size=${ram_mib}M,share=on" \
            -nographic -nic none -semihosting-config enable=on,target=native \
            -kernel "$BAREMETAL_OUT/hostile_maps.elf" \
            -accel "$(_guest_accel "$mode")" $(_guest_trace_args "$mode") \
            </dev/null >"$base.$mode.log" 2>"$base.$mode.err" &
        pid=$!
        deadline=$((SECONDS + limit_s))
        while kill -0 "$pid" 2>/dev/null; do
            while read -r key val _; do
                case $key in
                VmPTE:) [ "$val" -le "${pte[$mode]}" ] || pte[$mode]=$val ;;
                RssAnon:) [ "$val" -le "${anon[$mode]}" ] || anon[$mode]=$val ;;
                esac
            done 2>/dev/null <"/proc/$pid/status"
            if [ "$SECONDS" -ge "$deadline" ]; then
                kill "$pid" 2>/dev/null
                why="$why ${what[$mode]} timed out after ${limit_s}s;"
                break
            fi
            sleep 0.2
        done
        wait "$pid"
        rc=$?
        [ "$rc" -eq 0 ] || why="$why ${what[$mode]} exited $rc (expected 0);"
        [ "${pte[$mode]}" -gt 0 ] && [ "${anon[$mode]}" -gt 0 ] ||
            why="$why no VmPTE/RssAnon sample of the ${what[$mode]} run;"
    done
    why="$why$(_guest_espt_used "$base" shadow)"
    cmp -s "$base.off.log" "$base.shadow.log" ||
        why="$why outputs differ (diff $base.off.log $base.shadow.log);"
    grep -q '^PASS hostile_maps' "$base.off.log" || why="$why output lacks /^PASS hostile_maps/;"
    d_pte=$((pte[shadow] - pte[off]))
    d_anon=$((anon[shadow] - anon[off]))
    [ "$d_pte" -le "$bound_kib" ] ||
        why="$why peak VmPTE grew by $d_pte KiB with espt=on (${pte[off]} -> ${pte[shadow]} KiB), more than the $bound_kib KiB bound;"
    [ "$d_anon" -le $((bound_kib + slack_kib)) ] ||
        why="$why peak RssAnon grew by $d_anon KiB with espt=on (${anon[off]} -> ${anon[shadow]} KiB), more than the $bound_kib KiB bound + $slack_kib KiB;"
    guest_result "$name" "$why" \
        "(peak VmPTE ${pte[off]} KiB espt=off, ${pte[shadow]} KiB espt=on: +$d_pte of $bound_kib KiB bound; peak RssAnon ${anon[off]} KiB, ${anon[shadow]} KiB: +$d_anon of $((bound_kib + slack_kib)) KiB allowed)" \
        "$base.off.log" "$base.shadow.log" "$base.shadow.err"
}

run_hostile_memory_check
