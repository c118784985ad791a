#include "engine/runtime/channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/runtime/stream_element.h"

namespace segflow {
namespace {

using namespace std::chrono_literals;

struct Batch {
  std::vector<int> records;
};

// Waits (bounded) until `cond` holds, so tests do not depend on thread scheduling.
template <typename Cond>
bool Eventually(Cond cond) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(ChannelTest, FifoOrderAcrossThreads) {
  BoundedChannel<int> ch(8);
  constexpr int kN = 5000;
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) ASSERT_TRUE(ch.Push(int{i}).ok());
    ch.Close();
  });
  std::vector<int> got;
  for (int i = 0; i <= kN; ++i) {  // one extra pop observes the close
    auto v = ch.Pop();
    if (!v) break;
    got.push_back(*v);
  }
  producer.join();
  ASSERT_EQ(got.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(got[i], i);
  EXPECT_LE(ch.stats().max_size, ch.capacity());
}

TEST(ChannelTest, MultipleProducersKeepTheirOwnOrder) {
  BoundedChannel<std::pair<int, int>> ch(4);
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 2000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&ch, p] {
      for (int i = 0; i < kPerProducer; ++i) ASSERT_TRUE(ch.Push({p, i}).ok());
    });
  }
  std::vector<int> next(kProducers, 0);
  for (int n = 0; n < kProducers * kPerProducer; ++n) {
    auto v = ch.PopFor(10s);
    ASSERT_TRUE(v.has_value());
    ASSERT_EQ(v->second, next[v->first]) << "producer " << v->first;
    ++next[v->first];
  }
  for (auto& t : producers) t.join();
  EXPECT_FALSE(ch.TryPop().has_value());
  EXPECT_EQ(ch.stats().pushed, ch.stats().popped);
}

TEST(ChannelTest, FullChannelBlocksProducerAndAccountsBlockedTime) {
  BoundedChannel<int> ch(2);
  ASSERT_TRUE(ch.Push(1).ok());
  ASSERT_TRUE(ch.Push(2).ok());
  int third = 3;
  EXPECT_EQ(ch.TryPush(std::move(third)).code(), Status::Code::kBusy);
  EXPECT_EQ(ch.stats().blocked_pushes, 0u);

  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    ASSERT_TRUE(ch.Push(3).ok());
    pushed = true;
  });
  ASSERT_TRUE(Eventually([&] { return ch.waiting_pushers() == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(pushed.load()) << "Push must block while the channel is full";
  EXPECT_EQ(ch.size(), 2u);

  EXPECT_EQ(*ch.Pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed.load());
  const ChannelStats stats = ch.stats();
  EXPECT_EQ(stats.blocked_pushes, 1u);
  EXPECT_GE(stats.blocked, 50ms);
  EXPECT_LT(stats.blocked, 10s);
  EXPECT_EQ(*ch.Pop(), 2);
  EXPECT_EQ(*ch.Pop(), 3);
}

TEST(ChannelTest, CloseWakesBlockedPusherWhichKeepsItsValue) {
  BoundedChannel<std::unique_ptr<int>> ch(1);
  ASSERT_TRUE(ch.Push(std::make_unique<int>(1)).ok());
  auto mine = std::make_unique<int>(2);
  Status result;
  std::thread producer([&] { result = ch.Push(std::move(mine)); });
  ASSERT_TRUE(Eventually([&] { return ch.waiting_pushers() == 1; }));
  ch.Close();
  producer.join();
  EXPECT_EQ(result.code(), Status::Code::kCancelled);
  ASSERT_NE(mine, nullptr) << "a refused value must not be consumed";
  EXPECT_EQ(*mine, 2);
}

TEST(ChannelTest, CloseWakesBlockedPopper) {
  BoundedChannel<int> ch(4);
  std::optional<int> got = 7;
  std::thread consumer([&] { got = ch.Pop(); });
  ASSERT_TRUE(Eventually([&] { return ch.waiting_poppers() == 1; }));
  ch.Close();
  consumer.join();
  EXPECT_FALSE(got.has_value());
  EXPECT_TRUE(ch.closed());
}

TEST(ChannelTest, CloseDrainsBufferedThenEnds) {
  BoundedChannel<int> ch(4);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ch.Push(int{i}).ok());
  ch.Close();
  EXPECT_EQ(ch.Push(9).code(), Status::Code::kCancelled);
  EXPECT_EQ(ch.TryPush(9).code(), Status::Code::kCancelled);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*ch.Pop(), i);
  EXPECT_FALSE(ch.Pop().has_value());
  EXPECT_FALSE(ch.PopFor(1ms).has_value());
}

