#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after the other, with the
# limits the robustness check uses (-rss_limit_mb=2048 -timeout=10), and
# prints executions and coverage per target. Repeatable: seeds come from
# fuzz/seed.sh, the libFuzzer seed is fixed (-seed=1 unless FUZZ_SEED is
# set), and each run's log is kept in fuzz/logs/<target>.log.
#
#   fuzz/run-all.sh 600            # every target, 10 minutes each
#   fuzz/run-all.sh 120 pdb cab    # only the named targets
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain it
# runs with RUSTC_BOOTSTRAP=1 (the sanitizer flags need it).
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:?usage: fuzz/run-all.sh SECONDS [TARGET...]}"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^profc-fuzz$')
fi
[ -d corpus ] || ./seed.sh
mkdir -p logs artifacts
export RUSTC_BOOTSTRAP=1
status=0
printf '%-18s %8s %12s %8s %8s %s\n' target seconds execs cov ft result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="logs/$t.log"
  cargo fuzz run -O "$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -seed="${FUZZ_SEED:-1}" -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc -eq 0 ]; then result=ok; else result="FAILED (rc $rc, see $log and artifacts/$t/)"; status=1; fi
  printf '%-18s %8s %12s %8s %8s %s\n' "$t" "$secs" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
