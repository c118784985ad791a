#include "bench/generator/zipf_sampler.h"

#include <algorithm>
#include <cmath>

namespace segflow::gen {

ZipfSampler::ZipfSampler(uint64_t n, double q)
    : n_(std::max<uint64_t>(n, 1)),
      a_(q + 0.5),
      log_ratio_(std::log((static_cast<double>(n_) + a_) / a_)) {}

uint64_t ZipfSampler::Sample(Rng& rng) const {
  const double x = a_ * std::exp(rng.Uniform01() * log_ratio_);  // in [a, n + a)
  const double rank = std::floor(x - a_);
  return rank <= 0 ? 0 : std::min(static_cast<uint64_t>(rank), n_ - 1);
}

}  // namespace segflow::gen
