// Snapshot/restore of keyed state: a restore yields the snapshot's state, whatever
// happened after it, and whatever key-group split the snapshots and the restore use.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "engine/state/keyed_value_cache.h"
#include "engine/state/snapshot_metadata.h"
#include "engine/state/timer_service.h"
#include "state_test_dir.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
constexpr uint32_t kMaxParallelism = 64;

struct Counter {
  int64_t n = 0;
};
void EncodeCounter(const Counter& c, std::string* out) { out->append(std::to_string(c.n)); }
Status DecodeCounter(std::string_view bytes, std::unique_ptr<Counter>* out) {
  if (bytes.empty()) return Status::Corruption("empty counter");
  auto c = std::make_unique<Counter>();
  auto [end, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), c->n);
  if (ec != std::errc() || end != bytes.data() + bytes.size()) return Status::Corruption("bad counter");
  *out = std::move(c);
  return Status::OK();
}

using Contents = std::map<std::pair<uint32_t, std::string>, std::string>;       // (kg, user) -> value
using TimerSet = std::set<std::tuple<uint32_t, int64_t, std::string, uint32_t>>;  // partition, time, user, kg

KeyedStateOptions Options() {
  KeyedStateOptions o;
  o.max_parallelism = kMaxParallelism;
  return o;
}

std::string UserName(int i) { return "user-" + std::to_string(i); }
uint32_t KeyGroupOf(const std::string& user) { return KeyGroupFor(HashUser(user), kMaxParallelism); }

// A keyed subtask's state: a cached "counts" state, a raw "names" state and timers.
struct Subtask {
  std::unique_ptr<KeyedStateBackend> backend;
  StateId counts = 0;
  StateId names = 0;
  std::unique_ptr<KeyedValueCache<Counter>> cache;
  std::unique_ptr<TimerService> timers;

  static Subtask Attach(std::unique_ptr<KeyedStateBackend> b) {
    Subtask s;
    s.backend = std::move(b);
    s.counts = *s.backend->RegisterState("counts");
    s.names = *s.backend->RegisterState("names");
    s.cache = std::make_unique<KeyedValueCache<Counter>>(s.backend.get(), s.counts, EncodeCounter,
                                                         DecodeCounter, 16);
    auto t = TimerService::Open(s.backend.get());
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    s.timers = std::move(t).value();
    return s;
  }
  static Subtask Open(const std::string& dir, KeyGroupRange range) {
    auto b = KeyedStateBackend::Open(dir, range, Options());
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return Attach(std::move(b).value());
  }
  static Subtask Restore(const std::vector<std::string>& snaps, const std::string& dir, KeyGroupRange range) {
    auto b = KeyedStateBackend::Restore(snaps, dir, range, Options());
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (!b.ok()) return Subtask();
    return Attach(std::move(b).value());
  }

  // Adds users [from, to) that this subtask owns; returns how many.
  int AddUsers(int from, int to, int64_t bump) {
    int added = 0;
    for (int i = from; i < to; ++i) {
      const std::string u = UserName(i);
      const uint32_t kg = KeyGroupOf(u);
      if (!backend->Owns(kg)) continue;
      auto c = cache->GetOrCreate(kg, u);
      EXPECT_TRUE(c.ok());
      (*c)->n += bump + i;
      EXPECT_TRUE(cache->MarkDirty(kg, u).ok());
      EXPECT_TRUE(backend->Put(names, kg, u, "name of " + u).ok());
      EXPECT_TRUE(timers->Register(static_cast<uint32_t>(i % 3), 1000 + i, kg, u).ok());
      ++added;
    }
    return added;
  }

  // Everything, read through the public API (the cache flushes before scanning).
  std::pair<Contents, Contents> Read() {
    Contents counts_out, names_out;
    EXPECT_TRUE(cache->ForEach({0, kMaxParallelism - 1}, [&](uint32_t kg, std::string_view u, const Counter& c) {
                       counts_out[{kg, std::string(u)}] = std::to_string(c.n);
                       return Status::OK();
                     }).ok());
    EXPECT_TRUE(backend->ForEach(names, {0, kMaxParallelism - 1},
                                 [&](uint32_t kg, std::string_view u, std::string_view v) {
                                   names_out[{kg, std::string(u)}] = std::string(v);
                                   return Status::OK();
                                 })
                    .ok());
    return {counts_out, names_out};
  }
  TimerSet Timers() {
    // Through a second service loaded from the flushed state, leaving `timers` intact.
    EXPECT_TRUE(timers->Flush().ok());
    auto t = TimerService::Open(backend.get());
    EXPECT_TRUE(t.ok());
    TimerSet out;
    for (uint32_t p : (*t)->partitions()) {
      std::vector<Timer> due;
      (*t)->PopDue(p, std::numeric_limits<int64_t>::max(), &due);
      for (auto& timer : due) out.emplace(p, timer.time, timer.user, timer.key_group);
    }
    return out;
  }
};

