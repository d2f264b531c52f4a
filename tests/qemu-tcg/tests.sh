# shellcheck shell=bash
# QEMU's own AArch32 system-mode TCG tests (tests/tcg/arm/system and
# tests/tcg/multiarch/system of the pinned QEMU source), run as guest tests.
# Sourced after ci/lib/guest.sh, with QEMU_TCG_OUT set to the folder that
# tests/qemu-tcg/build.sh filled with *.elf.
#
# The arguments are those of QEMU's tests/tcg/arm/Makefile.softmmu-target,
#   -M virt -cpu max -display none
#   -semihosting-config enable=on,target=native,chardev=output -kernel X
# with the semihosting chardev on stdout instead of a file, plus
# -nic none.  guest_test appends -accel tcg,espt=off|on.

: "${QEMU_TCG_OUT:?QEMU_TCG_OUT must name the folder built by tests/qemu-tcg/build.sh}"

_qt_base=(-M virt -cpu max -display none -nic none)
_qt_semi=(-semihosting-config "enable=on,target=native,chardev=out" -chardev "stdio,id=out")

# _qt_test NAME ELF PATTERN -- QEMU ARGS...: guest_test, or a FAIL line when
# the program was not built.
_qt_test() {
    local name=$1 elf=$QEMU_TCG_OUT/$2.elf pattern=$3
    shift 4
    if [ ! -f "$elf" ]; then
        if [ -z "${GUEST_FILTER:-}" ] || [[ qemu-tcg/$name =~ $GUEST_FILTER ]]; then
            GUEST_FAILED=$((GUEST_FAILED + 1))
            GUEST_FAILED_NAMES="$GUEST_FAILED_NAMES guest/qemu-tcg/$name"
            echo "FAIL guest/qemu-tcg/$name: $elf missing (run tests/qemu-tcg/build.sh)"
        fi
        return 0
    fi
    guest_test "qemu-tcg/$name" 120 0 "$pattern" -- "$@" -kernel "$elf"
}

# multiarch/system/hello.c
_qt_test hello hello '^Hello World$' -- "${_qt_base[@]}" "${_qt_semi[@]}"

# multiarch/system/memory.c, -DCHECK_UNALIGNED=0 as QEMU builds it for arm.
# Its output has addresses (%p), but fixed ones: the ELF is linked at a
# fixed address and runs identity-mapped.
_qt_test memory memory '^Test complete: PASSED$' -- \
    "${_qt_base[@]}" "${_qt_semi[@]}"

# The same source with -DCHECK_UNALIGNED=1 (as QEMU builds it for aarch64,
# i386, x86_64): unaligned 16/32/64-bit loads and stores, also across page
# boundaries.  ARMv7 allows them with SCTLR.A=0, which boot.S leaves clear.
_qt_test memory-unaligned memory-unaligned '^Test complete: PASSED$' -- \
    "${_qt_base[@]}" "${_qt_semi[@]}"

# multiarch/system/interrupt.c only returns 0 from main (its loop is for the
# gdbstub test), so it prints nothing: success is exit status 0, which the
# semihosting SYS_EXIT gives only for ADP_Stopped_ApplicationExit.  To have
# output to match and compare, -d int logs the exceptions taken to stdout
# (-D /dev/stdout): exactly one, the SYS_EXIT (0x18) semihosting call.  The
# guest's own semihosting output (only an exception message, on failure)
# goes to stderr so that it cannot overwrite the log.
_qt_test interrupt interrupt '^\.\.\.handling as semihosting call 0x18$' -- \
    "${_qt_base[@]}" -d int -D /dev/stdout \
    -semihosting-config enable=on,target=native,chardev=out \
    -chardev file,id=out,path=/dev/stderr

# arm/Makefile.softmmu-target: run-memory-record / run-memory-replay, the
# memory test under icount record/replay (-icount shift=5,rr=...).  Both
# record runs write the same file, so the replay (in both modes) replays the
# espt=on recording.
_qt_rr=$GUEST_OUT/qemu-tcg-memory.rr
if [ -z "${GUEST_FILTER:-}" ] || [[ qemu-tcg/memory-record =~ $GUEST_FILTER ]]; then
    rm -f "$_qt_rr"
fi
_qt_test memory-record memory '^Test complete: PASSED$' -- \
    -icount "shift=5,rr=record,rrfile=$_qt_rr" "${_qt_base[@]}" "${_qt_semi[@]}"
_qt_test memory-replay memory '^Test complete: PASSED$' -- \
    -icount "shift=5,rr=replay,rrfile=$_qt_rr" "${_qt_base[@]}" "${_qt_semi[@]}"

# arm/system/semiconsole.c: semihosting console input (SYS_READC), "manual
# only" upstream because it reads the terminal.  Here its input comes from a
# file (-chardev file,input-path=, QEMU >= 8.2); the guest echoes every
# character up to the first X and exits.  While the input is not there yet
# the vCPU halts in SYS_READC and is woken by the main loop.
_qt_in=$GUEST_OUT/qemu-tcg-semiconsole.in
printf 'semihosting input 0123456789 X' >"$_qt_in"
if "$QEMU" -M none -display none -nodefaults -S \
        -chardev "file,id=probe,path=/dev/null,input-path=/dev/null" \
        -device nonexistent-device-probe </dev/null 2>&1 |
        grep -q "Invalid parameter 'input-path'"; then
    if [ -z "${GUEST_FILTER:-}" ] || [[ qemu-tcg/semiconsole =~ $GUEST_FILTER ]]; then
        echo "skip guest/qemu-tcg/semiconsole ($QEMU lacks -chardev file,input-path=)"
    fi
else
    _qt_test semiconsole semiconsole '^hit X to exit:semihosting input 0123456789 X$' -- \
        "${_qt_base[@]}" -serial none \
        -semihosting-config enable=on,chardev=out \
        -chardev "file,id=out,path=/dev/stdout,input-path=$_qt_in"
fi
unset _qt_base _qt_semi _qt_rr _qt_in
