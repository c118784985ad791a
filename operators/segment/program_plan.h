// ProgramPlan: a JobSpec compiled for evaluation (internal to operators/segment).
// Event matches are deduplicated into matchers (one bit each in ProjectedEvent), the
// fields that aggregates and distinct read into extractors, and every condition tree
// into a flat node array whose leaves own per-user state (see leaf_state.h).
#pragma once

#include "operators/segment/match_bits.h"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"

namespace segflow {

constexpr uint32_t kNoIndex = UINT32_MAX;

struct Extractor {
  std::string field;               // dotted path
  bool numeric = false;            // number (aggregates) or distinct key
  std::vector<uint32_t> matchers;  // extracted only when one of these holds
};

struct LeafPlan {
  Condition::Kind kind = Condition::Kind::kCount;
  uint32_t matcher = kNoIndex;     // count, aggregates, distinct
  uint32_t extractor = kNoIndex;   // aggregates, distinct
  std::optional<int64_t> window_ms;
  std::optional<int64_t> at_least;  // count, distinct
  std::optional<int64_t> at_most;
  std::vector<std::pair<CmpOp, double>> bounds;  // aggregates
  uint64_t cap = 0;                // count / lifetime distinct: entries that can matter
  uint32_t after = kNoIndex;       // absence
  uint32_t missing = kNoIndex;
  int64_t within_ms = 0;           // absence, sequence
  std::vector<uint32_t> steps;     // sequence: matcher per step
  std::vector<std::pair<std::string, Predicate>> profile;  // profile
  uint32_t segment = kNoIndex;     // segment reference
};

struct NodePlan {
  Condition::Kind kind = Condition::Kind::kCount;
  uint32_t leaf = kNoIndex;        // leaves
  std::vector<uint32_t> children;  // all / any / not
};

struct SegmentPlan {
  uint32_t root = 0;  // node index
  std::optional<int64_t> duration_ms;
  std::optional<int64_t> cooldown_ms;
  uint32_t exit_on = kNoIndex;  // matcher
};

struct ProgramPlan {
  std::vector<EventMatch> matchers;
  std::unordered_map<std::string, std::vector<uint32_t>> matchers_by_type;
  std::vector<uint32_t> any_type_matchers;  // event: "*"
  std::vector<Extractor> extractors;
  std::vector<LeafPlan> leaves;
  std::vector<NodePlan> nodes;
  std::vector<SegmentPlan> segments;  // parallel to JobSpec::segments
  std::vector<uint32_t> order;        // segments, referenced ones first
  std::vector<std::string> profile_keys;  // top-level profile properties conditions read
  std::string profile_event;          // empty: profile updates not needed
  std::string consent_event;          // empty: no consent block
  std::string consent_field;
  bool consent_default = true;
  size_t match_words = 0;

  static bool Bit(const MatchBits& bits, uint32_t i) {
    return i / 64 < bits.size() && ((bits[i / 64] >> (i % 64)) & 1) != 0;
  }
};

}  // namespace segflow

namespace segflow {

// A canonical text for an event match: equal matches share one matcher bit, and state
// migration (state_migration.h) maps matchers of two programs by it.
std::string MatchKey(const EventMatch& m);

// Compiles and checks `job`; InvalidArgument names the segment and condition it refuses.
Result<ProgramPlan> CompilePlan(const JobSpec& job);

}  // namespace segflow
