#!/bin/bash
# Build the Linux test guest: a Debian armhf kernel (zImage) and a busybox
# initramfs holding the workload.  Everything comes from Debian armhf binary
# packages fetched with apt-get and unpacked with dpkg-deb; no root
# filesystem tools, no loop mounts, no debootstrap.  Needs root (for
# dpkg --add-architecture, apt-get update and mknod of /dev/console).
#
# The result is cached in ${ESPT_CACHE:-$HOME/.cache/espt}/linux-guest/<key>/,
# where <key> hashes the image's source files in this folder and the exact
# package files resolved from the archive, and is linked to
# build/guest/linux/{zImage,initrd.cpio.gz} under the repository.
#
# Options:
#   --force           rebuild even if the cache holds an image for this key
#   --kernel FLAVOUR  armmp-lpae (default: LPAE page tables, the 64-bit
#                     TTBR0 names the ASID) or armmp (short descriptors,
#                     the ASID is in CONTEXTIDR; highmem); armmp is linked
#                     to build/guest/linux-armmp instead
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${ESPT_CACHE:-$HOME/.cache/espt}/linux-guest
ARCH=armhf
TRIPLET=arm-linux-gnueabihf
FLAVOUR=armmp-lpae
# Userland packages; apt resolves their dependency closure.  busybox-static
# supplies the shell and the applets that the real packages do not.
USERLAND=(busybox-static dash coreutils gawk gzip xz-utils bzip2 tar perl-base)
# Files whose contents define the image (tests.sh and README.md do not).
IMAGE_FILES=(build.sh init workload-lib.sh workload.sh workload-smp.sh)

FORCE=0
while [ $# -gt 0 ]; do
    case $1 in
        --force) FORCE=1 ;;
        --kernel)
            [ $# -ge 2 ] || { echo "build.sh: --kernel needs armmp-lpae or armmp" >&2; exit 2; }
            FLAVOUR=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
case $FLAVOUR in
    armmp-lpae) OUT=$ROOT/build/guest/linux ;;
    armmp) OUT=$ROOT/build/guest/linux-armmp ;;
    *) echo "build.sh: --kernel takes armmp-lpae or armmp, not '$FLAVOUR'" >&2; exit 2 ;;
esac
KERNEL_META=linux-image-$FLAVOUR

