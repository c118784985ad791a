// The coordinator's state and the members of Coordinator::Impl, shared by its source
// files (private to coordinator/): coordinator.cc (connections, workers, failure
// detection), scheduling.cc (attempts), checkpoint_coordinator.cc, job_store.cc
// (persistence in --dir), client_service.cc (submit, status, cancel, savepoint).
// Every member function runs with mu_ held unless its comment says otherwise.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/coordinator.h"
#include "engine/common/data_roots.h"
#include "engine/common/key_group.h"
#include "engine/net/connection.h"
#include "engine/net/server.h"
#include "engine/schema/cluster.capnp.h"
#include "jobs/execution_graph.h"

namespace segflow::coordinator {

struct HttpServerState;  // http_server.cc

// A worker's answer to an audience question (http_server.cc); without one, `status` is
// the HTTP status to answer and `error` says why.
struct AudienceReply {
  int status = 200;
  std::string error;
  std::unique_ptr<capnp::MallocMessageBuilder> answer;
};

// Fills a Cap'n Proto List(PartitionOffset), sized by the caller's init, from
// {topic, partition, offset} triples (reprocessing starts and ends).
template <typename ListBuilder>
void SetPartitionOffsets(const std::vector<std::array<uint64_t, 3>>& offsets, ListBuilder list) {
  for (unsigned i = 0; i < offsets.size(); ++i) {
    list[i].setTopic(static_cast<uint32_t>(offsets[i][0]));
    list[i].setPartition(static_cast<uint32_t>(offsets[i][1]));
    list[i].setOffset(offsets[i][2]);
  }
}

using Clock = std::chrono::steady_clock;

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline constexpr auto kMonitorTick = std::chrono::milliseconds(20);
// A worker registering more slots than this is refused (a rogue could otherwise take every job).
inline constexpr uint32_t kMaxWorkerSlots = 256;
// Completed checkpoints kept per job (older ones are deleted).
inline constexpr size_t kRetainedCheckpoints = 3;

struct PartitionSnapshot {
  uint32_t topic = 0, partition = 0;
  uint64_t offset = 0, end_offset = 0;
  bool has_watermark = false;
  int64_t watermark = 0;
};

// The last metrics a task reported.
struct TaskSnapshot {
  wire::TaskKind kind = wire::TaskKind::SOURCE;
  uint32_t index = 0;
  uint64_t records_in = 0, records_out = 0, blocked_ns = 0, late = 0, rejected = 0;
  bool has_watermark = false;
  int64_t watermark = 0;
  uint32_t kg_first = 0, kg_last = 0;
  bool done = false;
  std::vector<PartitionSnapshot> partitions;
};

inline TaskSnapshot SnapshotOf(wire::TaskMetrics::Reader m) {
  TaskSnapshot t;
  t.kind = m.getKind();
  t.index = m.getIndex();
  t.records_in = m.getRecordsIn();
  t.records_out = m.getRecordsOut();
  t.blocked_ns = m.getBlockedNs();
  t.late = m.getLateRecords();
  t.rejected = m.getRejectedRecords();
  t.has_watermark = m.getHasWatermark();
  t.watermark = m.getWatermark();
  t.kg_first = m.getKeyGroupFirst();
  t.kg_last = m.getKeyGroupLast();
  t.done = m.getDone();
  for (auto p : m.getPartitions()) {
    t.partitions.push_back({p.getTopic(), p.getPartition(), p.getOffset(), p.getEndOffset(), p.getHasWatermark(),
                            p.getWatermark()});
  }
  return t;
}

struct WorkerEntry {
  uint32_t id = 0;
  std::shared_ptr<net::Connection> conn;
  uint32_t slots = 0;
  uint32_t used = 0;
  std::string host;
  uint16_t port = 0;
  int32_t pid = 0;
  std::string dir;
  Clock::time_point last_seen;
  bool alive = true;
  std::string peer;         // the control connection's remote address, for log lines
  uint64_t rejected = 0;    // messages refused from it (logged at 1, 2, 4, ...)
  std::string Address() const { return host + ":" + std::to_string(port); }
};

// A new, empty folder "<parent>/savepoint-<job id>-<checkpoint id>" (with a random
// suffix when that name is taken) for a savepoint: one is never written over another.
Result<std::string> NewSavepointFolder(const std::string& parent, const std::string& job_id,
                                       uint64_t checkpoint_id);

struct JobEntry {
  std::string id, name, file, text, state_dir;
  bool bounded = false, has_until = false;
  int64_t until = 0;
  uint32_t max_parallelism = kDefaultMaxParallelism;
  GraphShape shape;
  wire::JobState state = wire::JobState::SCHEDULING;
  std::string reason;
  uint32_t attempt = 0, restarts = 0;
  int64_t submitted_ms = 0, ended_ms = 0;
  Clock::time_point waiting_since, restart_at;
  bool cancel_requested = false;

