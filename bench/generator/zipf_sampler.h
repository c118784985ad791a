// ZipfSampler: ranks 0..n-1 with P(rank r) ≈ 1 / (r + 1 + q) / H — Zipf's law (exponent 1)
// with a flattened head (Zipf-Mandelbrot q), so the top user is heavy but not absurd.
// Sampled in O(1) with no table: a continuous 1/x law on [q + 0.5, n + q + 0.5], by
// inversion, floored to ranks; P(rank r) = ln((r + 1 + a) / (r + a)) / ln((n + a) / a),
// a = q + 0.5, which matches 1 / (r + 1 + q) to within 1 / (24 (r + 1 + q)^2) relatively.
#pragma once

#include <cstdint>

#include "bench/generator/rng.h"

namespace segflow::gen {

class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double q);
  uint64_t size() const { return n_; }
  // A rank in [0, n); rank 0 is the most likely.
  uint64_t Sample(Rng& rng) const;

 private:
  uint64_t n_;
  double a_;          // q + 0.5
  double log_ratio_;  // ln((n + a) / a)
};

}  // namespace segflow::gen
