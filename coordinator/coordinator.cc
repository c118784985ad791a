#include "coordinator/coordinator.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/net/connection.h"
#include "engine/schema/checkpoint.capnp.h"
#include "engine/schema/cluster.capnp.h"
#include "engine/state/message_file.h"
#include "jobs/execution_graph.h"
#include "engine/log/log.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "jobs/state_compatibility.h"

namespace segflow::coordinator {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr auto kMonitorTick = std::chrono::milliseconds(20);
// Completed checkpoints kept per job (older ones are deleted).
constexpr size_t kRetainedCheckpoints = 3;

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
  uint64_t records_in = 0, records_out = 0, blocked_ns = 0, late = 0;
  bool has_watermark = false;
  int64_t watermark = 0;
  uint32_t kg_first = 0, kg_last = 0;
  bool done = false;
  std::vector<PartitionSnapshot> partitions;
};

TaskSnapshot SnapshotOf(wire::TaskMetrics::Reader m) {
  TaskSnapshot t;
  t.kind = m.getKind();
  t.index = m.getIndex();
  t.records_in = m.getRecordsIn();
  t.records_out = m.getRecordsOut();
  t.blocked_ns = m.getBlockedNs();
  t.late = m.getLateRecords();
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
  std::string Address() const { return host + ":" + std::to_string(port); }
};

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
  bool deployed = false;
  bool failing = false;
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
  std::string initial_restore;  // --from-savepoint
  uint64_t initial_restore_id = 0;
  std::string from_savepoint_arg;
  std::string from_arg;                                   // --from as given
  std::vector<std::array<uint64_t, 3>> start_offsets;     // {topic, partition, offset}
  std::optional<Pending> pending_checkpoint;
  Clock::time_point last_trigger;
  struct Completed {
    uint64_t id = 0;
    std::string path;
    int64_t duration_ms = 0;
    uint64_t bytes = 0;
  };
  std::vector<Completed> completed_checkpoints;  // oldest first, at most kRetainedCheckpoints
  std::set<uint64_t> bad_checkpoints;             // failed to restore: never tried again
  uint64_t checkpoints_completed = 0, checkpoints_abandoned = 0;
  std::string restored_from;                      // of the current attempt
  uint64_t restored_id = 0;

  bool terminal() const {
    return state == wire::JobState::FINISHED || state == wire::JobState::FAILED || state == wire::JobState::CANCELED;
  }
  bool attempt_active() const { return preparing || deployed; }
};

// Where a job submitted with --from starts reading: every (topic, partition) at an offset.
// earliest (or empty): nothing to say; latest: the ends now; time:T: the first record with
// ts >= T (a scan); offsets:P=O,...: those partitions of every source topic.
Result<std::vector<std::array<uint64_t, 3>>> ResolveStart(const JobSpec& job, const GraphShape& shape,
                                                          const std::string& from) {
  std::vector<std::array<uint64_t, 3>> out;
  if (from.empty() || from == "earliest") return out;
  const auto topics = static_cast<uint32_t>(job.source.topics.size());
  auto end_of = [&](uint32_t t, uint32_t p) { return log::EndOffset(job.log_dir, job.source.topics[t], p); };
  if (from == "latest") {
    for (uint32_t t = 0; t < topics; ++t) {
      for (uint32_t p = 0; p < shape.partitions; ++p) {
        auto end = end_of(t, p);
        if (!end.ok()) return end.status();
        out.push_back({t, p, *end});
      }
    }
    return out;
  }
  if (from.rfind("time:", 0) == 0) {
    auto t_ms = ParseTimeArg(from.substr(5));
    if (!t_ms.ok()) return t_ms.status().Annotate("--from " + from);
    std::vector<log::LogRecord> records;
    for (uint32_t t = 0; t < topics; ++t) {
      for (uint32_t p = 0; p < shape.partitions; ++p) {
        auto reader = log::PartitionReader::Open(job.log_dir, job.source.topics[t], p, 0);
        if (!reader.ok()) return reader.status();
        std::optional<uint64_t> found;
        while (!found) {
          records.clear();
          auto n = (*reader)->Poll(4096, &records);
          if (!n.ok()) return n.status();
          if (*n == 0) break;
          for (const auto& r : records) {
            if (r.event.ts >= *t_ms) {
              found = r.offset;
              break;
            }
          }
        }
        out.push_back({t, p, found ? *found : (*reader)->position()});
      }
    }
    return out;
  }
  if (from.rfind("offsets:", 0) == 0) {
    std::stringstream items(from.substr(8));
    std::string item;
    while (std::getline(items, item, ',')) {
      const size_t eq = item.find('=');
      char* end_p = nullptr;
      char* end_o = nullptr;
      const unsigned long p = eq == std::string::npos ? 0 : std::strtoul(item.c_str(), &end_p, 10);
      const unsigned long long o = eq == std::string::npos ? 0 : std::strtoull(item.c_str() + eq + 1, &end_o, 10);
      if (eq == std::string::npos || end_p != item.c_str() + eq || *end_o != '\0' || eq + 1 == item.size()) {
        return Status::InvalidArgument("--from " + from + ": \"" + item + "\" is not PARTITION=OFFSET");
      }
      if (p >= shape.partitions) {
        return Status::InvalidArgument("--from " + from + ": the source topics have " +
                                       std::to_string(shape.partitions) + " partitions; there is no partition " +
                                       std::to_string(p));
      }
      for (uint32_t t = 0; t < topics; ++t) {
        auto end = end_of(t, static_cast<uint32_t>(p));
        if (!end.ok()) return end.status();
        if (o > *end) {
          return Status::InvalidArgument("--from " + from + ": offset " + std::to_string(o) +
                                         " is past the end of partition " + std::to_string(p) + " of topic \"" +
                                         job.source.topics[t] + "\" (" + std::to_string(*end) + ")");
        }
        out.push_back({t, static_cast<uint64_t>(p), o});
      }
    }
    return out;
  }
  return Status::InvalidArgument("--from \"" + from + "\": expected earliest, latest, time:T or offsets:P=O,...");
}

}  // namespace

