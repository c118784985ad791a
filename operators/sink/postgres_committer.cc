#include "operators/sink/postgres_committer.h"

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <map>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "engine/log/log.h"

namespace segflow {
namespace {

std::string Quote(const std::string& id) {
  std::string out = "\"";
  for (char c : id) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

// A value in COPY's text format.
void CopyText(std::string* out, const std::string& v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        out->push_back(c);
    }
  }
}

std::string LibpqText(pg_conn* conn) {
  std::string m = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  for (char& c : m) {
    if (c == '\n') c = ' ';
  }
  return m;
}

// Holds a PGresult; ok() when its status is one of the expected ones.
struct PgResult {
  PGresult* r = nullptr;
  explicit PgResult(PGresult* p) : r(p) {}
  ~PgResult() { PQclear(r); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  bool ok() const {
    const auto s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
};

std::string OffsetsArray(const std::vector<uint64_t>& offsets) {
  std::string s = "{";
  for (size_t i = 0; i < offsets.size(); ++i) s += (i ? "," : "") + std::to_string(offsets[i]);
  return s + "}";
}

std::vector<uint64_t> ParseOffsetsArray(const std::string& s) {
  std::vector<uint64_t> out;
  size_t i = 0;
  while (i < s.size()) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      size_t end = i;
      while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
      out.push_back(std::stoull(s.substr(i, end - i)));
      i = end;
    } else {
      ++i;
    }
  }
  return out;
}

}  // namespace

PostgresCommitter::PostgresCommitter(const JobSpec& job, bool live, const std::atomic<bool>* stop)
    : dsn_(job.output.postgres.dsn),
      table_(job.output.postgres.table),
      job_(job.name),
      log_dir_(job.log_dir),
      changelog_(job.output.changelog),
      versions_(job.segment_versions),
      live_(live),
      stop_(stop) {
  const size_t dot = table_.find('.');
  if (dot == std::string::npos) {
    name_ = table_;
  } else {
    schema_ = table_.substr(0, dot);
    name_ = table_.substr(dot + 1);
  }
  where_ = "postgres table " + table_ + " (" + dsn_ + ")";
}

PostgresCommitter::~PostgresCommitter() {
  if (conn_ != nullptr) PQfinish(conn_);
}

namespace {
std::string Qualified(const std::string& schema, const std::string& name) {
  return schema.empty() ? Quote(name) : Quote(schema) + "." + Quote(name);
}
}  // namespace

Result<std::unique_ptr<PostgresCommitter>> PostgresCommitter::Open(const JobSpec& job, bool live,
                                                                   const std::atomic<bool>* stop) {
  std::unique_ptr<PostgresCommitter> c(new PostgresCommitter(job, live, stop));
  for (;;) {
    Status s = c->Connect();
    if (s.ok()) s = c->EnsureSchema();
    if (s.ok()) return c;
    // A table of another shape is not fixed by waiting.
    if (!live || s.code() == Status::Code::kFailedPrecondition) return s;
    SEGFLOW_RETURN_IF_ERROR(c->Failed(s));
    while (std::chrono::steady_clock::now() < c->retry_at_) {
      if (stop != nullptr && stop->load()) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

Status PostgresCommitter::Connect() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return Status::OK();
  if (conn_ != nullptr) PQfinish(conn_);
  // connect_timeout first: the dsn's own settings, expanded from dbname, override it.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "segflow", dsn_.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    Status s = Status::IOError(
        where_ + ": cannot connect: " + LibpqText(conn_) +
        " (is the server up, and does it accept this login? the password comes from "
        "PGPASSWORD or ~/.pgpass)");
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
    return s;
  }
  // Server notices ("relation ... already exists, skipping") are not Segflow's output.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // A statement timeout of the dsn (options='-c statement_timeout=...'), the role or the
  // server is kept; without one, a statement waiting over a minute (a lock held by another
  // client) fails the commit, which a live job retries.
  {
    PgResult timeout(PQexec(conn_, "SHOW statement_timeout"));
    if (!timeout.ok() || PQntuples(timeout.r) != 1)
      return Status::IOError(where_ + ": " + LibpqText(conn_) + " (in: SHOW statement_timeout)");
    if (std::string(PQgetvalue(timeout.r, 0, 0)) == "0")
      SEGFLOW_RETURN_IF_ERROR(Exec("SET statement_timeout = '60s'"));
  }
  return Exec(
      "CREATE TEMP TABLE IF NOT EXISTS segflow_in (segment text, user_id text, version text, "
      "member boolean, "
      "at bigint, pos bigint) ON COMMIT DELETE ROWS");
}

