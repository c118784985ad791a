// What flows between the tasks of a segment job (ARCHITECTURE.md invariant 4):
// sources -> keyed segment tasks -> changelog sink. Plain values, moved in batches, so
// the same graph can later run over the network with these serialized.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "operators/segment/program.h"

namespace segflow {

// An on-time input record routed to the keyed task that owns its key group.
struct KeyedRecord {
  uint32_t partition = 0;  // partition index (shared by all source topics of the job)
  std::string user;
  uint64_t user_hash = 0;  // HashUser(user), computed once by the source
  ProjectedEvent event;
};

struct KeyedBatch {
  uint32_t source = 0;  // the source task that sent it
  std::vector<KeyedRecord> records;
};

// Event-time progress of one source partition (spec §2): no on-time record with
// ts < time can still arrive from (topic, partition). `idle`: silent for idle_timeout.
struct PartitionWatermark {
  uint32_t topic = 0;
  uint32_t partition = 0;
  int64_t time = 0;
  bool idle = false;
  uint32_t source = 0;
};

// A source is done. `max_ts`: the largest ts it read (bounded runs evaluate up to the
// largest over all sources); `finish`: evaluate up to the end (bounded) or just stop (live).
struct SourceEnd {
  uint32_t source = 0;
  int64_t max_ts = 0;
  bool has_max_ts = false;
  bool finish = false;
  int64_t until = 0;  // when has_until: an explicit --until
  bool has_until = false;
};

// Checkpoint barrier (ARCHITECTURE.md invariant 5): everything `source` sent before it
// belongs to checkpoint `id`, everything after to later ones.
struct SourceBarrier {
  uint32_t source = 0;
  uint64_t id = 0;
};

using KeyedInput = std::variant<KeyedBatch, PartitionWatermark, SourceEnd, SourceBarrier>;

// The source task an element came from.
inline uint32_t SourceOf(const KeyedInput& in) {
  return std::visit([](const auto& e) { return e.source; }, in);
}

// One changelog record (spec §6) on its way to the sink.
struct ChangeRecord {
  int64_t at = 0;
  std::string user;
  uint32_t segment = 0;
  bool entered = false;
  uint64_t pos = 0;  // MembershipChange::pos: with `at`, the audience store's stamp
  // A version switch record (version_switch.h), made by the sink: written with its cause,
  // after the old version's changes of the same instant.
  bool switched = false;
};

struct ChangeBatch {
  uint32_t partition = 0;
  std::vector<ChangeRecord> changes;  // in (at, user) order
  // A version switch (a restore that merged a backfill's state, restore_migration.h): per
  // user, where the two states' memberships differ at the partition's resume position.
  // Sent before anything else; the sink makes the switch records at one instant for every
  // partition out of them (version_switch.h).
  bool switched = false;
};

// A keyed task has emitted every change with at < frontier for `partition`.
struct PartitionProgress {
  uint32_t partition = 0;
  int64_t frontier = 0;
  bool idle = false;
};

// A keyed task is done; `evaluated_through` is the last instant it evaluated.
struct KeyedEnd {
  bool finished = false;
  int64_t evaluated_through = 0;
};

// A keyed task's checkpoint barrier: it has snapshotted checkpoint `id`.
struct KeyedBarrier {
  uint64_t id = 0;
};

using SinkInput = std::variant<ChangeBatch, PartitionProgress, KeyedEnd, KeyedBarrier>;

struct SinkMessage {
  uint32_t from = 0;  // keyed task index
  SinkInput body;
};

}  // namespace segflow
