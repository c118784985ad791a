// What clients ask of the coordinator: submit, status, cancel, savepoint.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "coordinator/coordinator_impl.h"
#include <sstream>

#include "engine/common/owned_dir.h"
#include "engine/log/log.h"
#include "engine/schema/checkpoint.capnp.h"
#include "engine/state/message_file.h"
#include "engine/value/time_format.h"
#include "connectors/source_connector.h"
#include "jobs/execution_graph.h"
#include "jobs/job_parser.h"
#include "jobs/job_paths.h"
#include "jobs/state_compatibility.h"

namespace segflow::coordinator {
namespace {

// PARTITION=OFFSET,... for every source topic: each offset at most the partition's end.
Result<std::vector<std::array<uint64_t, 3>>> ResolveOffsets(const JobSpec& job, const GraphShape& shape,
                                                            const std::string& what, const std::string& list) {
  std::vector<std::array<uint64_t, 3>> out;
  const auto topics = static_cast<uint32_t>(job.source.topics.size());
  auto source = OpenSourceConnector(SourceConfigOf(job));
  if (!source.ok()) return source.status();
  std::stringstream items(list);
  std::string item;
  while (std::getline(items, item, ',')) {
    const size_t eq = item.find('=');
    char* end_p = nullptr;
    char* end_o = nullptr;
    const unsigned long p = eq == std::string::npos ? 0 : std::strtoul(item.c_str(), &end_p, 10);
    const unsigned long long o = eq == std::string::npos ? 0 : std::strtoull(item.c_str() + eq + 1, &end_o, 10);
    if (eq == std::string::npos || end_p != item.c_str() + eq || *end_o != '\0' || eq + 1 == item.size()) {
      return Status::InvalidArgument(what + ": \"" + item + "\" is not PARTITION=OFFSET");
    }
    if (p >= shape.partitions) {
      return Status::InvalidArgument(what + ": the source topics have " + std::to_string(shape.partitions) +
                                     " partitions; there is no partition " + std::to_string(p));
    }
    for (uint32_t t = 0; t < topics; ++t) {
      auto end = (*source)->EndOffset(t, static_cast<uint32_t>(p));
      if (!end.ok()) return end.status();
      if (o > *end) {
        return Status::InvalidArgument(what + ": offset " + std::to_string(o) + " is past the end of partition " +
                                       std::to_string(p) + " of topic \"" + job.source.topics[t] + "\" (" +
                                       std::to_string(*end) + ")");
      }
      out.push_back({t, static_cast<uint64_t>(p), o});
    }
  }
  if (out.empty()) return Status::InvalidArgument(what + ": no PARTITION=OFFSET given");
  return out;
}

// `--until offsets:LIST` of a bounded job: each end at most the partition's end and not
// before the partition's start (`starts`, from --from).
Result<std::vector<std::array<uint64_t, 3>>> ResolveEnd(const JobSpec& job, const GraphShape& shape, bool bounded,
                                                        const std::string& list,
                                                        const std::vector<std::array<uint64_t, 3>>& starts) {
  if (!bounded) return Status::InvalidArgument("--until offsets: needs --bounded");
  auto ends = ResolveOffsets(job, shape, "--until offsets:" + list, list);
  if (!ends.ok()) return ends.status();
  for (const auto& e : *ends) {
    for (const auto& st : starts) {
      if (st[0] == e[0] && st[1] == e[1] && e[2] < st[2]) {
        return Status::InvalidArgument("--until offsets: partition " + std::to_string(e[1]) + " ends at " +
                                       std::to_string(e[2]) + ", before its start " + std::to_string(st[2]) +
                                       " (--from)");
      }
    }
  }
  return ends;
}

Result<std::vector<std::array<uint64_t, 3>>> ResolveStart(const JobSpec& job, const GraphShape& shape,
                                                          const std::string& from) {
  std::vector<std::array<uint64_t, 3>> out;
  if (from.empty() || from == "earliest") return out;
  const auto topics = static_cast<uint32_t>(job.source.topics.size());
  auto source = OpenSourceConnector(SourceConfigOf(job));
  if (!source.ok()) return source.status();
  if (from == "latest") {
    for (uint32_t t = 0; t < topics; ++t) {
      for (uint32_t p = 0; p < shape.partitions; ++p) {
        auto end = (*source)->EndOffset(t, p);
        if (!end.ok()) return end.status();
        out.push_back({t, p, *end});
      }
    }
    return out;
  }
  if (from.rfind("time:", 0) == 0) {
    auto t_ms = ParseTimeArg(from.substr(5));
    if (!t_ms.ok()) return t_ms.status().Annotate("--from " + from);
    // The embedded log scans to the first record at or after T; Kafka asks the brokers
    // (ListOffsets by record timestamp, which producers should set to the event time).
    for (uint32_t t = 0; t < topics; ++t) {
      for (uint32_t p = 0; p < shape.partitions; ++p) {
        auto offset = (*source)->OffsetForTime(t, p, *t_ms);
        if (!offset.ok()) return offset.status();
        out.push_back({t, p, *offset});
      }
    }
    return out;
  }
  if (from.rfind("offsets:", 0) == 0) return ResolveOffsets(job, shape, "--from " + from, from.substr(8));
  return Status::InvalidArgument("--from \"" + from + "\": expected earliest, latest, time:T or offsets:P=O,...");
}


}  // namespace

Coordinator::Impl::SubmitLookups Coordinator::Impl::LookUpSubmit(wire::Submit::Reader req) const {
  SubmitLookups out;
  JobParseResult parsed = ParseJobText(req.getJobText().cStr(), req.getJobFile().cStr(), roots_.base());
  if (!parsed.ok()) return out;  // Submit reports the errors
  out.shape = PlanGraph(parsed.job);
  if (!out.shape->ok() || req.getFromSavepoint().size() > 0) return out;
  out.start = ResolveStart(parsed.job, **out.shape, req.getFrom().cStr());
  if (out.start->ok() && req.getUntilOffsets().size() > 0) {
    out.end = ResolveEnd(parsed.job, **out.shape, req.getBounded(), req.getUntilOffsets().cStr(), **out.start);
  }
  return out;
}

void Coordinator::Impl::Submit(wire::Submit::Reader req, wire::SubmitReply::Builder reply,
                               const SubmitLookups* lookups) {
  const std::string file = req.getJobFile().cStr();
  const std::string text = req.getJobText().cStr();
  std::string notice;  // accepted, but the user should know (a savepoint's restarted segments)
  JobParseResult parsed = ParseJobText(text, file, roots_.base());
  if (!parsed.ok()) {
    reply.setOk(false);
    reply.setError(parsed.ErrorText() + std::to_string(parsed.errors.size()) + " error(s) in " + file +
                   "; nothing was deployed");
    return;
  }
  // Every path the job names, and the folders given on the command line, must lie in
  // this coordinator's data roots (the workers check them again against theirs).
  const std::string state_dir =
      req.getStateDir().size() > 0 ? roots_.Absolute(req.getStateDir().cStr()) : DefaultStateDir(parsed.job);
  if (Status confined = CheckJobPaths(parsed.job, state_dir, roots_,
                                      {{"--from-savepoint", req.getFromSavepoint().cStr()},
                                       {"--merge-savepoint", req.getMergeFrom().cStr()},
                                       {"--until savepoint:", req.getUntilSavepoint().cStr()}});
      !confined.ok()) {
    reply.setOk(false);
    reply.setError(confined.message() + "; nothing was deployed");
    return;
  }
  // Folders a run resets or writes into must be Segflow's own (or not exist yet).
  for (const auto& [what, dir] : std::vector<std::pair<std::string, std::string>>{
           {"state folder", state_dir},
           {"audience store", parsed.job.output.audience_dir},
           {"shared audience store", parsed.job.output.shared_audience_dir},
           {"checkpoint folder", parsed.job.checkpoint.enabled ? parsed.job.checkpoint.dir : ""}}) {
    if (dir.empty()) continue;
    if (Status owned = CheckOwnableDir(dir, "job " + parsed.job.name + ": " + what); !owned.ok()) {
      reply.setOk(false);
      reply.setError(owned.message() + "; nothing was deployed");
      return;
    }
  }
  auto shape = lookups != nullptr && lookups->shape ? *lookups->shape : PlanGraph(parsed.job);
  if (!shape.ok()) {
    reply.setOk(false);
    reply.setError(shape.status().message() + "; nothing was deployed");
    return;
  }
  // A changed job file resubmitted while its live job runs: a version upgrade (upgrade.cc).
  if (!req.getBounded() && req.getFromSavepoint().size() == 0 && req.getFrom().size() == 0 &&
      req.getMergeFrom().size() == 0) {
    for (auto& [jid, other] : jobs_) {
      if (other.name == parsed.job.name && !other.terminal() && !other.bounded) {
        StartUpgrade(other, file, text, parsed.job, reply);
        return;
      }
    }
  }
  // Built aside and stored under an id only once accepted: a refused submission takes none.
  JobEntry job;
  job.name = parsed.job.name;
  job.file = file;
  job.text = text;
  job.bounded = req.getBounded();
  job.has_until = req.getHasUntil();
  job.until = req.getUntil();
  job.state_dir = state_dir;
  job.max_parallelism = parsed.job.max_parallelism;
  job.checkpointing = parsed.job.checkpoint.enabled;
  job.checkpoint_interval_ms = parsed.job.checkpoint.interval_ms;
  job.end_with_savepoint = req.getEndWithSavepoint();
  job.streaming = req.getStreaming();
  if ((job.end_with_savepoint || req.getFromSavepoint().size() > 0) && !job.checkpointing) {
    const std::string why =
        "savepoints need the job's checkpoint block (e.g. checkpoint: {interval: 10s})";
    reply.setOk(false);
    reply.setError(why + "; nothing was deployed");
    return;
  }
  if (job.end_with_savepoint && !job.bounded) {
    reply.setOk(false);
    reply.setError("--end-with-savepoint needs --bounded; nothing was deployed");
    return;
  }
  if (req.getMergeFrom().size() > 0) {
    job.merge_from = roots_.Absolute(req.getMergeFrom().cStr());
    std::string why;
    if (req.getFromSavepoint().size() == 0) {
      why = "--merge-savepoint needs --from-savepoint (the live job's savepoint it merges into)";
    } else if (auto meta = MessageFile::Read(job.merge_from + "/_metadata"); !meta.ok()) {
      why = meta.status().message() + " (not a savepoint folder?)";
    }
    if (!why.empty()) {
      reply.setOk(false);
      reply.setError(why + "; nothing was deployed");
      return;
    }
  }
  if (req.getFromSavepoint().size() > 0) {
    const std::string from = roots_.Absolute(req.getFromSavepoint().cStr());
    auto meta = MessageFile::Read(from + "/_metadata");
    std::string why;
    if (!meta.ok()) {
      why = meta.status().message() + " (not a savepoint or completed checkpoint folder?)";
    } else {
      try {
        auto m = (*meta)->Root<schema::CheckpointMetadata>();
        if (m.getFormatVersion() != schema::CHECKPOINT_FORMAT_VERSION) {
          why = "savepoint format " + std::to_string(m.getFormatVersion()) + " is not this build's";
        } else if (std::string(m.getJobName().cStr()) != job.name) {
          why = "savepoint " + from + " is of job \"" + m.getJobName().cStr() + "\", not \"" + job.name + "\"";
        } else if (m.getPartitions() != shape->partitions) {
          why = "savepoint " + from + " was taken over " + std::to_string(m.getPartitions()) +
                " partitions; the source topics now have " + std::to_string(shape->partitions);
        } else if (m.getMaxParallelism() != job.max_parallelism) {
          why = "savepoint " + from + " has max_parallelism " + std::to_string(m.getMaxParallelism()) +
                " (the number of key groups), the job " + std::to_string(job.max_parallelism) + ": keep it unchanged";
        } else if (StateCarryOver carry = CompareJobState(m.getJobText().cStr(), text); !carry.refused.empty()) {
          why = "savepoint " + from + " holds state built with other shared settings (" + carry.refused +
                "): every segment depends on them, so replay the log instead (--from earliest)";
        } else {
          if (!carry.identical() && !job.merge_from.empty()) {
            notice = "savepoint " + from + ": " + carry.Describe() + " (restarted segments take the state of " +
                     job.merge_from + ")";
          } else if (!carry.identical()) {
            notice = "savepoint " + from + ": " + carry.Describe() +
                     " (restarted segments start with empty condition state at the savepoint's position)";
          }
          job.initial_restore = from;
          job.initial_restore_id = m.getCheckpointId();
          job.next_checkpoint = m.getCheckpointId() + 1;
        }
      } catch (const kj::Exception& e) {
        why = "corrupt savepoint metadata " + from + "/_metadata";
      }
    }
    if (!why.empty()) {
      reply.setOk(false);
      reply.setError(why + "; nothing was deployed");
      return;
    }
  }
  job.shape = *shape;
  job.submitted_ms = NowMs();
  job.waiting_since = Clock::now();
  job.from_savepoint_arg = req.getFromSavepoint().cStr();
  job.from_arg = req.getFrom().cStr();
  if (!job.from_arg.empty() && !job.from_savepoint_arg.empty()) {
    reply.setOk(false);
    reply.setError("--from and --from-savepoint exclude each other (a savepoint has its own offsets); nothing was deployed");
    return;
  }
  auto start = lookups != nullptr && lookups->start ? *lookups->start
                                                     : ResolveStart(parsed.job, *shape, job.from_arg);
  if (!start.ok()) {
    reply.setOk(false);
    reply.setError(start.status().message() + "; nothing was deployed");
    return;
  }
  job.start_offsets = std::move(start).value();
  if (const std::string until = req.getUntilOffsets().cStr(); !until.empty()) {
    auto ends = lookups != nullptr && lookups->end
                    ? *lookups->end
                    : ResolveEnd(parsed.job, *shape, job.bounded, until, job.start_offsets);
    if (!ends.ok()) {
      reply.setOk(false);
      reply.setError(ends.status().message() + "; nothing was deployed");
      return;
    }
    job.end_offsets = std::move(ends).value();
  }
  if (const std::string until = req.getUntilSavepoint().size() > 0 ? roots_.Absolute(req.getUntilSavepoint().cStr()) : "";
      !until.empty()) {
    auto ends = SavepointSourceOffsets(until);
    std::string why;
    if (!job.bounded) {
      why = "--until savepoint: needs --bounded";
    } else if (!job.end_offsets.empty()) {
      why = "--until savepoint: and --until offsets: exclude each other";
    } else if (!ends.ok()) {
      why = "--until savepoint:" + until + ": " + ends.status().message();
    }
    if (!why.empty()) {
      reply.setOk(false);
      reply.setError(why + "; nothing was deployed");
      return;
    }
    job.until_savepoint = until;
    job.end_offsets = std::move(ends).value();
  }
  if (job.checkpointing) {
    // Marked as Segflow's (checked before a job id makes a folder in it), so retention may
    // delete the chk-<n> folders in it.
    if (Status made = CreateOwnedDir(parsed.job.checkpoint.dir, "checkpoint folder"); !made.ok()) {
      reply.setOk(false);
      reply.setError(made.message() + "; nothing was deployed");
      return;
    }
  }
  const std::string id = NewJobId(job.name, job.checkpointing ? parsed.job.checkpoint.dir : "");
  job.id = id;
  job.checkpoint_root = parsed.job.checkpoint.dir + "/" + id;
  if (job.checkpointing) {
    if (Status made = CreateOwnedDir(job.checkpoint_root, "checkpoint folder"); !made.ok()) {
      reply.setOk(false);
      reply.setError(made.message() + "; nothing was deployed");
      return;
    }
  }
  JobEntry& stored = jobs_[id] = std::move(job);
  Persist(stored);
  TrySchedule(stored);
  reply.setOk(true);
  reply.setJobId(id);
  if (!notice.empty()) reply.setNotice(notice);
}

std::string Coordinator::Impl::NewJobId(const std::string& name,
                                        const std::string& checkpoint_dir) {
  for (;; ++next_job_) {
    const std::string id = name + "-" + std::to_string(next_job_);
    if (jobs_.count(id) > 0 || upgrades_.count(id) > 0) continue;
    if (!checkpoint_dir.empty()) {
      // create_directory is atomic and false when the folder exists: an earlier run's (an
      // embedded cluster's ids start at 1 each run) or another coordinator's job of this name.
      std::error_code ec;
      std::filesystem::create_directories(checkpoint_dir, ec);
      if (!std::filesystem::create_directory(checkpoint_dir + "/" + id, ec) && !ec) continue;
    }
    ++next_job_;
    return id;
  }
}

void Coordinator::Impl::CancelJob(const std::string& id, wire::CancelReply::Builder reply) {
  if (CancelUpgrade(id, reply)) return;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    reply.setOk(false);
    reply.setError("no job " + id + " (segflow jobs lists them)");
    return;
  }
  JobEntry& job = it->second;
  if (job.terminal()) {
    reply.setOk(false);
    reply.setError("job " + id + " has already ended");
    return;
  }
  reply.setOk(true);
  if (job.cancel_requested) return;
  job.cancel_requested = true;
  if (job.deployed) {
    job.state = wire::JobState::CANCELING;
    // Failing attempts are being aborted already; a running one stops cleanly.
    if (!job.failing) {
      for (uint32_t wid : job.pending_done) SendCancel(job, wid, false);
    }
  } else if (!job.preparing) {
    EndJob(job, wire::JobState::CANCELED, "canceled by the user");
  }
}