class Coordinator::Impl {
 public:
  explicit Impl(CoordinatorOptions options) : options_(std::move(options)) {}
  ~Impl() { Shutdown(); }

  Status Start();
  void Shutdown();
  net::HostPort address() const { return listener_->local(); }

 private:
  void AcceptLoop();
  void Serve(std::shared_ptr<net::Connection> conn);
  void ServeWorker(std::shared_ptr<net::Connection> conn, wire::RegisterWorker::Reader reg);
  void ServeClient(std::shared_ptr<net::Connection> conn, net::InMessage* first);
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
  void Submit(wire::Submit::Reader req, wire::SubmitReply::Builder reply);
  // <dir>/jobs/<id>: the job as a restarted coordinator needs it.
  void Persist(const JobEntry& job);
  Status LoadJobs();
  void MaybeTriggerCheckpoint(JobEntry& job, Clock::time_point now);
  void OnAck(wire::AckCheckpoint::Reader ack);
  void AbandonCheckpoint(JobEntry& job, const std::string& why);
  void CompleteCheckpoint(JobEntry& job);
  // The newest completed checkpoint whose metadata reads back, or nullopt.
  std::optional<JobEntry::Completed> RestorePoint(JobEntry& job);
  void CancelJob(const std::string& id, wire::CancelReply::Builder reply);

  CoordinatorOptions options_;
  int lock_fd_ = -1;
  std::unique_ptr<net::Listener> listener_;
  std::thread accept_thread_;
  std::thread monitor_thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_ = false;
  uint32_t next_worker_ = 1;
  uint32_t next_job_ = 1;
  std::map<uint32_t, WorkerEntry> workers_;
  std::map<std::string, JobEntry> jobs_;
  std::vector<std::shared_ptr<net::Connection>> connections_;
  std::vector<std::thread> threads_;
};

Status Coordinator::Impl::Start() {
  if (!options_.dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) return Status::IOError("cannot create --dir " + options_.dir + ": " + ec.message());
    const std::string path = options_.dir + "/coordinator.lock";
    lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) return Status::FromErrno("open " + path, errno);
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status::Busy("--dir " + options_.dir + " is in use by another coordinator");
    }
  }
  SEGFLOW_RETURN_IF_ERROR(LoadJobs());
  auto listener = net::Listener::Bind(options_.listen);
  if (!listener.ok()) return listener.status().Annotate("coordinator");
  listener_ = std::move(listener).value();
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  monitor_thread_ = std::thread([this] { MonitorLoop(); });
  return Status::OK();
}

void Coordinator::Impl::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ || !listener_) return;
    shutdown_ = true;
    for (auto& [id, w] : workers_) {
      if (!w.alive) continue;
      capnp::MallocMessageBuilder msg;
      msg.initRoot<wire::ControlMessage>().setShutdown();
      (void)w.conn->Send(msg);
    }
    for (auto& c : connections_) c->Close();
  }
  cv_.notify_all();
  listener_->Close();
  if (accept_thread_.joinable()) accept_thread_.join();
  if (monitor_thread_.joinable()) monitor_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

void Coordinator::Impl::AcceptLoop() {
  for (;;) {
    auto conn = listener_->Accept(std::chrono::milliseconds(10000));
    if (!conn.ok()) return;
    std::shared_ptr<net::Connection> shared = std::move(conn).value();
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) {
      shared->Close();
      return;
    }
    connections_.push_back(shared);
    threads_.emplace_back([this, shared] { Serve(shared); });
  }
}

void Coordinator::Impl::Serve(std::shared_ptr<net::Connection> conn) {
  auto first = conn->Receive();
  if (!first.ok()) return;
  try {
    auto root = (*first)->Root<wire::ControlMessage>();
    if (root.which() != wire::ControlMessage::HELLO) {
      conn->Close();
      return;
    }
    auto hello = root.getHello();
    capnp::MallocMessageBuilder reply_msg;
    auto reply = reply_msg.initRoot<wire::ControlMessage>().initHelloReply();
    reply.setVersion(wire::PROTOCOL_VERSION);
    if (hello.getVersion() != wire::PROTOCOL_VERSION) {
      reply.setOk(false);
      reply.setError("protocol version " + std::to_string(hello.getVersion()) + " does not match the coordinator's " +
                     std::to_string(wire::PROTOCOL_VERSION) + ": run the same segflow build on every machine");
      (void)conn->Send(reply_msg);
      conn->Close();
      return;
    }
    reply.setOk(true);
    if (!conn->Send(reply_msg).ok()) return;
    auto next = conn->Receive();
    if (!next.ok()) return;
    auto msg = (*next)->Root<wire::ControlMessage>();
    if (hello.getRole() == wire::Role::WORKER) {
      if (msg.which() != wire::ControlMessage::REGISTER_WORKER) {
        conn->Close();
        return;
      }
      ServeWorker(conn, msg.getRegisterWorker());
    } else {
      ServeClient(conn, next->get());
    }
  } catch (const kj::Exception& e) {
    conn->Close();
  }
}

