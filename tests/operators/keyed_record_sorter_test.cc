// KeyedRecordSorter (batch execution's sort, issue 17) against a reference: a stable sort
// of the records in arrival order by (user, ts, seq), grouped by user. Seeded random
// inputs with users sharing a hash, equal (ts, seq) pairs, profile updates and erasures,
// under budgets from "everything in memory" down to "a run every few records" (many runs,
// merged in several rounds).
#include "operators/runtime/keyed_record_sorter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/state_test_dir.h"

namespace segflow {
namespace {

struct Plain {  // what a record carries, comparable
  std::string user;
  uint32_t partition;
  int64_t ts;
  uint64_t seq;
  std::vector<uint64_t> bits;
  std::vector<std::string> keys;
  bool profile;
  int8_t consent;
  bool operator==(const Plain&) const = default;
};

Plain ToPlain(const KeyedRecord& r) {
  Plain p{r.user, r.partition, r.event.ts,         r.event.seq,
          {},     {},          r.event.is_profile, r.event.consent};
  for (uint64_t w : r.event.match_bits) p.bits.push_back(w);
  for (const FieldValue& f : r.event.fields) p.keys.push_back(f.key);
  if (r.event.is_profile) p.keys.push_back(r.event.profile_update.ToJson());
  return p;
}

KeyedRecord MakeRecord(std::mt19937_64& rng, int users, bool collide, uint64_t seq) {
  KeyedRecord r;
  r.user = "u" + std::to_string(rng() % users);
  // Colliding hashes: users share a few hash values, as if HashUser collided.
  r.user_hash = collide ? HashUser(r.user) % 3 : HashUser(r.user);
  r.partition = static_cast<uint32_t>(HashUser(r.user) % 4);
  r.event.ts = static_cast<int64_t>(rng() % 50);  // many equal ts
  r.event.seq = rng() % 4 == 0 ? seq - 1 : seq;   // some equal (ts, seq): arrival decides
  r.event.match_bits = {rng() % 16};
  r.event.fields.resize(rng() % 3);
  for (FieldValue& f : r.event.fields) {
    f.kind = FieldValue::Kind::kKey;
    f.key = std::string(rng() % 40, static_cast<char>('a' + rng() % 26));
  }
  if (rng() % 10 == 0) {
    r.event.is_profile = true;
    ValueObject o;
    o.emplace_back("plan", Value::String(rng() % 2 ? "pro" : "free"));
    r.event.profile_update = Value::Object(std::move(o));
  }
  r.event.consent = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
  return r;
}

void CheckSeed(uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  StateTestDir dir;
  ASSERT_TRUE(dir.ok());
  const int users = 1 + static_cast<int>(rng() % 60);
  const bool collide = rng() % 4 == 0;
  const size_t budgets[] = {size_t{1} << 30, 64 << 10, 16384, 8192};
  const size_t budget = budgets[rng() % 4];
  const size_t n = rng() % 3000;
  const std::string spill = dir.Sub("sort");
  KeyedRecordSorter sorter(spill, budget);
  // The reference: every record kept, in arrival order; an erasure drops what came before.
  std::vector<Plain> arrived;
  for (size_t i = 0; i < n; ++i) {
    KeyedRecord r = MakeRecord(rng, users, collide, i + 1);
    arrived.push_back(ToPlain(r));
    ASSERT_TRUE(sorter.Add(r).ok());
    if (rng() % 200 == 0) {
      const std::string erased = "u" + std::to_string(rng() % users);
      sorter.EraseUser(erased);
      std::erase_if(arrived, [&](const Plain& p) { return p.user == erased; });
    }
  }
  std::vector<Plain> expected = arrived;
  std::stable_sort(expected.begin(), expected.end(), [](const Plain& a, const Plain& b) {
    return std::tie(a.user, a.ts, a.seq) < std::tie(b.user, b.ts, b.seq);
  });
  if (budget <= 16384 && n > 1000) {
    EXPECT_GT(sorter.runs(), 0u) << "a tiny budget spills";
  }
  std::map<std::string, std::vector<Plain>> got;
  size_t calls = 0;
  ASSERT_TRUE(
      sorter
          .ForEachUser([&](std::string_view user, const std::vector<KeyedRecord*>& records) {
            ++calls;
            EXPECT_FALSE(records.empty());
            auto& list = got[std::string(user)];
            EXPECT_TRUE(list.empty()) << "user " << user << " twice";
            for (const KeyedRecord* r : records) {
              KeyedRecord copy = *r;
              copy.user = std::string(user);
              list.push_back(ToPlain(copy));
            }
            return Status::OK();
          })
          .ok());
  std::vector<Plain> actual;
  for (auto& [user, list] : got) actual.insert(actual.end(), list.begin(), list.end());
  EXPECT_EQ(calls, got.size());
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(actual[i], expected[i]) << "at " << i << ": user " << expected[i].user << " ts "
                                      << expected[i].ts << " seq " << expected[i].seq;
  }
  EXPECT_EQ(sorter.runs(), 0u);
  EXPECT_EQ(sorter.records(), 0u);
}

TEST(KeyedRecordSorterTest, RandomRecordsComeOutByUserInEventTimeUnderAnyBudget) {
  for (uint64_t seed = 0; seed < 120; ++seed) CheckSeed(seed);
}

TEST(KeyedRecordSorterTest, SpilledRunsAreRemovedWithTheSorterAndOnlyThem) {
  StateTestDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string spill = dir.Sub("sort");
  std::mt19937_64 rng(5);
  {
    KeyedRecordSorter sorter(spill, 4096);
    for (uint64_t i = 0; i < 2000; ++i)
      ASSERT_TRUE(sorter.Add(MakeRecord(rng, 50, false, i + 1)).ok());
    EXPECT_GT(sorter.runs(), 1u);
    EXPECT_TRUE(std::filesystem::exists(spill));
  }
  EXPECT_FALSE(std::filesystem::exists(spill)) << "the sorter's own folder goes with it";
  // A folder of the user's at that path is never adopted or deleted.
  std::filesystem::create_directories(spill);
  { std::ofstream(spill + "/mine.txt") << "keep"; }
  {
    KeyedRecordSorter sorter(spill, 4096);
    Status s;
    for (uint64_t i = 0; i < 2000 && s.ok(); ++i) s = sorter.Add(MakeRecord(rng, 50, false, i + 1));
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(spill), std::string::npos) << s.message();
  }
  EXPECT_TRUE(std::filesystem::exists(spill + "/mine.txt"));
}