Status PostgresCommitter::Exec(const std::string& sql) {
  PgResult r(PQexec(conn_, sql.c_str()));
  if (!r.ok()) {
    return Status::IOError(where_ + ": " + LibpqText(conn_) + " (in: " + sql.substr(0, 80) + ")");
  }
  return Status::OK();
}

Result<std::unique_ptr<PostgresCommitter>> PostgresCommitter::OpenForRead(const JobSpec& job) {
  std::unique_ptr<PostgresCommitter> c(new PostgresCommitter(job, false, nullptr));
  SEGFLOW_RETURN_IF_ERROR(c->Connect());
  const std::string t = Qualified(c->schema_, c->name_);
  const std::string progress = Qualified(c->schema_, "segflow_progress");
  const char* params[] = {t.c_str(), progress.c_str()};
  PgResult r(PQexecParams(c->conn_, "SELECT to_regclass($1) IS NULL, to_regclass($2) IS NULL", 2,
                          nullptr, params, nullptr, nullptr, 0));
  if (!r.ok() || PQntuples(r.r) != 1)
    return Status::IOError(c->where_ + ": look the table up: " + LibpqText(c->conn_));
  if (std::string(PQgetvalue(r.r, 0, 0)) == "t" || std::string(PQgetvalue(r.r, 0, 1)) == "t") {
    return Status::NotFound(c->where_ +
                            " does not exist (or has no segflow_progress beside it): "
                            "no run of job " +
                            job.name + " wrote it yet; check the dsn and table");
  }
  SEGFLOW_RETURN_IF_ERROR(c->CheckShape());
  return c;
}

Status PostgresCommitter::EnsureSchema() {
  const std::string t = Qualified(schema_, name_);
  const std::string lock = "SELECT pg_advisory_xact_lock(hashtext('segflow:' || '" + table_ + "'))";
  SEGFLOW_RETURN_IF_ERROR(Exec("BEGIN"));
  Status s = Exec(lock);
  if (s.ok()) {
    s = Exec(
        "CREATE TABLE IF NOT EXISTS " + t +
        " (segment text NOT NULL, user_id text NOT NULL, version text, entered_at timestamptz, "
        "stamp_at bigint NOT NULL, stamp_pos bigint NOT NULL, PRIMARY KEY (segment, user_id))");
  }
  if (s.ok()) {
    s = Exec("CREATE TABLE IF NOT EXISTS " + Qualified(schema_, name_ + "_tombstones") +
             " (segment text NOT NULL, user_id text NOT NULL, stamp_at bigint NOT NULL, stamp_pos "
             "bigint NOT NULL, "
             "PRIMARY KEY (segment, user_id))");
  }
  if (s.ok()) {
    s = Exec("CREATE TABLE IF NOT EXISTS " + Qualified(schema_, name_ + "_consent") +
             " (user_id text PRIMARY KEY, granted boolean NOT NULL, ts bigint NOT NULL, seq bigint "
             "NOT NULL)");
  }
  if (s.ok()) {
    s = Exec("CREATE TABLE IF NOT EXISTS " + Qualified(schema_, name_ + "_erasures") +
             " (user_id text PRIMARY KEY, erased_at bigint NOT NULL)");
  }
  if (s.ok()) {
    s = Exec(
        "CREATE TABLE IF NOT EXISTS " + Qualified(schema_, "segflow_progress") +
        " (target text NOT NULL, job text NOT NULL, checkpoint bigint NOT NULL, evaluated bigint, "
        "evaluated_at timestamptz, changelog_offsets bigint[] NOT NULL, updated_at timestamptz NOT "
        "NULL "
        "DEFAULT now(), PRIMARY KEY (target, job))");
  }
  if (s.ok()) {
    s = Exec(
        "CREATE TABLE IF NOT EXISTS " + Qualified(schema_, "segflow_commits") +
        " (target text NOT NULL, job text NOT NULL, checkpoint bigint NOT NULL, evaluated bigint, "
        "changes bigint NOT NULL, kind text NOT NULL, committed_at timestamptz NOT NULL DEFAULT "
        "now())");
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  SEGFLOW_RETURN_IF_ERROR(Exec("COMMIT"));
  return CheckShape();
}

Status PostgresCommitter::CheckShape() {
  const std::string t = Qualified(schema_, name_);
  // The contract's columns (others may be added by the user) and primary key.
  const std::string regclass = t;
  const char* params[] = {regclass.c_str()};
  PgResult cols(
      PQexecParams(conn_,
                   "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                   "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                   1, nullptr, params, nullptr, nullptr, 0));
  if (!cols.ok())
    return Status::IOError(where_ + ": read the table's columns: " + LibpqText(conn_));
  std::map<std::string, std::string> have;
  for (int i = 0; i < PQntuples(cols.r); ++i)
    have[PQgetvalue(cols.r, i, 0)] = PQgetvalue(cols.r, i, 1);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"segment", "text"},    {"user_id", "text"},
      {"version", "text"},    {"entered_at", "timestamp with time zone"},
      {"stamp_at", "bigint"}, {"stamp_pos", "bigint"}};
  std::string problems;
  for (const auto& [col, type] : want) {
    auto it = have.find(col);
    if (it == have.end()) {
      problems += (problems.empty() ? "" : "; ") + std::string("no column ") + col;
    } else if (it->second != type) {
      problems += (problems.empty() ? "" : "; ") + std::string("column ") + col + " is " +
                  it->second + ", expected " + type;
    }
  }
  PgResult pk(PQexecParams(
      conn_,
      "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a "
      "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
      "WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
      1, nullptr, params, nullptr, nullptr, 0));
  if (!pk.ok())
    return Status::IOError(where_ + ": read the table's primary key: " + LibpqText(conn_));
  const std::string key = PQntuples(pk.r) > 0 ? PQgetvalue(pk.r, 0, 0) : "";
  if (key != "segment,user_id") {
    problems += (problems.empty() ? "" : "; ") + std::string("primary key is (") + key +
                "), expected (segment, user_id)";
  }
  if (!problems.empty()) {
    return Status::FailedPrecondition(where_ + " exists with another shape: " + problems +
                                      ". Segflow needs (segment text, user_id text, version text, "
                                      "entered_at timestamptz, stamp_at bigint, "
                                      "stamp_pos bigint, primary key (segment, user_id)); name "
                                      "another table in output.postgres.table or "
                                      "drop this one");
  }
  return Status::OK();
}

