// Task: one unit of a dataflow graph that runs on its own thread (a source, an operator
// chain, a sink) and talks to the others only through channels.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "engine/common/status.h"
#include "engine/runtime/cancellation_token.h"

namespace segflow {

class Task {
 public:
  virtual ~Task() = default;
  // Stable, human-readable name ("source-0", "keyed-3"); prefixes the task's errors.
  virtual const std::string& name() const = 0;
  // Runs to completion. Returns promptly (Cancelled or OK) once `cancel` is cancelled:
  // loops poll cancel.cancelled(), and the group closes the channels a task blocks on.
  virtual Status Run(CancellationToken& cancel) = 0;
};

// A Task running `fn`.
std::unique_ptr<Task> MakeTask(std::string name, std::function<Status(CancellationToken&)> fn);

}  // namespace segflow
