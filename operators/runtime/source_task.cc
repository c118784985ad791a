#include "operators/runtime/source_task.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "connectors/source_connector.h"
#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "jobs/execution_graph.h"
#include "operators/runtime/consent_recorder.h"
#include "operators/runtime/job_graph.h"
#include "operators/runtime/source_checkpointing.h"
#include "operators/runtime/source_input.h"
#include "operators/runtime/source_outputs.h"
#include "operators/runtime/source_restore.h"
#include "operators/runtime/source_side_outputs.h"
#include "operators/runtime/source_watermarks.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {

namespace {

// The task's end: a bounded run that was not stopped finishes (through --until, or the
// largest ts read); a stopped one leaves the rest to the savepoint or the next run.
SourceEnd EndOf(uint32_t source, const RunOptions& run, bool stopped, int64_t max_ts) {
  SourceEnd end;
  end.source = source;
  end.finish = run.bounded && !stopped;
  end.has_max_ts = max_ts != kNoSourceTime;
  end.max_ts = max_ts;
  end.has_until = run.has_until;
  end.until = run.until;
  return end;
}

// `r` read again whole. The reader decodes late records whole itself (the same rule on the
// same records), so this only guards the late topic against a partial copy.
Status ReadWhole(SourceConnector& connector, uint32_t topic, log::LogRecord* r) {
  auto reader = connector.OpenReader(topic, r->partition, r->offset);
  if (!reader.ok()) return reader.status();
  std::vector<log::LogRecord> one;
  std::vector<RejectedRecord> rejects;
  auto n = (*reader)->Poll(1, &one, &rejects);
  if (!n.ok()) return n.status();
  if (one.size() != 1 || one[0].offset != r->offset) {
    return Status::Internal("late record at offset " + std::to_string(r->offset) +
                            " of partition " + std::to_string(r->partition) +
                            " could not be read again whole");
  }
  *r = std::move(one[0]);
  return Status::OK();
}

}  // namespace

SourceTask::SourceTask(JobContext* ctx, uint32_t index, uint32_t source_tasks,
                       std::vector<BoundedChannel<KeyedInput>*> outputs, TaskCounters* counters)
    : ctx_(ctx),
      index_(index),
      source_tasks_(source_tasks),
      outputs_(std::move(outputs)),
      counters_(counters) {}

