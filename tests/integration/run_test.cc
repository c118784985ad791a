// `segflow run` and `segflow audience` as a user runs them (issue #2): the real binary
// over a real log, bounded and live, checked against each other and against the
// changelog they write (spec §2, §6, §8).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"
#include "engine/log/log.h"
#include "engine/value/json_event.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

// Count window, sum, absence, membership duration / exit_on / cooldown, and a reference.
std::string ShopJob(int parallelism) {
  return R"(job: shop
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
  idle_timeout: 1h    # no partition goes idle while a test runs
consent: {event: consent, field: granted, default: granted}
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
  - id: busy_browser
    when: {count: {event: page_view, window: 1h, at_least: 5}}
    membership: {duration: 2h}
  - id: repeat_buyer
    when: {count: {event: purchase, window: 7d, at_least: 2}}
  - id: lost_cart
    when: {all: [{segment: cart_abandoned}, {not: {segment: repeat_buyer}}]}
parallelism: )" +
         std::to_string(parallelism) + "\n";
}
const std::vector<std::string> kShopSegments = {"cart_abandoned", "big_cart", "busy_browser",
                                                "repeat_buyer", "lost_cart"};

// A one-segment job over hand-written events (one partition, 5 s out-of-orderness).
constexpr char kViewsJob[] = R"(job: views
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
  idle_timeout: 1h
segments:
  - id: two_views
    when: {count: {event: view, at_least: 2}}
parallelism: 2
)";

std::string View(const std::string& user, int64_t ts) {
  return R"({"user_id":")" + user + R"(","event":"view","ts":)" + std::to_string(ts) + "}\n";
}

// One changelog record as `segflow consume` prints it (spec §6), with its line.
struct Change {
  std::string segment;
  std::string user;
  bool entered = false;
  int64_t at = 0;
  std::string line;
};

std::vector<Change> ParseChangelog(const std::string& text) {
  std::vector<Change> out;
  for (const auto& line : Lines(text)) {
    auto v = ParseJsonValue(line);
    EXPECT_TRUE(v.ok()) << line;
    if (!v.ok()) continue;
    Change c;
    c.segment = v->Find("segment")->as_string();
    c.user = v->Find("user_id")->as_string();
    c.entered = v->Find("change")->as_string() == "entered";
    c.at = v->Find("at")->as_int();
    c.line = line;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> LinesAtOrBefore(const std::vector<Change>& changes, int64_t t) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    if (c.at <= t) out.push_back(c.line);
  }
  return out;
}

// Members of `segment` after every instant <= t, replaying the changelog.
std::vector<std::string> ReplayMembers(const std::vector<Change>& changes,
                                       const std::string& segment, int64_t t) {
  std::set<std::string> members;
  for (const auto& c : changes) {
    if (c.segment != segment || c.at > t) continue;
    if (c.entered) {
      members.insert(c.user);
    } else {
      members.erase(c.user);
    }
  }
  return {members.begin(), members.end()};
}

// The ms in the run's "evaluated through <RFC 3339> (<ms>)" line; nullopt without one.
std::optional<int64_t> EvaluatedThrough(const std::string& run_stdout) {
  std::smatch m;
  static const std::regex re(R"(evaluated through \S+ \((-?\d+)\))");
  if (!std::regex_search(run_stdout, m, re)) return std::nullopt;
  return std::stoll(m[1]);
}

// Largest ts in each partition of `topic`, read straight from the log.
std::vector<int64_t> MaxTsPerPartition(const std::string& log_dir, const std::string& topic) {
  std::vector<int64_t> out;
  auto meta = log::ReadTopicMeta(log_dir, topic);
  EXPECT_TRUE(meta.ok());
  if (!meta.ok()) return out;
  std::vector<log::LogRecord> records;
  for (uint32_t p = 0; p < meta->partitions; ++p) {
    int64_t max_ts = std::numeric_limits<int64_t>::min();
    auto reader = log::PartitionReader::Open(log_dir, topic, p, 0);
    EXPECT_TRUE(reader.ok());
    if (!reader.ok()) return out;
    for (;;) {
      records.clear();
      auto n = (*reader)->Poll(4096, &records);
      if (!n.ok() || *n == 0) break;
      for (const auto& r : records) max_ts = std::max(max_ts, r.event.ts);
    }
    out.push_back(max_ts);
  }
  return out;
}

