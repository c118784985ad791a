#include "jobs/execution_graph.h"

#include <algorithm>
#include <filesystem>

#include "engine/log/log.h"

namespace segflow {

Result<GraphShape> PlanGraph(const JobSpec& job) {
  GraphShape shape;
  // All source topics must share one partition count: a user's partition index is then
  // the same in every topic, and so is the watermark that advances the user.
  for (size_t t = 0; t < job.source.topics.size(); ++t) {
    auto meta = log::ReadTopicMeta(job.log_dir, job.source.topics[t]);
    if (!meta.ok()) {
      return Status::NotFound("source topic \"" + job.source.topics[t] + "\" in log " + job.log_dir + ": " +
                              meta.status().message() + " (produce events first: segflow produce)");
    }
    if (t == 0) {
      shape.partitions = meta->partitions;
    } else if (meta->partitions != shape.partitions) {
      return Status::InvalidArgument("source topics must have the same number of partitions: \"" +
                                     job.source.topics[0] + "\" has " + std::to_string(shape.partitions) +
                                     ", \"" + job.source.topics[t] + "\" has " + std::to_string(meta->partitions));
    }
  }
  shape.keyed = static_cast<uint32_t>(std::max(1, job.parallelism));
  shape.sources = std::max<uint32_t>(1, std::min<uint32_t>(shape.keyed, shape.partitions));
  return shape;
}

std::string DefaultStateDir(const JobSpec& job) {
  return (std::filesystem::path(job.log_dir).parent_path() / "state" / job.name).lexically_normal().string();
}

}  // namespace segflow