void Coordinator::Impl::ServeWorker(std::shared_ptr<net::Connection> conn, wire::RegisterWorker::Reader reg) {
  uint32_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_worker_++;
    WorkerEntry& w = workers_[id];
    w.id = id;
    w.conn = conn;
    w.slots = std::max<uint32_t>(1, reg.getSlots());
    w.host = reg.getDataHost().cStr();
    w.port = reg.getDataPort();
    w.pid = reg.getPid();
    w.dir = reg.getDir().cStr();
    w.last_seen = Clock::now();
    capnp::MallocMessageBuilder msg;
    auto r = msg.initRoot<wire::ControlMessage>().initRegisterReply();
    r.setWorkerId(id);
    r.setHeartbeatIntervalMs(static_cast<uint32_t>(options_.heartbeat_interval.count()));
    if (!conn->Send(msg).ok()) {
      w.alive = false;
      return;
    }
  }
  cv_.notify_all();
  std::string reason;
  for (;;) {
    auto msg = conn->Receive();
    if (!msg.ok()) {
      reason = msg.status().code() == Status::Code::kNotFound ? "connection closed (process gone)" : msg.status().message();
      break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(id);
    if (it == workers_.end() || !it->second.alive) return;
    it->second.last_seen = Clock::now();
    try {
      OnWorkerMessage(id, (*msg)->Root<wire::ControlMessage>());
    } catch (const kj::Exception& e) {
      reason = std::string("bad message: ") + e.getDescription().cStr();
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  WorkerLost(id, reason);
}

void Coordinator::Impl::OnWorkerMessage(uint32_t worker, wire::ControlMessage::Reader msg) {
  switch (msg.which()) {
    case wire::ControlMessage::PREPARED:
      OnPrepared(worker, msg.getPrepared());
      break;
    case wire::ControlMessage::DONE:
      OnDone(worker, msg.getDone());
      break;
    case wire::ControlMessage::ACK_CHECKPOINT:
      OnAck(msg.getAckCheckpoint());
      break;
    case wire::ControlMessage::REPORT: {
      auto r = msg.getReport();
      auto it = jobs_.find(r.getJobId().cStr());
      if (it == jobs_.end() || it->second.attempt != r.getAttempt() || !it->second.deployed) break;
      for (auto m : r.getTasks()) {
        TaskSnapshot t = SnapshotOf(m);
        it->second.tasks[{static_cast<int>(t.kind), t.index}] = std::move(t);
      }
      break;
    }
    default:
      break;  // heartbeats: last_seen is enough
  }
}

void Coordinator::Impl::WorkerLost(uint32_t worker, const std::string& reason) {
  auto it = workers_.find(worker);
  if (it == workers_.end() || !it->second.alive) return;
  WorkerEntry& w = it->second;
  w.alive = false;
  w.conn->Close();
  const std::string why = "worker " + std::to_string(worker) + " (" + w.Address() + ", pid " + std::to_string(w.pid) +
                          ") lost: " + reason;
  for (auto& [id, job] : jobs_) {
    if (job.terminal() || !job.attempt_active()) continue;
    if (!job.slots_held.count(worker)) continue;
    if (job.preparing && job.sink_worker == worker) {
      job.preparing = false;
      FailAttempt(job, why);
      AttemptEnded(job);
      continue;
    }
    if (job.pending_done.erase(worker) == 0) continue;
    FailAttempt(job, why);
    if (job.pending_done.empty()) AttemptEnded(job);
  }
  cv_.notify_all();
}

void Coordinator::Impl::SendToWorker(uint32_t worker, capnp::MallocMessageBuilder& msg) {
  auto it = workers_.find(worker);
  if (it == workers_.end() || !it->second.alive) return;
  Status s = it->second.conn->Send(msg);
  if (!s.ok()) it->second.conn->Close();  // its session ends and reports it lost
}

void Coordinator::Impl::SendCancel(JobEntry& job, uint32_t worker, bool abort) {
  capnp::MallocMessageBuilder msg;
  auto c = msg.initRoot<wire::ControlMessage>().initCancelAttempt();
  c.setJobId(job.id);
  c.setAttempt(job.attempt);
  c.setAbort(abort);
  SendToWorker(worker, msg);
}

void Coordinator::Impl::FillSpec(const JobEntry& job, wire::AttemptSpec::Builder spec) {
  spec.setJobId(job.id);
  spec.setAttempt(job.attempt);
  spec.setJobFile(job.file);
  spec.setJobText(job.text);
  spec.setBounded(job.bounded);
  spec.setHasUntil(job.has_until);
  spec.setUntil(job.until);
  spec.setPartitions(job.shape.partitions);
  spec.setSources(job.shape.sources);
  spec.setKeyed(job.shape.keyed);
  spec.setStateDir(job.state_dir);
  if (job.checkpointing) {
    spec.setCheckpointDir(job.checkpoint_root);
    spec.setTransactional(true);
    spec.setRestoreFrom(job.restored_from);
    spec.setRestoreId(job.restored_id);
    spec.setEndWithSavepoint(job.end_with_savepoint);
  }
  auto starts = spec.initStartOffsets(static_cast<unsigned>(job.start_offsets.size()));
  for (unsigned i = 0; i < job.start_offsets.size(); ++i) {
    starts[i].setTopic(static_cast<uint32_t>(job.start_offsets[i][0]));
    starts[i].setPartition(static_cast<uint32_t>(job.start_offsets[i][1]));
    starts[i].setOffset(job.start_offsets[i][2]);
  }
  auto placements = spec.initPlacements(job.shape.sources + job.shape.keyed + 1);
  unsigned i = 0;
  for (uint32_t s = 0; s < job.shape.sources; ++s) {
    placements[i].setKind(wire::TaskKind::SOURCE);
    placements[i].setIndex(s);
    placements[i++].setWorker(job.source_worker[s]);
  }
  for (uint32_t k = 0; k < job.shape.keyed; ++k) {
    placements[i].setKind(wire::TaskKind::KEYED);
    placements[i].setIndex(k);
    placements[i++].setWorker(job.keyed_worker[k]);
  }
  placements[i].setKind(wire::TaskKind::SINK);
  placements[i].setIndex(0);
  placements[i].setWorker(job.sink_worker);
  auto addrs = spec.initWorkers(static_cast<unsigned>(job.slots_held.size()));
  unsigned a = 0;
  for (const auto& [wid, n] : job.slots_held) {
    const WorkerEntry& w = workers_.at(wid);
    addrs[a].setWorkerId(wid);
    addrs[a].setHost(w.host);
    addrs[a++].setPort(w.port);
  }
}

void Coordinator::Impl::TrySchedule(JobEntry& job) {
  const auto now = Clock::now();
  std::vector<uint32_t> ids;
  uint32_t free_total = 0;
  for (auto& [id, w] : workers_) {
    if (!w.alive || w.used >= w.slots) continue;
    ids.push_back(id);
    free_total += w.slots - w.used;
  }
  const uint32_t need = job.shape.keyed;
  if (free_total < need) {
    job.reason = "waiting for " + std::to_string(need) + " free slot(s); the cluster has " +
                 std::to_string(free_total) + " (start more workers, or give them more --slots)";
    if (now - job.waiting_since >= options_.slot_wait) {
      EndJob(job, wire::JobState::FAILED,
             "not enough slots: the job needs " + std::to_string(need) + " (its parallelism), the cluster had " +
                 std::to_string(free_total) + " free for " + std::to_string(options_.slot_wait.count() / 1000) + " s");
    }
    return;
  }
  // Spread keyed tasks round-robin over the workers with free slots; source s runs
  // beside keyed task s, the sink beside keyed task 0.
  std::map<uint32_t, uint32_t> free;
  for (uint32_t id : ids) free[id] = workers_[id].slots - workers_[id].used;
  std::vector<uint32_t> order;
  while (order.size() < need) {
    for (uint32_t id : ids) {
      if (order.size() < need && free[id] > 0) {
        order.push_back(id);
        --free[id];
      }
    }
  }
  job.attempt++;
  job.pending_checkpoint.reset();
  job.restored_from.clear();
  job.restored_id = 0;
  if (job.checkpointing) {
    if (auto point = RestorePoint(job)) {
      job.restored_from = point->path;
      job.restored_id = point->id;
    } else if (!job.initial_restore.empty()) {
      job.restored_from = job.initial_restore;
      job.restored_id = job.initial_restore_id;
    }
  }
  job.last_trigger = Clock::now();
  job.keyed_worker = order;
  job.source_worker.assign(order.begin(), order.begin() + job.shape.sources);
  job.sink_worker = order[0];
  job.slots_held.clear();
  for (uint32_t id : order) {
    job.slots_held[id]++;
    workers_[id].used++;
  }
  job.pending_done.clear();
  job.tasks.clear();
  job.failing = false;
  job.failure.clear();
  job.has_result = false;
  job.deployed = false;
  job.preparing = true;
  job.state = wire::JobState::SCHEDULING;
  job.reason = "attempt " + std::to_string(job.attempt) + ": preparing outputs on worker " +
               std::to_string(job.sink_worker);
  Persist(job);
  capnp::MallocMessageBuilder msg;
  FillSpec(job, msg.initRoot<wire::ControlMessage>().initPrepare().initSpec());
  SendToWorker(job.sink_worker, msg);
}

void Coordinator::Impl::OnPrepared(uint32_t worker, wire::AttemptPrepared::Reader p) {
  auto it = jobs_.find(p.getJobId().cStr());
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  if (job.attempt != p.getAttempt() || !job.preparing || worker != job.sink_worker) return;
  job.preparing = false;
  if (!p.getOk()) {
    FailAttempt(job, std::string("preparing outputs failed: ") + p.getError().cStr());
    AttemptEnded(job);
    return;
  }
  job.deployed = true;
  for (const auto& [wid, n] : job.slots_held) job.pending_done.insert(wid);
  capnp::MallocMessageBuilder msg;
  FillSpec(job, msg.initRoot<wire::ControlMessage>().initDeploy().initSpec());
  for (const auto& [wid, n] : job.slots_held) SendToWorker(wid, msg);
  if (job.cancel_requested) {
    job.state = wire::JobState::CANCELING;
    for (uint32_t wid : job.pending_done) SendCancel(job, wid, false);
  } else {
    job.state = wire::JobState::RUNNING;
    job.reason.clear();
  }
}

void Coordinator::Impl::OnDone(uint32_t worker, wire::AttemptDone::Reader d) {
  auto it = jobs_.find(d.getJobId().cStr());
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  if (job.attempt != d.getAttempt() || !job.deployed || !job.pending_done.count(worker)) return;
  for (auto m : d.getTasks()) {
    TaskSnapshot t = SnapshotOf(m);
    job.tasks[{static_cast<int>(t.kind), t.index}] = std::move(t);
  }
  if (d.getHasSink()) {
    job.has_result = true;
    job.finished = d.getFinished();
    job.has_evaluated = d.getHasEvaluated();
    job.evaluated_through = d.getEvaluatedThrough();
    job.entered = d.getEntered();
    job.exited = d.getExited();
  }
  job.pending_done.erase(worker);
  if (!d.getOk()) {
    FailAttempt(job, "worker " + std::to_string(worker) + ": " + d.getError().cStr());
  }
  if (job.pending_done.empty()) AttemptEnded(job);
}

void Coordinator::Impl::FailAttempt(JobEntry& job, const std::string& reason) {
  if (job.failing) return;
  job.failing = true;
  job.failure = reason;
  job.last_failure = "attempt " + std::to_string(job.attempt) + ": " + reason;
  if (job.pending_checkpoint) AbandonCheckpoint(job, "attempt failed");
  // An attempt that could not read its checkpoint: the next one starts from an older one.
  if (!job.restored_from.empty() && reason.find(job.restored_from) != std::string::npos) {
    job.bad_checkpoints.insert(job.restored_id);
    job.last_failure += " (checkpoint " + std::to_string(job.restored_id) + " is unusable; the next attempt starts from an older one)";
  }
  job.abort_deadline = Clock::now() + options_.heartbeat_timeout * 2;
  if (!job.cancel_requested) {
    job.state = wire::JobState::RESTARTING;
    job.reason = reason;
  }
  for (uint32_t wid : job.pending_done) SendCancel(job, wid, true);
}

void Coordinator::Impl::AttemptEnded(JobEntry& job) {
  for (const auto& [wid, n] : job.slots_held) {
    auto w = workers_.find(wid);
    if (w != workers_.end()) w->second.used -= std::min(w->second.used, n);
  }
  job.slots_held.clear();
  job.deployed = false;
  job.preparing = false;
  if (job.cancel_requested) {
    EndJob(job, wire::JobState::CANCELED, "canceled by the user");
  } else if (job.stopped_with_savepoint && !job.failing) {
    EndJob(job, wire::JobState::FINISHED, "stopped with savepoint " + job.last_savepoint);
  } else if (job.failing) {
    if (job.restarts < options_.max_restarts) {
      job.restarts++;
      job.state = wire::JobState::RESTARTING;
      job.reason = "attempt " + std::to_string(job.attempt) + " failed (" + job.failure + "); restarting from the " +
                   "beginning of the log (restart " + std::to_string(job.restarts) + " of at most " +
                   std::to_string(options_.max_restarts) + ")";
      job.restart_at = Clock::now() + options_.restart_delay;
      job.waiting_since = job.restart_at;
      Persist(job);
    } else {
      EndJob(job, wire::JobState::FAILED,
             job.failure + " (gave up after " + std::to_string(job.restarts) + " restart(s))");
    }
  } else if (job.bounded && !(job.has_result && job.finished)) {
    EndJob(job, wire::JobState::FAILED, "the tasks ended before the bounded input was evaluated");
  } else {
    EndJob(job, job.bounded ? wire::JobState::FINISHED : wire::JobState::CANCELED,
           job.bounded ? "" : "stopped");
  }
  cv_.notify_all();
}

void Coordinator::Impl::EndJob(JobEntry& job, wire::JobState state, const std::string& reason) {
  job.state = state;
  job.reason = reason;
  job.ended_ms = NowMs();
  Persist(job);
  cv_.notify_all();
}

void Coordinator::Impl::MonitorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutdown_) {
    cv_.wait_for(lock, kMonitorTick);
    if (shutdown_) break;
    const auto now = Clock::now();
    std::vector<uint32_t> silent;
    for (auto& [id, w] : workers_) {
      if (w.alive && now - w.last_seen > options_.heartbeat_timeout) silent.push_back(id);
    }
    for (uint32_t id : silent) {
      WorkerLost(id, "no heartbeat for " + std::to_string(options_.heartbeat_timeout.count()) + " ms (hung or partitioned)");
    }
    for (auto& [id, job] : jobs_) {
      if (job.failing && job.deployed && now > job.abort_deadline) {
        const std::set<uint32_t> stuck = job.pending_done;
        for (uint32_t w : stuck) {
          WorkerLost(w, "did not stop the tasks of " + job.id + " within " +
                            std::to_string(2 * options_.heartbeat_timeout.count()) + " ms of being told to");
        }
      }
    }
    for (auto& [id, job] : jobs_) MaybeTriggerCheckpoint(job, now);
    for (auto& [id, job] : jobs_) {
      if (job.terminal() || job.attempt_active()) continue;
      if (job.cancel_requested) {
        EndJob(job, wire::JobState::CANCELED, "canceled by the user");
        continue;
      }
      if (job.state == wire::JobState::RESTARTING && now < job.restart_at) continue;
      TrySchedule(job);
    }
  }
}