// Polls `probe` every 20 ms until it holds or `deadline` passes; returns whether it held.
bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class RunTest : public ::testing::Test {
 protected:
  const std::string& scratch() const { return dir_.path(); }
  std::string log() const { return scratch() + "/log"; }
  std::string job_path() const { return scratch() + "/job.yaml"; }
  void WriteJob(const std::string& yaml) { WriteFile(job_path(), yaml); }

  Outcome Produce(const std::string& input, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"produce", "--log", log(), "--topic", "events"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, input, scratch());
  }
  Outcome Consume(const std::string& topic) {
    return Segflow({"consume", "--log", log(), "--topic", topic}, "", scratch());
  }
  Outcome Run(std::vector<std::string> extra = {"--bounded"}) {
    std::vector<std::string> args = {"run", job_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, "", scratch());
  }
  Outcome Audience(const std::string& segment, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"audience", job_path(), "--segment", segment};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, "", scratch());
  }
  Outcome AudienceAt(const std::string& segment, int64_t t) {
    return Audience(segment, {"--at", std::to_string(t)});
  }

  // `segflow gen cart --users 300 --events 20000 --seed 7`, 1% of the events delayed by
  // 10 min to 6 h (late at 5 s out-of-orderness); generated once per process.
  const std::string& CartEvents() {
    static const std::string events = [this] {
      Outcome g = Segflow({"gen", "cart", "--users", "300", "--events", "20000", "--seed", "7",
                           "--late-fraction", "0.01"},
                          "", scratch());
      EXPECT_EQ(g.exit_code, 0) << g.err;
      return g.out;
    }();
    return events;
  }

  // Produces the cart events into 4 partitions and runs the shop job bounded.
  Outcome ProduceCartAndRunBounded(int parallelism) {
    EXPECT_EQ(Produce(CartEvents(), {"--partitions", "4"}).exit_code, 0);
    WriteJob(ShopJob(parallelism));
    return Run();
  }

  ScratchDir dir_{"segflow-run-test"};
};