log() { echo "linux-guest: $*" >&2; }
die() { echo "linux-guest: error: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg dpkg-deb cpio gzip tar awk comm mknod sha256sum find sort; do
    command -v "$tool" >/dev/null || die "missing host tool: $tool (apt-get install it)"
done

# --- armhf package lists ---------------------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
    log "adding dpkg architecture $ARCH"
    dpkg --add-architecture "$ARCH"
fi
have_lists() {
    compgen -G "/var/lib/apt/lists/*_binary-${ARCH}_Packages*" >/dev/null
}
if ! have_lists; then
    log "fetching $ARCH package lists (apt-get update)"
    # A partial failure (e.g. a mirror mid-sync for one suite) still leaves
    # usable lists; only give up if none arrived.
    apt-get update -q >&2 || true
    have_lists || die "apt-get update did not produce $ARCH package lists"
fi

# apt configured as if armhf were the native architecture, with an empty
# dpkg status of its own: dependency resolution then yields exactly the
# closure of the requested packages, and the host's dpkg state is neither
# read nor locked.  The binary cache is kept in memory only.  The archives
# directory apt sees stays empty: --print-uris leaves out packages already
# there, and the package files are fetched with "apt-get download" instead.
mkdir -p "$CACHE/debs/partial" "$CACHE/apt/archives/partial"
: >"$CACHE/apt/status"
APT_OPTS=(
    -o "APT::Architecture=$ARCH"
    -o "APT::Architectures=$ARCH"
    -o "Dir::State::status=$CACHE/apt/status"
    -o "Dir::Cache::archives=$CACHE/apt/archives"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Install-Recommends=false"
    -o "APT::Install-Suggests=false"
    -o "APT::Sandbox::User=root"
)

# --- resolve ----------------------------------------------------------------
# "apt-get --print-uris" prints: 'URI' FILENAME SIZE HASH; keep FILENAME only.
deb_files() { awk '/^'\''/ { print $2 }'; }

# Sets KERNEL_PKG, KERNEL_DEB, USER_DEBS, KEY and DEST.
resolve() {
    # The metapackage depends on the current ABI's image package.
    KERNEL_PKG=$(apt-cache "${APT_OPTS[@]}" depends "$KERNEL_META" |
        sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | awk 'NR == 1')
    [ -n "$KERNEL_PKG" ] || die "cannot resolve $KERNEL_META to a kernel image package"
    KERNEL_DEB=$(apt-get "${APT_OPTS[@]}" -q --print-uris download "$KERNEL_PKG" | deb_files)
    [ -n "$KERNEL_DEB" ] || die "cannot resolve a package file for $KERNEL_PKG"
    mapfile -t USER_DEBS < <(apt-get "${APT_OPTS[@]}" -q -y --print-uris install \
        "${USERLAND[@]}" | deb_files | LC_ALL=C sort)
    [ "${#USER_DEBS[@]}" -gt 0 ] || die "cannot resolve the userland packages"
    KEY=$({
        for f in "${IMAGE_FILES[@]}"; do
            printf '%s\n' "$f"; sha256sum <"$HERE/$f"
        done
        printf '%s\n' "$KERNEL_DEB" "${USER_DEBS[@]}"
    } | sha256sum | cut -c1-16)
    DEST=$CACHE/$KEY
}

publish() {
    mkdir -p "$OUT"
    ln -sfn "$DEST/zImage" "$OUT/zImage"
    ln -sfn "$DEST/initrd.cpio.gz" "$OUT/initrd.cpio.gz"
    log "image $KEY, kernel package ${KERNEL_DEB}"
    echo "$OUT/zImage"
    echo "$OUT/initrd.cpio.gz"
}

cached() {
    [ $FORCE = 0 ] && [ -s "$DEST/zImage" ] && [ -s "$DEST/initrd.cpio.gz" ]
}

# Package file names encode name_version_arch.deb, with ':' (epoch) as %3a.
# Returns non-zero if a package could not be fetched.
download() {
    local f name ver want=()
    for f in "$@"; do
        [ -s "$CACHE/debs/$f" ] && continue
        name=${f%%_*}; ver=${f#*_}; ver=${ver%_*}; ver=${ver//%3a/:}
        want+=("$name=$ver")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    log "downloading ${#want[@]} package(s)"
    (cd "$CACHE/debs/partial" && apt-get "${APT_OPTS[@]}" -q download "${want[@]}" >&2) ||
        return 1
    for f in "$@"; do
        if [ -s "$CACHE/debs/partial/$f" ]; then
            mv "$CACHE/debs/partial/$f" "$CACHE/debs/$f"
        fi
        [ -s "$CACHE/debs/$f" ] || return 1
    done
}

resolve
if cached; then
    publish
    exit 0
fi
if ! download "$KERNEL_DEB" "${USER_DEBS[@]}"; then
    # Stale package lists name files the archive has since replaced.
    log "download failed; refreshing the package lists and retrying"
    apt-get update -q >&2 || true
    resolve
    if cached; then
        publish
        exit 0
    fi
    download "$KERNEL_DEB" "${USER_DEBS[@]}" || die "cannot download the packages"
fi
log "building image $KEY"

# --- assemble -------------------------------------------------------------------
WORK=$(mktemp -d "$CACHE/tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/root

# Kernel: only /boot/vmlinuz-* is needed (virtio, PL011, PSCI, devtmpfs and
# gzip initramfs support are built in, so no modules are loaded).
dpkg-deb --fsys-tarfile "$CACHE/debs/$KERNEL_DEB" |
    tar -x -C "$WORK" --wildcards './boot/vmlinuz-*'
VMLINUZ=$(ls "$WORK"/boot/vmlinuz-*)
[ "$(echo "$VMLINUZ" | wc -l)" = 1 ] || die "expected one vmlinuz in $KERNEL_DEB"

mkdir -p "$STAGE"
for f in "${USER_DEBS[@]}"; do
    dpkg-deb -x "$CACHE/debs/$f" "$STAGE"
done
# Documentation, translations and packaging leftovers are dead weight.
rm -rf "$STAGE"/usr/share/{doc,man,info,locale,lintian,bash-completion,zsh} \
       "$STAGE"/etc/{cron.daily,logrotate.d} "$STAGE"/usr/lib/"$TRIPLET"/gconv
for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp run root var/tmp; do
    mkdir -p "$STAGE/$d"
done
chmod 1777 "$STAGE/tmp" "$STAGE/var/tmp"
# The kernel opens /dev/console for init before anything is mounted.
rm -f "$STAGE/dev/console" "$STAGE/dev/null"
mknod -m 600 "$STAGE/dev/console" c 5 1
mknod -m 666 "$STAGE/dev/null" c 1 3
# The shell; the other busybox applets are linked by /init at boot (busybox
# --install -s), which leaves the real programs from the packages in place.
ln -sfn busybox "$STAGE/bin/sh"
install -m 755 "$HERE/init" "$STAGE/init"
install -D -m 644 "$HERE/workload-lib.sh" "$STAGE/usr/lib/espt/workload-lib.sh"
install -m 755 "$HERE/workload.sh" "$STAGE/usr/bin/espt-workload"
install -m 755 "$HERE/workload-smp.sh" "$STAGE/usr/bin/espt-workload-smp"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$STAGE/etc/passwd"
printf 'root:x:0:\n' >"$STAGE/etc/group"
printf '%s\n' "$KERNEL_DEB" "${USER_DEBS[@]}" >"$WORK/packages.txt"
cp "$WORK/packages.txt" "$STAGE/etc/espt-packages"

# Reproducible archive: fixed order, owner and timestamps.
find "$STAGE" -exec touch -h -d @0 {} +
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort |
    cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -9 >"$WORK/initrd.cpio.gz"
cp "$VMLINUZ" "$WORK/zImage"

mkdir -p "$WORK/out"
mv "$WORK/zImage" "$WORK/initrd.cpio.gz" "$WORK/packages.txt" "$WORK/out/"
rm -rf "$DEST"
mv "$WORK/out" "$DEST"
log "zImage $(stat -c %s "$DEST/zImage") bytes, initrd.cpio.gz $(stat -c %s "$DEST/initrd.cpio.gz") bytes"

# Keep the four newest images and the package files they were built from.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name '????????????????' -printf '%T@ %p\n' |
    sort -rn | awk 'NR > 4 { print $2 }' | while read -r old; do rm -rf "$old"; done
cat "$CACHE"/*/packages.txt 2>/dev/null | LC_ALL=C sort -u >"$WORK/keep"
find "$CACHE/debs" -maxdepth 1 -name '*.deb' -printf '%f\n' | LC_ALL=C sort |
    comm -23 - "$WORK/keep" | while read -r f; do rm -f "$CACHE/debs/$f"; done

publish
