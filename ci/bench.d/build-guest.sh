#!/bin/bash
# Build the Linux benchmark guest: the Debian armhf kernel of the test guest
# (ci/linux-guest) and one initramfs per workload, each holding busybox,
# dash, coreutils, the /init and scripts of ci/bench.d/guest/, the Debian
# armhf packages that workload runs (with their dependency closure) and its
# input files.  One initramfs per workload keeps every boot small: the
# kernel unpacks the whole initramfs on each boot, and gnugo, stockfish or
# cc1 with its libraries would make every other workload pay for them.
#
# Packages are resolved and fetched the way ci/linux-guest/build.sh does:
# apt-get configured as if armhf were the native architecture, with an empty
# private dpkg status, "apt-get download" and "dpkg-deb -x"; no root
# filesystem tools.  Needs root (dpkg --add-architecture, apt-get update if
# the armhf lists are missing, mknod of /dev/console) and, for the cc1
# input, arm-linux-gnueabihf-gcc (Debian's gcc-arm-linux-gnueabihf) to
# preprocess a real C file (stb_image.h from libstb-dev) for armhf.
#
# The result is cached in ${ESPT_CACHE:-$HOME/.cache/espt}/bench-guest/<key>/
# (zImage, zImage-armmp, initrd-<workload>.cpio.gz, packages.txt), where
# <key> hashes the files of ci/bench.d that define the image and the exact
# package files; the folder is printed on stdout.
#
# Usage: build-guest.sh [--force]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ESPT_CACHE=${ESPT_CACHE:-$HOME/.cache/espt}
CACHE=$ESPT_CACHE/bench-guest
ARCH=armhf
TRIPLET=arm-linux-gnueabihf
KERNEL_META=linux-image-armmp-lpae
# The non-LPAE kernel (short descriptors, software PAN), for the armmp/*
# workloads: the same initramfs images on the other page-table format.
KERNEL2_META=linux-image-armmp
BASE=(busybox-static dash coreutils)
# Workload -> extra packages (the base is always there).
declare -A PKGS=(
    [boot]="" [forkexec]=""
    [xz]="xz-utils" [bzip2]="bzip2" [gcc]="cpp-12" [gnugo]="gnugo"
    [chess]="stockfish" [grep]="grep" [xslt]="xsltproc docbook-xsl"
    [perl]="perl-base" [lua]="lua5.4" [sqlite]="sqlite3" [xzsmp]="xz-utils"
)
# Workload -> input files (from gen-inputs.py, or stb.i made here).
declare -A DATA=(
    [xz]="text.txt" [xzsmp]="text.txt" [bzip2]="text.txt" [perl]="text.txt" [grep]="dna.txt"
    [xslt]="doc.xml doc-small.xml" [gcc]="stb.i"
)
# Packages needed on the host side only (the C file for cc1).
HOST_PKGS=(libstb-dev)
IMAGE_FILES=(build-guest.sh gen-inputs.py guest/init guest/run guest/bench.pl
             guest/bench.lua guest/bench.sql)

FORCE=0
for arg in "$@"; do
    case $arg in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-guest.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

