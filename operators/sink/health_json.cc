#include "operators/sink/health_json.h"

#include <optional>
#include <utility>

#include "engine/value/time_format.h"
#include "engine/value/value.h"

namespace segflow {
namespace {

Value MsValue(const std::optional<int64_t>& v) {
  return v ? Value::Int(*v) : Value::Null();
}
Value Count(uint64_t n) {
  return Value::Int(static_cast<int64_t>(n));
}

Value StatsValue(const AudienceStore::ApplyStats& s) {
  return Value::Object({{"applied", Count(s.applied)},
                        {"duplicates", Count(s.duplicates)},
                        {"stale", Count(s.stale)},
                        {"blocked", Count(s.blocked)}});
}

}  // namespace

std::string HealthReportJson(const HealthReport& r) {
  ValueArray segments;
  for (const auto& s : r.segments) {
    ValueArray hourly;
    for (const auto& [hour, n] : s.hourly) {
      hourly.push_back(Value::Object({{"hour", Value::String(FormatRfc3339Millis(hour))},
                                      {"hour_ms", Value::Int(hour)},
                                      {"entries", Count(n.first)},
                                      {"exits", Count(n.second)}}));
    }
    segments.push_back(Value::Object({{"segment", Value::String(s.segment)},
                                      {"population", Count(s.population)},
                                      {"entries", Count(s.entries)},
                                      {"exits", Count(s.exits)},
                                      {"hourly", Value::Array(std::move(hourly))},
                                      {"latency_samples", Count(s.latency_samples)},
                                      {"latency_p50_ms", MsValue(s.latency_p50_ms)},
                                      {"latency_p90_ms", MsValue(s.latency_p90_ms)},
                                      {"latency_p99_ms", MsValue(s.latency_p99_ms)}}));
  }
  ValueArray late;
  for (const auto& [hour, n] : r.late_hourly) {
    late.push_back(Value::Object({{"hour", Value::String(FormatRfc3339Millis(hour))},
                                  {"hour_ms", Value::Int(hour)},
                                  {"late", Count(n)}}));
  }
  ValueObject o{
      {"job", Value::String(r.job)},
      {"evaluated_through", r.evaluated_through ? Value::Int(*r.evaluated_through) : Value::Null()},
      {"hours", Value::Int(r.hours)},
      {"segments", Value::Array(std::move(segments))},
      {"late", Count(r.late)},
      {"late_hourly", Value::Array(std::move(late))},
      {"audience_store", StatsValue(r.store_stats)}};
  if (r.has_shared) o.emplace_back("shared_audience_store", StatsValue(r.shared_stats));
  return Value::Object(std::move(o)).ToJson() + "\n";
}

}  // namespace segflow
