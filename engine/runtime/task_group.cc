#include "engine/runtime/task_group.h"

#include <exception>
#include <system_error>
#include <utility>

namespace segflow {

TaskGroup::~TaskGroup() {
  std::vector<Running> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running.swap(running_);
  }
  if (running.empty()) return;
  token_.Cancel();
  for (auto& r : running) {
    if (r.thread.joinable()) r.thread.join();
  }
}

void TaskGroup::Spawn(std::unique_ptr<Task> task) {
  Task* raw = task.get();
  Status failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.push_back(Running{std::move(task), std::thread()});
    try {
      running_.back().thread = std::thread([this, raw] { RunTask(raw); });
    } catch (const std::system_error& e) {
      failed = Status::Internal("cannot start thread: " + std::string(e.what())).Annotate(raw->name());
      running_.pop_back();
    }
  }
  if (!failed.ok()) Fail(std::move(failed));
}

void TaskGroup::RunTask(Task* task) {
  Status status;
  try {
    status = task->Run(token_);
  } catch (const std::exception& e) {
    status = Status::Internal(std::string("uncaught exception: ") + e.what());
  } catch (...) {
    status = Status::Internal("uncaught non-standard exception");
  }
  if (!status.ok()) Fail(status.Annotate(task->name()));
}

void TaskGroup::Fail(Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!first_error_.ok()) return;
    first_error_ = std::move(status);
  }
  token_.Cancel();
}

void TaskGroup::Cancel(const std::string& reason) { Fail(Status::Cancelled(reason)); }

Status TaskGroup::Join() {
  // Tasks may Spawn more tasks while running: join until none are left (bounded by the
  // number of Spawn calls).
  for (;;) {
    std::vector<Running> running;
    {
      std::lock_guard<std::mutex> lock(mu_);
      running.swap(running_);
    }
    if (running.empty()) break;
    for (auto& r : running) {
      if (r.thread.joinable()) r.thread.join();
    }
  }
  return first_error();
}

Status TaskGroup::first_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_error_;
}

}  // namespace segflow
