// DailyCycle: spreads activity over days with a daily rhythm (UTC): quiet around 08:00,
// busiest around 20:00 (intensity 1 + 0.7 cos(2π (hour - 20) / 24)).
#pragma once

#include <array>
#include <cstdint>

namespace segflow::gen {

class DailyCycle {
 public:
  DailyCycle();
  // The instant by which `position` days' worth of activity (>= 0) has happened since
  // `start_ms`: position 1 is exactly one day later. Follows the UTC clock whatever the start.
  int64_t TimeAt(int64_t start_ms, double position) const;

 private:
  static constexpr int kMinutesPerDay = 1440;
  std::array<double, kMinutesPerDay + 1> cum_;  // share of a day's activity before minute m
};

}  // namespace segflow::gen
