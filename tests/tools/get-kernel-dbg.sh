#!/usr/bin/env bash
# Downloads Debian's kernel debug package (linux-image-KVER-dbg, ~850 MB)
# once into ~/.cache/profc-ci/ (or $1), for the tests that read it in place
# (profile-compiler/tests/package.rs real_kernel_dbg_deb) and serve it with
# a real debuginfod (tests/debuginfod.rs real_kernel_dbg_over_debuginfod).
# Prints the package's path. Idempotent: an existing download is kept.
#
#   tests/tools/get-kernel-dbg.sh [DIR]
# KVER defaults to 6.1.0-57-amd64 (the kernel of ../shared/images); set
# PROFC_KERNEL_DBG to another package name to change it.
set -euo pipefail
DIR=${1:-$HOME/.cache/profc-ci}
PKG=${PROFC_KERNEL_DBG:-linux-image-6.1.0-57-amd64-dbg}
mkdir -p "$DIR"
cd "$DIR"
found=$(ls "$DIR"/"${PKG}"_*.deb 2>/dev/null | head -1 || true)
if [ -n "$found" ] && dpkg-deb --info "$found" >/dev/null 2>&1; then
  echo "$found"; exit 0
fi
rm -f "$DIR"/"${PKG}"_*.deb
apt-cache policy "$PKG" | grep -q 'Candidate: (none)' && { echo "$PKG: not in the apt lists (apt-get update?)" >&2; exit 1; }
apt-cache show "$PKG" >/dev/null 2>&1 || apt-get update -qq
# apt-get download works unsandboxed as root here (it warns about _apt).
apt-get download -qq "$PKG" 2> >(grep -v 'unsandboxed' >&2)
ls "$DIR"/"${PKG}"_*.deb | head -1
