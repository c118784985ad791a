// StateMigration: a savepoint's user states carried into an edited job file.
//
// Property: random jobs of every condition family run over random logs, with the keyed
// state (RocksDB behind the write-back cache, as in the runtime) migrated mid-stream into
// the same segments reordered plus an added one. The kept segments' changes must equal an
// uninterrupted run's, record for record. Cases: what a restarted segment does.
#include "operators/segment/state_migration.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "jobs/job_parser.h"
#include "jobs/state_compatibility.h"
#include "operators/runtime/restore_migration.h"
#include "operators/segment/cached_user_state_store.h"
#include "operators/segment/keyed_evaluator.h"
#include "random_events.h"
#include "segment_test_util.h"
#include "tests/engine/state_test_dir.h"

namespace segflow {
namespace {

using reference::LogRecord;

// (at, user, segment id, entered)
using Row = std::tuple<int64_t, std::string, std::string, bool>;

class Driver {
 public:
  Driver(std::shared_ptr<const SegmentProgram> program, uint32_t partitions, const std::string& dir)
      : program_(std::move(program)), partitions_(partitions) {
    if (!dir.empty()) {  // else: states in memory (no migration)
      KeyGroupRange all = KeyGroupRange::ForSubtask(0, kDefaultMaxParallelism, 1);
      KeyedStateOptions small;
      small.write_buffer_bytes = 1u << 20;
      small.block_cache_bytes = 1u << 20;
      auto b = KeyedStateBackend::Open(dir, all, small);
      EXPECT_TRUE(b.ok()) << b.status().ToString();
      backend_ = std::move(b).value();
    }
    OpenEvaluator();
  }

  void Add(const LogRecord& r) {
    const int64_t ooo = program_->job().source.max_out_of_orderness_ms;
    auto seen = max_seen_.find(r.partition);
    if (seen != max_seen_.end() && r.event.ts < seen->second - ooo) return;  // late (§2)
    ProjectedEvent projected;
    program_->Project(r.event, r.offset, &projected);
    ASSERT_TRUE(evaluator_->AddEvent(r.partition, r.event.user, std::move(projected)).ok());
    int64_t& max = max_seen_.try_emplace(r.partition, r.event.ts).first->second;
    max = std::max(max, r.event.ts);
    std::vector<KeyedChange> out;
    ASSERT_TRUE(evaluator_->AdvanceWatermark(r.partition, max - ooo, &out).ok());
    Collect(out);
  }

  void Finish(int64_t until) {
    std::vector<KeyedChange> out;
    ASSERT_TRUE(evaluator_->Finish(until, &out).ok());
    Collect(out);
  }

  // Savepoint + restore into `to`: states written back, rewritten, the evaluator rebuilt.
  void MigrateTo(std::shared_ptr<const SegmentProgram> to, const std::vector<std::string>& kept) {
    std::vector<int64_t> watermarks;
    for (uint32_t p = 0; p < partitions_; ++p) watermarks.push_back(evaluator_->watermark(p));
    ASSERT_TRUE(evaluator_->Sync().ok());
    evaluator_.reset();
    auto migration = StateMigration::Plan(program_, to, kept);
    ASSERT_TRUE(migration.ok()) << migration.status().ToString();
    ASSERT_TRUE(MigrateKeyedState(**migration, backend_.get(), watermarks).ok());
    program_ = std::move(to);
    OpenEvaluator();
    ASSERT_TRUE(evaluator_->Restore(watermarks).ok());
  }

