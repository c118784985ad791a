// ReferenceEvaluator: an independent, brute-force model of spec §2, §4–§6 and §9, written
// from the spec alone to check the engine's SegmentProgram / KeyedEvaluator against.
//
// Nothing here is incremental except the membership state machine itself (§6 defines it
// as one): at every instant the condition is recomputed from the full list of the user's
// events. Clarity over speed; use only on small inputs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "engine/value/event.h"
#include "jobs/job_spec.h"

namespace segflow::reference {

// One log record: its partition, its offset in that partition, and the decoded event.
struct LogRecord {
  uint32_t partition = 0;
  uint64_t offset = 0;
  Event event;
};

// One changelog record (spec §6).
struct Change {
  int64_t at = 0;
  std::string user;
  uint32_t segment = 0;  // index into JobSpec::segments
  bool entered = false;

  std::string ToString() const;
  friend bool operator==(const Change&, const Change&) = default;
};

inline void PrintTo(const Change& c, std::ostream* os) { *os << c.ToString(); }

// The changelog order the reference reports: (at, user, segment index).
bool ChangeLess(const Change& a, const Change& b);

class ReferenceEvaluator {
 public:
  using Input = LogRecord;

  struct Options {
    // Unset: evaluate only the instants at which something can change (§6 candidates:
    // event times, e.ts + window, a.ts + within, since + duration, cooldown_until).
    // Set: evaluate literally every millisecond from the user's first event up to this
    // time — the definition itself, used to check the candidate set.
    std::optional<int64_t> every_millisecond_until;
  };

  // `records` in any order; offsets give the log order within each partition.
  ReferenceEvaluator(const JobSpec& job, std::vector<Input> records);
  ReferenceEvaluator(const JobSpec& job, std::vector<Input> records, Options options);

  // Lateness per §2: true iff the record (partition, offset) is late.
  bool IsLate(uint32_t partition, uint64_t offset) const;
  size_t late_count() const { return late_count_; }

  // Sorted ids of the members of `segment_id` as of T (after every instant <= T).
  std::vector<std::string> MembersAt(const std::string& segment_id, int64_t t) const;
  // Every membership change with at <= until, sorted by ChangeLess.
  std::vector<Change> Changelog(int64_t until) const;
  // Every instant the reference evaluated for some user, ascending.
  std::vector<int64_t> EvaluatedInstants() const;

 private:
  struct UserEvent {
    int64_t ts = 0;
    uint64_t offset = 0;
    const Event* event = nullptr;
  };
  struct SegmentState {
    bool member = false;
    int64_t since = 0;
    bool armed = true;
    int64_t cooldown_until = INT64_MIN;
  };
  struct UserHistory {
    // Membership per segment after each evaluated instant, in instant order.
    std::vector<std::pair<int64_t, std::vector<bool>>> snapshots;
  };
  class UserView;

  void Run();
  void RunUser(const std::string& user, const std::vector<UserEvent>& events);
  std::vector<uint32_t> SegmentsInDependencyOrder() const;

  JobSpec job_;
  Options options_;
  std::vector<Input> records_;
  std::map<std::pair<uint32_t, uint64_t>, bool> late_;
  size_t late_count_ = 0;
  std::vector<Change> changes_;
  std::map<std::string, UserHistory> history_;
};

}  // namespace segflow::reference