  // The current attempt.
  std::vector<uint32_t> source_worker, keyed_worker;
  uint32_t sink_worker = 0;
  std::map<uint32_t, uint32_t> slots_held;  // worker -> slots
  std::set<uint32_t> pending_done;          // workers whose tasks have not ended yet
  bool preparing = false;
  Clock::time_point prepare_deadline;  // preparing: the sink's worker is lost past it
  bool deployed = false;
  bool failing = false;
  bool refused = false;  // a worker refused the job's paths: failing ends the job, no restart
  std::string failure;
  std::string last_failure;  // "attempt N: why", kept across restarts
  Clock::time_point abort_deadline;  // failing: workers not done by then are declared lost
  std::map<std::pair<int, uint32_t>, TaskSnapshot> tasks;  // (kind, index)
  bool has_result = false, finished = false, has_evaluated = false;
  int64_t evaluated_through = 0;
  uint64_t entered = 0, exited = 0;

  // Checkpoints (issue #5).
  bool checkpointing = false;
  int64_t checkpoint_interval_ms = 0;
  std::string checkpoint_root;  // <checkpoint dir>/<job id>
  uint64_t next_checkpoint = 1;
  struct SavepointWanted {
    bool stop = false;
    std::string dir;
  };
  struct Pending {
    uint64_t id = 0;
    Clock::time_point started;
    int64_t started_ms = 0;
    std::set<std::pair<int, uint32_t>> acked;
    uint64_t bytes = 0;
    std::optional<SavepointWanted> savepoint;
  };
  std::optional<SavepointWanted> savepoint_wanted;
  std::string last_savepoint, savepoint_error;
  bool stopped_with_savepoint = false;
  bool end_with_savepoint = false;
  bool streaming = false;  // bounded: --runtime-mode streaming (AttemptSpec.streaming)
  std::string initial_restore;  // --from-savepoint
  std::string merge_from;       // a version upgrade's handover: the backfill's savepoint (AttemptSpec.mergeFrom)
  std::string until_savepoint;  // bounded: ends at this savepoint's source offsets (resolved into end_offsets)
  uint64_t initial_restore_id = 0;
  std::string from_savepoint_arg;
  std::string from_arg;                                   // --from as given
  std::vector<std::array<uint64_t, 3>> start_offsets;     // {topic, partition, offset}
  std::vector<std::array<uint64_t, 3>> end_offsets;       // bounded: where sources stop (--until offsets:)
  std::optional<Pending> pending_checkpoint;
  Clock::time_point last_trigger;
  struct Completed {
    uint64_t id = 0;
    std::string path;
    int64_t duration_ms = 0;
    uint64_t bytes = 0;
  };
  std::vector<Completed> completed_checkpoints;  // oldest first, at most kRetainedCheckpoints
  // Every checkpoint as it ended, completed or abandoned, oldest first, the last
  // kCheckpointHistory (in memory: a restarted coordinator starts a new one).
  struct CheckpointRecord {
    uint64_t id = 0;
    int64_t triggered_ms = 0, duration_ms = 0;
    uint64_t bytes = 0;
    bool completed = false, savepoint = false;
    std::string error;
  };
  static constexpr size_t kCheckpointHistory = 100;
  std::deque<CheckpointRecord> checkpoint_history;
  void RecordCheckpoint(const Pending& p, bool completed, const std::string& error) {
    checkpoint_history.push_back(
        {p.id, p.started_ms,
         std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - p.started).count(),
         p.bytes, completed, p.savepoint.has_value(), error});
    while (checkpoint_history.size() > kCheckpointHistory) checkpoint_history.pop_front();
  }
  std::set<uint64_t> bad_checkpoints;             // failed to restore: never tried again
  uint64_t checkpoints_completed = 0, checkpoints_abandoned = 0;
  std::string restored_from;                      // of the current attempt
  uint64_t restored_id = 0;
  // The restore point's evaluated time (its sink state): what status says until the sink
  // reports a watermark of its own.
  bool restored_has_evaluated = false;
  int64_t restored_evaluated = 0;

  bool terminal() const {
    return state == wire::JobState::FINISHED || state == wire::JobState::FAILED || state == wire::JobState::CANCELED;
  }
  bool attempt_active() const { return preparing || deployed; }
  // The tasks of the current attempt: a report or completion never lists more.
  size_t TaskCount() const { return source_worker.size() + keyed_worker.size() + 1; }
  // The worker a task of the current attempt is placed on (0: no such task).
  uint32_t PlacedOn(wire::TaskKind kind, uint32_t index) const {
    if (kind == wire::TaskKind::SOURCE) return index < source_worker.size() ? source_worker[index] : 0;
    if (kind == wire::TaskKind::KEYED) return index < keyed_worker.size() ? keyed_worker[index] : 0;
    return index == 0 ? sink_worker : 0;
  }
};

