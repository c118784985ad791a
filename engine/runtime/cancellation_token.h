// CancellationToken: a one-way "stop" signal shared by the tasks of a group. Tasks poll
// cancelled() in their loops; blocking resources (channels) register OnCancel callbacks
// that unblock them. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

namespace segflow {

class CancellationToken {
 public:
  CancellationToken() = default;
  CancellationToken(const CancellationToken&) = delete;
  CancellationToken& operator=(const CancellationToken&) = delete;

  // Idempotent. The first call runs every registered callback once, in registration
  // order, on the calling thread.
  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // Runs `fn` on cancellation; at once, on this thread, if already cancelled.
  // `fn` must not block on the tasks it is meant to unblock.
  void OnCancel(std::function<void()> fn);

  // Sleeps until cancelled or `timeout` passes; returns cancelled().
  bool WaitFor(std::chrono::nanoseconds timeout);

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> callbacks_;  // guarded by mu_
};

}  // namespace segflow
