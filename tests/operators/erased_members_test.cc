// DropErasedMembers (issue 12 item 4): readers leave out a user of the erasure ledger whose
// erasure the store has not applied yet (a running job's sink applies it within a second),
// and keep one whose row is newer than an erasure the store applied (new data after it).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "operators/sink/audience_store.h"
#include "operators/sink/erasure_ledger.h"

namespace segflow {
namespace {

TEST(ErasedMembersTest, DropsLedgerUsersUntilTheStoreAppliedTheirErasure) {
  char tmpl[] = "/tmp/segflow-erased-members-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/audience";
  {
    auto store = AudienceStore::OpenForWrite(dir);
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE(
        (*store)
            ->Apply({{"s", "a", true, 10, 1}, {"s", "b", true, 10, 2}, {"s", "c", true, 10, 3}}, 10,
                    true)
            .ok());
    // b was erased at 20 and came back with new data at 30: the store applied the erasure.
    ASSERT_TRUE((*store)->Erase("b", 20).ok());
    ASSERT_TRUE((*store)->Apply({{"s", "b", true, 30, 4}}, 30, true).ok());
  }
  auto store = AudienceStore::OpenForRead(dir);
  ASSERT_TRUE(store.ok());
  auto members = (*store)->Members("s");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(*members, (std::vector<std::string>{"a", "b", "c"}));
  // The ledger erases a (not applied by the store yet) and b at 20 (applied).
  const Erasures erasures = {{"a", 20}, {"b", 20}};
  std::vector<std::string> read = *members;
  ASSERT_TRUE(DropErasedMembers(erasures, store->get(), &read).ok());
  EXPECT_EQ(read, (std::vector<std::string>{"b", "c"}));
  // Without a store to ask (e.g. a frozen file alone), every ledger user is left out.
  read = *members;
  ASSERT_TRUE(DropErasedMembers(erasures, nullptr, &read).ok());
  EXPECT_EQ(read, (std::vector<std::string>{"c"}));
  EXPECT_TRUE(IsErased(erasures, "a", 20));
  EXPECT_FALSE(IsErased(erasures, "a", 21));
  EXPECT_FALSE(IsErased(erasures, "c", 0));
  EXPECT_EQ(LedgerPathForLog("/data/cart/log/"), "/data/cart/governance/ledger.jsonl");
  EXPECT_EQ(LedgerPathForLog("/data/cart/log"), "/data/cart/governance/ledger.jsonl");
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

}  // namespace
}  // namespace segflow
