# shellcheck shell=bash
# Behaviour checks of the emulator itself (options, monitor, refusals),
# sourced by ci/test after ci/lib/guest.sh; they count into the same
# GUEST_PASSED / GUEST_FAILED totals.

# expect NAME EXPECT_RC 'regex'... -- command...
#   Runs the command with a 60 s limit; passes when it exits with EXPECT_RC
#   and its combined output matches every regex.
expect() {
    local name=$1 expect_rc=$2 out rc why="" p
    shift 2
    local patterns=()
    while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
    shift
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    out="$GUEST_OUT/${name//\//_}.log"
    timeout --kill-after=10 60 "$@" >"$out" 2>&1 </dev/null
    rc=$?
    [ "$rc" -eq "$expect_rc" ] || why="$why exited $rc (expected $expect_rc);"
    for p in "${patterns[@]}"; do
        grep -Eq -- "$p" "$out" || why="$why output lacks /$p/;"
    done
    guest_result "$name" "$why" "" "$out"
}

# The script `bash -c` runs for monitor checks: QEMU with the CPU stopped
# (-S), asked for "info espt" on its monitor (or $MONITOR_CMDS, printf
# text), then told to quit.  $PREFIX runs first in the same shell (to set
# an rlimit, say).
MONITOR_SCRIPT='eval "$PREFIX"; printf "${MONITOR_CMDS:-info espt\nquit\n}" | "$@" -display none -nic none -serial none -monitor stdio -S'

