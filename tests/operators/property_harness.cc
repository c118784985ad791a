#include "property_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "engine/common/key_group.h"
#include "engine/state_test_dir.h"
#include "operators/runtime/keyed_record_sorter.h"
#include "operators/segment/keyed_evaluator.h"
#include "operators/segment/user_batch.h"

namespace segflow::reference {
namespace {

constexpr int kDefaultSeeds = 300;
constexpr int kRearrangements = 2;

int SeedCount() {
  const char* env = std::getenv("SEGFLOW_PROPERTY_SEEDS");
  if (env == nullptr) return kDefaultSeeds;
  return std::max(1, std::atoi(env));
}

std::optional<uint64_t> OnlySeed() {
  const char* env = std::getenv("SEGFLOW_PROPERTY_SEED");
  if (env == nullptr) return std::nullopt;
  return std::strtoull(env, nullptr, 10);
}

std::string ChangesText(const std::vector<Change>& changes, const std::string& only_user) {
  std::string out;
  for (const Change& c : changes) {
    if (only_user.empty() || c.user == only_user) out += "  " + c.ToString() + "\n";
  }
  return out.empty() ? "  (none)\n" : out;
}

// Membership of every (user, segment) as of `t`, by replaying a changelog.
std::set<std::pair<uint32_t, std::string>> ReplayAt(const std::vector<Change>& changes,
                                                    int64_t t) {
  std::set<std::pair<uint32_t, std::string>> members;
  for (const Change& c : changes) {  // sorted by at
    if (c.at > t) break;
    if (c.entered) {
      members.insert({c.segment, c.user});
    } else {
      members.erase({c.segment, c.user});
    }
  }
  return members;
}

// The outcome of checking one arrival order; `user` names the user of the first
// discrepancy so the case can be cut down to that user's records.
struct Verdict {
  bool failed = false;
  std::string message;
  std::string user;
};

Verdict Fail(std::string message, std::string user) { return {true, std::move(message), std::move(user)}; }

// `reference` must be built from `arrival`.
Verdict CompareToReference(const RandomCase& c, const std::shared_ptr<const SegmentProgram>& program,
                           const std::vector<LogRecord>& arrival,
                           const ReferenceEvaluator& reference, EngineRun* run_out) {
  EngineRun run = RunEngine(program, c.partitions, arrival, c.until);
  if (!run.violations.empty()) {
    return Fail("engine output breaks its contract:\n" + run.violations, "");
  }
  const std::vector<Change> expected = reference.Changelog(c.until);
  if (run.changes != expected) {
    size_t i = 0;
    while (i < expected.size() && i < run.changes.size() && expected[i] == run.changes[i]) ++i;
    const std::string user = i < expected.size() ? expected[i].user : run.changes[i].user;
    return Fail("changelog differs from the reference; first difference at index " +
                    std::to_string(i) + ", user " + user + "\nexpected (reference) for " + user +
                    ":\n" + ChangesText(expected, user) + "actual (engine) for " + user + ":\n" +
                    ChangesText(run.changes, user),
                user);
  }
  // Membership at every instant the reference evaluated (and the one before it).
  std::set<int64_t> times = {c.until};
  for (int64_t t : reference.EvaluatedInstants()) {
    if (t <= c.until) times.insert(t);
    if (t - 1 <= c.until) times.insert(t - 1);
  }
  for (int64_t t : times) {
    const auto replayed = ReplayAt(run.changes, t);
    for (uint32_t s = 0; s < c.job.segments.size(); ++s) {
      std::vector<std::string> actual;
      for (const auto& [segment, user] : replayed) {
        if (segment == s) actual.push_back(user);
      }
      const std::vector<std::string> members = reference.MembersAt(c.job.segments[s].id, t);
      if (actual != members) {
        std::string text = "membership of " + c.job.segments[s].id + " at " + std::to_string(t) +
                           " differs: reference";
        for (const auto& m : members) text += " " + m;
        text += "; engine";
        for (const auto& m : actual) text += " " + m;
        return Fail(text, "");
      }
    }
  }
  for (uint32_t s = 0; s < run.final_members.size(); ++s) {
    const std::vector<std::string> members = reference.MembersAt(c.job.segments[s].id, c.until);
    if (run.final_members[s] != members) {
      std::string text = "KeyedEvaluator::Members(" + c.job.segments[s].id + ") after Finish(" +
                         std::to_string(c.until) + ") differs: reference";
      for (const auto& m : members) text += " " + m;
      text += "; engine";
      for (const auto& m : run.final_members[s]) text += " " + m;
      return Fail(text, "");
    }
  }
  if (run_out != nullptr) *run_out = std::move(run);
  return {};
}

// The full property for one case: the engine equals the reference, and other arrival
// orders of the same on-time records give the same changelog.
Verdict CheckCase(const RandomCase& c, const std::shared_ptr<const SegmentProgram>& program) {
  const ReferenceEvaluator reference(c.job, c.arrival);
  EngineRun first;
  Verdict v = CompareToReference(c, program, c.arrival, reference, &first);
  if (v.failed) return v;
  // Batch execution (issue 17): the same records sorted by user, each user evaluated
  // alone, give the streaming run's changelog and final members; every third seed under
  // a budget so small that the sort spills runs and merges them.
  const size_t budget = c.seed % 3 == 0 ? 16384 : size_t{1} << 30;
  EngineRun batch = RunBatch(program, c.arrival, c.until, budget);
  if (!batch.violations.empty() || batch.changes != first.changes ||
      batch.final_members != first.final_members) {
    return Fail("batch evaluation (sort budget " + std::to_string(budget) +
                    " bytes) differs from the streaming run\n" + batch.violations +
                    "streaming:\n" + ChangesText(first.changes, "") + "batch:\n" +
                    ChangesText(batch.changes, ""),
                "");
  }
  Rng rng(c.seed ^ 0x5eedf00dull);
  for (int k = 0; k < kRearrangements; ++k) {
    std::vector<LogRecord> other =
        Rearrange(c.arrival, reference, c.job.source.max_out_of_orderness_ms, &rng);
    EngineRun run = RunEngine(program, c.partitions, other, c.until);
    if (!run.violations.empty() || run.changes != first.changes) {
      std::string text = "another arrival order of the same on-time records changes the result\n";
      text += run.violations;
      text += "first order:\n" + ChangesText(first.changes, "") + "other order:\n" +
              ChangesText(run.changes, "") + "other order's records:\n";
      for (const LogRecord& r : other) text += RecordJson(r) + "\n";
      return Fail(text, "");
    }
  }
  return {};
}

// Offsets renumbered densely per partition, keeping the order.
std::vector<LogRecord> Renumber(std::vector<LogRecord> records) {
  std::map<uint32_t, std::vector<LogRecord*>> by_partition;
  for (LogRecord& r : records) by_partition[r.partition].push_back(&r);
  for (auto& [p, list] : by_partition) {
    std::sort(list.begin(), list.end(),
              [](const LogRecord* a, const LogRecord* b) { return a->offset < b->offset; });
    for (size_t i = 0; i < list.size(); ++i) list[i]->offset = i;
  }
  return records;
}

// Cuts a failing case down: one user's on-time records, then single records removed while
// it still fails. Dropping records never makes another record late (§2: max_prev only
// shrinks), and renumbering keeps the order, so ties resolve as before.
RandomCase Minimize(const RandomCase& failing, const Verdict& verdict,
                    const std::shared_ptr<const SegmentProgram>& program) {
  RandomCase best = failing;
  ReferenceEvaluator reference(failing.job, failing.arrival);
  std::vector<LogRecord> kept;
  for (const LogRecord& r : failing.arrival) {
    if (reference.IsLate(r.partition, r.offset)) continue;
    if (!verdict.user.empty() && r.event.user != verdict.user) continue;
    kept.push_back(r);
  }
  auto fails = [&](const RandomCase& trial) {
    return CompareToReference(trial, program, trial.arrival,
                              ReferenceEvaluator(trial.job, trial.arrival), nullptr)
        .failed;
  };
  RandomCase trial = failing;
  trial.arrival = Renumber(kept);
  if (fails(trial)) best = trial;
  for (size_t i = 0; i < best.arrival.size();) {  // each pass removes one record or advances
    trial = best;
    trial.arrival.erase(trial.arrival.begin() + static_cast<std::ptrdiff_t>(i));
    trial.arrival = Renumber(trial.arrival);
    if (!trial.arrival.empty() && fails(trial)) {
      best = trial;
    } else {
      ++i;
    }
  }
  return best;
}

}  // namespace

EngineRun RunEngine(const std::shared_ptr<const SegmentProgram>& program, uint32_t partitions,
                    const std::vector<LogRecord>& arrival, int64_t until) {
  const int64_t ooo = program->job().source.max_out_of_orderness_ms;
  KeyedEvaluator evaluator(program, partitions);
  EngineRun run;
  std::map<std::string, uint32_t> partition_of;
  for (const LogRecord& r : arrival) partition_of[r.event.user] = r.partition;
  std::map<uint32_t, int64_t> max_seen;
  std::map<uint32_t, int64_t> last_at;  // per partition: changes come in `at` order (§9)
  std::vector<KeyedChange> out;

  // Checks one call's output: its own promises (instants below / up to `limit`, (at, user)
  // order, only `partition`'s users) and `at` order per partition across calls.
  auto collect = [&](const std::string& call, const Status& status,
                     std::optional<uint32_t> partition, int64_t limit, bool inclusive) {
    if (!status.ok()) run.violations += call + " failed: " + status.ToString() + "\n";
    std::optional<Change> previous;
    for (const KeyedChange& kc : out) {
      Change c{kc.change.at, kc.user, kc.change.segment, kc.change.entered};
      auto known = partition_of.find(c.user);
      const uint32_t p = known == partition_of.end() ? UINT32_MAX : known->second;
      if (known == partition_of.end() || (partition.has_value() && p != *partition)) {
        run.violations += call + ": change of a user not in this partition: " + c.ToString() + "\n";
      }
      if (inclusive ? c.at > limit : c.at >= limit) {
        run.violations += call + ": change beyond its limit: " + c.ToString() + "\n";
      }
      if (c.segment >= program->job().segments.size()) {
        run.violations += call + ": unknown segment index: " + c.ToString() + "\n";
      }
      if (previous.has_value() &&
          std::tie(c.at, c.user) < std::tie(previous->at, previous->user)) {
        run.violations += call + ": out of (at, user) order: " + previous->ToString() + " then " +
                          c.ToString() + "\n";
      }
      auto [last, fresh] = last_at.try_emplace(p, c.at);
      if (!fresh && c.at < last->second) {
        run.violations += call + ": out of `at` order within partition " + std::to_string(p) +
                          ": " + c.ToString() + " after at " + std::to_string(last->second) +
                          "\n";
      }
      last->second = std::max(last->second, c.at);
      previous = c;
      run.changes.push_back(std::move(c));
    }
    out.clear();
  };

  for (const LogRecord& r : arrival) {
    auto seen = max_seen.find(r.partition);
    if (seen != max_seen.end() && r.event.ts < seen->second - ooo) continue;  // late (§2)
    ProjectedEvent projected;
    program->Project(r.event, r.offset, &projected);
    Status added = evaluator.AddEvent(r.partition, r.event.user, std::move(projected));
    if (!added.ok()) run.violations += "AddEvent failed: " + added.ToString() + "\n";
    int64_t& max = max_seen.try_emplace(r.partition, r.event.ts).first->second;
    max = std::max(max, r.event.ts);
    const int64_t watermark = max - ooo;
    Status advanced = evaluator.AdvanceWatermark(r.partition, watermark, &out);
    collect("AdvanceWatermark(" + std::to_string(r.partition) + ", " + std::to_string(watermark) +
                ")",
            advanced, r.partition, watermark, /*inclusive=*/false);
  }
  Status finished = evaluator.Finish(until, &out);
  collect("Finish(" + std::to_string(until) + ")", finished, std::nullopt, until,
          /*inclusive=*/true);

  std::sort(run.changes.begin(), run.changes.end(), ChangeLess);
  std::map<std::pair<std::string, uint32_t>, const Change*> previous;
  for (const Change& c : run.changes) {
    const Change*& prev = previous[{c.user, c.segment}];
    const bool expected_entry = prev == nullptr || !prev->entered;
    if (c.entered != expected_entry || (prev != nullptr && prev->at == c.at)) {
      run.violations += "entries and exits do not alternate at distinct instants: " +
                        (prev ? prev->ToString() : std::string("(start)")) + " then " +
                        c.ToString() + "\n";
    }
    prev = &c;
  }
  // The evaluator's own view of membership after Finish(until).
  for (uint32_t s = 0; s < program->job().segments.size(); ++s) {
    Result<std::vector<std::string>> members = evaluator.Members(s);
    if (!members.ok()) {
      run.violations += "Members failed: " + members.status().ToString() + "\n";
    } else {
      run.final_members.push_back(std::move(members.value()));
    }
  }
  return run;
}

EngineRun RunBatch(const std::shared_ptr<const SegmentProgram>& program,
                   const std::vector<LogRecord>& arrival, int64_t until, size_t sort_budget) {
  const int64_t ooo = program->job().source.max_out_of_orderness_ms;
  EngineRun run;
  StateTestDir dir;
  if (!dir.ok()) {
    run.violations = "no temporary folder\n";
    return run;
  }
  KeyedRecordSorter sorter(dir.Sub("sort"), sort_budget);
  std::map<uint32_t, int64_t> max_seen;
  for (const LogRecord& r : arrival) {
    auto seen = max_seen.find(r.partition);
    if (seen != max_seen.end() && r.event.ts < seen->second - ooo) continue;  // late (§2)
    int64_t& max = max_seen.try_emplace(r.partition, r.event.ts).first->second;
    max = std::max(max, r.event.ts);
    KeyedRecord record;
    record.partition = r.partition;
    record.user = r.event.user;
    record.user_hash = HashUser(r.event.user);
    program->Project(r.event, r.offset, &record.event);
    Status added = sorter.Add(record);
    if (!added.ok()) run.violations += "Add failed: " + added.ToString() + "\n";
  }
  std::vector<std::vector<std::string>> members(program->job().segments.size());
  std::vector<ProjectedEvent*> events;
  std::vector<MembershipChange> changes;
  Status s = sorter.ForEachUser([&](std::string_view user,
                                    const std::vector<KeyedRecord*>& records) -> Status {
    events.clear();
    for (KeyedRecord* r : records) events.push_back(&r->event);
    std::unique_ptr<UserState> state = program->NewUserState();
    changes.clear();
    SEGFLOW_RETURN_IF_ERROR(
        EvaluateUserBatch(*program, state.get(), events.data(), events.size(), until, &changes));
    for (const MembershipChange& c : changes) {
      if (c.at > until) run.violations += "batch: change beyond until\n";
      run.changes.push_back(Change{c.at, std::string(user), c.segment, c.entered});
    }
    for (uint32_t seg = 0; seg < members.size(); ++seg) {
      if (program->IsMember(*state, seg)) members[seg].push_back(std::string(user));
    }
    return Status::OK();
  });
  if (!s.ok()) run.violations += "ForEachUser failed: " + s.ToString() + "\n";
  std::sort(run.changes.begin(), run.changes.end(), ChangeLess);
  for (auto& m : members) std::sort(m.begin(), m.end());
  run.final_members = std::move(members);
  return run;
}

std::optional<std::string> CheckFamily(Family family) {
  const std::optional<uint64_t> only = OnlySeed();
  const uint64_t first = only.value_or(0);
  const uint64_t count = only.has_value() ? 1 : static_cast<uint64_t>(SeedCount());
  int failures = 0;
  std::optional<RandomCase> smallest;
  std::optional<Verdict> smallest_verdict;
  std::shared_ptr<const SegmentProgram> smallest_program;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    Result<RandomCase> made = MakeRandomCase(family, seed);
    if (!made.ok()) {
      ADD_FAILURE() << "seed " << seed << ": " << made.status().ToString();
      return std::nullopt;
    }
    const RandomCase& c = made.value();
    auto program = SegmentProgram::Compile(c.job);
    if (!program.ok()) {
      if (program.status().message().find("not supported yet") != std::string::npos) {
        return "the evaluator refuses this family: " + program.status().message();
      }
      ADD_FAILURE() << "Compile failed: " << program.status().ToString() << "\n" << c.Describe();
      return std::nullopt;
    }
    Verdict v = CheckCase(c, program.value());
    if (!v.failed) continue;
    ++failures;
    if (!smallest.has_value() || c.arrival.size() < smallest->arrival.size()) {
      smallest = c;
      smallest_verdict = v;
      smallest_program = program.value();
    }
  }
  if (failures > 0) {
    const RandomCase minimized = Minimize(*smallest, *smallest_verdict, smallest_program);
    const Verdict again =
        CompareToReference(minimized, smallest_program, minimized.arrival,
                           ReferenceEvaluator(minimized.job, minimized.arrival), nullptr);
    ADD_FAILURE() << failures << " of " << count << " seeds fail for family "
                  << FamilyName(family) << ". Smallest failing case:\n"
                  << smallest_verdict->message << smallest->Describe()
                  << "\nMinimized (one user, fewest records that still fail):\n"
                  << (again.failed ? again.message + minimized.Describe()
                                   : std::string("(does not fail once minimized)\n"));
  }
  return std::nullopt;
}

}  // namespace segflow::reference
