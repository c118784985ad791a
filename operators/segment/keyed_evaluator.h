// KeyedEvaluator: drives one SegmentProgram over many users, as the runtime's keyed
// operator does (in memory; the state store is pluggable).
//
// Users belong to one source partition each. Per partition, a timer heap holds
// (instant, user) entries ordered by (time, user id); an entry is stale, and skipped,
// when it no longer equals the user's scheduled instant. AdvanceWatermark(p, W) runs
// every instant < W of p's users in (time, user) order, so the changes it appends are in
// that order too. Not thread-safe: one owner thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/status.h"
#include "operators/segment/program.h"
#include "operators/segment/user_state_store.h"

namespace segflow {

struct KeyedChange {
  std::string user;
  MembershipChange change;
};

class KeyedEvaluator {
 public:
  // `store` defaults to an InMemoryUserStateStore.
  KeyedEvaluator(std::shared_ptr<const SegmentProgram> program, uint32_t partitions,
                 std::unique_ptr<UserStateStore> store = nullptr);
  ~KeyedEvaluator();

  // An on-time event of `user`. FailedPrecondition if its ts is below the partition's
  // watermark (that instant is already evaluated) or the user was seen in another partition.
  Status AddEvent(uint32_t partition, const std::string& user, ProjectedEvent&& event);
  // The same with the user's HashUser() already computed (the source task has it).
  Status AddEvent(uint32_t partition, const std::string& user, uint64_t user_hash,
                  ProjectedEvent&& event);

  // Hints for a batch of events (no effect on results): a caller about to add events of
  // users with these hashes calls PrefetchIndex a few events ahead, then PrefetchSlot,
  // then PrefetchState, so that the lookups' cache misses overlap instead of queueing.
  void PrefetchIndex(uint64_t user_hash) const;
  void PrefetchSlot(uint64_t user_hash) const;
  void PrefetchState(uint64_t user_hash) const;

  // Evaluates every pending instant < watermark of the partition's users.
  Status AdvanceWatermark(uint32_t partition, int64_t watermark, std::vector<KeyedChange>* out);

  // Evaluates every instant <= until of all partitions; changes in (at, user) order.
  Status Finish(int64_t until, std::vector<KeyedChange>* out);

  // Syncs the state store (see UserStateStore::Sync), e.g. before a snapshot. A snapshot
  // of an evaluator is its store's state plus watermark(p) of every partition.
  Status Sync();

  // Rebuilds a fresh evaluator from a store restored from a snapshot: every user with
  // state, its timer (SegmentProgram::NextInstant) and the partitions' watermarks. A
  // user's partition is PartitionFor(HashUser(user), partitions), as in the log.
  Status Restore(const std::vector<int64_t>& watermarks);

  // `segflow forget`: deletes the user's state from the store and every bookkeeping of
  // theirs here (their pending instant: no timer of theirs fires afterwards). A later
  // event of the user starts a new state, as for a user never seen. True if the user had
  // state. Evaluating other users is unaffected.
  Result<bool> EraseUser(const std::string& user);

  // Membership as of the user's last evaluated instant (false for unknown users).
  Result<bool> IsMember(const std::string& user, uint32_t segment);
  // Users who are members of `segment`, sorted.
  Result<std::vector<std::string>> Members(uint32_t segment);

  // Instants below this have been evaluated for every user of the partition.
  int64_t watermark(uint32_t partition) const { return partitions_[partition].watermark; }
  size_t users() const { return slots_.size() - erased_slots_; }

 private:
  struct Slot {
    std::string user;
    uint64_t hash = 0;  // HashUser(user)
    uint32_t partition = 0;
    int64_t scheduled = 0;  // the instant of the user's live heap entry
    bool has_scheduled = false;
    // The user's state from the store, usable while the store's epoch is `epoch`: the hot
    // path then skips the store's lookup.
    UserState* state = nullptr;
    uint64_t epoch = 0;
    // Erased (EraseUser): no state in the store, no live heap entry. The slot stays (its
    // user still orders the heap's stale entries) and is reused by the user's next event.
    bool erased = false;
  };
  struct TimerEntry {
    int64_t time;
    uint32_t slot;
  };
  struct Partition {
    std::vector<TimerEntry> heap;  // min-heap by (time, user id)
    int64_t watermark;
  };

  // Evaluates the partition's instants <= last.
  Status RunThrough(uint32_t partition, int64_t last, std::vector<KeyedChange>* out);
  void Schedule(uint32_t slot, const UserState& state);
  Result<UserState*> StateOf(Slot* slot);
  bool Later(const TimerEntry& a, const TimerEntry& b) const;
  // The slot of `user`, or kNoSlot. FindSlot's probe sequence also gives Insert's place.
  uint32_t FindSlot(std::string_view user, uint64_t hash, size_t* pos) const;
  void IndexSlot(uint32_t slot, size_t pos);
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  std::shared_ptr<const SegmentProgram> program_;
  std::unique_ptr<UserStateStore> store_;
  std::vector<Partition> partitions_;
  std::vector<Slot> slots_;
  // user -> slot: open addressing with linear probing over HashUser, at most half full.
  // (A node-based map costs several cache misses per event at a million users.)
  std::vector<uint32_t> index_;
  std::vector<MembershipChange> scratch_;
  size_t erased_slots_ = 0;
};

}  // namespace segflow
