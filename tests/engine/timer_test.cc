#include "engine/state/timer_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "state_test_dir.h"

namespace segflow {
namespace {

constexpr uint32_t kMaxParallelism = 32;

class TimerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.ok());
    KeyedStateOptions options;
    options.max_parallelism = kMaxParallelism;
    auto b = KeyedStateBackend::Open(tmp_.Sub("w"), {0, kMaxParallelism - 1}, options);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(b).value();
  }
  std::unique_ptr<TimerService> OpenTimers() {
    auto t = TimerService::Open(backend_.get());
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }
  // Pops everything of every partition without changing `t` for later use.
  static std::map<uint32_t, std::vector<Timer>> Drain(TimerService* t) {
    std::map<uint32_t, std::vector<Timer>> out;
    for (uint32_t p : t->partitions()) t->PopDue(p, std::numeric_limits<int64_t>::max(), &out[p]);
    return out;
  }

  StateTestDir tmp_;
  std::unique_ptr<KeyedStateBackend> backend_;
};

TEST_F(TimerServiceTest, PopDueReturnsTimersBeforeWatermarkInTimeThenUserOrder) {
  auto t = OpenTimers();
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Register(0, 20, 1, "bob").ok());
  ASSERT_TRUE(t->Register(0, 10, 2, "carol").ok());
  ASSERT_TRUE(t->Register(0, 10, 3, "alice").ok());
  ASSERT_TRUE(t->Register(0, 30, 1, "alice").ok());
  ASSERT_TRUE(t->Register(0, -5, 1, "zed").ok());
  EXPECT_EQ(t->NextTime(0), -5);
  std::vector<Timer> due;
  t->PopDue(0, 20, &due);  // strictly before the watermark
  const std::vector<Timer> want = {{-5, 1, "zed"}, {10, 3, "alice"}, {10, 2, "carol"}};
  EXPECT_EQ(due, want);
  EXPECT_EQ(t->NextTime(0), 20);
  due.clear();
  t->PopDue(0, 20, &due);
  EXPECT_TRUE(due.empty());
  t->PopDue(0, 31, &due);
  EXPECT_EQ(due, (std::vector<Timer>{{20, 1, "bob"}, {30, 1, "alice"}}));
  EXPECT_EQ(t->size(), 0u);
  EXPECT_FALSE(t->NextTime(0).has_value());
}

TEST_F(TimerServiceTest, DuplicatesAreDroppedAndPartitionsAreIndependent) {
  auto t = OpenTimers();
  ASSERT_NE(t, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(t->Register(1, 100, 5, "u").ok());
  ASSERT_TRUE(t->Register(2, 100, 5, "u").ok());
  ASSERT_TRUE(t->Register(2, 50, 6, "v").ok());
  EXPECT_EQ(t->size(), 3u);
  EXPECT_EQ(t->size(1), 1u);
  EXPECT_EQ(t->partitions(), (std::vector<uint32_t>{1, 2}));
  std::vector<Timer> due;
  t->PopDue(1, 1000, &due);
  EXPECT_EQ(due, (std::vector<Timer>{{100, 5, "u"}}));
  EXPECT_EQ(t->size(2), 2u) << "a watermark of one partition leaves the others alone";
  EXPECT_TRUE(t->Cancel(2, 50, 6, "v"));
  EXPECT_FALSE(t->Cancel(2, 50, 6, "v"));
  due.clear();
  t->PopDue(2, 1000, &due);
  EXPECT_EQ(due, (std::vector<Timer>{{100, 5, "u"}}));
}

TEST_F(TimerServiceTest, RefusesKeyGroupsTheBackendDoesNotOwn) {
  StateTestDir tmp;
  KeyedStateOptions options;
  options.max_parallelism = kMaxParallelism;
  auto b = KeyedStateBackend::Open(tmp.Sub("n"), {0, 3}, options);
  ASSERT_TRUE(b.ok());
  auto t = TimerService::Open(b->get());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Register(0, 1, 4, "u").code(), Status::Code::kOutOfRange);
  EXPECT_EQ((*t)->size(), 0u);
}

TEST_F(TimerServiceTest, KeysSortByPartitionThenSignedTime) {
  const std::vector<int64_t> times = {std::numeric_limits<int64_t>::min(), -1000, -1, 0, 1,
                                      1746057600000, std::numeric_limits<int64_t>::max()};
  std::vector<std::string> keys;
  for (uint32_t p : {0u, 1u, 256u}) {
    for (int64_t time : times) {
      std::string k;
      TimerService::EncodeKey(p, time, 7, "u", &k);
      uint32_t dp = 0;
      Timer dt;
      ASSERT_TRUE(TimerService::DecodeKey(k, &dp, &dt));
      EXPECT_EQ(dp, p);
      EXPECT_EQ(dt, (Timer{time, 7, "u"}));
      keys.push_back(k);
    }
  }
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  uint32_t p = 0;
  Timer dt;
  EXPECT_FALSE(TimerService::DecodeKey("short", &p, &dt));
}

// Random Register/Cancel/PopDue/Flush against a model; after every flush a second
// service opened on the same backend must load exactly the model's timers.
TEST_F(TimerServiceTest, FlushPersistsExactlyThePendingTimers) {
  auto t = OpenTimers();
  ASSERT_NE(t, nullptr);
  std::mt19937 rng(42);
  using Key = std::tuple<uint32_t, int64_t, std::string, uint32_t>;  // (partition, time, user, kg)
  std::set<Key> model;
  std::map<uint32_t, int64_t> watermark;
  int flushes = 0;
  for (int step = 0; step < 4000; ++step) {
    const uint32_t p = rng() % 3;
    const uint32_t op = rng() % 100;
    if (op < 55) {
      // Small ranges of time and users: many duplicates and re-registrations.
      const int64_t time = watermark[p] + static_cast<int64_t>(rng() % 40) - 5;
      const std::string user = "u" + std::to_string(rng() % 12);
      const uint32_t kg = static_cast<uint32_t>(std::hash<std::string>()(user) % kMaxParallelism);
      ASSERT_TRUE(t->Register(p, time, kg, user).ok());
      model.emplace(p, time, user, kg);
    } else if (op < 65 && !model.empty()) {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      const auto [mp, mt, mu, mk] = *it;
      ASSERT_TRUE(t->Cancel(mp, mt, mk, mu));
      model.erase(it);
    } else if (op < 90) {
      watermark[p] += static_cast<int64_t>(rng() % 10);
      std::vector<Timer> due;
      t->PopDue(p, watermark[p], &due);
      std::vector<Timer> want;
      for (auto it = model.begin(); it != model.end();) {
        if (std::get<0>(*it) == p && std::get<1>(*it) < watermark[p]) {
          want.push_back(Timer{std::get<1>(*it), std::get<3>(*it), std::get<2>(*it)});
          it = model.erase(it);
        } else {
          ++it;
        }
      }
      ASSERT_EQ(due, want) << "step " << step;
    } else {
      ASSERT_TRUE(t->Flush().ok());
      ++flushes;
      auto reloaded = OpenTimers();
      ASSERT_NE(reloaded, nullptr);
      ASSERT_EQ(reloaded->size(), model.size()) << "step " << step;
      std::set<Key> loaded;
      for (const auto& [lp, timers] : Drain(reloaded.get())) {
        for (const auto& timer : timers) loaded.emplace(lp, timer.time, timer.user, timer.key_group);
      }
      ASSERT_EQ(loaded, model) << "step " << step;
    }
    ASSERT_EQ(t->size(), model.size());
  }
  EXPECT_GT(flushes, 100);
}

}  // namespace
}  // namespace segflow
