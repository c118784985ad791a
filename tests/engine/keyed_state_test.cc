#include "engine/state/keyed_state_backend.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/state/state_key.h"
#include "state_test_dir.h"

namespace segflow {
namespace {

std::unique_ptr<KeyedStateBackend> OpenOrDie(const std::string& dir, KeyGroupRange range,
                                              uint32_t max_parallelism = 64) {
  KeyedStateOptions options;
  options.max_parallelism = max_parallelism;
  auto b = KeyedStateBackend::Open(dir, range, options);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

TEST(StateKeyTest, KeyGroupPrefixIsBigEndianAndOrdersByKeyGroup) {
  std::string a, b, c;
  EncodeStateKey(1, "zzz", &a);
  EncodeStateKey(256, "a", &b);
  EncodeStateKey(256, "b", &c);
  EXPECT_EQ(a.substr(0, 2), std::string("\x00\x01", 2));
  EXPECT_EQ(b.substr(0, 2), std::string("\x01\x00", 2));
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  uint32_t kg = 0;
  std::string_view user;
  ASSERT_TRUE(DecodeStateKey(c, &kg, &user));
  EXPECT_EQ(kg, 256u);
  EXPECT_EQ(user, "b");
  EXPECT_FALSE(DecodeStateKey(std::string("\x01", 1), &kg, &user));
}

TEST(KeyedStateBackendTest, PutGetDeleteRoundTrip) {
  StateTestDir tmp;
  ASSERT_TRUE(tmp.ok());
  auto b = OpenOrDie(tmp.Sub("w"), {0, 63});
  ASSERT_NE(b, nullptr);
  auto users = b->RegisterState("users");
  ASSERT_TRUE(users.ok());
  auto other = b->RegisterState("other");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*users, *other);

  std::string v;
  EXPECT_EQ(b->Get(*users, 5, "alice", &v).code(), Status::Code::kNotFound);
  ASSERT_TRUE(b->Put(*users, 5, "alice", std::string("a\0b", 3)).ok());
  ASSERT_TRUE(b->Get(*users, 5, "alice", &v).ok());
  EXPECT_EQ(v, std::string("a\0b", 3));
  // Same user, other key group or other state: distinct keys.
  EXPECT_EQ(b->Get(*users, 6, "alice", &v).code(), Status::Code::kNotFound);
  EXPECT_EQ(b->Get(*other, 5, "alice", &v).code(), Status::Code::kNotFound);
  ASSERT_TRUE(b->Delete(*users, 5, "alice").ok());
  EXPECT_EQ(b->Get(*users, 5, "alice", &v).code(), Status::Code::kNotFound);
}

TEST(KeyedStateBackendTest, RefusesKeyGroupsOutsideItsRange) {
  StateTestDir tmp;
  auto b = OpenOrDie(tmp.Sub("w"), {16, 31});
  ASSERT_NE(b, nullptr);
  auto st = b->RegisterState("s");
  ASSERT_TRUE(st.ok());
  std::string v;
  EXPECT_EQ(b->Put(*st, 15, "u", "x").code(), Status::Code::kOutOfRange);
  EXPECT_EQ(b->Put(*st, 32, "u", "x").code(), Status::Code::kOutOfRange);
  EXPECT_EQ(b->Get(*st, 32, "u", &v).code(), Status::Code::kOutOfRange);
  EXPECT_TRUE(b->Put(*st, 16, "u", "x").ok());
  EXPECT_TRUE(b->Put(*st, 31, "u", "x").ok());

  StateWriteBatch batch(b.get());
  batch.Put(*st, 20, "v", "1");
  batch.Put(*st, 40, "w", "2");  // poisons the batch: nothing of it is applied
  EXPECT_EQ(b->Write(&batch).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(b->Get(*st, 20, "v", &v).code(), Status::Code::kNotFound);
}

TEST(KeyedStateBackendTest, RejectsBadOptionsBeforeTouchingTheDirectory) {
  StateTestDir tmp;
  KeyedStateOptions options;
  options.max_parallelism = 64;
  EXPECT_EQ(KeyedStateBackend::Open(tmp.Sub("a"), {10, 64}, options).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(KeyedStateBackend::Open(tmp.Sub("a"), {10, 9}, options).status().code(),
            Status::Code::kInvalidArgument);
  options.max_parallelism = kMaxStateMaxParallelism + 1;
  EXPECT_EQ(KeyedStateBackend::Open(tmp.Sub("a"), {0, 1}, options).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub("a")));
}

TEST(KeyedStateBackendTest, RegisterStateIsIdempotentAndChecksNameAndLayout) {
  StateTestDir tmp;
  auto b = OpenOrDie(tmp.Sub("w"), {0, 63});
  ASSERT_NE(b, nullptr);
  auto a1 = b->RegisterState("a");
  auto a2 = b->RegisterState("a");
  ASSERT_TRUE(a1.ok() && a2.ok());
  EXPECT_EQ(*a1, *a2);
  EXPECT_EQ(b->RegisterState("a", StateLayout{4}).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(b->RegisterState("default").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(b->RegisterState("has space").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(b->RegisterState("").status().code(), Status::Code::kInvalidArgument);
}

TEST(KeyedStateBackendTest, OpenWipesAnEarlierBackendButRefusesForeignDirectories) {
  StateTestDir tmp;
  {
    auto b = OpenOrDie(tmp.Sub("w"), {0, 63});
    ASSERT_NE(b, nullptr);
    auto st = b->RegisterState("s");
    ASSERT_TRUE(b->Put(*st, 1, "u", "x").ok());
  }
  {
    // Working state is scratch: reopening starts empty.
    auto b = OpenOrDie(tmp.Sub("w"), {0, 63});
    ASSERT_NE(b, nullptr);
    auto st = b->RegisterState("s");
    std::string v;
    EXPECT_EQ(b->Get(*st, 1, "u", &v).code(), Status::Code::kNotFound);
  }
  std::filesystem::create_directories(tmp.Sub("precious"));
  std::ofstream(tmp.Sub("precious/data.txt")) << "keep me";
  auto refused = KeyedStateBackend::Open(tmp.Sub("precious"), {0, 1});
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::exists(tmp.Sub("precious/data.txt")));
}

TEST(KeyedStateBackendTest, ForEachVisitsExactlyTheRequestedOwnedKeyGroupsInOrder) {
  StateTestDir tmp;
  const KeyGroupRange owned{16, 47};
  auto b = OpenOrDie(tmp.Sub("w"), owned);
  ASSERT_NE(b, nullptr);
  auto st = b->RegisterState("users");
  ASSERT_TRUE(st.ok());
  std::map<std::pair<uint32_t, std::string>, std::string> model;
  for (uint32_t kg = owned.first; kg <= owned.last; ++kg) {
    for (int u = 0; u < 5; ++u) {
      // Users with bytes that would confuse a naive prefix scan.
      const std::string user = (u == 0 ? std::string("\xff\xff", 2) : "") + "u" + std::to_string(u);
      const std::string value = std::to_string(kg * 100 + u);
      ASSERT_TRUE(b->Put(*st, kg, user, value).ok());
      model[{kg, user}] = value;
    }
  }
  auto collect = [&](KeyGroupRange r) {
    std::vector<std::tuple<uint32_t, std::string, std::string>> out;
    Status s = b->ForEach(*st, r, [&](uint32_t kg, std::string_view user, std::string_view value) {
      out.emplace_back(kg, std::string(user), std::string(value));
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  };
  auto expect = [&](KeyGroupRange r) {
    std::vector<std::tuple<uint32_t, std::string, std::string>> out;
    for (const auto& [k, v] : model) {
      if (k.first >= r.first && k.first <= r.last) out.emplace_back(k.first, k.second, v);
    }
    return out;
  };
  EXPECT_EQ(collect({20, 30}), expect({20, 30}));
  EXPECT_EQ(collect({47, 47}), expect({47, 47}));
  EXPECT_EQ(collect({0, 63}), expect(owned));  // clipped to the owned range
  EXPECT_TRUE(collect({48, 63}).empty());
  EXPECT_EQ(collect({20, 30}).size(), 11u * 5);

  // A visitor error stops the scan and is returned.
  int visits = 0;
  Status s = b->ForEach(*st, owned, [&](uint32_t, std::string_view, std::string_view) {
    return ++visits == 3 ? Status::Internal("stop") : Status::OK();
  });
  EXPECT_EQ(s.code(), Status::Code::kInternal);
  EXPECT_EQ(visits, 3);
}

}  // namespace
}  // namespace segflow
