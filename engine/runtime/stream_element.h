// What flows on a channel between tasks (ARCHITECTURE.md invariant 4): record batches,
// per-partition watermarks, checkpoint barriers and end-of-stream. Plain values with no
// pointers into the sender, so an in-process channel moves them and a network channel
// serializes them; the graph does not change.
#pragma once

#include <cstdint>
#include <variant>

namespace segflow {

// Event-time progress of one source (log) partition (spec §2): no on-time record with
// ts < time can still arrive from `partition`.
struct Watermark {
  uint32_t partition = 0;
  int64_t time = 0;
  friend bool operator==(const Watermark&, const Watermark&) = default;
};

// Marks the point in a stream where checkpoint `id` snapshots state (aligned barriers).
struct CheckpointBarrier {
  uint64_t id = 0;
  friend bool operator==(const CheckpointBarrier&, const CheckpointBarrier&) = default;
};

// The sender will send nothing more on this channel.
struct EndOfStream {
  friend bool operator==(const EndOfStream&, const EndOfStream&) = default;
};

// One channel element. `Batch` is a batch of records (e.g. a struct holding a vector);
// it is moved along the graph, never copied.
template <typename Batch>
using StreamElement = std::variant<Batch, Watermark, CheckpointBarrier, EndOfStream>;

template <typename Batch>
bool IsBatch(const StreamElement<Batch>& e) {
  return std::holds_alternative<Batch>(e);
}
template <typename Batch>
bool IsEndOfStream(const StreamElement<Batch>& e) {
  return std::holds_alternative<EndOfStream>(e);
}

}  // namespace segflow
