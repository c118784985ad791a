// segflow diff, segflow health and segflow forget (issue 6 items 4, 5, 6) as a user runs
// them: the real binary over real logs, each checked against what the job's other
// outputs (audience, changelog, late topic) independently say.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cli_test_util.h"

namespace segflow {
namespace {

using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

std::string Job(const std::string& name, int busy_at_least, const std::string& extra = "") {
  return "job: " + name + R"(
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
  idle_timeout: 1h
consent: {event: consent, field: granted, default: granted}
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: busy
    when: {count: {event: page_view, window: 1h, at_least: )" +
         std::to_string(busy_at_least) + R"(}}
parallelism: 2
)" + extra;
}
const std::vector<std::string> kSegments = {"cart_abandoned", "busy"};

bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return probe();
}

class GovernanceTest : public ::testing::Test {
 protected:
  const std::string& scratch() const { return dir_.path(); }
  std::string log() const { return scratch() + "/log"; }
  std::string Path(const std::string& name) const { return scratch() + "/" + name + ".yaml"; }
  void Write(const std::string& name, const std::string& yaml) { WriteFile(Path(name), yaml); }
  Outcome Cli(const std::vector<std::string>& args, const std::string& input = "") {
    return Segflow(args, input, scratch());
  }
  void ProduceGen(int users, int events, int seed, const std::string& before = "",
                  const std::string& after = "") {
    Outcome g =
        Cli({"gen", "cart", "--users", std::to_string(users), "--events", std::to_string(events),
             "--seed", std::to_string(seed), "--late-fraction", "0.01"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    Outcome p = Cli({"produce", "--log", log(), "--topic", "events", "--partitions", "4"},
                    before + g.out + after);
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  std::vector<std::string> Audience(const std::string& job, const std::string& segment) {
    Outcome o = Cli({"audience", Path(job), "--segment", segment});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return Lines(o.out);
  }
  std::string Consume(const std::string& topic) {
    return Cli({"consume", "--log", log(), "--topic", topic, "--from", "earliest"}).out;
  }

  ScratchDir dir_{"segflow-governance-test"};
};

std::string Event(const std::string& user, const std::string& event, int64_t ts) {
  return R"({"user_id":")" + user + R"(","event":")" + event + R"(","ts":)" + std::to_string(ts) +
         R"(,"price":10})" + "\n";
}

// diff against the audiences themselves: B (busy at 6 views) is a subset of A (at 5), so
// only_a = A \ B, only_b is empty and the divergence is |A \ B| / |A|.
TEST_F(GovernanceTest, DiffComparesTwoAudiencesPerSegmentAndExitsPastTheThreshold) {
  ProduceGen(400, 30000, 3);
  Write("a", Job("views-a", 5));
  Write("b", Job("views-b", 6));
  for (const char* j : {"a", "b"})
    ASSERT_EQ(Cli({"run", Path(j), "--bounded", "--workers", "0"}).exit_code, 0);
  const auto a = Audience("a", "busy"), b = Audience("b", "busy");
  std::vector<std::string> only_a;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
  ASSERT_GT(only_a.size(), 0u) << "the thresholds must make a difference";
  ASSERT_TRUE(std::includes(a.begin(), a.end(), b.begin(), b.end()));

  Outcome d = Cli({"diff", Path("a"), Path("b"), "--json", "--show", "100000"});
  const double pct = 100.0 * static_cast<double>(only_a.size()) / static_cast<double>(a.size());
  EXPECT_EQ(d.exit_code, pct > 5 ? 1 : 0) << d.out << d.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(d.out).get(doc), simdjson::SUCCESS) << d.out;
  bool seen = false;
  for (simdjson::dom::element row : doc["segments"].get_array()) {
    std::string_view segment = row["segment"].get_string();
    if (segment != "busy") {
      // cart_abandoned is the same definition in both: no divergence.
      EXPECT_EQ(row["divergence_pct"].get_double().value(), 0.0) << segment;
      continue;
    }
    seen = true;
    EXPECT_EQ(row["a"].get_int64().value(), static_cast<int64_t>(a.size()));
    EXPECT_EQ(row["b"].get_int64().value(), static_cast<int64_t>(b.size()));
    EXPECT_EQ(row["only_b_count"].get_int64().value(), 0);
    std::vector<std::string> listed;
    for (simdjson::dom::element u : row["only_a"].get_array())
      listed.emplace_back(u.get_string().value());
    EXPECT_EQ(listed, only_a);
    EXPECT_NEAR(row["divergence_pct"].get_double().value(), pct, 1e-9);
    EXPECT_EQ(row["diverged"].get_bool().value(), pct > 5);
  }
  EXPECT_TRUE(seen);
  // Threshold 100 passes, 0 fails; a job against its own store is identical; a job file
  // against a store folder works too.
  EXPECT_EQ(Cli({"diff", Path("a"), Path("b"), "--threshold", "100"}).exit_code, 0);
  Outcome strict = Cli({"diff", Path("a"), Path("b"), "--threshold", "0", "--show", "2"});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_NE(strict.out.find("segment busy: A " + std::to_string(a.size()) + ", B " +
                            std::to_string(b.size())),
            std::string::npos)
      << strict.out;
  EXPECT_NE(strict.out.find("DIVERGED"), std::string::npos) << strict.out;
  Outcome same = Cli({"diff", Path("a"), scratch() + "/audience/views-a", "--threshold", "0"});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("divergence 0.00%  ok"), std::string::npos) << same.out;
  // Bad input: a clear error, exit code 2.
  Outcome missing = Cli({"diff", Path("a"), scratch() + "/nowhere"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no audience store at " + scratch() + "/nowhere"), std::string::npos)
      << missing.err;
  Outcome unknown = Cli({"diff", Path("a"), Path("b"), "--segment", "nope"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("neither side has segment \"nope\""), std::string::npos)
      << unknown.err;
  EXPECT_EQ(Cli({"diff", Path("a"), Path("b"), "--threshold", "120"}).exit_code, 2);
  // A segment only one job defines diverges.
  Write("c", std::regex_replace(Job("views-c", 5), std::regex("id: busy"), "id: busy2"));
  ASSERT_EQ(Cli({"run", Path("c"), "--bounded", "--workers", "0"}).exit_code, 0);
  Outcome renamed = Cli({"diff", Path("a"), Path("c"), "--threshold", "100"});
  EXPECT_EQ(renamed.exit_code, 1) << renamed.out;
  EXPECT_NE(renamed.out.find("B does not define this segment"), std::string::npos) << renamed.out;
}

// health against the outputs: population = audience size; entries and exits = the
// changelog's records, also summed over the hourly window; late = the late topic; one
// latency sample per change applied to the store (a fresh run applies each once).
TEST_F(GovernanceTest, HealthMatchesTheChangelogAudienceAndLateTopic) {
  ProduceGen(300, 20000, 5);
  Write("h", Job("health", 5));
  ASSERT_EQ(Cli({"run", Path("h"), "--bounded"}).exit_code, 0);
  Outcome h = Cli({"health", Path("h"), "--json", "--hours", "10000"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  const std::string changelog = Consume("health.memberships");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(h.out).get(doc), simdjson::SUCCESS) << h.out;
  for (simdjson::dom::element row : doc["segments"].get_array()) {
    const std::string segment(row["segment"].get_string().value());
    int64_t entries = 0, exits = 0;
    for (const auto& l : Lines(changelog)) {
      if (l.find("\"segment\":\"" + segment + "\"") == std::string::npos) continue;
      (l.find("\"entered\"") != std::string::npos ? entries : exits)++;
    }
    EXPECT_GT(entries, 0) << segment;
    EXPECT_EQ(row["population"].get_int64().value(),
              static_cast<int64_t>(Audience("h", segment).size()))
        << segment;
    EXPECT_EQ(row["entries"].get_int64().value(), entries) << segment;
    EXPECT_EQ(row["exits"].get_int64().value(), exits) << segment;
    int64_t hourly_entries = 0, hourly_exits = 0;
    for (simdjson::dom::element hour : row["hourly"].get_array()) {
      hourly_entries += hour["entries"].get_int64().value();
      hourly_exits += hour["exits"].get_int64().value();
    }
    EXPECT_EQ(hourly_entries, entries) << segment;
    EXPECT_EQ(hourly_exits, exits) << segment;
    EXPECT_EQ(row["latency_samples"].get_int64().value(), entries + exits) << segment;
    EXPECT_LE(row["latency_p50_ms"].get_int64().value(), row["latency_p99_ms"].get_int64().value());
  }
  const int64_t late = static_cast<int64_t>(Lines(Consume("health.late")).size());
  EXPECT_GT(late, 0);
  EXPECT_EQ(doc["late"].get_int64().value(), late);
  // The text form says the same; a job that never ran is a clear error.
  Outcome text = Cli({"health", Path("h")});
  EXPECT_NE(text.out.find("late records: " + std::to_string(late)), std::string::npos) << text.out;
  Write("never", Job("never-ran", 5));
  Outcome never = Cli({"health", Path("never")});
  EXPECT_EQ(never.exit_code, 1);
  EXPECT_NE(never.err.find("has the job been run?"), std::string::npos) << never.err;
}

// forget: the user leaves every audience store at once (a stopped job's, a shared one,
// a running job's within a second), explain refuses them, the ledger holds the audit
// records, and a later run over the same log (the log is not rewritten) reads past their
// records: the changelog is the earlier one without theirs, byte for byte.
TEST_F(GovernanceTest, ForgetErasesAUserFromEveryStoreAndFromLaterRuns) {
  // After the generated events (2026-05-01 .. about 05-08): the victim is in both
  // segments when the bounded run ends at its last event.
  const int64_t t0 = 1780000000000;  // 2026-05-28T20:26:40Z
  std::string victim;
  for (int i = 0; i < 6; ++i) victim += Event("victim", "page_view", t0 + i * 1000);
  victim +=
      Event("victim", "add_to_cart", t0 + 10000) + Event("victim", "page_view", t0 + 40 * 60000);
  ProduceGen(300, 20000, 11, "", victim);
  Write("f", Job("shop", 5, "output: {shared_audience: shared}\n"));
  Write("g", Job("shop-backfill", 5, "output: {shared_audience: shared}\n"));
  ASSERT_EQ(Cli({"run", Path("f"), "--bounded"}).exit_code, 0);
  for (const auto& s : kSegments) {
    const auto members = Audience("f", s);
    ASSERT_TRUE(std::binary_search(members.begin(), members.end(), "victim")) << s;
  }
  std::string without;
  WriteFile(scratch() + "/first-changelog", Consume("shop.memberships"));
  for (const auto& l : Lines(ReadFile(scratch() + "/first-changelog"))) {
    if (l.find("\"user_id\":\"victim\"") == std::string::npos) without += l + "\n";
  }
  const std::string late_before = Consume("shop.late");

  Outcome f = Cli({"forget", "victim", Path("f"), "--reason", "GDPR art. 17 request 42"});
  ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
  EXPECT_NE(f.out.find(scratch() + "/audience/shop: erased 2 membership(s)"), std::string::npos)
      << f.out;
  EXPECT_NE(f.out.find(scratch() + "/shared: erased 2 membership(s)"), std::string::npos) << f.out;
  const auto ledger = Lines(ReadFile(scratch() + "/governance/ledger.jsonl"));
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_NE(ledger[0].find(R"("action":"forget","user":"victim")"), std::string::npos) << ledger[0];
  EXPECT_NE(ledger[0].find("GDPR art. 17 request 42"), std::string::npos) << ledger[0];
  EXPECT_NE(ledger[1].find(R"("action":"forget-applied")"), std::string::npos) << ledger[1];
  for (const auto& s : kSegments) {
    const auto members = Audience("f", s);
    EXPECT_FALSE(std::binary_search(members.begin(), members.end(), "victim")) << s;
    EXPECT_EQ(
        Cli({"audience", "--store", scratch() + "/shared", "--segment", s}).out.find("victim"),
        std::string::npos);
  }
  Outcome explain = Cli({"explain", Path("f"), "--segment", "busy", "--user", "victim"});
  EXPECT_EQ(explain.exit_code, 1);
  EXPECT_NE(explain.err.find("user victim was erased by segflow forget"), std::string::npos)
      << explain.err;

  // A later run (on worker processes) and a backfill into the shared store: the
  // victim's records are read past; everybody else's results are unchanged.
  ASSERT_EQ(Cli({"run", Path("f"), "--bounded"}).exit_code, 0);
  const std::string rerun = Consume("shop.memberships");
  EXPECT_LT(Lines(without).size(), Lines(ReadFile(scratch() + "/first-changelog")).size());
  EXPECT_TRUE(rerun == without) << Lines(rerun).size() << " vs " << Lines(without).size()
                                << " lines";
  EXPECT_TRUE(Consume("shop.late") == late_before)
      << "the victim had no late records; the others' are unchanged";
  ASSERT_EQ(Cli({"run", Path("g"), "--bounded"}).exit_code, 0);
  for (const auto& s : kSegments) {
    EXPECT_EQ(
        Cli({"audience", "--store", scratch() + "/shared", "--segment", s}).out.find("victim"),
        std::string::npos);
  }
  EXPECT_EQ(Cli({"diff", Path("f"), scratch() + "/shared", "--threshold", "0"}).exit_code, 0);

  // A running job: its sink erases its own store (forget cannot open it) within a second.
  const pid_t live = Start({"run", Path("g")}, "", scratch(), scratch(), "live");
  ChildGuard guard(live);
  const int64_t t1 = t0 + 10 * 3600000;
  std::string late_user =
      Event("late-victim", "add_to_cart", t1) + Event("late-victim", "page_view", t1 + 3 * 3600000);
  // Every partition's watermark past the late victim's entry: the audience is as of the
  // job's evaluated time, the minimum over the partitions.
  for (int u = 0; u < 32; ++u)
    late_user += Event("ticker" + std::to_string(u), "page_view", t1 + 3 * 3600000);
  ASSERT_EQ(Cli({"produce", "--log", log(), "--topic", "events"}, late_user).exit_code, 0);
  // The live run replaces its store at start: until it is there, audience fails.
  auto in_live = [&] {
    const Outcome o = Cli({"audience", Path("g"), "--segment", "cart_abandoned"});
    return o.exit_code == 0 && o.out.find("late-victim\n") != std::string::npos;
  };
  ASSERT_TRUE(Eventually(in_live));
  Outcome f2 = Cli({"forget", "late-victim", Path("g")});
  ASSERT_EQ(f2.exit_code, 0) << f2.out << f2.err;
  EXPECT_NE(f2.out.find(scratch() + "/audience/shop-backfill: in use by a running job"),
            std::string::npos)
      << f2.out;
  EXPECT_TRUE(Eventually(
      [&] {
        const Outcome o = Cli({"audience", Path("g"), "--segment", "cart_abandoned"});
        return o.exit_code == 0 && o.out.find("late-victim\n") == std::string::npos;
      },
      std::chrono::seconds(10)));
  ::kill(live, SIGINT);
  EXPECT_EQ(Wait(live, scratch(), "live").exit_code, 0);
  EXPECT_EQ(Cli({"audience", "--store", scratch() + "/shared", "--segment", "cart_abandoned"})
                .out.find("late-victim"),
            std::string::npos);
  // Bad input: no job file, a job file with errors: nothing is recorded.
  EXPECT_EQ(Cli({"forget", "someone"}).exit_code, 2);
  Write("bad", "job: x\n");
  EXPECT_EQ(Cli({"forget", "someone", Path("bad")}).exit_code, 1);
  EXPECT_EQ(Lines(ReadFile(scratch() + "/governance/ledger.jsonl")).size(), 4u);
}

// forget (issue 12 item 4): every command that answers with members or changes skips the
// erased user at once, not only after a rerun: audience with and without --at, --count,
// --version, --versions, diff, health (population, entries, exits, late records) and
// consume of the changelog and late topics; everybody else's answers are unchanged.
TEST_F(GovernanceTest, ForgetRemovesTheUserFromEveryAnswerWithoutARerun) {
  const int64_t t0 = 1780000000000;  // after the generated events
  std::string victim;
  for (int i = 0; i < 6; ++i) victim += Event("victim", "page_view", t0 + i * 1000);
  victim += Event("victim", "add_to_cart", t0 + 10000) +
            Event("victim", "page_view", t0 + 40 * 60000) +
            Event("victim", "page_view", t0 - 3600000);  // late in the victim's partition
  ProduceGen(300, 20000, 13, "", victim);
  Write("f", Job("shop", 5));
  Write("g", Job("shop-copy", 5));
  for (const char* j : {"f", "g"}) ASSERT_EQ(Cli({"run", Path(j), "--bounded"}).exit_code, 0);
  const int64_t at = t0 + 40 * 60000;  // evaluated by then: the last event's ts
  auto without_victim = [](const std::string& text) {
    std::string out;
    for (const auto& l : Lines(text)) {
      if (l.find("\"victim\"") == std::string::npos && l != "victim") out += l + "\n";
    }
    return out;
  };
  auto has_victim = [](const std::string& text) {
    return text.find("\"victim\"") != std::string::npos ||
           text.find("victim\n") != std::string::npos;
  };
  std::map<std::string, std::string> before;
  for (const auto& s : kSegments) {
    before["now " + s] = Cli({"audience", Path("f"), "--segment", s}).out;
    before["at " + s] =
        Cli({"audience", Path("f"), "--segment", s, "--at", std::to_string(at)}).out;
    ASSERT_TRUE(has_victim(before["now " + s])) << s;
    ASSERT_TRUE(has_victim(before["at " + s])) << s;
  }
  const std::string changelog = Consume("shop.memberships"), late = Consume("shop.late");
  ASSERT_TRUE(has_victim(changelog));
  ASSERT_TRUE(has_victim(late)) << "the victim's late record";
  Outcome versions = Cli({"audience", Path("f"), "--versions", "--segment", "busy"});
  std::smatch serving;
  ASSERT_TRUE(std::regex_search(versions.out, serving, std::regex("serving ([0-9a-f]{16})")))
      << versions.out;

  Outcome f = Cli({"forget", "victim", Path("f")});
  ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
  for (const auto& s : kSegments) {
    const std::string now = Cli({"audience", Path("f"), "--segment", s}).out;
    EXPECT_EQ(now, without_victim(before["now " + s])) << s;
    const Outcome as_of = Cli({"audience", Path("f"), "--segment", s, "--at", std::to_string(at)});
    ASSERT_EQ(as_of.exit_code, 0) << as_of.err;
    EXPECT_EQ(as_of.out, without_victim(before["at " + s])) << s << ": --at";
    EXPECT_EQ(
        Cli({"audience", Path("f"), "--segment", s, "--at", std::to_string(at), "--count"}).out,
        std::to_string(Lines(as_of.out).size()) + "\n")
        << s << ": --at --count";
    EXPECT_EQ(Cli({"audience", Path("f"), "--segment", s, "--count"}).out,
              std::to_string(Lines(now).size()) + "\n")
        << s << ": --count";
  }
  EXPECT_EQ(Cli({"audience", Path("f"), "--segment", "busy", "--version", serving[1].str()}).out,
            without_victim(before["now busy"]));
  EXPECT_EQ(Cli({"audience", Path("f"), "--segment", "busy", "--version", serving[1].str(), "--at",
                 std::to_string(at)})
                .out,
            without_victim(before["at busy"]));
  const std::string listed = Cli({"audience", Path("f"), "--versions", "--segment", "busy"}).out;
  EXPECT_NE(listed.find(", " + std::to_string(Lines(without_victim(before["now busy"])).size()) +
                        " members"),
            std::string::npos)
      << listed;
  // consume skips the victim's records in the changelog and the late topic; the others' stay.
  for (const auto& [got, want, what] :
       {std::tuple{Consume("shop.memberships"), without_victim(changelog), "changelog"},
        std::tuple{Consume("shop.late"), without_victim(late), "late topic"},
        std::tuple{
            Cli({"consume", "--log", log(), "--topic", "shop.memberships", "--committed"}).out,
            without_victim(changelog), "committed changelog"}}) {
    EXPECT_TRUE(got == want) << what << ": " << Lines(got).size() << " lines, want "
                             << Lines(want).size()
                             << (has_victim(got) ? " (the victim's are in)" : "");
  }
  // diff: the two jobs agree, and nobody is listed as the victim.
  Outcome d = Cli({"diff", Path("f"), Path("g"), "--threshold", "0", "--show", "100000"});
  EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
  EXPECT_FALSE(has_victim(d.out + "\n")) << d.out;
  // health: population, entries and exits as the filtered changelog says; late without theirs.
  Outcome h = Cli({"health", Path("f"), "--json", "--hours", "10000"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(h.out).get(doc), simdjson::SUCCESS) << h.out;
  const std::string kept = without_victim(changelog);
  for (simdjson::dom::element row : doc["segments"].get_array()) {
    const std::string segment(row["segment"].get_string().value());
    int64_t entries = 0, exits = 0;
    for (const auto& l : Lines(kept)) {
      if (l.find("\"segment\":\"" + segment + "\"") == std::string::npos) continue;
      (l.find("\"entered\"") != std::string::npos ? entries : exits)++;
    }
    EXPECT_EQ(row["entries"].get_int64().value(), entries) << segment;
    EXPECT_EQ(row["exits"].get_int64().value(), exits) << segment;
    EXPECT_EQ(row["population"].get_int64().value(),
              static_cast<int64_t>(Lines(without_victim(before["now " + segment])).size()))
        << segment;
  }
  EXPECT_EQ(doc["late"].get_int64().value(),
            static_cast<int64_t>(Lines(without_victim(late)).size()));
}

// Consent at a shared store: a withdrawal removes the user from every audience and no
// write can add them back without newer consent. The live job sees w withdraw; a batch
// over an export of the log without the withdrawal (its range starts after it) enters w
// again, with a newer stamp than the live job's exit: the store refuses it because the
// user's latest consent on record is the withdrawal. A newer grant lifts it.
TEST_F(GovernanceTest, ConsentWithdrawalBlocksABackfillThatNeverSawIt) {
  const int64_t t0 = 1772359320000, minute = 60000;
  auto consent = [](const std::string& user, bool granted, int64_t ts) {
    return R"({"user_id":")" + user + R"(","event":"consent","granted":)" +
           (granted ? "true" : "false") + R"(,"ts":)" + std::to_string(ts) + "}\n";
  };
  const std::string after = Event("w", "add_to_cart", t0 + 120 * minute) +
                            Event("ticker", "page_view", t0 + 300 * minute);
  ASSERT_EQ(Cli({"produce", "--log", log(), "--topic", "events", "--partitions", "2"},
                Event("w", "add_to_cart", t0) + consent("w", false, t0 + 60 * minute) + after)
                .exit_code,
            0);
  ASSERT_EQ(
      Cli({"produce", "--log", scratch() + "/range", "--topic", "events", "--partitions", "2"},
          after)
          .exit_code,
      0);
  Write("live", Job("shop", 5, "output: {shared_audience: shared}\n"));
  Write("batch", std::regex_replace(Job("shop-range", 5, "output: {shared_audience: shared}\n"),
                                    std::regex("log: log"), "log: range"));
  auto shared_has_w = [&] {
    return Cli({"audience", "--store", scratch() + "/shared", "--segment", "cart_abandoned"})
               .out.find("w\n") != std::string::npos;
  };
  ASSERT_EQ(Cli({"run", Path("live"), "--bounded"}).exit_code, 0);
  const std::string changes = Consume("shop.memberships");
  EXPECT_NE(
      changes.find(R"("user_id":"w","change":"exited","at":)" + std::to_string(t0 + 60 * minute)),
      std::string::npos)
      << changes;
  EXPECT_TRUE(Audience("live", "cart_abandoned").empty());
  EXPECT_FALSE(shared_has_w());

  ASSERT_EQ(Cli({"run", Path("batch"), "--bounded"}).exit_code, 0);
  EXPECT_EQ(Audience("batch", "cart_abandoned"), std::vector<std::string>({"w"}))
      << "the batch never saw the withdrawal";
  EXPECT_FALSE(shared_has_w()) << "a write without newer consent added w back";
  Outcome health = Cli({"health", Path("batch"), "--json"});
  // Its one write (w entering cart_abandoned) was blocked.
  EXPECT_NE(health.out.find(
                R"("shared_audience_store":{"applied":0,"duplicates":0,"stale":0,"blocked":1})"),
            std::string::npos)
      << health.out.substr(health.out.find("\"late\""));

  // Newer consent, then a new cart: the live job enters w again, and the store takes it.
  ASSERT_EQ(
      Cli({"produce", "--log", log(), "--topic", "events"},
          consent("w", true, t0 + 360 * minute) + Event("w", "add_to_cart", t0 + 420 * minute) +
              Event("ticker", "page_view", t0 + 540 * minute))
          .exit_code,
      0);
  ASSERT_EQ(Cli({"run", Path("live"), "--bounded"}).exit_code, 0);
  EXPECT_EQ(Audience("live", "cart_abandoned"), std::vector<std::string>({"w"}));
  EXPECT_TRUE(shared_has_w());
}

}  // namespace
}  // namespace segflow