// A live run fed in chunks while it runs, stopped by SIGTERM, writes exactly the bounded
// run's changelog up to the live run's evaluated time (same records, same order), and its
// evaluated time is what its watermarks guarantee: min over partitions of max ts − 5 s.
TEST_F(RunTest, LiveRunMatchesBoundedRunUpToItsEvaluatedTime) {
  WriteJob(ShopJob(2));
  ASSERT_EQ(Produce("", {"--partitions", "4"}).exit_code, 0) << "an empty source topic";
  const pid_t live = Start({"run", job_path()}, "", scratch(), scratch(), "live");
  const ChildGuard live_guard(live);
  ASSERT_TRUE(Eventually([&] { return Audience("cart_abandoned").exit_code == 0; }))
      << "the live run opened its audience store\n"
      << ReadFile(scratch() + "/live.stderr");

  const std::vector<std::string> lines = Lines(CartEvents());
  constexpr size_t kChunks = 5;
  for (size_t c = 0; c < kChunks; ++c) {
    std::string chunk;
    for (size_t i = c * lines.size() / kChunks; i < (c + 1) * lines.size() / kChunks; ++i)
      chunk += lines[i] + "\n";
    Outcome p = Produce(chunk);
    ASSERT_EQ(p.exit_code, 0) << p.err;
    if (c == 0) {
      // The run evaluates the first chunk before the rest arrives: later records meet
      // state that live watermarks have already advanced.
      const std::vector<int64_t> first = MaxTsPerPartition(log(), "events");
      const int64_t bound = *std::min_element(first.begin(), first.end()) - 5000 - 1;
      ASSERT_TRUE(Eventually([&] { return AudienceAt("cart_abandoned", bound).exit_code == 0; }))
          << ReadFile(scratch() + "/live.stderr");
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const std::vector<int64_t> max_ts = MaxTsPerPartition(log(), "events");
  ASSERT_EQ(max_ts.size(), 4u);
  const int64_t watermark_bound = *std::min_element(max_ts.begin(), max_ts.end()) - 5000 - 1;

  // The live run reaches the watermarks' bound and does not claim a millisecond more.
  EXPECT_TRUE(Eventually([&] {
    return AudienceAt("cart_abandoned", watermark_bound).exit_code == 0;
  })) << ReadFile(scratch() + "/live.stderr");
  EXPECT_NE(AudienceAt("cart_abandoned", watermark_bound + 1).exit_code, 0);

  ASSERT_EQ(::kill(live, SIGTERM), 0);
  Outcome stopped = Wait(live, scratch(), "live");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  EXPECT_NE(stopped.out.find("stopped"), std::string::npos) << stopped.out;
  EXPECT_NE(stopped.out.find(": 20000 records"), std::string::npos) << stopped.out;
  const std::optional<int64_t> live_through = EvaluatedThrough(stopped.out);
  ASSERT_TRUE(live_through.has_value()) << stopped.out;
  EXPECT_EQ(*live_through, watermark_bound);
  Outcome live_log = Consume("shop.memberships");
  ASSERT_EQ(live_log.exit_code, 0) << live_log.err;
  const std::vector<Change> live_changes = ParseChangelog(live_log.out);
  const std::string live_late = Consume("shop.late").out;

  // The bounded run replaces the changelog; it evaluates up to the largest ts.
  Outcome bounded = Run();
  ASSERT_EQ(bounded.exit_code, 0) << bounded.out << bounded.err;
  EXPECT_NE(bounded.out.find("finished"), std::string::npos) << bounded.out;
  EXPECT_EQ(EvaluatedThrough(bounded.out), *std::max_element(max_ts.begin(), max_ts.end()));
  Outcome bounded_log = Consume("shop.memberships");
  ASSERT_EQ(bounded_log.exit_code, 0) << bounded_log.err;
  const std::vector<Change> bounded_changes = ParseChangelog(bounded_log.out);

  // Lateness depends only on the order inside a partition: the same records are late.
  EXPECT_GT(Lines(live_late).size(), 100u);
  EXPECT_EQ(Consume("shop.late").out, live_late);
  EXPECT_NE(stopped.out.find(", " + std::to_string(Lines(live_late).size()) + " late"),
            std::string::npos)
      << stopped.out;
  EXPECT_NE(bounded.out.find(", " + std::to_string(Lines(live_late).size()) + " late"),
            std::string::npos)
      << bounded.out;

  // Changelog order is a total order per partition ((at, user, segment), partitions in
  // turn), so the strongest claim holds: identical record sequences, not just sets.
  const std::vector<std::string> live_prefix = LinesAtOrBefore(live_changes, *live_through);
  EXPECT_EQ(live_prefix, LinesAtOrBefore(bounded_changes, *live_through));
  // Records past the evaluated time that a partition already made final are bounded ones too.
  std::set<std::string> bounded_set;
  for (const auto& c : bounded_changes) bounded_set.insert(c.line);
  for (const auto& c : live_changes) EXPECT_EQ(bounded_set.count(c.line), 1u) << c.line;

  // The comparison covers a real workload: entries and exits of every segment.
  EXPECT_GT(live_prefix.size(), 1000u);
  std::set<std::string> entered, exited;
  for (const auto& c : live_changes) (c.entered ? entered : exited).insert(c.segment);
  for (const auto& s : kShopSegments) {
    EXPECT_EQ(entered.count(s), 1u) << s;
    EXPECT_EQ(exited.count(s), 1u) << s;
  }
}

// The changelog does not depend on parallelism: byte-identical for 1 and 4 keyed tasks
// (and 3, which splits the key groups unevenly), and so are the audiences.
TEST_F(RunTest, ParallelismDoesNotChangeChangelogOrAudiences) {
  ASSERT_EQ(Produce(CartEvents(), {"--partitions", "4"}).exit_code, 0);
  std::string reference_log;
  std::map<std::string, std::string> reference_members;
  for (int parallelism : {1, 4, 3}) {
    SCOPED_TRACE("parallelism " + std::to_string(parallelism));
    WriteJob(ShopJob(parallelism));
    Outcome run = Run();
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    Outcome changelog = Consume("shop.memberships");
    ASSERT_EQ(changelog.exit_code, 0) << changelog.err;
    ASSERT_FALSE(changelog.out.empty());
    std::map<std::string, std::string> members;
    for (const auto& s : kShopSegments) {
      Outcome count = Audience(s, {"--count"});
      ASSERT_EQ(count.exit_code, 0) << count.err;
      Outcome list = Audience(s);
      ASSERT_EQ(list.exit_code, 0) << list.err;
      EXPECT_EQ(count.out, std::to_string(Lines(list.out).size()) + "\n") << s;
      members[s] = count.out + list.out;
    }
    if (parallelism == 1) {
      reference_log = changelog.out;
      reference_members = members;
      continue;
    }
    EXPECT_TRUE(changelog.out == reference_log)
        << "changelogs differ (" << Lines(changelog.out).size() << " vs "
        << Lines(reference_log).size() << " lines)";
    for (const auto& s : kShopSegments) EXPECT_EQ(members[s], reference_members[s]) << s;
  }
}

// Batch execution (issue 17): a bounded run sorts each keyed task's input by user and
// evaluates one user at a time. Under a memory budget far below its input it spills sorted
// runs, in this process and in worker processes, says so, cleans them up, and writes
// exactly the streaming run's changelog and audiences.
TEST_F(RunTest, BatchRunsUnderATinyMemoryBudgetSpillAndEqualTheStreamingRun) {
  ASSERT_EQ(Produce(CartEvents(), {"--partitions", "4"}).exit_code, 0);
  WriteJob(ShopJob(2));
  auto outputs = [&] {
    std::string all = Consume("shop.memberships").out;
    for (const auto& s : kShopSegments) all += s + ":\n" + Audience(s).out;
    return all;
  };
  Outcome streaming = Run({"--bounded", "--workers", "0", "--runtime-mode", "streaming"});
  ASSERT_EQ(streaming.exit_code, 0) << streaming.out << streaming.err;
  const std::string reference = outputs();
  ASSERT_GT(Lines(reference).size(), 100u);
  EXPECT_EQ(streaming.err.find("spilled"), std::string::npos) << streaming.err;

  Outcome batch = Run({"--bounded", "--workers", "0"});
  ASSERT_EQ(batch.exit_code, 0) << batch.out << batch.err;
  EXPECT_EQ(batch.err.find("spilled"), std::string::npos) << "1 GiB holds it all: " << batch.err;
  EXPECT_TRUE(outputs() == reference) << "default batch run differs from streaming";

  Outcome tiny = Run({"--bounded", "--workers", "0", "--memory-budget", "1m"});
  ASSERT_EQ(tiny.exit_code, 0) << tiny.out << tiny.err;
  EXPECT_NE(tiny.err.find("spilled to sorted runs"), std::string::npos) << tiny.err;
  EXPECT_TRUE(outputs() == reference) << "spilled batch run differs from streaming";
  for (const auto& e : fs::recursive_directory_iterator(scratch())) {
    EXPECT_EQ(e.path().filename().string().rfind("run-", 0), std::string::npos)
        << "sorted run left behind: " << e.path();
  }

  Outcome cluster = Run({"--bounded", "--workers", "2", "--memory-budget", "1m"});
  ASSERT_EQ(cluster.exit_code, 0) << cluster.out << cluster.err;
  EXPECT_TRUE(outputs() == reference) << "spilled batch run on two workers differs";
  auto summary = [](const std::string& out) { return out.substr(out.find('\n')); };  // no timing
  EXPECT_EQ(summary(batch.out), summary(streaming.out));
  EXPECT_EQ(summary(tiny.out), summary(streaming.out));
}

TEST_F(RunTest, BadRuntimeModeAndMemoryBudgetFlagsAreRefusedClearly) {
  WriteJob(ShopJob(2));
  struct Bad {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Bad> cases = {
      {{"--bounded", "--memory-budget", "12q"}, "unknown unit \"q\""},
      {{"--bounded", "--memory-budget", "100"}, "below the minimum"},
      {{"--bounded", "--memory-budget", "lots"}, "no number"},
      {{"--bounded", "--runtime-mode", "fast", "--workers", "0"}, "give batch or streaming"},
      {{"--runtime-mode", "batch"}, "needs --bounded"},
  };
  for (const Bad& bad : cases) {
    Outcome run = Run(bad.args);
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_NE(run.err.find(bad.says), std::string::npos) << run.err;
  }
  EXPECT_FALSE(fs::exists(log() + "/shop.memberships")) << "a refused run wrote nothing";
}

// `audience --at T` past the evaluated time is refused, naming the evaluated time.
TEST_F(RunTest, AudienceRefusesTimesNotEvaluatedYet) {
  Outcome run = ProduceCartAndRunBounded(2);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::optional<int64_t> through = EvaluatedThrough(run.out);
  ASSERT_TRUE(through.has_value()) << run.out;

  Outcome beyond = AudienceAt("cart_abandoned", *through + 1);
  EXPECT_NE(beyond.exit_code, 0);
  EXPECT_EQ(beyond.out, "");
  EXPECT_NE(beyond.err.find("not evaluated"), std::string::npos) << beyond.err;
  EXPECT_NE(beyond.err.find(std::to_string(*through)), std::string::npos)
      << "names the evaluated time\n"
      << beyond.err;
  EXPECT_EQ(AudienceAt("cart_abandoned", *through).exit_code, 0)
      << "the evaluated time itself is answered";
}

// `audience --at T` is the membership the changelog implies as of T (every instant <= T).
TEST_F(RunTest, AudienceAtEarlierTimesReplaysTheChangelog) {
  Outcome run = ProduceCartAndRunBounded(2);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const int64_t through = EvaluatedThrough(run.out).value_or(0);
  Outcome changelog = Consume("shop.memberships");
  ASSERT_EQ(changelog.exit_code, 0) << changelog.err;
  const std::vector<Change> changes = ParseChangelog(changelog.out);
  ASSERT_FALSE(changes.empty());

  // A witness: a cart_abandoned membership [a, b) with room inside it.
  std::map<std::string, int64_t> since;
  const Change* exit = nullptr;
  int64_t entered_at = 0;
  for (const auto& c : changes) {
    if (c.segment != "cart_abandoned") continue;
    if (c.entered) {
      since[c.user] = c.at;
    } else if (since.count(c.user) && c.at - since[c.user] >= 2) {
      exit = &c;
      entered_at = since[c.user];
      break;
    }
  }
  ASSERT_NE(exit, nullptr);
  auto members_at = [&](int64_t t) { return Lines(AudienceAt("cart_abandoned", t).out); };
  auto has = [](const std::vector<std::string>& v, const std::string& u) {
    return std::find(v.begin(), v.end(), u) != v.end();
  };
  EXPECT_FALSE(has(members_at(entered_at - 1), exit->user))
      << "not yet a member just before entering";
  EXPECT_TRUE(has(members_at(entered_at), exit->user)) << "a member from the entry instant";
  EXPECT_TRUE(has(members_at((entered_at + exit->at) / 2), exit->user));
  EXPECT_TRUE(has(members_at(exit->at - 1), exit->user));
  EXPECT_FALSE(has(members_at(exit->at), exit->user)) << "not a member from the exit instant";

  // Every segment, at several times: exactly the replayed membership, sorted.
  const int64_t first = changes.front().at;
  for (int64_t t : {first + (through - first) / 2, through}) {
    for (const auto& s : kShopSegments) {
      Outcome a = AudienceAt(s, t);
      ASSERT_EQ(a.exit_code, 0) << a.err;
      EXPECT_EQ(Lines(a.out), ReplayMembers(changes, s, t)) << s << " at " << t;
    }
  }
  // Without --at: the members as of the evaluated time.
  for (const auto& s : kShopSegments)
    EXPECT_EQ(Lines(Audience(s).out), ReplayMembers(changes, s, through)) << s;
}

// Three kinds of mistakes in one file: all reported, each with file:line:col; nothing runs.
TEST_F(RunTest, InvalidJobReportsEveryErrorAndRunsNothing) {
  ASSERT_EQ(Produce(View("u1", 1000)).exit_code, 0);
  WriteJob(R"(job: broken
log: log
source:
  topics: [events]
  max_out_of_orderness: 5 seconds
  colour: blue
segments:
  - id: lost
    when: {segment: nowhere}
)");
  Outcome run = Run();
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  // Each error on its own line, "<file>:<line>:<col>: ...", at the offending value or key
  // and naming it.
  const std::vector<std::pair<std::string, std::string>> expected = {
      {job_path() + ":5:25: ", "\"5 seconds\""},
      {job_path() + ":6:3: ", "\"colour\""},
      {job_path() + ":9:21: ", "\"nowhere\""}};
  const std::vector<std::string> err_lines = Lines(run.err);
  for (const auto& [where, what] : expected) {
    const auto it = std::find_if(err_lines.begin(), err_lines.end(),
                                 [&](const std::string& l) { return l.rfind(where, 0) == 0; });
    ASSERT_NE(it, err_lines.end()) << where << "\n" << run.err;
    EXPECT_NE(it->find(what), std::string::npos) << *it;
  }
  EXPECT_NE(run.err.find("3 error(s)"), std::string::npos) << run.err;
  // No outputs: no changelog topic, no late topic, no audience store.
  EXPECT_FALSE(fs::exists(log() + "/broken.memberships"));
  EXPECT_FALSE(fs::exists(log() + "/broken.late"));
  Outcome consume = Consume("broken.memberships");
  EXPECT_NE(consume.exit_code, 0);
  EXPECT_FALSE(fs::exists(scratch() + "/audience"));
}

// A job file broken after a successful run leaves that run's changelog and audience alone.
TEST_F(RunTest, InvalidJobLeavesThePreviousOutputsAlone) {
  ASSERT_EQ(Produce(View("u1", 1000) + View("u1", 2000)).exit_code, 0);
  WriteJob(kViewsJob);
  ASSERT_EQ(Run().exit_code, 0);
  const Outcome before = Consume("views.memberships");
  ASSERT_EQ(before.out, R"({"segment":"two_views","user_id":"u1","change":"entered","at":2000})"
                        "\n");

  WriteJob(std::string(kViewsJob) + "bogus_key: 1\n");
  Outcome run = Run();
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find(job_path() + ":11:1: "), std::string::npos) << run.err;
  EXPECT_EQ(Consume("views.memberships").out, before.out);
  WriteJob(kViewsJob);
  EXPECT_EQ(Audience("two_views").out, "u1\n");
}

// A record more than max_out_of_orderness (5 s) behind its partition's largest ts is late:
// it goes to "<job>.late", is counted, and changes no segment. At exactly 5 s it is on time.
TEST_F(RunTest, LateRecordsGoToTheLateTopicAndAreCounted) {
  const std::string input = View("u1", 100000) +  // on time
                            View("u2", 200000) +  // the partition max becomes 200000
                            View("u1", 10000) +   // late: u1 would otherwise reach two views
                            View("u3", 195000) +  // on time: exactly max - 5 s
                            View("u3", 194999) +  // late by 1 ms
                            View("u4", 150000) +  // late: u4 never exists
                            View("u3", 199000);   // on time: u3's second view
  ASSERT_EQ(Produce(input, {"--partitions", "1"}).exit_code, 0);
  WriteJob(kViewsJob);
  Outcome run = Run();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find(": 7 records"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(", 3 late (topic views.late)"), std::string::npos) << run.out;

  Outcome late = Consume("views.late");
  ASSERT_EQ(late.exit_code, 0) << late.err;
  EXPECT_EQ(late.out,
            "{\"user_id\":\"u1\",\"event\":\"view\",\"ts\":10000}\n"
            "{\"user_id\":\"u3\",\"event\":\"view\",\"ts\":194999}\n"
            "{\"user_id\":\"u4\",\"event\":\"view\",\"ts\":150000}\n");
  EXPECT_EQ(Consume("views.memberships").out,
            R"({"segment":"two_views","user_id":"u3","change":"entered","at":199000})"
            "\n");
  EXPECT_EQ(Audience("two_views").out, "u3\n");
}

// The sources decode only the properties the job reads (none here), but a late record
// reaches "<job>.late" whole: the same line `consume` prints of it from the source topic.
TEST_F(RunTest, LateRecordsKeepEveryPropertyInTheLateTopic) {
  const std::string input =
      View("u2", 200000) +
      R"({"user_id":"u1","event":"view","ts":10000,"page":"home","extra":{"a":[1,2.5,null],"b":{"c":true}}})"
      "\n"
      R"({"user_id":"u3","event":"view","ts":199000,"page":"x"})"
      "\n";
  ASSERT_EQ(Produce(input, {"--partitions", "1"}).exit_code, 0);
  WriteJob(kViewsJob);
  Outcome run = Run();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find(", 1 late (topic views.late)"), std::string::npos) << run.out;
  Outcome events = Consume("events");
  ASSERT_EQ(events.exit_code, 0) << events.err;
  const size_t first = events.out.find('\n') + 1;
  const std::string late_record =
      events.out.substr(first, events.out.find('\n', first) + 1 - first);
  EXPECT_NE(late_record.find("\"extra\""), std::string::npos) << events.out;
  EXPECT_EQ(Consume("views.late").out, late_record);
}

// While a run of a job is active, a second run of it is refused (the job lock) and does
// not disturb the first; once the first stops, the job runs again.
TEST_F(RunTest, SecondConcurrentRunIsRefused) {
  ASSERT_EQ(
      Produce(View("u1", 100000) + View("u1", 150000) + View("u2", 200000), {"--partitions", "1"})
          .exit_code,
      0);
  WriteJob(kViewsJob);
  const pid_t live = Start({"run", job_path()}, "", scratch(), scratch(), "live");
  const ChildGuard live_guard(live);
  const int64_t through = 200000 - 5000 - 1;
  ASSERT_TRUE(Eventually([&] { return AudienceAt("two_views", through).exit_code == 0; }))
      << ReadFile(scratch() + "/live.stderr");

  Outcome second = Run();
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  EXPECT_NE(second.err.find("another run of this job is active"), std::string::npos) << second.err;
  Outcome second_live = Segflow({"run", job_path()}, "", scratch());
  EXPECT_EQ(second_live.exit_code, 1) << second_live.err;
  // The refused runs reset nothing: the first run's audience and changelog are intact.
  Outcome a = AudienceAt("two_views", through);
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, "u1\n");

  ASSERT_EQ(::kill(live, SIGTERM), 0);
  Outcome stopped = Wait(live, scratch(), "live");
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  Outcome again = Run();
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(EvaluatedThrough(again.out), 200000);
}

}  // namespace
}  // namespace segflow
