// Version upgrades (issue 6 item 2): a job file with changed segments, resubmitted while
// its live job runs, is backfilled beside it and handed over through savepoints.
//
//   backfill        the new file, renamed "<job>--backfill" with outputs of its own, replays
//                   the log bounded and ends with a savepoint; rounds from that savepoint
//                   catch up while the live job keeps serving the old version
//   stoppingLive    the live job stops with a savepoint (at offsets Y)
//   finalBackfill   the backfill replays from its savepoint up to exactly Y (skipped when
//                   its savepoint is at Y already)
//   switching       the new live job starts from the live savepoint, its changed and added
//                   segments taking the backfill's state (AttemptSpec.mergeFrom); its first
//                   checkpoint commits the switch records and the audience's new version
//   done / failed   a failure before the live job stopped leaves it serving; after, the old
//                   job is restarted from the live savepoint (rolled back): nothing is lost
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "coordinator/coordinator_impl.h"
#include "engine/common/owned_dir.h"
#include "engine/log/log.h"
#include "engine/schema/checkpoint.capnp.h"
#include "engine/state/message_file.h"
#include "jobs/execution_graph.h"
#include "jobs/job_parser.h"
#include "jobs/state_compatibility.h"

namespace segflow::coordinator {
namespace {

// Backfill rounds end when the log grew by at most options_.upgrade_catch_up_records during
// the last one (the final round, with the live job stopped, replays only that), or after
// kMaxRounds.
constexpr uint32_t kMaxRounds = 4;
// A backfill round that fails for good is submitted again this many times per upgrade.
constexpr uint32_t kRoundRetries = 3;
// How long the backfill may wait for the live job to read past its end offsets.
constexpr auto kLiveCatchUpTimeout = std::chrono::seconds(120);

}  // namespace

std::string BackfillJobName(const std::string& name) { return name + "--backfill"; }

Result<std::string> BackfillJobText(const std::string& text, const JobSpec& job) {
  try {
    YAML::Node root = YAML::Load(text);
    const std::string name = BackfillJobName(job.name);
    root["job"] = name;
    YAML::Node out(YAML::NodeType::Map);
    if (root["output"] && root["output"].IsMap()) {
      for (const auto& kv : root["output"]) {
        const std::string key = kv.first.as<std::string>();
        // The backfill's audience is not serving: it never writes the live job's table.
        if (key != "changelog" && key != "audience" && key != "shared_audience" &&
            key != "postgres") {
          out[key] = kv.second;
        }
      }
    }
    out["changelog"] = name + ".memberships";
    out["audience"] = job.output.audience_dir + "--backfill";  // absolute
    root["output"] = out;
    // Its changelog is in the embedded log: a job whose source and changelog are in Kafka
    // has no `log:`, so the backfill gets the live job's own local log (where the live
    // job stages its Kafka changelog).
    if (!root["log"]) root["log"] = job.log_dir;
    YAML::Emitter e;
    e << root;
    if (!e.good()) return Status::Internal("cannot write the backfill's job file: " + e.GetLastError());
    return std::string(e.c_str()) + "\n";
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("cannot rewrite the job file for its backfill: ") + e.what());
  }
}

