#include "worker/audience_service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "jobs/job_parser.h"
#include "operators/sink/audience_diff.h"
#include "operators/sink/audience_query.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"
#include "operators/sink/explain_query.h"
#include "operators/sink/health_json.h"
#include "operators/sink/health_query.h"
#include "operators/sink/live_audience.h"

namespace segflow {
namespace {

wire::AudienceError ErrorOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kNotFound:
      return wire::AudienceError::NOT_FOUND;
    case Status::Code::kOutOfRange:
      return wire::AudienceError::NOT_EVALUATED;
    case Status::Code::kInvalidArgument:
      return wire::AudienceError::INVALID;
    default:
      return wire::AudienceError::UNAVAILABLE;
  }
}

// Lookups sit in request paths: the parsed job and a read-only store handle are kept for
// the next questions. A handle sees the store as of its opening, so one older than
// kStoreReuse is opened again (a user lookup is at most that stale); members and explain
// questions always read a fresh one, as `segflow audience` / `explain` do.
constexpr auto kStoreReuse = std::chrono::seconds(1);
constexpr size_t kCachedJobs = 16;

struct CachedStore {
  std::shared_ptr<AudienceStore> store;
  std::chrono::steady_clock::time_point opened;
};

// Never destroyed: a read-only RocksDB handle closed by a static destructor at exit, after
// RocksDB's own statics, aborts the process ("pthread lock: Invalid argument").
struct Cache {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const JobParseResult>> parsed_jobs;  // base \0 file \0 text
  std::map<std::string, CachedStore> stores;                                 // audience dir
};
Cache& cache = *new Cache;

std::shared_ptr<const JobParseResult> ParsedJob(const std::string& file, const std::string& text,
                                                const std::string& base) {
  const std::string key = base + '\0' + file + '\0' + text;
  {
    std::lock_guard<std::mutex> lock(cache.mu);
    auto it = cache.parsed_jobs.find(key);
    if (it != cache.parsed_jobs.end()) return it->second;
  }
  auto parsed = std::make_shared<const JobParseResult>(ParseJobText(text, file, base));
  std::lock_guard<std::mutex> lock(cache.mu);
  if (cache.parsed_jobs.size() >= kCachedJobs) cache.parsed_jobs.clear();
  cache.parsed_jobs[key] = parsed;
  return parsed;
}

Result<std::shared_ptr<AudienceStore>> OpenStore(const std::string& dir, bool fresh) {
  const auto now = std::chrono::steady_clock::now();
  if (!fresh) {
    std::lock_guard<std::mutex> lock(cache.mu);
    auto it = cache.stores.find(dir);
    if (it != cache.stores.end() && now - it->second.opened < kStoreReuse) return it->second.store;
  }
  auto opened = AudienceStore::OpenForRead(dir);
  if (!opened.ok()) return opened.status();
  std::shared_ptr<AudienceStore> store(std::move(opened).value());
  std::lock_guard<std::mutex> lock(cache.mu);
  if (cache.stores.size() >= kCachedJobs) cache.stores.clear();
  cache.stores[dir] = {store, now};
  return store;
}

// Each segment's version, counts and latency, and the evaluated time they are as of.
void AnswerSegments(const AudienceStore& store, const JobSpec& job,
                    wire::AudienceAnswer::Builder a) {
  std::vector<std::string> ids;
  for (const auto& s : job.segments) ids.push_back(s.id);
  auto summary = store.Summarize(ids);
  if (!summary.ok()) {
    a.setError(wire::AudienceError::UNAVAILABLE);
    a.setMessage(summary.status().message());
    return;
  }
  auto diff = ReadLastDiff(job.output.audience_dir);
  if (diff.ok() && diff->has_value()) a.setLastDiffJson(**diff);  // an unreadable one: none
  a.setHasEvaluated(summary->evaluated_through.has_value());
  a.setEvaluatedThrough(summary->evaluated_through.value_or(0));
  auto list = a.initSegments(static_cast<unsigned>(summary->segments.size()));
  for (unsigned i = 0; i < summary->segments.size(); ++i) {
    const auto& s = summary->segments[i];
    list[i].setSegment(s.segment);
    list[i].setVersion(s.version);
    list[i].setMembers(s.counts.members);
    list[i].setEntered(s.counts.entered);
    list[i].setExited(s.counts.exited);
    auto buckets = list[i].initLatencyBuckets(static_cast<unsigned>(s.latency.size()));
    for (unsigned b = 0; b < s.latency.size(); ++b) buckets.set(b, s.latency[b]);
  }
}

}  // namespace