run_emulator_checks() {
    local mon=(bash -c "$MONITOR_SCRIPT" _ "$QEMU") hello=$GUEST_OUT/hello-armhf
    # The patches touch code that linux-user shares (target/arm, tcg/i386):
    # qemu-arm from the same tree must still run a program.
    printf '#include <stdio.h>\nint main(int c, char **v) { printf("hello %%s\\n", v[1]); return 3; }\n' |
        arm-linux-gnueabihf-gcc -static -O2 -x c -o "$hello" - 2>"$hello.log"
    expect "build/linux-user-runs-armhf" 3 '^hello armhf$' -- \
        "$ESPT_ROOT/build/bin/qemu-arm" "$hello" armhf
    expect "options/accel-help-lists-espt" 0 '^  espt=<bool> +- .*shadow page tables' -- \
        "$QEMU" -accel tcg,help
    expect "options/bad-espt-value-is-refused" 1 "espt.*(expects|'on' or 'off'|bool)" -- \
        "$QEMU" -M virt -cpu cortex-a15 -display none -nic none -S -accel tcg,espt=maybe
    expect "monitor/info-espt-active" 0 '^ESPT: active' '^region: 0x[0-9a-f]+' \
        '^RAM blocks: [1-9]' '^fills: [0-9]+' -- \
        "${mon[@]}" -M virt -cpu cortex-a15 -accel tcg,espt=on
    expect "monitor/info-espt-off" 0 '^ESPT: off \(enable with -accel tcg,espt=on\)' -- \
        "${mon[@]}" -M virt -cpu cortex-a15 -accel tcg
    # A guest whose pages are 1 KiB: refused with a warning, plain TCG runs.
    expect "refusal/guest-page-size" 0 \
        'espt=on ignored: the guest uses 1024-byte pages.*espt=off' \
        '^ESPT: inactive \(the guest uses 1024-byte pages' -- \
        "${mon[@]}" -M versatilepb -cpu arm926 -accel tcg,espt=on
    # An ARMv7 CPU on a board that does not rule out 1 KiB pages: QEMU
    # fixes its page size when it creates the board, before any CPU, so
    # only boards such as virt get 4 KiB pages; the message must say so.
    expect "refusal/board-with-1k-pages" 0 \
        'espt=on ignored: the guest uses 1024-byte pages.*such as -M virt.*use -M virt, or -accel tcg,espt=off' \
        '^ESPT: inactive \(the guest uses 1024-byte pages' -- \
        "${mon[@]}" -M vexpress-a15 -cpu cortex-a15 -accel tcg,espt=on
    # A host other than x86_64 Linux (simulated: the engine's checks see
    # the host named in ESPT_PRETEND_HOST).
    expect "refusal/unsupported-host" 0 \
        'espt=on ignored: ESPT needs an x86_64 Linux host, this is aarch64 linux' \
        '^ESPT: inactive' -- \
        env ESPT_PRETEND_HOST=aarch64-linux "${mon[@]}" -M virt -cpu cortex-a15 -accel tcg,espt=on
    # An address-space limit too small for the region: refused, and the
    # guest still runs with plain TCG.
    expect "refusal/region-cannot-be-reserved" 0 \
        'espt=on ignored: cannot reserve [0-9]+ GiB of host address space.*ulimit -v' \
        '^ESPT: inactive' -- \
        env PREFIX='ulimit -v 8388608' "${mon[@]}" -M virt -cpu cortex-a15 -m 256M -accel tcg,espt=on
    # A malformed governor setting: refused with a warning that names the
    # variable and the accepted values; the guest runs with plain TCG.
    expect "refusal/bad-governor-setting" 0 \
        'espt=on ignored: invalid ESPT_GOVERNOR "fast".*promote_ms' \
        '^ESPT: inactive' -- \
        env ESPT_GOVERNOR=fast "${mon[@]}" -M virt -cpu cortex-a15 -accel tcg,espt=on
    expect "monitor/info-espt-governor" 0 \
        '^address spaces shadowed: [0-9]+ times, sent back to the soft TLB: [0-9]+ times' -- \
        env ESPT_GOVERNOR=promote_ms=50,share_pct=10 "${mon[@]}" -M virt -cpu cortex-a15 \
        -accel tcg,espt=on
    # A memory backend the user made private: ESPT stays on, that RAM
    # stays on the soft TLB, with a warning.
    expect "refusal/private-ram-backend" 0 \
        "RAM block 'mem0' is not shared" '^ESPT: active' -- \
        "${mon[@]}" -M virt,memory-backend=mem0 -cpu cortex-a15 -m 256M \
        -object memory-backend-ram,id=mem0,size=256M,share=off -accel tcg,espt=on
    # Guest RAM on huge pages cannot be mirrored 4 KiB at a time: the block
    # is refused when it is registered, with a warning, and stays on the
    # soft TLB (before, ESPT took it and then failed an mmap on every fill).
    # QEMU needs the huge pages reserved to allocate it: reserve 64 more
    # (128 MiB) for the check and give them back after.
    local huge=/proc/sys/vm/nr_hugepages huge_before
    huge_before=$(cat "$huge" 2>/dev/null || echo 0)
    echo $((huge_before + 64)) >"$huge" 2>/dev/null ||
        echo "note: cannot reserve huge pages in $huge (not root?): refusal/hugetlb-ram-backend will fail"
    expect "refusal/hugetlb-ram-backend" 0 \
        "RAM block 'mem0' stays on the soft-TLB path: it is backed by 2 MiB huge pages" \
        '^ESPT: active' -- \
        "${mon[@]}" -M virt,memory-backend=mem0 -cpu cortex-a15 -m 128M \
        -object memory-backend-memfd,id=mem0,size=128M,hugetlb=on,hugetlbsize=2M,share=on \
        -accel tcg,espt=on
    echo "$huge_before" >"$huge" 2>/dev/null || true
    run_isolation_checks
}

# The guest-visible and host-visible limits of issue "correctness and
# isolation": what ESPT refuses or falls back from, instead of exiting,
# failing an allocation later, or handing the guest memory that is not
# its own.
run_isolation_checks() {
    local mon=(bash -c "$MONITOR_SCRIPT" _ "$QEMU") region_gib extra name
    local postcopy='migrate_set_capability postcopy-ram on\ninfo migrate_capabilities\nquit\n'
    # -overcommit mem-lock would lock every mirror against RLIMIT_MEMLOCK:
    # refused with a warning, the guest runs with plain TCG.
    expect "refusal/mem-lock" 0 \
        'espt=on ignored: ESPT maps guest RAM again for every mirror.*mem-lock' \
        '^ESPT: inactive' -- \
        "${mon[@]}" -M virt -cpu cortex-a15 -m 128M -overcommit mem-lock=on -accel tcg,espt=on
    # Postcopy would let a mirror fault in a zero page before the page
    # arrives: the destination refuses the capability, with espt=on only.
    expect "refusal/postcopy-into-espt" 0 \
        'Postcopy is not supported: ESPT \(-accel tcg,espt=on\) mirrors guest RAM' \
        'postcopy-ram: off' -- \
        env MONITOR_CMDS="$postcopy" "${mon[@]}" -M virt -cpu cortex-a15 -m 128M \
        -incoming defer -accel tcg,espt=on
    expect "refusal/postcopy-without-espt-allowed" 0 'postcopy-ram: on' -- \
        env MONITOR_CMDS="$postcopy" "${mon[@]}" -M virt -cpu cortex-a15 -m 128M \
        -incoming defer -accel tcg,espt=off
    # An address-space limit that the region fits but the region and guest
    # RAM together do not: refused before anything is allocated, never a
    # failed RAM allocation afterwards.  The limits straddle the point
    # where ESPT's reservation leaves room for 1 GiB of RAM.
    region_gib=$(timeout 60 "${mon[@]}" -M virt -cpu cortex-a15 -m 1G -accel tcg,espt=on 2>/dev/null |
        sed -n 's/^region: .*(\([0-9]*\) GiB).*/\1/p')
    for extra in 1024 1536 2048 3072 6144; do
        name=refusal/address-space-limit-plus-${extra}M
        if [ -z "$region_gib" ]; then
            guest_result "$name" " cannot read the region size from info espt;" ""
            continue
        fi
        expect "$name" 0 '^ESPT: (active|inactive \(cannot reserve [0-9]+ GiB of host address space)' -- \
            env PREFIX="ulimit -v $((region_gib * 1024 * 1024 + extra * 1024))" "${mon[@]}" \
            -M virt -cpu cortex-a15 -m 1G -accel tcg,espt=on
    done
    run_map_count_check
}

