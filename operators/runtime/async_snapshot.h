// AsyncSnapshot: runs the slow half of a keyed task's checkpoint — writing the drained
// states to RocksDB, flushing, the RocksDB checkpoint, the task file and the ack — on a
// thread of its own, so the task goes on processing records (Flink's asynchronous
// snapshot phase). One at a time: the next barrier waits for the previous one.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <thread>

#include "engine/common/status.h"

namespace segflow {

class AsyncSnapshot {
 public:
  AsyncSnapshot() = default;
  ~AsyncSnapshot() { (void)Wait(); }
  AsyncSnapshot(const AsyncSnapshot&) = delete;
  AsyncSnapshot& operator=(const AsyncSnapshot&) = delete;

  bool running() const { return thread_.joinable(); }

  // Starts `work`. The previous one must have been collected (Poll or Wait).
  void Start(std::function<Status()> work) {
    done_.store(false, std::memory_order_relaxed);
    thread_ = std::thread([this, work = std::move(work)] {
      status_ = work();
      done_.store(true, std::memory_order_release);
    });
  }

  // When the running work has finished: joins it and returns its status. nullopt while
  // it runs or when none runs. Cheap enough to call per record batch (one atomic load).
  std::optional<Status> Poll() {
    if (!thread_.joinable() || !done_.load(std::memory_order_acquire)) return std::nullopt;
    thread_.join();
    return status_;
  }

  // Blocks until the running work (if any) has finished; its status, OK when none ran.
  Status Wait() {
    if (!thread_.joinable()) return Status::OK();
    thread_.join();
    return status_;
  }

 private:
  std::thread thread_;
  std::atomic<bool> done_{false};
  Status status_;  // written by the thread before done_, read after join
};

}  // namespace segflow