log() { echo "bench-guest: $*" >&2; }
die() { echo "bench-guest: error: $*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg dpkg-deb cpio gzip tar awk mknod sha256sum find sort \
    python3 "$TRIPLET-gcc"; do
    command -v "$tool" >/dev/null || die "missing host tool: $tool"
done

# --- armhf package lists (as in ci/linux-guest/build.sh) -----------------------
if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
    log "adding dpkg architecture $ARCH"
    dpkg --add-architecture "$ARCH"
fi
have_lists() { compgen -G "/var/lib/apt/lists/*_binary-${ARCH}_Packages*" >/dev/null; }
if ! have_lists; then
    log "fetching $ARCH package lists (apt-get update)"
    apt-get update -q >&2 || true
    have_lists || die "apt-get update did not produce $ARCH package lists"
fi
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
deb_files() { awk '/^'\''/ { print $2 }'; }
closure() {
    apt-get "${APT_OPTS[@]}" -q -y --print-uris install "$@" | deb_files | LC_ALL=C sort
}

# kernel_deb META: the package file of the kernel image META depends on.
kernel_deb() {
    local kpkg deb
    kpkg=$(apt-cache "${APT_OPTS[@]}" depends "$1" |
        sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | awk 'NR == 1')
    [ -n "$kpkg" ] || die "cannot resolve $1 to a kernel image package"
    deb=$(apt-get "${APT_OPTS[@]}" -q --print-uris download "$kpkg" | deb_files)
    [ -n "$deb" ] || die "cannot resolve a package file for $kpkg"
    echo "$deb"
}

# Sets KERNEL_DEB, KERNEL2_DEB, BASE_DEBS, GROUP_DEBS[w], HOST_DEBS, KEY and DEST.
declare -A GROUP_DEBS
resolve() {
    local w
    KERNEL_DEB=$(kernel_deb "$KERNEL_META")
    KERNEL2_DEB=$(kernel_deb "$KERNEL2_META")
    mapfile -t BASE_DEBS < <(closure "${BASE[@]}")
    for w in "${!PKGS[@]}"; do
        # shellcheck disable=SC2086 # package lists are words
        GROUP_DEBS[$w]=$(closure "${BASE[@]}" ${PKGS[$w]} | tr '\n' ' ')
    done
    HOST_DEBS=$(apt-get "${APT_OPTS[@]}" -q --print-uris download "${HOST_PKGS[@]}" | deb_files)
    KEY=$({
        for f in "${IMAGE_FILES[@]}"; do printf '%s\n' "$f"; sha256sum <"$HERE/$f"; done
        "$TRIPLET-gcc" --version | head -n 1
        printf '%s\n' "$KERNEL_DEB" "$KERNEL2_DEB" "${BASE_DEBS[@]}" "$HOST_DEBS"
        for w in $(printf '%s\n' "${!PKGS[@]}" | LC_ALL=C sort); do
            printf '%s: %s\n' "$w" "${GROUP_DEBS[$w]}"
        done
    } | sha256sum | cut -c1-16)
    DEST=$CACHE/$KEY
}

# The package lists in GROUP_DEBS and HOST_DEBS are words (file names
# without blanks), split on purpose below.
# shellcheck disable=SC2086
all_debs() {
    local w
    { printf '%s\n' "$KERNEL_DEB" "$KERNEL2_DEB" $HOST_DEBS
      for w in "${!GROUP_DEBS[@]}"; do printf '%s\n' ${GROUP_DEBS[$w]}; done
    } | LC_ALL=C sort -u
}

cached() {
    [ $FORCE = 0 ] && [ -s "$DEST/zImage" ] && [ -s "$DEST/zImage-armmp" ] &&
        [ -s "$DEST/initrd-boot.cpio.gz" ]
}

# Package file names encode name_version_arch.deb, with ':' (epoch) as %3a.
# Files that the Linux test guest's cache already holds are copied from it.
download() {
    local f name ver want=() shared=$ESPT_CACHE/linux-guest/debs
    for f in "$@"; do
        [ -s "$CACHE/debs/$f" ] && continue
        if [ -s "$shared/$f" ]; then cp "$shared/$f" "$CACHE/debs/$f"; continue; fi
        name=${f%%_*}; ver=${f#*_}; ver=${ver%_*}; ver=${ver//%3a/:}
        want+=("$name=$ver")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    log "downloading ${#want[@]} package(s)"
    (cd "$CACHE/debs/partial" && apt-get "${APT_OPTS[@]}" -q download "${want[@]}" >&2) ||
        return 1
    for f in "$@"; do
        [ -s "$CACHE/debs/partial/$f" ] && mv "$CACHE/debs/partial/$f" "$CACHE/debs/$f"
        [ -s "$CACHE/debs/$f" ] || return 1
    done
}

resolve
if cached; then
    echo "$DEST"
    exit 0
fi
mapfile -t NEED < <(all_debs)
if ! download "${NEED[@]}"; then
    log "download failed; refreshing the package lists and retrying"
    apt-get update -q >&2 || true
    resolve
    if cached; then echo "$DEST"; exit 0; fi
    mapfile -t NEED < <(all_debs)
    download "${NEED[@]}" || die "cannot download the packages"
fi
log "building image $KEY"

WORK=$(mktemp -d "$CACHE/tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/out" "$WORK/data"

# --- kernel and inputs ----------------------------------------------------------
for k in "$KERNEL_DEB:zImage" "$KERNEL2_DEB:zImage-armmp"; do
    rm -rf "$WORK/boot"
    dpkg-deb --fsys-tarfile "$CACHE/debs/${k%%:*}" |
        tar -x -C "$WORK" --wildcards './boot/vmlinuz-*'
    cp "$(ls "$WORK"/boot/vmlinuz-*)" "$WORK/out/${k#*:}"
done

log "generating inputs"
python3 "$HERE/gen-inputs.py" "$WORK/data"
mkdir -p "$WORK/host"
for f in $HOST_DEBS; do dpkg-deb -x "$CACHE/debs/$f" "$WORK/host"; done
# cc1's input: stb_image.h's implementation, preprocessed for armhf
# (SPEC's 403.gcc also compiles preprocessed files).
printf '#define STB_IMAGE_IMPLEMENTATION\n#include <stb/stb_image.h>\n' >"$WORK/stb.c"
"$TRIPLET-gcc" -E -P -I"$WORK/host/usr/include" "$WORK/stb.c" -o "$WORK/data/stb.i"

# --- one initramfs per workload -------------------------------------------------
# shellcheck disable=SC2086
stage() {
    local w=$1 st=$WORK/root-$1 f d
    mkdir -p "$st"
    for f in ${GROUP_DEBS[$w]}; do dpkg-deb -x "$CACHE/debs/$f" "$st"; done
    rm -rf "$st"/usr/share/{doc,man,info,locale,lintian,bash-completion,zsh,bug,menu} \
        "$st"/etc/{cron.daily,logrotate.d} "$st"/usr/lib/"$TRIPLET"/gconv
    # DocBook XSL: only the HTML stylesheets and what they import.
    d=$st/usr/share/xml/docbook/stylesheet/docbook-xsl
    if [ -d "$d" ]; then
        find "$d" -mindepth 1 -maxdepth 1 ! -name html ! -name common ! -name lib \
            ! -name VERSION ! -name VERSION.xsl -exec rm -rf {} +
    fi
    for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp run root var/tmp bench/data; do
        mkdir -p "$st/$d"
    done
    chmod 1777 "$st/tmp" "$st/var/tmp"
    rm -f "$st/dev/console" "$st/dev/null"
    mknod -m 600 "$st/dev/console" c 5 1
    mknod -m 666 "$st/dev/null" c 1 3
    ln -sfn busybox "$st/bin/sh"
    install -m 755 "$HERE/guest/init" "$st/init"
    install -m 755 "$HERE/guest/run" "$st/bench/run"
    install -m 644 "$HERE"/guest/bench.{pl,lua,sql} "$st/bench/"
    for f in ${DATA[$w]:-}; do cp "$WORK/data/$f" "$st/bench/data/"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$st/etc/passwd"
    printf 'root:x:0:\n' >"$st/etc/group"
    printf '%s\n' "$KERNEL_DEB" ${GROUP_DEBS[$w]} >"$st/etc/espt-packages"
    find "$st" -exec touch -h -d @0 {} +
    (cd "$st" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -6 >"$WORK/out/initrd-$w.cpio.gz"
    rm -rf "$st"
    log "initrd-$w.cpio.gz: $(stat -c %s "$WORK/out/initrd-$w.cpio.gz") bytes"
}
for w in $(printf '%s\n' "${!PKGS[@]}" | LC_ALL=C sort); do
    stage "$w"
done
printf '%s\n' "${NEED[@]}" >"$WORK/out/packages.txt"

rm -rf "$DEST"
mv "$WORK/out" "$DEST"
# Keep the three newest images and the package files they use.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name '????????????????' -printf '%T@ %p\n' |
    sort -rn | awk 'NR > 3 { print $2 }' | while read -r old; do rm -rf "$old"; done
cat "$CACHE"/*/packages.txt 2>/dev/null | LC_ALL=C sort -u >"$WORK/keep"
find "$CACHE/debs" -maxdepth 1 -name '*.deb' -printf '%f\n' | LC_ALL=C sort |
    comm -23 - "$WORK/keep" | while read -r f; do rm -f "$CACHE/debs/$f"; done
echo "$DEST"
