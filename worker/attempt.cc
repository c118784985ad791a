#include "worker/attempt.h"

#include <filesystem>

#include "engine/common/key_group.h"
#include "engine/net/credit_stream.h"
#include "engine/common/owned_dir.h"
#include "jobs/job_parser.h"
#include "jobs/job_paths.h"
#include "operators/runtime/restore_migration.h"
#include "operators/runtime/wire_codec.h"
#include "operators/sink/postgres_committer.h"

namespace segflow::worker {
namespace {

// Frames in flight per data connection (each up to 1024 records): bounds the memory a
// connection can hold whatever the rates at its two ends.
constexpr uint32_t kCreditsPerConnection = 8;
// Outboxes between local producers and a sender: small, the credits do the buffering.
constexpr size_t kOutboxCapacity = 8;

void FillTaskMetrics(const TaskCounters& c, wire::TaskKind kind, uint32_t index, wire::TaskMetrics::Builder out) {
  out.setKind(kind);
  out.setIndex(index);
  out.setRecordsIn(c.records_in.load(std::memory_order_relaxed));
  out.setRecordsOut(c.records_out.load(std::memory_order_relaxed));
  out.setBlockedNs(c.blocked_ns.load(std::memory_order_relaxed));
  out.setLateRecords(c.late_records.load(std::memory_order_relaxed));
  out.setRejectedRecords(c.rejected_records.load(std::memory_order_relaxed));
  const int64_t wm = c.watermark.load(std::memory_order_relaxed);
  out.setHasWatermark(wm != TaskCounters::kNoTime);
  out.setWatermark(wm == TaskCounters::kNoTime ? 0 : wm);
  out.setDone(c.done.load(std::memory_order_relaxed));
  const bool ready = c.partitions_ready.load(std::memory_order_acquire);
  auto list = out.initPartitions(static_cast<unsigned>(ready ? c.partitions.size() : 0));
  unsigned i = 0;
  for (const auto& p : c.partitions) {
    if (i >= list.size()) break;
    auto w = list[i++];
    w.setTopic(p.topic);
    w.setPartition(p.partition);
    w.setOffset(p.offset.load(std::memory_order_relaxed));
    w.setEndOffset(p.end_offset);
    const int64_t pwm = p.watermark.load(std::memory_order_relaxed);
    w.setHasWatermark(pwm != TaskCounters::kNoTime);
    w.setWatermark(pwm == TaskCounters::kNoTime ? 0 : pwm);
  }
}

}  // namespace

Attempt::Attempt(AttemptPlan plan, uint32_t self, std::string work_dir, const DataRoots* roots, AckFn ack,
                 size_t memory_budget)
    : plan_(std::move(plan)),
      self_(self),
      work_dir_(std::move(work_dir)),
      roots_(roots),
      ack_(std::move(ack)),
      memory_budget_(memory_budget) {
  const GraphShape& shape = plan_.shape;
  for (uint32_t s = 0; s < shape.sources; ++s) {
    if (plan_.source_worker[s] == self_) local_.sources.push_back(s);
  }
  for (uint32_t k = 0; k < shape.keyed; ++k) {
    if (plan_.keyed_worker[k] == self_) local_.keyed.push_back(k);
  }
  local_.sink = plan_.sink_worker == self_;
  counters_ = std::make_unique<GraphCounters>(shape);

  // A keyed task's endpoint here: its input if it runs here, else (if a local source
  // feeds it) the outbox to its worker.
  endpoints_.keyed.assign(shape.keyed, nullptr);
  for (uint32_t k = 0; k < shape.keyed; ++k) {
    const bool local = plan_.keyed_worker[k] == self_;
    if (!local && local_.sources.empty()) continue;
    keyed_channels_.push_back(
        std::make_unique<BoundedChannel<KeyedInput>>(local ? kKeyedChannelCapacity : kOutboxCapacity));
    endpoints_.keyed[k] = keyed_channels_.back().get();
    group_.CloseOnCancel(endpoints_.keyed[k]);
  }
  if (local_.sink || !local_.keyed.empty()) {
    sink_channel_ = std::make_unique<BoundedChannel<SinkMessage>>(local_.sink ? kSinkChannelCapacity : kOutboxCapacity);
    endpoints_.sink = sink_channel_.get();
    group_.CloseOnCancel(endpoints_.sink);
  }
}

Attempt::~Attempt() {
  group_.Cancel("attempt destroyed");
  if (waiter_.joinable()) waiter_.join();
  group_.Join();
}

Status Attempt::CheckPaths() {
  // The plan's folders are used as checked: relative ones against this worker's first data
  // root, as Check resolves them, never against the process's working folder (a fuzzed
  // plan's relative state folder was checked inside the root and created outside it).
  if (plan_.state_dir.empty()) {
    refused_ = true;
    return Status::InvalidArgument("attempt " + plan_.Name() + ": the plan names no state folder");
  }
  for (std::string* path : {&plan_.state_dir, &plan_.checkpoint_dir, &plan_.restore_from, &plan_.merge_from}) {
    if (!path->empty()) *path = roots_->Absolute(*path);
  }
  Status s = CheckJobPaths(job_, plan_.state_dir, *roots_,
                           {{"checkpoint folder", plan_.checkpoint_dir},
                            {"restore from", plan_.restore_from},
                            {"merge savepoint", plan_.merge_from}});
  // The sink's worker resets these two: only folders Segflow made (or nothing yet).
  if (s.ok() && local_.sink) s = CheckOwnableDir(plan_.state_dir, "job " + job_.name + ": state folder");
  if (s.ok() && local_.sink) {
    s = CheckOwnableDir(job_.output.audience_dir, "job " + job_.name + ": audience store");
  }
  if (!s.ok()) refused_ = true;
  return s;
}

Status Attempt::Prepare() {
  // Relative paths resolve against this worker's first data root, never a client's folder.
  JobParseResult parsed = ParseJobText(plan_.job_text, plan_.job_file, roots_->base());
  if (!parsed.ok()) return Status::InvalidArgument("job file no longer valid here:\n" + parsed.ErrorText());
  job_ = std::move(parsed.job);
  SEGFLOW_RETURN_IF_ERROR(CheckPaths());
  auto program = SegmentProgram::Compile(job_);
  if (!program.ok()) return program.status();
  ctx_.job = &job_;
  ctx_.program = *program;
  ctx_.options.bounded = plan_.bounded;
  ctx_.options.batch = !plan_.streaming;
  ctx_.options.has_until = plan_.has_until;
  ctx_.options.until = plan_.until;
  ctx_.options.state_dir = work_dir_;
  ctx_.options.start_offsets = plan_.start_offsets;
  ctx_.options.end_offsets = plan_.end_offsets;
  ctx_.options.sort_memory_bytes =
      SortMemoryPerKeyedTask(memory_budget_, static_cast<uint32_t>(local_.keyed.size()));
  ctx_.partitions = plan_.shape.partitions;
  ctx_.keyed_tasks = plan_.shape.keyed;
  ctx_.late_topic = LateTopic(job_);
  ctx_.stop = &stop_;
  if (!plan_.checkpoint_dir.empty()) {
    hooks_.transactional = plan_.transactional;
    hooks_.restore_dir = plan_.restore_from;
    hooks_.restore_id = plan_.restore_id;
    hooks_.restore_is_savepoint = plan_.restore_is_savepoint;
    if (!plan_.restore_from.empty()) {
      auto migration =
          PlanRestoreMigration(plan_.restore_from, plan_.job_text, plan_.job_file, ctx_.program, plan_.merge_from);
      if (!migration.ok()) return migration.status();
      hooks_.restore_migration = std::move(migration).value();
      hooks_.merge_dir = plan_.merge_from;
    }
    hooks_.end_with_savepoint = plan_.end_with_savepoint;
    hooks_.requested.store(plan_.restore_id);
    hooks_.completed.store(plan_.restore_id);
    const std::string root = plan_.checkpoint_dir;
    hooks_.dir = [root](uint64_t id) { return root + "/chk-" + std::to_string(id); };
    hooks_.ack = [this](TaskKind kind, uint32_t index, uint64_t id, const Status& s, uint64_t bytes) {
      if (ack_) ack_(plan_, kind, index, id, s, bytes);
    };
    ctx_.checkpoints = &hooks_;
  }
  std::error_code ec;
  std::filesystem::remove_all(work_dir_, ec);
  std::filesystem::create_directories(work_dir_, ec);
  if (ec) return Status::IOError("create " + work_dir_ + ": " + ec.message());
  if (local_.sink) {
    auto outputs = PreparedOutputs::Prepare(job_, plan_.state_dir, plan_.shape.partitions, ctx_.checkpoints);
    if (!outputs.ok()) return outputs.status();
    outputs_ = std::move(outputs).value();
    // The PostgreSQL table (output.postgres) is checked before any task runs: server,
    // login and the table's shape, so that the job fails with libpq's message rather than
    // with its tasks' lost connections. A live job fails only for a table of another
    // shape; for the rest its sink retries.
    if (job_.output.postgres.enabled()) {
      auto pg = PostgresCommitter::Open(job_, false, nullptr);
      if (!pg.ok() && (plan_.bounded || pg.status().code() == Status::Code::kFailedPrecondition)) {
        return pg.status();
      }
    }
  }
  return Status::OK();
}

Status Attempt::Start(DoneFn on_done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return Status::Cancelled("attempt " + plan_.Name() + " was canceled before it started");
    started_ = true;
  }
  if (ctx_.job == nullptr) SEGFLOW_RETURN_IF_ERROR(Prepare());
  // Senders: one per remote receiving task that local tasks feed.
  const uint32_t local_sources = static_cast<uint32_t>(local_.sources.size());
  const uint32_t local_keyed = static_cast<uint32_t>(local_.keyed.size());
  for (uint32_t k = 0; k < plan_.shape.keyed; ++k) {
    if (plan_.keyed_worker[k] != self_ && local_sources > 0) {
      SEGFLOW_RETURN_IF_ERROR(SpawnSender(plan_.keyed_worker[k], wire::TaskKind::KEYED, k, local_sources));
    }
  }
  if (!local_.sink && local_keyed > 0) {
    SEGFLOW_RETURN_IF_ERROR(SpawnSender(plan_.sink_worker, wire::TaskKind::SINK, 0, local_keyed));
  }
  SpawnGraphTasks(&group_, &ctx_, plan_.shape, local_, endpoints_, counters_.get(), &sink_result_);
  waiter_ = std::thread([this, on_done = std::move(on_done)] {
    Status s = group_.Join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = true;
    }
    outputs_.reset();  // releases the job lock
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
    on_done(s);
  });
  return Status::OK();
}

