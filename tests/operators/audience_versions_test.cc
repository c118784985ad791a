// Segment versions at the audience store (issue 6 item 2): the serving version recorded
// with each Apply's changes, retired segments, ordered replay of a writer's own history,
// and frozen versions beside the store (operators/sink/audience_versions.h).
#include "operators/sink/audience_versions.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "operators/sink/audience_store.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;

const std::string kV1 = "00000000000000a1";
const std::string kV2 = "00000000000000b2";

class AudienceVersionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/segflow-audience-versions-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/audience";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::unique_ptr<AudienceStore> Open() {
    auto w = AudienceStore::OpenForWrite(dir_);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }
  static AudienceStore::ApplyOptions Versions(std::map<std::string, std::string> v) {
    AudienceStore::ApplyOptions o;
    o.versions = std::move(v);
    return o;
  }

  std::string root_;
  std::string dir_;
};

TEST_F(AudienceVersionsTest, ServingVersionIsRecordedAndSwitchedByApply) {
  auto store = Open();
  auto none = store->Versions();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "a store written without versions is unversioned";
  ASSERT_TRUE(store->Apply({{"s", "u1", true, 10}}, 10, false).ok());
  EXPECT_TRUE(store->Versions()->empty());
  ASSERT_TRUE(store->Apply({{"s", "u2", true, 11}}, 11, Versions({{"s", kV1}, {"t", kV1}})).ok());
  EXPECT_EQ(*store->Versions(), (std::map<std::string, std::string>{{"s", kV1}, {"t", kV1}}));
  // An Apply without changes still records a switch (with its evaluated time).
  ASSERT_TRUE(store->Apply({}, 12, Versions({{"s", kV2}})).ok());
  EXPECT_EQ(*store->Versions(), (std::map<std::string, std::string>{{"s", kV2}, {"t", kV1}}));
  store.reset();
  auto reader = AudienceStore::OpenForRead(dir_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*(*reader)->Versions(), (std::map<std::string, std::string>{{"s", kV2}, {"t", kV1}}));
  EXPECT_EQ(*(*reader)->Members("s"), (std::vector<std::string>{"u1", "u2"}));
}

