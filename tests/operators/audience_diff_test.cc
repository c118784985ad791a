// DiffMembers against a std::set reference on random audiences, and its edge cases.
#include "operators/sink/audience_diff.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace segflow {
namespace {

TEST(AudienceDiffTest, MatchesASetReferenceOnRandomAudiences) {
  std::mt19937_64 rng(6);
  for (int round = 0; round < 200; ++round) {
    std::set<std::string> a, b;
    const int users = 1 + static_cast<int>(rng() % 40);
    for (int u = 0; u < users; ++u) {
      const std::string name = "u" + std::to_string(u);
      if (rng() % 3 != 0) a.insert(name);
      if (rng() % 3 != 0) b.insert(name);
    }
    const SegmentDiff d = DiffMembers("s", {a.begin(), a.end()}, {b.begin(), b.end()});
    std::vector<std::string> only_a, only_b;
    std::set<std::string> all(a);
    for (const auto& u : a) {
      if (!b.count(u)) only_a.push_back(u);
    }
    for (const auto& u : b) {
      if (!a.count(u)) only_b.push_back(u);
      all.insert(u);
    }
    EXPECT_EQ(d.a, a.size());
    EXPECT_EQ(d.b, b.size());
    EXPECT_EQ(d.only_a, only_a);
    EXPECT_EQ(d.only_b, only_b);
    EXPECT_EQ(d.union_size, all.size());
    const double want =
        all.empty() ? 0.0 : 100.0 * static_cast<double>(only_a.size() + only_b.size()) / all.size();
    EXPECT_DOUBLE_EQ(d.divergence_pct, want);
  }
}

TEST(AudienceDiffTest, EmptyAndDisjointAudiences) {
  EXPECT_EQ(DiffMembers("s", {}, {}).divergence_pct, 0.0);
  EXPECT_EQ(DiffMembers("s", {"u1"}, {}).divergence_pct, 100.0);
  EXPECT_EQ(DiffMembers("s", {"u1"}, {"u2"}).divergence_pct, 100.0);
  EXPECT_EQ(DiffMembers("s", {"u1", "u2"}, {"u1", "u2"}).divergence_pct, 0.0);
  EXPECT_DOUBLE_EQ(DiffMembers("s", {"u1", "u2", "u3", "u4"}, {"u1", "u2", "u3"}).divergence_pct,
                   25.0);
}

// The last diff's record is read whole and sent to the coordinator: a missing one is
// none, a file past 1 MiB (not written by segflow diff) is refused before it is read.
TEST(AudienceDiffTest, LastDiffRecordIsBoundedBeforeItIsRead) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("segflow-last-diff-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto none = ReadLastDiff(dir);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  const std::string path = dir + "/segflow-last-diff.json";
  std::ofstream(path) << R"({"segments":[]})";
  auto small = ReadLastDiff(dir);
  ASSERT_TRUE(small.ok() && small->has_value());
  EXPECT_EQ(**small, R"({"segments":[]})");
  std::filesystem::resize_file(path, (1u << 20) + 1);
  auto big = ReadLastDiff(dir);
  EXPECT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("1 MiB"), std::string::npos) << big.status().ToString();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace segflow
