// The micro-benchmark binary's entry point: every bench/micro/*_bench.cc registers its
// benchmarks; bench/micro_bench.sh runs them with repetitions and reports medians.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
