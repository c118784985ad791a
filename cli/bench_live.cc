#include "cli/bench_live.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "bench/latency/latency_probe.h"
#include "cli/cluster_client.h"
#include "cli/cluster_job.h"
#include "engine/log/log.h"
#include "engine/log/transaction.h"

namespace segflow::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::string Rate(double r) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", r);
  return buf;
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Work done beside the probe while the job runs: given the job's id and log folder, it may
// stop the probe early; its error fails the run.
using During = std::function<Status(const std::string& job_id, const std::string& log_dir,
                                    std::atomic<bool>* stop)>;

struct LiveRun {
  std::string name;   // job name and folder under the bench folder
  std::string label;  // for the progress line
  double rate = 0;
  double seconds = 0;
  int64_t checkpoint_interval_ms =
      0;  // 0: no checkpoint block (the changelog is not transactional)
  During during;
};

// The log's path is absolute: a cluster resolves relative job paths against its own
// --data-root, not against the job file's folder.
std::string JobText(const LiveSettings& s, const LiveRun& run) {
  std::string text = "job: " + run.name +
                     "\n"
                     "log: " + s.dir + "/" + run.name + "/log\n"
                     "source: {topics: [events], max_out_of_orderness: 0s}\n"
                     "segments:\n"
                     "  - id: probe\n"
                     "    when: {count: {event: probe, at_least: 1}}\n"
                     "  - id: views\n"
                     "    when: {count: {event: view, window: 10m, at_least: 1000000}}\n"
                     "parallelism: " +
                     std::to_string(s.parallelism) + "\n";
  if (run.checkpoint_interval_ms > 0) {
    text += "checkpoint: {interval: " + std::to_string(run.checkpoint_interval_ms) + "ms}\n";
  }
  return text;
}

LatencyPoint PointOf(const bench::ProbeResult& p) {
  LatencyPoint x;
  x.target_rate = p.target_rate;
  x.actual_rate = p.actual_rate;
  x.seconds = p.seconds;
  x.events = p.events;
  x.probes = p.probes;
  x.seen = p.seen();
  x.p50_ms = p.Percentile(0.50);
  x.p90_ms = p.Percentile(0.90);
  x.p99_ms = p.Percentile(0.99);
  x.max_ms = p.Max();
  return x;
}

// The job's status entry, or the coordinator's error.
template <typename F>
Status WithJobStatus(ClusterClient* client, const std::string& job_id, F&& f) {
  auto reply = client->Status(job_id);
  if (!reply.ok()) return reply.status();
  auto sr = (*reply)->Root<wire::ControlMessage>().getStatusReply();
  if (!sr.getOk() || sr.getJobs().size() == 0)
    return Status::NotFound("job " + job_id + ": " + sr.getError().cStr());
  return f(sr.getJobs()[0]);
}

