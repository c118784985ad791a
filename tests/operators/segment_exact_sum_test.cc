// ExactSum: exact, order-independent sums with removal.
#include "operators/segment/exact_sum.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace segflow {
namespace {

TEST(SegmentExactSumTest, CancellationIsExact) {
  ExactSum s;
  s.Add(1e16);
  s.Add(1.0);
  s.Add(1.0);
  s.Add(-1e16);
  EXPECT_EQ(s.Value(), 2.0);
  ExactSum t;  // the same values in another order
  t.Add(1.0);
  t.Add(-1e16);
  t.Add(1e16);
  t.Add(1.0);
  EXPECT_EQ(t.Value(), 2.0);
}

TEST(SegmentExactSumTest, CorrectlyRoundedAndOrderIndependent) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mant(-1.0, 1.0);
  std::uniform_int_distribution<int> exp(-60, 60);
  for (int round = 0; round < 50; ++round) {
    std::vector<double> v;
    for (int i = 0; i < 40; ++i) v.push_back(std::ldexp(mant(rng), exp(rng)));
    ExactSum a;
    for (double x : v) a.Add(x);
    std::shuffle(v.begin(), v.end(), rng);
    ExactSum b;
    for (double x : v) b.Add(x);
    EXPECT_EQ(a.Value(), b.Value());
    // Removing all but the first value leaves exactly that value.
    for (size_t i = 1; i < v.size(); ++i) b.Remove(v[i]);
    EXPECT_EQ(b.Value(), v[0]);
    b.Remove(v[0]);
    EXPECT_TRUE(b.IsZero());
    EXPECT_EQ(b.Value(), 0.0);
  }
}

TEST(SegmentExactSumTest, HalfwayCaseRoundsToEven) {
  // 1 + 2^-53 is halfway between 1 and the next double; 2^-80 tips it upwards.
  ExactSum s;
  s.Add(1.0);
  s.Add(0x1p-53);
  EXPECT_EQ(s.Value(), 1.0);
  s.Add(0x1p-80);
  EXPECT_EQ(s.Value(), 1.0 + 0x1p-52);
}

TEST(SegmentExactSumTest, HugeValuesDoNotOverflowIntermediates) {
  ExactSum s;
  s.Add(1e308);
  s.Add(1e308);
  s.Add(-1e308);
  EXPECT_EQ(s.Value(), 1e308);
  s.Add(1e308);
  EXPECT_TRUE(std::isinf(s.Value()));
  s.Remove(1e308);
  s.Add(3.0);
  s.Remove(1e308);
  EXPECT_EQ(s.Value(), 3.0);
}

TEST(SegmentExactSumTest, SerializesExactly) {
  ExactSum s;
  s.Add(0.1);
  s.Add(1e300 * 1e8);
  s.Add(-3.5e-20);
  std::string buf;
  s.Serialize(&buf);
  ByteReader in(buf);
  ExactSum t;
  ASSERT_TRUE(t.Deserialize(&in));
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(t.Value(), s.Value());
  t.Remove(1e300 * 1e8);
  EXPECT_EQ(t.Value(), 0.1 + -3.5e-20);
  ByteReader truncated(std::string_view(buf).substr(0, buf.size() - 1));
  ExactSum u;
  EXPECT_FALSE(u.Deserialize(&truncated));
}

}  // namespace
}  // namespace segflow
