// SegmentProgram::Explain / ExplainUser: the explained truth is the engine's, and the
// evidence names the events that decide it. The property test checks the root truth
// against the independent reference evaluator on random cases.
#include "operators/segment/explain.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "random_events.h"
#include "reference_evaluator.h"
#include "segment_test_util.h"

namespace segflow {
namespace {

using segtest::In;

// The history of `user` among `events` (seq = position, the log order), projected.
std::vector<ExplainEvent> History(const SegmentProgram& program, const std::vector<In>& events,
                                  const std::string& user) {
  std::vector<ExplainEvent> out;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].user != user) continue;
    ExplainEvent e;
    e.event = segtest::MakeEvent(events[i]);
    program.Project(e.event, i, &e.projected);
    out.push_back(std::move(e));
  }
  return out;
}

uint32_t SegmentIndex(const JobSpec& job, const std::string& id) {
  for (uint32_t i = 0; i < job.segments.size(); ++i) {
    if (job.segments[i].id == id) return i;
  }
  ADD_FAILURE() << "no segment " << id;
  return 0;
}

struct Fixture {
  JobSpec job;
  std::shared_ptr<const SegmentProgram> program;
  std::vector<In> events;

  SegmentExplanation Explain(const std::string& segment, const std::string& user, int64_t t) const {
    return ExplainUser(*program, History(*program, events, user), SegmentIndex(job, segment), t);
  }
  // Whether the engine (KeyedEvaluator, as the runtime drives it) has `user` in `segment` at t.
  bool EngineMember(const std::string& segment, const std::string& user, int64_t t) const {
    bool member = false;
    for (const std::string& c : segtest::Evaluate(job, events, t)) {
      if (c.rfind(segment + " " + user + " ", 0) != 0) continue;
      member = c[segment.size() + user.size() + 2] == '+';
    }
    return member;
  }
};

Fixture Make(const std::string& segments, std::vector<In> events, const std::string& blocks = "") {
  Fixture f;
  f.job = segtest::ParseJob(segments, blocks);
  f.program = segtest::Compile(f.job);
  f.events = std::move(events);
  return f;
}

std::vector<int64_t> EvidenceTimes(const ExplainNode& n) {
  std::vector<int64_t> out;
  for (const EvidenceEvent& e : n.events) out.push_back(e.ts);
  return out;
}

const Value* FactOf(const ExplainNode& n, const std::string& key) {
  for (const auto& [k, v] : n.facts) {
    if (k == key) return &v;
  }
  return nullptr;
}

TEST(ExplainTest, CountWindowTruthCountAndEvents) {
  Fixture f = Make("  - id: s\n    when: {count: {event: view, window: 10s, at_least: 2}}\n",
                   {{"u", "view", 1000, R"({"page":"a"})"},
                    {"u", "click", 2000},
                    {"u", "view", 5000, R"({"page":"b"})"},
                    {"u", "view", 20000}});
  for (int64_t t : {1000, 4999, 5000, 10999, 11000, 15000, 20000, 40000}) {
    SCOPED_TRACE(t);
    SegmentExplanation x = f.Explain("s", "u", t);
    EXPECT_TRUE(x.known_user);
    EXPECT_EQ(x.root.holds, f.EngineMember("s", "u", t));
    EXPECT_EQ(x.membership.member, x.root.holds);
    EXPECT_EQ(x.root.kind, "count");
    EXPECT_EQ(x.root.text, "count(view) >= 2 in 10s");
  }
  SegmentExplanation x = f.Explain("s", "u", 6000);
  EXPECT_TRUE(x.root.holds);
  EXPECT_EQ(EvidenceTimes(x.root), (std::vector<int64_t>{1000, 5000}));
  EXPECT_EQ(FactOf(x.root, "count")->as_int(), 2);
  EXPECT_EQ(x.membership.since, 5000);
  EXPECT_EQ(x.verdict, "member since 1970-01-01T00:00:05.000Z");
  // 1000 left the window at 11000: [ts, ts + window).
  x = f.Explain("s", "u", 11000);
  EXPECT_FALSE(x.root.holds);
  EXPECT_EQ(EvidenceTimes(x.root), (std::vector<int64_t>{5000}));
  EXPECT_EQ(x.changes.size(), 2u);
}