Result<std::optional<PostgresCommitter::Progress>> PostgresCommitter::ReadProgress() {
  SEGFLOW_RETURN_IF_ERROR(Connect());
  const char* params[] = {table_.c_str(), job_.c_str()};
  const std::string sql = "SELECT checkpoint, evaluated, changelog_offsets FROM " +
                          Qualified(schema_, "segflow_progress") +
                          " WHERE target = $1 AND job = $2";
  PgResult r(PQexecParams(conn_, sql.c_str(), 2, nullptr, params, nullptr, nullptr, 0));
  if (!r.ok()) return Status::IOError(where_ + ": read progress: " + LibpqText(conn_));
  if (PQntuples(r.r) == 0) return std::optional<Progress>();
  Progress p;
  p.checkpoint = std::stoull(PQgetvalue(r.r, 0, 0));
  if (!PQgetisnull(r.r, 0, 1)) p.evaluated = std::stoll(PQgetvalue(r.r, 0, 1));
  p.offsets = ParseOffsetsArray(PQgetvalue(r.r, 0, 2));
  return std::optional<Progress>(std::move(p));
}

Status PostgresCommitter::ApplyOne(const Pending& commit) {
  const std::vector<AudienceStore::Change>& changes = commit.changes;
  const Progress& progress = commit.progress;
  const bool record = commit.record;
  const bool label = commit.label || versions_labelled_;
  const auto started = std::chrono::steady_clock::now();
  SEGFLOW_RETURN_IF_ERROR(Connect());
  // One write per row: a later change of the row wins unless its stamp is older (a
  // replayed changelog has pos 0 throughout, so its order decides ties).
  std::unordered_map<std::string, size_t> last;
  last.reserve(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    const auto& c = changes[i];
    std::string key = c.segment;
    key.push_back('\0');
    key += c.user;
    auto [it, fresh] = last.try_emplace(std::move(key), i);
    if (!fresh) {
      const auto& prev = changes[it->second];
      if (std::make_pair(c.at, c.pos) >= std::make_pair(prev.at, prev.pos)) it->second = i;
    }
  }
  std::vector<size_t> order;
  order.reserve(last.size());
  for (const auto& [k, i] : last) order.push_back(i);
  std::sort(order.begin(), order.end());

  const std::string t = Qualified(schema_, name_);
  const std::string tomb = Qualified(schema_, name_ + "_tombstones");
  const std::string consent = Qualified(schema_, name_ + "_consent");
  const std::string erased = Qualified(schema_, name_ + "_erasures");
  auto fail = [&](const Status& s) {
    (void)Exec("ROLLBACK");
    return s;
  };
  SEGFLOW_RETURN_IF_ERROR(Exec("BEGIN"));
  Status s = Exec("SELECT pg_advisory_xact_lock(hashtext('segflow:' || '" + table_ + "'))");
  if (!s.ok()) return fail(s);
  // The version each written row gets: the job's, or (not labelling) the one the segment's
  // rows have now (read under the lock), so that no segment shows two versions.
  std::map<std::string, std::optional<std::string>> versions(versions_.begin(), versions_.end());
  if (!label && !order.empty()) {
    for (auto& [segment, version] : versions) {
      const char* vp[] = {segment.c_str()};
      const std::string sql = "SELECT version FROM " + t + " WHERE segment = $1 LIMIT 1";
      PgResult r(PQexecParams(conn_, sql.c_str(), 1, nullptr, vp, nullptr, nullptr, 0));
      if (!r.ok()) return fail(Status::IOError(where_ + ": read versions: " + LibpqText(conn_)));
      if (PQntuples(r.r) == 0) continue;
      version =
          PQgetisnull(r.r, 0, 0) ? std::nullopt : std::optional<std::string>(PQgetvalue(r.r, 0, 0));
    }
  }
  if (!order.empty()) {
    PgResult copy(PQexec(conn_, "COPY segflow_in FROM STDIN"));
    if (PQresultStatus(copy.r) != PGRES_COPY_IN)
      return fail(Status::IOError(where_ + ": COPY: " + LibpqText(conn_)));
    std::string buf;
    for (size_t i : order) {
      const auto& c = changes[i];
      CopyText(&buf, c.segment);
      buf.push_back('\t');
      CopyText(&buf, c.user);
      buf.push_back('\t');
      auto v = versions.find(c.segment);
      if (v == versions.end() || !v->second) {
        buf.append("\\N");
      } else {
        CopyText(&buf, *v->second);
      }
      buf.append(c.entered ? "\tt\t" : "\tf\t");
      buf.append(std::to_string(c.at));
      buf.push_back('\t');
      // stamp_pos is a bigint: an upgrade's switch records (pos "after every position",
      // the largest uint64) keep their order as the largest bigint.
      buf.append(std::to_string(std::min<uint64_t>(c.pos, std::numeric_limits<int64_t>::max())));
      buf.push_back('\n');
      if (buf.size() > (1u << 20)) {
        if (PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1) {
          return fail(Status::IOError(where_ + ": COPY: " + LibpqText(conn_)));
        }
        buf.clear();
      }
    }
    if ((!buf.empty() && PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1) ||
        PQputCopyEnd(conn_, nullptr) != 1) {
      return fail(Status::IOError(where_ + ": COPY: " + LibpqText(conn_)));
    }
    PgResult done(PQgetResult(conn_));
    if (PQresultStatus(done.r) != PGRES_COMMAND_OK) {
      return fail(Status::IOError(where_ + ": COPY: " + LibpqText(conn_)));
    }
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    const std::string kind = "CASE WHEN i.member THEN 0 ELSE 1 END";
    const std::vector<std::string> merge = {
        // Governance: writes at or before the user's erasure; enters while consent is withdrawn.
        "DELETE FROM segflow_in i USING " + erased +
            " e WHERE e.user_id = i.user_id AND i.at <= e.erased_at",
        "DELETE FROM segflow_in i USING " + consent +
            " c WHERE i.member AND c.user_id = i.user_id AND NOT c.granted",
        // Stale or duplicate: the row (member or tombstone) has a stamp at least as new.
        "DELETE FROM segflow_in i USING " + t +
            " m WHERE m.segment = i.segment AND m.user_id = i.user_id AND (m.stamp_at, "
            "m.stamp_pos, 0) >= (i.at, "
            "i.pos, " +
            kind + ")",
        "DELETE FROM segflow_in i USING " + tomb +
            " x WHERE x.segment = i.segment AND x.user_id = i.user_id AND (x.stamp_at, "
            "x.stamp_pos, 1) >= (i.at, "
            "i.pos, " +
            kind + ")",
        "DELETE FROM " + t +
            " m USING segflow_in i WHERE NOT i.member AND m.segment = i.segment AND m.user_id = "
            "i.user_id",
        "DELETE FROM " + tomb +
            " x USING segflow_in i WHERE i.member AND x.segment = i.segment AND x.user_id = "
            "i.user_id",
        "INSERT INTO " + t +
            " (segment, user_id, version, entered_at, stamp_at, stamp_pos) SELECT segment, "
            "user_id, version, "
            "timestamptz 'epoch' + at * interval '1 millisecond', at, pos FROM segflow_in WHERE "
            "member "
            "ON CONFLICT (segment, user_id) DO UPDATE SET version = excluded.version, entered_at = "
            "excluded.entered_at, stamp_at = excluded.stamp_at, stamp_pos = excluded.stamp_pos",
        "INSERT INTO " + tomb +
            " (segment, user_id, stamp_at, stamp_pos) SELECT segment, user_id, at, pos FROM "
            "segflow_in WHERE NOT "
            "member ON CONFLICT (segment, user_id) DO UPDATE SET stamp_at = excluded.stamp_at, "
            "stamp_pos = "
            "excluded.stamp_pos"};
    for (const auto& sql : merge) {
      s = Exec(sql);
      if (!s.ok()) return fail(s);
    }
  }
  // The job's segment versions label every row of its segments, switched with this
  // attempt's first commit of its own changes (an upgrade's new job: the checkpoint holding
  // the switch records, not the restore catch-up): the audience and its version switch in
  // one transaction.
  if (label && !versions_labelled_) {
    for (const auto& [segment, version] : versions_) {
      const char* vp[] = {segment.c_str(), version.c_str()};
      const std::string sql =
          "UPDATE " + t + " SET version = $2 WHERE segment = $1 AND version IS DISTINCT FROM $2";
      PgResult r(PQexecParams(conn_, sql.c_str(), 2, nullptr, vp, nullptr, nullptr, 0));
      if (!r.ok()) return fail(Status::IOError(where_ + ": label versions: " + LibpqText(conn_)));
    }
  }
  // The progress row, and a history row per applied checkpoint, in the same transaction.
  const std::string checkpoint = std::to_string(progress.checkpoint);
  const std::string evaluated = progress.evaluated ? std::to_string(*progress.evaluated) : "";
  const std::string offsets = OffsetsArray(progress.offsets);
  const std::string count = std::to_string(order.size());
  const char* params[] = {table_.c_str(),     job_.c_str(),
                          checkpoint.c_str(), progress.evaluated ? evaluated.c_str() : nullptr,
                          offsets.c_str(),    count.c_str()};
  const std::string upsert =
      "INSERT INTO " + Qualified(schema_, "segflow_progress") +
      " (target, job, checkpoint, evaluated, evaluated_at, changelog_offsets, updated_at) VALUES "
      "($1, $2, $3, "
      "$4::bigint, timestamptz 'epoch' + $4::bigint * interval '1 millisecond', $5, now()) ON "
      "CONFLICT (target, "
      "job) DO UPDATE SET checkpoint = excluded.checkpoint, evaluated = excluded.evaluated, "
      "evaluated_at = "
      "excluded.evaluated_at, changelog_offsets = excluded.changelog_offsets, updated_at = now()";
  PgResult up(PQexecParams(conn_, upsert.c_str(), 5, nullptr, params, nullptr, nullptr, 0));
  if (!up.ok()) return fail(Status::IOError(where_ + ": write progress: " + LibpqText(conn_)));
  if (record) {
    const std::string hist = "INSERT INTO " + Qualified(schema_, "segflow_commits") +
                             " (target, job, checkpoint, evaluated, changes, kind) VALUES ($1, $2, "
                             "$3, $4::bigint, $5, $6)";
    const char* hp[] = {params[0], params[1], params[2],
                        params[3], params[5], progress.kind.c_str()};
    PgResult h(PQexecParams(conn_, hist.c_str(), 6, nullptr, hp, nullptr, nullptr, 0));
    if (!h.ok()) return fail(Status::IOError(where_ + ": write progress: " + LibpqText(conn_)));
  }
  SEGFLOW_RETURN_IF_ERROR(Exec("COMMIT"));
  versions_labelled_ = label;
  applied_changes_ += changes.size();
  ++applied_transactions_;
  applied_time_ += std::chrono::steady_clock::now() - started;
  return Status::OK();
}

