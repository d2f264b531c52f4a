#!/bin/bash
# Build the bare-metal ARMv7-A test programs: build.sh OUTDIR
# Produces OUTDIR/<name>.elf for every tests/baremetal/<name>.c.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
obj=$out/obj
mkdir -p "$obj"

CC=${CROSS_COMPILE:-arm-none-eabi-}gcc
command -v "$CC" >/dev/null ||
    { echo "error: $CC not found (apt-get install gcc-arm-none-eabi)" >&2; exit 1; }

CFLAGS=(-march=armv7-a -marm -mfloat-abi=soft -mno-unaligned-access
        -O2 -g -std=gnu11 -ffreestanding -fno-builtin -fno-common
        -fno-unwind-tables -fno-asynchronous-unwind-tables
        -ffunction-sections -fdata-sections
        -Wall -Wextra -Werror -I"$here/lib")
LDFLAGS=(-nostdlib -static -T "$here/lib/link.ld" -Wl,--gc-sections
         -Wl,--no-warn-rwx-segments)

# At most two compiles at a time: another build may share the host.
pids=()
bg() {
    "$@" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
}
wait_all() {
    local p
    for p in "${pids[@]}"; do
        wait "$p"
    done
    pids=()
}

link_prog() {
    local name=$1
    "$CC" "${CFLAGS[@]}" -c "$here/$name.c" -o "$obj/$name.o"
    "$CC" "${CFLAGS[@]}" "${LDFLAGS[@]}" -o "$out/$name.elf.tmp" \
        "$obj/$name.o" "${libobjs[@]}" -lgcc
    mv -f "$out/$name.elf.tmp" "$out/$name.elf"
}

libobjs=()
for src in "$here"/lib/*.c "$here"/lib/*.S; do
    o=$obj/lib_$(basename "${src%.*}").o
    bg "$CC" "${CFLAGS[@]}" -c "$src" -o "$o"
    libobjs+=("$o")
done
wait_all

for src in "$here"/*.c; do
    bg link_prog "$(basename "${src%.c}")"
done
wait_all