void Coordinator::Impl::FillStatus(const JobEntry& job, bool with_tasks, wire::JobStatus::Builder out) {
  out.setJobId(job.id);
  out.setName(job.name);
  out.setJobFile(job.file);
  out.setState(job.state);
  out.setReason(job.reason);
  out.setAttempt(job.attempt);
  out.setRestarts(job.restarts);
  out.setBounded(job.bounded);
  out.setSubmittedAtMs(job.submitted_ms);
  out.setEndedAtMs(job.ended_ms);
  out.setLastFailure(job.last_failure);
  {
    auto c = out.initCheckpoints();
    c.setEnabled(job.checkpointing);
    c.setIntervalMs(job.checkpoint_interval_ms);
    c.setCompleted(job.checkpoints_completed);
    c.setAbandoned(job.checkpoints_abandoned);
    if (!job.completed_checkpoints.empty()) {
      const auto& last = job.completed_checkpoints.back();
      c.setLastCompletedId(last.id);
      c.setLastDurationMs(last.duration_ms);
      c.setLastBytes(last.bytes);
      c.setLastPath(last.path);
    }
    auto history = c.initHistory(static_cast<unsigned>(job.checkpoint_history.size()));
    for (unsigned i = 0; i < job.checkpoint_history.size(); ++i) {
      const auto& r = job.checkpoint_history[i];
      history[i].setId(r.id);
      history[i].setTriggeredAtMs(r.triggered_ms);
      history[i].setDurationMs(r.duration_ms);
      history[i].setBytes(r.bytes);
      history[i].setCompleted(r.completed);
      history[i].setError(r.error);
      history[i].setSavepoint(r.savepoint);
    }
    c.setRestoredFrom(job.restored_from);
    c.setLastSavepoint(job.last_savepoint);
    c.setSavepointPending(job.savepoint_wanted.has_value() ||
                          (job.pending_checkpoint && job.pending_checkpoint->savepoint.has_value()));
    c.setSavepointError(job.savepoint_error);
  }
  uint64_t in = 0, late = 0, rejected = 0;
  for (const auto& [key, t] : job.tasks) {
    if (t.kind == wire::TaskKind::SOURCE) {
      in += t.records_in;
      late += t.late;
      rejected += t.rejected;
    }
  }
  out.setRecordsIn(in);
  out.setLateRecords(late);
  out.setRejectedRecords(rejected);
  if (job.has_result) {
    out.setEntered(job.entered);
    out.setExited(job.exited);
    out.setHasEvaluated(job.has_evaluated);
    out.setEvaluatedThrough(job.evaluated_through);
    out.setFinished(job.finished);
  } else {
    auto sink = job.tasks.find({static_cast<int>(wire::TaskKind::SINK), 0});
    if (sink != job.tasks.end() && sink->second.has_watermark) {
      out.setHasEvaluated(true);
      out.setEvaluatedThrough(job.restored_has_evaluated
                                  ? std::max(sink->second.watermark, job.restored_evaluated)
                                  : sink->second.watermark);
    } else if (job.restored_has_evaluated) {
      // Restored from a checkpoint or savepoint: evaluated through its time already.
      out.setHasEvaluated(true);
      out.setEvaluatedThrough(job.restored_evaluated);
    }
  }
  if (!with_tasks) return;
  auto list = out.initTasks(static_cast<unsigned>(job.tasks.size()));
  unsigned i = 0;
  for (const auto& [key, t] : job.tasks) {
    auto ts = list[i++];
    uint32_t worker = 0;
    if (t.kind == wire::TaskKind::SOURCE && t.index < job.source_worker.size()) worker = job.source_worker[t.index];
    if (t.kind == wire::TaskKind::KEYED && t.index < job.keyed_worker.size()) worker = job.keyed_worker[t.index];
    if (t.kind == wire::TaskKind::SINK) worker = job.sink_worker;
    ts.setWorker(worker);
    auto w = workers_.find(worker);
    if (w != workers_.end()) ts.setWorkerAddress(w->second.Address());
    auto m = ts.initMetrics();
    m.setKind(t.kind);
    m.setIndex(t.index);
    m.setRecordsIn(t.records_in);
    m.setRecordsOut(t.records_out);
    m.setBlockedNs(t.blocked_ns);
    m.setLateRecords(t.late);
    m.setRejectedRecords(t.rejected);
    m.setHasWatermark(t.has_watermark);
    m.setWatermark(t.watermark);
    m.setKeyGroupFirst(t.kg_first);
    m.setKeyGroupLast(t.kg_last);
    m.setDone(t.done);
    auto parts = m.initPartitions(static_cast<unsigned>(t.partitions.size()));
    for (unsigned p = 0; p < t.partitions.size(); ++p) {
      const auto& ps = t.partitions[p];
      parts[p].setTopic(ps.topic);
      parts[p].setPartition(ps.partition);
      parts[p].setOffset(ps.offset);
      parts[p].setEndOffset(ps.end_offset);
      parts[p].setHasWatermark(ps.has_watermark);
      parts[p].setWatermark(ps.watermark);
    }
  }
}