std::string PostgresCommitter::Summary() const {
  const double secs = std::chrono::duration<double>(applied_time_).count();
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.3f s in PostgreSQL (%.0f changes/s)", secs,
                secs > 0 ? static_cast<double>(applied_changes_) / secs : 0.0);
  return where_ + ": " + std::to_string(applied_changes_) + " change(s) in " +
         std::to_string(applied_transactions_) + " transaction(s), " + rate;
}

Status PostgresCommitter::Failed(const Status& s) {
  // A connection that failed mid-transaction is dropped: the next try connects again.
  if (conn_ != nullptr && PQstatus(conn_) != CONNECTION_OK) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  const auto now = std::chrono::steady_clock::now();
  retry_at_ = now + backoff_;
  if (now - last_report_ >= std::chrono::seconds(5)) {
    std::fprintf(stderr, "segflow: %s; retrying in %lld ms (%zu commit(s) queued)\n",
                 s.message().c_str(), static_cast<long long>(backoff_.count()), queue_.size());
    last_report_ = now;
  }
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
  return Status::OK();
}

Status PostgresCommitter::TryQueued() {
  while (!queue_.empty()) {
    Status s = ApplyOne(queue_.front());
    if (!s.ok()) {
      if (!live_ || s.code() == Status::Code::kFailedPrecondition) return s;
      return Failed(s);
    }
    queue_.pop_front();
    backoff_ = std::chrono::milliseconds(100);
  }
  return Status::OK();
}