Status SourceTask::Run(const CancellationToken* cancel) {
  const JobSpec& job = *ctx_->job;
  const RunOptions& run = ctx_->options;
  const int64_t ooo = job.source.max_out_of_orderness_ms;
  const auto idle_timeout = std::chrono::milliseconds(job.source.idle_timeout_ms);
  auto restore = SourceRestore::Read(*ctx_);
  if (!restore.ok()) return restore.status();
  // Where the records come from (the embedded log, Kafka): splits read in offset order.
  auto source = OpenSourceConnector(SourceConfigOf(job));
  if (!source.ok()) return source.status();
  SourceConnector& connector = **source;
  int64_t max_ts = kNoSourceTime;
  auto opened =
      OpenSourceInputs(*ctx_, index_, source_tasks_, *restore, connector, counters_, &max_ts);
  if (!opened.ok()) return opened.status();
  std::vector<SourceInput>& inputs = *opened;
  // Readers decode only the props the program reads (late records whole, for the late topic).
  const auto props_needed = ctx_->program->PropsNeeded();
  for (auto& in : inputs) in.reader->Project(props_needed, in.max_prev, ooo);
  counters_->partitions_ready.store(true, std::memory_order_release);

  SourceSideOutputs side(ctx_, counters_);
  SourceOutputs keyed(index_, job.max_parallelism, outputs_, counters_);
  ConsentRecorder consents(*ctx_);
  SourceCheckpointing checkpoints(*ctx_, index_, &connector);
  // Users erased by `segflow forget` (erasure_ledger.h): their records up to the erasure
  // are read past, reloaded when the ledger changes.
  ErasureWatch erasures(LedgerPath(job));
  SEGFLOW_RETURN_IF_ERROR(erasures.Load());

  std::vector<log::LogRecord> records;
  std::vector<RejectedRecord> rejects;
  bool stopped = false;
  for (;;) {
    if (cancel != nullptr && cancel->cancelled()) return Status::Cancelled("source task canceled");
    SEGFLOW_RETURN_IF_ERROR(erasures.Poll().status());
    auto savepoint_stop = checkpoints.Poll(inputs, &side, &consents, &keyed);
    if (!savepoint_stop.ok()) return savepoint_stop.status();
    stopped =
        *savepoint_stop || (ctx_->stop != nullptr && ctx_->stop->load(std::memory_order_relaxed));
    if (stopped) break;
    bool all_done = true;
    size_t read = 0;
    const auto now = std::chrono::steady_clock::now();
    for (auto& in : inputs) {
      if (in.done) continue;
      all_done = false;
      auto n = in.Poll(run.bounded, &records, &rejects);
      if (!n.ok()) return n.status();
      if (!rejects.empty()) SEGFLOW_RETURN_IF_ERROR(side.WriteRejects(in, &rejects));
      if (run.bounded) {
        SEGFLOW_RETURN_IF_ERROR(in.ClampToEnd(*n, connector.reads_are_immediate(),
                                              job.source.topics[in.topic], &records));
      }
      read += *n;
      for (auto& r : records) {
        const int64_t ts = r.event.ts;
        if (erasures.Erased(r.event.user, ts)) {
          // Erased: evaluated by nobody and not written as late. Its ts still moves the
          // partition's watermark, so every other user's results stay what they were.
        } else if (in.max_prev != kNoSourceTime && ts < in.max_prev - ooo) {
          if (r.partial) SEGFLOW_RETURN_IF_ERROR(ReadWhole(connector, in.topic, &r));
          SEGFLOW_RETURN_IF_ERROR(side.WriteLate(in.partition, r.event));
        } else {
          const uint64_t h = HashUser(r.event.user);
          const uint32_t k = keyed.TaskFor(h);
          KeyedRecord kr;
          kr.partition = in.partition;
          kr.user_hash = h;
          ctx_->program->Project(r.event, r.offset, &kr.event);
          if (consents.enabled() && kr.event.consent >= 0) {
            consents.Add(r.event.user, kr.event.consent == 1, ts, r.offset);
          }
          kr.user = std::move(r.event.user);
          if (keyed.Add(k, std::move(kr))) SEGFLOW_RETURN_IF_ERROR(keyed.Flush(k));
        }
        if (ts > in.max_prev) {
          in.max_prev = ts;
          in.watermark_dirty = true;
        }
        if (ts > max_ts) max_ts = ts;
      }
      in.reader->Recycle(&records);
      ctx_->records_in.fetch_add(*n, std::memory_order_relaxed);
      counters_->records_in.fetch_add(*n, std::memory_order_relaxed);
      in.Polled(*n, now, run.bounded, idle_timeout);
    }
    SEGFLOW_RETURN_IF_ERROR(consents.MaybeFlush());
    // Records before the watermarks that cover them: flush batches first.
    SEGFLOW_RETURN_IF_ERROR(keyed.FlushAll());
    SEGFLOW_RETURN_IF_ERROR(EmitWatermarks(inputs, ooo, index_, &keyed, counters_));
    const bool end_with_savepoint =
        ctx_->checkpoints != nullptr && ctx_->checkpoints->end_with_savepoint;
    if (all_done && !end_with_savepoint) break;
    if (all_done || read == 0) {
      // Caught up, or at the end offsets waiting for the stop-with-savepoint that hands
      // over to a live job.
      if (!all_done) SEGFLOW_RETURN_IF_ERROR(side.FlushBuffered());
      std::this_thread::sleep_for(std::chrono::milliseconds(run.poll_interval_ms));
    }
  }
  SEGFLOW_RETURN_IF_ERROR(side.FlushAll());
  SEGFLOW_RETURN_IF_ERROR(consents.Flush());
  SEGFLOW_RETURN_IF_ERROR(keyed.Broadcast(EndOf(index_, run, stopped, max_ts)));
  counters_->done.store(true);
  return Status::OK();
}

}  // namespace segflow
