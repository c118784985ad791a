// Times and durations as the spec writes them (§3 durations, §1/§8 TIME).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/common/status.h"

namespace segflow {

// Times are limited to years 0000-9999 UTC, what RFC 3339 can write; both parsers below
// and the event decoder reject anything outside [kMinTimeMillis, kMaxTimeMillis].
constexpr int64_t kMinTimeMillis = -62167219200000;  // 0000-01-01T00:00:00.000Z
constexpr int64_t kMaxTimeMillis = 253402300799999;  // 9999-12-31T23:59:59.999Z

// RFC 3339 with seconds and an offset ('T'/'Z' in either case); fractions truncated
// to the millisecond. Rejects: no offset, space for T, second 60, anything else.
Result<int64_t> ParseRfc3339Millis(std::string_view text);

// TIME on the command line: epoch milliseconds (an integer) or RFC 3339.
Result<int64_t> ParseTimeArg(std::string_view text);

// A duration: non-negative integer + unit in {ms, s, m, h, d, w}.
Result<int64_t> ParseDurationMillis(std::string_view text);

// Epoch millis as RFC 3339 UTC with milliseconds ("2026-05-01T10:00:00.000Z").
std::string FormatRfc3339Millis(int64_t millis);

}  // namespace segflow