TEST(ChannelTest, PopForTimesOutOnEmptyOpenChannel) {
  BoundedChannel<int> ch(4);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ch.PopFor(25ms).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_FALSE(ch.closed());
}

TEST(ChannelTest, ByteCapacityBoundsBufferedBytes) {
  BoundedChannel<std::string> ch(100, 10, [](const std::string& s) { return s.size(); });
  ASSERT_TRUE(ch.TryPush(std::string(6, 'a')).ok());
  std::string b(6, 'b');
  EXPECT_EQ(ch.TryPush(std::move(b)).code(), Status::Code::kBusy);
  ASSERT_TRUE(ch.TryPush(std::string(4, 'c')).ok());
  EXPECT_EQ(ch.Pop()->size(), 6u);
  EXPECT_EQ(ch.Pop()->size(), 4u);
  // An element above the bound still passes through an empty channel.
  ASSERT_TRUE(ch.TryPush(std::string(50, 'd')).ok());
  EXPECT_EQ(ch.TryPush(std::string(1, 'e')).code(), Status::Code::kBusy);
  EXPECT_EQ(ch.Pop()->size(), 50u);
}

TEST(ChannelTest, ByteBoundedPusherWakesWhenRoomFrees) {
  BoundedChannel<std::string> ch(100, 8, [](const std::string& s) { return s.size(); });
  ASSERT_TRUE(ch.Push(std::string(8, 'a')).ok());
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    ASSERT_TRUE(ch.Push(std::string(5, 'b')).ok());
    pushed = true;
  });
  ASSERT_TRUE(Eventually([&] { return ch.waiting_pushers() == 1; }));
  EXPECT_FALSE(pushed.load());
  EXPECT_EQ(ch.Pop()->size(), 8u);
  producer.join();
  EXPECT_EQ(ch.Pop()->size(), 5u);
}

TEST(ChannelTest, BatchesAreMovedNotCopied) {
  BoundedChannel<StreamElement<Batch>> ch(4);
  Batch b;
  b.records.assign(1000, 7);
  const int* data = b.records.data();
  ASSERT_TRUE(ch.Push(StreamElement<Batch>(std::move(b))).ok());
  auto got = ch.Pop();
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(IsBatch(*got));
  EXPECT_EQ(std::get<Batch>(*got).records.data(), data);
}

TEST(ChannelTest, CarriesEveryStreamElementKindInOrder) {
  BoundedChannel<StreamElement<Batch>> ch(8);
  ASSERT_TRUE(ch.Push(Batch{{1, 2, 3}}).ok());
  ASSERT_TRUE(ch.Push(Watermark{3, -42}).ok());
  ASSERT_TRUE(ch.Push(CheckpointBarrier{17}).ok());
  ASSERT_TRUE(ch.Push(EndOfStream{}).ok());
  EXPECT_EQ(std::get<Batch>(*ch.Pop()).records, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(std::get<Watermark>(*ch.Pop()), (Watermark{3, -42}));
  EXPECT_EQ(std::get<CheckpointBarrier>(*ch.Pop()), CheckpointBarrier{17});
  EXPECT_TRUE(IsEndOfStream(*ch.Pop()));
}

TEST(ChannelTest, PopManyTakesUpToMaxAndWakesPushers) {
  BoundedChannel<int> ch(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ch.Push(int{i}).ok());
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 4; i < 7; ++i) {
      ASSERT_TRUE(ch.Push(int{i}).ok());
      ++pushed;
    }
  });
  ASSERT_TRUE(Eventually([&] { return ch.waiting_pushers() == 1; }));
  std::vector<int> out;
  EXPECT_EQ(ch.PopManyFor(&out, 3, 1s), 3u);
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2}));
  producer.join();  // three slots freed at once: every blocked push completes
  EXPECT_EQ(pushed.load(), 3);
  out.clear();
  EXPECT_EQ(ch.PopManyFor(&out, 100, 1s), 4u);
  EXPECT_EQ(out, (std::vector<int>{3, 4, 5, 6}));
  EXPECT_EQ(ch.PopManyFor(&out, 100, 1ms), 0u);
}

}  // namespace
}  // namespace segflow
