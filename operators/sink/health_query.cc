#include "operators/sink/health_query.h"

#include <algorithm>
#include <cmath>

#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "operators/runtime/job_graph.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {
namespace {

constexpr int64_t kHourMs = 3600 * 1000;

int64_t HourOf(int64_t t) {
  return t - (((t % kHourMs) + kHourMs) % kHourMs);
}

// Every committed record of `topic` (all of it for a topic without a commit marker).
template <typename F>
Status ForEachCommitted(const JobSpec& job, const std::string& topic, F&& f) {
  auto meta = log::ReadTopicMeta(job.log_dir, topic);
  if (!meta.ok()) return meta.status();
  auto limits = log::CommittedLimits(job.log_dir, topic, meta->partitions);
  if (!limits.ok()) return limits.status();
  std::vector<log::LogRecord> records;
  for (uint32_t p = 0; p < meta->partitions; ++p) {
    auto reader = log::PartitionReader::Open(job.log_dir, topic, p, 0);
    if (!reader.ok()) return reader.status();
    const uint64_t limit = (*limits)[p];
    while ((*reader)->position() < limit) {
      records.clear();
      auto n = (*reader)->Poll(
          static_cast<size_t>(std::min<uint64_t>(4096, limit - (*reader)->position())), &records);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      for (const auto& r : records) f(r);
    }
  }
  return Status::OK();
}

}  // namespace

std::optional<int64_t> LatencyQuantile(const AudienceStore::LatencyHistogram& h, double q) {
  uint64_t total = 0;
  for (uint64_t n : h) total += n;
  if (total == 0) return std::nullopt;
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    seen += h[i];
    if (seen >= rank) return i == 0 ? int64_t{0} : (int64_t{1} << i) - 1;
  }
  return std::nullopt;
}

Result<HealthReport> ComputeHealth(const JobSpec& job, int hours, const AudienceStore* held) {
  if (hours < 1 || hours > 10000)
    return Status::InvalidArgument("hours " + std::to_string(hours) + " is not in 1..10000");
  HealthReport report;
  report.job = job.name;
  report.hours = hours;
  std::unique_ptr<AudienceStore> opened;
  if (held == nullptr) {
    auto o = AudienceStore::OpenForRead(job.output.audience_dir);
    if (!o.ok()) return o.status();
    opened = std::move(o).value();
    held = opened.get();
  }
  auto evaluated = held->EvaluatedThrough();
  if (!evaluated.ok()) return evaluated.status();
  report.evaluated_through = *evaluated;
  auto stats = held->Stats();
  if (!stats.ok()) return stats.status();
  report.store_stats = *stats;
  if (!job.output.shared_audience_dir.empty()) {
    auto shared = AudienceStore::OpenForRead(job.output.shared_audience_dir);
    if (shared.ok()) {
      auto s = (*shared)->Stats(job.name);
      if (!s.ok()) return s.status();
      report.has_shared = true;
      report.shared_stats = *s;
    } else if (shared.status().code() != Status::Code::kNotFound) {
      return shared.status();
    }
  }
  // Users erased by `segflow forget` count nowhere (erasure_ledger.h).
  auto erasures = LoadErasures(LedgerPath(job));
  if (!erasures.ok()) return erasures.status();
  // The hourly window: `hours` hours ending with the evaluated time's hour.
  const int64_t last_hour = HourOf(report.evaluated_through.value_or(0));
  const int64_t first_hour = last_hour - (hours - 1) * kHourMs;
  std::map<std::string, size_t> index;
  for (const auto& s : job.segments) {
    SegmentHealth h;
    h.segment = s.id;
    if (erasures->empty()) {
      auto population = held->CountMembers(s.id);
      if (!population.ok()) return population.status();
      h.population = *population;
    } else {
      auto population = held->Members(s.id);
      if (!population.ok()) return population.status();
      SEGFLOW_RETURN_IF_ERROR(DropErasedMembers(*erasures, held, &*population));
      h.population = population->size();
    }
    auto latency = held->Latency(s.id);
    if (!latency.ok()) return latency.status();
    for (uint64_t n : *latency) h.latency_samples += n;
    h.latency_p50_ms = LatencyQuantile(*latency, 0.50);
    h.latency_p90_ms = LatencyQuantile(*latency, 0.90);
    h.latency_p99_ms = LatencyQuantile(*latency, 0.99);
    if (report.evaluated_through) {
      for (int64_t t = first_hour; t <= last_hour; t += kHourMs) h.hourly[t] = {0, 0};
    }
    index[s.id] = report.segments.size();
    report.segments.push_back(std::move(h));
  }
  if (report.evaluated_through) {
    for (int64_t t = first_hour; t <= last_hour; t += kHourMs) report.late_hourly[t] = 0;
  }
  SEGFLOW_RETURN_IF_ERROR(ForEachCommitted(job, job.output.changelog, [&](const log::LogRecord& r) {
    const Value* seg = r.event.props.Find("segment");
    if (seg == nullptr || !seg->is_string()) return;
    if (IsErased(*erasures, r.event.user, r.event.ts)) return;
    auto it = index.find(seg->as_string());
    if (it == index.end()) return;
    SegmentHealth& h = report.segments[it->second];
    const bool entered = r.event.type == "entered";
    (entered ? h.entries : h.exits)++;
    if (auto b = h.hourly.find(HourOf(r.event.ts)); b != h.hourly.end())
      (entered ? b->second.first : b->second.second)++;
  }));
  SEGFLOW_RETURN_IF_ERROR(ForEachCommitted(job, LateTopic(job), [&](const log::LogRecord& r) {
    if (IsErased(*erasures, r.event.user, r.event.ts)) return;
    ++report.late;
    if (auto b = report.late_hourly.find(HourOf(r.event.ts)); b != report.late_hourly.end())
      ++b->second;
  }));
  return report;
}

}  // namespace segflow
