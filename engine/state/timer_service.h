// TimerService: event-time timers of one keyed subtask, kept in its state backend.
//
// Per source partition, timers (time, key group, user) form a priority queue ordered by
// (time, user): a keyed operator advances each user by the watermark of that user's own
// partition (ARCHITECTURE.md invariant 2). The queue is an ordered set, so timers are
// DEDUPLICATED: registering a pending (partition, time, key group, user) again is a no-op
// and each fires once. Cancel removes one; nothing needs stale-skipping.
//
// Persistence: Flush writes the changes since the last flush to the state's column
// family (key: partition u32 BE, time i64 BE with the sign bit flipped, key group u16 BE,
// user; empty value). Open rebuilds every queue from it, so opening over a restored
// backend restores the timers of its key groups. Registered with the backend as a
// StateFlushable: a snapshot flushes it.
//
// Threading: one owner thread, like its backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/common/status.h"
#include "engine/state/keyed_state_backend.h"

namespace segflow {

struct Timer {
  int64_t time = 0;
  uint32_t key_group = 0;
  std::string user;
  friend bool operator==(const Timer&, const Timer&) = default;
};

class TimerService final : public StateFlushable {
 public:
  static constexpr char kDefaultStateName[] = "timers";
  // Byte offset of the key group in a timer key (after partition and time).
  static constexpr uint32_t kKeyGroupOffset = 12;

  // Registers the timer state in `backend` and loads the timers it holds.
  static Result<std::unique_ptr<TimerService>> Open(KeyedStateBackend* backend,
                                                    std::string_view state_name = kDefaultStateName);
  ~TimerService() override;
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  // OutOfRange if the backend does not own `key_group`.
  Status Register(uint32_t partition, int64_t time, uint32_t key_group, std::string_view user);
  // Removes a pending timer; false if there was none.
  bool Cancel(uint32_t partition, int64_t time, uint32_t key_group, std::string_view user);

  // Removes and appends to `out`, in (time, user) order, every timer of `partition` with
  // time < watermark.
  void PopDue(uint32_t partition, int64_t watermark, std::vector<Timer>* out);

  // Earliest pending time of `partition`.
  std::optional<int64_t> NextTime(uint32_t partition) const;
  size_t size() const { return size_; }
  size_t size(uint32_t partition) const;
  // Partitions with pending timers, ascending.
  std::vector<uint32_t> partitions() const;

  Status Flush() override;

  // The persistent key of a timer (exposed for tests and tools).
  static void EncodeKey(uint32_t partition, int64_t time, uint32_t key_group, std::string_view user,
                        std::string* out);
  static bool DecodeKey(std::string_view key, uint32_t* partition, Timer* timer);

 private:
  struct Order {
    bool operator()(const Timer& a, const Timer& b) const {
      if (a.time != b.time) return a.time < b.time;
      if (a.user != b.user) return a.user < b.user;
      return a.key_group < b.key_group;
    }
  };
  using Queue = std::set<Timer, Order>;
  // A key's difference between memory and the column family since the last Flush.
  enum class Pending : uint8_t { kPutNew, kDelete };

  TimerService(KeyedStateBackend* backend, StateId state) : backend_(backend), state_(state) {}
  void NoteAdded(const std::string& key);
  void NoteRemoved(const std::string& key);

  KeyedStateBackend* backend_;
  StateId state_;
  std::unordered_map<uint32_t, Queue> queues_;
  size_t size_ = 0;
  std::unordered_map<std::string, Pending> pending_;
  std::string key_;  // scratch
};

}  // namespace segflow
