// ExactSum: an exact running sum of doubles that supports removal (sliding windows).
//
// The sum is kept as Shewchuk's non-overlapping partials (the algorithm behind Python's
// math.fsum), so adding and removing are exact and Value() is the correctly rounded
// exact sum: the result never depends on the order in which values were added, which
// spec §2 requires for events with equal timestamps. Values at or above 2^960 in
// magnitude are kept scaled by 2^-64 in a second accumulator so that no partial overflows.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "operators/segment/byte_codec.h"

namespace segflow {

class ExactSum {
 public:
  ExactSum() = default;
  ExactSum(const ExactSum& o) : small_(o.small_), big_(o.big_ ? std::make_unique<std::vector<double>>(*o.big_) : nullptr) {}
  ExactSum& operator=(const ExactSum& o) {
    if (this != &o) *this = ExactSum(o);
    return *this;
  }
  ExactSum(ExactSum&&) noexcept = default;
  ExactSum& operator=(ExactSum&&) noexcept = default;

  void Add(double x);
  void Remove(double x) { Add(-x); }
  // The exact sum rounded to the nearest double (ties to even); ±inf beyond double range.
  double Value() const;
  bool IsZero() const { return small_.empty() && big_ == nullptr; }
  void Clear() {
    small_.clear();
    big_.reset();
  }

  void Serialize(std::string* out) const;
  bool Deserialize(ByteReader* in);

 private:
  std::vector<double> small_;  // partials, increasing magnitude, non-zero
  // Partials of values scaled by 2^-64; null while there are none (nearly always: every
  // windowed sum of every user holds an ExactSum, so it is kept small).
  std::unique_ptr<std::vector<double>> big_;
};

}  // namespace segflow
