// Scenario event generator (`segflow gen`, the README demo, the capacity bench).
//
// Writes exactly `events` JSON lines for the media, cart or fintech scenario: Zipf-
// distributed user activity ("u1".."uN"), sessions of a few events spread over `days`
// with a daily cycle, in roughly increasing time with up to 3 s of out-of-order jitter.
// About 5% of times are RFC 3339 strings (half of them with a non-UTC offset), the rest
// epoch ms. A `late_fraction` of events arrive 10 min to 6 h after their time (late for any
// max_out_of_orderness below that), a `malformed_fraction` of lines are rejected by the
// decoder (truncated, no user, float time, not an object, trailing comma).
// Deterministic: the same options give the same bytes on every platform (all
// distributions are our own, see rng.h); the fractions do not change the other events.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "engine/common/status.h"

namespace segflow::gen {

enum class Scenario { kMedia, kCart, kFintech };

Result<Scenario> ParseScenario(std::string_view name);  // "media", "cart", "fintech"
const char* ScenarioName(Scenario scenario);

struct GenOptions {
  Scenario scenario = Scenario::kMedia;
  uint64_t users = 1000;    // 1 .. 20,000,000
  uint64_t events = 10000;  // lines written
  uint64_t seed = 1;
  int64_t start_ms = 1777593600000;  // 2026-05-01T00:00:00Z
  double days = 7;                   // (0, 3650]
  double late_fraction = 0;          // [0, 1]
  double malformed_fraction = 0;     // [0, 1]

  Status Validate() const;
};

struct GenStats {
  uint64_t lines = 0;
  uint64_t malformed = 0;
  uint64_t late = 0;
  uint64_t rfc3339 = 0;  // well-formed lines whose time is an RFC 3339 string
  int64_t min_ts = 0;    // over all events (when lines > 0)
  int64_t max_ts = 0;
};

// Receives the output in chunks of whole lines, each ending in '\n'. An error stops the
// generator, which returns it.
using LineSink = std::function<Status(std::string_view chunk)>;

Result<GenStats> GenerateScenario(const GenOptions& options, const LineSink& sink);

}  // namespace segflow::gen