void Attempt::Cancel(bool abort, const std::string& reason) {
  if (abort) {
    group_.Cancel(reason);
  } else {
    stop_.store(true);
  }
}

void Attempt::TriggerCheckpoint(uint64_t id, bool stop) {
  if (ctx_.checkpoints == nullptr) return;
  if (stop) hooks_.stop_at.store(id);
  uint64_t prev = hooks_.requested.load();
  while (prev < id && !hooks_.requested.compare_exchange_weak(prev, id)) {
  }
  for (uint32_t s : local_.sources) {
    if (counters_->sources[s]->done.load()) {
      hooks_.ack(TaskKind::kSource, s, id, Status::FailedPrecondition("source task " + std::to_string(s) + " has ended"),
                 0);
    }
  }
}

void Attempt::CompleteCheckpoint(uint64_t id) {
  if (ctx_.checkpoints == nullptr) return;
  uint64_t prev = hooks_.completed.load();
  while (prev < id && !hooks_.completed.compare_exchange_weak(prev, id)) {
  }
}

Status Attempt::SpawnSender(uint32_t to_worker, wire::TaskKind target, uint32_t index, uint32_t producers) {
  const net::HostPort to = plan_.workers.at(to_worker);
  const std::string name = std::string(target == wire::TaskKind::SINK ? "sender to the sink" : "sender to keyed task ") +
                           (target == wire::TaskKind::SINK ? "" : std::to_string(index)) + " on " + to.ToString();
  group_.Spawn(name, [this, to, target, index, producers](CancellationToken& cancel) -> Status {
    net::ConnectOptions options;
    options.attempts = 40;
    options.max_backoff = std::chrono::milliseconds(500);
    options.canceled = [&cancel] { return cancel.cancelled(); };
    auto conn_or = net::Connection::Connect(to, options);
    if (!conn_or.ok()) return conn_or.status();
    std::shared_ptr<net::Connection> conn = std::move(conn_or).value();
    {
      std::lock_guard<std::mutex> lock(mu_);
      connections_.push_back(conn);
    }
    cancel.OnCancel([conn] { conn->Close(); });
    capnp::MallocMessageBuilder hello_msg;
    auto hello = hello_msg.initRoot<wire::DataHello>();
    hello.setVersion(wire::PROTOCOL_VERSION);
    hello.setJobId(plan_.job_id);
    hello.setAttempt(plan_.attempt);
    hello.setTarget(target);
    hello.setTargetIndex(index);
    hello.setProducers(producers);
    hello.setFromWorker(self_);
    SEGFLOW_RETURN_IF_ERROR(conn->Send(hello_msg));
    auto reply_msg = conn->Receive();
    if (!reply_msg.ok()) return reply_msg.status().Annotate("data handshake with " + to.ToString());
    auto reply = (*reply_msg)->Root<wire::DataHelloReply>();
    if (!reply.getOk()) return Status::FailedPrecondition("worker " + to.ToString() + " refused data: " + reply.getError().cStr());
    const uint32_t credits = reply.getCredits();
    if (target == wire::TaskKind::SINK) {
      return net::SendStream(
          sink_channel_.get(), conn.get(), credits, producers,
          [](const SinkMessage& m, wire::DataFrame::Builder b) { EncodeSinkMessage(m, b); },
          [](const SinkMessage& m) { return IsEnd(m); }, cancel);
    }
    return net::SendStream(
        endpoints_.keyed[index], conn.get(), credits, producers,
        [](const KeyedInput& m, wire::DataFrame::Builder b) { EncodeKeyedInput(m, b); },
        [](const KeyedInput& m) { return IsEnd(m); }, cancel);
  });
  return Status::OK();
}

