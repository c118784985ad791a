// DiffMembers against a std::set reference on random audiences, and its edge cases.
#include "operators/sink/audience_diff.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace segflow
