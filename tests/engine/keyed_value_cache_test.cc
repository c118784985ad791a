#include "engine/state/keyed_value_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/common/key_group.h"
#include "state_test_dir.h"

namespace segflow {
namespace {

constexpr uint32_t kMaxParallelism = 64;

struct Profile {
  int64_t count = 0;
  std::string tag;
  friend bool operator==(const Profile&, const Profile&) = default;
};

void EncodeProfile(const Profile& p, std::string* out) {
  out->push_back('P');
  char buf[8];
  std::memcpy(buf, &p.count, 8);
  out->append(buf, 8);
  out->append(p.tag);
}

Status DecodeProfile(std::string_view bytes, std::unique_ptr<Profile>* out) {
  if (bytes.size() < 9 || bytes[0] != 'P') return Status::Corruption("not a profile");
  auto p = std::make_unique<Profile>();
  std::memcpy(&p->count, bytes.data() + 1, 8);
  p->tag.assign(bytes.substr(9));
  *out = std::move(p);
  return Status::OK();
}

using Cache = KeyedValueCache<Profile>;

class KeyedValueCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.ok());
    KeyedStateOptions options;
    options.max_parallelism = kMaxParallelism;
    auto b = KeyedStateBackend::Open(tmp_.Sub("w"), {0, kMaxParallelism - 1}, options);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
    auto st = backend_->RegisterState("profiles");
    ASSERT_TRUE(st.ok());
    state_ = *st;
  }
  std::unique_ptr<Cache> MakeCache(size_t capacity) {
    return std::make_unique<Cache>(backend_.get(), state_, EncodeProfile, DecodeProfile, capacity);
  }
  // The value RocksDB holds for (kg, user), bypassing any cache.
  std::optional<Profile> Stored(uint32_t kg, const std::string& user) {
    std::string bytes;
    Status s = backend_->Get(state_, kg, user, &bytes);
    if (s.code() == Status::Code::kNotFound) return std::nullopt;
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::unique_ptr<Profile> p;
    EXPECT_TRUE(DecodeProfile(bytes, &p).ok());
    return p ? std::optional<Profile>(*p) : std::nullopt;
  }

  StateTestDir tmp_;
  std::unique_ptr<KeyedStateBackend> backend_;
  StateId state_ = 0;
};

TEST_F(KeyedValueCacheTest, LruEvictionWritesBackOnlyDirtyEntries) {
  auto cache = MakeCache(2);
  auto a = cache->GetOrCreate(1, "a");
  ASSERT_TRUE(a.ok());
  (*a)->count = 10;  // GetOrCreate already marked the new entry dirty
  auto b = cache->GetOrCreate(1, "b");
  ASSERT_TRUE(b.ok());
  (*b)->count = 20;
  ASSERT_TRUE(cache->Get(1, "a").ok());  // a becomes most recent: b is the LRU victim
  EXPECT_FALSE(Stored(1, "a") || Stored(1, "b")) << "nothing is written before eviction";

  ASSERT_TRUE(cache->GetOrCreate(2, "c").ok());
  EXPECT_EQ(Stored(1, "b"), (Profile{20, ""}));
  EXPECT_FALSE(Stored(1, "a"));
  EXPECT_EQ(cache->size(), 2u);
  auto st = cache->stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 3u);
  EXPECT_EQ(st.evictions, 1u);
  EXPECT_EQ(st.write_backs, 1u);

  // b comes back from RocksDB (a miss), evicting a, which is written back.
  auto b2 = cache->Get(1, "b");
  ASSERT_TRUE(b2.ok());
  ASSERT_NE(*b2, nullptr);
  EXPECT_EQ((*b2)->count, 20);
  EXPECT_EQ(Stored(1, "a"), (Profile{10, ""}));
  EXPECT_EQ(cache->stats().misses, 4u);

  // A clean entry is dropped without a write.
  const uint64_t writes = cache->stats().write_backs;
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(cache->stats().write_backs, writes + 1);  // c was dirty
  ASSERT_TRUE(cache->Get(3, "d").ok());
  ASSERT_TRUE(cache->Get(3, "e").ok());
  EXPECT_EQ(cache->stats().write_backs, writes + 1);
}

