#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang into build/fuzz and runs each for a
# bounded time, starting from its seed corpus (tests/fuzz/corpus/<target>, crash
# regressions included). Usage: scripts/fuzz.sh [--build-only|--no-build] [seconds-per-target] [target...]
# --build-only builds the targets and stops; --no-build runs what an earlier --build-only
# built (scripts/test.sh builds while the ASan tests run, then fuzzes).
# New inputs go to build/fuzz/corpus/<target>, crashes to build/fuzz/crashes/. Exits
# non-zero if any target crashes, leaks, times out or runs out of memory.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=all
case ${1:-} in
  --build-only) mode=build; shift ;;
  --no-build) mode=run; shift ;;
esac
secs=${1:-60}
shift || true
build=build/fuzz
if [ "$mode" != run ]; then
  scripts/setup.sh
  # -O1 with line tables: the usual sanitizer setting; asserts stay on.
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DSEGFLOW_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" "-DCMAKE_C_FLAGS_DEBUG=-O1 -gline-tables-only" >/dev/null
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.cc; do
    f=${f##*/fuzz_}
    targets+=("${f%.cc}")
  done
fi
if [ "$mode" != run ]; then
  ninja -C "$build" -j "$(nproc)" "${targets[@]/#/fuzz_}"
  if [ "$mode" = build ]; then exit 0; fi
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t
  work=$build/corpus/$t
  mkdir -p "$work" "$build/crashes" "$seeds"
  dict=()
  if [ -f "tests/fuzz/$t.dict" ]; then dict=("-dict=tests/fuzz/$t.dict"); fi
  log=$build/fuzz-$t.log
  start=$SECONDS
  if /usr/bin/time -f "%U %S" -o "$build/fuzz-$t.cpu" "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" "${dict[@]}" "$work" "$seeds" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  runs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$build/fuzz-$t.cpu" 2>/dev/null || true)
  echo "fuzz $t: $status, ${runs:-?} runs, ${cov:-cov: ?}, $((SECONDS - start)) s (${cpu:-?} s CPU) (log: $log)"
  if [ "$status" = FAILED ]; then
    grep -E 'ERROR|SUMMARY|Test unit written|artifact_prefix' "$log" | head -20 >&2 || true
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]}: see $build/crashes/ and the logs; add each crash file to" \
       "tests/fuzz/corpus/<target>/ as a regression once fixed" >&2
  exit 1
fi