// Values that left the window at an instant nobody was woken for (the sum was below its
// lower bound, so the expiry could not change the truth) are not in the facts.
TEST(ExplainTest, SumFactsLeaveOutExpiredValues) {
  Fixture f = Make("  - id: s\n    when: {sum: {event: pay, field: amount, window: 10s, gt: 100}}\n",
                   {{"u", "pay", 1000, R"({"amount":60})"}, {"u", "pay", 5000, R"({"amount":30})"}});
  SegmentExplanation x = f.Explain("s", "u", 6000);
  EXPECT_EQ(FactOf(x.root, "sum")->as_number(), 90);
  EXPECT_EQ(FactOf(x.root, "values")->as_int(), 2);
  x = f.Explain("s", "u", 12000);
  EXPECT_FALSE(x.root.holds);
  EXPECT_EQ(FactOf(x.root, "sum")->as_number(), 30);
  EXPECT_EQ(FactOf(x.root, "values")->as_int(), 1);
  EXPECT_EQ(EvidenceTimes(x.root), (std::vector<int64_t>{5000}));
  x = f.Explain("s", "u", 20000);
  EXPECT_EQ(FactOf(x.root, "sum")->as_number(), 0);
  EXPECT_EQ(FactOf(x.root, "values")->as_int(), 0);
}

TEST(ExplainTest, EvidenceCarriesTheKeyProperties) {
  Fixture f = Make("  - id: s\n    when: {sum: {event: pay, field: amount, window: 1h, gte: 100, where: {currency: EUR}}}\n",
                   {{"u", "pay", 1000, R"({"amount":60,"currency":"EUR","note":"x"})"},
                    {"u", "pay", 2000, R"({"amount":70,"currency":"USD"})"},
                    {"u", "pay", 3000, R"({"amount":50,"currency":"EUR"})"}});
  SegmentExplanation x = f.Explain("s", "u", 3000);
  EXPECT_TRUE(x.root.holds);
  EXPECT_EQ(FactOf(x.root, "sum")->as_number(), 110);
  EXPECT_EQ(FactOf(x.root, "values")->as_int(), 2);
  ASSERT_EQ(x.root.events.size(), 2u);
  EXPECT_EQ(x.root.events[0].props.ToJson(), R"({"currency":"EUR","amount":60})");
  EXPECT_EQ(x.root.events[1].type, "pay");
  EXPECT_EQ(x.root.events[1].seq, 2u);
}

TEST(ExplainTest, AbsenceNamesTheAfterEventAndDeadline) {
  Fixture f = Make("  - id: s\n    when: {absence: {after: {event: cart}, missing: {event: buy}, within: 10s}}\n",
                   {{"u", "cart", 1000}, {"u", "buy", 3000}, {"u", "cart", 4000}, {"u", "cart", 6000}});
  for (int64_t t : {1000, 3000, 11000, 13999, 14000, 20000}) {
    SCOPED_TRACE(t);
    EXPECT_EQ(f.Explain("s", "u", t).root.holds, f.EngineMember("s", "u", t));
  }
  SegmentExplanation x = f.Explain("s", "u", 14000);
  EXPECT_TRUE(x.root.holds);
  EXPECT_EQ(FactOf(x.root, "pending_after")->as_int(), 4000);
  EXPECT_EQ(FactOf(x.root, "deadline")->as_int(), 14000);
  // The buy cancelled the first cart; the deadline runs from the cart after it.
  ASSERT_EQ(x.root.events.size(), 4u);
  EXPECT_EQ(x.root.events[0].role, "after");
  EXPECT_EQ(x.root.events[1].role, "missing");
  EXPECT_EQ(x.root.events[2].role, "after");
  EXPECT_EQ(EvidenceTimes(x.root), (std::vector<int64_t>{1000, 3000, 4000, 6000}));
  x = f.Explain("s", "u", 13999);
  EXPECT_FALSE(x.root.holds);
}

TEST(ExplainTest, SequenceNamesStepsAndChainEnd) {
  Fixture f = Make("  - id: s\n    when: {sequence: {steps: [{event: a}, {event: b}], within: 10s, window: 5s}}\n",
                   {{"u", "b", 500}, {"u", "a", 1000}, {"u", "b", 1000}, {"u", "b", 3000}});
  for (int64_t t : {1000, 2999, 3000, 7999, 8000}) {
    SCOPED_TRACE(t);
    EXPECT_EQ(f.Explain("s", "u", t).root.holds, f.EngineMember("s", "u", t));
  }
  SegmentExplanation x = f.Explain("s", "u", 4000);
  EXPECT_TRUE(x.root.holds);
  EXPECT_EQ(FactOf(x.root, "chain_end")->as_int(), 3000);
  EXPECT_EQ(FactOf(x.root, "holds_until")->as_int(), 8000);
  ASSERT_EQ(x.root.events.size(), 4u);
  EXPECT_EQ(x.root.events[1].role, "step 1");
  EXPECT_EQ(x.root.events[3].role, "step 2");
  // Equal timestamps do not chain (strict order): at 2999 there is no complete chain.
  EXPECT_FALSE(f.Explain("s", "u", 2999).root.holds);
}

