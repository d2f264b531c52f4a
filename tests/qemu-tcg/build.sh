#!/usr/bin/env bash
# Build QEMU's own AArch32 system-mode TCG test programs from a pinned QEMU
# source tree, with the flags QEMU's makefiles use:
#   tests/tcg/Makefile.target                      (EXTRA_CFLAGS for softmmu)
#   tests/tcg/minilib/Makefile.target              (printf.o, -isystem)
#   tests/tcg/multiarch/system/Makefile.softmmu-target
#   tests/tcg/arm/Makefile.softmmu-target          (boot.o, kernel.ld, memory)
#
# usage: tests/qemu-tcg/build.sh QEMU_SRC OUTDIR
#   QEMU_SRC  extracted QEMU source tree (only read)
#   OUTDIR    receives NAME.elf for every test (see TESTS below)
# environment:
#   CROSS_CC  compiler to use (default: arm-linux-gnueabihf-gcc, which is what
#             QEMU's configure uses for arm; else arm-none-eabi-gcc)
#
# Idempotent: when the sources, compiler and flags are unchanged since the
# last build into OUTDIR, nothing is rebuilt.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 QEMU_SRC OUTDIR" >&2
    exit 2
fi
QEMU_SRC=$(cd "$1" && pwd)
mkdir -p "$2"
OUTDIR=$(cd "$2" && pwd)

ARM_SRC=$QEMU_SRC/tests/tcg/arm/system
MULTI_SRC=$QEMU_SRC/tests/tcg/multiarch/system
MINILIB_SRC=$QEMU_SRC/tests/tcg/minilib
for f in "$ARM_SRC/boot.S" "$ARM_SRC/kernel.ld" "$MINILIB_SRC/printf.c" \
         "$MULTI_SRC/hello.c" "$MULTI_SRC/memory.c"; do
    [ -f "$f" ] || { echo "$0: missing $f (not a QEMU source tree?)" >&2; exit 1; }
done

# Compiler.  Debian's arm-linux-gnueabihf-gcc defaults to ARMv7-A/Thumb-2,
# which the tests expect (boot.S uses IT, SVC 0x123456 is assembled as A32).
# arm-none-eabi-gcc defaults to ARMv4T, so it needs an explicit -march.
CC_EXTRA=()
if [ -n "${CROSS_CC:-}" ]; then
    CC=$CROSS_CC
elif command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1; then
    CC=arm-linux-gnueabihf-gcc
elif command -v arm-none-eabi-gcc >/dev/null 2>&1; then
    CC=arm-none-eabi-gcc
else
    echo "$0: no ARM cross compiler found; install gcc-arm-linux-gnueabihf" \
         "(or gcc-arm-none-eabi)" >&2
    exit 1
fi
case $CC in
    *arm-none-eabi-gcc*) CC_EXTRA=(-march=armv7-a -mthumb -mfloat-abi=soft) ;;
esac

# Flags, as in QEMU's makefiles (arm softmmu):
#   EXTRA_CFLAGS = -ffreestanding -fno-stack-protector
#   CFLAGS       = -nostdlib -ggdb -O0 -isystem $(MINILIB)
#   LDFLAGS      = -Wl,-T$(ARM_SRC)/kernel.ld -static -nostdlib boot.o printf.o -lgcc
#   memory: CFLAGS += -DCHECK_UNALIGNED=0
CFLAGS=(-nostdlib -ggdb -O0 -isystem "$MINILIB_SRC" -ffreestanding -fno-stack-protector
        "${CC_EXTRA[@]}")
LDFLAGS=("-Wl,-T$ARM_SRC/kernel.ld" -static -nostdlib)

# name:source:extra cflags.  Every *.c of arm/system and multiarch/system
# (test-armv6m-undef.S is M-profile, for -M microbit, and is left out).
TESTS=()
for src in "$MULTI_SRC"/*.c "$ARM_SRC"/*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    case $name in
        # as QEMU's arm makefile; plus the variant QEMU builds for aarch64,
        # i386 and x86_64 (unaligned accesses, also across pages)
        memory) TESTS+=("memory:$src:-DCHECK_UNALIGNED=0"
                        "memory-unaligned:$src:-DCHECK_UNALIGNED=1") ;;
        *)      TESTS+=("$name:$src:") ;;
    esac
done

# Up-to-date check: hash of compiler identity, flags, this script, sources.
stamp_key() {
    {
        command -v "$CC"; "$CC" --version | head -n 1
        printf '%s\n' "${CFLAGS[@]}" "${LDFLAGS[@]}" "${TESTS[@]}"
        cat "${BASH_SOURCE[0]}" "$ARM_SRC/boot.S" "$ARM_SRC/kernel.ld" \
            "$MINILIB_SRC"/*.c "$MINILIB_SRC"/*.h "$MULTI_SRC"/*.c "$ARM_SRC"/*.c
    } | sha256sum | cut -d' ' -f1
}
key=$(stamp_key)
stamp=$OUTDIR/.qemu-tcg-build.stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    all=1
    for t in "${TESTS[@]}"; do
        [ -f "$OUTDIR/${t%%:*}.elf" ] || all=0
    done
    if [ $all = 1 ]; then
        echo "qemu-tcg: $OUTDIR is up to date"
        exit 0
    fi
fi
rm -f "$stamp"

obj=$(mktemp -d "$OUTDIR/.obj.XXXXXX")
trap 'rm -rf "$obj"' EXIT

run() { echo "  $*" | sed "s|$QEMU_SRC/|\$QEMU_SRC/|g"; "$@"; }

run "$CC" "${CFLAGS[@]}" -x assembler-with-cpp -Wa,--noexecstack \
    -c "$ARM_SRC/boot.S" -o "$obj/boot.o"
MINILIB_OBJS=()
for src in "$MINILIB_SRC"/*.c; do
    o=$obj/$(basename "$src" .c).o
    run "$CC" "${CFLAGS[@]}" -c "$src" -o "$o"
    MINILIB_OBJS+=("$o")
done
for t in "${TESTS[@]}"; do
    IFS=: read -r name src extra <<<"$t"
    # shellcheck disable=SC2086  # $extra is a list of flags
    run "$CC" "${CFLAGS[@]}" $extra "$src" -o "$obj/$name.elf" \
        "${LDFLAGS[@]}" "$obj/boot.o" "${MINILIB_OBJS[@]}" -lgcc
    mv -f "$obj/$name.elf" "$OUTDIR/$name.elf"
done
echo "$key" >"$stamp"
echo "qemu-tcg: built ${#TESTS[@]} programs into $OUTDIR"