# vm.max_map_count too low to give ESPT a useful budget: refused with a
# warning that says what to raise, rather than a budget of 0 that refuses
# every fill in silence.  Lowers the system-wide limit for a moment.
run_map_count_check() {
    local name=refusal/low-max-map-count knob=/proc/sys/vm/max_map_count before
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    before=$(cat "$knob")
    if ! echo 2000 >"$knob" 2>/dev/null; then
        guest_result "$name" " cannot lower $knob (not root?);" ""
        return 0
    fi
    expect "$name" 0 \
        'espt=on ignored: vm.max_map_count is 2000, which leaves ESPT 0 host mappings.*sysctl vm.max_map_count' \
        '^ESPT: inactive' -- \
        bash -c "$MONITOR_SCRIPT" _ "$QEMU" -M virt -cpu cortex-a15 -m 128M -accel tcg,espt=on
    echo "$before" >"$knob"
}

# dump-guest-core=off (libvirt's default) keeps guest RAM out of QEMU's
# core dumps; the mirrors of it must stay out too.  A bare-metal program
# that runs for a few seconds with every access through the shadow; while
# it runs, every mapping of guest RAM's memfd in QEMU's smaps (QEMU's own
# and each mirror) must carry the "dd" (don't dump) flag, and there must
# be mirrors to look at.
run_dump_check() {
    local name=isolation/dump-guest-core-off-covers-mirrors dir=$GUEST_OUT/dump pid watchdog why="" n dd
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    mkdir -p "$dir"
    # Not under timeout(1): $! must be QEMU itself, whose smaps are read.
    # The program ends after 6 s of guest time; the watchdog is for a hang.
    ESPT_GOVERNOR=off "$QEMU" -M virt,dump-guest-core=off -cpu cortex-a15 -m 256M \
        -display none -nic none -serial "file:$dir/console.log" \
        -semihosting-config enable=on,target=native -kernel "$BAREMETAL_OUT/loadvm_rekey.elf" \
        -accel tcg,espt=on </dev/null >"$dir/qemu.err" 2>&1 &
    pid=$!
    (sleep 120 && kill "$pid" 2>/dev/null) &
    watchdog=$!
    sleep 3
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = $6; memfd = (name ~ /^\/memfd:/) }
         memfd && /^VmFlags:/ { print }' "/proc/$pid/smaps" >"$dir/memfd-flags.txt" 2>/dev/null
    wait "$pid" || why="$why QEMU exited $? ($dir/qemu.err);"
    kill "$watchdog" 2>/dev/null
    n=$(wc -l <"$dir/memfd-flags.txt")
    dd=$(grep -c ' dd' "$dir/memfd-flags.txt")
    [ "$n" -gt 4 ] || why="$why only $n mappings of guest RAM: no mirrors to check ($dir/memfd-flags.txt);"
    [ "$n" = "$dd" ] || why="$why $((n - dd)) of $n mappings of guest RAM lack the don't-dump flag;"
    guest_result "$name" "$why" "($n mappings of guest RAM, all marked don't-dump)"
}

