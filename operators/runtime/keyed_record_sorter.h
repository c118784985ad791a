// KeyedRecordSorter: a keyed task's bounded input, sorted by user (Flink's BATCH execution
// sorts each keyed input by key, issue 17). Records are kept serialized (about 60 bytes
// each, against about 300 as objects) in memory up to a byte budget; each time the buffer
// passes it, it is sorted and written to a run file in `spill_dir`, and ForEachUser
// merges the runs with what is still in memory.
//
// Order: (HashUser, user, ts, seq, arrival): a user's events in event time, those with
// the same ts in log order (profile updates, spec §5), then in the order they came.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/common/status.h"
#include "operators/runtime/messages.h"

namespace segflow {

class KeyedRecordSorter {
 public:
  // `spill_dir` is created (an owned folder) at the first spill and removed by the
  // destructor; `memory_bytes` bounds the bytes held in memory (at least one batch).
  KeyedRecordSorter(std::string spill_dir, size_t memory_bytes);
  ~KeyedRecordSorter();
  KeyedRecordSorter(const KeyedRecordSorter&) = delete;
  KeyedRecordSorter& operator=(const KeyedRecordSorter&) = delete;

  // Takes a record (serialized: the caller's copy can go). May spill: an error names the
  // run file and what failed (a full disk: free space, or raise the memory budget).
  Status Add(const KeyedRecord& r);

  // Drops every record of `user` taken so far (`segflow forget` during the run).
  void EraseUser(const std::string& user);

  // Calls `fn` once per user with all of the user's records, in order; the records may be
  // moved from. Their `partition` and `event` are set (not `user` or `user_hash`: the user
  // is `fn`'s first argument). Consumes the sorter: it is empty afterwards. `fn`'s error
  // stops it.
  using UserFn =
      std::function<Status(std::string_view user, const std::vector<KeyedRecord*>& records)>;
  Status ForEachUser(const UserFn& fn);

  uint64_t records() const { return records_spilled_ + keys_.size(); }
  size_t runs() const { return runs_.size(); }
  uint64_t spilled_bytes() const { return spilled_bytes_; }

 private:
  // A record in memory: its sort key and where its entry (u32 length, then the record:
  // EncodeEntry) is: block << 32 | offset. Entries are
  // appended in arrival order, so `at` orders ties as they came. A run file's records all
  // arrived before any later run's and before those in memory.
  struct Key {
    uint64_t hash;
    int64_t ts;
    uint64_t seq;
    uint64_t at;
  };
  class Cursor;     // a sorted run file being read back
  class RunWriter;  // a sorted run file being written
  static constexpr size_t kMaxRuns = 32;
  using Visit = std::function<Status(const Key& key, std::string_view entry)>;

  static bool Before(const Key& a, const Key& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    if (a.ts != b.ts) return a.ts < b.ts;
    if (a.seq != b.seq) return a.seq < b.seq;
    return a.at < b.at;
  }
  void SortKeys();
  std::string_view EntryAt(uint64_t at) const;
  void PrefetchEntry(uint64_t at) const;
  Status Spill();
  // Every record of the runs (and of memory, `with_memory`) in order, erased ones left out.
  Status Merge(bool with_memory, const Visit& visit);
  // The runs merged into one.
  Status MergeRuns();
  void RemoveRuns();
  void Clear();
  // Calls `fn` per user of `group` (entries of one hash, in order).
  Status EmitGroup(const std::vector<std::string_view>& group, const UserFn& fn);

  const std::string spill_dir_;
  const size_t memory_bytes_;
  const size_t block_size_;  // entries are appended to blocks of this size
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size, capacity;
  };
  std::vector<Block> blocks_;  // the entries (their length first), in arrival order
  size_t block_bytes_ = 0;     // the blocks' capacity
  std::vector<Key> keys_;
  std::string scratch_;
  std::vector<KeyedRecord> decoded_;  // a group's records, reused
  std::vector<KeyedRecord*> pointers_, user_;
  std::vector<std::string_view> users_;  // a group's users, by record
  std::vector<std::string> runs_;        // run file paths, in spill order
  uint64_t next_run_ = 0;
  uint64_t records_spilled_ = 0;
  uint64_t spilled_bytes_ = 0;
  bool created_dir_ = false;
  // user -> how many runs were spilled when the user was erased (earlier runs' records of
  // theirs are dropped when read back).
  std::unordered_map<std::string, size_t> erased_;
};

}  // namespace segflow
