// AudienceStore: the embedded, queryable audience (RocksDB), fed by changelog sinks.
//
// Holds each segment's current members and, per writer, the evaluated time: every
// instant <= evaluated_through has been applied. Readers open it read-only while a run
// writes it. History ("as of T") lives in the changelog topic; see audience_query.h.
//
// Reconciliation (issue 6 item 3): every write is stamped with (event time `at`, log
// position `pos`), and a (segment, user) row keeps the stamp of the write that made it.
// A write applies only if its stamp is newer than the row's; an exit leaves a stamped
// tombstone, so a stale enter (a backfill that read less of the log) cannot resurrect a
// member who left. On equal stamps an exit beats an enter (the conservative answer), and
// the same write applied twice is a no-op, so replays after a recovery are idempotent.
// Several jobs (a live job and a backfill) may therefore feed one store in any order and
// it converges to the newest evidence per row, whichever job finishes last.
//
// Governance (issue 6 item 5): the store keeps each user's latest consent stamp and
// erasures. While a user's latest consent is a withdrawal, no enter applies, whatever its
// stamp, until a newer grant is recorded; an erased user's rows are deleted and every
// write with `at` <= the erasure time is refused (data older than the erasure cannot
// bring the user back; new events after it can).
//
// Versions (issue 6 item 2): the store records each segment's *serving version* (the
// version of the definition whose changes it holds, jobs/segment_version.h), written in
// the same batch as the changes, so a reader sees a new version's label and the changes
// that make its audience together or neither. A segment without one (a store of an
// earlier Segflow, or a shared store) is unversioned. Frozen old versions live beside the
// store (audience_versions.h).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace rocksdb {
class DB;
}

namespace segflow {

class AudienceStore {
 public:
  // Opens (creating if needed) for writing; one writer process at a time (RocksDB LOCK:
  // Busy while another process has it open for writing).
  static Result<std::unique_ptr<AudienceStore>> OpenForWrite(const std::string& dir);
  // Opens a consistent read-only view; NotFound if the job never ran.
  static Result<std::unique_ptr<AudienceStore>> OpenForRead(const std::string& dir);
  // Removes the store (a fresh run starts from nothing).
  static Status Destroy(const std::string& dir);
  ~AudienceStore();

  struct Change {
    std::string segment;
    std::string user;
    bool entered = false;
    int64_t at = 0;    // event time of the change
    uint64_t pos = 0;  // log position: orders writes with the same `at` (0 when unknown)
  };
  // What Apply did with each change.
  struct ApplyStats {
    uint64_t applied = 0;     // newer than the row: written
    uint64_t duplicates = 0;  // the row already carries this very write
    uint64_t stale = 0;       // older than the row: refused
    uint64_t blocked = 0;     // an enter of a user whose consent is withdrawn, or erased
    ApplyStats& operator+=(const ApplyStats& o);
  };
  struct ApplyOptions {
    bool sync = false;
    // Who writes: empty is the store's own job; a job feeding a shared store names
    // itself, so each writer's evaluated time and counts are kept apart.
    std::string writer;
    // Wall-clock ms of this commit; when > 0, (now_ms - at) of each applied change is
    // added to its segment's latency histogram (see Latency).
    int64_t now_ms = 0;
    // Segment id -> serving version, recorded in this Apply's batch (with its changes and
    // evaluated time); segments not listed keep the version on record.
    std::map<std::string, std::string> versions;
    // Segments that stop serving: their rows, version and latency histogram are deleted
    // in this batch; changes of them in the same Apply are refused (counted stale).
    std::vector<std::string> retired;
    // Applies every change in the given order, whatever the stamps (stamps are still
    // stored): a replay of one writer's own history, e.g. a store rebuilt from the job's
    // changelog, whose records carry no log position (pos 0), so an exit and a later
    // enter of one row at the same `at` would compare equal and the exit would win.
    // Governance (consent, erasures) still applies.
    bool ordered = false;
    // With `ordered`: the store held nothing before this writer's run (a fresh attempt's,
    // reset by PreparedOutputs), so while it has no governance records (nothing deleted
    // rows behind the changes' back) a row's membership before a change is the opposite of
    // the change (memberships alternate, spec §9) and the row is not read per change.
    bool fresh = false;
  };
  // Applies changes (under the rules above) and the writer's new evaluated time
  // atomically; a writer's evaluated time never moves back. When `sync` (a run's final
  // commit), fsyncs and flushes the memtable to an SST, so that opening the store (for
  // reading, too) does not replay the write-ahead log.
  Status Apply(const std::vector<Change>& changes, std::optional<int64_t> evaluated_through,
               const ApplyOptions& options, ApplyStats* stats = nullptr);
  Status Apply(const std::vector<Change>& changes, std::optional<int64_t> evaluated_through,
               bool sync) {
    ApplyOptions o;
    o.sync = sync;
    return Apply(changes, evaluated_through, o);
  }

