#!/usr/bin/env bash
# Extracts the -dbg package's loop.ko, brd.ko and dummy.ko (modules with DWARF: the
# oracle pahole reads for the split-BTF check of profile-compiler/tests/kernel_self.rs).
# The stock modules beside the kernel (../shared/images/linux-qemu-image.sh's
# kernel/KVER/modules/) have BTF but no DWARF.
#
#   scripts/dbg-modules.sh [KVER]      default 6.1.0-57-amd64 (the machine's apt suite)
#
# Reads linux-image-KVER-dbg from ~/.cache/profc-ci when tests/tools/get-kernel-dbg.sh
# kept it there, else downloads it (about 860 MB) with apt-get into a temporary folder
# under OUT, extracts only the three modules to
#   OUT/usr/lib/debug/lib/modules/KVER/kernel/drivers/{block/loop.ko,block/brd.ko,net/dummy.ko}
# and deletes the .deb. Skipped when the modules are there.
# Environment: OUT (default $HOME/.cache/kernel-dbg; the tests read PROFC_DBG_MODULES,
# default OUT/usr/lib/debug/lib/modules/KVER).
set -euo pipefail
KVER=${1:-6.1.0-57-amd64}
OUT=${OUT:-$HOME/.cache/kernel-dbg}
M="$OUT/usr/lib/debug/lib/modules/$KVER/kernel/drivers"
if [ -s "$M/block/loop.ko" ] && [ -s "$M/block/brd.ko" ] && [ -s "$M/net/dummy.ko" ]; then
  echo "$OUT/usr/lib/debug/lib/modules/$KVER"; exit 0
fi
mkdir -p "$OUT"
# The package tests/tools/get-kernel-dbg.sh keeps (~/.cache/profc-ci) is read
# in place when it is there: one download serves both.
KEPT=${PROFC_CI_CACHE:-$HOME/.cache/profc-ci}
DEB=$(ls "$KEPT"/linux-image-"$KVER"-dbg_*.deb 2>/dev/null | head -1 || true)
if [ -z "$DEB" ]; then
  T=$(mktemp -d "$OUT/download.XXXXXX")
  trap 'rm -rf "$T"' EXIT
  chmod 777 "$T"   # apt's _apt user writes the download
  ( cd "$T" && apt-get download -qq "linux-image-$KVER-dbg" ) 2>&1 | grep -v 'unsandboxed' >&2 || true
  DEB=$(ls "$T"/linux-image-"$KVER"-dbg_*.deb 2>/dev/null | head -1)
  [ -n "$DEB" ] || { echo "dbg-modules: apt-get download linux-image-$KVER-dbg failed" >&2; exit 1; }
fi
dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$OUT" --wildcards '*/drivers/block/loop.ko' '*/drivers/block/brd.ko' '*/drivers/net/dummy.ko'
[ -s "$M/block/loop.ko" ] || { echo "dbg-modules: loop.ko not in $DEB" >&2; exit 1; }
echo "$OUT/usr/lib/debug/lib/modules/$KVER"
