#include "operators/runtime/source_side_outputs.h"

#include <string>

#include "operators/runtime/job_graph.h"

namespace segflow {
namespace {

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

Status SourceSideOutputs::WriteLate(uint32_t p, const Event& event) {
  if (ctx_->options.write_late) {
    if (!late_[p]) {
      auto w = log::PartitionWriter::Open(ctx_->job->log_dir, ctx_->late_topic, p);
      if (!w.ok()) return w.status();
      late_[p] = std::move(w).value();
    }
    late_[p]->Append(event);
  }
  ctx_->late_records.fetch_add(1, std::memory_order_relaxed);
  counters_->late_records.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

Status SourceSideOutputs::WriteRejects(const SourceInput& in,
                                       std::vector<RejectedRecord>* rejects) {
  const JobSpec& job = *ctx_->job;
  for (const auto& r : *rejects) {
    if (!ctx_->options.write_late) break;  // a preview: counted only
    if (!rejected_[in.partition]) {
      auto w = log::PartitionWriter::Open(job.log_dir, RejectedTopic(job), in.partition);
      if (!w.ok()) return w.status();
      rejected_[in.partition] = std::move(w).value();
    }
    rejected_[in.partition]->Append(RejectEvent(job.source.topics[in.topic], r));
  }
  ctx_->rejected_records.fetch_add(rejects->size(), std::memory_order_relaxed);
  counters_->rejected_records.fetch_add(rejects->size(), std::memory_order_relaxed);
  rejects->clear();
  return Status::OK();
}

Status SourceSideOutputs::Checkpoint(const std::vector<SourceInput>& inputs,
                                     SourceCheckpointState* state) {
  const JobSpec& job = *ctx_->job;
  for (const auto& in : inputs) {
    if (in.topic != 0) continue;
    if (late_[in.partition]) {
      SEGFLOW_RETURN_IF_ERROR(late_[in.partition]->Flush(true));
      state->late_offsets[in.partition] = late_[in.partition]->NextOffset();
    } else {
      auto end = log::EndOffset(job.log_dir, ctx_->late_topic, in.partition);
      if (!end.ok()) return end.status();
      state->late_offsets[in.partition] = *end;
    }
  }
  // The rejected topic's ends, as the late topic's (a restore truncates both there).
  if (!job.source.kafka.enabled() || !ctx_->options.write_late) return Status::OK();
  for (const auto& in : inputs) {
    if (state->rejected_offsets.count(in.partition)) continue;
    if (auto& w = rejected_[in.partition]) {
      SEGFLOW_RETURN_IF_ERROR(w->Flush(true));
      state->rejected_offsets[in.partition] = w->NextOffset();
      continue;
    }
    auto end = log::EndOffset(job.log_dir, RejectedTopic(job), in.partition);
    if (!end.ok()) return end.status();
    state->rejected_offsets[in.partition] = *end;
  }
  return Status::OK();
}

Status SourceSideOutputs::FlushBuffered() {
  for (auto& w : late_) {
    if (w && w->buffered() > 0) SEGFLOW_RETURN_IF_ERROR(w->Flush(false));
  }
  for (auto& w : rejected_) {
    if (w && w->buffered() > 0) SEGFLOW_RETURN_IF_ERROR(w->Flush(false));
  }
  return Status::OK();
}

Status SourceSideOutputs::FlushAll() {
  for (auto& w : late_) {
    if (w) SEGFLOW_RETURN_IF_ERROR(w->Flush(true));
  }
  for (auto& w : rejected_) {
    if (w) SEGFLOW_RETURN_IF_ERROR(w->Flush(true));
  }
  return Status::OK();
}

}  // namespace segflow
