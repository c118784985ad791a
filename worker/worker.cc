#include "worker/worker.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/net/connection.h"
#include "engine/net/server.h"
#include "engine/schema/cluster.capnp.h"
#include "worker/attempt.h"
#include "worker/audience_service.h"

namespace segflow::worker {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How long an inbound data connection waits for its attempt to be deployed here.
constexpr auto kInboundWait = std::chrono::seconds(15);
constexpr auto kReportInterval = std::chrono::milliseconds(500);

// Holds "<dir>/worker.lock" (flock) with this process's pid in it.
class DirLock {
 public:
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Acquire(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create --dir " + dir + ": " + ec.message());
    const std::string path = dir + "/worker.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::FromErrno("open " + path, errno);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {0};
      const ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
      const std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
      return Status::Busy("--dir " + dir + " is in use by another worker (pid " + pid +
                          "); give each worker its own --dir");
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      return Status::FromErrno("write " + path, errno);
    }
    return Status::OK();
  }

 private:
  int fd_ = -1;
};

class Worker {
 public:
  explicit Worker(const WorkerOptions& options) : options_(options) {}
  Status Run();

 private:
  Status Register(int attempts);
  Status ControlLoop();
  void HandleMessage(net::InMessage* msg);
  void Prepare(wire::PrepareAttempt::Reader req);
  void Deploy(wire::DeployAttempt::Reader req);
  void CancelAttempt(wire::CancelAttempt::Reader req);
  void OnAttemptDone(const std::string& key, const Status& status);
  void SendDone(Attempt* attempt, const Status& status);
  Attempt::AckFn AckFunction();
  void SendReports();
  void HeartbeatLoop();
  void ServeInbound(std::shared_ptr<net::Connection> conn);
  void AbortAll(const std::string& reason);
  void Reap();
  bool stopping() const { return shutdown_.load() || (options_.stop != nullptr && options_.stop->load()); }
  static std::string Key(const std::string& job_id, uint32_t attempt) { return job_id + "#" + std::to_string(attempt); }

  WorkerOptions options_;
  DataRoots roots_;  // from options_.data_roots, in Run
  DirLock lock_;
  std::unique_ptr<net::Server> server_;  // inbound data connections, each authenticated
  std::string data_host_;
  std::atomic<bool> shutdown_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<net::Connection> control_;  // guarded by mu_
  uint32_t worker_id_ = 0;
  std::chrono::milliseconds heartbeat_interval_{500};
  std::map<std::string, std::shared_ptr<Attempt>> attempts_;  // guarded by mu_
  std::vector<std::shared_ptr<Attempt>> finished_;             // ended: destroyed off their own thread
};

Status Worker::Run() {
  {
    std::vector<std::string> roots = options_.data_roots;
    if (roots.empty()) roots.push_back(std::filesystem::current_path().string());
    auto made = DataRoots::Make(roots);
    if (!made.ok()) return made.status();
    roots_ = std::move(made).value();
  }
  SEGFLOW_RETURN_IF_ERROR(lock_.Acquire(options_.dir));
  if (options_.slots < 1 || options_.slots > 256) {
    return Status::InvalidArgument("--slots " + std::to_string(options_.slots) + ": a worker has 1 to 256 slots");
  }
  net::ServerOptions server_options;
  server_options.name = "segflow worker data server";
  server_options.max_connections = 1024;
  auto server = net::Server::Start(options_.listen, server_options,
                                   [this](std::shared_ptr<net::Connection> conn) { ServeInbound(std::move(conn)); });
  if (!server.ok()) return server.status().Annotate("worker data server");
  server_ = std::move(server).value();
  SEGFLOW_RETURN_IF_ERROR(Register(options_.connect_attempts));
  std::thread heartbeat_thread([this] { HeartbeatLoop(); });
  Status result;
  for (;;) {
    Status s = ControlLoop();
    if (stopping()) break;
    std::fprintf(stderr, "segflow worker %u: lost the coordinator (%s); canceling its attempts, registering again\n",
                 worker_id_, s.message().c_str());
    AbortAll("lost the coordinator: " + s.message());
    // Register again only once the aborted attempts have ended: one still ending may hold
    // its job's lock, and the coordinator would place the job's next attempt right here.
    {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      std::unique_lock<std::mutex> lock(mu_);
      while (!attempts_.empty() && !stopping() && std::chrono::steady_clock::now() < until) {
        cv_.wait_for(lock, std::chrono::milliseconds(100));  // also notices a stop signal
      }
      if (!attempts_.empty() && !stopping()) {
        std::fprintf(stderr, "segflow worker %u: %zu attempt(s) still ending after 20 s; registering anyway\n",
                     worker_id_, attempts_.size());
      }
    }
    // Register again, as a new worker, within the reconnect window.
    const auto deadline = std::chrono::steady_clock::now() + options_.reconnect_window;
    Status r;
    while (!stopping() && std::chrono::steady_clock::now() < deadline) {
      r = Register(1);
      if (r.ok()) break;
      for (int i = 0; i < 10 && !stopping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stopping()) break;
    if (!r.ok()) {
      result = Status::IOError("coordinator " + options_.coordinator.ToString() + " unreachable for " +
                               std::to_string(options_.reconnect_window.count() / 1000) + " s: " + r.message());
      break;
    }
  }
  shutdown_.store(true);
  AbortAll("worker shutting down");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (control_) control_->Close();
  }
  cv_.notify_all();
  heartbeat_thread.join();
  server_->Close();  // closes the connections still in a handshake or hello; waits for their threads
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return attempts_.empty(); });
  }
  Reap();
  return result;
}

