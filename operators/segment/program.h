// SegmentProgram: a job's segments compiled into one per-user evaluator.
//
// The evaluator is the single implementation of spec §5–§6: the keyed operator,
// bounded and live runs, and `segflow explain` all drive it. It works in two halves:
//  * Project() runs where the event is decoded (before keyBy) and reduces an Event to
//    the facts the segments need (which matchers hold, the numeric / distinct field
//    values, profile and consent updates), so keyed state never holds raw JSON.
//  * Per user, AddEvent() buffers projected events and ProcessInstant() evaluates one
//    instant t in time order (spec §6: after all events of that instant are applied),
//    emitting membership changes. NextInstant() says when the user next needs to be
//    evaluated: the earliest buffered event or the earliest time at which a condition
//    or membership rule can change without a new event (window expiry, absence deadline,
//    duration end, cooldown end).
//
// Contract with the caller (the keyed operator): events of one user are added with
// ts >= the last processed instant + 1 (lateness is decided upstream, spec §2), and
// ProcessInstant(t) is called only with t == NextInstant(). Results never depend on the
// arrival order of events with the same ts, except profile/consent ties, which `seq`
// (the record's log offset) decides: the later record wins.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/status.h"
#include "engine/value/event.h"
#include "jobs/job_spec.h"
#include "operators/segment/field_values.h"
#include "operators/segment/match_bits.h"

namespace segflow {

namespace log {
struct PropsProjection;  // engine/log/record_codec.h
}  // namespace log

// The facts of one event (see above). Layout is private to the program; the runtime
// moves it around and serializes it only through the program.
struct ProjectedEvent {
  int64_t ts = 0;
  uint64_t seq = 0;                 // log offset within the user's partition
  MatchBits match_bits;  // bit i: matcher i holds
  // Per extractor: a numeric field value (aggregates) or a distinct key (distinct).
  using FieldValue = segflow::FieldValue;
  FieldValues fields;
  bool is_profile = false;          // carries a profile update
  Value profile_update;             // object: top-level properties this event sets
  int8_t consent = -1;              // -1 not a (valid) consent event, 0 denied, 1 granted
};

// A membership change (spec §6): one changelog record.
struct MembershipChange {
  uint32_t segment = 0;  // index into JobSpec::segments
  bool entered = false;
  int64_t at = 0;
  // The log position the change was computed at: the offset (`seq`) of the latest record
  // of the user applied so far. With `at` it orders a user's writes at the audience store.
  uint64_t pos = 0;
};

// Per-user evaluation state: condition state, membership, buffered events. Opaque: only
// the program that made it reads it (complete here so unique_ptr<UserState> works anywhere).
struct ExplainEvent;        // operators/segment/explain.h
struct SegmentExplanation;  // operators/segment/explain.h

class UserState {
 public:
  virtual ~UserState() = default;

 protected:
  UserState() = default;
};

class SegmentProgram {
 public:
  // Refuses (InvalidArgument naming it) any condition this build cannot evaluate.
  static Result<std::shared_ptr<const SegmentProgram>> Compile(const JobSpec& job);
  ~SegmentProgram();

  const JobSpec& job() const;

  // Source side.
  void Project(const Event& event, uint64_t seq, ProjectedEvent* out) const;
  // The top-level props Project reads, per event type: an event that keeps only those
  // (log::DecodeRecordProjected) projects exactly as the whole event does.
  std::shared_ptr<const log::PropsProjection> PropsNeeded() const;

  // Keyed side. UserState is created on the user's first event (spec §2: population).
  std::unique_ptr<UserState> NewUserState() const;
  void AddEvent(UserState* state, ProjectedEvent&& event) const;
  std::optional<int64_t> NextInstant(const UserState& state) const;
  void ProcessInstant(UserState* state, int64_t t, std::vector<MembershipChange>* out) const;

  // Membership as of the last processed instant.
  bool IsMember(const UserState& state, uint32_t segment) const;

  // Introspection for `segflow explain` (see explain.h): the condition tree of `segment`
  // with each node's truth and evidence, read from the same leaf and membership state
  // ProcessInstant keeps. `state` has processed every instant <= t; `history` holds the
  // user's on-time events with ts <= t (the evidence is picked from them by matcher bits).
  void Explain(const UserState& state, uint32_t segment, int64_t t,
               const std::vector<ExplainEvent>& history, SegmentExplanation* out) const;

  // State persistence (keyed state backend, snapshots). Deserialize refuses corrupt input.
  void Serialize(const UserState& state, std::string* out) const;
  Status Deserialize(std::string_view data, std::unique_ptr<UserState>* out) const;

  // ProjectedEvent persistence (pending events travel in state and across the network).
  static void SerializeEvent(const ProjectedEvent& e, std::string* out);
  static Status DeserializeEvent(std::string_view* data, ProjectedEvent* out);

 private:
  friend class StateMigration;  // reads both programs' plans
  struct Impl;
  explicit SegmentProgram(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace segflow