// Submits the run's job, waits for it to run, runs the probe (and `during` beside it),
// cancels the job and removes its folder.
Result<LatencyPoint> RunLive(const LiveSettings& s, const LiveRun& run) {
  const std::string folder = s.dir + "/" + run.name;
  const std::string log_dir = folder + "/log";
  const std::string changelog = run.name + ".memberships";
  std::error_code ec;
  std::filesystem::remove_all(folder, ec);
  std::filesystem::create_directories(folder, ec);
  if (ec) return Status::IOError("cannot create " + folder + ": " + ec.message());
  {
    std::ofstream out(folder + "/job.yaml", std::ios::binary | std::ios::trunc);
    out << JobText(s, run);
    if (!out) return Status::IOError("cannot write " + folder + "/job.yaml");
  }
  SEGFLOW_RETURN_IF_ERROR(bench::EnsureEventsTopic(log_dir, "events", s.partitions));
  auto client = ClusterClient::Connect(s.coordinator);
  if (!client.ok()) return client.status();
  SubmitRequest req;
  auto id = SubmitJob(client->get(), folder + "/job.yaml", req);
  if (!id.ok()) return id.status().Annotate("submit the bench job");

  Result<bench::ProbeResult> result = Status::Internal("not run");
  Status outcome;
  // Running, and its changelog created (the sink's worker prepares the outputs).
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  for (bool ready = false; !ready && outcome.ok();) {
    outcome = WithJobStatus(client->get(), *id, [&](wire::JobStatus::Reader js) {
      if (IsTerminal(js.getState())) {
        return Status::Internal("job " + *id + " ended before it ran: " +
                                JobStateName(js.getState()) + ": " + js.getReason().cStr());
      }
      ready =
          js.getState() == wire::JobState::RUNNING && log::ReadTopicMeta(log_dir, changelog).ok();
      return Status::OK();
    });
    if (!ready && outcome.ok()) {
      if (Clock::now() >= deadline)
        outcome = Status::Internal("job " + *id + " not running after 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (outcome.ok()) {
    std::atomic<bool> stop{false};
    Status during_status;
    std::thread during;
    if (run.during) {
      during = std::thread([&] {
        during_status = run.during(*id, log_dir, &stop);
        if (!during_status.ok()) stop.store(true);
      });
    }
    bench::ProbeOptions probe;
    probe.log_dir = log_dir;
    probe.changelog_topic = changelog;
    probe.rate = run.rate;
    probe.seconds = run.seconds;
    probe.background_users = s.background_users;
    probe.stop = &stop;
    // A committed record waits for a checkpoint: give the last probes two intervals more.
    probe.drain_seconds = 3 + 2 * static_cast<double>(run.checkpoint_interval_ms) / 1000;
    probe.on_tick = [&](double elapsed) {
      if (s.progress != nullptr) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "%s: %s events/s, %.1f/%.0f s", run.label.c_str(),
                      Rate(run.rate).c_str(), elapsed, run.seconds);
        s.progress->Update(buf);
      }
    };
    result = bench::RunProbe(probe);
    stop.store(true);
    if (during.joinable()) during.join();
    if (!during_status.ok()) outcome = during_status;
  }
  // Cancel in every case, so a failed measurement leaves no job behind.
  std::atomic<bool> cancel{true};
  auto canceled = FollowJob(client->get(), *id, &cancel, false);
  if (outcome.ok() && !canceled.ok()) outcome = canceled.status().Annotate("cancel job " + *id);
  if (outcome.ok() && result.ok()) std::filesystem::remove_all(folder, ec);
  if (!outcome.ok()) return outcome;
  if (!result.ok()) return result.status().Annotate("job " + *id);
  LatencyPoint point = PointOf(*result);
  point.job_records_in = canceled->report.records_in;
  return point;
}

}  // namespace

Result<std::vector<LatencyPoint>> MeasureLatency(const LiveSettings& s,
                                                 const std::vector<double>& rates) {
  std::vector<LatencyPoint> points;
  for (size_t i = 0; i < rates.size(); ++i) {
    LiveRun run;
    run.name = "bench-latency-" + std::to_string(i + 1);
    run.label = "latency " + std::to_string(i + 1) + "/" + std::to_string(rates.size());
    run.rate = rates[i];
    run.seconds = s.seconds;
    auto r = RunLive(s, run);
    if (!r.ok()) return r.status().Annotate("latency at " + Rate(rates[i]) + " events/s");
    points.push_back(*r);
  }
  return points;
}