  // A version upgrade's handover: the savepoint of this run and of `backfill` (which ran
  // `to` over the same records) restored into `to`; `merged` segments take the backfill's
  // state, and the switch changes join the rows.
  void MergeTo(std::shared_ptr<const SegmentProgram> to, const std::vector<std::string>& kept,
               const std::vector<std::string>& merged, Driver* backfill) {
    std::vector<int64_t> watermarks;
    for (uint32_t p = 0; p < partitions_; ++p) watermarks.push_back(evaluator_->watermark(p));
    ASSERT_TRUE(evaluator_->Sync().ok());
    ASSERT_TRUE(backfill->evaluator_->Sync().ok());
    evaluator_.reset();
    auto migration = StateMigration::PlanMerge(program_, to, kept, backfill->program_, merged);
    ASSERT_TRUE(migration.ok()) << migration.status().ToString();
    std::vector<std::vector<SwitchChange>> switched;
    uint64_t misaligned = 0;
    ASSERT_TRUE(MigrateKeyedState(**migration, backend_.get(), watermarks, backfill->backend_.get(), &switched,
                                  &misaligned)
                    .ok());
    program_ = std::move(to);
    for (const auto& partition : switched) {
      for (const auto& c : partition) {
        rows_.emplace_back(c.change.at, c.user, program_->job().segments[c.change.segment].id, c.change.entered);
      }
    }
    OpenEvaluator();
    ASSERT_TRUE(evaluator_->Restore(watermarks).ok());
  }

  const std::vector<Row>& rows() const { return rows_; }

 private:
  void OpenEvaluator() {
    if (!backend_) {
      evaluator_ = std::make_unique<KeyedEvaluator>(program_, partitions_);
      return;
    }
    // A tiny cache: states go through RocksDB (serialized) all the time.
    auto store = CachedUserStateStore::Open(program_, backend_.get(), 3);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    evaluator_ = std::make_unique<KeyedEvaluator>(program_, partitions_, std::move(store).value());
  }
  void Collect(const std::vector<KeyedChange>& out) {
    for (const KeyedChange& c : out) {
      rows_.emplace_back(c.change.at, c.user, program_->job().segments[c.change.segment].id,
                         c.change.entered);
    }
  }

