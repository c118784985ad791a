// Erasing a user from keyed state (`segflow forget`): CachedUserStateStore::Erase and
// KeyedEvaluator::EraseUser, against the cache's dirty entries and the asynchronous
// snapshot's hold, and as a property against a reference run in which the erased user's
// earlier events belong to another user whose output stops at the erasure.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "engine/state_test_dir.h"
#include "operators/segment/cached_user_state_store.h"
#include "operators/segment/keyed_evaluator.h"
#include "segment_test_util.h"

namespace segflow {
namespace {

using segtest::Changes;
using segtest::In;

constexpr KeyGroupRange kAll{0, 127};

// Instants from timers as much as from events: window expiry, cooldown, absence deadline.
constexpr const char* kTimedSegments =
    "  - id: w\n"
    "    when: {count: {event: a, window: 7ms, at_least: 2}}\n"
    "    membership: {cooldown: 3ms}\n"
    "  - id: ab\n"
    "    when: {absence: {after: {event: a}, missing: {event: b}, within: 5ms}}\n"
    "    membership: {duration: 4ms}\n";

// The users with a row in a snapshot's segment state.
std::set<std::string> UsersIn(const std::string& snapshot, const std::string& scratch) {
  std::set<std::string> users;
  auto backend = KeyedStateBackend::Restore({snapshot}, scratch, kAll);
  EXPECT_TRUE(backend.ok()) << backend.status().ToString();
  if (!backend.ok()) return users;
  auto state = (*backend)->RegisterState(CachedUserStateStore::kStateName);
  EXPECT_TRUE(state.ok());
  Status s =
      (*backend)->ForEach(*state, kAll, [&](uint32_t, std::string_view user, std::string_view) {
        users.emplace(user);
        return Status::OK();
      });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return users;
}

// Whether any SST file under `dir` holds `bytes` (the physical files, not what reads see).
bool SstFilesContain(const std::string& dir, const std::string& bytes) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".sst") continue;
    std::ifstream f(entry.path(), std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (data.find(bytes) != std::string::npos) return true;
  }
  return false;
}

class UserErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    job_ = segtest::ParseJob(kTimedSegments);
    program_ = segtest::Compile(job_);
    ASSERT_TRUE(program_);
    auto backend = KeyedStateBackend::Open(dir_.Sub("work"), kAll);
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(*backend);
  }
  std::unique_ptr<CachedUserStateStore> OpenStore(size_t cache_entries) {
    auto store = CachedUserStateStore::Open(program_, backend_.get(), cache_entries);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(*store);
  }
  // Whether RocksDB itself (not the cache) holds a row for `user`.
  bool InRocksDb(const std::string& user) {
    auto state = backend_->RegisterState(CachedUserStateStore::kStateName);
    EXPECT_TRUE(state.ok());
    std::string value;
    Status s = backend_->Get(*state, KeyGroupFor(HashUser(user), backend_->max_parallelism()), user,
                             &value);
    EXPECT_TRUE(s.ok() || s.code() == Status::Code::kNotFound) << s.ToString();
    return s.ok();
  }
  // The asynchronous half of a checkpoint, as AsyncSnapshot runs it: the drained batch
  // written, RocksDB snapshotted.
  void WriteAndSnapshot(StateWriteBatch* batch, const std::string& name) {
    ASSERT_TRUE(backend_->Write(batch).ok());
    ASSERT_TRUE(backend_->SnapshotStored(dir_.Sub(name)).ok());
  }
  std::set<std::string> Snapshot(const std::string& name) {
    return UsersIn(dir_.Sub(name), dir_.Sub(name + "-read"));
  }

  StateTestDir dir_;
  JobSpec job_;
  std::shared_ptr<const SegmentProgram> program_;
  std::unique_ptr<KeyedStateBackend> backend_;
};

