// TaskGroup: runs the tasks of a graph, each on its own thread, and fails as a unit.
// The first task to fail cancels the group's token (which closes every channel
// registered with CloseOnCancel, waking blocked tasks); Join reports that first error
// as "<task name>: <message>". Later errors, usually Cancelled fallout, are dropped.
// Thread-safe; a task's exceptions are caught at its thread boundary as Internal errors.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/common/status.h"
#include "engine/runtime/cancellation_token.h"
#include "engine/runtime/channel.h"
#include "engine/runtime/task.h"

namespace segflow {

class TaskGroup {
 public:
  TaskGroup() = default;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  // Cancels and joins tasks still running.
  ~TaskGroup();

  // Starts `task` on a new thread now.
  void Spawn(std::unique_ptr<Task> task);
  void Spawn(std::string name, std::function<Status(CancellationToken&)> fn) {
    Spawn(MakeTask(std::move(name), std::move(fn)));
  }

  // Closes `channel` when the group is cancelled. The channel must outlive the group's
  // cancellation (in practice: outlive Join).
  template <typename T>
  void CloseOnCancel(BoundedChannel<T>* channel) {
    token_.OnCancel([channel] { channel->Close(); });
  }

  // Cancels from outside (shutdown): unless a task already failed, Join returns
  // Cancelled(reason).
  void Cancel(const std::string& reason);

  // Waits for every spawned task; returns the first error, or OK if none failed.
  Status Join();

  CancellationToken& token() { return token_; }
  // The first error so far (OK while none); usable before Join.
  Status first_error() const;

 private:
  struct Running {
    std::unique_ptr<Task> task;
    std::thread thread;
  };
  void Fail(Status status);
  void RunTask(Task* task);

  CancellationToken token_;
  mutable std::mutex mu_;
  Status first_error_;            // guarded by mu_
  std::vector<Running> running_;  // guarded by mu_
};

}  // namespace segflow
