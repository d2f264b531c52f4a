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

# gdbstub watchpoints set on a page the shadow mirrors (watch.c, watch.gdb):
# every watched access must stop in gdb, with and without ESPT.
gdb_guest_test baremetal/gdb-watchpoints 120 '^watch_done after 12 stops' \
    "$GUEST_ROOT/tests/baremetal/watch.gdb" "$BAREMETAL_OUT/watch.elf" -- \
    -M virt -cpu cortex-a15 -m 256M -display none -nic none -monitor none \
    -semihosting-config enable=on,target=native -kernel "$BAREMETAL_OUT/watch.elf"
