#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the Release build, then the
# ASan+UBSan build, then a short bounded run of the fuzz targets (scripts/fuzz.sh). Exits
# non-zero if any test fails or a fuzz target crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for kind in release asan; do
  echo "== build ($kind), ${SECONDS} s in"
  scripts/build.sh "$kind"
  echo "== test ($kind), ${SECONDS} s in"
  # Under ASan the declarative cases run in bounded mode only: live mode is the same
  # engine code with more process start-ups, and doubles the sanitizer run's time.
  skip=()
  if [ "$kind" = asan ]; then skip=(-E 'CaseDriverTest\.Case/[^ ]*_live( |$)'); fi
  ctest --test-dir "build/$kind" --output-on-failure -j 2 --timeout 600 "${skip[@]}"
done
# Every parser of outside bytes under libFuzzer for a few seconds each (clang build in
# build/fuzz): the corpus, crash regressions included, replays first.
fuzz_seconds=${SEGFLOW_CI_FUZZ_SECONDS:-5}
echo "== fuzz (${fuzz_seconds} s per target), ${SECONDS} s in"
scripts/fuzz.sh "$fuzz_seconds"
echo "== all tests passed in ${SECONDS} s"
