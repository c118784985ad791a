// Rng: the generator's only source of randomness. Distributions are implemented here on
// top of std::mt19937_64 (whose output the standard fixes) because std:: distributions
// differ between standard libraries; so a seed gives the same data everywhere.
#pragma once

#include <cstdint>
#include <random>

namespace segflow::gen {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t NextU64() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method).
  uint64_t UniformInt(uint64_t n);
  // Uniform integer in [lo, hi], lo <= hi.
  int64_t UniformRange(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(UniformInt(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool Bernoulli(double p) { return Uniform01() < p; }
  // Exponential with the given mean.
  double Exponential(double mean);
  // Standard normal (Box-Muller).
  double Normal();
  // exp(N(mu, sigma^2)): median e^mu.
  double LogNormal(double mu, double sigma);
  // 1 + the number of successes before a failure with continuation probability `p`
  // (mean 1 / (1 - p)), capped at `max`.
  int Geometric(double p, int max);
  // Index i with probability weights[i] / sum(weights); n > 0, weights >= 0, sum > 0.
  size_t Pick(const double* weights, size_t n);

 private:
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0;
};

}  // namespace segflow::gen
