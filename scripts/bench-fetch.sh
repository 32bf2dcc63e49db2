#!/usr/bin/env bash
# Throughput of `profc fetch_pdb` from a loopback symbol server
# (python3 -m http.server on 127.0.0.1), plain PDB and MSZIP cabinet (made
# with gcab -z), cold cache each time, then one warm (cached) run.
#
#   scripts/bench-fetch.sh [PROFC] [RUNS]
# PROFC defaults to target/release/profc; needs python3 and gcab.
set -euo pipefail
PROFC=${1:-target/release/profc}
RUNS=${2:-5}
SHARED=${PROFC_SHARED:-../shared}
PDB_DIR=$SHARED/fixtures/pdb/debugpy-1.8.22
NAME=inject_dll_x86.pdb
EXE=$PDB_DIR/inject_dll_x86.exe
T=$(mktemp -d)
trap 'kill $SRV 2>/dev/null || true; rm -rf "$T"' EXIT
KEY=$("$PROFC" peinfo "$EXE" | awk '$1=="GUID/Age"{print $2}')
mkdir -p "$T/plain/$NAME/$KEY" "$T/cab/$NAME/$KEY"
cp "$PDB_DIR/$NAME" "$T/plain/$NAME/$KEY/$NAME"
(cd "$PDB_DIR" && gcab -c -z -n "$T/cab/$NAME/$KEY/${NAME%?}_" "$NAME")
SIZE=$(stat -c %s "$PDB_DIR/$NAME"); CSIZE=$(stat -c %s "$T/cab/$NAME/$KEY/${NAME%?}_")
(cd "$T" && exec timeout 600 python3 -m http.server --bind 127.0.0.1 0 > "$T/srv.log" 2>&1) &
SRV=$!
for _ in $(seq 50); do grep -q "port" "$T/srv.log" 2>/dev/null && break; sleep 0.1; done
PORT=$(grep -o 'port [0-9]*' "$T/srv.log" | head -1 | cut -d' ' -f2)
echo "PDB $NAME: $SIZE bytes; MSZIP cabinet: $CSIZE bytes; $RUNS cold runs each"
for kind in plain cab; do
  best=999
  for i in $(seq "$RUNS"); do
    rm -rf "$T/cache"
    s=$(date +%s.%N)
    env -u http_proxy -u HTTP_PROXY "$PROFC" fetch_pdb --filename "$EXE" \
      --server "http://127.0.0.1:$PORT/$kind" --cache "$T/cache" >/dev/null 2>&1
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l); best=$(echo "if ($t < $best) $t else $best" | bc -l)
  done
  printf '%-6s best %.3f s  %.1f MB/s (PDB bytes)\n' "$kind" "$best" "$(echo "$SIZE / $best / 1000000" | bc -l)"
done
s=$(date +%s.%N)
"$PROFC" fetch_pdb --filename "$EXE" --server "http://127.0.0.1:$PORT/plain" --cache "$T/cache" >/dev/null 2>&1
e=$(date +%s.%N)
printf 'cached best-of-1 %.3f s (verify only, no download)\n' "$(echo "$e - $s" | bc -l)"
