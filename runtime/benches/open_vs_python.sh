#!/usr/bin/env bash
# Open a whole-kernel profile and read one member offset, against
# `python3 -c 'import gzip,json; json.load(gzip.open(F))'` on the same file,
# measured in the same run (see runtime/benches/open_kernel.rs).
#
#   bash runtime/benches/open_vs_python.sh [PROFILE.json.gz]
#
# Without an argument, makes /tmp/vmlinux.json.gz from the Debian 6.1.0-56
# vmlinux (downloaded by /work/shared/bench/get-vmlinux.sh when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${1:-/tmp/vmlinux.json.gz}
if [[ ! -f $profile ]]; then
    kdir=/root/.cache/profile-bench/6.1.0-56-amd64
    [[ -f $kdir/vmlinux ]] || bash "${PROFC_SHARED:-/work/shared}/bench/get-vmlinux.sh"
    cargo build --release --bin profc
    target/release/profc convert_profile "$kdir/vmlinux" "$profile" --system-map "$kdir/System.map"
fi
PROFC_BENCH_PROFILE=$profile cargo bench -p profile-runtime --bench open_kernel