Status Worker::Register(int attempts) {
  net::ConnectOptions options;
  options.attempts = attempts;
  auto conn_or = net::Connection::Connect(options_.coordinator, options);
  if (!conn_or.ok()) {
    return Status::IOError(conn_or.status().message() + " (is `segflow coordinator` running there?)");
  }
  std::shared_ptr<net::Connection> conn = std::move(conn_or).value();
  {
    capnp::MallocMessageBuilder msg;
    auto hello = msg.initRoot<wire::ControlMessage>().initHello();
    hello.setVersion(wire::PROTOCOL_VERSION);
    hello.setRole(wire::Role::WORKER);
    SEGFLOW_RETURN_IF_ERROR(conn->Send(msg));
  }
  auto reply = conn->Receive();
  if (!reply.ok()) return reply.status().Annotate("handshake with coordinator " + options_.coordinator.ToString());
  {
    auto root = (*reply)->Root<wire::ControlMessage>();
    if (root.which() != wire::ControlMessage::HELLO_REPLY) return Status::Corruption("coordinator sent no hello reply");
    auto hr = root.getHelloReply();
    if (!hr.getOk()) return Status::FailedPrecondition("coordinator refused this worker: " + std::string(hr.getError().cStr()));
  }
  data_host_ = options_.listen.host;
  if (data_host_ == "0.0.0.0" || data_host_ == "::") data_host_ = conn->LocalHost();
  {
    capnp::MallocMessageBuilder msg;
    auto reg = msg.initRoot<wire::ControlMessage>().initRegisterWorker();
    reg.setSlots(options_.slots);
    reg.setDataHost(data_host_);
    reg.setDataPort(server_->local().port);
    reg.setDir(options_.dir);
    reg.setPid(::getpid());
    SEGFLOW_RETURN_IF_ERROR(conn->Send(msg));
  }
  auto reg_reply = conn->Receive();
  if (!reg_reply.ok()) return reg_reply.status().Annotate("registering with coordinator");
  auto root = (*reg_reply)->Root<wire::ControlMessage>();
  if (root.which() != wire::ControlMessage::REGISTER_REPLY) return Status::Corruption("coordinator sent no register reply");
  {
    std::lock_guard<std::mutex> lock(mu_);
    worker_id_ = root.getRegisterReply().getWorkerId();
    heartbeat_interval_ = std::chrono::milliseconds(std::max<uint32_t>(50, root.getRegisterReply().getHeartbeatIntervalMs()));
    control_ = conn;
  }
  cv_.notify_all();
  if (options_.on_registered) options_.on_registered(worker_id_, data_host_ + ":" + std::to_string(server_->local().port));
  return Status::OK();
}

