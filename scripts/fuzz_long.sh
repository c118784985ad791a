#!/usr/bin/env bash
# The long fuzzing run (bench/RESULTS.md): every target in turn, in slices of SLICE seconds
# of wall time, one at a time at nice 19 (the machine is shared), until the summed CPU
# time of all slices reaches BUDGET seconds or the clock passes END (epoch seconds).
# Works in build/fuzz-long: targets are the binaries in build/fuzz-long/bin (copy them
# there from build/fuzz/tests/fuzz, so rebuilding does not disturb the run; a binary
# copied in later joins the next round), corpora are kept between slices and seeded from
# tests/fuzz/corpus, crashes go to build/fuzz-long/crashes/. One line per slice in
# build/fuzz-long/slices.tsv; `scripts/fuzz_long.sh --summary` sums them per target.
# SEGFLOW_FUZZ_LONG_DIR names another work folder, so that two runs (each with its own
# targets in bin/) can use both cores; --summary sums one folder.
# Usage: scripts/fuzz_long.sh BUDGET_CPU_S [SLICE_S] [END_EPOCH]
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${SEGFLOW_FUZZ_LONG_DIR:-build/fuzz-long}
tsv=$dir/slices.tsv
if [ "${1:-}" = --summary ]; then
  # target, slices, CPU s, executions, corpus files at the end, failed slices
  awk -F'\t' 'NR > 1 { s[$2]++; cpu[$2] += $4; ex[$2] += $5; corp[$2] = $6; if ($7 != "ok") f[$2]++ }
    END { for (t in s) { printf "%s\t%d\t%.0f\t%d\t%d\t%d\n", t, s[t], cpu[t], ex[t], corp[t], f[t]; tc += cpu[t]; te += ex[t] }
          printf "TOTAL\t\t%.0f\t%d\n", tc, te }' "$tsv" | sort
  exit 0
fi
budget=${1:?usage: fuzz_long.sh BUDGET_CPU_S [SLICE_S] [END_EPOCH]}
slice=${2:-150}
end=${3:-0}
# Wall seconds one input may take: at nice 19 on a loaded machine a 1 s input can take 10
# (the CPU time of a reported timeout is checked when it is triaged).
timeout=${SEGFLOW_FUZZ_TIMEOUT:-60}
mkdir -p "$dir/bin" "$dir/corpus" "$dir/crashes" "$dir/logs"
[ -f "$tsv" ] || printf 'when\ttarget\twall_s\tcpu_s\texecs\tcorpus_files\tstatus\tcov\n' >"$tsv"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
spent() { awk -F'\t' 'NR > 1 { c += $4 } END { printf "%.0f", c }' "$tsv"; }
round=0
while :; do
  round=$((round + 1))
  for bin in "$dir"/bin/fuzz_*; do
    t=${bin##*/fuzz_}
    if (($(spent) >= budget)); then echo "fuzz_long: budget of $budget CPU s reached"; exit 0; fi
    if ((end > 0 && $(date +%s) >= end)); then echo "fuzz_long: end time reached"; exit 0; fi
    work=$dir/corpus/$t
    mkdir -p "$work" "tests/fuzz/corpus/$t"
    dict=()
    if [ -f "tests/fuzz/$t.dict" ]; then dict=("-dict=tests/fuzz/$t.dict"); fi
    log=$dir/logs/$t-$round.log
    start=$SECONDS
    if nice -n "${SEGFLOW_FUZZ_NICE:-19}" /usr/bin/time -f "%U %S" -o "$dir/cpu" "$bin" -max_total_time="$slice" \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout="$timeout" -print_final_stats=1 \
        -artifact_prefix="$dir/crashes/$t-" "${dict[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
      status=ok
    else
      status=$(grep -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [a-z-]+' "$log" | head -1 | awk '{print $3}')
      status=FAILED:${status:-exit}
    fi
    execs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    cpu=$(tail -1 "$dir/cpu" | awk '{printf "%.1f", $1 + $2}')
    files=$(find "$work" -type f | wc -l)
    printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%H:%M:%S)" "$t" $((SECONDS - start)) \
      "${cpu:-0}" "${execs:-0}" "$files" "$status" "${cov:-?}" >>"$tsv"
  done
done