# The oracle itself: a run that fell back to plain TCG gives the espt=off
# output, so _guest_espt_used must catch it, or every guest test could
# pass with ESPT off.
run_oracle_check() {
    local name=oracle/fallback-to-plain-tcg-is-caught base=$GUEST_OUT/oracle why
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    (ulimit -v 8388608
        ESPT_GOVERNOR=off timeout 60 "$QEMU" -M virt -cpu cortex-a15 -m 256M -nographic -nic none \
            -semihosting-config enable=on,target=native -kernel "$BAREMETAL_OUT/mmu_short.elf" \
            -accel tcg,espt=on $(_guest_trace_args shadow) </dev/null >"$base.shadow.log" 2>"$base.shadow.err")
    why=$(_guest_espt_used "$base" shadow)
    if [[ $why == *"fell back to plain TCG"* ]]; then
        guest_result "$name" "" "($why)"
    else
        guest_result "$name" " _guest_espt_used did not report the fallback (said: '$why');" "" "$base.shadow.err"
    fi
}

# Snapshot load with ESPT on: save the machine before it runs, let the
# Linux guest boot for a while (the shadow fills), load the snapshot back
# (RAM, CPU and devices from before boot) and let it boot again to the end.
# The guest must complete its boot and power off normally.
run_snapshot_check() {
    local dir=$GUEST_OUT/snapshot
    rm -rf "$dir"
    mkdir -p "$dir"
    qemu-img create -q -f qcow2 "$dir/disk.qcow2" 16M || return
    expect "monitor/loadvm-with-espt" 0 '^PASS linux-boot' 'espt_exit active 1 ' -- \
        bash -c '
            qemu=$1 guest=$2 dir=$3 hmp_py=$4
            "$qemu" -M virt -cpu cortex-a15 -m 256M -nic none -display none -no-reboot \
                -accel tcg,espt=on -trace espt_exit -S \
                -kernel "$guest/zImage" -initrd "$guest/initrd.cpio.gz" \
                -append "console=ttyAMA0 quiet loglevel=0 printk.time=0 panic=-1 espt.workload=none" \
                -drive if=none,id=d,file="$dir/disk.qcow2" -device virtio-blk-device,drive=d \
                -chardev stdio,id=con,signal=off -serial chardev:con \
                -monitor "unix:$dir/mon.sock,server=on,wait=off" </dev/null &
            pid=$!
            hmp() { python3 "$hmp_py" "$dir/mon.sock" run "$@" >/dev/null; }
            sleep 1
            hmp "savevm s0" "cont" && sleep 1 && hmp "stop" "loadvm s0" "cont"
            wait "$pid"
        ' _ "$QEMU" "$LINUX_GUEST_DIR" "$dir" "$GUEST_ROOT/ci/lib/hmp.py"
}

