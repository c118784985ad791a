// MatchBits: a word vector with two inline words; behaves like std::vector<uint64_t>.
#include "operators/segment/match_bits.h"

#include <random>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace segflow {
namespace {

std::vector<uint64_t> Words(const MatchBits& b) { return {b.begin(), b.end()}; }

TEST(MatchBitsTest, BehavesLikeAVectorAcrossInlineAndHeapSizes) {
  std::mt19937_64 rng(3);
  MatchBits bits;
  std::vector<uint64_t> model;
  for (int step = 0; step < 2000; ++step) {
    const size_t n = rng() % 6;
    switch (rng() % 5) {
      case 0:
        bits.assign(n, step);
        model.assign(n, step);
        break;
      case 1:
        bits.resize(n);
        model.resize(n, 0);
        break;
      case 2:
        if (!model.empty()) {
          const size_t i = rng() % model.size();
          bits[i] |= uint64_t{1} << (rng() % 64);
          model[i] = bits[i];
        }
        break;
      case 3: {
        MatchBits copy = bits;
        EXPECT_EQ(copy, bits);
        MatchBits moved = std::move(copy);
        bits = moved;
        break;
      }
      default: {
        MatchBits other;
        other.assign(n, 7);
        std::swap(bits, other);
        bits = std::move(other);
        break;
      }
    }
    ASSERT_EQ(bits.size(), model.size());
    ASSERT_EQ(Words(bits), model) << "step " << step;
  }
  MatchBits a{1, 2, 3};
  EXPECT_EQ(Words(a), (std::vector<uint64_t>{1, 2, 3}));
  a = {9};
  EXPECT_EQ(Words(a), (std::vector<uint64_t>{9}));
  EXPECT_FALSE(a == (MatchBits{9, 0}));
}

}  // namespace
}  // namespace segflow
