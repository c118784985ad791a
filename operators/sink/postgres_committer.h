// PostgresCommitter: the committer of the job's PostgreSQL audience table (job file
// `output.postgres`, spec integrations §11; FLIP-143's Committer beside the changelog
// sink's writer).
//
// The table holds exactly the current members (segment, user_id, version, entered_at,
// stamp_at, stamp_pos); Segflow's side tables beside it (same schema, named after it):
//   <table>_tombstones (segment, user_id, stamp_at, stamp_pos)  exits, stamped
//   <table>_consent    (user_id, granted, ts, seq)              latest consent event
//   <table>_erasures   (user_id, erased_at)                     `segflow forget`
//   segflow_progress   (target, job, checkpoint, evaluated, evaluated_at, changelog_offsets)
//   segflow_commits    (target, job, checkpoint, evaluated, changes, committed_at): one row
//                      per applied transaction, so that tests and operators can see that no
//                      checkpoint was applied twice.
// Reconciliation is the audience store's (audience_store.h): a write applies only if its
// stamp (at, pos, exit over enter) is newer than the row's, member or tombstone; enters
// of a user whose latest consent is a withdrawal, and writes at or before a user's
// erasure, are refused. Writers of one table serialize on a transaction-scoped advisory
// lock, so several jobs (a live job and backfills) may feed it.
//
// Exactly once: one checkpoint's changes and the job's progress row commit in ONE
// transaction, after the changelog's commit marker for that checkpoint. On restore, the
// progress row's changelog offsets say what is applied: the committed changelog between
// them and the restored checkpoint is applied first (one transaction), so no checkpoint is
// applied twice nor skipped. A live job keeps commits that failed (server down, login
// refused, statement timeout) queued and retries them with backoff; a bounded one fails.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/sink_committer.h"

struct pg_conn;

namespace segflow {

class PostgresCommitter : public SinkCommitter {
 public:
  // Its kind is recorded in segflow_commits.
  using Progress = CommitProgress;

  // Connects (a live job retries until connected or `stop`), creates the tables if
  // missing and refuses a table of another shape.
  static Result<std::unique_ptr<PostgresCommitter>> Open(const JobSpec& job, bool live,
                                                         const std::atomic<bool>* stop);
  // For reading only (segflow diff): connects, and refuses a table that is missing or of
  // another shape; creates nothing.
  static Result<std::unique_ptr<PostgresCommitter>> OpenForRead(const JobSpec& job);
  ~PostgresCommitter() override;

  // The job's progress on record; nullopt when it never committed to this table.
  Result<std::optional<Progress>> ReadProgress();

  // Brings the table to the restored checkpoint `restored` (its changelog ends in
  // restored.offsets): applies the committed changelog records past the progress row, in
  // one transaction with the new progress. `fresh` (a run from the log's start, whose
  // changelog was reset): only records the progress.
  Status Restore(const Progress& restored, bool fresh) override;

  // Queues one checkpoint's changes with the progress they bring and tries to commit
  // everything queued, in order, one transaction each. A bounded job returns the error of
  // a failed commit; a live one keeps it queued and retries (Poll) with backoff.
  Status Commit(std::vector<AudienceStore::Change> changes, const Progress& progress) override;
  // Retries queued commits once their backoff has elapsed.
  Status Poll() override;
  // Commits everything queued, retrying up to `timeout` (a live job's last commit).
  Status Drain(std::chrono::milliseconds timeout) override;
  size_t queued() const { return queue_.size(); }
  // "N change(s) in M transaction(s), S s in PostgreSQL (R changes/s)": what was applied.
  std::string Summary() const override;

  // Governance: records consent events (a withdrawal turns the user's members into
  // tombstones) and erasures (every row of the user deleted, older writes refused). A live
  // job's RecordConsents retries with backoff until recorded or stopped (its source waits:
  // a checkpoint's consents are in the table before its changes).
  Status RecordConsents(const std::vector<AudienceStore::ConsentRecord>& records);
  Status Erase(const std::string& user, int64_t erased_at);

  // Reading the table (segflow diff): a segment's members (sorted bytewise, as the
  // audience store's), and every segment with a member.
  Result<std::vector<std::string>> Members(const std::string& segment);
  Result<std::vector<std::string>> Segments();
  // The job's progress for people: "checkpoint N, evaluated through T".
  Result<std::string> ProgressText();

  // "postgres table <t> (<dsn>)": the prefix of every message.
  const std::string& where() const { return where_; }

 private:
  PostgresCommitter(const JobSpec& job, bool live, const std::atomic<bool>* stop);
  Status Connect();
  Status EnsureSchema();  // creates what is missing, then CheckShape
  Status CheckShape();
  Status Exec(const std::string& sql);
  Status RecordConsentsOnce(const std::vector<AudienceStore::ConsentRecord>& records);
  struct Pending;
  Status ApplyOne(const Pending& commit);
  Status TryQueued();
  Status Enqueue(std::vector<AudienceStore::Change> changes, const Progress& progress, bool record,
                 bool label);
  Status Failed(const Status& s);

  std::string dsn_, table_, job_, log_dir_, changelog_;
  std::string schema_, name_;  // table_ split; schema_ empty: the search path's
  std::map<std::string, std::string> versions_;
  bool versions_labelled_ = false;  // every row of the job's segments carries its version
  bool live_;
  const std::atomic<bool>* stop_;
  std::string where_;
  pg_conn* conn_ = nullptr;
  struct Pending {
    std::vector<AudienceStore::Change> changes;
    Progress progress;
    bool record = true;  // a row in segflow_commits (false: progress moved, nothing applied)
    // Labels the job's segments with its versions (a commit of this attempt's own changes).
    // False for the restore catch-up, whose changes are the previous attempt's (an
    // upgrade's old job): its rows keep the version the segment's rows have, so the label
    // switches with the upgrade's switch records, in the first checkpoint's transaction.
    bool label = true;
  };
  std::deque<Pending> queue_;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{100};
  std::chrono::steady_clock::time_point last_report_{};
  uint64_t applied_changes_ = 0, applied_transactions_ = 0;
  std::chrono::steady_clock::duration applied_time_{};
};

// Reads a changelog topic between `from` and `to` (per partition) as audience changes
// (pos 0: the changelog holds no log positions), in order.
Result<std::vector<AudienceStore::Change>> ReadChangelogChanges(const std::string& log_dir,
                                                                const std::string& topic,
                                                                const std::vector<uint64_t>& from,
                                                                const std::vector<uint64_t>& to);

}  // namespace segflow
