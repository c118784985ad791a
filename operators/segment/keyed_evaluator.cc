#include "operators/segment/keyed_evaluator.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "engine/common/key_group.h"


namespace segflow {

KeyedEvaluator::KeyedEvaluator(std::shared_ptr<const SegmentProgram> program, uint32_t partitions,
                               std::unique_ptr<UserStateStore> store)
    : program_(std::move(program)),
      store_(store ? std::move(store) : std::make_unique<InMemoryUserStateStore>()),
      partitions_(std::max<uint32_t>(partitions, 1),
                  Partition{{}, std::numeric_limits<int64_t>::min()}),
      index_(64, kNoSlot) {}

KeyedEvaluator::~KeyedEvaluator() = default;

bool KeyedEvaluator::Later(const TimerEntry& a, const TimerEntry& b) const {
  if (a.time != b.time) return a.time > b.time;
  return slots_[a.slot].user > slots_[b.slot].user;
}

void KeyedEvaluator::Schedule(uint32_t slot, const UserState& state) {
  Slot& s = slots_[slot];
  std::optional<int64_t> next = program_->NextInstant(state);
  if (!next) {
    s.has_scheduled = false;
    return;
  }
  if (s.has_scheduled && s.scheduled == *next) return;  // its entry is in the heap
  s.scheduled = *next;
  s.has_scheduled = true;
  std::vector<TimerEntry>& heap = partitions_[s.partition].heap;
  heap.push_back({*next, slot});
  std::push_heap(heap.begin(), heap.end(),
                 [this](const TimerEntry& a, const TimerEntry& b) { return Later(a, b); });
}

Status KeyedEvaluator::AddEvent(uint32_t partition, const std::string& user,
                                ProjectedEvent&& event) {
  return AddEvent(partition, user, HashUser(user), std::move(event));
}

namespace {

// The table position of a user hash. The hash's low bits pick the partition and its high
// bits the key group, so an evaluator sees only some values of both: multiply to spread.
size_t Home(uint64_t hash, size_t table_size) {
  return static_cast<size_t>((hash * 0x9e3779b97f4a7c15ull) >> 32) & (table_size - 1);
}

}  // namespace

uint32_t KeyedEvaluator::FindSlot(std::string_view user, uint64_t hash, size_t* pos) const {
  const size_t mask = index_.size() - 1;
  for (size_t i = Home(hash, index_.size());; i = (i + 1) & mask) {
    const uint32_t slot = index_[i];
    if (slot == kNoSlot || (slots_[slot].hash == hash && slots_[slot].user == user)) {
      *pos = i;
      return slot;
    }
  }
}

void KeyedEvaluator::PrefetchIndex(uint64_t user_hash) const {
  __builtin_prefetch(&index_[Home(user_hash, index_.size())]);
}

void KeyedEvaluator::PrefetchSlot(uint64_t user_hash) const {
  const uint32_t slot = index_[Home(user_hash, index_.size())];
  if (slot != kNoSlot) __builtin_prefetch(&slots_[slot]);
}

void KeyedEvaluator::PrefetchState(uint64_t user_hash) const {
  const uint32_t slot = index_[Home(user_hash, index_.size())];
  if (slot != kNoSlot && slots_[slot].hash == user_hash && slots_[slot].state != nullptr) {
    __builtin_prefetch(slots_[slot].state);
  }
}

void KeyedEvaluator::IndexSlot(uint32_t slot, size_t pos) {
  index_[pos] = slot;
  if (slots_.size() * 2 <= index_.size()) return;
  // Grow: rehash every slot into a table twice the size.
  std::vector<uint32_t> bigger(index_.size() * 2, kNoSlot);
  const size_t mask = bigger.size() - 1;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    size_t i = Home(slots_[s].hash, bigger.size());
    while (bigger[i] != kNoSlot) i = (i + 1) & mask;
    bigger[i] = s;
  }
  index_ = std::move(bigger);
}

Status KeyedEvaluator::AddEvent(uint32_t partition, const std::string& user, uint64_t user_hash,
                                ProjectedEvent&& event) {
  if (partition >= partitions_.size()) {
    return Status::InvalidArgument("partition " + std::to_string(partition) + " out of range");
  }
  if (event.ts < partitions_[partition].watermark) {
    return Status::FailedPrecondition("event at " + std::to_string(event.ts) +
                                      " is below the watermark of partition " +
                                      std::to_string(partition));
  }
  size_t pos = 0;
  uint32_t slot_index = FindSlot(user, user_hash, &pos);
  UserState* state = nullptr;
  if (slot_index == kNoSlot) {
    // No slot: the user never had state here (Restore gives every stored user a slot).
    auto st = store_->InsertNew(user, program_->NewUserState());
    if (!st.ok()) return st.status();
    state = *st;
    slot_index = static_cast<uint32_t>(slots_.size());
    slots_.push_back(Slot{user, user_hash, partition, 0, false, state, store_->epoch()});
    IndexSlot(slot_index, pos);
  } else {
    Slot& slot = slots_[slot_index];
    if (slot.partition != partition) {
      return Status::FailedPrecondition("user \"" + user + "\" seen in partitions " +
                                        std::to_string(slot.partition) + " and " +
                                        std::to_string(partition));
    }
    if (slot.erased) {
      // Erased before (EraseUser): a new state, as for a user never seen.
      auto st = store_->Insert(user, program_->NewUserState());
      if (!st.ok()) return st.status();
      slot.state = *st;
      slot.epoch = store_->epoch();
      slot.erased = false;
      --erased_slots_;
    }
    auto st = StateOf(&slot);
    if (!st.ok()) return st.status();
    state = *st;
  }
  program_->AddEvent(state, std::move(event));
  Schedule(slot_index, *state);
  return Status::OK();
}

