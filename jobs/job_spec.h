// JobSpec: a validated job file (spec §3–§6) as plain data.
// Produced only by ParseJobFile (job_parser.h), which reports every §7 error at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connectors/source_connector.h"
#include "engine/value/event.h"
#include "engine/value/value.h"

namespace segflow {

// 1-based position in the job file.
struct SourceLoc {
  int line = 0;
  int column = 0;
};

// A predicate on one property (spec §4): all of its operators must hold.
enum class PredOp { kEq, kNe, kLt, kLte, kGt, kGte, kIn, kNotIn, kExists, kPrefix, kContains };
struct Predicate {
  // For kIn/kNotIn the operand is an array of scalars; kExists a bool; kPrefix/kContains a string.
  std::vector<std::pair<PredOp, Value>> ops;
};

// An event match (spec §4): event type(s) or "*" plus optional property predicates.
struct EventMatch {
  bool any_event = false;             // event: "*"
  std::vector<std::string> events;    // one or more names when !any_event
  std::vector<std::pair<std::string, Predicate>> where;  // dotted paths
};

enum class CmpOp { kGt, kGte, kLt, kLte, kEq };

struct Condition {
  enum class Kind { kCount, kSum, kAvg, kMin, kMax, kDistinct, kAbsence, kSequence, kProfile,
                    kSegment, kAll, kAny, kNot };
  Kind kind = Kind::kCount;
  SourceLoc loc;

  // count / sum / avg / min / max / distinct
  EventMatch match;
  std::string field;                  // aggregates and distinct: dotted path
  std::optional<int64_t> window_ms;   // absent: lifetime
  std::optional<int64_t> at_least;    // count, distinct (between sets both)
  std::optional<int64_t> at_most;
  std::vector<std::pair<CmpOp, double>> bounds;  // aggregates; all must hold

  // absence
  EventMatch after;
  EventMatch missing;
  int64_t within_ms = 0;              // absence and sequence

  // sequence
  std::vector<EventMatch> steps;
  // (sequence's optional window is window_ms)

  // profile: every attribute predicate must hold
  std::vector<std::pair<std::string, Predicate>> profile;

  // segment reference
  std::string segment_ref;

  // all / any (>=1 child) / not (exactly 1 child)
  std::vector<Condition> children;
};

const char* ConditionKindName(Condition::Kind kind);

struct Membership {
  std::optional<int64_t> duration_ms;
  std::optional<EventMatch> exit_on;
  std::optional<int64_t> cooldown_ms;
};

struct SegmentSpec {
  std::string id;
  Condition when;
  Membership membership;
  SourceLoc loc;
};

struct SourceSpec {
  std::vector<std::string> topics;  // of the embedded log, or of Kafka (`source.kafka.topics`)
  KafkaSourceConfig kafka;          // `source.kafka` (spec integrations §10.1); disabled: the log
  RoleFields fields;
  int64_t max_out_of_orderness_ms = 0;
  int64_t idle_timeout_ms = 30000;
};

struct ProfileSpec {
  std::string event;
};

struct ConsentSpec {
  std::string event;
  std::string field;
  bool default_granted = true;
};

struct OutputSpec {
  // topic name; default "<job>.memberships". With a Kafka changelog, the Kafka topic's name,
  // also the embedded-log topic its changes are staged in until their checkpoint completes.
  std::string changelog;
  // `output.changelog.kafka` (spec integrations §10.2): the changelog (and the job's late
  // records and rejects, as "<job>.late" / "<job>.rejected") in Kafka, written in
  // transactions committed with completed checkpoints. Empty bootstrap: none.
  struct KafkaChangelog {
    std::string bootstrap;                          // bootstrap.servers
    std::string topic;                              // the changelog topic
    std::map<std::string, std::string> properties;  // librdkafka producer properties, as is
    bool enabled() const { return !bootstrap.empty(); }
  } kafka;
  std::string audience_dir;  // absolute; default "<log>/../audience/<job>"
  // absolute; empty: none. A reconciled audience store this job feeds besides its own,
  // which other jobs (a live job and backfills) may feed too; never reset by a run.
  std::string shared_audience_dir;
  // `output.postgres` (spec integrations §11): the audience as a PostgreSQL table, kept
  // exactly once per checkpoint. Empty dsn/table: none. The password is never here.
  struct Postgres {
    std::string dsn;    // libpq connection string or URI
    std::string table;  // [schema.]name; created if missing
    bool enabled() const { return !table.empty(); }
  } postgres;
};

struct CheckpointSpec {
  bool enabled = false;      // the job file has a `checkpoint` block
  int64_t interval_ms = 10000;
  std::string dir;           // absolute; default "<log>/../checkpoints/<job>"
};

struct JobSpec {
  std::string name;
  std::string file;          // path of the job file as given
  std::string log_dir;       // absolute (relative paths resolve against the parse's base folder, job_parser.h)
  SourceSpec source;
  std::optional<ProfileSpec> profile;
  std::optional<ConsentSpec> consent;
  std::vector<SegmentSpec> segments;  // in file order
  OutputSpec output;
  int parallelism = 1;
  uint32_t max_parallelism = 128;
  CheckpointSpec checkpoint;
  // Segment id -> version (jobs/segment_version.h) of the text it was parsed from: what
  // the job's audience store records as serving.
  std::map<std::string, std::string> segment_versions;

  const SegmentSpec* FindSegment(const std::string& id) const {
    for (const auto& s : segments) if (s.id == id) return &s;
    return nullptr;
  }
};

}  // namespace segflow
