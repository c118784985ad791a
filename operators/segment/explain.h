// Why is (or isn't) a user in a segment at T: the data behind `segflow explain`.
//
// Nothing here evaluates a condition a second way. ExplainUser() runs the user's events
// through the job's SegmentProgram exactly as the keyed operator does (NewUserState,
// AddEvent, NextInstant, ProcessInstant up to T), and SegmentProgram::Explain() then walks
// the compiled condition tree of the segment, reading each node's truth from the same leaf
// states and membership state the engine keeps. The events cited as evidence are picked
// from the user's history by the matcher bits the program projected for them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/value/event.h"
#include "engine/value/value.h"
#include "operators/segment/program.h"

namespace segflow {

// One event of the user's history: as read from the log, and as the program projected it
// (SegmentProgram::Project with seq = its log offset).
struct ExplainEvent {
  Event event;
  ProjectedEvent projected;
};

// An event cited as evidence: its time, log offset, type, the properties the condition
// reads (where-paths and field; all of them when it reads none), and its part in the
// condition ("after", "missing", "step 2", "sets plan", or empty).
struct EvidenceEvent {
  int64_t ts = 0;
  uint64_t seq = 0;
  std::string type;
  Value props = Value::Object({});
  std::string role;
};

// One node of a segment's condition tree at T.
struct ExplainNode {
  std::string kind;   // ConditionKindName: "count", "absence", "all", ...
  std::string text;   // the condition in short, e.g. "count(view) >= 2 in 7d"
  bool holds = false;
  // What the truth was decided on, e.g. count, sum, avg, value, deadline, member. Keys
  // listed in kExplainTimeFacts are epoch-ms times.
  ValueObject facts;
  std::vector<EvidenceEvent> events;  // ascending (ts, seq); at most kMaxEvidence, latest kept
  size_t events_omitted = 0;          // older evidence left out
  std::vector<ExplainNode> children;  // all / any / not
};

inline constexpr size_t kMaxEvidence = 50;
inline constexpr const char* kExplainTimeFacts[] = {"since", "pending_after", "deadline",
                                                    "chain_end", "holds_until", "set_at"};

// Spec §6 membership state of the segment after the last instant <= T.
struct MembershipExplanation {
  bool member = false;
  std::optional<int64_t> since;            // member: when it entered
  std::optional<int64_t> until;            // member with a duration: since + duration
  bool armed = true;
  std::optional<int64_t> cooldown_until;   // none: -infinity
  std::optional<bool> consent;             // none: the job has no consent block
  bool condition = false;                  // c(T): consent and the root holds
};

struct SegmentExplanation {
  std::string segment;
  int64_t at = 0;
  bool known_user = false;                 // has an on-time event with ts <= at (spec §2)
  std::optional<int64_t> last_instant;     // the user's last evaluated instant <= at
  ExplainNode root;
  MembershipExplanation membership;
  std::string verdict;                     // one line: why member / not a member
  // The segment's membership changes the evaluation produced for this user up to `at`
  // (ExplainUser only): what the run's changelog should hold.
  std::vector<MembershipChange> changes;
};

// Evaluates the user's on-time events `history` (any order; seq = log offset; late records
// already removed, spec §2) through every instant <= at, as the keyed operator does, and
// explains `segment` (an index into JobSpec::segments) at `at`.
SegmentExplanation ExplainUser(const SegmentProgram& program, std::vector<ExplainEvent> history,
                               uint32_t segment, int64_t at);

// "30m", "1h", "7d", "1500ms": a duration as the job file would write it.
std::string FormatDurationShort(int64_t ms);

}  // namespace segflow
