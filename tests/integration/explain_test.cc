// `segflow explain` on a tiny job run bounded: the text names the nodes with their truth
// and the events, --json parses, unknown users and segments and unevaluated times are
// reported.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "engine/value/json_event.h"

namespace segflow {
namespace {

using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

constexpr char kJob[] = R"(job: shop
log: log
source:
  topics: [events]
segments:
  - id: active_not_buyer
    when:
      all:
        - count: {event: view, window: 10s, at_least: 2}
        - not: {count: {event: buy, at_least: 1}}
  - id: never_bought
    when: {count: {event: buy, at_most: 0}}
parallelism: 1
)";

constexpr char kEvents[] =
    R"({"user_id":"u1","event":"view","ts":1000,"page":"home"}
{"user_id":"u2","event":"view","ts":1500}
{"user_id":"u1","event":"view","ts":2000,"page":"shoes"}
{"user_id":"u2","event":"buy","ts":2500,"amount":30}
{"user_id":"u1","event":"view","ts":30000}
)";

class ExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(scratch() + "/job.yaml", kJob);
    Outcome p = Segflow({"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "1"},
                        kEvents, scratch());
    ASSERT_EQ(p.exit_code, 0) << p.err;
    Outcome r = Segflow({"run", scratch() + "/job.yaml", "--bounded"}, "", scratch());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  Outcome Explain(std::vector<std::string> extra) {
    std::vector<std::string> args = {"explain", scratch() + "/job.yaml"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, "", scratch());
  }
  const std::string& scratch() const { return dir_.path(); }
  ScratchDir dir_{"segflow-explain-test"};
};

