#include "operators/runtime/keyed_watermarks.h"

#include <algorithm>
#include <limits>

namespace segflow {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

}  // namespace

KeyedWatermarks::KeyedWatermarks(uint32_t partitions, uint32_t topics, bool capped, int64_t cap)
    : partitions_(partitions),
      topics_(topics),
      capped_(capped),
      cap_(cap),
      topic_wm_(partitions, std::vector<int64_t>(topics, kNoTime)),
      topic_idle_(partitions, std::vector<bool>(topics, false)),
      partition_wm_(partitions, kNoTime),
      partition_idle_(partitions, false) {}

Status KeyedWatermarks::Restore(const std::string& restore_dir) {
  auto progress = ReadKeyedProgress(restore_dir);
  if (!progress.ok()) return progress.status();
  for (const auto& pc : *progress) {
    if (pc.partition >= partitions_ || pc.topic_watermarks.size() != topics_ ||
        pc.topic_idle.size() != topics_) {
      return Status::Corruption("checkpoint " + restore_dir +
                                " was taken with other partitions or topics");
    }
    topic_wm_[pc.partition] = pc.topic_watermarks;
    topic_idle_[pc.partition] = pc.topic_idle;
    partition_wm_[pc.partition] = pc.watermark;
    partition_idle_[pc.partition] = pc.idle;
  }
  return Status::OK();
}

KeyedWatermarks::Update KeyedWatermarks::On(const PartitionWatermark& wm) {
  const uint32_t p = wm.partition;
  topic_wm_[p][wm.topic] = std::max(topic_wm_[p][wm.topic], wm.time);
  topic_idle_[p][wm.topic] = wm.idle;
  int64_t w = *std::min_element(topic_wm_[p].begin(), topic_wm_[p].end());
  if (capped_) w = std::min(w, cap_);
  const bool idle =
      std::all_of(topic_idle_[p].begin(), topic_idle_[p].end(), [](bool b) { return b; });
  Update u;
  u.advanced = w > partition_wm_[p];
  if (!u.advanced && idle == partition_idle_[p]) return u;
  u.changed = true;
  partition_idle_[p] = idle;
  if (u.advanced) partition_wm_[p] = w;
  return u;
}

int64_t KeyedWatermarks::Low() const {
  return *std::min_element(partition_wm_.begin(), partition_wm_.end());
}

std::vector<PartitionCheckpoint> KeyedWatermarks::Progress() const {
  std::vector<PartitionCheckpoint> progress(partitions_);
  for (uint32_t p = 0; p < partitions_; ++p) {
    progress[p] = {p, topic_wm_[p], topic_idle_[p], partition_wm_[p], partition_idle_[p]};
  }
  return progress;
}

}  // namespace segflow
