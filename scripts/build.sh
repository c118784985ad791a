#!/usr/bin/env bash
# Configures and builds into build/<kind> (kind: release | asan). Usage: scripts/build.sh [kind]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
case "$kind" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  # -O1: the usual sanitizer setting; -O0 makes the suite about twice as slow. -g1: line
  # tables only, all the sanitizers' reports need, and a third less compile time than -g.
  asan) flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -O1" -DSEGFLOW_SANITIZE=ON -DSEGFLOW_BUILD_BENCH=OFF) ;;
  *) echo "build.sh: unknown kind '$kind' (release | asan)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$kind" -G Ninja "${flags[@]}" >/dev/null
ninja -C "build/$kind" -j "$(nproc)"