Result<SustainResult> FindSustainableRate(const LiveSettings& s, double start, int steps,
                                          double max_latency_ms) {
  SustainResult out;
  out.max_latency_ms = max_latency_ms;
  double good = 0, bad = 0, rate = start;
  for (int i = 0; i < steps; ++i) {
    LiveRun run;
    run.name = "bench-sustain-" + std::to_string(i + 1);
    run.label = "sustain step " + std::to_string(i + 1) + "/" + std::to_string(steps);
    run.rate = rate;
    run.seconds = s.seconds;
    auto r = RunLive(s, run);
    if (!r.ok())
      return r.status().Annotate("sustainable throughput at " + Rate(rate) + " events/s");
    SustainStep step;
    step.point = *r;
    if (step.point.actual_rate < 0.95 * rate) {
      step.why_not = "producer reached " + Rate(step.point.actual_rate) + " events/s";
    } else if (step.point.seen < step.point.probes) {
      step.why_not =
          std::to_string(step.point.probes - step.point.seen) + " probes never committed";
    } else if (step.point.job_records_in < step.point.events) {
      step.why_not = "the job read " + std::to_string(step.point.job_records_in) + " of " +
                     std::to_string(step.point.events) + " events";
    } else if (step.point.p99_ms > max_latency_ms) {
      step.why_not = "p99 " + Rate(step.point.p99_ms) + " ms";
    }
    step.sustained = step.why_not.empty();
    out.steps.push_back(step);
    if (step.sustained) {
      good = rate;
    } else {
      bad = rate;
    }
    if (bad == 0) {
      rate = good * 2;
    } else if (good == 0) {
      rate = bad / 2;
    } else {
      if ((bad - good) / bad < 0.1) break;
      rate = (good + bad) / 2;
    }
    rate = std::max(100.0, std::round(rate / 100) * 100);
    if (rate == good || rate == bad) break;
  }
  return out;
}

