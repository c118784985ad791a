// `segflow produce` and `segflow consume` as a user runs them: the real binary, real files.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/log/log.h"
#include "engine/value/json_event.h"
#include "engine/value/time_format.h"
#include "cli_test_util.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

// A consumed line parsed back, for comparisons that do not depend on formatting.
Value Parse(const std::string& line) {
  auto v = ParseJsonValue(line);
  EXPECT_TRUE(v.ok()) << line << ": " << v.status().ToString();
  return v.ok() ? *v : Value();
}

class ProduceConsumeTest : public ::testing::Test {
 protected:
  std::string log() const { return dir_.path() + "/log"; }
  const std::string& scratch() const { return dir_.path(); }
  Outcome Produce(const std::string& topic, const std::string& input, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"produce", "--log", log(), "--topic", topic};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, input, scratch());
  }
  Outcome Consume(const std::string& topic, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"consume", "--log", log(), "--topic", topic};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, "", scratch());
  }

  ScratchDir dir_{"segflow-produce-consume"};
};

TEST_F(ProduceConsumeTest, BadLinesAreReportedKeptAndDoNotStopGoodOnes) {
  const std::vector<std::string> input = {
      R"({"user_id": "alice", "event": "add_to_cart", "ts": 1000, "sku": "A1"})",
      R"(this is not json)",
      R"({"user_id": 7, "event": "purchase", "ts": "2026-05-01T10:00:00Z"})",
      R"({"user_id": 1.5, "event": "purchase", "ts": 1000})",
      "",
      R"({"user_id": "bob", "event": "page_view"})",
      R"({"user_id": "bob", "event": "page_view", "ts": 2000, "price": 9.5})",
      R"({"user_id": "carol", "event": "page_view", "ts": 3000},)",
      R"({"user_id": "carol", "event": "page_view", "ts": "2026-05-01 10:00:00Z"})",
      R"({"user_id": "dave", "event": "signup", "ts": 4000})",
  };
  const std::set<int> bad = {2, 4, 5, 6, 8, 9};
  std::string text;
  for (const auto& l : input) text += l + "\n";
  Outcome p = Produce("events", text);
  EXPECT_EQ(p.exit_code, 1) << p.err;
  for (int n = 1; n <= static_cast<int>(input.size()); ++n) {
    const bool reported = p.err.find("line " + std::to_string(n) + ": ") != std::string::npos;
    EXPECT_EQ(reported, bad.count(n) > 0) << "line " << n << "\n" << p.err;
  }
  // Each report carries a reason; a missing role field is named.
  EXPECT_NE(p.err.find("line 6: missing field \"ts\""), std::string::npos) << p.err;
  const std::string rejects_path = scratch() + "/events.rejected.jsonl";
  EXPECT_NE(p.err.find("events.rejected.jsonl"), std::string::npos) << p.err;
  std::string expected_rejects;
  for (int n : bad) expected_rejects += input[n - 1] + "\n";
  EXPECT_EQ(ReadFile(rejects_path), expected_rejects);
  EXPECT_NE(p.err.find("4 records produced"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("6 lines rejected"), std::string::npos) << p.err;

  Outcome c = Consume("events");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::vector<std::string> lines = Lines(c.out);
  ASSERT_EQ(lines.size(), 4u) << c.out;
  std::map<std::string, Value> by_user;
  for (const auto& l : lines) {
    Value v = Parse(l);
    ASSERT_TRUE(v.Find("user_id") != nullptr && v.Find("user_id")->is_string()) << l;
    by_user[v.Find("user_id")->as_string()] = v;
  }
  ASSERT_EQ(by_user.count("7"), 1u) << "integer users print as strings";
  EXPECT_EQ(by_user["7"].Find("ts")->as_int(), *ParseRfc3339Millis("2026-05-01T10:00:00Z"));
  EXPECT_EQ(by_user["alice"].Find("sku")->as_string(), "A1");
  EXPECT_EQ(by_user["bob"].Find("price")->as_double(), 9.5);
  EXPECT_EQ(by_user["dave"].Find("event")->as_string(), "signup");

  // A second run appends to the same rejects file (and to the topic).
  Outcome again = Produce("events", "oops\n" + input[0] + "\n");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("line 1: "), std::string::npos);
  EXPECT_EQ(ReadFile(rejects_path), expected_rejects + "oops\n");
  EXPECT_EQ(Lines(Consume("events").out).size(), 5u);
}

