#include "operators/runtime/segment_preview.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include "connectors/source_connector.h"
#include "engine/common/owned_dir.h"
#include "engine/runtime/task_group.h"
#include "jobs/execution_graph.h"
#include "operators/runtime/job_graph.h"

namespace segflow {
namespace {

void CollectReferences(const Condition& c, std::vector<std::string>* out) {
  if (c.kind == Condition::Kind::kSegment) out->push_back(c.segment_ref);
  for (const auto& child : c.children) CollectReferences(child, out);
}

// Removes the temporary folder however the preview ends.
struct TempDir {
  std::string path;
  ~TempDir() {
    if (!path.empty()) (void)RemoveOwnedDir(path, "preview state folder");
  }
};

}  // namespace

Result<JobSpec> SegmentSubsetJob(const JobSpec& job, const std::string& segment) {
  if (job.FindSegment(segment) == nullptr) {
    std::string defined;
    for (const auto& s : job.segments) defined += (defined.empty() ? "" : ", ") + s.id;
    return Status::NotFound("segment \"" + segment + "\" is not in job " + job.name +
                            " (defined: " + defined + ")");
  }
  std::set<std::string> keep;
  std::vector<std::string> todo = {segment};
  while (!todo.empty()) {
    const std::string id = todo.back();
    todo.pop_back();
    if (!keep.insert(id).second) continue;
    const SegmentSpec* s = job.FindSegment(id);
    if (s == nullptr)
      return Status::InvalidArgument("segment \"" + id + "\" is referenced but not defined");
    CollectReferences(s->when, &todo);
  }
  JobSpec subset = job;
  subset.segments.clear();
  for (const auto& s : job.segments) {
    if (keep.count(s.id)) subset.segments.push_back(s);
  }
  for (auto it = subset.segment_versions.begin(); it != subset.segment_versions.end();) {
    it = keep.count(it->first) ? std::next(it) : subset.segment_versions.erase(it);
  }
  return subset;
}

Result<PreviewResult> PreviewSegment(const JobSpec& full_job, const PreviewOptions& options,
                                     std::atomic<bool>* stop) {
  const auto started = std::chrono::steady_clock::now();
  auto subset = SegmentSubsetJob(full_job, options.segment);
  if (!subset.ok()) return subset.status();
  JobSpec job = std::move(subset).value();
  // Nothing of the job's outputs is touched: no checkpoints, no shared store, no table.
  job.checkpoint.enabled = false;
  job.output.shared_audience_dir.clear();
  job.output.postgres = {};
  uint32_t target = 0;
  while (job.segments[target].id != options.segment) ++target;

  auto program = SegmentProgram::Compile(job);
  if (!program.ok()) return program.status();
  auto shape = PlanGraph(job);
  if (!shape.ok()) return shape.status();

  TempDir temp;
  std::error_code ec;
  const std::string parent = options.temp_parent.empty()
                                 ? std::filesystem::temp_directory_path(ec).string()
                                 : options.temp_parent;
  temp.path = parent + "/segflow-preview-" + std::to_string(::getpid());
  SEGFLOW_RETURN_IF_ERROR(
      RemoveOwnedDir(temp.path, "preview state folder"));  // a killed earlier one's
  SEGFLOW_RETURN_IF_ERROR(CreateOwnedDir(temp.path, "preview state folder"));

  RunOptions run;
  run.bounded = true;
  run.has_until = options.has_until;
  run.until = options.until;
  run.state_dir = temp.path + "/state";
  run.write_late = false;
  SEGFLOW_RETURN_IF_ERROR(CreateOwnedDir(run.state_dir, "preview state folder"));
  if (options.has_from) {
    auto source = OpenSourceConnector(SourceConfigOf(job));
    if (!source.ok()) return source.status();
    for (uint32_t t = 0; t < job.source.topics.size(); ++t) {
      for (uint32_t p = 0; p < shape->partitions; ++p) {
        auto offset = (*source)->OffsetForTime(t, p, options.from);
        if (!offset.ok()) return offset.status();
        run.start_offsets[{t, p}] = *offset;
      }
    }
  }

  JobContext ctx;
  ctx.job = &job;
  ctx.program = *program;
  ctx.options = run;
  ctx.keyed_tasks = shape->keyed;
  ctx.partitions = shape->partitions;
  ctx.late_topic = LateTopic(job);
  ctx.stop = stop;

  std::vector<std::unique_ptr<BoundedChannel<KeyedInput>>> keyed_in;
  GraphEndpoints endpoints;
  for (uint32_t k = 0; k < shape->keyed; ++k) {
    keyed_in.push_back(std::make_unique<BoundedChannel<KeyedInput>>(kKeyedChannelCapacity));
    endpoints.keyed.push_back(keyed_in.back().get());
  }
  BoundedChannel<SinkMessage> sink_in(kSinkChannelCapacity);
  endpoints.sink = &sink_in;
  LocalTasks local = LocalTasks::All(*shape);
  local.sink = false;  // the preview's own sink below: memberships in memory

  // A user's changes come from one keyed task in the order it made them: the last one
  // per user is the user's membership at the end, as the audience store would hold it.
  std::unordered_map<std::string, bool> member;
  PreviewResult result;
  GraphCounters counters(*shape);
  SinkResult unused;
  {
    TaskGroup group;
    for (auto& c : keyed_in) group.CloseOnCancel(c.get());
    group.CloseOnCancel(&sink_in);
    group.Spawn("preview sink", [&](CancellationToken&) -> Status {
      uint32_t ends = 0;
      bool finished = true;
      while (ends < shape->keyed) {
        auto msg = sink_in.Pop();
        if (!msg) return Status::Cancelled("preview: input closed before every keyed task ended");
        if (auto* b = std::get_if<ChangeBatch>(&msg->body)) {
          for (auto& c : b->changes) {
            if (c.segment == target) member[std::move(c.user)] = c.entered;
          }
        } else if (auto* end = std::get_if<KeyedEnd>(&msg->body)) {
          ++ends;
          finished = finished && end->finished;
          if (end->finished &&
              (!result.has_evaluated || end->evaluated_through > result.evaluated_through)) {
            result.has_evaluated = true;
            result.evaluated_through = end->evaluated_through;
          }
        }
      }
      // Unfinished with nothing read (no instant to evaluate) is an empty preview.
      if (!finished && stop != nullptr && stop->load()) {
        return Status::Cancelled("preview: stopped (signal) before the end of the replay");
      }
      return Status::OK();
    });
    SpawnGraphTasks(&group, &ctx, *shape, local, endpoints, &counters, &unused);
    SEGFLOW_RETURN_IF_ERROR(group.Join());
  }
  for (auto& [user, in] : member) {
    if (in) result.members.push_back(user);
  }
  std::sort(result.members.begin(), result.members.end());
  result.size = result.members.size();
  for (const auto& s : job.segments) result.evaluated_segments.push_back(s.id);
  result.records_in = ctx.records_in.load();
  result.late_records = ctx.late_records.load();
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace segflow