Result<CheckpointResult> MeasureCheckpoints(const LiveSettings& s, double rate,
                                            int64_t interval_ms) {
  CheckpointResult out;
  out.interval_ms = interval_ms;
  out.background_users = s.background_users;
  LiveRun run;
  run.name = "bench-checkpoint";
  run.label = "checkpoints";
  run.rate = rate;
  run.seconds = s.seconds;
  run.checkpoint_interval_ms = interval_ms;
  run.during = [&](const std::string& job_id, const std::string&,
                   std::atomic<bool>* stop) -> Status {
    auto client = ClusterClient::Connect(s.coordinator);
    if (!client.ok()) return client.status();
    uint64_t last_id = 0;
    auto sample = [&]() {
      return WithJobStatus(client->get(), job_id, [&](wire::JobStatus::Reader js) {
        auto c = js.getCheckpoints();
        out.completed = c.getCompleted();
        out.abandoned = c.getAbandoned();
        if (c.getLastCompletedId() != last_id && c.getLastCompletedId() != 0) {
          last_id = c.getLastCompletedId();
          out.samples.push_back({last_id, c.getLastDurationMs(), c.getLastBytes()});
        }
        return Status::OK();
      });
    };
    while (!stop->load()) {
      SEGFLOW_RETURN_IF_ERROR(sample());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return sample();
  };
  auto r = RunLive(s, run);
  if (!r.ok()) return r.status().Annotate("checkpoints at " + Rate(rate) + " events/s");
  out.committed_latency = *r;
  if (out.samples.empty()) {
    return Status::Internal(
        "no checkpoint completed in " + std::to_string(static_cast<int>(s.seconds)) + " s at a " +
        std::to_string(interval_ms) +
        " ms interval (run longer with --seconds, or shorten --checkpoint-interval)");
  }
  return out;
}

Result<RecoveryResult> MeasureRecovery(const LiveSettings& s, double rate, int64_t interval_ms,
                                       double kill_after, double timeout) {
  if (s.worker_pids.size() < 2) {
    return Status::FailedPrecondition(
        "recovery needs the embedded cluster with at least 2 workers (it SIGKILLs one of its own "
        "workers; "
        "--live-workers 2)");
  }
  RecoveryResult out;
  out.interval_ms = interval_ms;
  out.kill_after_seconds = kill_after;
  LiveRun run;
  run.name = "bench-recovery";
  run.label = "recovery";
  run.rate = rate;
  run.seconds = kill_after + timeout;  // the probe stops once the output has caught up
  run.checkpoint_interval_ms = interval_ms;
  run.during = [&](const std::string& job_id, const std::string& log_dir,
                   std::atomic<bool>* stop) -> Status {
    auto client = ClusterClient::Connect(s.coordinator);
    if (!client.ok()) return client.status();
    const auto began = Clock::now();
    const auto deadline = began + std::chrono::duration<double>(kill_after + timeout);
    // After kill_after seconds and a first completed checkpoint: the victim.
    uint32_t attempt = 0, victim = 0;
    for (;;) {
      if (stop->load()) return Status::Cancelled("the probe ended before the kill");
      bool ready = false;
      SEGFLOW_RETURN_IF_ERROR(WithJobStatus(client->get(), job_id, [&](wire::JobStatus::Reader js) {
        attempt = js.getAttempt();
        ready = js.getState() == wire::JobState::RUNNING && js.getCheckpoints().getCompleted() > 0;
        bool found = false;
        for (auto t : js.getTasks()) {
          if (t.getMetrics().getKind() != wire::TaskKind::KEYED) continue;
          if (!found || t.getMetrics().getIndex() == 1) victim = t.getWorker();
          found = true;
        }
        ready = ready && found;
        return Status::OK();
      }));
      if (ready && Clock::now() - began >= std::chrono::duration<double>(kill_after)) break;
      if (Clock::now() >= deadline)
        return Status::Internal("no checkpoint completed before the kill was due");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_t pid = 0;
    {
      auto reply = client->get()->Status("");
      if (!reply.ok()) return reply.status();
      for (auto w : (*reply)->Root<wire::ControlMessage>().getStatusReply().getWorkers()) {
        if (w.getWorkerId() == victim) pid = w.getPid();
      }
    }
    if (std::find(s.worker_pids.begin(), s.worker_pids.end(), pid) == s.worker_pids.end()) {
      return Status::Internal("worker " + std::to_string(victim) + " (pid " + std::to_string(pid) +
                              ") is not one of the bench's own workers; nothing was killed");
    }
    out.killed_worker = victim;
    const int64_t kill_ms = WallMs();
    const auto killed = Clock::now();
    if (::kill(pid, SIGKILL) != 0)
      return Status::FromErrno("SIGKILL worker " + std::to_string(pid), errno);
    const auto give_up = killed + std::chrono::duration<double>(timeout);
    // Running again: a later attempt in state running.
    for (bool running = false; !running;) {
      SEGFLOW_RETURN_IF_ERROR(WithJobStatus(client->get(), job_id, [&](wire::JobStatus::Reader js) {
        running = js.getAttempt() > attempt && js.getState() == wire::JobState::RUNNING;
        if (IsTerminal(js.getState())) {
          return Status::Internal(std::string("the job ended after the kill: ") +
                                  js.getReason().cStr());
        }
        if (running) {
          out.attempt = js.getAttempt();
          out.restored_from = js.getCheckpoints().getRestoredFrom().cStr();
        }
        return Status::OK();
      }));
      if (!running) {
        if (Clock::now() >= give_up)
          return Status::Internal("the job was not running again within --recovery-timeout (" +
                                  Rate(timeout) + " s)");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    out.restart_seconds = std::chrono::duration<double>(Clock::now() - killed).count();
    // Caught up: the commit marker's evaluated time past the kill instant, i.e. every event
    // appended before the kill is evaluated and its output committed by the new attempt.
    for (;;) {
      auto marker = log::ReadCommitMarker(log_dir, run.name + ".memberships");
      if (!marker.ok()) return marker.status();
      if (marker->has_value() && (*marker)->evaluated.has_value() &&
          *(*marker)->evaluated > kill_ms)
        break;
      if (Clock::now() >= give_up)
        return Status::Internal(
            "the committed output did not catch up within --recovery-timeout (" + Rate(timeout) +
            " s)");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    out.caught_up_seconds = std::chrono::duration<double>(Clock::now() - killed).count();
    stop->store(true);
    return Status::OK();
  };
  auto r = RunLive(s, run);
  if (!r.ok()) return r.status().Annotate("recovery at " + Rate(rate) + " events/s");
  out.latency = *r;
  return out;
}

}  // namespace segflow::cli