TEST_F(ProduceConsumeTest, CleanInputExitsZeroAndCustomRejectsPath) {
  Outcome p = Produce("events", "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1}\n{\"user_id\":\"v\",\"event\":\"e\",\"ts\":2}",
                  {"--rejects", scratch() + "/bad.jsonl"});  // last line without a newline
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.err.find("2 records produced"), std::string::npos) << p.err;
  EXPECT_FALSE(fs::exists(scratch() + "/bad.jsonl"));
  EXPECT_FALSE(fs::exists(scratch() + "/events.rejected.jsonl"));
  Outcome bad = Produce("events", "nope\n", {"--rejects", scratch() + "/bad.jsonl"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(ReadFile(scratch() + "/bad.jsonl"), "nope\n");
  EXPECT_EQ(Lines(Consume("events").out).size(), 2u);
}

TEST_F(ProduceConsumeTest, PropertiesRoundTrip) {
  const std::vector<std::string> input = {
      R"({"user_id": "u1", "event": "view", "ts": 1, "device": {"os": "ios", "screen": {"w": 1170, "h": 2532}}})",
      R"({"user_id": "u1", "event": "view", "ts": 2, "tags": ["a", 1, 2.5, true, null, {"k": []}], "empty": {}})",
      R"({"user_id": "u2", "event": "buy", "ts": 3, "price": 19.99, "qty": 3, "one": 1.0, "big": 9007199254740993, "neg": -0.5, "exp": 1e300})",
      R"({"user_id": "ü-ser 😀", "event": "émoji", "ts": 4, "name": "Grüße, 世界", "esc": "quote\" backslash\\ tab\t nl\n ctl\u0001", "nul": null})",
      R"({"ts": 5, "event": "order", "user_id": "u3", "z": 1, "a": 2})",
  };
  std::string text;
  for (const auto& l : input) text += l + "\n";
  Outcome p = Produce("events", text, {"--partitions", "2"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  Outcome c = Consume("events");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::vector<std::string> lines = Lines(c.out);
  ASSERT_EQ(lines.size(), input.size());
  // Expected: role fields first (user as a string), then the properties in input order.
  std::multiset<std::string> expected, got;
  for (const auto& l : input) {
    Value in = Parse(l);
    ValueObject o;
    o.emplace_back("user_id", *in.Find("user_id"));
    o.emplace_back("event", *in.Find("event"));
    o.emplace_back("ts", *in.Find("ts"));
    for (const auto& [k, v] : in.as_object()) {
      if (k != "user_id" && k != "event" && k != "ts") o.emplace_back(k, v);
    }
    expected.insert(Value::Object(std::move(o)).ToJson());
  }
  for (const auto& l : lines) got.insert(Parse(l).ToJson());
  EXPECT_EQ(got, expected);
  // Exact integers and doubles stay what they were.
  for (const auto& l : lines) {
    Value v = Parse(l);
    if (v.Find("big") != nullptr) {
      EXPECT_TRUE(v.Find("big")->is_int());
      EXPECT_EQ(v.Find("big")->as_int(), 9007199254740993);
      EXPECT_TRUE(v.Find("one")->is_double());
      EXPECT_TRUE(v.Find("qty")->is_int());
    }
    if (v.Find("z") != nullptr) {
      EXPECT_LT(l.find("\"z\""), l.find("\"a\"")) << "property order is kept";
    }
  }
}

TEST_F(ProduceConsumeTest, CustomFieldNamesAreTheTopics) {
  Outcome p = Produce("events", R"({"uid": 42, "type": "click", "at": 1700000000000, "x": 1})" "\n",
                  {"--user-field", "uid", "--event-field", "type", "--time-field", "at"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  Outcome c = Consume("events");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out, "{\"uid\":\"42\",\"type\":\"click\",\"at\":1700000000000,\"x\":1}\n");
  // Later producers into the topic default to its field names.
  Outcome p2 = Produce("events", R"({"uid": "7", "type": "click", "at": 5})" "\n");
  EXPECT_EQ(p2.exit_code, 0) << p2.err;
  Outcome p3 = Produce("events", R"({"user_id": "7", "event": "click", "ts": 5})" "\n");
  EXPECT_EQ(p3.exit_code, 1) << "the topic's names apply without flags";
}

TEST_F(ProduceConsumeTest, ConsumeFromVariants) {
  std::string text;
  for (int i = 0; i < 300; ++i) {
    text += "{\"user_id\":\"user" + std::to_string(i % 23) + "\",\"event\":\"e\",\"ts\":" + std::to_string(i) +
            ",\"i\":" + std::to_string(i) + "}\n";
  }
  ASSERT_EQ(Produce("events", text, {"--partitions", "3"}).exit_code, 0);
  auto meta = log::ReadTopicMeta(log(), "events");
  ASSERT_TRUE(meta.ok());
  ASSERT_EQ(meta->partitions, 3u);
  std::vector<uint64_t> ends;
  for (uint32_t p = 0; p < 3; ++p) ends.push_back(*log::EndOffset(log(), "events", p));
  ASSERT_EQ(ends[0] + ends[1] + ends[2], 300u);

  Outcome earliest = Consume("events");
  ASSERT_EQ(earliest.exit_code, 0) << earliest.err;
  std::vector<std::string> all = Lines(earliest.out);
  ASSERT_EQ(all.size(), 300u);
  EXPECT_EQ(Consume("events", {"--from", "earliest"}).out, earliest.out);
  EXPECT_EQ(Consume("events", {"--committed"}).out, earliest.out);
  // Partitions in order; within a partition, offset (= input) order.
  std::vector<std::vector<std::string>> chunks(3);
  size_t at = 0;
  for (uint32_t p = 0; p < 3; ++p) {
    int64_t last = -1;
    for (uint64_t k = 0; k < ends[p]; ++k, ++at) {
      chunks[p].push_back(all[at]);
      const int64_t i = Parse(all[at]).Find("i")->as_int();
      EXPECT_GT(i, last);
      last = i;
    }
  }

  Outcome latest = Consume("events", {"--from", "latest"});
  EXPECT_EQ(latest.exit_code, 0) << latest.err;
  EXPECT_EQ(latest.out, "");

  Outcome explicit_from = Consume("events", {"--from", "0=2,2=1"});
  ASSERT_EQ(explicit_from.exit_code, 0) << explicit_from.err;
  std::vector<std::string> want(chunks[0].begin() + 2, chunks[0].end());
  want.insert(want.end(), chunks[1].begin(), chunks[1].end());
  want.insert(want.end(), chunks[2].begin() + 1, chunks[2].end());
  EXPECT_EQ(Lines(explicit_from.out), want);
  Outcome at_end = Consume("events", {"--from", "1=" + std::to_string(ends[1])});
  ASSERT_EQ(at_end.exit_code, 0) << at_end.err;
  EXPECT_EQ(Lines(at_end.out).size(), ends[0] + ends[2]);

  const std::vector<std::string> bad_froms = {"bogus", "0=x", "=1",      "0=",
                                              "9=0",   "0=1,0=2", "0=1,,1=2", "0=" + std::to_string(ends[0] + 1)};
  for (const std::string& bad : bad_froms) {
    Outcome r = Consume("events", {"--from", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--from"), std::string::npos) << bad << ": " << r.err;
    EXPECT_EQ(r.out, "") << bad;
  }
  Outcome missing = Consume("nope");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("topic 'nope' does not exist"), std::string::npos) << missing.err;
}

TEST_F(ProduceConsumeTest, ConsumeChangelogTopic) {
  log::TopicMeta meta;
  meta.partitions = 1;
  meta.format = log::TopicFormat::kChangelog;
  ASSERT_TRUE(log::EnsureTopic(log(), "job.memberships", meta).ok());
  {
    auto w = log::PartitionWriter::Open(log(), "job.memberships", 0);
    ASSERT_TRUE(w.ok());
    Event e;
    e.user = "u1";
    e.type = "entered";
    e.ts = 1000;
    e.props = Value::Object({{"segment", Value::String("cart_abandoned")}});
    (*w)->Append(e);
    e.type = "exited";
    e.ts = 2000;
    (*w)->Append(e);
    ASSERT_TRUE((*w)->Flush(true).ok());
  }
  Outcome c = Consume("job.memberships");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out,
            "{\"segment\":\"cart_abandoned\",\"user_id\":\"u1\",\"change\":\"entered\",\"at\":1000}\n"
            "{\"segment\":\"cart_abandoned\",\"user_id\":\"u1\",\"change\":\"exited\",\"at\":2000}\n");
  // Producing events into a changelog topic is refused.
  Outcome p = Produce("job.memberships", "{\"user_id\":\"u\",\"event\":\"e\",\"ts\":1}\n");
  EXPECT_EQ(p.exit_code, 1);
}

TEST_F(ProduceConsumeTest, TwoConcurrentProducers) {
  constexpr int kLines = 20000;
  std::string inputs[2];
  for (int k = 0; k < 2; ++k) {
    std::string& t = inputs[k];
    for (int i = 0; i < kLines; ++i) {
      t += "{\"user_id\":\"user" + std::to_string((i * 7 + k) % 501) + "\",\"event\":\"e\",\"ts\":" +
           std::to_string(1000 + i) + ",\"producer\":" + std::to_string(k) + ",\"seq\":" + std::to_string(i) +
           ",\"pad\":\"" + std::string(40, 'p') + "\"}\n";
    }
    WriteFile(scratch() + "/in" + std::to_string(k) + ".jsonl", t);
  }
  ::setenv("SEGFLOW_LOG_SEGMENT_BYTES", "262144", 1);  // concurrent segment rolls too
  pid_t pids[2];
  for (int k = 0; k < 2; ++k) {
    pids[k] = Start({"produce", "--log", log(), "--topic", "events", "--partitions", "3"},
                    scratch() + "/in" + std::to_string(k) + ".jsonl", scratch(), scratch(), "prod" + std::to_string(k));
  }
  ::unsetenv("SEGFLOW_LOG_SEGMENT_BYTES");
  for (int k = 0; k < 2; ++k) {
    Outcome r = Wait(pids[k], scratch(), "prod" + std::to_string(k));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  Outcome c = Consume("events");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::vector<std::string> lines = Lines(c.out);
  ASSERT_EQ(lines.size(), 2u * kLines);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const auto& l : lines) {
    Value v = Parse(l);
    ASSERT_TRUE(seen.emplace(v.Find("producer")->as_int(), v.Find("seq")->as_int()).second) << "duplicate " << l;
  }
  EXPECT_EQ(seen.size(), 2u * kLines);
  for (uint32_t p = 0; p < 3; ++p) {
    size_t segments = 0;
    for (const auto& e : fs::directory_iterator(log() + "/events/" + std::to_string(p))) {
      segments += e.path().extension() == ".log";
    }
    EXPECT_GT(segments, 1u) << "partition " << p;
  }
}

TEST_F(ProduceConsumeTest, UsageErrors) {
  Outcome help = Segflow({"produce", "--help"}, "", scratch());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--rejects"), std::string::npos);
  Outcome chelp = Segflow({"consume", "--help"}, "", scratch());
  EXPECT_EQ(chelp.exit_code, 0);
  EXPECT_NE(chelp.out.find("--committed"), std::string::npos);
  EXPECT_NE(chelp.out.find("those of completed checkpoints"), std::string::npos);
  EXPECT_EQ(Segflow({"produce", "--topic", "t"}, "", scratch()).exit_code, 2);
  EXPECT_EQ(Segflow({"produce", "--log", log(), "--topic", "bad/name"}, "", scratch()).exit_code, 2);
  EXPECT_EQ(Segflow({"produce", "--log", log(), "--topic", "t", "--partitions", "0"}, "", scratch()).exit_code, 2);
  EXPECT_EQ(Segflow({"produce", "--log", log(), "--topic", "t", "--bogus"}, "", scratch()).exit_code, 2);
  EXPECT_EQ(Segflow({"consume", "--log", log()}, "", scratch()).exit_code, 2);
}

}  // namespace
}  // namespace segflow