TEST_F(KeyedValueCacheTest, FlushWritesDirtyEntriesAndKeepsThemCached) {
  auto cache = MakeCache(100);
  auto p = cache->GetOrCreate(7, "u");
  ASSERT_TRUE(p.ok());
  (*p)->tag = "v1";
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(Stored(7, "u"), (Profile{0, "v1"}));
  EXPECT_EQ(cache->dirty(), 0u);

  auto again = cache->Get(7, "u");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *p) << "Flush must not evict or move entries";
  (*again)->tag = "v2";
  // Without MarkDirty the change is not written.
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(Stored(7, "u"), (Profile{0, "v1"}));
  ASSERT_TRUE(cache->MarkDirty(7, "u").ok());
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(Stored(7, "u"), (Profile{0, "v2"}));
}

// A caller may keep a value handed out for update while epoch() stays the same: that
// holds until an eviction, Erase or Flush, each of which changes it.
TEST_F(KeyedValueCacheTest, EpochChangesWhenHandedOutValuesMayMoveOrTurnClean) {
  auto cache = MakeCache(2);
  auto a = cache->GetOrCreate(1, "a");
  ASSERT_TRUE(a.ok());
  const uint64_t e0 = cache->epoch();
  auto again = cache->GetForUpdate(1, "a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *a);
  ASSERT_TRUE(cache->GetOrCreate(1, "b").ok());  // fits: no eviction
  EXPECT_EQ(cache->epoch(), e0);
  EXPECT_EQ(cache->dirty(), 2u);

  ASSERT_TRUE(cache->Flush().ok());  // entries turn clean
  const uint64_t e1 = cache->epoch();
  EXPECT_NE(e1, e0);
  auto upd = cache->GetForUpdate(1, "a");  // marks dirty again; no epoch change
  ASSERT_TRUE(upd.ok());
  EXPECT_EQ(cache->dirty(), 1u);
  EXPECT_EQ(cache->epoch(), e1);

  ASSERT_TRUE(cache->GetOrCreate(2, "c").ok());  // full: evicts
  const uint64_t e2 = cache->epoch();
  EXPECT_NE(e2, e1);
  ASSERT_TRUE(cache->Erase(2, "c").ok());
  EXPECT_NE(cache->epoch(), e2);
  // A missing value is not marked dirty by GetForUpdate.
  ASSERT_TRUE(cache->Flush().ok());
  auto none = cache->GetForUpdate(9, "nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  EXPECT_EQ(cache->dirty(), 0u);
}

TEST_F(KeyedValueCacheTest, EraseDeletesFromRocksDbOnWriteBackWithoutReading) {
  ASSERT_TRUE(backend_->Put(state_, 4, "gone", std::string("P\0\0\0\0\0\0\0\0", 9)).ok());
  auto cache = MakeCache(100);
  ASSERT_TRUE(cache->Erase(4, "gone").ok());
  EXPECT_EQ(cache->stats().misses, 0u);
  auto g = cache->Get(4, "gone");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, nullptr);
  EXPECT_TRUE(Stored(4, "gone")) << "delete waits for write-back";
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_FALSE(Stored(4, "gone"));
  // Re-creating after erase works.
  auto r = cache->GetOrCreate(4, "gone");
  ASSERT_TRUE(r.ok());
  ASSERT_NE(*r, nullptr);
  EXPECT_EQ((*r)->count, 0);
}

// Create (a key the caller knows RocksDB never had): no read, the value is dirty and
// reaches RocksDB with the next write-back; a cached value is never replaced.
TEST_F(KeyedValueCacheTest, CreateInsertsWithoutReadingAndRefusesACachedValue) {
  auto cache = MakeCache(100);
  auto p = std::make_unique<Profile>();
  p->count = 7;
  auto c = cache->Create(5, "new", std::move(p));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->count, 7);
  EXPECT_EQ(cache->stats().misses, 0u);
  EXPECT_EQ(cache->dirty(), 1u);
  auto again = cache->Create(5, "new", std::make_unique<Profile>());
  EXPECT_EQ(again.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*cache->Get(5, "new"))->count, 7);
  ASSERT_TRUE(cache->Flush().ok());
  ASSERT_TRUE(Stored(5, "new"));
  EXPECT_EQ(Stored(5, "new")->count, 7);
  // A key cached as absent (looked up before) takes the value too.
  EXPECT_EQ(*cache->Get(5, "absent"), nullptr);
  auto absent = cache->Create(5, "absent", std::make_unique<Profile>());
  ASSERT_TRUE(absent.ok());
  EXPECT_NE(*cache->Get(5, "absent"), nullptr);
}

