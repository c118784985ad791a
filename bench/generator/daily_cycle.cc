#include "bench/generator/daily_cycle.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace segflow::gen {

DailyCycle::DailyCycle() {
  cum_[0] = 0;
  for (int m = 0; m < kMinutesPerDay; ++m) {
    const double hour = (m + 0.5) / 60.0;
    const double intensity = 1.0 + 0.7 * std::cos(2 * std::numbers::pi * (hour - 20.0) / 24.0);
    cum_[m + 1] = cum_[m] + intensity;
  }
  const double total = cum_[kMinutesPerDay];
  for (double& c : cum_) c /= total;
}

namespace {
constexpr int64_t kDayMs = 86400000;
}  // namespace

int64_t DailyCycle::TimeAt(int64_t start_ms, double position) const {
  // Work from midnight UTC of the start's day, skipping the activity before the start.
  int64_t midnight = start_ms - start_ms % kDayMs;
  if (midnight > start_ms) midnight -= kDayMs;
  const double start_minute = static_cast<double>(start_ms - midnight) / 60000.0;
  const int sm = std::min(static_cast<int>(start_minute), kMinutesPerDay - 1);
  position += cum_[sm] + (start_minute - sm) * (cum_[sm + 1] - cum_[sm]);

  const double day = std::floor(position);
  const double frac = position - day;
  // The minute m with cum_[m] <= frac < cum_[m + 1], then linear within that minute.
  const auto it = std::upper_bound(cum_.begin(), cum_.end(), frac);
  const int m = static_cast<int>(std::clamp<long>(it - cum_.begin() - 1, 0, kMinutesPerDay - 1));
  const double within = (frac - cum_[m]) / (cum_[m + 1] - cum_[m]);
  const int64_t offset = static_cast<int64_t>((m + std::clamp(within, 0.0, 1.0)) * 60000.0);
  const int64_t t = midnight + static_cast<int64_t>(day) * kDayMs + std::min(offset, kDayMs - 1);
  return std::max(t, start_ms);
}

}  // namespace segflow::gen
