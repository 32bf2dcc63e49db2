#!/usr/bin/env bash
# The speed targets of issues 14, 15 and 19 in one run (figures go to
# docs/benchmarks.md): identify against `cat IMAGE > /dev/null`, pslist end to
# end, DWARF and BTF -> ISF against -> Rekall (and `bpftool btf dump`), and the
# DWARF reader against its gimli floor.
#
#   scripts/bench-images.sh [PROFC]        default target/release/profc
#
# Needs the real inputs .ci/run makes (~/.cache/profile-images), hyperfine,
# GNU time, bpftool; a release build (`cargo build --release -p profc`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=${1:-$ROOT/target/release/profc}
W=${PROFC_IMAGES:-$HOME/.cache/profile-images}
I=$W/6.1.0-57-amd64-4level
K=$W/kernel/6.1.0-57-amd64
G=$I/guest
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
uptime
"$P" convert_profile "$K/vmlinux" "$T/k.json.gz" --system-map "$K/System.map" >/dev/null 2>&1

echo "== identify (512 MiB raw image) against cat, from the page cache"
hyperfine -N -w 2 -r 10 "cat $I/mem.raw" "$P identify $I/mem.raw" \
  --export-markdown "$T/id.md" >/dev/null
cat "$T/id.md"

echo "== pslist end to end (open profile, find the kernel, walk)"
hyperfine -N -w 2 -r 10 "$P pslist $I/mem.raw -p $T/k.json.gz" \
  "$P pslist $I/core.elf -p $T/k.json.gz" --output=pipe --export-markdown "$T/ps.md" >/dev/null
cat "$T/ps.md"

echo "== DWARF vmlinux + System.map -> Rekall / ISF (3 runs each)"
for f in rekall isf; do
  for r in 1 2 3; do
    /usr/bin/time -f "$f: %e s wall, %U s user, %M KB" "$P" convert_profile "$K/vmlinux" \
      "$T/out.$f.json" --system-map "$K/System.map" --format $f --overwrite 2>&1 | tail -1
  done
done

echo "== BTF + kallsyms -> Rekall / ISF, and bpftool btf dump (5 runs each)"
for f in rekall isf; do
  for r in 1 2 3 4 5; do
    /usr/bin/time -f "btf $f: %e s wall, %U s user, %M KB" "$P" convert_profile "$G/btf-vmlinux" \
      "$T/b.$f.json" --kallsyms "$G/kallsyms" --banner-file "$G/version" --format $f --overwrite 2>&1 | tail -1
  done
done
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)
for r in 1 2 3 4 5; do
  /usr/bin/time -f "bpftool: %e s wall, %U s user, %M KB" "$BPFTOOL" btf dump file "$G/btf-vmlinux" format raw 2>&1 >/dev/null | tail -1
done

echo "== DWARF reader against the gimli floor (Debian vmlinux)"
(cd "$ROOT" && cargo bench -q -p profile-compiler --bench dwarf_floor -- "$K/vmlinux" 2>/dev/null)
uptime