Status Worker::ControlLoop() {
  std::shared_ptr<net::Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = control_;
  }
  for (;;) {
    auto msg = conn->Receive();
    if (!msg.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (control_ == conn) control_.reset();
      return msg.status();
    }
    try {
      HandleMessage(msg->get());
    } catch (const kj::Exception& e) {
      // The coordinator must see this worker gone, not alive by heartbeat on a connection
      // it no longer reads: close it before registering again.
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (control_ == conn) control_.reset();
      }
      conn->Close();
      return Status::Corruption(std::string("bad control message: ") + e.getDescription().cStr());
    }
    if (shutdown_.load()) return Status::OK();
  }
}

void Worker::HandleMessage(net::InMessage* msg) {
  auto root = msg->Root<wire::ControlMessage>();
  switch (root.which()) {
    case wire::ControlMessage::PREPARE:
      Prepare(root.getPrepare());
      break;
    case wire::ControlMessage::DEPLOY:
      Deploy(root.getDeploy());
      break;
    case wire::ControlMessage::CANCEL_ATTEMPT:
      CancelAttempt(root.getCancelAttempt());
      break;
    case wire::ControlMessage::SHUTDOWN:
      shutdown_.store(true);
      break;
    case wire::ControlMessage::TRIGGER_CHECKPOINT:
    case wire::ControlMessage::CHECKPOINT_COMPLETE: {
      const bool trigger = root.which() == wire::ControlMessage::TRIGGER_CHECKPOINT;
      auto ref = trigger ? root.getTriggerCheckpoint() : root.getCheckpointComplete();
      std::shared_ptr<Attempt> attempt;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = attempts_.find(Key(ref.getJobId().cStr(), ref.getAttempt()));
        if (it != attempts_.end()) attempt = it->second;
      }
      if (attempt && trigger) attempt->TriggerCheckpoint(ref.getCheckpointId(), ref.getStop());
      if (attempt && !trigger) attempt->CompleteCheckpoint(ref.getCheckpointId());
      break;
    }
    case wire::ControlMessage::AUDIENCE_QUERY: {
      // Answered on the control thread: heartbeats have their own, and a question reads
      // one store (or, to explain, one user's records).
      capnp::MallocMessageBuilder out;
      AnswerAudienceQuery(root.getAudienceQuery(), roots_, out.initRoot<wire::ControlMessage>().initAudienceAnswer());
      std::shared_ptr<net::Connection> conn;
      {
        std::lock_guard<std::mutex> lock(mu_);
        conn = control_;
      }
      if (conn) (void)conn->Send(out);
      break;
    }
    default:
      break;  // heartbeat replies and the like: nothing to do
  }
}

void Worker::Prepare(wire::PrepareAttempt::Reader req) {
  auto plan = AttemptPlan::FromWire(req.getSpec());
  capnp::MallocMessageBuilder out;
  auto prepared = out.initRoot<wire::ControlMessage>().initPrepared();
  prepared.setJobId(req.getSpec().getJobId());
  prepared.setAttempt(req.getSpec().getAttempt());
  Status s = plan.status();
  bool refused = false;
  if (s.ok()) {
    const std::string key = Key(plan->job_id, plan->attempt);
    const std::string work = options_.dir + "/attempts/" + plan->job_id + "-" + std::to_string(plan->attempt);
    auto attempt = std::make_shared<Attempt>(std::move(plan).value(), worker_id_, work, &roots_, AckFunction(),
                                         options_.memory_budget);
    s = attempt->Prepare();
    refused = attempt->refused();
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      attempts_[key] = attempt;
    }
    cv_.notify_all();
  }
  prepared.setOk(s.ok());
  if (!s.ok()) prepared.setError(s.ToString());
  prepared.setRefused(!s.ok() && refused);
  std::shared_ptr<net::Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = control_;
  }
  if (conn) (void)conn->Send(out);
}

