# shellcheck shell=bash
# Linux guest tests, sourced by the project's runner after ci/lib/guest.sh.
# LINUX_GUEST_DIR must name the folder holding zImage and initrd.cpio.gz
# (ci/linux-guest/build.sh links them into build/guest/linux).
#
# -no-reboot together with panic=-1 turns a kernel panic (for instance a
# crashing /init) into a quick QEMU exit, which then fails the PASS check
# instead of rebooting until the timeout.

LINUX_GUEST_DIR=${LINUX_GUEST_DIR:-$GUEST_ROOT/build/guest/linux}
LINUX_GUEST_APPEND='console=ttyAMA0 quiet loglevel=0 printk.time=0 panic=-1'

if [ -r "$LINUX_GUEST_DIR/zImage" ] && [ -r "$LINUX_GUEST_DIR/initrd.cpio.gz" ]; then
    # Boot only: kernel, initramfs, /init and PSCI power-off.
    guest_test linux/boot 300 0 '^PASS linux-boot' -- \
        -M virt -cpu cortex-a15 -m 1G -nographic -nic none -no-reboot \
        -kernel "$LINUX_GUEST_DIR/zImage" -initrd "$LINUX_GUEST_DIR/initrd.cpio.gz" \
        -append "$LINUX_GUEST_APPEND espt.workload=none"
    # The full workload (about a minute per run under plain TCG).
    guest_test linux/workload 900 0 '^PASS linux-workload' -- \
        -M virt -cpu cortex-a15 -m 1G -nographic -nic none -no-reboot \
        -kernel "$LINUX_GUEST_DIR/zImage" -initrd "$LINUX_GUEST_DIR/initrd.cpio.gz" \
        -append "$LINUX_GUEST_APPEND"
    # Two vCPUs (MTTCG): threads of one process on both, munmap broadcasts
    # to the other vCPU, concurrent fork/exec (about a minute per run);
    # then four, which share this host's two cores.
    guest_test linux/smp 600 0 '^PASS linux-smp' -- \
        -M virt -cpu cortex-a15 -smp 2 -m 1G -nographic -nic none -no-reboot \
        -kernel "$LINUX_GUEST_DIR/zImage" -initrd "$LINUX_GUEST_DIR/initrd.cpio.gz" \
        -append "$LINUX_GUEST_APPEND espt.workload=smp"
    guest_test linux/smp4 900 0 '^PASS linux-smp' -- \
        -M virt -cpu cortex-a15 -smp 4 -m 1G -nographic -nic none -no-reboot \
        -kernel "$LINUX_GUEST_DIR/zImage" -initrd "$LINUX_GUEST_DIR/initrd.cpio.gz" \
        -append "$LINUX_GUEST_APPEND espt.workload=smp"
elif [ -z "${GUEST_FILTER:-}" ] || [[ linux/workload =~ $GUEST_FILTER ]] ||
     [[ linux/boot =~ $GUEST_FILTER ]] || [[ linux/smp =~ $GUEST_FILTER ]]; then
    GUEST_FAILED=$((GUEST_FAILED + 1))
    GUEST_FAILED_NAMES="$GUEST_FAILED_NAMES guest/linux"
    echo "FAIL guest/linux: no zImage/initrd.cpio.gz in $LINUX_GUEST_DIR (run ci/linux-guest/build.sh)"
fi

# The same image on Debian's non-LPAE kernel (build.sh --kernel armmp):
# short-descriptor page tables, so the ASID lives in CONTEXTIDR and a
# switch is a CONTEXTIDR write; software PAN, so the DACR changes on every
# kernel entry and exit and around every user access (patch 0019); and
# 2 GiB of RAM, most of it highmem (kmap, fixmap and highmem user pages,
# each a page invalidation).
LINUX_ARMMP_DIR=${LINUX_ARMMP_DIR:-$GUEST_ROOT/build/guest/linux-armmp}
if [ -r "$LINUX_ARMMP_DIR/zImage" ] && [ -r "$LINUX_ARMMP_DIR/initrd.cpio.gz" ]; then
    guest_test linux/short-desc-smp 600 0 '^PASS linux-smp' -- \
        -M virt -cpu cortex-a15 -smp 2 -m 2G -nographic -nic none -no-reboot \
        -kernel "$LINUX_ARMMP_DIR/zImage" -initrd "$LINUX_ARMMP_DIR/initrd.cpio.gz" \
        -append "$LINUX_GUEST_APPEND espt.workload=smp"
    guest_test linux/short-desc-smp4 900 0 '^PASS linux-smp' -- \
        -M virt -cpu cortex-a15 -smp 4 -m 2G -nographic -nic none -no-reboot \
        -kernel "$LINUX_ARMMP_DIR/zImage" -initrd "$LINUX_ARMMP_DIR/initrd.cpio.gz" \
        -append "$LINUX_GUEST_APPEND espt.workload=smp"
elif [ -z "${GUEST_FILTER:-}" ] || [[ linux/short-desc-smp =~ $GUEST_FILTER ]]; then
    GUEST_FAILED=$((GUEST_FAILED + 1))
    GUEST_FAILED_NAMES="$GUEST_FAILED_NAMES guest/linux-armmp"
    echo "FAIL guest/linux-armmp: no zImage/initrd.cpio.gz in $LINUX_ARMMP_DIR (run ci/linux-guest/build.sh --kernel armmp)"
fi
