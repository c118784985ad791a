#include "bench/generator/rng.h"

#include <cmath>
#include <numbers>

namespace segflow::gen {

uint64_t Rng::UniformInt(uint64_t n) {
  __uint128_t m = static_cast<__uint128_t>(engine_()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = -n % n;
    while (low < threshold) {  // expected < 2 iterations
      m = static_cast<__uint128_t>(engine_()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double Rng::Exponential(double mean) {
  return -mean * std::log1p(-Uniform01());
}

double Rng::Normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  const double u1 = 1.0 - Uniform01();  // (0, 1]: log is finite
  const double u2 = Uniform01();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  spare_normal_ = r * std::sin(theta);
  has_spare_normal_ = true;
  return r * std::cos(theta);
}

double Rng::LogNormal(double mu, double sigma) {
  return std::exp(mu + sigma * Normal());
}

int Rng::Geometric(double p, int max) {
  int n = 1;
  while (n < max && Bernoulli(p)) ++n;
  return n;
}

size_t Rng::Pick(const double* weights, size_t n) {
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += weights[i];
  double x = Uniform01() * total;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (x < weights[i]) return i;
    x -= weights[i];
  }
  return n - 1;
}

}  // namespace segflow::gen