// A version upgrade in progress (upgrade.cc).
struct UpgradeEntry {
  std::string id, name, file, text;  // the new job file
  std::string old_file, old_text;    // the live job's
  std::string backfill_text;         // the new file as "<job>--backfill", with outputs of its own
  std::string from;                  // the backfill's start (the live job's --from)
  std::string carry;                 // StateCarryOver::Describe
  wire::UpgradePhase phase = wire::UpgradePhase::BACKFILL;
  std::string reason;
  std::string live_id, backfill_id, new_id, rollback_id;
  std::string live_savepoint, backfill_savepoint;
  uint32_t rounds = 0;
  uint32_t retries = 0;  // failed backfill rounds submitted again (not persisted)
  // Where the finished round's savepoint ended (read once per round; empty: not yet).
  std::vector<std::array<uint64_t, 3>> backfill_end;
  int64_t started_ms = 0, ended_ms = 0;
  Clock::time_point waiting_since;
  bool terminal() const { return phase == wire::UpgradePhase::DONE || phase == wire::UpgradePhase::FAILED; }
};

std::string BackfillJobName(const std::string& name);
// The new job file as its backfill runs it: named BackfillJobName, its changelog and
// audience store beside the live job's (`<audience>--backfill`), no shared store.
Result<std::string> BackfillJobText(const std::string& text, const JobSpec& job);
// {topic, partition, offset} of every source input in a savepoint, sorted.
Result<std::vector<std::array<uint64_t, 3>>> SavepointSourceOffsets(const std::string& dir);

// Where a job submitted with --from starts reading: every (topic, partition) at an offset.
// earliest (or empty): nothing to say; latest: the ends now; time:T: the first record with
// ts >= T (a scan); offsets:P=O,...: those partitions of every source topic.

class Coordinator::Impl {
 public:
  explicit Impl(CoordinatorOptions options) : options_(std::move(options)) {}
  ~Impl() { Shutdown(); }

  Status Start();
  void Shutdown();
  net::HostPort address() const { return server_->local(); }
  net::HostPort http_address() const;

 private:
  // Runs on the connection's own thread (net::Server), after its handshake.
  void Serve(std::shared_ptr<net::Connection> conn);
  void ServeWorker(std::shared_ptr<net::Connection> conn, wire::RegisterWorker::Reader reg);
  void ServeClient(std::shared_ptr<net::Connection> conn, net::InMessage* first);
  // Answers one client request (submit, status, savepoint, cancel) into `root`; false if
  // `in` is no client request. Used by ServeClient and the HTTP API. Takes mu_ itself, after
  // a submission's source lookups (SubmitLookups), and notifies cv_.
  bool AnswerClient(wire::ControlMessage::Reader in, wire::ControlMessage::Builder root);
  // What a submission needs from outside (the source's partitions, its --from and --until
  // offsets: Kafka lookups that may take seconds), found before mu_ is taken so that
  // heartbeats and other requests are not held up meanwhile. Unset: Submit looks up itself.
  struct SubmitLookups {
    std::optional<Result<GraphShape>> shape;
    std::optional<Result<std::vector<std::array<uint64_t, 3>>>> start, end;
  };
  SubmitLookups LookUpSubmit(wire::Submit::Reader req) const;
  // With mu_ held: HandleClientRequest's work.
  bool HandleClientRequest(wire::ControlMessage::Reader in, wire::ControlMessage::Builder root,
                           const SubmitLookups* lookups);

