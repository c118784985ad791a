#include "operators/runtime/changelog_sink_task.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "operators/runtime/barrier_aligner.h"
#include "operators/runtime/changelog_merger.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/version_switch.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/live_audience.h"
#include "operators/sink/audience_versions.h"
#include "operators/sink/erasure_ledger.h"
#include "operators/sink/kafka_changelog_committer.h"
#include "operators/sink/postgres_committer.h"

namespace segflow {
namespace {

// How often a live run makes its output durable and advances the evaluated time.
constexpr auto kCommitInterval = std::chrono::milliseconds(50);
// How often at most a live run without checkpoints writes to a shared audience store
// (each write opens it, as other jobs' sinks write it too).
constexpr auto kSharedCommitInterval = std::chrono::milliseconds(1000);

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Fault injection for backpressure tests: SEGFLOW_FAULT_SINK_DELAY_MS=N makes the sink
// sleep N ms per message it takes in (a deliberately slow sink).
std::chrono::milliseconds InjectedSinkDelay() {
  const char* v = std::getenv("SEGFLOW_FAULT_SINK_DELAY_MS");
  return std::chrono::milliseconds(v == nullptr ? 0 : std::max(0L, std::strtol(v, nullptr, 10)));
}

// How long a stopping live job waits for its PostgreSQL table to take the queued commits
// (SEGFLOW_PG_DRAIN_TIMEOUT_MS: tests shorten it).
std::chrono::milliseconds PostgresDrainTimeout() {
  const char* v = std::getenv("SEGFLOW_PG_DRAIN_TIMEOUT_MS");
  return std::chrono::milliseconds(v == nullptr ? 30000 : std::max(0L, std::strtol(v, nullptr, 10)));
}

}  // namespace

ChangelogSinkTask::ChangelogSinkTask(JobContext* ctx, BoundedChannel<SinkMessage>* input, SinkResult* result,
                                     TaskCounters* counters)
    : ctx_(ctx), input_(input), result_(result), counters_(counters) {}

Status ChangelogSinkTask::Run() {
  const JobSpec& job = *ctx_->job;
  const uint32_t partitions = ctx_->partitions;
  ChangelogMerger merger(ctx_->keyed_tasks, partitions);

  std::vector<std::unique_ptr<log::PartitionWriter>> writers(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    auto w = log::PartitionWriter::Open(job.log_dir, job.output.changelog, p);
    if (!w.ok()) return w.status();
    writers[p] = std::move(w).value();
  }
  auto store = AudienceStore::OpenForWrite(job.output.audience_dir);
  if (!store.ok()) return store.status();
  // Segment lists and metrics of this worker read this handle while the run writes.
  LiveAudienceRegistration lent(job.output.audience_dir, store->get());

  std::vector<AudienceStore::Change> store_changes;
  std::vector<ChangeRecord> released;
  std::vector<bool> touched(partitions, false);
  uint32_t ends = 0;
  bool finished = true;
  int64_t final_until = ChangelogMerger::kNone;
  std::optional<int64_t> last_evaluated;

  std::vector<std::vector<ChangeRecord>> held_back(partitions);
  // A version upgrade's handover (version_switch.h): nothing is released until every keyed
  // task has sent its switch changes (they come first) and the switch records are made.
  VersionSwitch version_switch;
  bool switch_pending = false;
  std::vector<bool> reported(ctx_->keyed_tasks, false);
  CheckpointHooks* hooks = ctx_->checkpoints;
  const bool transactional = hooks != nullptr && hooks->transactional;
  if (hooks != nullptr && !hooks->restore_dir.empty()) {
    // Every instant below a partition's frontier at the checkpoint is in the changelog
    // (truncated back to the checkpoint by the attempt's preparation).
    auto state = ReadSinkCheckpoint(hooks->restore_dir);
    if (!state.ok()) return state.status();
    if (state->frontiers.size() != partitions || state->idle.size() != partitions) {
      return Status::Corruption("checkpoint " + hooks->restore_dir + " has another number of partitions");
    }
    for (uint32_t p = 0; p < partitions; ++p) {
      if (state->frontiers[p] == ChangelogMerger::kNone) continue;
      for (uint32_t k = 0; k < ctx_->keyed_tasks; ++k) merger.Progress(k, p, state->frontiers[p], state->idle[p]);
    }
    result_->entered = state->entered;
    result_->exited = state->exited;
    if (state->has_evaluated) last_evaluated = state->evaluated;
    // Changes later than the checkpoint's evaluated time, held back (ChangelogMerger);
    // those of a segment the job no longer has are dropped with it.
    std::vector<std::string> ids;
    for (const auto& segment : job.segments) ids.push_back(segment.id);
    std::vector<bool> merged(ids.size(), false);
    SinkCheckpointState backfill;
    if (!hooks->merge_dir.empty()) {
      // A version upgrade's handover: the changed and added segments (their version in the
      // store, still the old job's, is not this job's) switch at one instant.
      auto merge_state = ReadSinkCheckpoint(hooks->merge_dir);
      if (!merge_state.ok()) return merge_state.status();
      backfill = std::move(merge_state).value();
      auto recorded = (*store)->Versions();
      if (!recorded.ok()) return recorded.status();
      for (uint32_t i = 0; i < ids.size(); ++i) {
        auto now = job.segment_versions.find(ids[i]);
        auto was = recorded->find(ids[i]);
        merged[i] = now != job.segment_versions.end() &&
                    (was == recorded->end() || was->second != now->second);
      }
      version_switch = VersionSwitch::Plan(*state, backfill, ids, merged, partitions, &held_back);
      switch_pending = true;
    } else {
      version_switch = VersionSwitch::Plan(*state, backfill, ids, merged, partitions, &held_back);
    }
  }
  for (uint32_t p = 0; p < partitions; ++p) {
    if (!held_back[p].empty()) merger.Add(p, std::move(held_back[p]));
  }
  // The PostgreSQL audience table (output.postgres), brought to the restored checkpoint
  // first; then it gets each published checkpoint's changes (postgres_committer.h).
  // The same for the Kafka changelog (output.changelog.kafka, kafka_changelog_committer.h):
  // the committers (sink_committer.h) that make each completed checkpoint visible outside.
  std::unique_ptr<PostgresCommitter> pg;
  std::unique_ptr<KafkaChangelogCommitter> kafka;
  std::vector<SinkCommitter*> committers;
  if (job.output.postgres.enabled()) {
    auto opened = PostgresCommitter::Open(job, !ctx_->options.bounded, ctx_->stop);
    if (!opened.ok()) return opened.status();
    pg = std::move(opened).value();
    committers.push_back(pg.get());
  }
  if (job.output.kafka.enabled()) {
    auto opened =
        KafkaChangelogCommitter::Open(job, partitions, !ctx_->options.bounded, ctx_->stop);
    if (!opened.ok()) return opened.status();
    kafka = std::move(opened).value();
    committers.push_back(kafka.get());
  }
  if (!committers.empty()) {
    CommitProgress restored{hooks != nullptr ? hooks->restore_id : 0, last_evaluated, {}};
    for (auto& w : writers) restored.offsets.push_back(w->NextOffset());
    for (SinkCommitter* c : committers) {
      SEGFLOW_RETURN_IF_ERROR(c->Restore(restored, hooks == nullptr || hooks->restore_dir.empty()));
    }
  }
  std::vector<AudienceStore::Change> pg_changes;  // not transactional: since the last table commit
  auto last_pg = std::chrono::steady_clock::now();
  // Checkpoints taken but not completed yet (transactional): what they will commit.
  struct PendingCommit {
    uint64_t id = 0;
    log::CommitMarker marker;
    std::vector<AudienceStore::Change> changes;
  };
  std::deque<PendingCommit> pending;

  // Users erased by `segflow forget` (erasure_ledger.h): their changes up to the erasure
  // are dropped, and their rows erased from the audience stores once per ledger record.
  ErasureWatch erasures(LedgerPath(job));
  SEGFLOW_RETURN_IF_ERROR(erasures.Load());
  Erasures erased_in_stores;

  auto write = [&](uint32_t p, ChangeRecord& c, bool switched) {
    if (erasures.Erased(c.user, c.at)) return;
    Event e;
    e.user = c.user;
    e.type = c.entered ? "entered" : "exited";
    e.ts = c.at;
    e.props = Value::Object({{"segment", Value::String(job.segments[c.segment].id)}});
    // Spec §6 allows further fields: a version switch's records say so.
    if (switched) e.props.mutable_object().emplace_back("cause", Value::String("version-switch"));
    writers[p]->Append(e);
    (c.entered ? result_->entered : result_->exited)++;
    counters_->records_out.fetch_add(1, std::memory_order_relaxed);
    store_changes.push_back({job.segments[c.segment].id, std::move(c.user), c.entered, c.at, c.pos});
  };
  // The job's evaluated time as far as released (never moving back): no change later
  // than it is written, so the changelog and the audience committed with an evaluated
  // time hold exactly the changes at or before it, whichever partition ran ahead.
  std::optional<int64_t> released_through = last_evaluated;
  auto release = [&](uint32_t p) {
    if (!released_through || switch_pending) return;
    released.clear();
    merger.Release(p, *released_through, &released);
    for (auto& c : released) write(p, c, c.switched);
  };

  // Evaluated time: every partition not idle has evaluated all instants < its frontier.
  auto evaluated = [&]() -> std::optional<int64_t> {
    int64_t active = ChangelogMerger::kDone, any = ChangelogMerger::kDone;
    bool has_active = false, has_any = false;
    for (uint32_t p = 0; p < partitions; ++p) {
      const int64_t f = merger.Frontier(p);
      if (f == ChangelogMerger::kNone) {
        if (merger.Idle(p)) continue;  // an empty, idle partition holds nothing back
        return std::nullopt;
      }
      if (!merger.Idle(p)) {
        active = std::min(active, f);
        has_active = true;
      }
      any = std::min(any, f);
      has_any = true;
    }
    if (has_active) return active - 1;
    if (has_any) return any - 1;
    return std::nullopt;
  };

  auto offsets = [&]() {
    std::vector<uint64_t> out;
    for (auto& w : writers) out.push_back(w->NextOffset());
    return out;
  };
  // The shared, reconciled audience store (job file `output.shared_audience`), if any:
  // it gets exactly what the own store gets (committed changes), under the job's name.
  const std::string& shared_dir = job.output.shared_audience_dir;
  std::vector<AudienceStore::Change> shared_pending;
  std::optional<int64_t> shared_through;
  auto last_shared = std::chrono::steady_clock::now();
  auto apply_shared = [&](const std::vector<AudienceStore::Change>& changes, std::optional<int64_t> through,
                          bool sync, bool now) -> Status {
    if (shared_dir.empty()) return Status::OK();
    shared_pending.insert(shared_pending.end(), changes.begin(), changes.end());
    if (through) shared_through = through;
    if (!now && std::chrono::steady_clock::now() - last_shared < kSharedCommitInterval) return Status::OK();
    last_shared = std::chrono::steady_clock::now();
    if (shared_pending.empty() && !sync && !shared_through) return Status::OK();
    AudienceStore::ApplyOptions o;
    o.sync = sync;
    o.writer = job.name;
    o.now_ms = WallMillis();
    SEGFLOW_RETURN_IF_ERROR(ApplyToSharedStore(shared_dir, shared_pending, shared_through, o));
    shared_pending.clear();
    shared_through.reset();
    return Status::OK();
  };
  const bool fresh_store = hooks == nullptr || hooks->restore_dir.empty();
  // Segments that stop serving in the own store with its next Apply (removed from the job).
  std::vector<std::string> retiring;
  auto apply_own = [&](const std::vector<AudienceStore::Change>& changes, std::optional<int64_t> through,
                       bool sync) -> Status {
    AudienceStore::ApplyOptions o;
    o.sync = sync;
    o.now_ms = WallMillis();
    // Every Apply carries the job's versions: the first one (a restored store still
    // labelled with the versions of the job that wrote the checkpoint) switches them
    // atomically with the first changes of this job.
    o.versions = job.segment_versions;
    o.retired = retiring;
    // A fresh attempt's store held nothing of this job before it (PreparedOutputs reset
    // it) and gets each row's changes in the order they were made: applied in order, with
    // no read of the row per change. A restored one may hold later stamps: compared.
    o.ordered = fresh_store;
    o.fresh = fresh_store;
    SEGFLOW_RETURN_IF_ERROR((*store)->Apply(changes, through, o));
    retiring.clear();
    return Status::OK();
  };
  bool final_publish = false;  // the run's last publish, after its last checkpoint
  // Makes `marker`'s records visible and applies `changes` to the audience store(s).
  auto publish = [&](const log::CommitMarker& marker, const std::vector<AudienceStore::Change>& changes) -> Status {
    SEGFLOW_RETURN_IF_ERROR(log::WriteCommitMarker(job.log_dir, job.output.changelog, marker));
    SEGFLOW_RETURN_IF_ERROR(apply_own(changes, marker.evaluated, true));
    SEGFLOW_RETURN_IF_ERROR(apply_shared(changes, marker.evaluated, true, true));
    const CommitProgress progress{marker.checkpoint, marker.evaluated, marker.offsets,
                                  final_publish ? "end" : "checkpoint"};
    for (SinkCommitter* c : committers) SEGFLOW_RETURN_IF_ERROR(c->Commit(changes, progress));
    return Status::OK();
  };
  auto commit = [&](bool sync, std::optional<int64_t> through) -> Status {
    for (auto& w : writers) {
      if (w->buffered() > 0 || sync) SEGFLOW_RETURN_IF_ERROR(w->Flush(sync));
    }
    if (transactional) {
      // Records are written but stay invisible until a checkpoint covering them completes.
      if (through && (!last_evaluated || *through > *last_evaluated)) {
        last_evaluated = through;
        counters_->watermark.store(*through, std::memory_order_relaxed);
      }
      return Status::OK();
    }
    if (through && last_evaluated && *through <= *last_evaluated) through.reset();
    if (through) {
      last_evaluated = through;
      counters_->watermark.store(*through, std::memory_order_relaxed);
    }
    SEGFLOW_RETURN_IF_ERROR(apply_own(store_changes, through, sync));
    SEGFLOW_RETURN_IF_ERROR(apply_shared(store_changes, through, sync, sync));
    if (!committers.empty()) {
      pg_changes.insert(pg_changes.end(), store_changes.begin(), store_changes.end());
      if (sync || std::chrono::steady_clock::now() - last_pg >= kSharedCommitInterval) {
        const CommitProgress progress{0, last_evaluated, offsets(), sync ? "end" : "interval"};
        for (SinkCommitter* c : committers)
          SEGFLOW_RETURN_IF_ERROR(c->Commit(pg_changes, progress));
        pg_changes.clear();
        last_pg = std::chrono::steady_clock::now();
      }
    }
    store_changes.clear();
    return Status::OK();
  };

  // Erases, in the own and the shared store, every ledger user not erased there yet.
  auto erase_in_stores = [&]() -> Status {
    for (const auto& [user, at] : erasures.erasures()) {
      auto done = erased_in_stores.find(user);
      if (done != erased_in_stores.end() && done->second >= at) continue;
      auto already = (*store)->ErasedAt(user);
      if (!already.ok()) return already.status();
      if (!*already || **already < at) SEGFLOW_RETURN_IF_ERROR((*store)->Erase(user, at).status());
      if (!shared_dir.empty()) {
        // Init-captures, not the bindings themselves: clang 14 (the fuzz build) cannot
        // capture structured bindings.
        SEGFLOW_RETURN_IF_ERROR(WithSharedStore(shared_dir, 30000, [&user = user, at = at](AudienceStore* shared) -> Status {
          auto prev = shared->ErasedAt(user);
          if (!prev.ok()) return prev.status();
          if (*prev && **prev >= at) return Status::OK();
          return shared->Erase(user, at).status();
        }));
      }
      if (pg) SEGFLOW_RETURN_IF_ERROR(pg->Erase(user, at));
      erased_in_stores[user] = at;
    }
    return Status::OK();
  };
  SEGFLOW_RETURN_IF_ERROR(erase_in_stores());

  // Versions (issue 6 item 2): each segment whose serving version in the own store is not
  // this job's stops serving with the first Apply; before anything is applied, its
  // members as the store holds them (the old job's audience at the restored checkpoint)
  // are frozen under the old version. A restarted attempt freezes again: a no-op. Shared
  // stores are not versioned (several jobs feed them).
  if (!job.segment_versions.empty()) {
    auto recorded = (*store)->Versions();
    if (!recorded.ok()) return recorded.status();
    for (const auto& [segment, version] : *recorded) {
      auto now = job.segment_versions.find(segment);
      if (now != job.segment_versions.end() && now->second == version) continue;
      auto frozen = FreezeVersion(**store, job.output.audience_dir, job.name, segment, version, WallMillis());
      if (!frozen.ok()) return frozen.status().Annotate("freeze version " + version + " of segment " + segment);
      if (now == job.segment_versions.end()) retiring.push_back(segment);
    }
  }

  auto current_evaluated = [&]() {
    // A finished keyed task's frontiers are "done": the job has evaluated through its
    // --until at most, whatever the merger's frontiers say.
    std::optional<int64_t> through = evaluated();
    if (through && final_until != ChangelogMerger::kNone) through = std::min(*through, final_until);
    if (through && (!released_through || *through > *released_through)) released_through = through;
    return released_through;
  };
  // Checkpoint `id`, every keyed task's barrier in: all of it is released, so the
  // changelog's ends and the partitions' frontiers are the sink's whole state.
  auto snapshot = [&](uint64_t id) -> Status {
    const std::optional<int64_t> through = current_evaluated();
    for (uint32_t p = 0; p < partitions; ++p) release(p);
    Status s;
    for (auto& w : writers) {
      if (s.ok()) s = w->Flush(true);
    }
    SinkCheckpointState state;
    state.offsets = offsets();
    for (uint32_t p = 0; p < partitions; ++p) {
      state.frontiers.push_back(merger.Frontier(p));
      state.idle.push_back(merger.Idle(p));
    }
    state.has_evaluated = through.has_value();
    state.evaluated = through.value_or(0);
    state.entered = result_->entered;
    state.exited = result_->exited;
    for (uint32_t p = 0; p < partitions; ++p) {
      for (const auto& c : merger.Pending(p)) {
        state.pending.push_back({p, job.segments[c.segment].id, c.user, c.entered, c.at, c.pos});
      }
    }
    if (s.ok()) s = WriteSinkCheckpoint(hooks->dir(id), state);
    hooks->ack(TaskKind::kSink, 0, id, s, 0);
    if (s.ok() && transactional) {
      PendingCommit c;
      c.id = id;
      c.marker.checkpoint = id;
      c.marker.evaluated = through;
      c.marker.offsets = state.offsets;
      c.changes = std::move(store_changes);
      store_changes.clear();
      pending.push_back(std::move(c));
    }
    return Status::OK();
  };
  BarrierAligner<SinkMessage> aligner(ctx_->keyed_tasks);

  const auto injected_delay = InjectedSinkDelay();
  auto last_commit = std::chrono::steady_clock::now();
  while (ends < ctx_->keyed_tasks) {
    if (transactional) {
      const uint64_t completed = hooks->completed.load(std::memory_order_acquire);
      while (!pending.empty() && pending.front().id <= completed) {
        SEGFLOW_RETURN_IF_ERROR(publish(pending.front().marker, pending.front().changes));
        pending.pop_front();
      }
    }
    for (SinkCommitter* c : committers) SEGFLOW_RETURN_IF_ERROR(c->Poll());
    auto reloaded = erasures.Poll();
    if (!reloaded.ok()) return reloaded.status();
    if (*reloaded) SEGFLOW_RETURN_IF_ERROR(erase_in_stores());
    auto msg = aligner.NextFor(input_, std::chrono::milliseconds(50));
    if (msg && injected_delay.count() > 0) std::this_thread::sleep_for(injected_delay);
    if (msg && aligner.Hold(msg->from, *msg)) continue;
    if (msg && switch_pending) {
      auto* b = std::get_if<ChangeBatch>(&msg->body);
      if (!(b != nullptr && b->switched) && msg->from < reported.size()) reported[msg->from] = true;
      if (std::all_of(reported.begin(), reported.end(), [](bool r) { return r; })) {
        std::vector<std::vector<ChangeRecord>> records(partitions);
        version_switch.Finish(&records);
        for (uint32_t p = 0; p < partitions; ++p) {
          if (!records[p].empty()) merger.Add(p, std::move(records[p]));
          touched[p] = true;
        }
        switch_pending = false;
      }
    }
    if (msg) {
      if (auto* barrier = std::get_if<KeyedBarrier>(&msg->body)) {
        if (aligner.OnBarrier(msg->from, barrier->id) == BarrierAligner<SinkMessage>::Barrier::kAligned) {
          SEGFLOW_RETURN_IF_ERROR(snapshot(barrier->id));
          aligner.Release();
        }
      } else if (auto* b = std::get_if<ChangeBatch>(&msg->body)) {
        counters_->records_in.fetch_add(b->changes.size(), std::memory_order_relaxed);
        if (b->switched) {
          // Before any change of this attempt (every keyed task sends them first): the
          // switch records at the switch instant are made of them once all are in.
          if (b->partition >= partitions) return Status::Corruption("version switch for an unknown partition");
          if (!switch_pending)
            return Status::Corruption("version switch without a merged savepoint");
          for (const auto& c : b->changes) version_switch.Add(b->partition, c);
        } else {
          merger.Add(b->partition, std::move(b->changes));
        }
      } else if (auto* pr = std::get_if<PartitionProgress>(&msg->body)) {
        merger.Progress(msg->from, pr->partition, pr->frontier, pr->idle);
        touched[pr->partition] = true;
      } else if (auto* end = std::get_if<KeyedEnd>(&msg->body)) {
        ++ends;
        finished = finished && end->finished;
        if (end->finished) final_until = end->evaluated_through;
        if (end->finished) merger.Finish(msg->from);
        for (uint32_t p = 0; p < partitions; ++p) touched[p] = true;
        if (aligner.OnEnd(msg->from)) {
          SEGFLOW_RETURN_IF_ERROR(snapshot(aligner.aligning()));
          aligner.Release();
        }
      }
    } else if (input_->closed()) {
      return Status::Cancelled("changelog sink: input closed before every keyed task ended");
    }
    const std::optional<int64_t> before = released_through;
    const std::optional<int64_t> through = current_evaluated();
    for (uint32_t p = 0; p < partitions; ++p) {
      // Each partition once its own frontier moved; every one once the evaluated time did.
      if (touched[p] || through != before) {
        release(p);
        touched[p] = false;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_commit >= kCommitInterval) {
      SEGFLOW_RETURN_IF_ERROR(commit(false, through));
      last_commit = now;
    }
  }
  std::optional<int64_t> through = current_evaluated();
  if (finished && final_until != ChangelogMerger::kNone) {
    through = final_until;
    released_through = final_until;
  }
  // What is left later than `through` (a live job stopped) was not evaluated as of the
  // job's evaluated time: it stays out (a savepoint it stopped with holds it).
  for (uint32_t p = 0; p < partitions; ++p) release(p);
  SEGFLOW_RETURN_IF_ERROR(commit(true, through));
  if (transactional) {
    // Every task ended cleanly (a bounded job finished, or a live one was stopped): what
    // was evaluated is final, so it commits, as a final checkpoint would.
    std::vector<AudienceStore::Change> all;
    for (auto& c : pending) all.insert(all.end(), c.changes.begin(), c.changes.end());
    all.insert(all.end(), store_changes.begin(), store_changes.end());
    log::CommitMarker marker;
    marker.checkpoint = pending.empty() ? hooks->completed.load() : pending.back().id;
    marker.evaluated = last_evaluated;
    marker.offsets = offsets();
    final_publish = true;
    SEGFLOW_RETURN_IF_ERROR(publish(marker, all));
  }
  // Nothing is reported committed that is not in the table: a live job's queued commits
  // (the server was down) get a last chance, then the run fails saying what is missing.
  for (SinkCommitter* c : committers) {
    Status drained = c->Drain(PostgresDrainTimeout());
    if (!drained.ok()) {
      // Also on stderr: a canceled job ends "canceled", whatever its tasks' errors.
      std::fprintf(stderr, "segflow: %s\n", drained.ToString().c_str());
      return drained;
    }
    std::fprintf(stderr, "segflow: %s\n", c->Summary().c_str());
  }
  result_->finished = finished;
  result_->has_evaluated = last_evaluated.has_value();
  if (last_evaluated) result_->evaluated_through = *last_evaluated;
  counters_->done.store(true);
  return Status::OK();
}

}  // namespace segflow
