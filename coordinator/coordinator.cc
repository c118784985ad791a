// Coordinator: its connections, the workers, failure detection, and the public API.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "coordinator/coordinator_impl.h"
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace segflow::coordinator {

Status Coordinator::Impl::Start() {
  {
    std::vector<std::string> roots = options_.data_roots;
    if (roots.empty()) roots.push_back(std::filesystem::current_path().string());
    auto made = DataRoots::Make(roots);
    if (!made.ok()) return made.status();
    roots_ = std::move(made).value();
  }
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
  SEGFLOW_RETURN_IF_ERROR(LoadUpgrades());
  net::ServerOptions server_options;
  server_options.name = "segflow coordinator";
  server_options.credentials = options_.credentials;
  server_options.max_connections = options_.max_connections;
  auto server = net::Server::Start(options_.listen, server_options,
                                   [this](std::shared_ptr<net::Connection> conn) { Serve(std::move(conn)); });
  if (!server.ok()) return server.status().Annotate("coordinator");
  server_ = std::move(server).value();
  monitor_thread_ = std::thread([this] { MonitorLoop(); });
  if (options_.http) {
    if (Status s = StartHttp(); !s.ok()) {
      Shutdown();
      return s;
    }
  }
  return Status::OK();
}

void Coordinator::Impl::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ || !server_) return;
    shutdown_ = true;
    for (auto& [id, w] : workers_) {
      if (!w.alive) continue;
      capnp::MallocMessageBuilder msg;
      msg.initRoot<wire::ControlMessage>().setShutdown();
      (void)w.conn->Send(msg);
    }
  }
  cv_.notify_all();
  StopHttp();
  if (monitor_thread_.joinable()) monitor_thread_.join();
  server_->Close();  // closes every connection and waits for their threads
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
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
  if (reg.getSlots() > kMaxWorkerSlots) {
    std::fprintf(stderr, "segflow coordinator: refused the worker at %s: %u slots (at most %u)\n",
                 conn->peer().c_str(), reg.getSlots(), kMaxWorkerSlots);
    return;
  }
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
    w.peer = conn->peer();
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
      OnAck(worker, msg.getAckCheckpoint());
      break;
    case wire::ControlMessage::REPORT: {
      auto r = msg.getReport();
      auto it = jobs_.find(r.getJobId().cStr());
      if (it == jobs_.end() || it->second.attempt != r.getAttempt() || !it->second.deployed) break;
      // A list of empty elements costs a sender nothing (8 bytes name millions, within the
      // traversal limit) and each costs a pass of the loop below, under the lock: a list
      // longer than the job's is refused. (Read once: each read counts against that limit.)
      const auto tasks = r.getTasks();
      if (tasks.size() > it->second.TaskCount()) {
        RejectFromWorker(worker, "a report of " + std::to_string(tasks.size()) + " tasks for " + it->second.id +
                                     ", which has " + std::to_string(it->second.TaskCount()));
        break;
      }
      for (auto m : tasks) {
        if (it->second.PlacedOn(m.getKind(), m.getIndex()) != worker) {
          RejectFromWorker(worker, "metrics of a task of " + it->second.id + " that is not placed on it");
          continue;
        }
        TaskSnapshot t = SnapshotOf(m);
        it->second.tasks[{static_cast<int>(t.kind), t.index}] = std::move(t);
      }
      break;
    }
    case wire::ControlMessage::AUDIENCE_ANSWER:
      OnAudienceAnswer(msg.getAudienceAnswer());
      break;
    default:
      break;  // heartbeats: last_seen is enough
  }
}

void Coordinator::Impl::RejectFromWorker(uint32_t worker, const std::string& what) {
  auto it = workers_.find(worker);
  if (it == workers_.end()) return;
  const uint64_t n = ++it->second.rejected;
  if ((n & (n - 1)) != 0) return;  // 1, 2, 4, 8, ...: a flood cannot flood the log
  std::fprintf(stderr, "segflow coordinator: refused from worker %u (%s): %s (%llu refused so far)\n", worker,
               it->second.peer.c_str(), what.c_str(), static_cast<unsigned long long>(n));
}

void Coordinator::Impl::WorkerLost(uint32_t worker, const std::string& reason) {
  auto it = workers_.find(worker);
  if (it == workers_.end() || !it->second.alive) return;
  WorkerEntry& w = it->second;
  w.alive = false;
  w.conn->Close();
  w.conn.reset();  // its descriptor closes once its session thread lets go too
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
      if (job.preparing && now > job.prepare_deadline) {
        WorkerLost(job.sink_worker, "did not answer the prepare of " + job.id + " attempt " +
                                        std::to_string(job.attempt) + " within " +
                                        std::to_string(options_.prepare_timeout.count()) + " ms");
      }
      if (job.failing && job.deployed && now > job.abort_deadline) {
        const std::set<uint32_t> stuck = job.pending_done;
        for (uint32_t w : stuck) {
          WorkerLost(w, "did not stop the tasks of " + job.id + " within " +
                            std::to_string(2 * options_.heartbeat_timeout.count()) + " ms of being told to");
        }
      }
    }
    for (auto& [id, job] : jobs_) MaybeTriggerCheckpoint(job, now);
    AdvanceUpgrades(now);
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

Coordinator::Coordinator(CoordinatorOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Coordinator::~Coordinator() = default;
Status Coordinator::Start() { return impl_->Start(); }
net::HostPort Coordinator::address() const { return impl_->address(); }
net::HostPort Coordinator::http_address() const { return impl_->http_address(); }
void Coordinator::Shutdown() { impl_->Shutdown(); }


}  // namespace segflow::coordinator
