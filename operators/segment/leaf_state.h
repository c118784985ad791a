// Per-user state of one leaf condition (spec §5) and how one instant changes it.
//
// Every state sees the instants of its user in time order: Apply(t, events) takes all
// events with ts == t at once (so results cannot depend on their arrival order) and
// drops what can no longer matter; Holds(t) is the leaf's truth at t; NextChange(t) is
// the earliest instant > t at which the truth can change without a new event, or kNoTime.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "operators/segment/byte_codec.h"
#include "operators/segment/exact_sum.h"
#include "operators/segment/program.h"
#include "operators/segment/program_plan.h"
#include "operators/segment/time_queue.h"

namespace segflow {

using InstantEvents = std::span<const ProjectedEvent>;

// count: the matching events in the window, of which only the latest `cap` can decide
// the bound (count >= N needs the N latest; count <= M the M+1 latest).
class CountState {
 public:
  void Apply(const LeafPlan& p, int64_t t, InstantEvents events);
  bool Holds(const LeafPlan& p) const;
  int64_t NextChange(const LeafPlan& p, int64_t t) const;
  void Serialize(std::string* out) const;
  bool Deserialize(const LeafPlan& p, ByteReader* in);
  // The count as kept: exact up to `cap`, which is all the bounds can tell apart.
  uint64_t Count(const LeafPlan& p) const { return p.window_ms ? ts_.size() : lifetime_; }

 private:
  TimeQueue<int64_t> ts_;  // windowed: timestamps, ascending
  uint64_t lifetime_ = 0;  // lifetime: count, saturating at cap
};

// sum / avg: an exact sum of the numeric values in the window and how many there are.
// Expiries only remove values, so while the window's values share a sign the sum moves
// one way until the next event, and an expiry that cannot flip the bounds wakes nobody.
class SumState {
 public:
  void Apply(const LeafPlan& p, int64_t t, InstantEvents events);
  bool Holds(const LeafPlan& p) const;
  int64_t NextChange(const LeafPlan& p, int64_t t) const;
  void Serialize(std::string* out) const;
  bool Deserialize(const LeafPlan& p, ByteReader* in);
  // Introspection (explain): the sum of the values in the window at t and how many there
  // are (values that expired at an instant nobody was woken for are left out here).
  double Sum(const LeafPlan& p, int64_t t) const;
  uint64_t Size(const LeafPlan& p, int64_t t) const;

 private:
  void Push(int64_t t, double v);
  void PopFront();

  TimeQueue<std::pair<int64_t, double>> values_;  // windowed
  ExactSum sum_;
  uint64_t lifetime_n_ = 0;
  uint64_t negatives_ = 0;  // windowed: values < 0 in the window
  uint64_t positives_ = 0;  // windowed: values > 0 in the window
};

// min / max: a monotonic queue (windowed) or the running extreme (lifetime).
class ExtremeState {
 public:
  void Apply(const LeafPlan& p, int64_t t, InstantEvents events);
  bool Holds(const LeafPlan& p) const;
  int64_t NextChange(const LeafPlan& p, int64_t t) const;
  void Serialize(std::string* out) const;
  bool Deserialize(const LeafPlan& p, ByteReader* in);
  // Introspection (explain): the extreme, if any value was seen (in the window).
  bool Has(const LeafPlan& p) const { return p.window_ms ? !mono_.empty() : has_; }
  double Extreme(const LeafPlan& p) const { return p.window_ms ? mono_.front().second : value_; }

 private:
  TimeQueue<std::pair<int64_t, double>> mono_;  // windowed: candidates, front is the extreme
  bool has_ = false;                            // lifetime
  double value_ = 0;
};

// distinct: per key its latest occurrence (windowed), or the keys seen up to `cap`.
class DistinctState {
 public:
  DistinctState() = default;
  DistinctState(const DistinctState& o);
  DistinctState& operator=(const DistinctState& o);
  DistinctState(DistinctState&&) noexcept = default;
  DistinctState& operator=(DistinctState&&) noexcept = default;

  void Apply(const LeafPlan& p, int64_t t, InstantEvents events);
  bool Holds(const LeafPlan& p) const;
  int64_t NextChange(const LeafPlan& p, int64_t t) const;
  void Serialize(std::string* out) const;
  bool Deserialize(const LeafPlan& p, ByteReader* in);
  // Introspection (explain): the number of distinct keys as kept (lifetime: up to `cap`).
  size_t Size(const LeafPlan& p) const;

 private:
  // Allocated with the first key: the containers are large, and a job keeps a leaf state
  // for each of its leaves for each of millions of users.
  struct Keys {
    std::unordered_map<std::string, int64_t> latest;   // windowed: key -> latest ts
    TimeQueue<std::pair<int64_t, std::string>> order;  // windowed: occurrences, ascending
    std::unordered_set<std::string> lifetime;          // lifetime
  };
  Keys& keys();
  void DropStaleFront();
  std::unique_ptr<Keys> keys_;
};

// absence: a missing event cancels every after event at or before it, so only the
// earliest uncancelled after event matters.
class AbsenceState {
 public:
  void Apply(const LeafPlan& p, int64_t t, InstantEvents events);
  bool Holds(const LeafPlan& p, int64_t t) const;
  int64_t NextChange(const LeafPlan& p, int64_t t) const;
  void Serialize(std::string* out) const;
  bool Deserialize(const LeafPlan& p, ByteReader* in);
  // Introspection (explain): the earliest uncancelled after event's ts, or kNoTime.
  int64_t earliest_after() const { return earliest_after_; }

 private:
  int64_t earliest_after_ = kNoTime;
};

// sequence: for each prefix of the steps, the latest start (e1.ts) of a chain matching
// it, and the latest end of a complete chain. A later start dominates an earlier one.
class SequenceState {
 public:
  SequenceState() = default;
  explicit SequenceState(const LeafPlan& p)
      : start_(p.steps.empty() ? 0 : p.steps.size() - 1, kNoTime) {}
  void Apply(const LeafPlan& p, int64_t t, InstantEvents events);
  bool Holds(const LeafPlan& p, int64_t t) const;
  int64_t NextChange(const LeafPlan& p, int64_t t) const;
  void Serialize(std::string* out) const;
  bool Deserialize(const LeafPlan& p, ByteReader* in);
  // Introspection (explain): the end (last step's ts) of the latest complete chain, or kNoTime.
  int64_t latest_end() const { return latest_end_; }

 private:
  std::vector<int64_t> start_;  // [j]: latest start of a chain matching steps 0..j (j < k-1)
  int64_t latest_end_ = kNoTime;
};

// profile: the truth cached per profile version (not persisted; recomputed on load).
struct ProfileLeafState {
  uint64_t version = UINT64_MAX;
  bool holds = false;
};

using LeafState = std::variant<std::monostate, CountState, SumState, ExtremeState, DistinctState,
                               AbsenceState, SequenceState, ProfileLeafState>;

// The empty state for a leaf of plan `p`.
LeafState NewLeafState(const LeafPlan& p);

}  // namespace segflow