TEST(ExplainTest, AllNotChildrenAndUnknownUser) {
  Fixture f = Make(
      "  - id: s\n    when:\n      all:\n        - count: {event: view, window: 10s, at_least: 1}\n"
      "        - not: {count: {event: buy, window: 10s, at_least: 1}}\n"
      "  - id: never\n    when: {count: {event: buy, at_most: 0}}\n",
      {{"u", "view", 1000}, {"u", "buy", 2000}});
  SegmentExplanation x = f.Explain("s", "u", 1500);
  EXPECT_TRUE(x.root.holds);
  ASSERT_EQ(x.root.children.size(), 2u);
  EXPECT_TRUE(x.root.children[0].holds);
  EXPECT_TRUE(x.root.children[1].holds);
  EXPECT_FALSE(x.root.children[1].children.at(0).holds);
  x = f.Explain("s", "u", 2000);
  EXPECT_FALSE(x.root.holds);
  EXPECT_FALSE(x.root.children[1].holds);
  EXPECT_EQ(EvidenceTimes(x.root.children[1].children[0]), (std::vector<int64_t>{2000}));
  EXPECT_EQ(x.root.holds, f.EngineMember("s", "u", 2000));

  // A user with no events: `at_most: 0` holds, yet unknown users are in no segment.
  x = f.Explain("never", "nobody", 5000);
  EXPECT_FALSE(x.known_user);
  EXPECT_TRUE(x.root.holds);
  EXPECT_FALSE(x.membership.member);
  EXPECT_NE(x.verdict.find("no events"), std::string::npos);
  // Events after T do not make the user known at T.
  x = f.Explain("never", "u", 999);
  EXPECT_FALSE(x.known_user);
  x = f.Explain("never", "u", 1000);
  EXPECT_TRUE(x.known_user);
  EXPECT_TRUE(x.membership.member);
}

TEST(ExplainTest, SegmentReferenceAndProfile) {
  Fixture f = Make(
      "  - id: gold\n    when: {profile: {tier: gold}}\n"
      "  - id: gold_viewer\n    when:\n      all:\n        - segment: gold\n"
      "        - count: {event: view, at_least: 1}\n",
      {{"u", "identify", 1000, R"({"tier":"silver"})"},
       {"u", "view", 2000},
       {"u", "identify", 3000, R"({"tier":"gold"})"}},
      "profile: {event: identify}\n");
  SegmentExplanation x = f.Explain("gold_viewer", "u", 2500);
  EXPECT_FALSE(x.root.holds);
  ASSERT_EQ(x.root.children.size(), 2u) << x.root.text;
  ASSERT_NE(FactOf(x.root.children[0], "member"), nullptr) << x.root.children[0].text;
  EXPECT_FALSE(FactOf(x.root.children[0], "member")->as_bool());
  const SegmentExplanation gold = f.Explain("gold", "u", 2500);
  const Value* tier = FactOf(gold.root, "tier");
  ASSERT_NE(tier, nullptr);
  EXPECT_EQ(tier->Find("value")->as_string(), "silver");
  EXPECT_FALSE(tier->Find("holds")->as_bool());

  x = f.Explain("gold_viewer", "u", 3000);
  EXPECT_TRUE(x.root.holds);
  ASSERT_EQ(x.root.children.size(), 2u);
  ASSERT_NE(FactOf(x.root.children[0], "since"), nullptr);
  EXPECT_TRUE(FactOf(x.root.children[0], "member")->as_bool());
  EXPECT_EQ(FactOf(x.root.children[0], "since")->as_int(), 3000);
  EXPECT_EQ(x.root.holds, f.EngineMember("gold_viewer", "u", 3000));
  x = f.Explain("gold", "u", 3000);
  ASSERT_EQ(x.root.events.size(), 1u);
  EXPECT_EQ(x.root.events[0].ts, 3000);
  EXPECT_EQ(x.root.events[0].role, "sets tier");
  EXPECT_EQ(x.root.events[0].props.ToJson(), R"({"tier":"gold"})");
}