void Worker::Deploy(wire::DeployAttempt::Reader req) {
  auto plan = AttemptPlan::FromWire(req.getSpec());
  const std::string job_id = req.getSpec().getJobId().cStr();
  const uint32_t attempt_no = req.getSpec().getAttempt();
  const std::string key = Key(job_id, attempt_no);
  std::shared_ptr<Attempt> attempt;
  Status s = plan.status();
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempts_.find(key);
    if (it != attempts_.end()) attempt = it->second;
  }
  if (s.ok() && !attempt) {
    const std::string work = options_.dir + "/attempts/" + job_id + "-" + std::to_string(attempt_no);
    attempt = std::make_shared<Attempt>(std::move(plan).value(), worker_id_, work, &roots_, AckFunction(),
                                         options_.memory_budget);
    s = attempt->Prepare();
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      attempts_[key] = attempt;
    }
    cv_.notify_all();
  }
  if (s.ok()) s = attempt->Start([this, key](const Status& st) { OnAttemptDone(key, st); });
  if (!s.ok()) {
    std::fprintf(stderr, "segflow worker %u: %s-%u did not start: %s\n", worker_id_, job_id.c_str(), attempt_no,
                 s.ToString().c_str());
    if (attempt) {
      attempt->Cancel(true, s.message());
      std::lock_guard<std::mutex> lock(mu_);
      attempts_.erase(key);
      finished_.push_back(attempt);
    }
    if (attempt) {
      SendDone(attempt.get(), s);
      return;
    }
    capnp::MallocMessageBuilder out;
    auto done = out.initRoot<wire::ControlMessage>().initDone();
    done.setJobId(job_id);
    done.setAttempt(attempt_no);
    done.setOk(false);
    done.setError(s.ToString());
    std::shared_ptr<net::Connection> conn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conn = control_;
    }
    if (conn) (void)conn->Send(out);
  }
}

void Worker::CancelAttempt(wire::CancelAttempt::Reader req) {
  const std::string key = Key(req.getJobId().cStr(), req.getAttempt());
  std::shared_ptr<Attempt> attempt;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempts_.find(key);
    if (it != attempts_.end()) attempt = it->second;
  }
  if (attempt) attempt->Cancel(req.getAbort(), "canceled by the coordinator");
  // A prepared attempt that never started: nothing will report it done; say so here.
  if (attempt && !attempt->started()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      attempts_.erase(key);
      finished_.push_back(attempt);
    }
    SendDone(attempt.get(), Status::Cancelled("canceled before it started"));
  }
}

Attempt::AckFn Worker::AckFunction() {
  return [this](const AttemptPlan& plan, TaskKind kind, uint32_t index, uint64_t id, const Status& status,
                uint64_t bytes) {
    capnp::MallocMessageBuilder out;
    auto ack = out.initRoot<wire::ControlMessage>().initAckCheckpoint();
    ack.setJobId(plan.job_id);
    ack.setAttempt(plan.attempt);
    ack.setCheckpointId(id);
    ack.setKind(kind == TaskKind::kSource ? wire::TaskKind::SOURCE
                                          : kind == TaskKind::kKeyed ? wire::TaskKind::KEYED : wire::TaskKind::SINK);
    ack.setIndex(index);
    ack.setOk(status.ok());
    if (!status.ok()) ack.setError(status.ToString());
    ack.setBytes(bytes);
    std::shared_ptr<net::Connection> conn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conn = control_;
    }
    if (conn) (void)conn->Send(out);
  };
}

void Worker::SendDone(Attempt* attempt, const Status& status) {
  capnp::MallocMessageBuilder out;
  auto done = out.initRoot<wire::ControlMessage>().initDone();
  done.setJobId(attempt->plan().job_id);
  done.setAttempt(attempt->plan().attempt);
  done.setOk(status.ok());
  if (!status.ok()) done.setError(status.ToString());
  done.setRefused(!status.ok() && attempt->refused());
  attempt->WriteMetrics([&](unsigned n) { return done.initTasks(n); });
  if (attempt->has_sink()) {
    const SinkResult& r = attempt->sink_result();
    done.setHasSink(true);
    done.setFinished(r.finished);
    done.setHasEvaluated(r.has_evaluated);
    done.setEvaluatedThrough(r.evaluated_through);
    done.setEntered(r.entered);
    done.setExited(r.exited);
  }
  std::shared_ptr<net::Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = control_;
  }
  if (conn) (void)conn->Send(out);
}

void Worker::OnAttemptDone(const std::string& key, const Status& status) {
  // Runs on the attempt's own waiter thread: hold no owning reference here, so the
  // attempt is never destroyed (and its waiter joined) on this thread.
  Attempt* attempt = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempts_.find(key);
    if (it == attempts_.end()) return;
    attempt = it->second.get();
  }
  SendDone(attempt, status);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempts_.find(key);
    if (it != attempts_.end()) {
      finished_.push_back(std::move(it->second));  // destroyed by the heartbeat thread
      attempts_.erase(it);
    }
  }
  cv_.notify_all();
}