void Coordinator::Impl::Submit(wire::Submit::Reader req, wire::SubmitReply::Builder reply) {
  const std::string file = req.getJobFile().cStr();
  const std::string text = req.getJobText().cStr();
  JobParseResult parsed = ParseJobText(text, file);
  if (!parsed.ok()) {
    reply.setOk(false);
    reply.setError(parsed.ErrorText() + std::to_string(parsed.errors.size()) + " error(s) in " + file +
                   "; nothing was deployed");
    return;
  }
  auto shape = PlanGraph(parsed.job);
  if (!shape.ok()) {
    reply.setOk(false);
    reply.setError(shape.status().message() + "; nothing was deployed");
    return;
  }
  const std::string id = parsed.job.name + "-" + std::to_string(next_job_++);
  JobEntry& job = jobs_[id];
  job.id = id;
  job.name = parsed.job.name;
  job.file = file;
  job.text = text;
  job.bounded = req.getBounded();
  job.has_until = req.getHasUntil();
  job.until = req.getUntil();
  job.state_dir = req.getStateDir().size() > 0 ? std::string(req.getStateDir().cStr()) : DefaultStateDir(parsed.job);
  job.max_parallelism = parsed.job.max_parallelism;
  job.checkpointing = parsed.job.checkpoint.enabled;
  job.checkpoint_interval_ms = parsed.job.checkpoint.interval_ms;
  job.checkpoint_root = parsed.job.checkpoint.dir + "/" + id;
  job.end_with_savepoint = req.getEndWithSavepoint();
  if ((job.end_with_savepoint || req.getFromSavepoint().size() > 0) && !job.checkpointing) {
    const std::string why = "savepoints need the job's checkpoint block (e.g. checkpoint: {interval: 10s})";
    jobs_.erase(id);
    reply.setOk(false);
    reply.setError(why + "; nothing was deployed");
    return;
  }
  if (job.end_with_savepoint && !job.bounded) {
    jobs_.erase(id);
    reply.setOk(false);
    reply.setError("--end-with-savepoint needs --bounded; nothing was deployed");
    return;
  }
  if (req.getFromSavepoint().size() > 0) {
    const std::string from = std::filesystem::absolute(std::string(req.getFromSavepoint().cStr())).lexically_normal().string();
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
        } else if (std::string changed = StateIncompatibility(m.getJobText().cStr(), text); !changed.empty()) {
          why = "savepoint " + from + " holds state of other segment definitions (" + changed +
                "): a savepoint restores only unchanged segments, profile, consent and source fields "
                "(parallelism may change); replay the log for the new definitions instead";
        } else {
          job.initial_restore = from;
          job.initial_restore_id = m.getCheckpointId();
          job.next_checkpoint = m.getCheckpointId() + 1;
        }
      } catch (const kj::Exception& e) {
        why = "corrupt savepoint metadata " + from + "/_metadata";
      }
    }
    if (!why.empty()) {
      jobs_.erase(id);
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
    jobs_.erase(id);
    reply.setOk(false);
    reply.setError("--from and --from-savepoint exclude each other (a savepoint has its own offsets); nothing was deployed");
    return;
  }
  auto start = ResolveStart(parsed.job, *shape, job.from_arg);
  if (!start.ok()) {
    jobs_.erase(id);
    reply.setOk(false);
    reply.setError(start.status().message() + "; nothing was deployed");
    return;
  }
  job.start_offsets = std::move(start).value();
  Persist(job);
  TrySchedule(job);
  reply.setOk(true);
  reply.setJobId(id);
}