  std::shared_ptr<const SegmentProgram> program_;
  uint32_t partitions_;
  std::unique_ptr<KeyedStateBackend> backend_;
  std::unique_ptr<KeyedEvaluator> evaluator_;
  std::map<uint32_t, int64_t> max_seen_;
  std::vector<Row> rows_;
};

// `yaml` with its segments reversed and a new segment first (new matcher, new leaves).
// Edited as text: re-emitting through yaml-cpp would drop quotes ('5' is a string).
std::string Edited(const std::string& yaml) {
  const size_t begin = yaml.find("segments:\n") + std::string("segments:\n").size();
  size_t end = begin;  // the block: the lines indented under `segments:`
  while (end < yaml.size() && yaml.compare(end, 2, "  ") == 0) end = yaml.find('\n', end) + 1;
  std::vector<std::string> items;
  for (size_t at = begin; at < end;) {
    size_t next = yaml.find('\n', at) + 1;
    while (next < end && yaml.compare(next, 4, "  - ") != 0) next = yaml.find('\n', next) + 1;
    items.push_back(yaml.substr(at, next - at));
    at = next;
  }
  std::string block =
      "  - {id: zz_added, when: {count: {event: '*', where: {n: {exists: true}}, at_least: 2}}}\n";
  for (size_t i = items.size(); i-- > 0;) block += items[i];
  return yaml.substr(0, begin) + block + yaml.substr(end);
}

constexpr reference::Family kFamilies[] = {
    reference::Family::kCounts,  reference::Family::kMembership, reference::Family::kConsent,
    reference::Family::kProfile, reference::Family::kAbsence,    reference::Family::kSequence,
    reference::Family::kSegmentRefs};

std::vector<Row> KeptRows(std::vector<Row> rows, const std::set<std::string>& kept) {
  std::vector<Row> out;
  for (auto& r : rows) {
    if (kept.count(std::get<2>(r))) out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(StateMigrationTest, KeptSegmentsContinueExactlyAcrossAnEditedJob) {
  int cases = 0;
  for (auto family : kFamilies) {
    for (uint64_t seed = 0; seed < 8; ++seed) {
      auto made = reference::MakeRandomCase(family, seed);
      ASSERT_TRUE(made.ok()) << made.status().ToString();
      const reference::RandomCase& c = *made;
      auto program = SegmentProgram::Compile(c.job);
      if (!program.ok()) continue;  // a family this build refuses is covered elsewhere
      const std::string edited_text = Edited(c.job_text.yaml);
      JobParseResult edited = ParseJobText(edited_text, "/tmp/segflow-migration-test/job.yaml");
      ASSERT_TRUE(edited.ok()) << edited.ErrorText() << edited_text;
      auto to = SegmentProgram::Compile(edited.job);
      ASSERT_TRUE(to.ok()) << to.status().ToString();
      StateCarryOver carry = CompareJobState(c.job_text.yaml, edited_text);
      ASSERT_EQ(carry.refused, "");
      ASSERT_EQ(carry.kept.size(), c.job.segments.size()) << carry.Describe();
      std::set<std::string> kept(carry.kept.begin(), carry.kept.end());

      StateTestDir dir;
      Driver straight(*program, c.partitions, "");
      Driver migrated(*program, c.partitions, dir.Sub("migrated"));
      const size_t cut = c.arrival.size() * (1 + seed % 3) / 4;
      for (size_t i = 0; i < c.arrival.size(); ++i) {
        if (i == cut) migrated.MigrateTo(*to, carry.kept);
        straight.Add(c.arrival[i]);
        migrated.Add(c.arrival[i]);
      }
      straight.Finish(c.until);
      migrated.Finish(c.until);
      ASSERT_EQ(KeptRows(migrated.rows(), kept), KeptRows(straight.rows(), kept))
          << "family " << reference::FamilyName(family) << " cut " << cut << "\n"
          << c.Describe();
      ++cases;
    }
  }
  EXPECT_GT(cases, 40);
}

// Members at the end, by folding rows in order; false if some (segment, user) does not
// alternate entered / exited.
bool Fold(std::vector<Row> rows, const std::string& segment, std::set<std::string>* members) {
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return std::get<0>(a) < std::get<0>(b); });
  for (const Row& r : rows) {
    if (std::get<2>(r) != segment) continue;
    const bool was = members->count(std::get<1>(r)) > 0;
    if (was == std::get<3>(r)) return false;
    if (std::get<3>(r)) {
      members->insert(std::get<1>(r));
    } else {
      members->erase(std::get<1>(r));
    }
  }
  return true;
}

// Property (the handover of a version upgrade): random jobs and logs; at a cut, the run of
// the old file is merged with a backfill of the edited file over the same records (an
// added segment). Kept segments' changes equal the old file's uninterrupted run, record
// for record; the added segment's changes — switch records included — are a valid
// sequence that ends with the edited file's uninterrupted run's members.
TEST(StateMigrationTest, MergedHandoverKeepsKeptSegmentsAndSwitchesTheOthers) {
  int cases = 0;
  for (auto family : kFamilies) {
    for (uint64_t seed = 0; seed < 4; ++seed) {
      auto made = reference::MakeRandomCase(family, seed + 100);
      ASSERT_TRUE(made.ok()) << made.status().ToString();
      const reference::RandomCase& c = *made;
      auto program = SegmentProgram::Compile(c.job);
      if (!program.ok()) continue;
      const std::string edited_text = Edited(c.job_text.yaml);
      JobParseResult edited = ParseJobText(edited_text, "/tmp/segflow-migration-test/job.yaml");
      ASSERT_TRUE(edited.ok()) << edited.ErrorText() << edited_text;
      auto to = SegmentProgram::Compile(edited.job);
      ASSERT_TRUE(to.ok()) << to.status().ToString();
      StateCarryOver carry = CompareJobState(c.job_text.yaml, edited_text);
      ASSERT_EQ(carry.refused, "");
      std::set<std::string> kept(carry.kept.begin(), carry.kept.end());

      StateTestDir dir;
      Driver old_straight(*program, c.partitions, "");
      Driver new_straight(*to, c.partitions, "");
      Driver live(*program, c.partitions, dir.Sub("live"));
      Driver backfill(*to, c.partitions, dir.Sub("backfill"));
      const size_t cut = c.arrival.size() * (1 + seed % 3) / 4;
      for (size_t i = 0; i < c.arrival.size(); ++i) {
        if (i == cut) live.MergeTo(*to, carry.kept, {"zz_added"}, &backfill);
        old_straight.Add(c.arrival[i]);
        new_straight.Add(c.arrival[i]);
        live.Add(c.arrival[i]);
        if (i < cut) backfill.Add(c.arrival[i]);
      }
      old_straight.Finish(c.until);
      new_straight.Finish(c.until);
      live.Finish(c.until);
      ASSERT_EQ(KeptRows(live.rows(), kept), KeptRows(old_straight.rows(), kept))
          << "family " << reference::FamilyName(family) << " cut " << cut << "\n"
          << c.Describe();
      std::set<std::string> got, want;
      ASSERT_TRUE(Fold(live.rows(), "zz_added", &got)) << c.Describe();
      ASSERT_TRUE(Fold(new_straight.rows(), "zz_added", &want));
      EXPECT_EQ(got, want) << "family " << reference::FamilyName(family) << " cut " << cut << "\n" << c.Describe();
      ++cases;
    }
  }
  EXPECT_GT(cases, 20);
}

using segtest::In;

LogRecord Rec(const In& in, uint64_t offset) {
  return LogRecord{0, offset, segtest::MakeEvent(in)};
}

TEST(StateMigrationTest, RestartedSegmentsApplyTheirNewDefinitionFromTheRestorePosition) {
  const std::string before = R"(job: t
log: log
source: {topics: [events]}
segments:
  - id: buyers
    when: {count: {event: purchase, at_least: 1}}
  - id: browsers
    when: {count: {event: view, window: 100ms, at_least: 2}}
)";
  const std::string after = R"(job: t
log: log
source: {topics: [events]}
segments:
  - id: browsers
    when: {count: {event: view, window: 100ms, at_least: 2}}
  - id: buyers
    when: {count: {event: purchase, at_least: 2}}
  - id: idle
    when: {not: {count: {event: purchase, at_least: 1}}}
)";
  JobParseResult a = ParseJobText(before, "/tmp/j.yaml"), b = ParseJobText(after, "/tmp/j.yaml");
  ASSERT_TRUE(a.ok() && b.ok()) << a.ErrorText() << b.ErrorText();
  StateCarryOver carry = CompareJobState(before, after);
  EXPECT_EQ(carry.Describe(), "kept browsers; restarted buyers (changed), idle (added)");
  auto pa = SegmentProgram::Compile(a.job), pb = SegmentProgram::Compile(b.job);
  ASSERT_TRUE(pa.ok() && pb.ok());

