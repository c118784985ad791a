// BarrierAligner: aligned checkpoint barriers for a task whose senders share one input
// channel (Flink's aligned checkpoints). Once a sender's barrier for the checkpoint being
// aligned has arrived, that sender's later elements are held back until every sender
// still running has delivered the same barrier; the task then snapshots, and the held
// elements are processed next, in their order. Senders emit barriers in id order.
//
// Memory: held elements are what the fast senders send while the slow ones catch up to
// the barrier; the senders' own bounded channels and credits limit how far ahead they get.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "engine/runtime/channel.h"

namespace segflow {

template <typename T>
class BarrierAligner {
 public:
  explicit BarrierAligner(uint32_t senders) : seen_(senders, false), ended_(senders, false), held_(senders) {}

  // The next element: released ones first, then the channel (nullopt once it is closed).
  std::optional<T> Next(BoundedChannel<T>* channel) {
    // One named optional filled in place: GCC 12 reports a false maybe-uninitialized
    // for optional<variant> built from a temporary (see channel.h).
    std::optional<T> out;
    if (!replay_.empty()) {
      out.emplace(std::move(replay_.front()));
      replay_.pop_front();
      return out;
    }
    return channel->Pop();
  }

  // As Next, waiting at most `timeout` for the channel (nullopt: nothing yet, or closed).
  template <typename Rep, typename Period>
  std::optional<T> NextFor(BoundedChannel<T>* channel, std::chrono::duration<Rep, Period> timeout) {
    std::optional<T> out;
    if (!replay_.empty()) {
      out.emplace(std::move(replay_.front()));
      replay_.pop_front();
      return out;
    }
    return channel->PopFor(timeout);
  }

  // True when `sender`'s element must wait for the alignment (it is moved in and kept).
  bool Hold(uint32_t sender, T& element) {
    if (aligning_ == 0 || !seen_[sender]) return false;
    held_[sender].push_back(std::move(element));
    return true;
  }

  enum class Barrier { kStale, kWaiting, kAligned };
  // A barrier from `sender`. kAligned: snapshot checkpoint `id` now, then Release().
  Barrier OnBarrier(uint32_t sender, uint64_t id) {
    if (id <= done_) return Barrier::kStale;
    if (aligning_ == 0) {
      aligning_ = id;
      seen_.assign(seen_.size(), false);
    }
    seen_[sender] = true;
    return Complete() ? Barrier::kAligned : Barrier::kWaiting;
  }

  // `sender` has ended (no more barriers from it). Returns true when that completes the
  // alignment in progress (every sender left delivered its barrier): snapshot, then Release().
  bool OnEnd(uint32_t sender) {
    ended_[sender] = true;
    return aligning_ != 0 && Complete();
  }

  // The checkpoint being aligned (0: none).
  uint64_t aligning() const { return aligning_; }

  // Ends the alignment: held elements are next, in each sender's order.
  void Release() {
    done_ = aligning_;
    aligning_ = 0;
    for (auto& q : held_) {
      for (auto& e : q) replay_.push_back(std::move(e));
      q.clear();
    }
  }

 private:
  bool Complete() const {
    for (size_t s = 0; s < seen_.size(); ++s) {
      if (!seen_[s] && !ended_[s]) return false;
    }
    return true;
  }

  std::vector<bool> seen_;
  std::vector<bool> ended_;
  std::vector<std::deque<T>> held_;
  std::deque<T> replay_;
  uint64_t aligning_ = 0;
  uint64_t done_ = 0;
};

}  // namespace segflow
