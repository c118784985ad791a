#include "operators/runtime/local_job_runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/log/log.h"
#include "operators/runtime/changelog_sink_task.h"
#include "operators/runtime/keyed_segment_task.h"
#include "operators/runtime/source_task.h"
#include "operators/sink/audience_store.h"

namespace segflow {
namespace {

// Channel capacities in elements (a batch is up to 1024 records): bounded memory.
constexpr size_t kKeyedChannelCapacity = 64;
constexpr size_t kSinkChannelCapacity = 256;

// Holds an exclusive flock on "<state_dir>.lock" so two runs of one job never overlap.
class JobLock {
 public:
  ~JobLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Acquire(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::FromErrno("open " + path, errno);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return Status::Busy("another run of this job is active (lock " + path + " is held)");
      }
      return Status::FromErrno("lock " + path, errno);
    }
    return Status::OK();
  }

 private:
  int fd_ = -1;
};

Status ResetOutputs(const JobSpec& job, const std::string& state_dir, const std::string& late_topic) {
  SEGFLOW_RETURN_IF_ERROR(log::DeleteTopic(job.log_dir, job.output.changelog));
  SEGFLOW_RETURN_IF_ERROR(log::DeleteTopic(job.log_dir, late_topic));
  SEGFLOW_RETURN_IF_ERROR(AudienceStore::Destroy(job.output.audience_dir));
  std::error_code ec;
  std::filesystem::remove_all(state_dir, ec);
  if (ec) return Status::IOError("remove state " + state_dir + ": " + ec.message());
  return Status::OK();
}

// The first error of any task wins; it closes every channel so the others unblock.
class FirstError {
 public:
  void Set(Status s, const std::string& task) {
    std::lock_guard<std::mutex> lock(mu_);
    if (first_.ok() && !s.ok()) first_ = s.Annotate(task);
  }
  Status Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  Status first_;
};

}  // namespace

std::string DefaultStateDir(const JobSpec& job) {
  return (std::filesystem::path(job.log_dir).parent_path() / "state" / job.name).lexically_normal().string();
}

Status RunJobLocally(const JobSpec& job, RunOptions options, std::atomic<bool>* stop, RunReport* report) {
  const auto started = std::chrono::steady_clock::now();
  auto program = SegmentProgram::Compile(job);
  if (!program.ok()) return program.status();
  if (options.state_dir.empty()) options.state_dir = DefaultStateDir(job);

  JobContext ctx;
  ctx.job = &job;
  ctx.program = *program;
  ctx.options = options;
  ctx.keyed_tasks = static_cast<uint32_t>(job.parallelism);
  ctx.late_topic = job.name + ".late";
  ctx.stop = stop;

  // All source topics must share one partition count: a user's partition index is then
  // the same in every topic, and so is the watermark that advances the user.
  for (size_t t = 0; t < job.source.topics.size(); ++t) {
    auto meta = log::ReadTopicMeta(job.log_dir, job.source.topics[t]);
    if (!meta.ok()) {
      return Status::NotFound("source topic \"" + job.source.topics[t] + "\" in log " + job.log_dir +
                              ": " + meta.status().message() + " (produce events first: segflow produce)");
    }
    if (t == 0) {
      ctx.partitions = meta->partitions;
    } else if (meta->partitions != ctx.partitions) {
      return Status::InvalidArgument("source topics must have the same number of partitions: \"" +
                                     job.source.topics[0] + "\" has " + std::to_string(ctx.partitions) +
                                     ", \"" + job.source.topics[t] + "\" has " +
                                     std::to_string(meta->partitions));
    }
  }

  JobLock lock;
  SEGFLOW_RETURN_IF_ERROR(lock.Acquire(options.state_dir + ".lock"));
  SEGFLOW_RETURN_IF_ERROR(ResetOutputs(job, options.state_dir, ctx.late_topic));
  log::TopicMeta changelog_meta;
  changelog_meta.partitions = ctx.partitions;
  changelog_meta.format = log::TopicFormat::kChangelog;
  SEGFLOW_RETURN_IF_ERROR(log::EnsureTopic(job.log_dir, job.output.changelog, changelog_meta).status());
  log::TopicMeta late_meta;
  late_meta.partitions = ctx.partitions;
  late_meta.fields = job.source.fields;
  SEGFLOW_RETURN_IF_ERROR(log::EnsureTopic(job.log_dir, ctx.late_topic, late_meta).status());

  const uint32_t keyed = ctx.keyed_tasks;
  const uint32_t sources = std::max<uint32_t>(1, std::min<uint32_t>(keyed, ctx.partitions));
  std::vector<std::unique_ptr<BoundedChannel<KeyedInput>>> keyed_in;
  for (uint32_t k = 0; k < keyed; ++k) {
    keyed_in.push_back(std::make_unique<BoundedChannel<KeyedInput>>(kKeyedChannelCapacity));
  }
  BoundedChannel<SinkMessage> sink_in(kSinkChannelCapacity);

  FirstError error;
  auto close_all = [&]() {
    for (auto& c : keyed_in) c->Close();
    sink_in.Close();
  };
  auto guarded = [&](std::string name, auto fn) {
    return std::thread([&error, &close_all, name = std::move(name), fn]() mutable {
      Status s = fn();
      if (!s.ok()) {
        error.Set(s, name);
        close_all();
      }
    });
  };

  SinkResult sink_result;
  std::vector<std::thread> threads;
  threads.push_back(guarded("changelog sink", [&]() { return ChangelogSinkTask(&ctx, &sink_in, &sink_result).Run(); }));
  for (uint32_t k = 0; k < keyed; ++k) {
    threads.push_back(guarded("keyed task " + std::to_string(k), [&, k]() {
      return KeyedSegmentTask(&ctx, k, sources, keyed_in[k].get(), &sink_in).Run();
    }));
  }
  for (uint32_t s = 0; s < sources; ++s) {
    threads.push_back(guarded("source task " + std::to_string(s), [&, s]() {
      std::vector<BoundedChannel<KeyedInput>*> outs;
      for (auto& c : keyed_in) outs.push_back(c.get());
      return SourceTask(&ctx, s, sources, std::move(outs)).Run();
    }));
  }
  for (auto& t : threads) t.join();
  SEGFLOW_RETURN_IF_ERROR(error.Get());

  report->records_in = ctx.records_in.load();
  report->late_records = ctx.late_records.load();
  report->entered = sink_result.entered;
  report->exited = sink_result.exited;
  report->finished = sink_result.finished;
  report->has_evaluated = sink_result.has_evaluated;
  report->evaluated_through = sink_result.evaluated_through;
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return Status::OK();
}

}  // namespace segflow
