# shellcheck shell=bash
# Behaviour checks of the emulator itself (options, monitor, refusals),
# sourced by ci/test after ci/lib/guest.sh; they count into the same
# GUEST_PASSED / GUEST_FAILED totals.

# expect NAME EXPECT_RC 'regex'... -- command...
#   Runs the command with a 60 s limit; passes when it exits with EXPECT_RC
#   and its combined output matches every regex.
expect() {
    local name=$1 expect_rc=$2 out rc ok=1 why="" p
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
    [ "$rc" -eq "$expect_rc" ] || { ok=0; why="$why exited $rc (expected $expect_rc);"; }
    for p in "${patterns[@]}"; do
        grep -Eq -- "$p" "$out" || { ok=0; why="$why output lacks /$p/;"; }
    done
    if [ $ok = 1 ]; then
        GUEST_PASSED=$((GUEST_PASSED + 1))
        echo "ok   $name"
    else
        GUEST_FAILED=$((GUEST_FAILED + 1))
        GUEST_FAILED_NAMES="$GUEST_FAILED_NAMES $name"
        echo "FAIL $name:$why"
        tail -n 8 "$out" | sed 's/^/  /'
    fi
}

# The script `bash -c` runs for monitor checks: QEMU with the CPU stopped
# (-S), asked for "info espt" on its monitor, then told to quit.  $PREFIX
# runs first in the same shell (to set an rlimit, say).
MONITOR_SCRIPT='eval "$PREFIX"; printf "info espt\nquit\n" | "$@" -display none -nic none -serial none -monitor stdio -S'

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
    expect "monitor/loadvm-with-espt" 0 '^PASS linux-boot' -- \
        bash -c '
            qemu=$1 guest=$2 dir=$3 hmp_py=$4
            "$qemu" -M virt -cpu cortex-a15 -m 256M -nic none -display none -no-reboot \
                -accel tcg,espt=on -S -kernel "$guest/zImage" -initrd "$guest/initrd.cpio.gz" \
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
