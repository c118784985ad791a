// BoundedChannel: the in-process channel between two tasks (ARCHITECTURE.md invariant 7:
// every queue is bounded; a full channel blocks its producers — backpressure, not buffering).
//
// Multi-producer, single-consumer (several concurrent poppers are safe but elements are
// then split between them). Elements are moved in and out, so a channel of record batches
// costs one lock round trip per batch. Thread-safe.
//
// Close() ends the channel: pending and future Push calls return Cancelled; poppers first
// drain what is buffered, then get nullopt. Blocked pushers and poppers wake at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "engine/common/status.h"

namespace segflow {

struct ChannelStats {
  uint64_t pushed = 0;
  uint64_t popped = 0;
  uint64_t blocked_pushes = 0;         // Push calls that had to wait for room
  std::chrono::nanoseconds blocked{};  // total time producers spent waiting (backpressure)
  size_t max_size = 0;                 // high-water mark in elements
};

template <typename T>
class BoundedChannel {
 public:
  // Bytes an element accounts for against `capacity_bytes`.
  using Sizer = std::function<size_t(const T&)>;

  // At most `capacity` (>= 1) elements are buffered.
  explicit BoundedChannel(size_t capacity) : BoundedChannel(capacity, 0, nullptr) {}
  // Also at most `capacity_bytes` as measured by `sizer` (0: no byte bound). An element
  // larger than the bound is still accepted into an empty channel, so nothing deadlocks.
  BoundedChannel(size_t capacity, size_t capacity_bytes, Sizer sizer)
      : slots_(capacity == 0 ? 1 : capacity),
        capacity_bytes_(sizer ? capacity_bytes : 0),
        sizer_(std::move(sizer)) {
    if (capacity_bytes_ > 0) slot_bytes_.resize(slots_.size());
  }

  BoundedChannel(const BoundedChannel&) = delete;
  BoundedChannel& operator=(const BoundedChannel&) = delete;

  // Blocks while the channel is full. Cancelled if the channel is (or becomes) closed;
  // then `value` is left untouched.
  Status Push(T&& value) {
    const size_t bytes = capacity_bytes_ > 0 ? sizer_(value) : 0;
    std::unique_lock<std::mutex> lock(mu_);
    if (!closed_ && !HasRoom(bytes)) {
      const auto start = std::chrono::steady_clock::now();
      ++push_waiters_;
      not_full_.wait(lock, [&] { return closed_ || HasRoom(bytes); });
      --push_waiters_;
      ++stats_.blocked_pushes;
      stats_.blocked += std::chrono::steady_clock::now() - start;
    }
    if (closed_) return Status::Cancelled("channel closed");
    Enqueue(std::move(value), bytes);
    const bool wake = pop_waiters_ > 0;
    lock.unlock();
    if (wake) not_empty_.notify_one();
    return Status::OK();
  }

  // Never blocks: Busy when full (value untouched), Cancelled when closed.
  Status TryPush(T&& value) {
    const size_t bytes = capacity_bytes_ > 0 ? sizer_(value) : 0;
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return Status::Cancelled("channel closed");
    if (!HasRoom(bytes)) return Status::Busy("channel full");
    Enqueue(std::move(value), bytes);
    const bool wake = pop_waiters_ > 0;
    lock.unlock();
    if (wake) not_empty_.notify_one();
    return Status::OK();
  }

  // Blocks until an element arrives; nullopt once the channel is closed and drained.
  std::optional<T> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    ++pop_waiters_;
    not_empty_.wait(lock, [&] { return count_ > 0 || closed_; });
    --pop_waiters_;
    return DequeueAndWake(lock);
  }

  // As Pop, but gives up after `timeout` (nullopt; check closed() to tell the cases apart).
  template <typename Rep, typename Period>
  std::optional<T> PopFor(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    ++pop_waiters_;
    not_empty_.wait_for(lock, timeout, [&] { return count_ > 0 || closed_; });
    --pop_waiters_;
    return DequeueAndWake(lock);
  }

  std::optional<T> TryPop() {
    std::unique_lock<std::mutex> lock(mu_);
    return DequeueAndWake(lock);
  }

  // Moves up to `max` buffered elements to `out` under one lock, waiting up to `timeout`
  // for the first. Returns how many were appended (0: timeout, or closed and drained).
  template <typename Rep, typename Period>
  size_t PopManyFor(std::vector<T>* out, size_t max, std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    ++pop_waiters_;
    not_empty_.wait_for(lock, timeout, [&] { return count_ > 0 || closed_; });
    --pop_waiters_;
    size_t n = 0;
    while (n < max && count_ > 0) {
      out->push_back(Dequeue());
      ++n;
    }
    WakePushers(lock, n);
    return n;
  }

  // Idempotent.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    not_full_.notify_all();
    not_empty_.notify_all();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  size_t capacity() const { return slots_.size(); }
  // Producers blocked in Push right now / consumers waiting in Pop or PopFor.
  int waiting_pushers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return push_waiters_;
  }
  int waiting_poppers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pop_waiters_;
  }
  ChannelStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  bool HasRoom(size_t bytes) const {
    if (count_ >= slots_.size()) return false;
    return capacity_bytes_ == 0 || count_ == 0 || bytes_ + bytes <= capacity_bytes_;
  }

  void Enqueue(T&& value, size_t bytes) {
    const size_t tail = (head_ + count_) % slots_.size();
    slots_[tail].emplace(std::move(value));
    if (capacity_bytes_ > 0) {
      slot_bytes_[tail] = bytes;
      bytes_ += bytes;
    }
    ++count_;
    ++stats_.pushed;
    if (count_ > stats_.max_size) stats_.max_size = count_;
  }

  T Dequeue() {
    T value = std::move(*slots_[head_]);
    PopFront();
    return value;
  }
  // Drops the (moved-from) front slot.
  void PopFront() {
    slots_[head_].reset();
    if (capacity_bytes_ > 0) bytes_ -= slot_bytes_[head_];
    head_ = (head_ + 1) % slots_.size();
    --count_;
    ++stats_.popped;
  }

  std::optional<T> DequeueAndWake(std::unique_lock<std::mutex>& lock) {
    // One named optional filled in place: GCC 12 at -O2/-O3 reports a false
    // maybe-uninitialized for optional(Dequeue()) with variant elements.
    std::optional<T> value;
    if (count_ > 0) {
      value.emplace(std::move(*slots_[head_]));
      PopFront();
    }
    WakePushers(lock, value.has_value() ? 1 : 0);
    return value;
  }

  // Unlocks. One freed slot wakes one pusher; with a byte bound any pusher may now fit.
  void WakePushers(std::unique_lock<std::mutex>& lock, size_t freed) {
    const bool wake = freed > 0 && push_waiters_ > 0;
    const bool all = freed > 1 || capacity_bytes_ > 0;
    lock.unlock();
    if (!wake) return;
    if (all) {
      not_full_.notify_all();
    } else {
      not_full_.notify_one();
    }
  }

  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  // State below is protected by mu_.
  std::vector<std::optional<T>> slots_;  // ring of capacity() slots
  std::vector<size_t> slot_bytes_;       // per slot, only with a byte bound
  size_t head_ = 0;
  size_t count_ = 0;
  size_t bytes_ = 0;
  bool closed_ = false;
  int push_waiters_ = 0;
  int pop_waiters_ = 0;
  ChannelStats stats_;
  const size_t capacity_bytes_;
  const Sizer sizer_;
};

}  // namespace segflow
