// BarrierAligner: elements after a sender's barrier wait until every running sender's
// barrier is in; ended senders do not hold an alignment back.
#include "operators/runtime/barrier_aligner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace segflow {
namespace {

struct Item {
  uint32_t from = 0;
  uint64_t barrier = 0;  // 0: data
  int value = 0;
};

// Runs the aligner the way a task does; returns what it processed, "S<id>" at snapshots.
std::vector<std::string> Drive(uint32_t senders, const std::vector<Item>& input, const std::vector<uint32_t>& ends = {}) {
  BoundedChannel<Item> channel(input.size() + 1);
  for (Item i : input) EXPECT_TRUE(channel.Push(std::move(i)).ok());
  channel.Close();
  BarrierAligner<Item> aligner(senders);
  std::vector<std::string> out;
  while (auto item = aligner.Next(&channel)) {
    if (aligner.Hold(item->from, *item)) continue;
    if (item->barrier > 0) {
      if (aligner.OnBarrier(item->from, item->barrier) == BarrierAligner<Item>::Barrier::kAligned) {
        out.push_back("S" + std::to_string(item->barrier));
        aligner.Release();
      }
      continue;
    }
    out.push_back(std::to_string(item->from) + ":" + std::to_string(item->value));
  }
  for (uint32_t e : ends) {
    if (aligner.OnEnd(e)) {
      out.push_back("S" + std::to_string(aligner.aligning()));
      aligner.Release();
      while (auto item = aligner.Next(&channel)) out.push_back(std::to_string(item->from) + ":" + std::to_string(item->value));
    }
  }
  return out;
}

TEST(BarrierAlignerTest, HoldsTheFastSenderUntilEveryBarrierIsIn) {
  const auto out = Drive(2, {{0, 0, 1}, {0, 1, 0}, {0, 0, 2}, {1, 0, 10}, {0, 0, 3}, {1, 1, 0}, {1, 0, 11}});
  EXPECT_EQ(out, (std::vector<std::string>{"0:1", "1:10", "S1", "0:2", "0:3", "1:11"}));
}

TEST(BarrierAlignerTest, ConsecutiveCheckpointsKeepEachSendersOrder) {
  const auto out = Drive(2, {{0, 1, 0}, {0, 0, 1}, {0, 2, 0}, {0, 0, 2}, {1, 1, 0}, {1, 0, 10}, {1, 2, 0}});
  EXPECT_EQ(out, (std::vector<std::string>{"S1", "0:1", "1:10", "S2", "0:2"}));
}

TEST(BarrierAlignerTest, AnEndedSenderCompletesTheAlignment) {
  const auto out = Drive(2, {{0, 1, 0}, {0, 0, 1}}, {1});
  EXPECT_EQ(out, (std::vector<std::string>{"S1", "0:1"}));
}

}  // namespace
}  // namespace segflow
