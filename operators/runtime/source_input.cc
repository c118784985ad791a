#include "operators/runtime/source_input.h"

#include <algorithm>

namespace segflow {
namespace {

constexpr size_t kPollRecords = 4096;

}  // namespace

Result<size_t> SourceInput::Poll(bool bounded, std::vector<log::LogRecord>* records,
                                 std::vector<RejectedRecord>* rejects) {
  records->clear();
  size_t want = kPollRecords;
  if (bounded) {
    want = static_cast<size_t>(std::min<uint64_t>(want, end_offset - reader->position()));
  }
  return reader->Poll(want, records, rejects);
}

Status SourceInput::ClampToEnd(size_t read, bool immediate, const std::string& topic_name,
                               std::vector<log::LogRecord>* records) const {
  if (!records->empty() && records->back().offset >= end_offset) {
    // Offsets a source skips (Kafka's transaction markers) can put records past the end.
    while (!records->empty() && records->back().offset >= end_offset) records->pop_back();
  }
  if (read == 0 && immediate) {
    // The records up to the end offset were in the log when it was taken: a reader that
    // finds none is short of them for good, and waiting would never end the run.
    return Status::Corruption(
        "topic \"" + topic_name + "\" partition " + std::to_string(partition) + " ends at offset " +
        std::to_string(reader->position()) + ", before the bounded input's end " +
        std::to_string(end_offset) + " (records were removed from the log)");
  }
  return Status::OK();
}

Result<std::vector<SourceInput>> OpenSourceInputs(const JobContext& ctx, uint32_t index,
                                                  uint32_t source_tasks,
                                                  const SourceRestore& restore,
                                                  SourceConnector& connector,
                                                  TaskCounters* counters, int64_t* max_ts) {
  const JobSpec& job = *ctx.job;
  std::vector<SourceInput> inputs;
  for (uint32_t t = 0; t < job.source.topics.size(); ++t) {
    for (uint32_t p = index; p < ctx.partitions; p += source_tasks) {
      SourceInput in;
      in.topic = t;
      in.partition = p;
      auto start = restore.StartOf(t, p);
      if (!start.ok()) return start.status();
      if (start->max_prev) {
        in.max_prev = *start->max_prev;
        *max_ts = std::max(*max_ts, in.max_prev);
        in.watermark_dirty = true;
      }
      auto reader = connector.OpenReader(t, p, start->offset);
      if (!reader.ok()) return reader.status();
      in.reader = std::move(reader).value();
      if (ctx.options.bounded) {
        // A restored bounded run stops where the first attempt would have, whatever was
        // appended since; a new job started from a savepoint reads to the log's end now.
        if (auto restored = restore.RestoredEnd(t, p)) {
          in.end_offset = *restored;
        } else if (auto eo = ctx.options.end_offsets.find({t, p});
                   eo != ctx.options.end_offsets.end()) {
          in.end_offset = eo->second;
        } else {
          auto end = connector.EndOffset(t, p);
          if (!end.ok()) return end.status();
          in.end_offset = *end;
        }
        in.done = start->offset >= in.end_offset;
      }
      in.last_record = std::chrono::steady_clock::now();
      in.counters = &counters->partitions.emplace_back();
      in.counters->topic = t;
      in.counters->partition = p;
      in.counters->end_offset = in.end_offset;
      // Reported before the first poll: an input that starts at its end (a backfill round
      // with nothing new) is at its end at once, and end-with-savepoint waits for that.
      in.counters->offset.store(start->offset, std::memory_order_relaxed);
      inputs.push_back(std::move(in));
    }
  }
  return inputs;
}

}  // namespace segflow