void Coordinator::Impl::CancelJob(const std::string& id, wire::CancelReply::Builder reply) {
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
    c.setRestoredFrom(job.restored_from);
    c.setLastSavepoint(job.last_savepoint);
    c.setSavepointPending(job.savepoint_wanted.has_value() ||
                          (job.pending_checkpoint && job.pending_checkpoint->savepoint.has_value()));
    c.setSavepointError(job.savepoint_error);
  }
  uint64_t in = 0, late = 0;
  for (const auto& [key, t] : job.tasks) {
    if (t.kind == wire::TaskKind::SOURCE) {
      in += t.records_in;
      late += t.late;
    }
  }
  out.setRecordsIn(in);
  out.setLateRecords(late);
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
      out.setEvaluatedThrough(sink->second.watermark);
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

void Coordinator::Impl::MaybeTriggerCheckpoint(JobEntry& job, Clock::time_point now) {
  if (!job.checkpointing || !job.deployed || job.failing || job.cancel_requested ||
      job.state != wire::JobState::RUNNING) {
    return;
  }
  if (job.pending_checkpoint) {
    const auto timeout = options_.checkpoint_timeout.count() > 0
                             ? options_.checkpoint_timeout
                             : std::max<std::chrono::milliseconds>(
                                   std::chrono::milliseconds(10 * job.checkpoint_interval_ms), std::chrono::seconds(10));
    if (now - job.pending_checkpoint->started > timeout) {
      AbandonCheckpoint(job, "timed out after " + std::to_string(timeout.count()) + " ms");
    }
    return;
  }
  // A bounded job that ends with a savepoint: once every source is at its end offsets.
  if (job.end_with_savepoint && !job.savepoint_wanted && !job.stopped_with_savepoint) {
    uint32_t at_end = 0;
    for (const auto& [key, t] : job.tasks) {
      if (t.kind != wire::TaskKind::SOURCE || t.partitions.empty()) continue;
      bool all = true;
      for (const auto& p : t.partitions) all = all && p.offset >= p.end_offset;
      at_end += all;
    }
    if (at_end == job.shape.sources) job.savepoint_wanted = JobEntry::SavepointWanted{true, ""};
  }
  if (!job.savepoint_wanted && now - job.last_trigger < std::chrono::milliseconds(job.checkpoint_interval_ms)) return;
  if (job.stopped_with_savepoint) return;
  // A bounded source that has ended takes no more barriers: no checkpoint after that.
  for (const auto& [key, t] : job.tasks) {
    if (t.kind == wire::TaskKind::SOURCE && t.done) return;
  }
  job.last_trigger = now;
  JobEntry::Pending p;
  p.id = job.next_checkpoint++;
  p.started = now;
  p.started_ms = NowMs();
  p.savepoint = job.savepoint_wanted;
  job.savepoint_wanted.reset();
  job.pending_checkpoint = p;
  capnp::MallocMessageBuilder msg;
  auto ref = msg.initRoot<wire::ControlMessage>().initTriggerCheckpoint();
  ref.setJobId(job.id);
  ref.setAttempt(job.attempt);
  ref.setCheckpointId(p.id);
  ref.setStop(p.savepoint && p.savepoint->stop);
  for (const auto& [wid, n] : job.slots_held) SendToWorker(wid, msg);
}

