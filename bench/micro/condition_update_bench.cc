// Each condition's update through SegmentProgram: AddEvent of a projected event, then
// ProcessInstant for every instant of that user up to the event's ts (the keyed task's
// per-event work, without the state store), one job per condition kind (spec §5).
//
// Workload: kUsers users; in round r every user gets one event at
// kStart + r * kRoundMs + u (so a 1h window holds ~12 of a user's events). Which event a
// user gets is a fixed pseudo-random function of (r, u), and the thresholds sit near the
// typical window values, so every condition changes truth, and so membership, often. States are
// warmed for kWarmupRounds first (windows full, as in a long replay) and the warm-up must have
// produced membership changes, or the case is broken. Items are events; "changes" counts the
// membership changes per event.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/micro/bench_support.h"

namespace segflow::microbench {
namespace {

constexpr size_t kUsers = 1024;
constexpr int64_t kStart = 1777593600000;  // 2026-05-01T00:00:00Z
constexpr int64_t kRoundMs = 5 * 60 * 1000;
constexpr uint64_t kWarmupRounds = 48;

struct ConditionCase {
  const char* name;
  const char* blocks;    // top-level job blocks (profile, consent)
  const char* segments;  // the job's segments
  // The event of user u in round r (type and props; user and ts are set by the driver).
  std::function<void(uint64_t r, uint64_t u, Event* e)> make;
};

// A fixed pseudo-random number of (round, user) in [0, n): splitmix64 of both.
uint64_t Pick(uint64_t r, uint64_t u, uint64_t n) {
  uint64_t h = r * 0x9e3779b97f4a7c15ull + u + 1;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return (h ^ (h >> 31)) % n;
}

// 10, 20, ..., 100.
Value Price(uint64_t r, uint64_t u) {
  return Value::Double(10.0 + static_cast<double>(Pick(r, u, 10)) * 10.0);
}

void Buy(uint64_t r, uint64_t u, Event* e) {
  e->type = "buy";
  e->props = Value::Object({{"price", Price(r, u)}});
}

// Thresholds sit near the workload's typical window values, so truth flips often.
const std::vector<ConditionCase>& Cases() {
  static const auto* cases = new std::vector<ConditionCase>{
      {"count", "", "  - id: s\n    when: {count: {event: view, window: 1h, at_least: 6}}\n",
       [](uint64_t r, uint64_t u, Event* e) { e->type = Pick(r, u, 2) == 0 ? "view" : "click"; }},
      {"sum", "", "  - id: s\n    when: {sum: {event: buy, field: price, window: 1h, gte: 660}}\n",
       Buy},
      {"avg", "", "  - id: s\n    when: {avg: {event: buy, field: price, window: 1h, gte: 55}}\n",
       Buy},
      {"min", "", "  - id: s\n    when: {min: {event: buy, field: price, window: 1h, gt: 10}}\n",
       Buy},
      {"max", "", "  - id: s\n    when: {max: {event: buy, field: price, window: 1h, lt: 100}}\n",
       Buy},
      {"distinct", "",
       "  - id: s\n    when: {distinct: {event: play, field: genre, window: 1h, at_least: 7}}\n",
       [](uint64_t r, uint64_t u, Event* e) {
         static const char* const kGenres[] = {"drama", "comedy", "documentary", "news",
                                               "sport", "kids",   "music",       "jazz"};
         e->type = "play";
         e->props = Value::Object({{"genre", Value::String(kGenres[Pick(r, u, 8)])}});
       }},
      {"absence", "",
       "  - id: s\n    when: {absence: {after: {event: add}, missing: {event: buy}, within: "
       "30m}}\n",
       [](uint64_t r, uint64_t u, Event* e) {
         const uint64_t k = Pick(r, u, 12);
         e->type = k == 0 ? "add" : (k == 1 ? "buy" : "view");
       }},
      {"sequence", "",
       "  - id: s\n    when: {sequence: {steps: [{event: a}, {event: b}, {event: c}], within: 30m, "
       "window: 1h}}\n",
       [](uint64_t r, uint64_t u, Event* e) {
         static const char* const kTypes[] = {"a", "b", "c", "x"};
         e->type = kTypes[Pick(r, u, 4)];
       }},
      {"profile", "profile: {event: identify}\n", "  - id: s\n    when: {profile: {tier: gold}}\n",
       [](uint64_t r, uint64_t u, Event* e) {
         if (Pick(r, u, 4) == 0) {
           e->type = "identify";
           e->props =
               Value::Object({{"tier", Value::String(Pick(r, u + 1, 2) == 0 ? "gold" : "silver")},
                              {"country", Value::String("fr")}});
         } else {
           e->type = "view";
         }
       }},
      {"consent", "consent: {event: consent, field: granted, default: granted}\n",
       "  - id: s\n    when: {count: {event: view, window: 1h, at_least: 1}}\n",
       [](uint64_t r, uint64_t u, Event* e) {
         if (Pick(r, u, 6) == 0) {
           e->type = "consent";
           e->props = Value::Object({{"granted", Value::Bool(Pick(r, u + 1, 2) == 0)}});
         } else {
           e->type = "view";
         }
       }},
      {"segment_ref", "",
       "  - id: base\n    when: {count: {event: view, window: 1h, at_least: 6}}\n"
       "  - id: s\n    when: {all: [{segment: base}, {not: {count: {event: buy, window: 30m, "
       "at_least: 1}}}]}\n",
       [](uint64_t r, uint64_t u, Event* e) {
         const uint64_t k = Pick(r, u, 10);
         e->type = k == 0 ? "buy" : (k < 6 ? "view" : "click");
       }},
  };
  return *cases;
}

class Driver {
 public:
  explicit Driver(const ConditionCase& c)
      : case_(c), program_(CompileBenchJob(ParseBenchJob(c.segments, c.blocks))) {
    for (size_t u = 0; u < kUsers; ++u) {
      users_.push_back("u" + std::to_string(u));
      states_.push_back(program_->NewUserState());
    }
  }

