# shellcheck shell=bash
# Shared settings for the ci/ scripts.  Sourced, never executed.

set -euo pipefail

ESPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Everything expensive (QEMU source and build trees, ccache, guest images)
# lives outside the clone so that a fresh clone reuses it.
ESPT_CACHE=${ESPT_CACHE:-$HOME/.cache/espt}
QEMU_VERSION=10.0.13
QEMU_DEB_VERSION=1:10.0.13+ds-0+deb13u1
QEMU_DEB_ORIG=qemu_10.0.13+ds.orig.tar.xz
# sha256 of Debian's orig tarball of the pinned release (upstream 10.0.13
# with the prebuilt firmware removed).
QEMU_DEB_ORIG_SHA256=6a0888e806c2ffc0c5f0733e974f9aea55491950d3c47c98669c8b236dde59ae
export ESPT_ROOT ESPT_CACHE

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run apt-get only when a package is missing, so a warm machine pays nothing.
ensure_apt_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]} (or install them yourself)"
    # A partial index failure (a mirror mid-sync for one architecture)
    # should not stop the install of packages whose indexes did load.
    apt-get update -qq || log "apt-get update reported errors; installing anyway"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# The Rust toolchain components the checks use.
ensure_rust() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null && rustup component add rustfmt clippy
    fi
}

# bindgen (build.rs) needs libclang.
ensure_rust_build_deps() {
    ensure_rust
    ensure_apt_packages libclang-dev clang
}