Contents Filter(const Contents& c, KeyGroupRange r) {
  Contents out;
  for (const auto& [k, v] : c) {
    if (r.Contains(k.first)) out[k] = v;
  }
  return out;
}
TimerSet Filter(const TimerSet& t, KeyGroupRange r) {
  TimerSet out;
  for (const auto& e : t) {
    if (r.Contains(std::get<3>(e))) out.insert(e);
  }
  return out;
}

TEST(SnapshotTest, RestoreGivesTheSnapshotStateNotLaterChanges) {
  StateTestDir tmp;
  ASSERT_TRUE(tmp.ok());
  Subtask live = Subtask::Open(tmp.Sub("live"), {0, kMaxParallelism - 1});
  ASSERT_EQ(live.AddUsers(0, 200, 0), 200);
  // No explicit flush: Snapshot must flush the cache's dirty entries and the timers.
  ASSERT_GT(live.cache->dirty(), 0u);
  ASSERT_TRUE(live.backend->Snapshot(tmp.Sub("snap-1")).ok());
  const auto at_snapshot = live.Read();
  const TimerSet timers_at_snapshot = live.Timers();
  ASSERT_EQ(at_snapshot.first.size(), 200u);
  ASSERT_EQ(timers_at_snapshot.size(), 200u);

  // Mutate after the snapshot: change, add, delete, fire timers.
  live.AddUsers(100, 300, 1000);
  ASSERT_TRUE(live.cache->Erase(KeyGroupOf(UserName(5)), UserName(5)).ok());
  ASSERT_TRUE(live.backend->Delete(live.names, KeyGroupOf(UserName(6)), UserName(6)).ok());
  std::vector<Timer> fired;
  live.timers->PopDue(0, 1100, &fired);
  ASSERT_FALSE(fired.empty());
  ASSERT_TRUE(live.backend->Snapshot(tmp.Sub("snap-2")).ok());
  ASSERT_NE(live.Read(), at_snapshot);

  Subtask restored = Subtask::Restore({tmp.Sub("snap-1")}, tmp.Sub("restored"), {0, kMaxParallelism - 1});
  ASSERT_NE(restored.backend, nullptr);
  EXPECT_EQ(restored.Read(), at_snapshot);
  EXPECT_EQ(restored.Timers(), timers_at_snapshot);

  // The restored copy is independent: changing it leaves the snapshot intact.
  restored.AddUsers(0, 50, 5);
  ASSERT_TRUE(restored.cache->Flush().ok());
  Subtask again = Subtask::Restore({tmp.Sub("snap-1")}, tmp.Sub("again"), {0, kMaxParallelism - 1});
  ASSERT_NE(again.backend, nullptr);
  EXPECT_EQ(again.Read(), at_snapshot);
  EXPECT_EQ(again.Timers(), timers_at_snapshot);

  // And the later snapshot has the later state.
  const auto at_second = live.Read();
  Subtask second = Subtask::Restore({tmp.Sub("snap-2")}, tmp.Sub("second"), {0, kMaxParallelism - 1});
  ASSERT_NE(second.backend, nullptr);
  EXPECT_EQ(second.Read(), at_second);
  EXPECT_EQ(second.Timers(), live.Timers());
}

TEST(SnapshotTest, SnapshotHardLinksSstFilesOfTheLiveDb) {
  StateTestDir tmp;
  Subtask live = Subtask::Open(tmp.Sub("live"), {0, kMaxParallelism - 1});
  live.AddUsers(0, 100, 0);
  ASSERT_TRUE(live.backend->Snapshot(tmp.Sub("snap")).ok());
  std::set<ino_t> live_inodes;
  for (const auto& e : fs::directory_iterator(tmp.Sub("live/db"))) {
    struct stat st;
    if (e.path().extension() == ".sst" && ::stat(e.path().c_str(), &st) == 0) live_inodes.insert(st.st_ino);
  }
  int ssts = 0, shared = 0;
  for (const auto& e : fs::directory_iterator(tmp.Sub("snap/db"))) {
    struct stat st;
    if (e.path().extension() != ".sst" || ::stat(e.path().c_str(), &st) != 0) continue;
    ++ssts;
    shared += live_inodes.count(st.st_ino) ? 1 : 0;
  }
  EXPECT_GT(ssts, 0);
  EXPECT_EQ(shared, ssts) << "snapshot SST files must be hard links, not copies";
  ASSERT_TRUE(fs::exists(tmp.Sub("snap/SNAPSHOT")));
  auto meta = ReadSnapshotMetadata(tmp.Sub("snap"));
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->max_parallelism, kMaxParallelism);
  EXPECT_EQ(meta->key_groups.last, kMaxParallelism - 1);
  std::map<std::string, uint32_t> layouts;
  for (const auto& s : meta->states) layouts[s.name] = s.key_group_offset;
  EXPECT_EQ(layouts, (std::map<std::string, uint32_t>{
                         {"counts", 0}, {"names", 0}, {"timers", TimerService::kKeyGroupOffset}}));
}