TEST(KeyedRecordSorterTest, AUserIdLongerThan64KiBSortsInMemoryAndFromARun) {
  StateTestDir dir;
  ASSERT_TRUE(dir.ok());
  for (size_t budget : {size_t{1} << 30, size_t{16384}}) {
    KeyedRecordSorter sorter(dir.Sub("sort"), budget);
    std::mt19937_64 rng(3);
    KeyedRecord big = MakeRecord(rng, 10, false, 1);
    big.user = std::string(70000, 'x');
    big.user_hash = HashUser(big.user);
    ASSERT_TRUE(sorter.Add(big).ok());
    for (uint64_t i = 0; i < 500; ++i)
      ASSERT_TRUE(sorter.Add(MakeRecord(rng, 10, false, i + 2)).ok());
    size_t seen = 0;
    ASSERT_TRUE(
        sorter
            .ForEachUser([&](std::string_view user, const std::vector<KeyedRecord*>& records) {
              if (user == big.user) {
                ++seen;
                EXPECT_EQ(records.size(), 1u);
                EXPECT_EQ(ToPlain(*records[0]).ts, big.event.ts);
              }
              return Status::OK();
            })
            .ok());
    EXPECT_EQ(seen, 1u) << "budget " << budget;
  }
}

TEST(KeyedRecordSorterTest, ACorruptRunFailsWithTheFileNamed) {
  StateTestDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string spill = dir.Sub("sort");
  std::mt19937_64 rng(9);
  KeyedRecordSorter sorter(spill, 4096);
  for (uint64_t i = 0; i < 1000; ++i)
    ASSERT_TRUE(sorter.Add(MakeRecord(rng, 50, false, i + 1)).ok());
  ASSERT_GT(sorter.runs(), 0u);
  std::string run;
  for (const auto& e : std::filesystem::directory_iterator(spill)) {
    if (e.path().filename().string().rfind("run-", 0) == 0) run = e.path().string();
  }
  ASSERT_FALSE(run.empty());
  std::filesystem::resize_file(run, std::filesystem::file_size(run) - 3);
  Status s = sorter.ForEachUser(
      [](std::string_view, const std::vector<KeyedRecord*>&) { return Status::OK(); });
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(run), std::string::npos) << s.message();
}

}  // namespace
}  // namespace segflow