# wait_for_line FILE REGEX SECONDS PID: true once FILE has a line matching
# REGEX, false when SECONDS pass or process PID ends first.
wait_for_line() {
    local file=$1 re=$2 i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        kill -0 "$4" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# same_as_reference OUTPUT: why OUTPUT (a Linux workload's console)
# is not the espt=off output of guest/linux/workload, or nothing.  Without
# that log (GUEST_FILTER left the test out) the workload's own checks and
# its PASS line decide.
same_as_reference() {
    local ref=$GUEST_OUT/linux_workload.off.log
    if [ -s "$ref" ]; then
        cmp -s "$ref" "$1" || echo " output differs from espt=off (diff $ref $1);"
    else
        grep -q '^PASS linux-workload' "$1" || echo " no PASS line in $1;"
    fi
    ! grep -q '^FAIL' "$1" || echo " a FAIL line was printed;"
}

# Live migration with ESPT on, in the middle of the Linux workload: RAM is
# sent while the guest keeps storing through the shadow, so migration's
# dirty logging must see those stores (each shadow of a page whose dirty
# bit is cleared becomes read-only).  A second QEMU, ESPT on too, loads the
# stream and runs the workload to its end; the console output of the two
# together must be the espt=off output.
run_migration_check() {
    local name=monitor/migrate-with-espt dir=$GUEST_OUT/migrate why="" pid hmp_py
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    hmp_py=$GUEST_ROOT/ci/lib/hmp.py
    rm -rf "$dir"
    mkdir -p "$dir"
    local args=(-M virt -cpu cortex-a15 -m 1G -nic none -display none -no-reboot
        -kernel "$LINUX_GUEST_DIR/zImage" -initrd "$LINUX_GUEST_DIR/initrd.cpio.gz"
        -append "$LINUX_GUEST_APPEND" -accel tcg,espt=on)
    timeout --kill-after=10 900 "$QEMU" "${args[@]}" -serial "file:$dir/source.log" \
        -monitor "unix:$dir/mon.sock,server=on,wait=off" </dev/null >"$dir/source.err" 2>&1 &
    pid=$!
    # Past the data set-up, in the compression tests: the shadow is busy.
    if wait_for_line "$dir/source.log" '^--- compression' 300 "$pid"; then
        # A limited bandwidth keeps the guest running for a few rounds of
        # dirty-page copying.
        python3 "$hmp_py" "$dir/mon.sock" run "migrate_set_parameter max-bandwidth 100M" \
            "migrate exec:cat>$dir/stream" "info migrate" "info espt" >"$dir/monitor.log" 2>&1
        grep -Eiq 'status: *completed' "$dir/monitor.log" ||
            why="$why the migration did not complete ($dir/monitor.log);"
        grep -q '^ESPT: active' "$dir/monitor.log" ||
            why="$why ESPT was not active on the source ($dir/monitor.log);"
        python3 "$hmp_py" "$dir/mon.sock" run quit >/dev/null 2>&1
    else
        why="$why the workload did not start ($dir/source.log);"
    fi
    wait "$pid"
    grep -q '^PASS' "$dir/source.log" && why="$why the workload ended before the migration;"
    if [ -z "$why" ]; then
        timeout --kill-after=10 900 "$QEMU" "${args[@]}" -serial "file:$dir/destination.log" \
            -incoming "exec:cat $dir/stream" -trace espt_exit </dev/null >"$dir/destination.err" 2>&1 ||
            why="$why the destination exited $? ($dir/destination.err);"
        grep -q '^espt_exit active 1 ' "$dir/destination.err" ||
            why="$why ESPT was not active on the destination ($dir/destination.err);"
        cat "$dir/source.log" "$dir/destination.log" >"$dir/console.log"
        why="$why$(same_as_reference "$dir/console.log")"
    fi
    rm -f "$dir/stream"
    guest_result "$name" "$why" ""
}

# A system reset with ESPT on, in the middle of the Linux workload: the
# reset reloads kernel and initrd into RAM that the shadow mirrors and
# starts the CPU with its MMU off.  The guest boots again and runs the
# workload to its end; its second run must print the espt=off output.
# No -no-reboot here: with it, a reset from the monitor stops QEMU.
run_reset_check() {
    local name=monitor/reset-with-espt dir=$GUEST_OUT/reset why="" pid
    if [ -n "${GUEST_FILTER:-}" ] && ! [[ $name =~ $GUEST_FILTER ]]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    timeout --kill-after=10 900 "$QEMU" -M virt -cpu cortex-a15 -m 1G -nic none -display none \
        -kernel "$LINUX_GUEST_DIR/zImage" -initrd "$LINUX_GUEST_DIR/initrd.cpio.gz" \
        -append "$LINUX_GUEST_APPEND" -accel tcg,espt=on -serial "file:$dir/console.log" \
        -monitor "unix:$dir/mon.sock,server=on,wait=off" </dev/null >"$dir/qemu.err" 2>&1 &
    pid=$!
    if wait_for_line "$dir/console.log" '^--- text processing' 300 "$pid"; then
        python3 "$GUEST_ROOT/ci/lib/hmp.py" "$dir/mon.sock" run "info espt" "system_reset" \
            >"$dir/monitor.log" 2>&1 || why="$why the monitor failed ($dir/monitor.log);"
    else
        why="$why the workload did not reach its text tests ($dir/console.log);"
    fi
    wait "$pid" || why="$why QEMU exited $? ($dir/qemu.err);"
    grep -q '^ESPT: active' "$dir/monitor.log" ||
        why="$why ESPT was not active ($dir/monitor.log);"
    [ "$(grep -c '^Linux guest up' "$dir/console.log")" = 2 ] ||
        why="$why the guest did not boot exactly twice ($dir/console.log);"
    if [ -z "$why" ]; then
        # The second boot's output, from its banner on.
        awk '/^Linux guest up/ { n++ } n == 2' "$dir/console.log" >"$dir/after-reset.log"
        why="$(same_as_reference "$dir/after-reset.log")"
    fi
    guest_result "$name" "$why" ""
}