void Worker::SendReports() {
  std::vector<std::shared_ptr<Attempt>> running;
  std::shared_ptr<net::Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = control_;
    for (auto& [key, a] : attempts_) {
      if (a->started()) running.push_back(a);
    }
  }
  if (!conn) return;
  for (auto& a : running) {
    capnp::MallocMessageBuilder out;
    auto report = out.initRoot<wire::ControlMessage>().initReport();
    report.setJobId(a->plan().job_id);
    report.setAttempt(a->plan().attempt);
    a->WriteMetrics([&](unsigned n) { return report.initTasks(n); });
    (void)conn->Send(out);
  }
}

void Worker::HeartbeatLoop() {
  auto last_report = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutdown_.load()) {
    cv_.wait_for(lock, heartbeat_interval_);
    if (shutdown_.load()) break;
    if (stopping()) {
      // SIGINT/SIGTERM: the control loop blocks in a read; closing its connection ends it.
      if (control_) control_->Close();
      break;
    }
    std::shared_ptr<net::Connection> conn = control_;
    std::vector<std::shared_ptr<Attempt>> reap;
    reap.swap(finished_);
    lock.unlock();
    reap.clear();  // joins their (already finished) threads
    if (conn) {
      capnp::MallocMessageBuilder out;
      out.initRoot<wire::ControlMessage>().initHeartbeat().setSentAtMs(NowMs());
      (void)conn->Send(out);
    }
    if (std::chrono::steady_clock::now() - last_report >= kReportInterval) {
      SendReports();
      last_report = std::chrono::steady_clock::now();
    }
    lock.lock();
  }
}

void Worker::ServeInbound(std::shared_ptr<net::Connection> conn) {
  auto refuse = [&](const std::string& why) {
    capnp::MallocMessageBuilder out;
    auto reply = out.initRoot<wire::DataHelloReply>();
    reply.setOk(false);
    reply.setError(why);
    (void)conn->Send(out);
    conn->Close();
  };
  auto msg = conn->Receive();
  if (!msg.ok()) return;
  try {
    auto hello = (*msg)->Root<wire::DataHello>();
    if (hello.getVersion() != wire::PROTOCOL_VERSION) {
      return refuse("protocol version " + std::to_string(hello.getVersion()) + " is not this worker's " +
                    std::to_string(wire::PROTOCOL_VERSION) + " (run the same segflow build everywhere)");
    }
    const std::string key = Key(hello.getJobId().cStr(), hello.getAttempt());
    std::shared_ptr<Attempt> attempt;
    {
      // The sender's worker may have been deployed first: wait for ours.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, kInboundWait, [&] { return shutdown_.load() || attempts_.count(key) > 0; });
      auto it = attempts_.find(key);
      if (it != attempts_.end()) attempt = it->second;
    }
    if (!attempt) return refuse("attempt " + key + " is not running on this worker");
    Status s = attempt->AdoptInbound(conn, hello.getTarget(), hello.getTargetIndex(), hello.getProducers());
    if (!s.ok()) refuse(s.ToString());
  } catch (const kj::Exception& e) {
    refuse(std::string("bad data hello: ") + e.getDescription().cStr());
  }
}

void Worker::AbortAll(const std::string& reason) {
  std::vector<std::shared_ptr<Attempt>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, a] : attempts_) all.push_back(a);
  }
  for (auto& a : all) {
    a->Cancel(true, reason);
    if (!a->started()) {
      std::lock_guard<std::mutex> lock(mu_);
      attempts_.erase(Key(a->plan().job_id, a->plan().attempt));
      finished_.push_back(a);
    }
  }
  cv_.notify_all();
}

void Worker::Reap() {
  std::vector<std::shared_ptr<Attempt>> reap;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reap.swap(finished_);
    for (auto& [key, a] : attempts_) reap.push_back(a);
    attempts_.clear();
  }
}

}  // namespace

Status RunWorker(const WorkerOptions& options) { return Worker(options).Run(); }

}  // namespace segflow::worker