Status PostgresCommitter::Commit(std::vector<AudienceStore::Change> changes,
                                 const Progress& progress) {
  return Enqueue(std::move(changes), progress, true, true);
}

Status PostgresCommitter::Enqueue(std::vector<AudienceStore::Change> changes,
                                  const Progress& progress, bool record, bool label) {
  const bool waiting = !queue_.empty() && std::chrono::steady_clock::now() < retry_at_;
  queue_.push_back({std::move(changes), progress, record, label});
  if (waiting) return Status::OK();
  return TryQueued();
}

Status PostgresCommitter::Poll() {
  if (queue_.empty() || std::chrono::steady_clock::now() < retry_at_) return Status::OK();
  return TryQueued();
}

Status PostgresCommitter::Drain(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (queue_.empty()) return Status::OK();
    Status s = ApplyOne(queue_.front());
    if (s.ok()) {
      queue_.pop_front();
      continue;
    }
    if (!live_ || s.code() == Status::Code::kFailedPrecondition ||
        std::chrono::steady_clock::now() >= deadline) {
      return s.Annotate(std::to_string(queue_.size()) + " checkpoint(s) not in the table");
    }
    SEGFLOW_RETURN_IF_ERROR(Failed(s));
    std::this_thread::sleep_until(std::min(retry_at_, deadline));
  }
}

