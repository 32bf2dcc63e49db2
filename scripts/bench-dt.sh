#!/usr/bin/env bash
# `profc dt` on a whole-kernel profile, Rekall (.json.gz) and ISF (.json.xz,
# .json.gz), against Python's `json.load` of the same file (gzip.open, or
# lzma.open for .xz), in the same hyperfine run (issue 14: at least 10x).
#
#   scripts/bench-dt.sh [PROFC] [KERNEL_DIR] [TYPE]
#
# PROFC defaults to target/release/profc (CARGO_TARGET_DIR honoured);
# KERNEL_DIR to ~/.cache/profile-images/kernel/6.1.0-57-amd64 (vmlinux +
# System.map); TYPE to task_struct. Profiles are made once under
# ${BENCH_DIR:-/tmp/profc-bench-dt}.
set -euo pipefail
cd "$(dirname "$0")/.."
profc=${1:-${CARGO_TARGET_DIR:-target}/release/profc}
kdir=${2:-$HOME/.cache/profile-images/kernel/6.1.0-57-amd64}
type=${3:-task_struct}
dir=${BENCH_DIR:-/tmp/profc-bench-dt}
mkdir -p "$dir"
rekall=$dir/kernel.json.gz
isf_xz=$dir/kernel.isf.json.xz
isf_gz=$dir/kernel.isf.json.gz
[[ -f $rekall ]] || "$profc" convert_profile "$kdir/vmlinux" "$rekall" --system-map "$kdir/System.map"
[[ -f $isf_xz ]] || "$profc" export "$rekall" "$isf_xz" --format isf
[[ -f $isf_gz ]] || "$profc" export "$rekall" "$isf_gz" --format isf
ls -l "$rekall" "$isf_xz" "$isf_gz"
for f in "$rekall" "$isf_xz" "$isf_gz"; do
    if [[ $f == *.xz ]]; then open=lzma; else open=gzip; fi
    # Decompression alone, the floor of any reader of the whole file.
    if [[ $f == *.xz ]]; then floor="xz -dc $f"; else floor="gzip -dc $f"; fi
    hyperfine -N -w 3 -r ${RUNS:-20} \
        -n "profc dt $(basename "$f")" "$profc dt $f $type" \
        -n "python json.load($open.open)" "python3 -c 'import $open,json; json.load($open.open(\"$f\"))'" \
        -n "decompress only ($floor)" "$floor" \
        --export-markdown "$dir/$(basename "$f").md"
done
cat "$dir"/*.md