  // A consent event (spec §6): `seq` (its log offset) orders events with the same ts,
  // the later winning, as in the engine.
  struct ConsentRecord {
    std::string user;
    bool granted = false;
    int64_t ts = 0;
    uint64_t seq = 0;
  };
  // Records each consent event if newer (ts, seq) than the user's on record. A recorded
  // withdrawal turns every current membership of the user into a tombstone stamped `ts`
  // (or later, keeping a newer row's time). Returns the memberships it removed.
  Result<uint64_t> RecordConsents(const std::vector<ConsentRecord>& records);
  Result<uint64_t> RecordConsent(const std::string& user, bool granted, int64_t ts,
                                 uint64_t seq = 0) {
    return RecordConsents({{user, granted, ts, seq}});
  }
  // Deletes every row of `user` (members and tombstones) and records the erasure at
  // `erased_at` (ms). Returns the memberships it removed.
  Result<uint64_t> Erase(const std::string& user, int64_t erased_at);

  // Latency histogram: bucket 0 counts latencies <= 0 ms, bucket i >= 1 those in
  // [2^(i-1), 2^i) ms.
  static constexpr size_t kLatencyBuckets = 48;
  using LatencyHistogram = std::array<uint64_t, kLatencyBuckets>;

  // Segment id -> serving version of every versioned segment.
  Result<std::map<std::string, std::string>> Versions() const;
  // Current members of a segment, sorted.
  Result<std::vector<std::string>> Members(const std::string& segment) const;
  // O(1): a per-segment count kept in the same batches as the rows (see SegmentCounts);
  // a store written by a Segflow without counts is scanned instead.
  Result<uint64_t> CountMembers(const std::string& segment) const;
  // Kept per segment with its rows, in the same write batch, so a count is always the
  // size of the member set a reader sees with it: members are rows that are members;
  // entered / exited count the applied enters / exits (a replayed duplicate or a refused
  // stale or blocked write is not counted), which for a store fed by one job are its
  // changelog's records. Withdrawn consent and erasures lower `members` only. A store
  // that an earlier Segflow wrote gets its member counts by one scan at its first
  // OpenForWrite; its entered/exited count from then on.
  struct SegmentCounts {
    uint64_t members = 0;
    uint64_t entered = 0;
    uint64_t exited = 0;
  };
  Result<SegmentCounts> Counts(const std::string& segment) const;
  // What a segment list (the job's /segments, /metrics) shows, read from one consistent
  // snapshot: every count is the audience as of `evaluated_through`.
  struct SegmentSummary {
    std::string segment;
    std::string version;  // empty: unversioned
    SegmentCounts counts;
    LatencyHistogram latency{};
  };
  struct Summary {
    std::optional<int64_t> evaluated_through;
    std::vector<SegmentSummary> segments;
  };
  Result<Summary> Summarize(const std::vector<std::string>& segments) const;
  // The event time of the change that made `user` a member of `segment` (nullopt: not a
  // member). One point read.
  Result<std::optional<int64_t>> MemberSince(const std::string& segment,
                                             const std::string& user) const;
  // Every segment with a member or a tombstone, sorted.
  Result<std::vector<std::string>> Segments() const;
  // The evaluated time of `writer` (empty: the own job); nullopt before the first instant.
  Result<std::optional<int64_t>> EvaluatedThrough(const std::string& writer = "") const;
  // Every writer that has applied to this store with its name (the own job is "").
  Result<std::vector<std::string>> Writers() const;
  // A writer's cumulative ApplyStats.
  Result<ApplyStats> Stats(const std::string& writer = "") const;
  // Latency histogram of a segment (see LatencyHistogram).
  Result<LatencyHistogram> Latency(const std::string& segment) const;
  // Latest consent on record: (granted, ts); nullopt if none.
  Result<std::optional<std::pair<bool, int64_t>>> Consent(const std::string& user) const;
  Result<std::optional<int64_t>> ErasedAt(const std::string& user) const;

 private:
  explicit AudienceStore(std::unique_ptr<rocksdb::DB> db);
  // Writes the member counts of a store without them (one scan; see SegmentCounts).
  Status CountAll();
  std::unique_ptr<rocksdb::DB> db_;
  // Whether this store keeps counts (read at opening; a read-only view of a store that an
  // earlier Segflow wrote and no writer has opened since does not).
  bool has_counts_ = false;
  // Whether any consent or erasure row exists: without one, Apply reads only the rows
  // (one RocksDB read per change instead of three). Exact: a store open for writing has
  // one writer, and this object is it.
  bool has_governance_ = false;
};

// Runs `fn` on a store that other processes also write (a shared, reconciled audience):
// opens it for this one call, retrying while another writer holds it (up to
// `busy_timeout_ms`; then Busy), and closes it.
Status WithSharedStore(const std::string& dir, int64_t busy_timeout_ms,
                       const std::function<Status(AudienceStore*)>& fn);

// Applies to a store that other processes also write (a shared, reconciled audience):
// opens it for this one write, retrying while another writer holds it (up to
// `busy_timeout_ms`), applies and closes it.
Status ApplyToSharedStore(const std::string& dir, const std::vector<AudienceStore::Change>& changes,
                          std::optional<int64_t> evaluated_through,
                          const AudienceStore::ApplyOptions& options,
                          AudienceStore::ApplyStats* stats = nullptr,
                          int64_t busy_timeout_ms = 30000);

}  // namespace segflow