TEST(ExplainTest, MembershipDurationCooldownAndConsent) {
  Fixture f = Make(
      "  - id: s\n    when: {count: {event: view, window: 100s, at_least: 1}}\n"
      "    membership: {duration: 5s, cooldown: 10s}\n",
      {{"u", "view", 1000}, {"u", "consent", 20000, R"({"granted":false})"}},
      "consent: {event: consent, field: granted, default: granted}\n");
  SegmentExplanation x = f.Explain("s", "u", 3000);
  EXPECT_TRUE(x.membership.member);
  EXPECT_EQ(x.membership.since, 1000);
  EXPECT_EQ(x.membership.until, 6000);
  EXPECT_EQ(x.membership.consent, true);
  // Expired at 6000 while the condition still holds: not re-armed, cooling down.
  x = f.Explain("s", "u", 7000);
  EXPECT_TRUE(x.root.holds);
  EXPECT_FALSE(x.membership.member);
  EXPECT_FALSE(x.membership.armed);
  EXPECT_EQ(x.membership.cooldown_until, 16000);
  EXPECT_EQ(x.membership.member, f.EngineMember("s", "u", 7000));
  EXPECT_NE(x.verdict.find("not re-armed"), std::string::npos);
  // Consent withdrawn: the condition still holds, c(t) does not.
  x = f.Explain("s", "u", 20000);
  EXPECT_TRUE(x.root.holds);
  EXPECT_EQ(x.membership.consent, false);
  EXPECT_FALSE(x.membership.condition);
  ASSERT_EQ(x.changes.size(), 2u);
  EXPECT_TRUE(x.changes[0].entered);
  EXPECT_EQ(x.changes[1].at, 6000);
}

// Property: on random cases of every condition family, c(T) from Explain (consent and the
// root's truth) equals the reference evaluator's condition at T. The reference exposes
// membership only, so it runs a copy of the job in which the explained segment has no
// membership rules: there a known user is a member exactly when c holds.
TEST(ExplainPropertyTest, RootTruthEqualsReference) {
  using namespace reference;
  int seeds = 40;
  if (const char* env = std::getenv("SEGFLOW_PROPERTY_SEEDS")) seeds = std::max(1, std::atoi(env) / 5);
  const Family families[] = {Family::kCounts,   Family::kMembership, Family::kConsent,
                             Family::kProfile,  Family::kAbsence,    Family::kSequence,
                             Family::kSegmentRefs};
  size_t checks = 0;
  for (Family family : families) {
    for (int seed = 1; seed <= seeds; ++seed) {
      auto rc = MakeRandomCase(family, static_cast<uint64_t>(seed));
      ASSERT_TRUE(rc.ok()) << rc.status().ToString();
      const RandomCase& c = *rc;
      auto program = SegmentProgram::Compile(c.job);
      if (!program.ok()) continue;  // a family this build refuses is reported by its own test
      ReferenceEvaluator full(c.job, c.arrival);
      // The users' on-time events.
      std::map<std::string, std::vector<ExplainEvent>> histories;
      int64_t first = INT64_MAX;
      for (const LogRecord& r : c.arrival) {
        if (full.IsLate(r.partition, r.offset)) continue;
        ExplainEvent e;
        e.event = r.event;
        (*program)->Project(r.event, r.offset, &e.projected);
        histories[r.event.user].push_back(std::move(e));
        first = std::min(first, r.event.ts);
      }
      Rng rng(static_cast<uint64_t>(seed) * 7919 + static_cast<uint64_t>(family));
      std::vector<int64_t> times = {c.until, first - 1};
      for (int i = 0; i < 4; ++i) times.push_back(rng.Between(first, c.until));
      for (uint32_t seg = 0; seg < c.job.segments.size(); ++seg) {
        JobSpec stripped = c.job;
        stripped.segments[seg].membership = Membership();
        ReferenceEvaluator ref(stripped, c.arrival);
        for (int64_t t : times) {
          const std::vector<std::string> members = ref.MembersAt(c.job.segments[seg].id, t);
          const std::set<std::string> holds(members.begin(), members.end());
          const std::vector<std::string> real = full.MembersAt(c.job.segments[seg].id, t);
          const std::set<std::string> real_members(real.begin(), real.end());
          for (const auto& [user, history] : histories) {
            SegmentExplanation x = ExplainUser(**program, history, seg, t);
            const bool c_of_t = x.known_user && x.membership.condition;
            ++checks;
            ASSERT_EQ(c_of_t, holds.count(user) == 1)
                << "segment " << c.job.segments[seg].id << " user " << user << " at " << t << "\n"
                << c.Describe();
            ASSERT_EQ(x.membership.member, real_members.count(user) == 1)
                << "membership of segment " << c.job.segments[seg].id << " user " << user << " at "
                << t << "\n" << c.Describe();
          }
        }
      }
    }
  }
  EXPECT_GT(checks, 1000u);
}

}  // namespace
}  // namespace segflow