// A reader sees a version's label and the changes that make its audience together or
// neither: the writer switches between two versions whose audiences are disjoint (each
// switch one Apply: the old members exit, the new ones enter) while readers open the store
// and check that the members are those of the version it says it serves.
TEST_F(AudienceVersionsTest, ReadersSeeTheVersionAndItsChangesTogether) {
  auto store = Open();
  const std::map<std::string, std::set<std::string>> audience = {{kV1, {"a1", "a2", "a3"}},
                                                                 {kV2, {"b1", "b2", "b3", "b4"}}};
  auto switch_to = [&](const std::string& version, int64_t at) {
    std::vector<AudienceStore::Change> changes;
    for (const auto& [v, users] : audience) {
      for (const auto& u : users) changes.push_back({"s", u, v == version, at, 0});
    }
    return store->Apply(changes, at, Versions({{"s", version}}));
  };
  ASSERT_TRUE(switch_to(kV1, 1).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> switches{1};
  std::thread writer([&] {
    // Paced, so that the write-ahead log each reader replays stays small.
    for (int i = 2; i <= 2000 && !stop.load(); ++i) {
      ASSERT_TRUE(switch_to(i % 2 == 0 ? kV2 : kV1, i).ok());
      switches.store(i);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::set<std::string> seen;
  for (int r = 0; r < 40; ++r) {
    auto reader = AudienceStore::OpenForRead(dir_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    const std::string version = (*reader)->Versions()->at("s");
    auto members = (*reader)->Members("s");
    ASSERT_TRUE(members.ok());
    EXPECT_EQ(std::set<std::string>(members->begin(), members->end()), audience.at(version))
        << "after " << switches.load() << " switches";
    seen.insert(version);
  }
  stop.store(true);
  writer.join();
  EXPECT_EQ(seen.size(), 2u) << "the readers never overlapped a switch (" << switches.load()
                             << " switches)";
}

TEST_F(AudienceVersionsTest, RetiredSegmentLeavesTheStoreWithItsVersion) {
  auto store = Open();
  ASSERT_TRUE(store
                  ->Apply({{"old", "u1", true, 1}, {"old", "u2", true, 1}, {"s", "u1", true, 1}}, 1,
                          Versions({{"old", kV1}, {"s", kV1}}))
                  .ok());
  AudienceStore::ApplyOptions o = Versions({{"s", kV2}});
  o.retired = {"old"};
  AudienceStore::ApplyStats stats;
  ASSERT_TRUE(store->Apply({{"s", "u2", true, 2}, {"old", "u3", true, 2}}, 2, o, &stats).ok());
  EXPECT_EQ(stats.applied, 1u);
  EXPECT_EQ(stats.stale, 1u) << "a change of a segment retired in the same Apply is refused";
  EXPECT_TRUE(store->Members("old")->empty());
  EXPECT_EQ(*store->Segments(), std::vector<std::string>{"s"});
  EXPECT_EQ(*store->Versions(), (std::map<std::string, std::string>{{"s", kV2}}));
  EXPECT_EQ(*store->Members("s"), (std::vector<std::string>{"u1", "u2"}));
}

// The rebuild replays the job's own changelog (every stamp pos 0): an exit and a later
// enter of one user at one instant (as the switch records of an upgrade put them) must
// leave the user a member; by stamps the exit would win.
TEST_F(AudienceVersionsTest, OrderedReplayAppliesTheWritersHistoryInOrder) {
  const std::vector<AudienceStore::Change> history = {{"s", "u1", true, 5, 0},
                                                      {"s", "u1", false, 10, 0},
                                                      {"s", "u1", true, 10, 0},
                                                      {"s", "u2", true, 10, 0},
                                                      {"s", "u2", false, 10, 0}};
  {
    auto stamped = Open();
    ASSERT_TRUE(stamped->Apply(history, 10, false).ok());
    EXPECT_TRUE(stamped->Members("s")->empty())
        << "by stamps, the exit at 10 beats the enter at 10";
  }
  ASSERT_TRUE(AudienceStore::Destroy(dir_).ok());
  auto store = Open();
  AudienceStore::ApplyOptions o;
  o.ordered = true;
  ASSERT_TRUE(store->Apply(history, 10, o).ok());
  EXPECT_EQ(*store->Members("s"), std::vector<std::string>{"u1"});
  // The stamps are still stored: a stale write of another writer still loses.
  AudienceStore::ApplyStats stats;
  ASSERT_TRUE(
      store->Apply({{"s", "u1", false, 9, 0}}, std::nullopt, AudienceStore::ApplyOptions{}, &stats)
          .ok());
  EXPECT_EQ(stats.stale, 1u);
  EXPECT_EQ(*store->Members("s"), std::vector<std::string>{"u1"});
}

// Property: an ordered replay of a random single-writer history (times never decrease,
// many equal) leaves every row as its last record says.
TEST_F(AudienceVersionsTest, OrderedReplayEqualsTheLastRecordPerRow) {
  std::mt19937 rng(17);
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(AudienceStore::Destroy(dir_).ok());
    auto store = Open();
    std::vector<AudienceStore::Change> history;
    std::map<std::pair<std::string, std::string>, bool> last;
    int64_t at = 0;
    for (int i = 0; i < 200; ++i) {
      at += rng() % 3 == 0 ? 1 : 0;
      const std::string seg = rng() % 2 ? "s" : "t";
      const std::string user = "u" + std::to_string(rng() % 8);
      const bool entered = rng() % 2;
      history.push_back({seg, user, entered, at, 0});
      last[{seg, user}] = entered;
    }
    AudienceStore::ApplyOptions o;
    o.ordered = true;
    ASSERT_TRUE(store->Apply(history, at, o).ok());
    for (const std::string seg : {"s", "t"}) {
      std::vector<std::string> want;
      for (const auto& [row, member] : last) {
        if (row.first == seg && member) want.push_back(row.second);
      }
      std::sort(want.begin(), want.end());
      EXPECT_EQ(*store->Members(seg), want) << "round " << round << " segment " << seg;
    }
  }
}

TEST_F(AudienceVersionsTest, FrozenVersionRoundTripListAndDrop) {
  FrozenVersion v;
  v.job = "shop";
  v.segment = "big_cart";
  v.version = kV1;
  v.evaluated_through = 1234;
  v.frozen_at_ms = 99;
  v.members = {"u1", std::string("odd\0id\n", 7), "u3"};
  ASSERT_TRUE(WriteFrozenVersion(dir_, v).ok());
  v.segment = "s.2";
  v.version = kV2;
  v.evaluated_through.reset();
  v.members.clear();
  ASSERT_TRUE(WriteFrozenVersion(dir_, v).ok());

  auto names = ListFrozenVersions(dir_);
  ASSERT_TRUE(names.ok());
  ASSERT_EQ(names->size(), 2u);
  EXPECT_EQ((*names)[0].segment, "big_cart");
  EXPECT_EQ((*names)[0].version, kV1);
  EXPECT_EQ((*names)[1].segment, "s.2");
  auto back = ReadFrozenVersion(dir_, "big_cart", kV1);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->job, "shop");
  EXPECT_EQ(back->evaluated_through, std::optional<int64_t>(1234));
  EXPECT_EQ(back->frozen_at_ms, 99);
  EXPECT_EQ(back->member_count, 3u);
  EXPECT_EQ(back->members, (std::vector<std::string>{"u1", std::string("odd\0id\n", 7), "u3"}));
  auto empty = ReadFrozenVersion(dir_, "s.2", kV2);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->evaluated_through.has_value());
  EXPECT_TRUE(empty->members.empty());

  EXPECT_EQ(ReadFrozenVersion(dir_, "big_cart", kV2).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(WriteFrozenVersion(dir_, FrozenVersion{"shop", "../x", kV1, {}, 0, 0, {}}).code(),
            Status::Code::kInvalidArgument);
  ASSERT_TRUE(DropFrozenVersion(dir_, "big_cart", kV1).ok());
  EXPECT_EQ(DropFrozenVersion(dir_, "big_cart", kV1).code(), Status::Code::kNotFound);
  EXPECT_EQ(ListFrozenVersions(dir_)->size(), 1u);
  ASSERT_TRUE(DestroyFrozenVersions(dir_).ok());
  EXPECT_FALSE(fs::exists(FrozenVersionsDir(dir_)));
  EXPECT_TRUE(ListFrozenVersions(dir_)->empty());
}

TEST_F(AudienceVersionsTest, DamagedFrozenVersionIsAnErrorNamingIt) {
  FrozenVersion v{"shop", "s", kV1, 7, 1, 0, {"u1", "u2", "u3"}};
  ASSERT_TRUE(WriteFrozenVersion(dir_, v).ok());
  const std::string path = FrozenVersionPath(dir_, "s", kV1);
  const auto size = fs::file_size(path);
  for (const auto offset : {size_t{3}, size_t{20}, static_cast<size_t>(size - 2)}) {
    ASSERT_TRUE(WriteFrozenVersion(dir_, v).ok());
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(offset));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
    f.close();
    auto read = ReadFrozenVersion(dir_, "s", kV1);
    ASSERT_FALSE(read.ok()) << "a flipped byte at " << offset << " goes unnoticed";
    EXPECT_EQ(read.status().code(), Status::Code::kCorruption);
    EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().message();
  }
  fs::resize_file(path, size - 8);  // torn
  EXPECT_EQ(ReadFrozenVersion(dir_, "s", kV1).status().code(), Status::Code::kCorruption);
}

// The sink freezes at every start of an attempt; one restarted from the same checkpoint
// (same store, same evaluated time) leaves the file alone, a later freeze replaces it.
TEST_F(AudienceVersionsTest, FreezeIsIdempotentAtOneEvaluatedTime) {
  auto store = Open();
  ASSERT_TRUE(store
                  ->Apply({{"s", "u2", true, 5}, {"s", "u1", true, 6}, {"t", "x", true, 6}}, 6,
                          Versions({{"s", kV1}}))
                  .ok());
  auto wrote = FreezeVersion(*store, dir_, "shop", "s", kV1, 1000);
  ASSERT_TRUE(wrote.ok()) << wrote.status().ToString();
  EXPECT_TRUE(*wrote);
  auto again = FreezeVersion(*store, dir_, "shop", "s", kV1, 2000);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto frozen = ReadFrozenVersion(dir_, "s", kV1);
  ASSERT_TRUE(frozen.ok());
  EXPECT_EQ(frozen->members, (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(frozen->evaluated_through, std::optional<int64_t>(6));
  EXPECT_EQ(frozen->frozen_at_ms, 1000);
  ASSERT_TRUE(store->Apply({{"s", "u1", false, 9}}, 9, false).ok());
  ASSERT_TRUE(*FreezeVersion(*store, dir_, "shop", "s", kV1, 3000));
  EXPECT_EQ(ReadFrozenVersion(dir_, "s", kV1)->members, std::vector<std::string>{"u2"});

  // segflow forget removes a user from frozen versions too.
  auto erased = EraseFromFrozenVersions(dir_, "u2");
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(*erased, 1u);
  EXPECT_TRUE(ReadFrozenVersion(dir_, "s", kV1)->members.empty());
  EXPECT_EQ(*EraseFromFrozenVersions(dir_, "u2"), 0u);
}

TEST_F(AudienceVersionsTest, VersionsAreFoundByUniquePrefix) {
  auto store = Open();
  ASSERT_TRUE(store->Apply({}, 1, Versions({{"s", "abcd000000000001"}})).ok());
  ASSERT_TRUE(
      WriteFrozenVersion(dir_, FrozenVersion{"shop", "s", "abcd000000000002", 1, 1, 0, {}}).ok());
  ASSERT_TRUE(
      WriteFrozenVersion(dir_, FrozenVersion{"shop", "s", "1234000000000000", 1, 1, 0, {}}).ok());
  {
    auto backfill = AudienceStore::OpenForWrite(BackfillAudienceDir(dir_));
    ASSERT_TRUE(backfill.ok());
    ASSERT_TRUE((*backfill)->Apply({}, 1, Versions({{"s", "9999000000000000"}})).ok());
  }
  auto versions = FindSegmentVersions(store.get(), dir_, "s");
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  EXPECT_EQ(versions->serving, std::optional<std::string>("abcd000000000001"));
  EXPECT_EQ(versions->frozen, (std::vector<std::string>{"1234000000000000", "abcd000000000002"}));
  EXPECT_EQ(versions->backfill, std::optional<std::string>("9999000000000000"));
  EXPECT_EQ(*ResolveVersion(*versions, "s", "1234"), "1234000000000000");
  EXPECT_EQ(*ResolveVersion(*versions, "s", "ABCD000000000002"), "abcd000000000002");
  EXPECT_EQ(*ResolveVersion(*versions, "s", "99990"), "9999000000000000");
  auto ambiguous = ResolveVersion(*versions, "s", "abcd");
  EXPECT_EQ(ambiguous.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(ambiguous.status().message().find("ambiguous"), std::string::npos);
  auto unknown = ResolveVersion(*versions, "s", "ffff");
  EXPECT_EQ(unknown.status().code(), Status::Code::kNotFound);
  EXPECT_NE(unknown.status().message().find("serving abcd000000000001, frozen 1234000000000000"),
            std::string::npos)
      << unknown.status().message();
  EXPECT_EQ(ResolveVersion(*versions, "s", "123").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ResolveVersion(*versions, "s", "12345678901234567").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ResolveVersion(*versions, "s", "xyz1").status().code(), Status::Code::kInvalidArgument);
  auto other = FindSegmentVersions(store.get(), dir_, "t");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->serving.has_value());
  EXPECT_TRUE(other->frozen.empty());
  EXPECT_EQ(other->Describe(), "none");
}

}  // namespace
}  // namespace segflow
