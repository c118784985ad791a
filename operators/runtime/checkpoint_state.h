// What each task of a job writes into a checkpoint folder, and reads back to restore
// (engine/schema/checkpoint.capnp). Restoring accepts any number of source and keyed
// tasks: sources are matched by (topic, partition), keyed state by key-group range.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/common/status.h"

namespace segflow {

struct InputCheckpoint {
  uint32_t topic = 0;
  uint32_t partition = 0;
  uint64_t offset = 0;
  bool has_max_prev = false;
  int64_t max_prev = 0;
  bool has_end_offset = false;  // bounded: the end the first attempt saw at its start
  uint64_t end_offset = 0;
};

struct SourceCheckpointState {
  std::vector<InputCheckpoint> inputs;
  std::map<uint32_t, uint64_t> late_offsets;  // late topic partition -> end at the barrier
  // "<job>.rejected" partition -> end at the barrier (a Kafka source's undecodable records):
  // a restore truncates it there, so the failed attempt's rejects are not written twice.
  std::map<uint32_t, uint64_t> rejected_offsets;
};

struct PartitionCheckpoint {
  uint32_t partition = 0;
  std::vector<int64_t> topic_watermarks;
  std::vector<bool> topic_idle;
  int64_t watermark = 0;
  bool idle = false;
};

// A change the sink holds back (SinkCheckpointState::pending).
struct PendingChangeState {
  uint32_t partition = 0;
  std::string segment;  // id: a restore into an edited job file maps it by id
  std::string user;
  bool entered = false;
  int64_t at = 0;
  uint64_t pos = 0;
};

struct SinkCheckpointState {
  std::vector<uint64_t> offsets;
  std::vector<int64_t> frontiers;
  std::vector<bool> idle;
  bool has_evaluated = false;
  int64_t evaluated = 0;
  uint64_t entered = 0;
  uint64_t exited = 0;
  // Released by the keyed tasks but later than `evaluated`: not in the changelog yet.
  std::vector<PendingChangeState> pending;
};

std::string SourceCheckpointFile(const std::string& dir, uint32_t source);
std::string KeyedCheckpointFile(const std::string& dir, uint32_t keyed);
std::string KeyedSnapshotDir(const std::string& dir, uint32_t keyed);
std::string SinkCheckpointFile(const std::string& dir);

Status WriteSourceCheckpoint(const std::string& dir, uint32_t source, const SourceCheckpointState& state);
// Every source file of the folder, merged: the positions of every (topic, partition).
Result<SourceCheckpointState> ReadSourceCheckpoints(const std::string& dir);

Status WriteKeyedCheckpoint(const std::string& dir, uint32_t keyed, KeyGroupRange range,
                            const std::vector<PartitionCheckpoint>& partitions);
// The partitions' progress (every keyed task aligned on the same barriers, so any one
// file holds it) and the keyed-state snapshot folders of every keyed task.
Result<std::vector<PartitionCheckpoint>> ReadKeyedProgress(const std::string& dir);
Result<std::vector<std::string>> KeyedSnapshotDirs(const std::string& dir);

Status WriteSinkCheckpoint(const std::string& dir, const SinkCheckpointState& state);
Result<SinkCheckpointState> ReadSinkCheckpoint(const std::string& dir);

// The job file a completed checkpoint's state was built by (its _metadata).
Result<std::string> ReadCheckpointJobText(const std::string& dir);

}  // namespace segflow