void Coordinator::Impl::AbandonCheckpoint(JobEntry& job, const std::string& why) {
  if (!job.pending_checkpoint) return;
  std::error_code ec;
  std::filesystem::remove_all(job.checkpoint_root + "/chk-" + std::to_string(job.pending_checkpoint->id), ec);
  job.checkpoints_abandoned++;
  job.reason = "checkpoint " + std::to_string(job.pending_checkpoint->id) + " abandoned: " + why;
  if (job.pending_checkpoint->savepoint) job.savepoint_error = "savepoint abandoned: " + why;
  job.pending_checkpoint.reset();
}

void Coordinator::Impl::OnAck(wire::AckCheckpoint::Reader ack) {
  auto it = jobs_.find(ack.getJobId().cStr());
  if (it == jobs_.end()) return;
  JobEntry& job = it->second;
  if (job.attempt != ack.getAttempt() || !job.pending_checkpoint || job.pending_checkpoint->id != ack.getCheckpointId()) {
    return;
  }
  if (!ack.getOk()) {
    AbandonCheckpoint(job, std::string("declined: ") + ack.getError().cStr());
    return;
  }
  job.pending_checkpoint->acked.insert({static_cast<int>(ack.getKind()), ack.getIndex()});
  job.pending_checkpoint->bytes += ack.getBytes();
  if (job.pending_checkpoint->acked.size() == job.shape.sources + job.shape.keyed + 1) CompleteCheckpoint(job);
}