  StateTestDir dir;
  Driver d(*pa, 1, dir.Sub("state"));
  std::vector<In> events = {{"u1", "purchase", 1},
                            {"u1", "view", 2},
                            {"u1", "view", 3},
                            {"u2", "view", 4},
                            {"u2", "x", 10}};
  uint64_t offset = 0;
  for (const In& e : events) d.Add(Rec(e, offset++));  // watermark 10: instants < 10 done
  d.MigrateTo(*pb, carry.kept);
  for (const In& e :
       std::vector<In>{{"u1", "purchase", 12}, {"u1", "purchase", 14}, {"u2", "view", 20}}) {
    d.Add(Rec(e, offset++));
  }
  d.Finish(200);
  std::vector<Row> expected = {
      {1, "u1", "buyers", true},
      {3, "u1", "browsers", true},
      // At the restore position (10) the changed `buyers` (its count restarted) no longer
      // holds for its member u1, who exits; the added `idle` holds for both users.
      {10, "u1", "buyers", false},
      {10, "u1", "idle", true},
      {10, "u2", "idle", true},
      {12, "u1", "idle", false},
      {14, "u1", "buyers", true},
      {20, "u2", "browsers", true},
      {102, "u1", "browsers", false},
      {104, "u2", "browsers", false},
  };
  std::vector<Row> rows = d.rows();
  std::sort(rows.begin(), rows.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(rows, expected);
}

TEST(StateMigrationTest, RefusesAKeptSegmentOfAnotherShape) {
  auto a = SegmentProgram::Compile(
      segtest::ParseJob("  - id: s\n    when: {count: {event: x, at_least: 1}}\n"));
  auto b = SegmentProgram::Compile(
      segtest::ParseJob("  - id: s\n    when: {all: [{count: {event: x, at_least: 1}}, {count: "
                        "{event: y, at_least: 1}}]}\n"));
  ASSERT_TRUE(a.ok() && b.ok());
  auto m = StateMigration::Plan(*a, *b, {"s"});
  EXPECT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("another shape"), std::string::npos) << m.status().ToString();
}

}  // namespace
}  // namespace segflow