// Scale in: two subtasks' snapshots restored into one.
TEST(SnapshotTest, TwoSnapshotsRestoreIntoOneSubtask) {
  StateTestDir tmp;
  const KeyGroupRange r0 = KeyGroupRange::ForSubtask(0, kMaxParallelism, 2);
  const KeyGroupRange r1 = KeyGroupRange::ForSubtask(1, kMaxParallelism, 2);
  Subtask s0 = Subtask::Open(tmp.Sub("s0"), r0);
  Subtask s1 = Subtask::Open(tmp.Sub("s1"), r1);
  const int n0 = s0.AddUsers(0, 300, 0);
  const int n1 = s1.AddUsers(0, 300, 0);
  ASSERT_GT(n0, 50);
  ASSERT_GT(n1, 50);
  EXPECT_EQ(n0 + n1, 300);
  ASSERT_TRUE(s0.backend->Snapshot(tmp.Sub("snap0")).ok());
  ASSERT_TRUE(s1.backend->Snapshot(tmp.Sub("snap1")).ok());
  auto c0 = s0.Read(), c1 = s1.Read();
  Contents counts = c0.first, names = c0.second;
  counts.insert(c1.first.begin(), c1.first.end());
  names.insert(c1.second.begin(), c1.second.end());
  TimerSet timers = s0.Timers();
  for (const auto& t : s1.Timers()) timers.insert(t);

  Subtask merged = Subtask::Restore({tmp.Sub("snap0"), tmp.Sub("snap1")}, tmp.Sub("merged"),
                                    {0, kMaxParallelism - 1});
  ASSERT_NE(merged.backend, nullptr);
  const auto got = merged.Read();
  EXPECT_EQ(got.first.size(), 300u);
  EXPECT_EQ(got.first, counts);
  EXPECT_EQ(got.second, names);
  EXPECT_EQ(merged.Timers(), timers);

  // A range straddling both snapshots: parts of each.
  const KeyGroupRange mid{20, 45};
  Subtask middle = Subtask::Restore({tmp.Sub("snap1"), tmp.Sub("snap0")}, tmp.Sub("middle"), mid);
  ASSERT_NE(middle.backend, nullptr);
  const auto got_mid = middle.Read();
  EXPECT_EQ(got_mid.first, Filter(counts, mid));
  EXPECT_EQ(got_mid.second, Filter(names, mid));
  EXPECT_EQ(middle.Timers(), Filter(timers, mid));
  EXPECT_FALSE(got_mid.first.empty());
}

