// TaskCounters: what a running task says about itself (records in/out, backpressure,
// event-time progress, offsets), written by the task and read by status reports from
// another thread. Plain atomics, relaxed: a report is a snapshot, not a barrier.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>

#include "engine/runtime/channel.h"

namespace segflow {

struct PartitionCounters {
  uint32_t topic = 0;
  uint32_t partition = 0;
  uint64_t end_offset = 0;                 // bounded: where the source stops
  std::atomic<uint64_t> offset{0};         // next offset to read
  std::atomic<int64_t> watermark{std::numeric_limits<int64_t>::min()};
};

struct TaskCounters {
  static constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
  std::atomic<uint64_t> records_in{0};
  std::atomic<uint64_t> records_out{0};
  std::atomic<uint64_t> blocked_ns{0};     // waiting for room downstream
  std::atomic<uint64_t> late_records{0};
  std::atomic<uint64_t> rejected_records{0};  // undecodable source records (Kafka values)
  std::atomic<int64_t> watermark{kNoTime};  // source: min over partitions; keyed/sink: frontier
  std::atomic<bool> done{false};
  // Source tasks: one per input, filled by the task as it opens them; readers look only
  // once partitions_ready (release/acquire) says the list is complete.
  std::deque<PartitionCounters> partitions;
  std::atomic<bool> partitions_ready{false};

  // Pushes to a bounded channel, adding the time it had to wait for room to blocked_ns.
  template <typename T>
  Status Push(BoundedChannel<T>* channel, T&& value) {
    Status s = channel->TryPush(std::move(value));
    if (s.code() != Status::Code::kBusy) return s;
    const auto start = std::chrono::steady_clock::now();
    s = channel->Push(std::move(value));
    blocked_ns.fetch_add(static_cast<uint64_t>(
                             std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
                                 .count()),
                         std::memory_order_relaxed);
    return s;
  }
};

}  // namespace segflow
