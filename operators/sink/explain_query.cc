#include "operators/sink/explain_query.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "engine/value/time_format.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {
namespace {

constexpr size_t kPollRecords = 4096;

// The user's on-time records of one source topic partition, projected. Lateness is the
// source task's rule (spec §2): per partition, in log order, a record is late when its ts
// is below the largest ts read before it minus max_out_of_orderness.
Status ReadUserEvents(const JobSpec& job, const SegmentProgram& program, const std::string& topic,
                      uint32_t partition, const std::string& user, std::vector<ExplainEvent>* out,
                      size_t* late) {
  const int64_t ooo = job.source.max_out_of_orderness_ms;
  constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  int64_t max_prev = kNone;
  auto reader = log::PartitionReader::Open(job.log_dir, topic, partition, 0);
  if (!reader.ok()) return reader.status();
  std::vector<log::LogRecord> records;
  for (;;) {
    records.clear();
    auto n = (*reader)->Poll(kPollRecords, &records);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    for (auto& r : records) {
      const int64_t ts = r.event.ts;
      const bool is_late = max_prev != kNone && ts < max_prev - ooo;
      if (ts > max_prev) max_prev = ts;
      if (r.event.user != user) continue;
      if (is_late) {
        ++*late;
        continue;
      }
      ExplainEvent e;
      program.Project(r.event, r.offset, &e.projected);
      e.event = std::move(r.event);
      out->push_back(std::move(e));
    }
  }
  return Status::OK();
}

}  // namespace

Result<ExplainReport> ExplainFromLog(const JobSpec& job, const std::string& segment,
                                     const std::string& user, std::optional<int64_t> at) {
  uint32_t seg = 0;
  while (seg < job.segments.size() && job.segments[seg].id != segment) ++seg;
  if (seg == job.segments.size()) {
    std::string known;
    for (const auto& s : job.segments) known += (known.empty() ? "" : ", ") + s.id;
    return Status::NotFound("job " + job.name + " has no segment \"" + segment +
                            "\" (segments: " + known + ")");
  }
  auto program = SegmentProgram::Compile(job);
  if (!program.ok()) return program.status();
  // An erased user's records are still in the log (it is never rewritten); explain does
  // not read them back.
  auto erasures = LoadErasures(LedgerPath(job));
  if (!erasures.ok()) return erasures.status();
  if (auto e = erasures->find(user); e != erasures->end()) {
    return Status::FailedPrecondition("user " + user + " was erased by segflow forget (records at or before " +
                                      FormatRfc3339Millis(e->second) + ", ledger " + LedgerPath(job) +
                                      "): nothing of them is explained");
  }

  auto store = AudienceStore::OpenForRead(job.output.audience_dir);
  if (!store.ok()) return store.status();
  auto evaluated = (*store)->EvaluatedThrough();
  if (!evaluated.ok()) return evaluated.status();
  if (!evaluated->has_value()) {
    return Status::OutOfRange("job " + job.name + " has not evaluated any instant yet");
  }
  ExplainReport report;
  report.user = user;
  report.evaluated_through = **evaluated;
  if (at && *at > report.evaluated_through) {
    return Status::OutOfRange("time " + FormatRfc3339Millis(*at) + " (" + std::to_string(*at) +
                              ") is not evaluated yet: job " + job.name + " has evaluated through " +
                              FormatRfc3339Millis(report.evaluated_through) + " (" +
                              std::to_string(report.evaluated_through) + ")");
  }
  const int64_t t = at.value_or(report.evaluated_through);

  // The user's partition: every source topic has the job's partition count.
  auto meta = log::ReadTopicMeta(job.log_dir, job.source.topics.at(0));
  if (!meta.ok()) return meta.status();
  report.partition = PartitionFor(HashUser(user), meta->partitions);
  std::vector<ExplainEvent> history;
  for (const std::string& topic : job.source.topics) {
    SEGFLOW_RETURN_IF_ERROR(
        ReadUserEvents(job, **program, topic, report.partition, user, &history, &report.late_records));
  }
  for (const ExplainEvent& e : history) report.events += e.event.ts <= t ? 1 : 0;
  report.explanation = ExplainUser(**program, std::move(history), seg, t);

  // The changelog: the sink writes every record of a user to one partition, but read all.
  auto cmeta = log::ReadTopicMeta(job.log_dir, job.output.changelog);
  if (!cmeta.ok()) return cmeta.status();
  // Committed records only (a transactional changelog's tail may still be aborted).
  auto limits = log::CommittedLimits(job.log_dir, job.output.changelog, cmeta->partitions);
  if (!limits.ok()) return limits.status();
  std::vector<log::LogRecord> records;
  for (uint32_t p = 0; p < cmeta->partitions; ++p) {
    auto reader = log::PartitionReader::Open(job.log_dir, job.output.changelog, p, 0);
    if (!reader.ok()) return reader.status();
    for (;;) {
      records.clear();
      if ((*reader)->position() >= (*limits)[p]) break;
      auto n = (*reader)->Poll(
          static_cast<size_t>(std::min<uint64_t>(kPollRecords, (*limits)[p] - (*reader)->position())), &records);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      for (const auto& r : records) {
        if (r.event.user != user || r.event.ts > t) continue;
        const Value* s = r.event.props.Find("segment");
        if (s == nullptr || !s->is_string() || s->as_string() != segment) continue;
        report.changelog.push_back({r.event.ts, r.event.type == "entered"});
      }
    }
  }
  const auto& changes = report.explanation.changes;
  report.changelog_agrees = changes.size() == report.changelog.size();
  for (size_t i = 0; report.changelog_agrees && i < changes.size(); ++i) {
    report.changelog_agrees = changes[i].at == report.changelog[i].at &&
                              changes[i].entered == report.changelog[i].entered;
  }
  return report;
}

