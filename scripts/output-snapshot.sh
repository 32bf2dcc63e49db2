#!/usr/bin/env bash
# Runs every profile-writing and inspection command of a profc binary on every
# real input (../shared/fixtures, the project's fixtures and, when present, the
# Debian vmlinux of ../shared/bench/get-vmlinux.sh) and leaves the outputs in
# OUT, so that two binaries can be compared byte for byte:
#
#   scripts/output-snapshot.sh OLD_PROFC /tmp/before
#   scripts/output-snapshot.sh NEW_PROFC /tmp/after
#   diff -r /tmp/before /tmp/after && echo identical
#
# Standard error of each run is kept too (warnings are part of the output).
# VMLINUX_DIR (default: the newest ~/.cache/profile-bench/*-amd64) holds vmlinux and System.map.
set -uo pipefail
PROFC=$(realpath "$1")
OUT=$2
SHARED=$(realpath "${PROFC_SHARED:-$(dirname "$0")/../../shared}")
ROOT=$(realpath "$(dirname "$0")/..")
F=$SHARED/fixtures
mkdir -p "$OUT"
cd "$OUT" || exit 1
run() { # run NAME ARGS...: stdout to NAME.out, stderr to NAME.err, exit code to NAME.rc
  local name=$1; shift
  "$PROFC" "$@" > "$name.out" 2> "$name.err"
  echo $? > "$name.rc"
}

for pdb in "$F"/pdb/debugpy-1.8.22/*.pdb "$ROOT"/tests/fixtures/pdb/*.pdb; do
  s=$(basename "$pdb" .pdb)
  run "pdb-$s" parse_pdb "$pdb" --output "pdb-$s.json"
  run "pdb-$s-isf" parse_pdb "$pdb" --output "pdb-$s.isf.json" --format isf
  run "pdb-$s-gz" parse_pdb "$pdb" --output "pdb-$s.gz"
  run "pdb-$s-concise" parse_pdb "$pdb" --output "pdb-$s.concise.json" --concise --profile_class Win7x64
done
for exe in "$F"/pdb/debugpy-1.8.22/*.dll "$F"/pdb/debugpy-1.8.22/*.exe; do
  run "peinfo-$(basename "$exe")" peinfo "$exe"
done
for z in "$F"/linux/*.zip "$F"/vol2/*.zip; do
  s=$(basename "$z" .zip)
  run "zip-$s" convert_profile "$z" "zip-$s.json"
  run "zip-$s-isf" convert_profile "$z" "zip-$s.isf.json" --format isf
done
for p in "$F"/rekall/Linux/*.json "$F"/rekall/OSX/*.json "$F"/rekall/parse_pdb/*.json; do
  s=$(basename "$p" .json)
  run "export-$s-isf" export "$p" "export-$s.isf.json" --format isf
  run "export-$s-rekall" export "export-$s.isf.json" "export-$s.back.json"
  run "info-$s" info "$p"
done
for b in "$ROOT"/tests/fixtures/btf/*.btf "$ROOT"/tests/fixtures/btf/*.o; do
  s=$(basename "$b")
  run "btf-$s" convert_profile "$b" "btf-$s.json"
  run "btf-$s-isf" convert_profile "$b" "btf-$s.isf.json" --format isf
done
for e in "$ROOT"/tests/fixtures/elf/out/*; do
  [ -f "$e" ] || continue
  s=$(basename "$e")
  run "elf-$s" convert_profile "$e" "elf-$s.json"
done
run dt-peb dt pdb-inject_dll_amd64.json _PEB
run dt-depth dt pdb-inject_dll_amd64.json _TEB --depth 2
run dt-enum dt pdb-inject_dll_amd64.json DNameStatus
run diff-x86-x64 diff pdb-inject_dll_x86.json pdb-inject_dll_amd64.json
run diff-json diff pdb-attach_x86.json pdb-attach_amd64.json --json
run gen-x64 gen_rust pdb-fixture_x64.json --types Bits
run gen-dyn gen_rust pdb-fixture_x64.json --mode dynamic
run repo-add repo add repo pdb-inject_dll_x86.json pdb-attach_amd64.json zip-6.1.0-56-amd64.json
run repo-list repo list repo --long
# The inventory records when each file was written: compare it without that.
zcat repo/inventory.gz | sed 's/"LastModified": *[0-9]*/"LastModified": 0/g' > repo-inventory.json
rm repo/inventory.gz
run version-scan version_scan "$F"/pdb/debugpy-1.8.22/attach_amd64.dll

VMLINUX_DIR=${VMLINUX_DIR:-$(ls -d "$HOME"/.cache/profile-bench/*-amd64/ 2>/dev/null | sort | tail -1)}
if [ -n "$VMLINUX_DIR" ] && [ -s "$VMLINUX_DIR/vmlinux" ]; then
  V=$VMLINUX_DIR/vmlinux; M=$VMLINUX_DIR/System.map
  run vmlinux convert_profile "$V" vmlinux.json --system-map "$M"
  run vmlinux-isf convert_profile "$V" vmlinux.isf.json --system-map "$M" --format isf
  run vmlinux-btf convert_profile "$V" vmlinux-btf.json --converter btf --system-map "$M"
  run vmlinux-btf-isf convert_profile "$V" vmlinux-btf.isf.json --converter btf --format isf
  run vmlinux-gz convert_profile "$V" vmlinux.gz
else
  echo "no vmlinux: its outputs are not part of this snapshot" >&2
fi
# Temporary-file names and absolute paths differ between runs: normalise them.
sed -i "s#$OUT#OUT#g; s#$SHARED#SHARED#g; s#$ROOT#ROOT#g" ./*.err ./*.out 2>/dev/null
echo "$OUT: $(ls | wc -l) files"
