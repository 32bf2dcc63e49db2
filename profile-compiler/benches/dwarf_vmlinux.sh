#!/usr/bin/env bash
# Benchmark of the DWARF reader on Debian's vmlinux (see docs/bench/dwarf.md).
#   profile-compiler/benches/dwarf_vmlinux.sh [SHARED_DIR]
# Needs ../shared (or SHARED_DIR) for get-vmlinux.sh, GNU time, and a release
# build (`cargo build --release -p profile-compiler`). Optional: pahole, to
# check the profile against `pahole -F dwarf vmlinux`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${1:-${PROFC_SHARED:-$ROOT/../shared}}
DIR=$(bash "$SHARED/bench/get-vmlinux.sh" | tail -1)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PROFC=$ROOT/target/release/profc
for run in 1 2 3; do
  /usr/bin/time -f "run $run: wall %e s, user %U s, sys %S s, peak RSS %M KB" \
    "$PROFC" convert_profile "$DIR/vmlinux" "$OUT/vmlinux.json.gz" \
    --system-map "$DIR/System.map" --overwrite 2>&1 | grep -E '^run'
done
uptime
python3 "$SHARED/tools/compare_symbols.py" "$OUT/vmlinux.json.gz" "$DIR/System.map" | tail -1
if command -v pahole >/dev/null; then
  pahole -F dwarf "$DIR/vmlinux" > "$OUT/vmlinux.pahole.txt" 2>/dev/null || true
  python3 "$SHARED/tools/compare_layouts.py" "$OUT/vmlinux.json.gz" "$OUT/vmlinux.pahole.txt" | tail -1
fi