Status PostgresCommitter::Restore(const Progress& restored, bool fresh) {
  auto on_record = ReadProgress();
  if (!on_record.ok()) return on_record.status();
  if (fresh || !*on_record) {
    // A run from the log's start (changelog reset) or the first run into this table:
    // nothing of this job's changelog is applied yet below `restored`; everything from
    // the start is applied (a no-op for rows already newer).
    std::vector<uint64_t> zero(restored.offsets.size(), 0);
    std::vector<AudienceStore::Change> changes;
    if (!fresh) {
      auto read = ReadChangelogChanges(log_dir_, changelog_, zero, restored.offsets);
      if (!read.ok()) return read.status();
      changes = std::move(*read);
    }
    Progress caught_up = restored;
    caught_up.kind = "restore";
    return Enqueue(std::move(changes), caught_up, !fresh, false);
  }
  const Progress& p = **on_record;
  if (p.checkpoint >= restored.checkpoint || p.offsets.size() != restored.offsets.size()) {
    // Already applied (or a restore from an older checkpoint: rows newer than it stay,
    // the replay's writes are no-ops); the progress follows the changelog's truncation.
    return Enqueue({}, restored, false, false);
  }
  std::vector<uint64_t> from = p.offsets;
  for (size_t i = 0; i < from.size(); ++i) from[i] = std::min(from[i], restored.offsets[i]);
  auto read = ReadChangelogChanges(log_dir_, changelog_, from, restored.offsets);
  if (!read.ok()) return read.status();
  Progress caught_up = restored;
  caught_up.kind = "restore";
  return Enqueue(std::move(*read), caught_up, true, false);
}