  // The projected events of the next round, one per user in user order.
  void Prepare(std::vector<ProjectedEvent>* out) {
    out->clear();
    Event e;
    for (uint64_t u = 0; u < kUsers; ++u) {
      e.props = Value::Object({});
      case_.make(round_, u, &e);
      e.user = users_[u];
      e.ts = kStart + static_cast<int64_t>(round_) * kRoundMs + static_cast<int64_t>(u);
      out->emplace_back();
      program_->Project(e, seq_++, &out->back());
    }
    ++round_;
  }

  // The measured part: every user's event, then its instants through the event's ts.
  void Apply(std::vector<ProjectedEvent>* events) {
    for (size_t u = 0; u < kUsers; ++u) {
      UserState* st = states_[u].get();
      const int64_t ts = (*events)[u].ts;
      program_->AddEvent(st, std::move((*events)[u]));
      for (auto t = program_->NextInstant(*st); t && *t <= ts; t = program_->NextInstant(*st)) {
        program_->ProcessInstant(st, *t, &changes_);
      }
    }
  }

  uint64_t TakeChanges() {
    const uint64_t n = changes_.size();
    changes_.clear();
    return n;
  }

 private:
  const ConditionCase& case_;
  std::shared_ptr<const SegmentProgram> program_;
  std::vector<std::string> users_;
  std::vector<std::unique_ptr<UserState>> states_;
  std::vector<MembershipChange> changes_;
  uint64_t round_ = 0;
  uint64_t seq_ = 0;
};

void BM_ConditionUpdate(benchmark::State& state, const ConditionCase* c) {
  Driver driver(*c);
  std::vector<ProjectedEvent> batch;
  uint64_t warm_changes = 0;
  for (uint64_t r = 0; r < kWarmupRounds; ++r) {
    driver.Prepare(&batch);
    driver.Apply(&batch);
    warm_changes += driver.TakeChanges();
  }
  if (warm_changes == 0) {
    state.SkipWithError("the workload never changes membership: the case measures nothing");
    return;
  }
  uint64_t changes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    driver.Prepare(&batch);
    state.ResumeTiming();
    driver.Apply(&batch);
    changes += driver.TakeChanges();
  }
  const int64_t events = state.iterations() * static_cast<int64_t>(kUsers);
  state.SetItemsProcessed(events);
  state.counters["changes"] = static_cast<double>(changes) / static_cast<double>(events);
}

[[maybe_unused]] const bool kRegistered = [] {
  for (const ConditionCase& c : Cases()) {
    benchmark::RegisterBenchmark((std::string("BM_ConditionUpdate/") + c.name).c_str(),
                                 BM_ConditionUpdate, &c);
  }
  return true;
}();

}  // namespace
}  // namespace segflow::microbench