namespace {

Value NodeJson(const ExplainNode& n) {
  ValueArray events;
  for (const EvidenceEvent& e : n.events) {
    events.push_back(Value::Object({{"ts", Value::Int(e.ts)},
                                    {"time", Value::String(FormatRfc3339Millis(e.ts))},
                                    {"offset", Value::Int(static_cast<int64_t>(e.seq))},
                                    {"event", Value::String(e.type)},
                                    {"role", Value::String(e.role)},
                                    {"props", e.props}}));
  }
  ValueArray children;
  for (const ExplainNode& c : n.children) children.push_back(NodeJson(c));
  return Value::Object({{"kind", Value::String(n.kind)},
                        {"text", Value::String(n.text)},
                        {"holds", Value::Bool(n.holds)},
                        {"facts", Value::Object(n.facts)},
                        {"events", Value::Array(std::move(events))},
                        {"events_omitted", Value::Int(static_cast<int64_t>(n.events_omitted))},
                        {"children", Value::Array(std::move(children))}});
}

Value OptTime(const std::optional<int64_t>& t) { return t ? Value::Int(*t) : Value::Null(); }

}  // namespace

std::string ExplainReportJson(const JobSpec& job, const ExplainReport& r) {
  const SegmentExplanation& x = r.explanation;
  const MembershipExplanation& m = x.membership;
  ValueArray changelog;
  for (const auto& c : r.changelog) {
    changelog.push_back(Value::Object({{"at", Value::Int(c.at)},
                                       {"change", Value::String(c.entered ? "entered" : "exited")}}));
  }
  Value v = Value::Object({
      {"job", Value::String(job.name)},
      {"segment", Value::String(x.segment)},
      {"user", Value::String(r.user)},
      {"at", Value::Int(x.at)},
      {"evaluated_through", Value::Int(r.evaluated_through)},
      {"known_user", Value::Bool(x.known_user)},
      {"partition", Value::Int(r.partition)},
      {"events", Value::Int(static_cast<int64_t>(r.events))},
      {"late_records", Value::Int(static_cast<int64_t>(r.late_records))},
      {"last_instant", OptTime(x.last_instant)},
      {"member", Value::Bool(m.member)},
      {"verdict", Value::String(x.verdict)},
      {"condition", NodeJson(x.root)},
      {"membership", Value::Object({{"member", Value::Bool(m.member)},
                                    {"since", OptTime(m.since)},
                                    {"until", OptTime(m.until)},
                                    {"armed", Value::Bool(m.armed)},
                                    {"cooldown_until", OptTime(m.cooldown_until)},
                                    {"consent", m.consent ? Value::Bool(*m.consent) : Value::Null()},
                                    {"condition", Value::Bool(m.condition)}})},
      {"changelog", Value::Array(std::move(changelog))},
      {"changelog_agrees", Value::Bool(r.changelog_agrees)},
  });
  return v.ToJson() + "\n";
}


}  // namespace segflow
