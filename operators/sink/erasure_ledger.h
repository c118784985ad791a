// The erasure ledger (issue 6 item 5, `segflow forget`): an append-only JSON-lines file
// beside a log, `<dir of log>/governance/ledger.jsonl`, shared by every job on that log.
// Each line is one audit record; a `forget` record {"action": "forget", "user": U,
// "erased_at": T, ...} erases U's records with ts <= T from every job on the log:
//   * source tasks drop them (before the lateness check, so they reach neither keyed
//     state, nor checkpoints, nor the late topic), reloading the ledger when it changes;
//   * keyed tasks delete U's state (cache, RocksDB, timer) when the record appears and
//     before a restored task starts, so no later checkpoint holds it, and drop U's
//     records with ts <= T still in flight (operators/runtime/keyed_erasure.h);
//   * changelog sinks drop U's changes with at <= T and erase U's rows from their
//     audience stores (own and shared), which then refuse U's writes with at <= T.
// The log itself is never rewritten (see README "Governance").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"

namespace segflow {

// user -> erased_at (ms): records and changes with ts/at <= erased_at are erased.
using Erasures = std::unordered_map<std::string, int64_t>;

std::string LedgerPath(const JobSpec& job);
// The ledger of every job whose `log` is `log_dir`.
std::string LedgerPathForLog(const std::string& log_dir);

// Every forget record of the ledger (the latest erased_at per user); empty if no file.
// A line that is not a JSON object is Corruption naming the file and line.
Result<Erasures> LoadErasures(const std::string& path);

// Appends one JSON object line (no newline inside) durably (fsync), under an flock so
// concurrent appenders do not interleave.
Status AppendLedger(const std::string& path, const std::string& json_line);

// Whether a record or change of `user` at `ts` is erased by `erasures`.
inline bool IsErased(const Erasures& erasures, const std::string& user, int64_t ts) {
  if (erasures.empty()) return false;
  auto it = erasures.find(user);
  return it != erasures.end() && ts <= it->second;
}

// Readers (audience, diff, health, --version): removes from `members` (of `store`, or of a
// frozen version read beside it) every user of the ledger whose erasure `store` has not
// applied yet (a running job's sink applies it within a second of the forget record), so
// no answer lists an erased user in between. `store` null: every ledger user is removed.
class AudienceStore;
Status DropErasedMembers(const Erasures& erasures, const AudienceStore* store,
                         std::vector<std::string>* members);

// A ledger that tasks look at again when it changed (size or mtime), at most every
// `interval`. Cheap when nothing changed: one stat().
class ErasureWatch {
 public:
  explicit ErasureWatch(std::string path,
                        std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
  // Loads the ledger now (a task's start).
  Status Load();
  // Reloads if the interval passed and the file changed; true if it reloaded.
  Result<bool> Poll();
  const Erasures& erasures() const { return erasures_; }
  // Whether a record of `user` at `ts` is erased.
  bool Erased(const std::string& user, int64_t ts) const {
    if (erasures_.empty()) return false;
    auto it = erasures_.find(user);
    return it != erasures_.end() && ts <= it->second;
  }

 private:
  std::string path_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_check_{};
  int64_t size_ = -1;
  int64_t mtime_ns_ = -1;
  Erasures erasures_;
};

}  // namespace segflow