void AnswerAudienceQuery(wire::AudienceQuery::Reader q, const DataRoots& roots,
                         wire::AudienceAnswer::Builder a) {
  a.setRequestId(q.getRequestId());
  auto fail = [&](wire::AudienceError e, const std::string& message) {
    a.setError(e);
    a.setMessage(message);
  };
  // The job's paths resolve and are confined as this worker's tasks resolve them.
  const auto parsed = ParsedJob(q.getJobFile().cStr(), q.getJobText().cStr(), roots.base());
  if (!parsed->ok()) return fail(wire::AudienceError::UNAVAILABLE, parsed->ErrorText());
  const JobSpec& job = parsed->job;
  for (const auto& [what, dir] :
       {std::pair<const char*, const std::string&>{"audience store", job.output.audience_dir},
        {"log", job.log_dir}}) {
    if (Status s = roots.Check(dir, std::string("job ") + job.name + ": " + what); !s.ok())
      return fail(wire::AudienceError::UNAVAILABLE, s.message());
  }
  const std::string segment = q.getSegment().cStr();
  const std::string user = q.getUser().cStr();
  const std::optional<int64_t> at = q.getHasAt() ? std::optional<int64_t>(q.getAt()) : std::nullopt;
  if (!segment.empty() && job.FindSegment(segment) == nullptr) {
    std::string known;
    for (const auto& s : job.segments) known += (known.empty() ? "" : ", ") + s.id;
    return fail(wire::AudienceError::NOT_FOUND, "job " + job.name + " has no segment \"" + segment +
                                                    "\" (segments: " + known + ")");
  }
  // A segment list reads the running sink's own handle when this worker runs it (no
  // reopening, see live_audience.h): counts kept in the store, one snapshot.
  if (q.getKind() == wire::AudienceQueryKind::SEGMENTS &&
      WithLiveAudience(job.output.audience_dir,
                       [&](const AudienceStore& live) { AnswerSegments(live, job, a); })) {
    return;
  }
  if (q.getKind() == wire::AudienceQueryKind::HEALTH) {
    Result<HealthReport> report = Status::Internal("not computed");
    if (WithLiveAudience(job.output.audience_dir, [&](const AudienceStore& live) {
          report = ComputeHealth(job, static_cast<int>(q.getHours()), &live);
        })) {
      if (!report.ok()) return fail(ErrorOf(report.status()), report.status().message());
      if (report->evaluated_through) {
        a.setHasEvaluated(true);
        a.setEvaluatedThrough(*report->evaluated_through);
      }
      a.setHealthJson(HealthReportJson(*report));
      return;
    }
  }
  const bool fresh = q.getKind() == wire::AudienceQueryKind::MEMBERS ||
                     q.getKind() == wire::AudienceQueryKind::HEALTH ||
                     q.getKind() == wire::AudienceQueryKind::EXPLAIN;
  auto store = OpenStore(job.output.audience_dir, fresh);
  if (!store.ok()) {
    return fail(wire::AudienceError::UNAVAILABLE,
                store.status().message() + (store.status().code() == Status::Code::kNotFound
                                                ? " (the job has not written its audience yet)"
                                                : ""));
  }
  auto evaluated = (*store)->EvaluatedThrough();
  if (!evaluated.ok()) return fail(wire::AudienceError::UNAVAILABLE, evaluated.status().message());
  if (evaluated->has_value()) {
    a.setHasEvaluated(true);
    a.setEvaluatedThrough(**evaluated);
  }
  switch (q.getKind()) {
    case wire::AudienceQueryKind::SEGMENTS:
      return AnswerSegments(**store, job, a);
    case wire::AudienceQueryKind::MEMBERS: {
      // The members `segflow audience JOB --segment S [--at T]` prints, then one page.
      auto members = AudienceAt(job, segment, at);
      if (!members.ok()) return fail(ErrorOf(members.status()), members.status().message());
      const std::string after = q.getAfter().cStr();
      auto first = after.empty() ? members->begin()
                                 : std::upper_bound(members->begin(), members->end(), after);
      const size_t left = static_cast<size_t>(members->end() - first);
      const size_t n = std::min<size_t>(left, q.getLimit());
      auto list = a.initMembers(static_cast<unsigned>(n));
      for (size_t i = 0; i < n; ++i)
        list.set(static_cast<unsigned>(i), first[static_cast<ptrdiff_t>(i)]);
      if (n < left && n > 0) a.setNext(first[static_cast<ptrdiff_t>(n - 1)]);
      return;
    }
    case wire::AudienceQueryKind::USER: {
      // An erased user (segflow forget) is in no segment, even before the sink applied it.
      auto erasures = LoadErasures(LedgerPath(job));
      if (!erasures.ok())
        return fail(wire::AudienceError::UNAVAILABLE, erasures.status().message());
      std::vector<std::pair<std::string, int64_t>> in;
      for (const auto& s : job.segments) {
        auto since = (*store)->MemberSince(s.id, user);
        if (!since.ok()) return fail(wire::AudienceError::UNAVAILABLE, since.status().message());
        if (since->has_value() && erasures->count(user) == 0) in.emplace_back(s.id, **since);
      }
      auto list = a.initMemberships(static_cast<unsigned>(in.size()));
      for (unsigned i = 0; i < in.size(); ++i) {
        list[i].setSegment(in[i].first);
        list[i].setSince(in[i].second);
      }
      return;
    }
    case wire::AudienceQueryKind::HEALTH: {
      auto report = ComputeHealth(job, static_cast<int>(q.getHours()), store->get());
      if (!report.ok()) return fail(ErrorOf(report.status()), report.status().message());
      a.setHealthJson(HealthReportJson(*report));
      return;
    }
    case wire::AudienceQueryKind::EXPLAIN: {
      if (segment.empty()) return fail(wire::AudienceError::INVALID, "explain needs segment=ID");
      auto report = ExplainFromLog(job, segment, user, at);
      if (!report.ok()) return fail(ErrorOf(report.status()), report.status().message());
      a.setExplainJson(ExplainReportJson(job, *report));
      return;
    }
  }
  fail(wire::AudienceError::INVALID, "unknown question");
}

}  // namespace segflow