Result<UserState*> KeyedEvaluator::StateOf(Slot* slot) {
  if (slot->state != nullptr && slot->epoch == store_->epoch()) return slot->state;
  auto st = store_->Find(slot->user);
  if (!st.ok()) return st.status();
  if (*st == nullptr) return Status::Internal("state of user \"" + slot->user + "\" is missing");
  slot->state = *st;
  slot->epoch = store_->epoch();
  return *st;
}

Status KeyedEvaluator::Sync() { return store_->Sync(); }

Status KeyedEvaluator::Restore(const std::vector<int64_t>& watermarks) {
  if (!slots_.empty()) return Status::FailedPrecondition("Restore needs a fresh evaluator");
  if (watermarks.size() != partitions_.size()) {
    return Status::InvalidArgument("Restore: " + std::to_string(watermarks.size()) +
                                   " watermarks for " + std::to_string(partitions_.size()) +
                                   " partitions");
  }
  for (size_t p = 0; p < partitions_.size(); ++p) partitions_[p].watermark = watermarks[p];
  const uint32_t partitions = static_cast<uint32_t>(partitions_.size());
  return store_->ForEach([&](std::string_view user, const UserState& state) {
    const uint64_t hash = HashUser(user);
    size_t pos = 0;
    if (FindSlot(user, hash, &pos) != kNoSlot) {
      return Status::Corruption("user \"" + std::string(user) + "\" has two states");
    }
    const uint32_t slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(Slot{std::string(user), hash, PartitionFor(hash, partitions), 0, false,
                          nullptr, 0});
    IndexSlot(slot, pos);
    Schedule(slot, state);
    return Status::OK();
  });
}

Status KeyedEvaluator::RunThrough(uint32_t partition, int64_t last, std::vector<KeyedChange>* out) {
  std::vector<TimerEntry>& heap = partitions_[partition].heap;
  auto later = [this](const TimerEntry& a, const TimerEntry& b) { return Later(a, b); };
  while (!heap.empty() && heap.front().time <= last) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const TimerEntry e = heap.back();
    heap.pop_back();
    Slot& slot = slots_[e.slot];
    if (!slot.has_scheduled || slot.scheduled != e.time) continue;  // stale
    slot.has_scheduled = false;
    auto st = StateOf(&slot);
    if (!st.ok()) return st.status();
    UserState* state = *st;
    scratch_.clear();
    program_->ProcessInstant(state, e.time, &scratch_);
    for (const MembershipChange& c : scratch_) out->push_back({slot.user, c});
    std::optional<int64_t> next = program_->NextInstant(*state);
    if (next && *next <= e.time) {
      return Status::Internal("user \"" + slot.user + "\": next instant " + std::to_string(*next) +
                              " does not advance past " + std::to_string(e.time));
    }
    Schedule(e.slot, *state);
  }
  return Status::OK();
}

Status KeyedEvaluator::AdvanceWatermark(uint32_t partition, int64_t watermark,
                                        std::vector<KeyedChange>* out) {
  if (partition >= partitions_.size()) {
    return Status::InvalidArgument("partition " + std::to_string(partition) + " out of range");
  }
  Partition& p = partitions_[partition];
  if (watermark <= p.watermark) return Status::OK();
  SEGFLOW_RETURN_IF_ERROR(RunThrough(partition, watermark - 1, out));
  p.watermark = watermark;
  return Status::OK();
}

Status KeyedEvaluator::Finish(int64_t until, std::vector<KeyedChange>* out) {
  const size_t first = out->size();
  for (uint32_t p = 0; p < partitions_.size(); ++p) {
    SEGFLOW_RETURN_IF_ERROR(RunThrough(p, until, out));
    const int64_t next = until == std::numeric_limits<int64_t>::max() ? until : until + 1;
    partitions_[p].watermark = std::max(partitions_[p].watermark, next);
  }
  // Each partition's changes are in (at, user) order and users never share a partition,
  // so a stable sort merges them without reordering one user's changes.
  std::stable_sort(out->begin() + static_cast<ptrdiff_t>(first), out->end(),
                   [](const KeyedChange& a, const KeyedChange& b) {
                     if (a.change.at != b.change.at) return a.change.at < b.change.at;
                     return a.user < b.user;
                   });
  return Status::OK();
}

Result<bool> KeyedEvaluator::EraseUser(const std::string& user) {
  size_t pos = 0;
  const uint32_t slot_index = FindSlot(user, HashUser(user), &pos);
  if (slot_index != kNoSlot && !slots_[slot_index].erased) {
    Slot& slot = slots_[slot_index];
    // Its heap entries become stale (has_scheduled false) and are skipped when they pop.
    slot.has_scheduled = false;
    slot.state = nullptr;
    slot.erased = true;
    ++erased_slots_;
  }
  return store_->Erase(user);
}

Result<bool> KeyedEvaluator::IsMember(const std::string& user, uint32_t segment) {
  auto st = store_->Find(user);
  if (!st.ok()) return st.status();
  return *st != nullptr && program_->IsMember(**st, segment);
}

Result<std::vector<std::string>> KeyedEvaluator::Members(uint32_t segment) {
  std::vector<std::string> members;
  Status s = store_->ForEach([&](std::string_view user, const UserState& state) {
    if (program_->IsMember(state, segment)) members.emplace_back(user);
    return Status::OK();
  });
  if (!s.ok()) return s;
  std::sort(members.begin(), members.end());
  return members;
}

}  // namespace segflow
