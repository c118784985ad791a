// `segflow gen --rate` and `segflow gen --log`: paced output and appending straight to the
// embedded log, checked against the unpaced bytes and against `gen | produce`.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"

namespace segflow::integration {
namespace {

using Clock = std::chrono::steady_clock;

class GenOutputTest : public ::testing::Test {
 protected:
  const std::string& scratch() const { return dir_.path(); }
  std::string log() const { return scratch() + "/log"; }

  static std::vector<std::string> GenArgs(const std::string& scenario, int users, int events,
                                          int seed) {
    return {"gen",    scenario, "--users", std::to_string(users), "--events", std::to_string(events),
            "--seed", std::to_string(seed)};
  }

  static std::vector<std::string> With(std::vector<std::string> args,
                                       const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  Outcome Consume(const std::string& log_dir, const std::string& topic) {
    return Segflow({"consume", "--log", log_dir, "--topic", topic, "--from", "earliest"}, "",
                   scratch());
  }

  ScratchDir dir_{"segflow-gen-output"};
};

TEST_F(GenOutputTest, RateIsHonouredAndDoesNotChangeTheBytes) {
  const Outcome fast = Segflow(GenArgs("media", 100, 2000, 4), "", scratch());
  const auto began = Clock::now();
  const Outcome paced = Segflow(With(GenArgs("media", 100, 2000, 4), {"--rate", "1000"}), "", scratch());
  const double secs = std::chrono::duration<double>(Clock::now() - began).count();
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  ASSERT_EQ(paced.exit_code, 0) << paced.err;
  EXPECT_EQ(paced.out, fast.out);
  EXPECT_EQ(Lines(paced.out).size(), 2000u);
  EXPECT_GE(secs, 1.5) << "2000 events at 1000/s";
  EXPECT_LT(secs, 30.0);
}

TEST_F(GenOutputTest, LogHoldsWhatProduceWouldHaveAppended) {
  const auto args = GenArgs("cart", 200, 5000, 9);
  const Outcome lines = Segflow(args, "", scratch());
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  const std::string jsonl = scratch() + "/cart.jsonl";
  WriteFile(jsonl, lines.out);
  const Outcome produced = Segflow({"produce", "--log", scratch() + "/produced", "--topic", "events",
                                    "--partitions", "3"},
                                   lines.out, scratch());
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  const Outcome gen = Segflow(With(args, {"--log", log(), "--topic", "events", "--partitions", "3"}),
                              "", scratch());
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_TRUE(gen.out.empty());
  EXPECT_NE(gen.err.find("5000 records appended to topic 'events' (3 partitions)"),
            std::string::npos)
      << gen.err;

  const Outcome from_gen = Consume(log(), "events");
  const Outcome from_produce = Consume(scratch() + "/produced", "events");
  ASSERT_EQ(from_gen.exit_code, 0) << from_gen.err;
  ASSERT_EQ(from_produce.exit_code, 0) << from_produce.err;
  EXPECT_EQ(Lines(from_gen.out).size(), 5000u);
  EXPECT_EQ(from_gen.out, from_produce.out);
}

TEST_F(GenOutputTest, LogLeavesOutMalformedLinesAndAppendsToAnExistingTopic) {
  const auto args = With(GenArgs("fintech", 100, 3000, 2), {"--malformed-fraction", "0.05"});
  const Outcome first = Segflow(With(args, {"--log", log(), "--topic", "events"}), "", scratch());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const Outcome consumed = Consume(log(), "events");
  ASSERT_EQ(consumed.exit_code, 0) << consumed.err;
  const size_t good = Lines(consumed.out).size();
  EXPECT_GT(good, 2700u);
  EXPECT_LT(good, 2950u);
  EXPECT_NE(first.err.find(std::to_string(good) + " records appended to topic 'events' (4 partitions), " +
                           std::to_string(3000 - good) + " malformed lines left out"),
            std::string::npos)
      << first.err;

  // A second run appends; an existing topic keeps its partition count.
  const Outcome second = Segflow(
      With(args, {"--log", log(), "--topic", "events", "--partitions", "2"}), "", scratch());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("exists with 4 partitions"), std::string::npos) << second.err;
  EXPECT_EQ(Lines(Consume(log(), "events").out).size(), 2 * good);
}

TEST_F(GenOutputTest, PacedLogRecordsAreReadableWhileGenRuns) {
  const std::string tag = NextTag("gen");
  const pid_t pid = Start(With(GenArgs("cart", 100, 3000, 1),
                               {"--rate", "1000", "--log", log(), "--topic", "events"}),
                          "", scratch(), scratch(), tag);
  ChildGuard guard(pid);
  // At 1000/s the last records come about 3 s after the first: some are readable earlier.
  size_t seen = 0;
  const auto until = Clock::now() + std::chrono::seconds(20);
  while (seen == 0 && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const Outcome c = Consume(log(), "events");
    if (c.exit_code == 0) seen = Lines(c.out).size();
  }
  EXPECT_GT(seen, 0u);
  EXPECT_LT(seen, 3000u) << "records became visible only at the end";
  const Outcome done = Wait(pid, scratch(), tag);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(Lines(Consume(log(), "events").out).size(), 3000u);
}

TEST_F(GenOutputTest, BadOutputOptionsAreUsageErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"--rate", "0"},
      {"--rate", "-5"},
      {"--rate", "fast"},
      {"--log", "L"},
      {"--topic", "events"},
      {"--log", "L", "--topic", "events", "--out", "F"},
      {"--partitions", "2"},
      {"--log", "L", "--topic", "events", "--partitions", "0"},
  };
  for (const auto& more : bad) {
    const Outcome r = Segflow(With(GenArgs("media", 10, 10, 1), more), "", scratch());
    std::string joined;
    for (const auto& a : more) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
  }
  const Outcome bad_topic =
      Segflow(With(GenArgs("media", 10, 10, 1), {"--log", log(), "--topic", ".hidden"}), "", scratch());
  EXPECT_EQ(bad_topic.exit_code, 1) << bad_topic.err;
}

}  // namespace
}  // namespace segflow::integration