TEST_F(ExplainTest, TextNamesNodesTruthAndEvents) {
  Outcome o = Explain({"--segment", "active_not_buyer", "--user", "u1", "--at", "2000"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("member since 1970-01-01T00:00:02.000Z"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("[true]  all"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("[true]  count(view) >= 2 in 10s  -- count=2"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("1970-01-01T00:00:01.000Z (1000)  view"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("[true]  not"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("[false] count(buy) >= 1 ever  -- count=0"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("member: yes, since 1970-01-01T00:00:02.000Z (2000)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("1970-01-01T00:00:02.000Z (2000)  entered"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("warning"), std::string::npos) << o.out;

  // u2 bought: the `not` fails, and the buy is the evidence.
  o = Explain({"--segment", "active_not_buyer", "--user", "u2"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("[false] all"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("[true]  count(buy) >= 1 ever  -- count=1"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("(2500)  buy"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("not a member: the condition does not hold"), std::string::npos) << o.out;
}

TEST_F(ExplainTest, JsonParsesWithTheTreeMembershipAndChangelog) {
  Outcome o = Explain({"--segment", "active_not_buyer", "--user", "u1", "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  auto v = ParseJsonValue(o.out);
  ASSERT_TRUE(v.ok()) << o.out;
  // Without --at: the job's evaluated time. By then the window has passed.
  EXPECT_EQ(v->Find("at")->as_int(), v->Find("evaluated_through")->as_int());
  EXPECT_TRUE(v->Find("known_user")->as_bool());
  EXPECT_FALSE(v->Find("member")->as_bool());
  const Value* cond = v->Find("condition");
  EXPECT_EQ(cond->Find("kind")->as_string(), "all");
  EXPECT_FALSE(cond->Find("holds")->as_bool());
  const Value& count = cond->Find("children")->as_array().at(0);
  EXPECT_EQ(count.Find("facts")->Find("count")->as_int(), 1);
  EXPECT_EQ(count.Find("events")->as_array().at(0).Find("ts")->as_int(), 30000);
  const auto& changelog = v->Find("changelog")->as_array();
  ASSERT_EQ(changelog.size(), 2u) << o.out;
  EXPECT_EQ(changelog[0].Find("change")->as_string(), "entered");
  EXPECT_EQ(changelog[0].Find("at")->as_int(), 2000);
  EXPECT_EQ(changelog[1].Find("change")->as_string(), "exited");
  EXPECT_EQ(changelog[1].Find("at")->as_int(), 11000);
  EXPECT_TRUE(v->Find("changelog_agrees")->as_bool());
  EXPECT_TRUE(v->Find("membership")->Find("armed")->as_bool());
}

TEST_F(ExplainTest, UnknownUserIsSaidAndGetsTheEmptyUsersTree) {
  Outcome o = Explain({"--segment", "never_bought", "--user", "ghost"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("unknown user: \"ghost\" has no events"), std::string::npos) << o.out;
  // `at_most: 0` holds for a user with no events, but unknown users are in no segment.
  EXPECT_NE(o.out.find("[true]  count(buy) <= 0 ever  -- count=0"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("member: no"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("(none)"), std::string::npos) << o.out;

  o = Explain({"--segment", "never_bought", "--user", "ghost", "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  auto v = ParseJsonValue(o.out);
  ASSERT_TRUE(v.ok()) << o.out;
  EXPECT_FALSE(v->Find("known_user")->as_bool());
  EXPECT_FALSE(v->Find("member")->as_bool());
  EXPECT_TRUE(v->Find("condition")->Find("holds")->as_bool());

  // A known user without buys is a member.
  o = Explain({"--segment", "never_bought", "--user", "u1", "--json"});
  v = ParseJsonValue(o.out);
  ASSERT_TRUE(v.ok()) << o.out;
  EXPECT_TRUE(v->Find("member")->as_bool());
}

TEST_F(ExplainTest, RefusesUnevaluatedTimesAndUnknownSegments) {
  Outcome o = Explain({"--segment", "never_bought", "--user", "u1", "--at", "999999999"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.err.find("is not evaluated yet"), std::string::npos) << o.err;

  o = Explain({"--segment", "nope", "--user", "u1"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("has no segment \"nope\""), std::string::npos) << o.err;

  o = Explain({"--user", "u1"});
  EXPECT_EQ(o.exit_code, 2);

  o = Segflow({"explain", "--help"}, "", scratch());
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_NE(o.out.find("usage: segflow explain"), std::string::npos);
}

// A transactional changelog (a checkpointing job's): explain reads only the records below
// the commit marker. A record an aborted attempt left past the marker — here an exit at
// 1800 that never happened — is not surfaced; without the marker it would be.
TEST_F(ExplainTest, ReadsOnlyTheCommittedChangelog) {
  Outcome c = Segflow({"consume", "--log", scratch() + "/log", "--topic", "shop.memberships"}, "", scratch());
  ASSERT_EQ(c.exit_code, 0) << c.err;
  uint64_t through_2000 = 0;
  static const std::regex at(R"("at":(\d+))");
  for (const std::string& line : Lines(c.out)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, at)) << line;
    through_2000 += std::stoll(m[1]) <= 2000 ? 1 : 0;
  }
  ASSERT_GT(through_2000, 0u);
  ASSERT_LT(through_2000, Lines(c.out).size());
  log::CommitMarker marker;
  marker.checkpoint = 7;
  marker.evaluated = 2000;
  marker.offsets = {through_2000};
  ASSERT_TRUE(log::WriteCommitMarker(scratch() + "/log", "shop.memberships", marker).ok());
  {  // the aborted attempt's record, written as the sink writes them
    auto writer = log::PartitionWriter::Open(scratch() + "/log", "shop.memberships", 0);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    Event record;
    record.user = "u1";
    record.type = "exited";
    record.ts = 1800;
    record.props = Value::Object({{"segment", Value::String("active_not_buyer")}});
    (*writer)->Append(std::move(record));
    ASSERT_TRUE((*writer)->Flush(true).ok());
  }

  Outcome o = Explain({"--segment", "active_not_buyer", "--user", "u1", "--at", "2000", "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  auto v = ParseJsonValue(o.out);
  ASSERT_TRUE(v.ok()) << o.out;
  const auto& changelog = v->Find("changelog")->as_array();
  ASSERT_EQ(changelog.size(), 1u) << o.out;
  EXPECT_EQ(changelog[0].Find("change")->as_string(), "entered");
  EXPECT_TRUE(v->Find("changelog_agrees")->as_bool()) << o.out;

  std::filesystem::remove(scratch() + "/log/shop.memberships/COMMITTED");
  o = Explain({"--segment", "active_not_buyer", "--user", "u1", "--at", "2000", "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  v = ParseJsonValue(o.out);
  ASSERT_TRUE(v.ok()) << o.out;
  EXPECT_EQ(v->Find("changelog")->as_array().size(), 2u) << "not transactional: every record counts\n" << o.out;
  EXPECT_FALSE(v->Find("changelog_agrees")->as_bool()) << o.out;
}

}  // namespace
}  // namespace segflow