// Scale out: one subtask's snapshot split between two.
TEST(SnapshotTest, OneSnapshotRestoresIntoTwoSubtasks) {
  StateTestDir tmp;
  Subtask whole = Subtask::Open(tmp.Sub("whole"), {0, kMaxParallelism - 1});
  ASSERT_EQ(whole.AddUsers(0, 300, 7), 300);
  ASSERT_TRUE(whole.backend->Snapshot(tmp.Sub("snap")).ok());
  const auto all = whole.Read();
  const TimerSet all_timers = whole.Timers();

  // A user of the second half.
  const KeyGroupRange second_half = KeyGroupRange::ForSubtask(1, kMaxParallelism, 2);
  int erased = 0;
  for (; erased < 300 && !second_half.Contains(KeyGroupOf(UserName(erased))); ++erased) {
  }
  ASSERT_LT(erased, 300);

  size_t total = 0;
  for (uint32_t i = 0; i < 2; ++i) {
    const KeyGroupRange r = KeyGroupRange::ForSubtask(i, kMaxParallelism, 2);
    Subtask part = Subtask::Restore({tmp.Sub("snap")}, tmp.Sub("part" + std::to_string(i)), r);
    ASSERT_NE(part.backend, nullptr);
    const auto got = part.Read();
    EXPECT_EQ(got.first, Filter(all.first, r));
    EXPECT_EQ(got.second, Filter(all.second, r));
    EXPECT_EQ(part.Timers(), Filter(all_timers, r));
    total += got.first.size();
    // Foreign key groups are refused.
    for (const auto& [k, v] : all.first) {
      if (r.Contains(k.first)) continue;
      std::string value;
      EXPECT_EQ(part.backend->Get(part.names, k.first, k.second, &value).code(), Status::Code::kOutOfRange);
    }
    if (i == 1) {
      // Delete one user here. Merging back below uses part 0 as the base copy, so had
      // part 0 kept its foreign key groups physically, this user would come back.
      ASSERT_TRUE(part.cache->Erase(KeyGroupOf(UserName(erased)), UserName(erased)).ok());
      ASSERT_TRUE(part.backend->Delete(part.names, KeyGroupOf(UserName(erased)), UserName(erased)).ok());
      ASSERT_TRUE(part.timers->Cancel(erased % 3, 1000 + erased, KeyGroupOf(UserName(erased)), UserName(erased)));
    }
    // The restored subtask snapshots its own range.
    ASSERT_TRUE(part.backend->Snapshot(tmp.Sub("resnap" + std::to_string(i))).ok());
    auto meta = ReadSnapshotMetadata(tmp.Sub("resnap" + std::to_string(i)));
    ASSERT_TRUE(meta.ok());
    EXPECT_EQ(meta->key_groups.first, r.first);
    EXPECT_EQ(meta->key_groups.last, r.last);
  }
  EXPECT_EQ(total, all.first.size());

  // And the two halves merge back to the whole, minus the user deleted in part 1.
  auto want = all;
  want.first.erase({KeyGroupOf(UserName(erased)), UserName(erased)});
  want.second.erase({KeyGroupOf(UserName(erased)), UserName(erased)});
  TimerSet want_timers = all_timers;
  want_timers.erase({static_cast<uint32_t>(erased % 3), int64_t{1000} + erased, UserName(erased), KeyGroupOf(UserName(erased))});
  ASSERT_EQ(want_timers.size() + 1, all_timers.size());
  Subtask back = Subtask::Restore({tmp.Sub("resnap0"), tmp.Sub("resnap1")}, tmp.Sub("back"),
                                  {0, kMaxParallelism - 1});
  ASSERT_NE(back.backend, nullptr);
  EXPECT_EQ(back.Read(), want);
  EXPECT_EQ(back.Timers(), want_timers);
}

TEST(SnapshotTest, RefusesIncompleteAmbiguousOrMismatchedSnapshots) {
  StateTestDir tmp;
  Subtask s0 = Subtask::Open(tmp.Sub("s0"), {0, 31});
  s0.AddUsers(0, 20, 0);
  ASSERT_TRUE(s0.backend->Snapshot(tmp.Sub("snap0")).ok());
  EXPECT_EQ(s0.backend->Snapshot(tmp.Sub("snap0")).code(), Status::Code::kFailedPrecondition);

  auto code = [&](const std::vector<std::string>& snaps, KeyGroupRange r, uint32_t mp = kMaxParallelism) {
    KeyedStateOptions o = Options();
    o.max_parallelism = mp;
    return KeyedStateBackend::Restore(snaps, tmp.Sub("out"), r, o).status().code();
  };
  // Key groups 32..63 are in no snapshot.
  EXPECT_EQ(code({tmp.Sub("snap0")}, {0, 63}), Status::Code::kInvalidArgument);
  // The same key groups twice.
  fs::copy(tmp.Sub("snap0"), tmp.Sub("copy0"), fs::copy_options::recursive);
  EXPECT_EQ(code({tmp.Sub("snap0"), tmp.Sub("copy0")}, {0, 31}), Status::Code::kInvalidArgument);
  EXPECT_EQ(code({tmp.Sub("snap0")}, {0, 31}, 128), Status::Code::kInvalidArgument);
  // Without its metadata a snapshot is incomplete.
  fs::remove(tmp.Sub("copy0/SNAPSHOT"));
  EXPECT_EQ(code({tmp.Sub("copy0")}, {0, 31}), Status::Code::kNotFound);
  // Unknown format versions are refused with a clear error.
  std::ofstream(tmp.Sub("copy0/SNAPSHOT")) << "segflow-keyed-state-snapshot 99\nend\n";
  auto r = KeyedStateBackend::Restore({tmp.Sub("copy0")}, tmp.Sub("out"), {0, 31}, Options());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("version 99"), std::string::npos) << r.status().ToString();
  // Truncated metadata is corruption.
  std::ofstream(tmp.Sub("copy0/SNAPSHOT"), std::ios::trunc)
      << "segflow-keyed-state-snapshot 1\nmax_parallelism 64\nkey_groups 0 31\n";
  EXPECT_EQ(code({tmp.Sub("copy0")}, {0, 31}), Status::Code::kCorruption);
  // The good snapshot still restores.
  EXPECT_EQ(code({tmp.Sub("snap0")}, {0, 31}), Status::Code::kOk);
}

}  // namespace
}  // namespace segflow