Result<std::vector<AudienceStore::Change>> ReadChangelogChanges(const std::string& log_dir,
                                                                const std::string& topic,
                                                                const std::vector<uint64_t>& from,
                                                                const std::vector<uint64_t>& to) {
  std::vector<AudienceStore::Change> changes;
  std::vector<log::LogRecord> records;
  for (uint32_t p = 0; p < to.size(); ++p) {
    const uint64_t start = p < from.size() ? from[p] : 0;
    if (start >= to[p]) continue;
    auto reader = log::PartitionReader::Open(log_dir, topic, p, start);
    if (!reader.ok()) return reader.status();
    while ((*reader)->position() < to[p]) {
      records.clear();
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(4096, to[p] - (*reader)->position()));
      auto n = (*reader)->Poll(want, &records);
      if (!n.ok()) return n.status();
      if (*n == 0) {
        return Status::Corruption("changelog " + topic + " partition " + std::to_string(p) +
                                  " ends before its commit point " + std::to_string(to[p]));
      }
      for (auto& r : records) {
        const Value* seg = r.event.props.Find("segment");
        if (seg == nullptr || !seg->is_string()) continue;
        changes.push_back(
            {seg->as_string(), std::move(r.event.user), r.event.type == "entered", r.event.ts, 0});
      }
    }
  }
  return changes;
}

}  // namespace segflow

