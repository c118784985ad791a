// KeyedWatermarks: a keyed task's event time per partition — each source topic's watermark
// and idleness, the partition advancing by the minimum over its topics (capped at a
// bounded run's --until) and idle when all its topics are — restored from a checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/messages.h"

namespace segflow {

class KeyedWatermarks {
 public:
  // `cap`: no partition's watermark goes past it (a bounded run's --until + 1), if `capped`.
  KeyedWatermarks(uint32_t partitions, uint32_t topics, bool capped, int64_t cap);

  // The partitions' progress at the checkpoint in `restore_dir`.
  Status Restore(const std::string& restore_dir);

  struct Update {
    bool changed = false;   // the partition's watermark advanced or its idleness changed
    bool advanced = false;  // the partition's watermark advanced (to watermark(p))
  };
  Update On(const PartitionWatermark& wm);

  int64_t watermark(uint32_t p) const { return partition_wm_[p]; }
  bool idle(uint32_t p) const { return partition_idle_[p]; }
  const std::vector<int64_t>& partition_watermarks() const { return partition_wm_; }
  int64_t Low() const;  // the minimum over the partitions
  std::vector<PartitionCheckpoint> Progress() const;

 private:
  const uint32_t partitions_;
  const uint32_t topics_;
  const bool capped_;
  const int64_t cap_;
  std::vector<std::vector<int64_t>> topic_wm_;
  std::vector<std::vector<bool>> topic_idle_;
  std::vector<int64_t> partition_wm_;
  std::vector<bool> partition_idle_;
};

}  // namespace segflow