void Coordinator::Impl::CompleteCheckpoint(JobEntry& job) {
  const JobEntry::Pending p = *job.pending_checkpoint;
  job.pending_checkpoint.reset();
  const std::string dir = job.checkpoint_root + "/chk-" + std::to_string(p.id);
  capnp::MallocMessageBuilder meta;
  auto m = meta.initRoot<schema::CheckpointMetadata>();
  m.setFormatVersion(schema::CHECKPOINT_FORMAT_VERSION);
  m.setJobId(job.id);
  m.setJobName(job.name);
  m.setCheckpointId(p.id);
  m.setAttempt(job.attempt);
  m.setTriggeredAtMs(p.started_ms);
  m.setCompletedAtMs(NowMs());
  m.setPartitions(job.shape.partitions);
  m.setSources(job.shape.sources);
  m.setKeyed(job.shape.keyed);
  m.setMaxParallelism(job.max_parallelism);
  m.setBytes(p.bytes);
  m.setJobText(job.text);
  Status s = WriteMessageFile(dir + "/_metadata", meta);
  if (!s.ok()) {
    job.checkpoints_abandoned++;
    job.reason = "checkpoint " + std::to_string(p.id) + " abandoned: " + s.message();
    return;
  }
  job.checkpoints_completed++;
  job.completed_checkpoints.push_back(
      {p.id, dir, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - p.started).count(), p.bytes});
  // The sink makes what the checkpoint covers visible (transactional changelog).
  capnp::MallocMessageBuilder msg;
  auto ref = msg.initRoot<wire::ControlMessage>().initCheckpointComplete();
  ref.setJobId(job.id);
  ref.setAttempt(job.attempt);
  ref.setCheckpointId(p.id);
  SendToWorker(job.sink_worker, msg);
  if (p.savepoint) {
    // Self-contained: the files are hard-linked (or copied) out of the checkpoint, which
    // retention may delete later.
    const std::string target = !p.savepoint->dir.empty()
                                   ? p.savepoint->dir
                                   : std::filesystem::path(job.checkpoint_root).parent_path().string() +
                                         "/savepoints/" + job.id + "-" + std::to_string(p.id);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(target).parent_path(), ec);
    std::filesystem::copy(dir, target,
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::create_hard_links,
                          ec);
    if (ec) {
      ec.clear();
      std::filesystem::remove_all(target, ec);
      std::filesystem::copy(dir, target, std::filesystem::copy_options::recursive, ec);
    }
    if (ec) {
      job.savepoint_error = "cannot write savepoint " + target + ": " + ec.message();
    } else {
      job.last_savepoint = target;
      job.savepoint_error.clear();
      if (p.savepoint->stop) job.stopped_with_savepoint = true;
    }
  }
  while (job.completed_checkpoints.size() > kRetainedCheckpoints) {
    std::error_code ec;
    std::filesystem::remove_all(job.completed_checkpoints.front().path, ec);
    job.completed_checkpoints.erase(job.completed_checkpoints.begin());
  }
  Persist(job);
}

std::optional<JobEntry::Completed> Coordinator::Impl::RestorePoint(JobEntry& job) {
  for (auto it = job.completed_checkpoints.rbegin(); it != job.completed_checkpoints.rend(); ++it) {
    if (job.bad_checkpoints.count(it->id)) continue;
    auto meta = MessageFile::Read(it->path + "/_metadata");
    if (meta.ok()) return *it;
    job.bad_checkpoints.insert(it->id);
    job.last_failure += (job.last_failure.empty() ? "" : "; ") + std::string("checkpoint ") + std::to_string(it->id) +
                        " skipped: " + meta.status().message();
  }
  return std::nullopt;
}

void Coordinator::Impl::Persist(const JobEntry& job) {
  if (options_.dir.empty()) return;
  capnp::MallocMessageBuilder msg;
  auto p = msg.initRoot<wire::PersistedJob>();
  p.setJobId(job.id);
  auto sub = p.initSubmit();
  sub.setJobFile(job.file);
  sub.setJobText(job.text);
  sub.setBounded(job.bounded);
  sub.setHasUntil(job.has_until);
  sub.setUntil(job.until);
  sub.setStateDir(job.state_dir);
  sub.setFromSavepoint(job.from_savepoint_arg);
  sub.setEndWithSavepoint(job.end_with_savepoint);
  p.setState(job.state);
  p.setReason(job.reason);
  p.setAttempt(job.attempt);
  p.setRestarts(job.restarts);
  p.setSubmittedAtMs(job.submitted_ms);
  p.setEndedAtMs(job.ended_ms);
  auto list = p.initCheckpoints(static_cast<unsigned>(job.completed_checkpoints.size()));
  for (unsigned i = 0; i < job.completed_checkpoints.size(); ++i) {
    const auto& c = job.completed_checkpoints[i];
    list[i].setId(c.id);
    list[i].setPath(c.path);
    list[i].setDurationMs(c.duration_ms);
    list[i].setBytes(c.bytes);
  }
  p.setNextCheckpoint(job.next_checkpoint);
  p.setCompleted(job.checkpoints_completed);
  p.setAbandoned(job.checkpoints_abandoned);
  p.setLastSavepoint(job.last_savepoint);
  p.setStoppedWithSavepoint(job.stopped_with_savepoint);
  p.setInitialRestore(job.initial_restore);
  p.setInitialRestoreId(job.initial_restore_id);
  p.setLastFailure(job.last_failure);
  sub.setFrom(job.from_arg);
  auto starts = p.initStartOffsets(static_cast<unsigned>(job.start_offsets.size()));
  for (unsigned i = 0; i < job.start_offsets.size(); ++i) {
    starts[i].setTopic(static_cast<uint32_t>(job.start_offsets[i][0]));
    starts[i].setPartition(static_cast<uint32_t>(job.start_offsets[i][1]));
    starts[i].setOffset(job.start_offsets[i][2]);
  }
  Status s = WriteMessageFile(options_.dir + "/jobs/" + job.id, msg);
  if (!s.ok()) std::fprintf(stderr, "segflow coordinator: cannot persist job %s: %s\n", job.id.c_str(), s.ToString().c_str());
}

