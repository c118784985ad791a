#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the Release build, then the
# ASan+UBSan build. Exits non-zero if any test fails.
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
echo "== all tests passed in ${SECONDS} s"