Result<std::vector<std::array<uint64_t, 3>>> SavepointSourceOffsets(const std::string& dir) {
  auto meta = MessageFile::Read(dir + "/_metadata");
  if (!meta.ok()) return meta.status();
  uint32_t sources = 0;
  try {
    sources = (*meta)->Root<schema::CheckpointMetadata>().getSources();
  } catch (const kj::Exception& e) {
    return Status::Corruption("corrupt savepoint metadata " + dir + "/_metadata");
  }
  std::vector<std::array<uint64_t, 3>> out;
  for (uint32_t s = 0; s < sources; ++s) {
    const std::string path = dir + "/source-" + std::to_string(s);
    auto file = MessageFile::Read(path);
    if (!file.ok()) return file.status();
    try {
      for (auto in : (*file)->Root<schema::SourceCheckpoint>().getInputs()) {
        out.push_back({in.getTopic(), in.getPartition(), in.getOffset()});
      }
    } catch (const kj::Exception& e) {
      return Status::Corruption("corrupt source checkpoint " + path);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Coordinator::Impl::SubmitInternal(const std::string& file, const std::string& text, bool bounded,
                                              bool end_with_savepoint, const std::string& from_savepoint,
                                              const std::string& merge_from, const std::string& until_savepoint,
                                              const std::string& from, std::string* error, const JobEntry* live) {
  capnp::MallocMessageBuilder req;
  auto s = req.initRoot<wire::Submit>();
  s.setJobFile(file);
  s.setJobText(text);
  s.setBounded(bounded);
  s.setEndWithSavepoint(end_with_savepoint);
  s.setFromSavepoint(from_savepoint);
  s.setMergeFrom(merge_from);
  s.setUntilSavepoint(until_savepoint);
  s.setFrom(from);
  capnp::MallocMessageBuilder rep;
  auto r = rep.initRoot<wire::SubmitReply>();
  SubmitLookups lookups;
  if (live != nullptr && live->shape.partitions > 0) {
    JobParseResult parsed = ParseJobText(text, file, roots_.base());
    if (parsed.ok()) lookups.shape = ShapeFor(parsed.job, live->shape.partitions);
    if (!from.empty() && from == live->from_arg) lookups.start = live->start_offsets;
  }
  Submit(s.asReader(), r, &lookups);
  if (!r.getOk()) {
    *error = r.getError().cStr();
    return "";
  }
  return r.getJobId().cStr();
}

void Coordinator::Impl::StartUpgrade(JobEntry& live, const std::string& file, const std::string& text,
                                     const JobSpec& parsed, wire::SubmitReply::Builder reply) {
  auto refuse = [&](const std::string& why) {
    reply.setOk(false);
    reply.setError(why + "; nothing was deployed");
  };
  for (const auto& [uid, u] : upgrades_) {
    if (u.name == live.name && !u.terminal()) {
      return refuse("job \"" + live.name + "\" is being upgraded already (" + uid + ", segflow status " + uid + ")");
    }
  }
  if (live.text == text) {
    return refuse("job " + live.id + " already runs this job file (no segment changed)");
  }
  StateCarryOver carry = CompareJobState(live.text, text);
  if (!carry.refused.empty()) {
    return refuse("job " + live.id + " runs \"" + live.name + "\" with other shared settings (" + carry.refused +
                  "); an upgrade keeps them: cancel the job and replay the log with the new file (--from earliest)");
  }
  if (!live.checkpointing) {
    return refuse("job " + live.id + " is running; an upgrade hands over through savepoints, which need the job's "
                  "checkpoint block (e.g. checkpoint: {interval: 10s}); or cancel it and submit again");
  }
  if (!parsed.checkpoint.enabled) {
    return refuse("the new job file has no checkpoint block; an upgrade hands over through savepoints, which need "
                  "one (e.g. checkpoint: {interval: 10s})");
  }
  JobParseResult old = ParseJobText(live.text, live.file, roots_.base());
  if (old.ok() && (old.job.output.changelog != parsed.output.changelog ||
                   old.job.output.audience_dir != parsed.output.audience_dir ||
                   old.job.output.shared_audience_dir != parsed.output.shared_audience_dir ||
                   old.job.output.kafka.bootstrap != parsed.output.kafka.bootstrap ||
                   old.job.output.postgres.dsn != parsed.output.postgres.dsn ||
                   old.job.output.postgres.table != parsed.output.postgres.table)) {
    return refuse("the new job file writes other outputs than " + live.id +
                  " (an upgrade continues its changelog and audience store); keep the output block unchanged");
  }
  auto backfill_text = BackfillJobText(text, parsed);
  if (!backfill_text.ok()) return refuse(backfill_text.status().message());
  UpgradeEntry u;
  const uint32_t number = next_job_++;
  u.id = live.name + "-upgrade-" + std::to_string(number);
  u.name = live.name;
  u.file = file;
  u.text = text;
  u.old_text = live.text;
  u.old_file = live.file;
  u.backfill_text = *backfill_text;
  u.live_id = live.id;
  // "kept a; backfilled b (changed), c (added); dropped d"
  u.carry = carry.Describe();
  if (const size_t at = u.carry.find("restarted "); at != std::string::npos) u.carry.replace(at, 9, "backfilled");
  u.started_ms = NowMs();
  // The backfill reads what the live job read: from its start (a live job continued from a
  // savepoint reads the whole history before it, so from the earliest offsets).
  u.from = live.initial_restore.empty() ? live.from_arg : "";
  std::string error;
  if (!SubmitRound(u, "", &error)) {
    next_job_ = number;  // refused: the number is not used up
    return refuse("the backfill of the new version was refused: " + error);
  }
  u.rounds = 1;
  reply.setOk(true);
  reply.setJobId(u.id);
  reply.setUpgradeId(u.id);
  reply.setNotice("upgrade " + u.id + ": " + u.carry + "; backfill " + u.backfill_id + " replays the log with the " +
                  "new version while " + live.id + " serves the old one (segflow status " + u.id + ")");
  PersistUpgrade(upgrades_[u.id] = std::move(u));
}

void Coordinator::Impl::EndUpgrade(UpgradeEntry& u, wire::UpgradePhase phase, const std::string& reason) {
  u.phase = phase;
  u.reason = reason;
  u.ended_ms = NowMs();
  PersistUpgrade(u);
  cv_.notify_all();
  if (phase != wire::UpgradePhase::DONE) return;
  // The backfill's own outputs served the handover only: its changelog, late topic and
  // audience store go (its savepoints stay beside the checkpoints, like any savepoint).
  JobParseResult b = ParseJobText(u.backfill_text, u.file, roots_.base());
  if (!b.ok()) return;
  Status s = log::DeleteTopic(b.job.log_dir, b.job.output.changelog);
  if (s.ok()) s = log::DeleteTopic(b.job.log_dir, b.job.name + ".late");
  if (s.ok()) s = log::DeleteTopic(b.job.log_dir, b.job.name + ".rejected");  // a Kafka source's rejects
  if (s.ok()) s = RemoveOwnedDir(b.job.output.audience_dir, "audience store");
  if (!s.ok()) {
    std::fprintf(stderr, "segflow coordinator: upgrade %s: cannot remove the backfill's outputs: %s\n", u.id.c_str(),
                 s.ToString().c_str());
  }
}

bool Coordinator::Impl::CancelUpgrade(const std::string& id, wire::CancelReply::Builder reply) {
  auto it = upgrades_.find(id);
  if (it == upgrades_.end()) return false;
  UpgradeEntry& u = it->second;
  if (u.terminal()) {
    reply.setOk(false);
    reply.setError("upgrade " + id + " has already ended");
  } else if (u.phase != wire::UpgradePhase::BACKFILL) {
    reply.setOk(false);
    reply.setError("upgrade " + id + " is handing over (the live job stopped for it); it finishes or rolls back on "
                   "its own within moments");
  } else {
    if (auto b = jobs_.find(u.backfill_id); b != jobs_.end() && !b->second.terminal()) {
      capnp::MallocMessageBuilder m;
      CancelJob(b->second.id, m.initRoot<wire::CancelReply>());
    }
    EndUpgrade(u, wire::UpgradePhase::FAILED, "canceled by the user; " + u.live_id + " keeps serving the old version");
    reply.setOk(true);
  }
  return true;
}

const JobEntry* Coordinator::Impl::LiveJobOf(const UpgradeEntry& u) const {
  auto it = jobs_.find(u.live_id);
  return it == jobs_.end() ? nullptr : &it->second;
}

void Coordinator::Impl::RollBack(UpgradeEntry& u, const std::string& why) {
  std::string error;
  const std::string id =
      SubmitInternal(u.old_file, u.old_text, false, false, u.live_savepoint, "", "", "", &error, LiveJobOf(u));
  if (id.empty()) {
    return EndUpgrade(u, wire::UpgradePhase::FAILED,
                      why + "; restarting the old version from " + u.live_savepoint + " was refused: " + error +
                          " (submit the old job file --from-savepoint " + u.live_savepoint + ")");
  }
  u.rollback_id = id;
  EndUpgrade(u, wire::UpgradePhase::FAILED,
             why + "; rolled back: " + id + " serves the old version again from the live savepoint " + u.live_savepoint);
}

bool Coordinator::Impl::SubmitRound(UpgradeEntry& u, const std::string& until_savepoint, std::string* error) {
  // From the last round's savepoint, or (none yet) from where the live job started.
  const std::string id = SubmitInternal(u.file, u.backfill_text, true, true, u.backfill_savepoint, "", until_savepoint,
                                        u.backfill_savepoint.empty() ? u.from : "", error, LiveJobOf(u));
  if (id.empty()) return false;
  u.backfill_id = id;
  PersistUpgrade(u);
  return true;
}

void Coordinator::Impl::StartNewLive(UpgradeEntry& u) {
  std::string error;
  const std::string id =
      SubmitInternal(u.file, u.text, false, false, u.live_savepoint, u.backfill_savepoint, "", "", &error,
                     LiveJobOf(u));
  if (id.empty()) return RollBack(u, "the new live job was refused: " + error);
  u.new_id = id;
  u.phase = wire::UpgradePhase::SWITCHING;
  PersistUpgrade(u);
}

void Coordinator::Impl::AdvanceUpgrades(Clock::time_point now) {
  for (auto& [uid, u] : upgrades_) {
    if (u.terminal()) continue;
    auto job_of = [&](const std::string& id) -> JobEntry* {
      auto it = jobs_.find(id);
      return it == jobs_.end() ? nullptr : &it->second;
    };
    JobEntry* live = job_of(u.live_id);
    switch (u.phase) {
      case wire::UpgradePhase::BACKFILL: {
        JobEntry* b = job_of(u.backfill_id);
        if (live == nullptr || live->terminal()) {
          if (b != nullptr && !b->terminal()) {
            capnp::MallocMessageBuilder m;
            CancelJob(b->id, m.initRoot<wire::CancelReply>());
          }
          EndUpgrade(u, wire::UpgradePhase::FAILED,
                     "the live job " + u.live_id + " ended during the backfill; nothing to hand over to");
          break;
        }
        if (b == nullptr || !b->terminal()) break;
        if (b->state != wire::JobState::FINISHED || !b->stopped_with_savepoint) {
          // A round that failed for good (its restarts spent, e.g. on a lock an aborted
          // attempt still held) is submitted again from the last savepoint, a few times.
          std::string error;
          if (b->state == wire::JobState::FAILED && u.retries < kRoundRetries && SubmitRound(u, "", &error)) {
            ++u.retries;
            break;
          }
          EndUpgrade(u, wire::UpgradePhase::FAILED,
                     "backfill " + u.backfill_id + " ended without a savepoint: " + b->reason + "; " + u.live_id +
                         " keeps serving the old version");
          break;
        }
        // Once per finished round: where it ended, and how far the log grew meanwhile —
        // another round, or (on the next ticks) wait for the live job and stop it.
        if (u.backfill_savepoint != b->last_savepoint || u.backfill_end.empty()) {
          u.backfill_savepoint = b->last_savepoint;
          u.waiting_since = now;
          PersistUpgrade(u);
          auto done_at = SavepointSourceOffsets(u.backfill_savepoint);
          if (!done_at.ok()) {
            EndUpgrade(u, wire::UpgradePhase::FAILED, done_at.status().message());
            break;
          }
          u.backfill_end = std::move(done_at).value();
          JobParseResult parsed = ParseJobText(u.backfill_text, u.file, roots_.base());
          uint64_t behind = 0;
          if (parsed.ok() && parsed.job.source.kafka.enabled()) {
            // Kafka: how far the live job has read past the round's end, from its own
            // reports, rather than asking the brokers while mu_ is held (they may be down).
            // A live job that lags is then stopped a little early; the final round, up to
            // its savepoint, replays the rest either way.
            std::map<std::pair<uint64_t, uint64_t>, uint64_t> read;
            for (const auto& [key, t] : live->tasks) {
              for (const auto& p : t.partitions) read[{p.topic, p.partition}] = p.offset;
            }
            for (const auto& [t, p, offset] : u.backfill_end) {
              auto it = read.find({t, p});
              if (it != read.end() && it->second > offset) behind += it->second - offset;
            }
          } else {
            auto source = OpenSourceConnector(SourceConfigOf(parsed.job));  // the local log
            for (const auto& [t, p, offset] : u.backfill_end) {
              if (!source.ok()) break;
              auto end = (*source)->EndOffset(static_cast<uint32_t>(t), static_cast<uint32_t>(p));
              if (end.ok() && *end > offset) behind += *end - offset;
            }
          }
          if (behind > options_.upgrade_catch_up_records && u.rounds < kMaxRounds) {
            std::string error;
            if (!SubmitRound(u, "", &error)) {
              EndUpgrade(u, wire::UpgradePhase::FAILED,
                         "backfill round " + std::to_string(u.rounds + 1) + " was refused: " + error);
              break;
            }
            ++u.rounds;
            u.backfill_end.clear();
            PersistUpgrade(u);
            break;
          }
        }
        // The live job must have read at least as far as the backfill before it stops.
        if (live->state != wire::JobState::RUNNING) break;
        std::map<std::pair<uint64_t, uint64_t>, uint64_t> read;
        for (const auto& [key, t] : live->tasks) {
          for (const auto& p : t.partitions) read[{p.topic, p.partition}] = p.offset;
        }
        uint64_t live_behind = 0;
        for (const auto& [t, p, offset] : u.backfill_end) {
          auto it = read.find({t, p});
          const uint64_t at = it == read.end() ? 0 : it->second;
          if (at < offset) live_behind += offset - at;
        }
        if (live_behind > 0) {
          if (now - u.waiting_since > kLiveCatchUpTimeout) {
            EndUpgrade(u, wire::UpgradePhase::FAILED,
                       "the live job " + u.live_id + " stayed " + std::to_string(live_behind) +
                           " records behind the backfill's end; it keeps serving the old version (submit again)");
          }
          break;
        }
        live->savepoint_wanted = JobEntry::SavepointWanted{true, ""};
        live->savepoint_error.clear();
        u.phase = wire::UpgradePhase::STOPPING_LIVE;
        PersistUpgrade(u);
        break;
      }
      case wire::UpgradePhase::STOPPING_LIVE: {
        if (live == nullptr) {
          EndUpgrade(u, wire::UpgradePhase::FAILED, "the live job " + u.live_id + " is gone");
          break;
        }
        if (!live->terminal()) {
          // A savepoint that failed (or was lost with a restart) is asked for again.
          if (live->state == wire::JobState::RUNNING && !live->savepoint_wanted && !live->pending_checkpoint &&
              !live->stopped_with_savepoint) {
            live->savepoint_wanted = JobEntry::SavepointWanted{true, ""};
          }
          break;
        }
        if (live->state != wire::JobState::FINISHED || !live->stopped_with_savepoint) {
          EndUpgrade(u, wire::UpgradePhase::FAILED,
                     "the live job " + u.live_id + " ended without its savepoint: " + live->reason);
          break;
        }
        u.live_savepoint = live->last_savepoint;
        // The backfill already stopped exactly there (nothing arrived since): no final round.
        auto live_at = SavepointSourceOffsets(u.live_savepoint);
        auto backfill_at = SavepointSourceOffsets(u.backfill_savepoint);
        if (live_at.ok() && backfill_at.ok() && *live_at == *backfill_at) {
          StartNewLive(u);
          break;
        }
        std::string error;
        if (!SubmitRound(u, u.live_savepoint, &error)) {
          RollBack(u, "the final backfill round was refused: " + error);
          break;
        }
        ++u.rounds;
        u.phase = wire::UpgradePhase::FINAL_BACKFILL;
        PersistUpgrade(u);
        break;
      }
      case wire::UpgradePhase::FINAL_BACKFILL: {
        JobEntry* b = job_of(u.backfill_id);
        if (b != nullptr && !b->terminal()) break;
        if (b == nullptr || b->state != wire::JobState::FINISHED || !b->stopped_with_savepoint) {
          std::string error;
          if (b != nullptr && b->state == wire::JobState::FAILED && u.retries < kRoundRetries &&
              SubmitRound(u, u.live_savepoint, &error)) {
            ++u.retries;
            break;
          }
          RollBack(u, "the final backfill round " + u.backfill_id + " failed" + (b ? ": " + b->reason : ""));
          break;
        }
        u.backfill_savepoint = b->last_savepoint;
        StartNewLive(u);
        break;
      }
      case wire::UpgradePhase::SWITCHING: {
        JobEntry* n = job_of(u.new_id);
        if (n == nullptr || n->state == wire::JobState::FAILED) {
          RollBack(u, "the new live job " + u.new_id + " failed" + (n ? ": " + n->reason : ""));
          break;
        }
        // Its first completed checkpoint commits the switch (restored from its own
        // checkpoint afterwards, it no longer merges); a job that ended cleanly committed it.
        if (n->checkpoints_completed > 0 || n->terminal()) {
          EndUpgrade(u, wire::UpgradePhase::DONE,
                     u.new_id + " serves the new version (" + u.carry + "); the old version's audience stays "
                     "queryable with segflow audience --version until segflow drop-version");
        }
        break;
      }
      default:
        break;
    }
  }
}

void Coordinator::Impl::FillUpgradeStatus(const UpgradeEntry& u, wire::UpgradeStatus::Builder out) {
  out.setUpgradeId(u.id);
  out.setName(u.name);
  out.setJobFile(u.file);
  out.setPhase(u.phase);
  out.setReason(u.reason);
  out.setCarryOver(u.carry);
  out.setLiveJob(u.live_id);
  out.setBackfillJob(u.backfill_id);
  out.setNewJob(u.new_id.empty() ? u.rollback_id : u.new_id);
  out.setRounds(u.rounds);
  out.setLiveSavepoint(u.live_savepoint);
  out.setBackfillSavepoint(u.backfill_savepoint);
  out.setStartedAtMs(u.started_ms);
  out.setEndedAtMs(u.ended_ms);
}

void Coordinator::Impl::PersistUpgrade(const UpgradeEntry& u) {
  if (options_.dir.empty()) return;
  capnp::MallocMessageBuilder msg;
  auto p = msg.initRoot<wire::PersistedUpgrade>();
  FillUpgradeStatus(u, p.initStatus());
  p.getStatus().setNewJob(u.new_id);
  p.setJobText(u.text);
  p.setBackfillText(u.backfill_text);
  p.setOldText(u.old_text);
  p.setOldFile(u.old_file);
  p.setRollbackJob(u.rollback_id);
  p.setFrom(u.from);
  std::error_code ec;
  std::filesystem::create_directories(options_.dir + "/upgrades", ec);
  Status s = WriteMessageFile(options_.dir + "/upgrades/" + u.id, msg);
  if (!s.ok()) std::fprintf(stderr, "segflow coordinator: cannot persist upgrade %s: %s\n", u.id.c_str(), s.ToString().c_str());
}

Status Coordinator::Impl::LoadUpgrades() {
  if (options_.dir.empty()) return Status::OK();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir + "/upgrades", ec)) {
    const std::string path = entry.path().string();
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".tmp") == 0) continue;
    auto file = MessageFile::Read(path);
    if (!file.ok()) return file.status().Annotate("coordinator --dir " + options_.dir);
    try {
      auto p = (*file)->Root<wire::PersistedUpgrade>();
      auto st = p.getStatus();
      UpgradeEntry u;
      u.id = st.getUpgradeId().cStr();
      u.name = st.getName().cStr();
      u.file = st.getJobFile().cStr();
      u.phase = st.getPhase();
      u.reason = st.getReason().cStr();
      u.carry = st.getCarryOver().cStr();
      u.live_id = st.getLiveJob().cStr();
      u.backfill_id = st.getBackfillJob().cStr();
      u.new_id = st.getNewJob().cStr();
      u.rounds = st.getRounds();
      u.live_savepoint = st.getLiveSavepoint().cStr();
      u.backfill_savepoint = st.getBackfillSavepoint().cStr();
      u.started_ms = st.getStartedAtMs();
      u.ended_ms = st.getEndedAtMs();
      u.text = p.getJobText().cStr();
      u.backfill_text = p.getBackfillText().cStr();
      u.old_text = p.getOldText().cStr();
      u.old_file = p.getOldFile().cStr();
      u.rollback_id = p.getRollbackJob().cStr();
      u.from = p.getFrom().cStr();
      u.waiting_since = Clock::now();
      const size_t dash = u.id.rfind('-');
      if (dash != std::string::npos) {
        next_job_ = std::max<uint32_t>(next_job_, static_cast<uint32_t>(std::strtoul(u.id.c_str() + dash + 1, nullptr, 10)) + 1);
      }
      upgrades_[u.id] = std::move(u);
    } catch (const kj::Exception& e) {
      return Status::Corruption(path + ": " + e.getDescription().cStr());
    }
  }
  return Status::OK();
}

}  // namespace segflow::coordinator