Status Attempt::AdoptInbound(std::shared_ptr<net::Connection> conn, wire::TaskKind target, uint32_t index,
                             uint32_t producers) {
  if (target == wire::TaskKind::SINK ? !local_.sink
                                     : (index >= plan_.shape.keyed || plan_.keyed_worker[index] != self_)) {
    return Status::InvalidArgument("attempt " + plan_.Name() + ": that task does not run on this worker");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return Status::Cancelled("attempt " + plan_.Name() + " has ended");
    connections_.push_back(conn);
  }
  group_.token().OnCancel([conn] { conn->Close(); });
  capnp::MallocMessageBuilder reply_msg;
  auto reply = reply_msg.initRoot<wire::DataHelloReply>();
  reply.setOk(true);
  reply.setCredits(kCreditsPerConnection);
  SEGFLOW_RETURN_IF_ERROR(conn->Send(reply_msg));
  const std::string name = "receiver from " + conn->peer();
  if (target == wire::TaskKind::SINK) {
    group_.Spawn(name, [this, conn, producers](CancellationToken&) {
      return net::ReceiveStream(
          conn.get(), sink_channel_.get(), producers,
          [](wire::DataFrame::Reader r, SinkMessage* m) { return DecodeSinkMessage(r, m); },
          [](const SinkMessage& m) { return IsEnd(m); });
    });
  } else {
    group_.Spawn(name, [this, conn, index, producers](CancellationToken&) {
      return net::ReceiveStream(
          conn.get(), endpoints_.keyed[index], producers,
          [](wire::DataFrame::Reader r, KeyedInput* m) { return DecodeKeyedInput(r, m); },
          [](const KeyedInput& m) { return IsEnd(m); });
    });
  }
  return Status::OK();
}

void Attempt::WriteMetrics(std::function<capnp::List<wire::TaskMetrics>::Builder(unsigned)> init) const {
  const unsigned n = static_cast<unsigned>(local_.sources.size() + local_.keyed.size() + (local_.sink ? 1 : 0));
  auto list = init(n);
  unsigned i = 0;
  for (uint32_t s : local_.sources) FillTaskMetrics(*counters_->sources[s], wire::TaskKind::SOURCE, s, list[i++]);
  for (uint32_t k : local_.keyed) {
    auto m = list[i++];
    FillTaskMetrics(*counters_->keyed[k], wire::TaskKind::KEYED, k, m);
    const auto range = KeyGroupRange::ForSubtask(k, job_.max_parallelism, plan_.shape.keyed);
    m.setKeyGroupFirst(range.first);
    m.setKeyGroupLast(range.last);
  }
  if (local_.sink) FillTaskMetrics(counters_->sink, wire::TaskKind::SINK, 0, list[i++]);
}

}  // namespace segflow::worker