TEST_F(UserErasureTest, EraseDeletesADirtyEntryAndAWrittenBackOneFromCacheAndRocksDb) {
  auto store = OpenStore(/*cache_entries=*/2);
  ASSERT_TRUE(store->Insert("old", program_->NewUserState()).ok());
  ASSERT_TRUE(store->Sync().ok());
  ASSERT_TRUE(InRocksDb("old"));
  // Pushed out of the 2-entry cache: only RocksDB has it now.
  for (const char* u : {"x1", "x2", "x3"})
    ASSERT_TRUE(store->Insert(u, program_->NewUserState()).ok());
  ASSERT_TRUE(store->Insert("dirty", program_->NewUserState()).ok());  // never written back
  ASSERT_FALSE(InRocksDb("dirty"));

  for (const char* u : {"old", "dirty"}) {
    auto erased = store->Erase(u);
    ASSERT_TRUE(erased.ok()) << erased.status().ToString();
    EXPECT_TRUE(*erased) << u;
    EXPECT_EQ(*store->Find(u), nullptr) << u;
  }
  ASSERT_TRUE(store->Sync().ok());
  EXPECT_FALSE(InRocksDb("old"));
  EXPECT_FALSE(InRocksDb("dirty"));
  // Through more evictions and a snapshot: neither comes back; the others stay.
  for (const char* u : {"y1", "y2", "y3", "y4"})
    ASSERT_TRUE(store->Insert(u, program_->NewUserState()).ok());
  EXPECT_EQ(*store->Find("old"), nullptr);
  ASSERT_TRUE(backend_->Snapshot(dir_.Sub("snap")).ok());
  EXPECT_EQ(Snapshot("snap"), (std::set<std::string>{"x1", "x2", "x3", "y1", "y2", "y3", "y4"}));

  // Nothing to erase: false, and nothing is written (no tombstone per ledger user).
  const uint64_t write_backs = store->cache_stats().write_backs;
  EXPECT_FALSE(*store->Erase("never-seen"));
  EXPECT_FALSE(*store->Erase("old"));
  ASSERT_TRUE(store->Sync().ok());
  EXPECT_EQ(store->cache_stats().write_backs, write_backs);
  // A user returning after the erasure starts over.
  EXPECT_TRUE(store->Insert("old", program_->NewUserState()).ok());
}

TEST_F(UserErasureTest, EraseOfAUserOutsideTheKeyGroupsTouchesNothing) {
  // The backend owns key groups 0..63 of 128; find a user in the other half.
  auto half = KeyedStateBackend::Open(dir_.Sub("half"), KeyGroupRange{0, 63});
  ASSERT_TRUE(half.ok());
  auto store = CachedUserStateStore::Open(program_, half->get(), 8);
  ASSERT_TRUE(store.ok());
  std::string foreign;
  for (int i = 0; foreign.empty(); ++i) {
    const std::string u = "u" + std::to_string(i);
    if (KeyGroupFor(HashUser(u), kDefaultMaxParallelism) > 63) foreign = u;
  }
  auto erased = (*store)->Erase(foreign);
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_FALSE(*erased);
}