namespace segflow {

Status PostgresCommitter::RecordConsents(const std::vector<AudienceStore::ConsentRecord>& records) {
  for (;;) {
    Status s = RecordConsentsOnce(records);
    if (s.ok()) backoff_ = std::chrono::milliseconds(100);
    if (s.ok() || !live_ || s.code() == Status::Code::kFailedPrecondition) return s;
    SEGFLOW_RETURN_IF_ERROR(Failed(s));
    while (std::chrono::steady_clock::now() < retry_at_) {
      if (stop_ != nullptr && stop_->load()) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

Status PostgresCommitter::RecordConsentsOnce(
    const std::vector<AudienceStore::ConsentRecord>& records) {
  if (records.empty()) return Status::OK();
  SEGFLOW_RETURN_IF_ERROR(Connect());
  const std::string t = Qualified(schema_, name_);
  const std::string tomb = Qualified(schema_, name_ + "_tombstones");
  const std::string consent = Qualified(schema_, name_ + "_consent");
  SEGFLOW_RETURN_IF_ERROR(Exec("BEGIN"));
  Status s = Exec("SELECT pg_advisory_xact_lock(hashtext('segflow:' || '" + table_ + "'))");
  // Newer (ts, seq) than the one on record replaces it; a withdrawal turns the user's
  // members into tombstones stamped with it (or the row's own newer time).
  // The newest event per user of this batch (later ones win ties, as in the log), all
  // upserted by one statement from arrays: newer (ts, seq) than the one on record replaces
  // it. Then each recorded withdrawal turns the user's members into tombstones stamped
  // with it (or the row's own newer time).
  std::unordered_map<std::string, const AudienceStore::ConsentRecord*> newest;
  for (const auto& r : records) {
    auto [it, fresh] = newest.try_emplace(r.user, &r);
    if (!fresh && std::make_pair(r.ts, r.seq) >= std::make_pair(it->second->ts, it->second->seq)) {
      it->second = &r;
    }
  }
  std::string users = "{", granted = "{", ts = "{", seq = "{";
  bool first = true;
  for (const auto& [user, r] : newest) {
    if (!first) {
      users += ",";
      granted += ",";
      ts += ",";
      seq += ",";
    }
    first = false;
    users += "\"";
    for (char c : user) {
      if (c == '"' || c == '\\') users += '\\';
      users += c;
    }
    users += "\"";
    granted += r->granted ? "t" : "f";
    ts += std::to_string(r->ts);
    seq += std::to_string(r->seq);
  }
  users += "}";
  granted += "}";
  ts += "}";
  seq += "}";
  const std::string upsert =
      "INSERT INTO " + consent +
      " (user_id, granted, ts, seq) SELECT * FROM unnest($1::text[], $2::boolean[], $3::bigint[], "
      "$4::bigint[]) ON CONFLICT (user_id) DO UPDATE SET granted = excluded.granted, ts = "
      "excluded.ts, seq = excluded.seq WHERE (" +
      consent + ".ts, " + consent +
      ".seq) < (excluded.ts, excluded.seq) RETURNING user_id, granted, ts";
  const std::string withdraw =
      "WITH gone AS (DELETE FROM " + t +
      " WHERE user_id = $1 RETURNING segment, user_id, stamp_at, stamp_pos) INSERT INTO " + tomb +
      " (segment, user_id, stamp_at, stamp_pos) SELECT segment, user_id, greatest(stamp_at, "
      "$2::bigint), stamp_pos FROM gone ON CONFLICT (segment, user_id) DO UPDATE SET "
      "stamp_at = excluded.stamp_at, stamp_pos = excluded.stamp_pos";
  if (s.ok()) {
    const char* p[] = {users.c_str(), granted.c_str(), ts.c_str(), seq.c_str()};
    PgResult up(PQexecParams(conn_, upsert.c_str(), 4, nullptr, p, nullptr, nullptr, 0));
    if (!up.ok()) s = Status::IOError(where_ + ": record consent: " + LibpqText(conn_));
    for (int i = 0; s.ok() && i < PQntuples(up.r); ++i) {
      if (std::string(PQgetvalue(up.r, i, 1)) == "t") continue;
      const char* w[] = {PQgetvalue(up.r, i, 0), PQgetvalue(up.r, i, 2)};
      PgResult gone(PQexecParams(conn_, withdraw.c_str(), 2, nullptr, w, nullptr, nullptr, 0));
      if (!gone.ok()) s = Status::IOError(where_ + ": record consent: " + LibpqText(conn_));
    }
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

Status PostgresCommitter::Erase(const std::string& user, int64_t erased_at) {
  SEGFLOW_RETURN_IF_ERROR(Connect());
  SEGFLOW_RETURN_IF_ERROR(Exec("BEGIN"));
  Status s = Exec("SELECT pg_advisory_xact_lock(hashtext('segflow:' || '" + table_ + "'))");
  const std::string at = std::to_string(erased_at);
  const char* p[] = {user.c_str(), at.c_str()};
  const std::vector<std::string> sql = {
      "DELETE FROM " + Qualified(schema_, name_) + " WHERE user_id = $1 AND $2::bigint IS NOT NULL",
      "DELETE FROM " + Qualified(schema_, name_ + "_tombstones") +
          " WHERE user_id = $1 AND $2::bigint IS NOT NULL",
      "DELETE FROM " + Qualified(schema_, name_ + "_consent") +
          " WHERE user_id = $1 AND $2::bigint IS NOT NULL",
      "INSERT INTO " + Qualified(schema_, name_ + "_erasures") +
          " (user_id, erased_at) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET erased_at = "
          "greatest(excluded.erased_at, " +
          Qualified(schema_, name_ + "_erasures") + ".erased_at)"};
  for (const auto& q : sql) {
    if (!s.ok()) break;
    PgResult r(PQexecParams(conn_, q.c_str(), 2, nullptr, p, nullptr, nullptr, 0));
    if (!r.ok()) s = Status::IOError(where_ + ": erase user " + user + ": " + LibpqText(conn_));
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

Result<std::vector<std::string>> PostgresCommitter::Members(const std::string& segment) {
  SEGFLOW_RETURN_IF_ERROR(Connect());
  const std::string sql = "SELECT user_id FROM " + Qualified(schema_, name_) +
                          " WHERE segment = $1 ORDER BY user_id COLLATE \"C\"";
  const char* p[] = {segment.c_str()};
  PgResult r(PQexecParams(conn_, sql.c_str(), 1, nullptr, p, nullptr, nullptr, 0));
  if (!r.ok()) return Status::IOError(where_ + ": read members: " + LibpqText(conn_));
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r.r); ++i) out.emplace_back(PQgetvalue(r.r, i, 0));
  return out;
}

Result<std::vector<std::string>> PostgresCommitter::Segments() {
  SEGFLOW_RETURN_IF_ERROR(Connect());
  const std::string sql = "SELECT segment FROM " + Qualified(schema_, name_) + " GROUP BY segment";
  PgResult r(PQexec(conn_, sql.c_str()));
  if (!r.ok()) return Status::IOError(where_ + ": read segments: " + LibpqText(conn_));
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r.r); ++i) out.emplace_back(PQgetvalue(r.r, i, 0));
  std::sort(out.begin(), out.end());  // bytewise, as the audience store's
  return out;
}

Result<std::string> PostgresCommitter::ProgressText() {
  auto p = ReadProgress();
  if (!p.ok()) return p.status();
  if (!*p) return std::string("job " + job_ + " has not committed to it");
  return "job " + job_ + " at checkpoint " + std::to_string((*p)->checkpoint) +
         ", evaluated through " +
         ((*p)->evaluated ? std::to_string(*(*p)->evaluated) + " ms" : std::string("nothing yet"));
}

}  // namespace segflow
