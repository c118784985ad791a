#include "operators/sink/explain_query.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>
#include <utility>

#include "connectors/source_connector.h"
#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "engine/value/time_format.h"
#include "jobs/execution_graph.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {
namespace {

constexpr size_t kPollRecords = 4096;

// The user's on-time records of one source split (topic index, partition), projected,
// read through the job's source connector (the embedded log or Kafka) from its first
// record to its end offset now. Lateness is the source task's rule (spec §2): per
// partition, in offset order, a record is late when its ts is below the largest ts read
// before it minus max_out_of_orderness. Undecodable Kafka values are skipped, as the
// source task skips them. Sets `*found` when the user has a record there.
Status ReadUserEvents(const JobSpec& job, const SegmentProgram& program, SourceConnector& source,
                      uint32_t topic, uint32_t partition, const std::string& user,
                      std::vector<ExplainEvent>* out, size_t* late, bool* found) {
  const int64_t ooo = job.source.max_out_of_orderness_ms;
  constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  int64_t max_prev = kNone;
  auto end = source.EndOffset(topic, partition);
  if (!end.ok()) return end.status();
  auto reader = source.OpenReader(topic, partition, 0);
  if (!reader.ok()) return reader.status();
  // A broker may answer slowly; a read that makes no progress for this long is an error.
  constexpr auto kStall = std::chrono::seconds(60);
  auto progressed = std::chrono::steady_clock::now();
  std::vector<log::LogRecord> records;
  std::vector<RejectedRecord> rejects;
  while ((*reader)->position() < *end) {
    records.clear();
    rejects.clear();
    auto n = (*reader)->Poll(kPollRecords, &records, &rejects);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      if (source.reads_are_immediate()) break;
      if (std::chrono::steady_clock::now() - progressed > kStall) {
        return Status::IOError("explain: reading " + source.where() + " topic " + job.source.topics.at(topic) +
                               " partition " + std::to_string(partition) + " made no progress for 60 s at offset " +
                               std::to_string((*reader)->position()) + " of " + std::to_string(*end));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    progressed = std::chrono::steady_clock::now();
    for (auto& r : records) {
      const int64_t ts = r.event.ts;
      const bool is_late = max_prev != kNone && ts < max_prev - ooo;
      if (ts > max_prev) max_prev = ts;
      if (r.event.user != user) continue;
      *found = true;
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

  // The user's partition. On the embedded log `produce` placed each user by hash (every
  // source topic has the job's partition count); on Kafka the producer chose, so every
  // partition is read: a job sees each user in one partition only (it fails otherwise).
  auto source = OpenSourceConnector(SourceConfigOf(job));
  if (!source.ok()) return source.status();
  auto partitions = (*source)->Partitions(0);
  if (!partitions.ok()) return partitions.status();
  report.partition = PartitionFor(HashUser(user), *partitions);
  std::vector<ExplainEvent> history;
  for (uint32_t topic = 0; topic < job.source.topics.size(); ++topic) {
    auto count = (*source)->Partitions(topic);
    if (!count.ok()) return count.status();
    for (uint32_t p = 0; p < *count; ++p) {
      if (!job.source.kafka.enabled() && p != report.partition) continue;
      bool found = false;
      SEGFLOW_RETURN_IF_ERROR(
          ReadUserEvents(job, **program, **source, topic, p, user, &history, &report.late_records, &found));
      if (found && job.source.kafka.enabled()) report.partition = p;
    }
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
