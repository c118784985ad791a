#include "jobs/execution_graph.h"

#include <algorithm>
#include <filesystem>


namespace segflow {

SourceConfig SourceConfigOf(const JobSpec& job) {
  SourceConfig config;
  config.log_dir = job.log_dir;
  config.topics = job.source.topics;
  config.fields = job.source.fields;
  config.kafka = job.source.kafka;
  return config;
}

Result<GraphShape> PlanGraph(const JobSpec& job) {
  GraphShape shape;
  auto source = OpenSourceConnector(SourceConfigOf(job));
  if (!source.ok()) return source.status();
  // All source topics must share one partition count: a user's partition index is then
  // the same in every topic, and so is the watermark that advances the user.
  for (size_t t = 0; t < job.source.topics.size(); ++t) {
    auto partitions = (*source)->Partitions(static_cast<uint32_t>(t));
    if (!partitions.ok()) return partitions.status();
    if (t == 0) {
      shape.partitions = *partitions;
    } else if (*partitions != shape.partitions) {
      return Status::InvalidArgument("source topics must have the same number of partitions: \"" +
                                     job.source.topics[0] + "\" has " + std::to_string(shape.partitions) +
                                     ", \"" + job.source.topics[t] + "\" has " + std::to_string(*partitions));
    }
  }
  return ShapeFor(job, shape.partitions);
}

GraphShape ShapeFor(const JobSpec& job, uint32_t partitions) {
  GraphShape shape;
  shape.partitions = partitions;
  shape.keyed = static_cast<uint32_t>(std::max(1, job.parallelism));
  shape.sources = std::max<uint32_t>(1, std::min<uint32_t>(shape.keyed, shape.partitions));
  return shape;
}

std::string DefaultStateDir(const JobSpec& job) {
  return (std::filesystem::path(job.log_dir).parent_path() / "state" / job.name).lexically_normal().string();
}

}  // namespace segflow
