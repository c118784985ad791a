#include "operators/sink/audience_query.h"

#include <algorithm>
#include <set>

#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "engine/value/time_format.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {

Result<std::vector<std::string>> AudienceAt(const JobSpec& job, const std::string& segment,
                                            std::optional<int64_t> at) {
  if (job.FindSegment(segment) == nullptr) {
    std::string known;
    for (const auto& s : job.segments) known += (known.empty() ? "" : ", ") + s.id;
    return Status::NotFound("job " + job.name + " has no segment \"" + segment + "\" (segments: " + known + ")");
  }
  auto store = AudienceStore::OpenForRead(job.output.audience_dir);
  if (!store.ok()) return store.status();
  auto evaluated = (*store)->EvaluatedThrough();
  if (!evaluated.ok()) return evaluated.status();
  // Users erased by `segflow forget` are in no answer (erasure_ledger.h).
  auto erasures = LoadErasures(LedgerPath(job));
  if (!erasures.ok()) return erasures.status();
  if (!at) {
    auto members = (*store)->Members(segment);
    if (!members.ok()) return members.status();
    SEGFLOW_RETURN_IF_ERROR(DropErasedMembers(*erasures, store->get(), &*members));
    return members;
  }
  if (!evaluated->has_value() || *at > **evaluated) {
    std::string through = evaluated->has_value()
                              ? FormatRfc3339Millis(**evaluated) + " (" + std::to_string(**evaluated) + ")"
                              : std::string("nothing yet");
    return Status::OutOfRange("time " + FormatRfc3339Millis(*at) + " (" + std::to_string(*at) +
                              ") is not evaluated yet: job " + job.name + " has evaluated through " + through);
  }
  auto meta = log::ReadTopicMeta(job.log_dir, job.output.changelog);
  if (!meta.ok()) return meta.status();
  // A transactional changelog is read up to its commit point only (the store above is
  // only ever updated with committed changes).
  auto limits = log::CommittedLimits(job.log_dir, job.output.changelog, meta->partitions);
  if (!limits.ok()) return limits.status();
  std::set<std::string> members;
  std::vector<log::LogRecord> records;
  for (uint32_t p = 0; p < meta->partitions; ++p) {
    auto reader = log::PartitionReader::Open(job.log_dir, job.output.changelog, p, 0);
    if (!reader.ok()) return reader.status();
    const uint64_t limit = (*limits)[p];
    for (;;) {
      records.clear();
      if ((*reader)->position() >= limit) break;
      auto n = (*reader)->Poll(static_cast<size_t>(std::min<uint64_t>(4096, limit - (*reader)->position())), &records);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      for (const auto& r : records) {
        if (r.event.ts > *at) continue;  // a partition's records are in `at` order, but keep it simple
        const Value* seg = r.event.props.Find("segment");
        if (seg == nullptr || !seg->is_string() || seg->as_string() != segment) continue;
        if (IsErased(*erasures, r.event.user, r.event.ts)) continue;
        if (r.event.type == "entered") {
          members.insert(r.event.user);
        } else {
          members.erase(r.event.user);
        }
      }
    }
  }
  return std::vector<std::string>(members.begin(), members.end());
}

}  // namespace segflow
