#!/usr/bin/env bash
# `profc repo build` over real profiles with 1 and 2 worker threads, and
# lookup of one profile through the CLI. Usage:
#   cargo build --release -p profile-compiler
#   PROFC_SHARED=/work/shared repository/benches/build.sh [COPIES]
# Each Rekall fixture profile (9 files, 74 KB - 4.8 MB of JSON) is listed
# COPIES times (default 4) under distinct names, so there are 9*COPIES sources.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
profc=${PROFC:-$root/target/release/profc}
shared=${PROFC_SHARED:-$root/../shared}
copies=${1:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cfg="$work/src/repo.toml"
: > "$cfg"
n=0
for c in $(seq 1 "$copies"); do
  for f in "$shared"/fixtures/rekall/*/*.json; do
    n=$((n + 1))
    # A distinct file per copy, so each source has its own content key.
    cp "$f" "$work/src/s$n.json"
    printf '[[source]]\npath = "s%d.json"\nkind = "profile"\nname = "bench/s%d"\n\n' "$n" "$n" >> "$cfg"
  done
done
echo "sources: $n ($(du -sh "$work/src" | cut -f1) of JSON); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for jobs in 1 2; do
  /usr/bin/time -o "$work/t" -f "jobs=$jobs: wall %es, user %Us, sys %Ss, CPU %P" \
    "$profc" repo build "$work/repo$jobs" "$cfg" --jobs "$jobs" > /dev/null 2>&1
  cat "$work/t"
done
/usr/bin/time -o "$work/t" -f "rebuild, nothing changed: wall %es" "$profc" repo build "$work/repo2" "$cfg" > /dev/null 2>&1
cat "$work/t"
"$profc" repo symlink "$work/repo2" Latest bench/s1 > /dev/null
/usr/bin/time -o "$work/t" -f "profc repo get (symlink, local, whole process): wall %es" \
  "$profc" repo get Latest --repository-path "$work/repo2" --output "$work/out.json" 2> /dev/null
cat "$work/t"