Status Coordinator::Impl::LoadJobs() {
  if (options_.dir.empty()) return Status::OK();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir + "/jobs", ec)) {
    const std::string path = entry.path().string();
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".tmp") == 0) continue;
    auto file = MessageFile::Read(path);
    if (!file.ok()) return file.status().Annotate("coordinator --dir " + options_.dir);
    try {
      auto p = (*file)->Root<wire::PersistedJob>();
      auto sub = p.getSubmit();
      JobParseResult parsed = ParseJobText(sub.getJobText().cStr(), sub.getJobFile().cStr());
      if (!parsed.ok()) return Status::Corruption(path + ": its job text no longer parses");
      JobEntry& job = jobs_[p.getJobId().cStr()];
      job.id = p.getJobId().cStr();
      job.name = parsed.job.name;
      job.file = sub.getJobFile().cStr();
      job.text = sub.getJobText().cStr();
      job.bounded = sub.getBounded();
      job.has_until = sub.getHasUntil();
      job.until = sub.getUntil();
      job.state_dir = sub.getStateDir().cStr();
      job.from_savepoint_arg = sub.getFromSavepoint().cStr();
      job.end_with_savepoint = sub.getEndWithSavepoint();
      job.max_parallelism = parsed.job.max_parallelism;
      job.checkpointing = parsed.job.checkpoint.enabled;
      job.checkpoint_interval_ms = parsed.job.checkpoint.interval_ms;
      job.checkpoint_root = parsed.job.checkpoint.dir + "/" + job.id;
      job.state = p.getState();
      job.reason = p.getReason().cStr();
      job.attempt = p.getAttempt();
      job.restarts = p.getRestarts();
      job.submitted_ms = p.getSubmittedAtMs();
      job.ended_ms = p.getEndedAtMs();
      for (auto c : p.getCheckpoints()) {
        job.completed_checkpoints.push_back({c.getId(), c.getPath().cStr(), c.getDurationMs(), c.getBytes()});
      }
      job.next_checkpoint = p.getNextCheckpoint();
      job.checkpoints_completed = p.getCompleted();
      job.checkpoints_abandoned = p.getAbandoned();
      job.last_savepoint = p.getLastSavepoint().cStr();
      job.stopped_with_savepoint = p.getStoppedWithSavepoint();
      job.initial_restore = p.getInitialRestore().cStr();
      job.initial_restore_id = p.getInitialRestoreId();
      job.last_failure = p.getLastFailure().cStr();
      job.from_arg = sub.getFrom().cStr();
      for (auto so : p.getStartOffsets()) job.start_offsets.push_back({so.getTopic(), so.getPartition(), so.getOffset()});
      // Checkpoints completed after the last persist (the coordinator died in between)
      // are found on disk: a folder with its _metadata is complete.
      for (const auto& chk : std::filesystem::directory_iterator(job.checkpoint_root, ec)) {
        const std::string name = chk.path().filename().string();
        if (name.rfind("chk-", 0) != 0) continue;
        const uint64_t cid = std::strtoull(name.c_str() + 4, nullptr, 10);
        const bool known = std::any_of(job.completed_checkpoints.begin(), job.completed_checkpoints.end(),
                                       [&](const JobEntry::Completed& c) { return c.id == cid; });
        if (known || !MessageFile::Read(chk.path().string() + "/_metadata").ok()) continue;
        job.completed_checkpoints.push_back({cid, chk.path().string(), 0, 0});
        job.next_checkpoint = std::max(job.next_checkpoint, cid + 1);
      }
      std::sort(job.completed_checkpoints.begin(), job.completed_checkpoints.end(),
                [](const JobEntry::Completed& a, const JobEntry::Completed& b) { return a.id < b.id; });
      auto shape = PlanGraph(parsed.job);
      if (shape.ok()) job.shape = *shape;
      const size_t dash = job.id.rfind('-');
      if (dash != std::string::npos) {
        next_job_ = std::max<uint32_t>(next_job_, static_cast<uint32_t>(std::strtoul(job.id.c_str() + dash + 1, nullptr, 10)) + 1);
      }
      if (!job.terminal()) {
        // Its attempt died with the old coordinator: start again from the last checkpoint.
        job.state = wire::JobState::RESTARTING;
        job.reason = "the coordinator restarted; resuming from the last completed checkpoint";
        job.last_failure = "attempt " + std::to_string(job.attempt) + ": the coordinator was restarted";
        job.restart_at = Clock::now() + options_.restart_delay;
        job.waiting_since = job.restart_at;
        job.cancel_requested = false;
        if (!shape.ok()) EndJob(job, wire::JobState::FAILED, shape.status().message());
      }
    } catch (const kj::Exception& e) {
      return Status::Corruption(path + ": " + e.getDescription().cStr());
    }
  }
  return Status::OK();
}

void Coordinator::Impl::ServeClient(std::shared_ptr<net::Connection> conn, net::InMessage* first) {
  std::unique_ptr<net::InMessage> next;
  net::InMessage* msg = first;
  for (;;) {
    capnp::MallocMessageBuilder out;
    auto root = out.initRoot<wire::ControlMessage>();
    {
      auto in = msg->Root<wire::ControlMessage>();
      std::lock_guard<std::mutex> lock(mu_);
      switch (in.which()) {
        case wire::ControlMessage::SUBMIT:
          Submit(in.getSubmit(), root.initSubmitReply());
          break;
        case wire::ControlMessage::STATUS: {
          auto reply = root.initStatusReply();
          const std::string id = in.getStatus().getJobId().cStr();
          if (id.empty()) {
            reply.setOk(true);
            auto list = reply.initJobs(static_cast<unsigned>(jobs_.size()));
            unsigned i = 0;
            for (const auto& [jid, job] : jobs_) FillStatus(job, false, list[i++]);
          } else if (auto it = jobs_.find(id); it != jobs_.end()) {
            reply.setOk(true);
            FillStatus(it->second, true, reply.initJobs(1)[0]);
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
          break;
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
          } else {
            it->second.savepoint_wanted = JobEntry::SavepointWanted{req.getStop(), req.getDir().cStr()};
            it->second.savepoint_error.clear();
            reply.setOk(true);
          }
          break;
        }
        case wire::ControlMessage::CANCEL_JOB:
          CancelJob(in.getCancelJob().getJobId().cStr(), root.initCancelReply());
          break;
        default:
          return;
      }
    }
    cv_.notify_all();
    if (!conn->Send(out).ok()) return;
    auto received = conn->Receive();
    if (!received.ok()) return;
    next = std::move(received).value();
    msg = next.get();
  }
}

Coordinator::Coordinator(CoordinatorOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Coordinator::~Coordinator() = default;
Status Coordinator::Start() { return impl_->Start(); }
net::HostPort Coordinator::address() const { return impl_->address(); }
void Coordinator::Shutdown() { impl_->Shutdown(); }

}  // namespace segflow::coordinator