// A deletion while a drained batch is being written: the snapshot in flight (its barrier
// came first) holds the user, the cache never hands the old state out again although
// RocksDB has it from the batch, and the next snapshot does not hold it: not as a row, and
// (purged) not as bytes in any of its SST files either.
TEST_F(UserErasureTest, EraseDuringASnapshotHoldReachesOnlyTheNextSnapshot) {
  const std::string victim = "victim-7Q2x";
  auto store = OpenStore(/*cache_entries=*/3);
  for (const std::string& u : {victim, std::string("a"), std::string("b")}) {
    ASSERT_TRUE(store->Insert(u, program_->NewUserState()).ok());
  }
  auto first = std::make_unique<StateWriteBatch>(backend_.get());
  ASSERT_TRUE(store->DrainForSnapshot(first.get()).ok());  // barrier 1: victim dirty, in the batch
  EXPECT_TRUE(store->TakeErasedKeys().empty());
  auto erased = store->Erase(victim);
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_TRUE(*erased);
  // More users while the hold keeps the cache from evicting (and writing back).
  for (const char* u : {"c", "d", "e"})
    ASSERT_TRUE(store->Insert(u, program_->NewUserState()).ok());
  WriteAndSnapshot(first.get(), "chk-1");
  EXPECT_TRUE(InRocksDb(victim)) << "the batch drained before the deletion";
  EXPECT_EQ(*store->Find(victim), nullptr) << "the cached deletion shadows RocksDB";
  store->EndSnapshotHold();
  EXPECT_EQ(Snapshot("chk-1"), (std::set<std::string>{victim, "a", "b"}));
  ASSERT_TRUE(SstFilesContain(dir_.Sub("chk-1"), "7Q2x")) << "the test can see a user's bytes";

  auto second = std::make_unique<StateWriteBatch>(backend_.get());
  ASSERT_TRUE(store->DrainForSnapshot(second.get()).ok());  // barrier 2, after the deletion
  const std::vector<std::string> keys = store->TakeErasedKeys();
  ASSERT_EQ(keys.size(), 1u);
  ASSERT_TRUE(backend_->Write(second.get()).ok());
  ASSERT_TRUE(backend_->PurgeDeleted(store->state_id(), keys).ok());
  ASSERT_TRUE(backend_->SnapshotStored(dir_.Sub("chk-2")).ok());
  store->EndSnapshotHold();
  EXPECT_EQ(Snapshot("chk-2"), (std::set<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_FALSE(SstFilesContain(dir_.Sub("chk-2"), "7Q2x"));
  EXPECT_FALSE(SstFilesContain(dir_.Sub("work"), "7Q2x"));
  EXPECT_TRUE(SstFilesContain(dir_.Sub("chk-1"), "7Q2x")) << "an older snapshot is never rewritten";
  // Evictions after the hold write the deletion, never the old state.
  for (const char* u : {"f", "g", "h", "i"})
    ASSERT_TRUE(store->Insert(u, program_->NewUserState()).ok());
  EXPECT_FALSE(InRocksDb(victim));
  EXPECT_EQ(*store->Find(victim), nullptr);
  EXPECT_TRUE(store->TakeErasedKeys().empty());
}

// Property: under random events, watermarks, erasures (some while a snapshot holds the
// cache, some of users who came back) and a 4-entry cache over RocksDB, the evaluator's
// output equals a reference in which each erased user's earlier events belong to another
// user (same partition) whose output stops at the erasure; every snapshot holds exactly
// the users with an event since their last erasure.
TEST_F(UserErasureTest, ErasedUsersStartOverAndEverybodyElseIsUnchanged) {
  constexpr uint32_t kPartitions = 2;
  constexpr int kEvents = 400;
  for (uint64_t seed : {3u, 17u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto backend = KeyedStateBackend::Open(dir_.Sub("work-" + std::to_string(seed)), kAll);
    ASSERT_TRUE(backend.ok());
    auto opened = CachedUserStateStore::Open(program_, backend->get(), 4);
    ASSERT_TRUE(opened.ok());
    CachedUserStateStore* store = opened->get();
    KeyedEvaluator ev(program_, kPartitions, std::move(*opened));
    KeyedEvaluator ref(program_, kPartitions);

    std::map<std::string, int> generation;      // reference name suffix of each user
    std::map<std::string, int> erased_at_step;  // "u~g" -> step of its erasure
    std::set<std::string> live;                 // users with an event since their last erasure
    std::vector<int64_t> max_ts(kPartitions, 0);
    std::vector<Changes> got, want;
    auto partition_of = [](const std::string& u) {
      return static_cast<uint32_t>(std::hash<std::string>()(u) % 2);
    };
    auto ref_name = [&](const std::string& u) { return u + "~" + std::to_string(generation[u]); };
    std::unique_ptr<StateWriteBatch> held;
    std::vector<std::pair<std::string, std::set<std::string>>>
        held_snapshots;  // name, expected users
    int hold_until = -1, snapshots = 0, checked_absent = 0;
    int64_t ts = 0;
    for (int i = 0; i < kEvents; ++i) {
      if (rng() % 25 == 0) {
        const std::string u = "u" + std::to_string(rng() % 8);
        auto had = ev.EraseUser(u);
        ASSERT_TRUE(had.ok()) << had.status().ToString();
        EXPECT_EQ(*had, live.count(u) == 1) << u << " at " << i;
        live.erase(u);
        erased_at_step[ref_name(u)] = i;
        ++generation[u];
      }
      ts += static_cast<int64_t>(rng() % 3);
      In in{"u" + std::to_string(rng() % 8), rng() % 3 ? "a" : "b", ts};
      const uint32_t p = partition_of(in.user);
      ProjectedEvent pe, pr;
      program_->Project(segtest::MakeEvent(in), static_cast<uint64_t>(i), &pe);
      In renamed = in;
      renamed.user = ref_name(in.user);
      program_->Project(segtest::MakeEvent(renamed), static_cast<uint64_t>(i), &pr);
      ASSERT_TRUE(ev.AddEvent(p, in.user, std::move(pe)).ok());
      ASSERT_TRUE(ref.AddEvent(p, renamed.user, std::move(pr)).ok());
      live.insert(in.user);
      max_ts[p] = std::max(max_ts[p], ts);
      std::vector<KeyedChange> a, b;
      ASSERT_TRUE(ev.AdvanceWatermark(p, max_ts[p] - 2, &a).ok());
      ASSERT_TRUE(ref.AdvanceWatermark(p, max_ts[p] - 2, &b).ok());
      got.push_back(segtest::Render(job_, a));
      std::vector<KeyedChange> kept;
      for (auto& c : b) {
        auto gone = erased_at_step.find(c.user);
        if (gone != erased_at_step.end() && gone->second <= i) continue;  // its state was erased
        c.user = c.user.substr(0, c.user.find('~'));
        kept.push_back(std::move(c));
      }
      want.push_back(segtest::Render(job_, kept));
      // Checkpoints: drained now, written and snapshotted a few events later.
      if (held == nullptr && i % 40 == 39) {
        held = std::make_unique<StateWriteBatch>(backend->get());
        ASSERT_TRUE(store->DrainForSnapshot(held.get()).ok());
        hold_until = i + 15;
        // The snapshot's content is fixed at the drain: the users with state now.
        held_snapshots.push_back(
            {"snap-" + std::to_string(seed) + "-" + std::to_string(snapshots++), live});
      } else if (held != nullptr && i == hold_until) {
        ASSERT_TRUE((*backend)->Write(held.get()).ok());
        const auto& [name, expected] = held_snapshots.back();
        ASSERT_TRUE((*backend)->SnapshotStored(dir_.Sub(name)).ok());
        store->EndSnapshotHold();
        held.reset();
        const std::set<std::string> in_snapshot = UsersIn(dir_.Sub(name), dir_.Sub(name + "-read"));
        EXPECT_EQ(in_snapshot, expected) << name;
        for (int u = 0; u < 8; ++u) checked_absent += expected.count("u" + std::to_string(u)) == 0;
      }
    }
    std::vector<KeyedChange> a, b;
    ASSERT_TRUE(ev.Finish(ts + 50, &a).ok());
    ASSERT_TRUE(ref.Finish(ts + 50, &b).ok());
    got.push_back(segtest::Render(job_, a));
    std::vector<KeyedChange> kept;
    for (auto& c : b) {
      if (erased_at_step.count(c.user)) continue;
      c.user = c.user.substr(0, c.user.find('~'));
      kept.push_back(std::move(c));
    }
    want.push_back(segtest::Render(job_, kept));
    size_t changes = 0;
    for (size_t step = 0; step < got.size(); ++step) {
      std::sort(got[step].begin(), got[step].end());
      std::sort(want[step].begin(), want[step].end());
      ASSERT_EQ(got[step], want[step]) << "step " << step;
      changes += got[step].size();
    }
    EXPECT_GT(changes, 100u);
    EXPECT_GE(erased_at_step.size(), 10u) << "erasures are exercised";
    EXPECT_GT(checked_absent, 0) << "some snapshot was taken while a user was erased";
    EXPECT_EQ(ev.users(), live.size());
  }
}

}  // namespace
}  // namespace segflow
