#include "engine/runtime/task.h"

#include <utility>

namespace segflow {
namespace {

class FunctionTask final : public Task {
 public:
  FunctionTask(std::string name, std::function<Status(CancellationToken&)> fn)
      : name_(std::move(name)), fn_(std::move(fn)) {}
  const std::string& name() const override { return name_; }
  Status Run(CancellationToken& cancel) override { return fn_(cancel); }

 private:
  std::string name_;
  std::function<Status(CancellationToken&)> fn_;
};

}  // namespace

std::unique_ptr<Task> MakeTask(std::string name, std::function<Status(CancellationToken&)> fn) {
  return std::make_unique<FunctionTask>(std::move(name), std::move(fn));
}

}  // namespace segflow
