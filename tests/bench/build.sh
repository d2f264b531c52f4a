#!/bin/bash
# Build the bare-metal microbenchmarks: build.sh OUTDIR
# Produces OUTDIR/<name>.elf for every tests/bench/<name>.c, linked with
# tests/baremetal/lib (startup, UART, semihosting, table builders; used
# read-only) and tests/bench/lib.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bm=$(cd "$here/../baremetal/lib" && pwd)
mkdir -p "$1/obj"
out=$(cd "$1" && pwd)
obj=$out/obj

CC=${CROSS_COMPILE:-arm-none-eabi-}gcc
command -v "$CC" >/dev/null ||
    { echo "error: $CC not found (apt-get install gcc-arm-none-eabi)" >&2; exit 1; }

CFLAGS=(-march=armv7-a -marm -mfloat-abi=soft -mno-unaligned-access
        -O2 -g -std=gnu11 -ffreestanding -fno-builtin -fno-common
        -fno-unwind-tables -fno-asynchronous-unwind-tables
        -ffunction-sections -fdata-sections
        -Wall -Wextra -Werror -I"$bm" -I"$here/lib")
# shellcheck disable=SC2054 # linker options contain commas
LDFLAGS=(-nostdlib -static -T "$bm/link.ld" -Wl,--gc-sections
         -Wl,--no-warn-rwx-segments)

libobjs=()
for src in "$bm/start.S" "$bm/lib.c" "$bm/mmu.c" "$bm/ops.S" "$here/lib/bench.c"; do
    o=$obj/lib_$(basename "${src%.*}").o
    "$CC" "${CFLAGS[@]}" -c "$src" -o "$o"
    libobjs+=("$o")
done
for src in "$here"/*.c; do
    name=$(basename "${src%.c}")
    "$CC" "${CFLAGS[@]}" -c "$src" -o "$obj/$name.o"
    "$CC" "${CFLAGS[@]}" "${LDFLAGS[@]}" -o "$out/$name.elf.tmp" \
        "$obj/$name.o" "${libobjs[@]}" -lgcc
    mv -f "$out/$name.elf.tmp" "$out/$name.elf"
done
