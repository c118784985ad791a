#include "operators/runtime/changelog_sink_task.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <memory>
#include <optional>
#include <vector>

#include "engine/log/log.h"
#include "operators/runtime/changelog_merger.h"
#include "operators/sink/audience_store.h"

namespace segflow {
namespace {

// How often a live run makes its output durable and advances the evaluated time.
constexpr auto kCommitInterval = std::chrono::milliseconds(50);

// Fault injection for backpressure tests: SEGFLOW_FAULT_SINK_DELAY_MS=N makes the sink
// sleep N ms per message it takes in (a deliberately slow sink).
std::chrono::milliseconds InjectedSinkDelay() {
  const char* v = std::getenv("SEGFLOW_FAULT_SINK_DELAY_MS");
  return std::chrono::milliseconds(v == nullptr ? 0 : std::max(0L, std::strtol(v, nullptr, 10)));
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

  std::vector<AudienceStore::Change> store_changes;
  std::vector<ChangeRecord> released;
  std::vector<bool> touched(partitions, false);
  uint32_t ends = 0;
  bool finished = true;
  int64_t final_until = ChangelogMerger::kNone;
  std::optional<int64_t> last_evaluated;

  auto release = [&](uint32_t p) {
    released.clear();
    merger.Release(p, &released);
    for (auto& c : released) {
      Event e;
      e.user = c.user;
      e.type = c.entered ? "entered" : "exited";
      e.ts = c.at;
      e.props = Value::Object({{"segment", Value::String(job.segments[c.segment].id)}});
      writers[p]->Append(e);
      (c.entered ? result_->entered : result_->exited)++;
      counters_->records_out.fetch_add(1, std::memory_order_relaxed);
      store_changes.push_back({job.segments[c.segment].id, std::move(c.user), c.entered, c.at});
    }
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

  auto commit = [&](bool sync, std::optional<int64_t> through) -> Status {
    for (auto& w : writers) {
      if (w->buffered() > 0 || sync) SEGFLOW_RETURN_IF_ERROR(w->Flush(sync));
    }
    if (through && last_evaluated && *through <= *last_evaluated) through.reset();
    if (through) {
      last_evaluated = through;
      counters_->watermark.store(*through, std::memory_order_relaxed);
    }
    SEGFLOW_RETURN_IF_ERROR((*store)->Apply(store_changes, through, sync));
    store_changes.clear();
    return Status::OK();
  };

  const auto injected_delay = InjectedSinkDelay();
  auto last_commit = std::chrono::steady_clock::now();
  while (ends < ctx_->keyed_tasks) {
    auto msg = input_->PopFor(std::chrono::milliseconds(50));
    if (msg && injected_delay.count() > 0) std::this_thread::sleep_for(injected_delay);
    if (msg) {
      if (auto* b = std::get_if<ChangeBatch>(&msg->body)) {
        counters_->records_in.fetch_add(b->changes.size(), std::memory_order_relaxed);
        merger.Add(b->partition, std::move(b->changes));
      } else if (auto* pr = std::get_if<PartitionProgress>(&msg->body)) {
        merger.Progress(msg->from, pr->partition, pr->frontier, pr->idle);
        touched[pr->partition] = true;
      } else if (auto* end = std::get_if<KeyedEnd>(&msg->body)) {
        ++ends;
        finished = finished && end->finished;
        if (end->finished) final_until = end->evaluated_through;
        if (end->finished) merger.Finish(msg->from);
        for (uint32_t p = 0; p < partitions; ++p) touched[p] = true;
      }
    } else if (input_->closed()) {
      return Status::Cancelled("changelog sink: input closed before every keyed task ended");
    }
    for (uint32_t p = 0; p < partitions; ++p) {
      if (touched[p]) {
        release(p);
        touched[p] = false;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_commit >= kCommitInterval) {
      SEGFLOW_RETURN_IF_ERROR(commit(false, evaluated()));
      last_commit = now;
    }
  }
  for (uint32_t p = 0; p < partitions; ++p) release(p);
  std::optional<int64_t> through = finished && final_until != ChangelogMerger::kNone
                                       ? std::optional<int64_t>(final_until)
                                       : evaluated();
  SEGFLOW_RETURN_IF_ERROR(commit(true, through));
  result_->finished = finished;
  result_->has_evaluated = last_evaluated.has_value();
  if (last_evaluated) result_->evaluated_through = *last_evaluated;
  counters_->done.store(true);
  return Status::OK();
}

}  // namespace segflow