bool Coordinator::Impl::AnswerClient(wire::ControlMessage::Reader in, wire::ControlMessage::Builder root) {
  std::optional<SubmitLookups> lookups;
  if (in.which() == wire::ControlMessage::SUBMIT) lookups = LookUpSubmit(in.getSubmit());
  bool answered = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    answered = HandleClientRequest(in, root, lookups ? &*lookups : nullptr);
  }
  cv_.notify_all();
  return answered;
}

bool Coordinator::Impl::HandleClientRequest(wire::ControlMessage::Reader in, wire::ControlMessage::Builder root,
                                            const SubmitLookups* lookups) {
  switch (in.which()) {
    case wire::ControlMessage::SUBMIT:
      Submit(in.getSubmit(), root.initSubmitReply(), lookups);
      return true;
    case wire::ControlMessage::STATUS: {
      auto reply = root.initStatusReply();
      const std::string id = in.getStatus().getJobId().cStr();
      if (id.empty()) {
        reply.setOk(true);
        auto list = reply.initJobs(static_cast<unsigned>(jobs_.size()));
        unsigned i = 0;
        for (const auto& [jid, job] : jobs_) FillStatus(job, false, list[i++]);
        auto ups = reply.initUpgrades(static_cast<unsigned>(upgrades_.size()));
        i = 0;
        for (const auto& [uid, u] : upgrades_) FillUpgradeStatus(u, ups[i++]);
      } else if (auto it = jobs_.find(id); it != jobs_.end()) {
        reply.setOk(true);
        FillStatus(it->second, true, reply.initJobs(1)[0]);
      } else if (auto u = upgrades_.find(id); u != upgrades_.end()) {
        reply.setOk(true);
        FillUpgradeStatus(u->second, reply.initUpgrades(1)[0]);
      } else {
        reply.setOk(false);
        reply.setError("no job " + id + " (segflow jobs lists them)");
      }
      auto workers = reply.initWorkers(static_cast<unsigned>(workers_.size()));
      unsigned i = 0;
      for (const auto& [wid, w] : workers_) {
        auto wi = workers[i++];
        wi.setWorkerId(wid);
        wi.setAddress(w.Address());
        wi.setSlots(w.slots);
        wi.setFreeSlots(w.alive ? w.slots - std::min(w.slots, w.used) : 0);
        wi.setAlive(w.alive);
        wi.setPid(w.pid);
      }
      return true;
    }
    case wire::ControlMessage::SAVEPOINT: {
      auto req = in.getSavepoint();
      auto reply = root.initSavepointReply();
      auto it = jobs_.find(req.getJobId().cStr());
      if (it == jobs_.end()) {
        reply.setError("no job " + std::string(req.getJobId().cStr()) + " (segflow jobs lists them)");
      } else if (!it->second.checkpointing) {
        reply.setError("job " + it->second.id + " has no checkpoint block; savepoints need one "
                       "(e.g. checkpoint: {interval: 10s})");
      } else if (it->second.state != wire::JobState::RUNNING) {
        reply.setError("job " + it->second.id + " is " + "not running (state " +
                       std::to_string(static_cast<int>(it->second.state)) + ")");
      } else if (Status confined = req.getDir().size() > 0
                                       ? roots_.Check(req.getDir().cStr(), "savepoint --dir")
                                       : Status::OK();
                 !confined.ok()) {
        reply.setError(confined.message());
      } else {
        const std::string dir = req.getDir().size() > 0 ? roots_.Absolute(req.getDir().cStr()) : "";
        it->second.savepoint_wanted = JobEntry::SavepointWanted{req.getStop(), dir};
        it->second.savepoint_error.clear();
        reply.setOk(true);
      }
      return true;
    }
    case wire::ControlMessage::CANCEL_JOB:
      CancelJob(in.getCancelJob().getJobId().cStr(), root.initCancelReply());
      return true;
    default:
      return false;
  }
}

void Coordinator::Impl::ServeClient(std::shared_ptr<net::Connection> conn, net::InMessage* first) {
  std::unique_ptr<net::InMessage> next;
  net::InMessage* msg = first;
  for (;;) {
    capnp::MallocMessageBuilder out;
    auto root = out.initRoot<wire::ControlMessage>();
    if (!AnswerClient(msg->Root<wire::ControlMessage>(), root)) return;
    if (!conn->Send(out).ok()) return;
    auto received = conn->Receive();
    if (!received.ok()) return;
    next = std::move(received).value();
    msg = next.get();
  }
}


}  // namespace segflow::coordinator