  // HTTP API, metrics and dashboard (http_server.cc). StartHttp binds options_.http.
  Status StartHttp();
  void StopHttp();
  // With mu_ held: the Prometheus text exposition of every listed job and the workers.
  std::string MetricsText();
  // Without mu_ held: asks the worker that holds job `id`'s audience store (its sink's,
  // or any live one if that is gone) one question filled in by `fill`, and waits for it.
  AudienceReply AskAudience(const std::string& id, const std::function<void(wire::AudienceQuery::Builder)>& fill,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void OnAudienceAnswer(wire::AudienceAnswer::Reader answer);
  void MonitorLoop();

  // With mu_ held.
  void OnWorkerMessage(uint32_t worker, wire::ControlMessage::Reader msg);
  void WorkerLost(uint32_t worker, const std::string& reason);
  void TrySchedule(JobEntry& job);
  void OnPrepared(uint32_t worker, wire::AttemptPrepared::Reader p);
  void OnDone(uint32_t worker, wire::AttemptDone::Reader d);
  void FailAttempt(JobEntry& job, const std::string& reason);
  void AttemptEnded(JobEntry& job);
  void EndJob(JobEntry& job, wire::JobState state, const std::string& reason);
  void SendToWorker(uint32_t worker, capnp::MallocMessageBuilder& msg);
  void SendCancel(JobEntry& job, uint32_t worker, bool abort);
  void FillSpec(const JobEntry& job, wire::AttemptSpec::Builder spec);
  void FillStatus(const JobEntry& job, bool with_tasks, wire::JobStatus::Builder out);
  void Submit(wire::Submit::Reader req, wire::SubmitReply::Builder reply,
              const SubmitLookups* lookups = nullptr);
  // The next free "<name>-<n>" for an accepted job. With checkpoints, also a folder
  // <checkpoint_dir>/<id> that did not exist (created here), so no two jobs ever share
  // checkpoint folders, across coordinators and `segflow run`s.
  std::string NewJobId(const std::string& name, const std::string& checkpoint_dir);
  // <dir>/jobs/<id>: the job as a restarted coordinator needs it.
  void Persist(const JobEntry& job);
  Status LoadJobs();
  void MaybeTriggerCheckpoint(JobEntry& job, Clock::time_point now);
  void OnAck(uint32_t worker, wire::AckCheckpoint::Reader ack);
  // Logs a message refused from `worker` (not the owner of the task it names), rate-limited.
  void RejectFromWorker(uint32_t worker, const std::string& what);
  void AbandonCheckpoint(JobEntry& job, const std::string& why);
  void CompleteCheckpoint(JobEntry& job);
  // The newest completed checkpoint whose metadata reads back, or nullopt.
  std::optional<JobEntry::Completed> RestorePoint(JobEntry& job);
  // Sets job.restored_has_evaluated/restored_evaluated from job.restored_from's sink file.
  void ReadRestoredEvaluated(JobEntry& job);
  void CancelJob(const std::string& id, wire::CancelReply::Builder reply);

  // Version upgrades (upgrade.cc).
  void StartUpgrade(JobEntry& live, const std::string& file, const std::string& text, const JobSpec& parsed,
                    wire::SubmitReply::Builder reply);
  void AdvanceUpgrades(Clock::time_point now);
  void EndUpgrade(UpgradeEntry& u, wire::UpgradePhase phase, const std::string& reason);
  void RollBack(UpgradeEntry& u, const std::string& why);
  // Submits the next backfill round (bounded, ending with a savepoint; up to
  // `until_savepoint`'s offsets if given); false with *error if refused.
  bool SubmitRound(UpgradeEntry& u, const std::string& until_savepoint, std::string* error);
  // Submits the new file from the live savepoint with the backfill's merged in: switching.
  void StartNewLive(UpgradeEntry& u);
  // `segflow cancel UPGRADE_ID` (while it backfills); false if `id` is no upgrade.
  bool CancelUpgrade(const std::string& id, wire::CancelReply::Builder reply);
  // Submits a job of the coordinator's own making; its id, or "" with *error. An upgrade's
  // jobs read the live job's source (`live`, if it is still known): its partition count
  // and resolved start stand in for lookups that would ask Kafka under mu_.
  std::string SubmitInternal(const std::string& file, const std::string& text, bool bounded, bool end_with_savepoint,
                             const std::string& from_savepoint, const std::string& merge_from,
                             const std::string& until_savepoint, const std::string& from, std::string* error,
                             const JobEntry* live = nullptr);
  // The live job an upgrade hands over from, or nullptr once it is gone.
  const JobEntry* LiveJobOf(const UpgradeEntry& u) const;
  void FillUpgradeStatus(const UpgradeEntry& u, wire::UpgradeStatus::Builder out);
  void PersistUpgrade(const UpgradeEntry& u);
  Status LoadUpgrades();

  CoordinatorOptions options_;
  // The folders jobs may make this coordinator touch; relative job paths resolve against
  // the first (set in Start from options_.data_roots).
  DataRoots roots_;
  int lock_fd_ = -1;
  std::unique_ptr<net::Server> server_;
  std::thread monitor_thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_ = false;
  uint32_t next_worker_ = 1;
  uint32_t next_job_ = 1;
  std::map<uint32_t, WorkerEntry> workers_;
  std::map<std::string, JobEntry> jobs_;
  std::map<std::string, UpgradeEntry> upgrades_;
  std::shared_ptr<HttpServerState> http_;
  uint64_t next_audience_query_ = 1;
  std::set<uint64_t> audience_waiting_;
  std::map<uint64_t, std::unique_ptr<capnp::MallocMessageBuilder>> audience_answers_;
};

}  // namespace segflow::coordinator
