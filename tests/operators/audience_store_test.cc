// AudienceStore: members and evaluated time, and what a durable commit leaves on disk.
#include "operators/sink/audience_store.h"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

namespace segflow {
namespace {

class AudienceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/segflow-audience-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/audience";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  // Bytes in the store's write-ahead log files (what every open replays).
  uint64_t WalBytes() const {
    uint64_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.path().extension() == ".log") n += e.file_size();
    }
    return n;
  }

  std::string root_;
  std::string dir_;
};

TEST_F(AudienceStoreTest, MembersAndEvaluatedTime) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Apply({{"s", "u2", true, 10}, {"s", "u1", true, 11}, {"t", "u3", true, 12}}, 12, false).ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u2", false, 20}}, 20, false).ok());
  auto members = (*w)->Members("s");
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(*members, std::vector<std::string>({"u1"}));
  auto through = (*w)->EvaluatedThrough();
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, std::optional<int64_t>(20));
}

// The final (sync) commit flushes the memtable: readers open an SST instead of replaying
// the run's whole write-ahead log.
TEST_F(AudienceStoreTest, SyncCommitLeavesNoWalToReplay) {
  {
    auto w = AudienceStore::OpenForWrite(dir_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (int i = 0; i < 1000; ++i) {
      const std::string user = "user-" + std::to_string(i);
      ASSERT_TRUE((*w)->Apply({{"s", user, true, i}}, i, false).ok());
      if (i % 3 == 0) {
        ASSERT_TRUE((*w)->Apply({{"s", user, false, i + 1}}, i + 1, false).ok());
      }
    }
    ASSERT_TRUE((*w)->Apply({}, 2000, false).ok());
    EXPECT_GT(WalBytes(), 0u);
    // Nothing new to write: the final commit still flushes.
    ASSERT_TRUE((*w)->Apply({}, std::nullopt, true).ok());
  }
  EXPECT_EQ(WalBytes(), 0u);
  auto r = AudienceStore::OpenForRead(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto n = (*r)->CountMembers("s");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 666u);
  auto through = (*r)->EvaluatedThrough();
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, std::optional<int64_t>(2000));
}

}  // namespace
}  // namespace segflow
