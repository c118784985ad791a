#include "operators/runtime/source_task.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <limits>
#include <map>
#include <thread>

#include "engine/common/key_group.h"
#include "connectors/source_connector.h"
#include "engine/log/log.h"
#include "jobs/execution_graph.h"
#include "operators/runtime/job_graph.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"
#include "operators/sink/postgres_committer.h"

namespace segflow {
namespace {

constexpr size_t kPollRecords = 4096;
constexpr size_t kBatchRecords = 1024;
constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

// One (topic, partition) this task reads.
struct Input {
  uint32_t topic = 0;
  uint32_t partition = 0;
  std::unique_ptr<SplitReader> reader;  // a split of the job's source connector
  uint64_t end_offset = 0;         // bounded: stop here
  int64_t max_prev = kNoTime;      // largest ts read so far (spec §2)
  bool done = false;
  bool watermark_dirty = false;
  bool idle = false;
  std::chrono::steady_clock::time_point last_record;
  PartitionCounters* counters = nullptr;
};

int64_t WatermarkOf(int64_t max_prev, int64_t out_of_orderness) {
  if (max_prev == kNoTime) return kNoTime;
  return max_prev - out_of_orderness;  // ts and ooo are far from the int64 limits
}

// A record the source could not decode, as the rejected topic keeps it: the user names
// where it was read, the properties say what and why.
Event RejectEvent(const std::string& topic, const RejectedRecord& r) {
  Event e;
  e.user = topic + ":" + std::to_string(r.partition);
  e.type = "rejected";
  e.ts = 0;
  e.props = Value::Object({{"offset", Value::Int(static_cast<int64_t>(r.offset))},
                           {"partition", Value::Int(r.partition)},
                           {"reason", Value::String(r.reason)},
                           {"topic", Value::String(topic)},
                           {"value", Value::String(r.value)}});
  return e;
}

}  // namespace

SourceTask::SourceTask(JobContext* ctx, uint32_t index, uint32_t source_tasks,
                       std::vector<BoundedChannel<KeyedInput>*> outputs, TaskCounters* counters)
    : ctx_(ctx), index_(index), source_tasks_(source_tasks), outputs_(std::move(outputs)), counters_(counters) {}

Status SourceTask::Run(const CancellationToken* cancel) {
  const JobSpec& job = *ctx_->job;
  const int64_t ooo = job.source.max_out_of_orderness_ms;
  const auto idle_timeout = std::chrono::milliseconds(job.source.idle_timeout_ms);

  CheckpointHooks* hooks = ctx_->checkpoints;
  // Restoring: every (topic, partition) starts where the checkpoint's barrier left it.
  std::map<std::pair<uint32_t, uint32_t>, InputCheckpoint> restored;
  if (hooks != nullptr && !hooks->restore_dir.empty()) {
    auto state = ReadSourceCheckpoints(hooks->restore_dir);
    if (!state.ok()) return state.status();
    for (const auto& in : state->inputs) restored[{in.topic, in.partition}] = in;
  }
  int64_t max_ts = kNoTime;

  // Where the records come from (the embedded log, Kafka): splits read in offset order.
  auto source = OpenSourceConnector(SourceConfigOf(job));
  if (!source.ok()) return source.status();
  SourceConnector& connector = **source;

  std::vector<Input> inputs;
  for (uint32_t t = 0; t < job.source.topics.size(); ++t) {
    for (uint32_t p = index_; p < ctx_->partitions; p += source_tasks_) {
      Input in;
      in.topic = t;
      in.partition = p;
      uint64_t start = 0;
      if (auto it = restored.find({t, p}); it != restored.end()) {
        start = it->second.offset;
        if (it->second.has_max_prev) {
          in.max_prev = it->second.max_prev;
          max_ts = std::max(max_ts, in.max_prev);
          in.watermark_dirty = true;
        }
      } else if (!restored.empty()) {
        return Status::Corruption("checkpoint " + hooks->restore_dir + " has no position for topic \"" +
                                  job.source.topics[t] + "\" partition " + std::to_string(p));
      } else if (auto so = ctx_->options.start_offsets.find({t, p}); so != ctx_->options.start_offsets.end()) {
        start = so->second;
      }
      auto reader = connector.OpenReader(t, p, start);
      if (!reader.ok()) return reader.status();
      in.reader = std::move(reader).value();
      if (ctx_->options.bounded) {
        // A restored bounded run stops where the first attempt would have, whatever was
        // appended since; a new job started from a savepoint reads to the log's end now.
        auto it = restored.find({t, p});
        if (it != restored.end() && it->second.has_end_offset && !hooks->restore_is_savepoint) {
          in.end_offset = it->second.end_offset;
        } else if (auto eo = ctx_->options.end_offsets.find({t, p}); eo != ctx_->options.end_offsets.end()) {
          in.end_offset = eo->second;
        } else {
          auto end = connector.EndOffset(t, p);
          if (!end.ok()) return end.status();
          in.end_offset = *end;
        }
        in.done = start >= in.end_offset;
      }
      in.last_record = std::chrono::steady_clock::now();
      in.counters = &counters_->partitions.emplace_back();
      in.counters->topic = t;
      in.counters->partition = p;
      in.counters->end_offset = in.end_offset;
      // Reported before the first poll: an input that starts at its end (a backfill round
      // with nothing new) is at its end at once, and end-with-savepoint waits for that.
      in.counters->offset.store(start, std::memory_order_relaxed);
      inputs.push_back(std::move(in));
    }
  }

  counters_->partitions_ready.store(true, std::memory_order_release);

  // Late records keep their partition in the late topic; this task owns those partitions.
  std::vector<std::unique_ptr<log::PartitionWriter>> late_writers(ctx_->partitions);
  auto late_writer = [&](uint32_t p) -> Result<log::PartitionWriter*> {
    if (!late_writers[p]) {
      auto w = log::PartitionWriter::Open(job.log_dir, ctx_->late_topic, p);
      if (!w.ok()) return w.status();
      late_writers[p] = std::move(w).value();
    }
    return late_writers[p].get();
  };

  // Undecodable records (a Kafka source's values) go to "<job>.rejected", by partition.
  std::vector<std::unique_ptr<log::PartitionWriter>> reject_writers(ctx_->partitions);

  const uint32_t keyed = static_cast<uint32_t>(outputs_.size());
  std::vector<KeyedBatch> out(keyed);
  for (auto& b : out) b.source = index_;
  auto flush_batch = [&](uint32_t k) -> Status {
    if (out[k].records.empty()) return Status::OK();
    KeyedBatch b;
    b.source = index_;
    b.records.reserve(kBatchRecords);
    std::swap(b, out[k]);
    counters_->records_out.fetch_add(b.records.size(), std::memory_order_relaxed);
    return counters_->Push(outputs_[k], KeyedInput(std::move(b)));
  };

  // Consent events for a shared audience store (governance): the store keeps each user's
  // latest consent, so that no other job feeding it (a backfill over a range without the
  // withdrawal) can add back a user who withdrew. Written before each checkpoint barrier
  // (so before the checkpoint's changes are published), every second, and at the end.
  // The same for a PostgreSQL audience table (output.postgres), which other jobs may feed.
  const bool records_consent =
      job.consent.has_value() &&
      (!job.output.shared_audience_dir.empty() || job.output.postgres.enabled());
  std::unique_ptr<PostgresCommitter> pg_consents;
  std::vector<AudienceStore::ConsentRecord> consents;
  auto last_consent_flush = std::chrono::steady_clock::now();
  auto flush_consents = [&]() -> Status {
    last_consent_flush = std::chrono::steady_clock::now();
    if (consents.empty()) return Status::OK();
    if (!job.output.shared_audience_dir.empty()) {
      SEGFLOW_RETURN_IF_ERROR(WithSharedStore(
          job.output.shared_audience_dir, 30000,
          [&](AudienceStore* store) { return store->RecordConsents(consents).status(); }));
    }
    if (job.output.postgres.enabled()) {
      if (!pg_consents) {
        auto opened = PostgresCommitter::Open(job, !ctx_->options.bounded, ctx_->stop);
        if (!opened.ok()) return opened.status();
        pg_consents = std::move(opened).value();
      }
      SEGFLOW_RETURN_IF_ERROR(pg_consents->RecordConsents(consents));
    }
    consents.clear();
    return Status::OK();
  };

  // Positions of checkpoints taken, committed to source.kafka.group once completed.
  std::map<uint64_t, std::vector<SourceConnector::SplitPosition>> uncommitted_positions;
  // A checkpoint barrier: everything sent so far (and every late record written so far)
  // belongs to checkpoint `id`. Snapshot the positions, then the barrier goes downstream.
  uint64_t last_barrier = hooks != nullptr ? hooks->restore_id : 0;
  auto checkpoint = [&](uint64_t id) -> Status {
    SEGFLOW_RETURN_IF_ERROR(flush_consents());
    for (uint32_t k = 0; k < outputs_.size(); ++k) SEGFLOW_RETURN_IF_ERROR(flush_batch(k));
    Status s;
    SourceCheckpointState state;
    for (const auto& in : inputs) {
      state.inputs.push_back({in.topic, in.partition, in.reader->position(), in.max_prev != kNoTime,
                              in.max_prev == kNoTime ? 0 : in.max_prev, ctx_->options.bounded, in.end_offset});
      if (in.topic != 0) continue;
      if (late_writers[in.partition]) {
        s = late_writers[in.partition]->Flush(true);
        if (!s.ok()) break;
        state.late_offsets[in.partition] = late_writers[in.partition]->NextOffset();
      } else {
        auto end = log::EndOffset(job.log_dir, ctx_->late_topic, in.partition);
        if (!end.ok()) {
          s = end.status();
          break;
        }
        state.late_offsets[in.partition] = *end;
      }
    }
    // The rejected topic's ends, as the late topic's (a restore truncates both there).
    for (const auto& in : inputs) {
      if (!s.ok() || !job.source.kafka.enabled() || !ctx_->options.write_late) break;
      if (state.rejected_offsets.count(in.partition)) continue;
      if (auto& w = reject_writers[in.partition]) {
        s = w->Flush(true);
        if (s.ok()) state.rejected_offsets[in.partition] = w->NextOffset();
        continue;
      }
      auto end = log::EndOffset(job.log_dir, RejectedTopic(job), in.partition);
      if (!end.ok()) {
        s = end.status();
        break;
      }
      state.rejected_offsets[in.partition] = *end;
    }
    if (s.ok()) s = WriteSourceCheckpoint(hooks->dir(id), index_, state);
    if (s.ok() && !job.source.kafka.group.empty()) {
      auto& positions = uncommitted_positions[id];
      for (const auto& in : inputs) {
        positions.push_back({in.topic, in.partition, in.reader->position()});
      }
    }
    hooks->ack(TaskKind::kSource, index_, id, s, 0);
    for (uint32_t k = 0; k < outputs_.size(); ++k) {
      SEGFLOW_RETURN_IF_ERROR(counters_->Push(outputs_[k], KeyedInput(SourceBarrier{index_, id})));
    }
    return Status::OK();
  };

  std::vector<RejectedRecord> rejects;
  auto write_rejects = [&](const Input& in) -> Status {
    for (const auto& r : rejects) {
      if (!ctx_->options.write_late) break;  // a preview: counted only
      if (!reject_writers[in.partition]) {
        auto w = log::PartitionWriter::Open(job.log_dir, RejectedTopic(job), in.partition);
        if (!w.ok()) return w.status();
        reject_writers[in.partition] = std::move(w).value();
      }
      reject_writers[in.partition]->Append(RejectEvent(job.source.topics[in.topic], r));
    }
    ctx_->rejected_records.fetch_add(rejects.size(), std::memory_order_relaxed);
    counters_->rejected_records.fetch_add(rejects.size(), std::memory_order_relaxed);
    rejects.clear();
    return Status::OK();
  };

  // Users erased by `segflow forget` (erasure_ledger.h): their records up to the erasure
  // are read past, reloaded when the ledger changes.
  ErasureWatch erasures(LedgerPath(job));
  SEGFLOW_RETURN_IF_ERROR(erasures.Load());

  std::vector<log::LogRecord> records;
  bool stopped = false;
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) return Status::Cancelled("source task canceled");
    SEGFLOW_RETURN_IF_ERROR(erasures.Poll().status());
    if (hooks != nullptr) {
      const uint64_t requested = hooks->requested.load(std::memory_order_acquire);
      while (last_barrier < requested) SEGFLOW_RETURN_IF_ERROR(checkpoint(++last_barrier));
      if (!uncommitted_positions.empty()) {
        const uint64_t completed = hooks->completed.load(std::memory_order_acquire);
        auto last = uncommitted_positions.upper_bound(completed);
        if (last != uncommitted_positions.begin()) {
          connector.CommitPositions(std::prev(last)->second);  // the newest completed one
          uncommitted_positions.erase(uncommitted_positions.begin(), last);
        }
      }
      const uint64_t stop_at = hooks->stop_at.load(std::memory_order_acquire);
      if (stop_at != 0 && last_barrier >= stop_at) {
        stopped = true;  // stop-with-savepoint: nothing after the savepoint's barrier
        break;
      }
    }
    if (ctx_->stop != nullptr && ctx_->stop->load(std::memory_order_relaxed)) {
      stopped = true;
      break;
    }
    bool all_done = true;
    size_t read = 0;
    const auto now = std::chrono::steady_clock::now();
    for (auto& in : inputs) {
      if (in.done) continue;
      all_done = false;
      records.clear();
      size_t want = kPollRecords;
      if (ctx_->options.bounded) {
        want = static_cast<size_t>(std::min<uint64_t>(want, in.end_offset - in.reader->position()));
      }
      auto n = in.reader->Poll(want, &records, &rejects);
      if (!n.ok()) return n.status();
      if (!rejects.empty()) SEGFLOW_RETURN_IF_ERROR(write_rejects(in));
      if (ctx_->options.bounded && !records.empty() && records.back().offset >= in.end_offset) {
        // Offsets a source skips (Kafka's transaction markers) can put records past the end.
        while (!records.empty() && records.back().offset >= in.end_offset) records.pop_back();
      }
      if (*n == 0 && ctx_->options.bounded && connector.reads_are_immediate()) {
        // The records up to the end offset were in the log when it was taken: a reader that
        // finds none is short of them for good, and waiting would never end the run.
        return Status::Corruption("topic \"" + job.source.topics[in.topic] + "\" partition " +
                                  std::to_string(in.partition) + " ends at offset " +
                                  std::to_string(in.reader->position()) + ", before the bounded input's end " +
                                  std::to_string(in.end_offset) + " (records were removed from the log)");
      }
      read += *n;
      for (auto& r : records) {
        const int64_t ts = r.event.ts;
        if (erasures.Erased(r.event.user, ts)) {
          // Erased: evaluated by nobody and not written as late. Its ts still moves the
          // partition's watermark, so every other user's results stay what they were.
        } else if (in.max_prev != kNoTime && ts < in.max_prev - ooo) {
          if (ctx_->options.write_late) {
            auto w = late_writer(in.partition);
            if (!w.ok()) return w.status();
            (*w)->Append(r.event);
          }
          ctx_->late_records.fetch_add(1, std::memory_order_relaxed);
          counters_->late_records.fetch_add(1, std::memory_order_relaxed);
        } else {
          const uint64_t h = HashUser(r.event.user);
          const uint32_t k = SubtaskForKeyGroup(KeyGroupFor(h, job.max_parallelism), job.max_parallelism, keyed);
          KeyedRecord kr;
          kr.partition = in.partition;
          kr.user_hash = h;
          ctx_->program->Project(r.event, r.offset, &kr.event);
          if (records_consent && kr.event.consent >= 0) {
            consents.push_back({r.event.user, kr.event.consent == 1, ts, r.offset});
          }
          kr.user = std::move(r.event.user);
          out[k].records.push_back(std::move(kr));
          if (out[k].records.size() >= kBatchRecords) SEGFLOW_RETURN_IF_ERROR(flush_batch(k));
        }
        if (ts > in.max_prev) {
          in.max_prev = ts;
          in.watermark_dirty = true;
        }
        if (ts > max_ts) max_ts = ts;
      }
      ctx_->records_in.fetch_add(*n, std::memory_order_relaxed);
      counters_->records_in.fetch_add(*n, std::memory_order_relaxed);
      in.counters->offset.store(in.reader->position(), std::memory_order_relaxed);
      if (*n > 0) {
        in.last_record = now;
        if (in.idle) {
          in.idle = false;
          in.watermark_dirty = true;
        }
      } else if (!ctx_->options.bounded && !in.idle && now - in.last_record >= idle_timeout) {
        in.idle = true;
        in.watermark_dirty = true;
      }
      if (ctx_->options.bounded && in.reader->position() >= in.end_offset) in.done = true;
    }
    if (!consents.empty() && std::chrono::steady_clock::now() - last_consent_flush >= std::chrono::seconds(1)) {
      SEGFLOW_RETURN_IF_ERROR(flush_consents());
    }
    // Records before the watermarks that cover them: flush batches first.
    for (uint32_t k = 0; k < keyed; ++k) SEGFLOW_RETURN_IF_ERROR(flush_batch(k));
    bool any_dirty = false;
    for (auto& in : inputs) {
      if (!in.watermark_dirty) continue;
      in.watermark_dirty = false;
      any_dirty = true;
      PartitionWatermark wm{in.topic, in.partition, WatermarkOf(in.max_prev, ooo), in.idle, index_};
      in.counters->watermark.store(wm.time, std::memory_order_relaxed);
      for (uint32_t k = 0; k < keyed; ++k) SEGFLOW_RETURN_IF_ERROR(counters_->Push(outputs_[k], KeyedInput(wm)));
    }
    if (any_dirty) {
      int64_t low = std::numeric_limits<int64_t>::max();
      for (auto& in : inputs) low = std::min(low, WatermarkOf(in.max_prev, ooo));
      counters_->watermark.store(inputs.empty() ? kNoTime : low, std::memory_order_relaxed);
    }
    if (all_done && !(hooks != nullptr && hooks->end_with_savepoint)) break;
    if (all_done) {
      // At the end offsets: wait for the stop-with-savepoint that hands over to a live job.
      std::this_thread::sleep_for(std::chrono::milliseconds(ctx_->options.poll_interval_ms));
      continue;
    }
    if (read == 0) {
      for (auto& w : late_writers) {
        if (w && w->buffered() > 0) SEGFLOW_RETURN_IF_ERROR(w->Flush(false));
      }
      for (auto& w : reject_writers) {
        if (w && w->buffered() > 0) SEGFLOW_RETURN_IF_ERROR(w->Flush(false));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(ctx_->options.poll_interval_ms));
    }
  }
  for (auto& w : late_writers) {
    if (w) SEGFLOW_RETURN_IF_ERROR(w->Flush(true));
  }
  for (auto& w : reject_writers) {
    if (w) SEGFLOW_RETURN_IF_ERROR(w->Flush(true));
  }
  SEGFLOW_RETURN_IF_ERROR(flush_consents());
  SourceEnd end;
  end.source = index_;
  end.finish = ctx_->options.bounded && !stopped;
  end.has_max_ts = max_ts != kNoTime;
  end.max_ts = max_ts;
  end.has_until = ctx_->options.has_until;
  end.until = ctx_->options.until;
  for (uint32_t k = 0; k < keyed; ++k) SEGFLOW_RETURN_IF_ERROR(counters_->Push(outputs_[k], KeyedInput(end)));
  counters_->done.store(true);
  return Status::OK();
}

}  // namespace segflow