TEST_F(KeyedValueCacheTest, ReportsErrorsInsteadOfGuessing) {
  auto cache = MakeCache(10);
  EXPECT_EQ(cache->MarkDirty(1, "never-loaded").code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(backend_->Put(state_, 2, "bad", "garbage").ok());
  EXPECT_EQ(cache->Get(2, "bad").status().code(), Status::Code::kCorruption);
  KeyedStateOptions options;
  options.max_parallelism = kMaxParallelism;
  auto narrow = KeyedStateBackend::Open(tmp_.Sub("narrow"), {0, 7}, options);
  ASSERT_TRUE(narrow.ok());
  auto st = (*narrow)->RegisterState("p");
  Cache small(narrow->get(), *st, EncodeProfile, DecodeProfile, 4);
  EXPECT_EQ(small.Get(8, "u").status().code(), Status::Code::kOutOfRange);
  EXPECT_EQ(small.GetOrCreate(9, "u").status().code(), Status::Code::kOutOfRange);
  EXPECT_EQ(small.Erase(63, "u").code(), Status::Code::kOutOfRange);
}

TEST_F(KeyedValueCacheTest, ForEachSeesUnflushedChangesInKeyOrder) {
  auto cache = MakeCache(1000);
  for (int i = 0; i < 20; ++i) {
    auto p = cache->GetOrCreate(static_cast<uint32_t>(i % 8), "user" + std::to_string(i));
    ASSERT_TRUE(p.ok());
    (*p)->count = i;
  }
  ASSERT_TRUE(cache->Erase(3, "user3").ok());
  std::vector<std::pair<uint32_t, int64_t>> seen;
  ASSERT_TRUE(cache->ForEach({2, 4}, [&](uint32_t kg, std::string_view user, const Profile& p) {
                     EXPECT_EQ(user, "user" + std::to_string(p.count));
                     seen.emplace_back(kg, p.count);
                     return Status::OK();
                   }).ok());
  const std::vector<std::pair<uint32_t, int64_t>> want = {{2, 10}, {2, 18}, {2, 2},
                                                          {3, 11}, {3, 19}, {4, 12}, {4, 4}};
  EXPECT_EQ(seen, want);
}

// The cache against a std::map model under a seeded random workload, from heavy eviction
// pressure (capacity 1) to no eviction at all.
TEST_F(KeyedValueCacheTest, MatchesMapModelUnderRandomWorkload) {
  for (size_t capacity : {size_t{1}, size_t{3}, size_t{64}, size_t{1} << 20}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    backend_.reset();
    SetUp();  // fresh backend per capacity
    auto cache = MakeCache(capacity);
    std::mt19937 rng(static_cast<uint32_t>(capacity * 7919 + 1));
    std::vector<std::pair<uint32_t, std::string>> keys;
    for (int u = 0; u < 50; ++u) {
      const std::string user = "user-" + std::to_string(u);
      keys.emplace_back(KeyGroupFor(HashUser(user), kMaxParallelism), user);
    }
    std::map<std::pair<uint32_t, std::string>, Profile> model;
    for (int step = 0; step < 20000; ++step) {
      const auto& key = keys[rng() % keys.size()];
      const uint32_t op = rng() % 100;
      if (op < 40) {
        auto p = cache->GetOrCreate(key.first, key.second);
        ASSERT_TRUE(p.ok()) << p.status().ToString();
        Profile& m = model[key];
        ASSERT_EQ(**p, m) << "step " << step;
        (*p)->count += 1;
        (*p)->tag = "s" + std::to_string(step % 97);
        m = **p;
        if (op >= 30) {
          // Flush between mutation and MarkDirty: legal, as Flush never evicts.
          ASSERT_TRUE(cache->Flush().ok());
        }
        ASSERT_TRUE(cache->MarkDirty(key.first, key.second).ok());
      } else if (op < 75) {
        auto p = cache->Get(key.first, key.second);
        ASSERT_TRUE(p.ok()) << p.status().ToString();
        auto it = model.find(key);
        if (it == model.end()) {
          ASSERT_EQ(*p, nullptr) << "step " << step;
        } else {
          ASSERT_NE(*p, nullptr) << "step " << step;
          ASSERT_EQ(**p, it->second) << "step " << step;
        }
      } else if (op < 90) {
        ASSERT_TRUE(cache->Erase(key.first, key.second).ok());
        model.erase(key);
      } else if (op < 92) {
        ASSERT_TRUE(cache->Flush().ok());
        for (const auto& k : keys) {
          auto it = model.find(k);
          ASSERT_EQ(Stored(k.first, k.second),
                    it == model.end() ? std::nullopt : std::optional<Profile>(it->second));
        }
      }
      ASSERT_LE(cache->size(), capacity);
    }
    // Everything, through a full scan and through a fresh cache.
    std::map<std::pair<uint32_t, std::string>, Profile> scanned;
    ASSERT_TRUE(cache->ForEach({0, kMaxParallelism - 1},
                               [&](uint32_t kg, std::string_view user, const Profile& p) {
                                 scanned[{kg, std::string(user)}] = p;
                                 return Status::OK();
                               })
                    .ok());
    EXPECT_EQ(scanned, model);
    const auto stats = cache->stats();
    cache.reset();
    auto fresh = MakeCache(8);
    for (const auto& k : keys) {
      auto p = fresh->Get(k.first, k.second);
      ASSERT_TRUE(p.ok());
      auto it = model.find(k);
      if (it == model.end()) {
        EXPECT_EQ(*p, nullptr);
      } else {
        ASSERT_NE(*p, nullptr);
        EXPECT_EQ(**p, it->second);
      }
    }
    if (capacity < keys.size()) {
      EXPECT_GT(stats.evictions, 0u);
      EXPECT_GT(stats.write_backs, 0u);
    } else {
      // Nothing evicted: each key read RocksDB at most once, the rest were hits.
      EXPECT_EQ(stats.evictions, 0u);
      EXPECT_LE(stats.misses, keys.size());
      EXPECT_GT(stats.hits, 10000u);
    }
  }
}

// The synchronous half of an asynchronous snapshot: dirty entries are encoded into a
// batch and turn clean; until the hold ends nothing is evicted or written (a snapshot
// taken meanwhile, on another thread, is exactly the batch over what RocksDB held), and
// values modified after the drain are dirty again for the next one.
TEST_F(KeyedValueCacheTest, DrainForSnapshotHoldsEvictionsUntilTheBatchIsWritten) {
  auto cache = MakeCache(4);
  for (int i = 0; i < 4; ++i) {
    auto p = cache->GetOrCreate(1, "u" + std::to_string(i));
    ASSERT_TRUE(p.ok());
    (*p)->count = i;
  }
  StateWriteBatch batch(backend_.get());
  const uint64_t epoch = cache->epoch();
  ASSERT_TRUE(cache->DrainForSnapshot(&batch).ok());
  EXPECT_NE(cache->epoch(), epoch) << "handed-out values must be looked up (and marked dirty) again";
  EXPECT_EQ(batch.count(), 4u);
  EXPECT_EQ(cache->dirty(), 0u);
  EXPECT_TRUE(cache->holding());
  EXPECT_FALSE(cache->DrainForSnapshot(&batch).ok()) << "one snapshot at a time";
  EXPECT_FALSE(cache->Flush().ok()) << "a write-back would leak into the snapshot";

  // New users and updates while the batch is being written: the cache grows, writes nothing.
  auto u0 = cache->GetForUpdate(1, "u0");
  ASSERT_TRUE(u0.ok());
  (*u0)->count = 100;
  for (int i = 4; i < 10; ++i) ASSERT_TRUE(cache->GetOrCreate(1, "u" + std::to_string(i)).ok());
  EXPECT_EQ(cache->size(), 10u);
  EXPECT_EQ(cache->stats().evictions, 0u);
  EXPECT_FALSE(Stored(1, "u0") || Stored(1, "u9"));

  ASSERT_TRUE(backend_->Write(&batch).ok());  // the asynchronous half
  EXPECT_EQ(Stored(1, "u0"), (Profile{0, ""})) << "the batch holds the values as of the drain";
  EXPECT_EQ(Stored(1, "u3"), (Profile{3, ""}));
  cache->EndSnapshotHold();

  ASSERT_TRUE(cache->GetOrCreate(1, "u10").ok());  // evicts again, writing back dirty ones
  EXPECT_LE(cache->size(), 10u);
  EXPECT_GT(cache->stats().evictions, 0u);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(Stored(1, "u0"), (Profile{100, ""})) << "updated after the drain: dirty again";
  for (int i = 4; i <= 10; ++i) EXPECT_TRUE(Stored(1, "u" + std::to_string(i))) << i;
}

}  // namespace
}  // namespace segflow
