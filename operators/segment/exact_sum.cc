#include "operators/segment/exact_sum.h"

#include <cmath>
#include <utility>

namespace segflow {
namespace {

constexpr double kBigThreshold = 0x1p960;
constexpr double kScaleDown = 0x1p-64;
constexpr double kScaleUp = 0x1p64;

// Adds x to the partials exactly (Shewchuk's grow-expansion, dropping zero partials).
void AddPartial(double x, std::vector<double>* partials) {
  size_t i = 0;
  for (double y : *partials) {
    if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
    const double hi = x + y;
    const double lo = y - (hi - x);
    if (lo != 0.0) (*partials)[i++] = lo;
    x = hi;
  }
  partials->resize(i);
  if (x != 0.0) partials->push_back(x);
}

// Correctly rounded value of non-overlapping partials (math.fsum's final step).
double RoundPartials(const std::vector<double>& p) {
  size_t n = p.size();
  if (n == 0) return 0.0;
  double hi = p[--n];
  double lo = 0.0;
  while (n > 0) {
    const double x = hi;
    const double y = p[--n];
    hi = x + y;
    const double yr = hi - x;
    lo = y - yr;
    if (lo != 0.0) break;
  }
  // Half-way case: the remaining partials decide the rounding direction.
  if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
    const double y = lo * 2.0;
    const double x = hi + y;
    const double yr = x - hi;
    if (y == yr) hi = x;
  }
  return hi;
}

}  // namespace

void ExactSum::Add(double x) {
  if (x == 0.0 || std::isnan(x)) return;
  if (std::fabs(x) >= kBigThreshold) {
    if (big_ == nullptr) big_ = std::make_unique<std::vector<double>>();
    AddPartial(x * kScaleDown, big_.get());
    if (big_->empty()) big_.reset();
  } else {
    AddPartial(x, &small_);
  }
}

double ExactSum::Value() const {
  if (big_ == nullptr) return RoundPartials(small_);
  // Beyond 2^896 in magnitude the small values only matter in exact ties; merge them
  // scaled (exact except for values below 2^-958, which cannot change such a sum).
  std::vector<double> merged = *big_;
  for (double s : small_) AddPartial(s * kScaleDown, &merged);
  return RoundPartials(merged) * kScaleUp;
}

void ExactSum::Serialize(std::string* out) const {
  PutVarint(small_.size(), out);
  for (double d : small_) PutDouble(d, out);
  PutVarint(big_ ? big_->size() : 0, out);
  if (big_) {
    for (double d : *big_) PutDouble(d, out);
  }
}

bool ExactSum::Deserialize(ByteReader* in) {
  std::vector<double> big;
  for (std::vector<double>* v : {&small_, &big}) {
    size_t n;
    if (!in->GetCount(8, &n)) return false;
    v->resize(n);
    for (double& d : *v) {
      if (!in->GetDouble(&d) || !std::isfinite(d) || d == 0.0) return false;
    }
  }
  big_ = big.empty() ? nullptr : std::make_unique<std::vector<double>>(std::move(big));
  return true;
}

}  // namespace segflow
