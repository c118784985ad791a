// KeyedEvaluator: per-partition timer heaps, (time, user) order, watermarks, Finish.
#include "operators/segment/keyed_evaluator.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "engine/state_test_dir.h"
#include "operators/segment/cached_user_state_store.h"
#include "segment_test_util.h"

namespace segflow {
namespace {

using segtest::Changes;
using segtest::In;

// Two segments whose instants come from timers as much as from events: window expiry,
// cooldown, absence deadline, duration.
constexpr const char* kTimedSegments =
    "  - id: w\n"
    "    when: {count: {event: a, window: 7ms, at_least: 2}}\n"
    "    membership: {cooldown: 3ms}\n"
    "  - id: ab\n"
    "    when: {absence: {after: {event: a}, missing: {event: b}, within: 5ms}}\n"
    "    membership: {duration: 4ms}\n";

class SegmentKeyedEvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    job_ = segtest::OneSegment("{count: {event: a, window: 10ms, at_least: 1}}");
    program_ = segtest::Compile(job_);
    ASSERT_TRUE(program_);
  }

  Status Add(KeyedEvaluator* ev, uint32_t partition, const In& in, uint64_t seq = 0) {
    ProjectedEvent pe;
    program_->Project(segtest::MakeEvent(in), seq, &pe);
    return ev->AddEvent(partition, in.user, std::move(pe));
  }

  Changes Advance(KeyedEvaluator* ev, uint32_t partition, int64_t w) {
    std::vector<KeyedChange> out;
    Status s = ev->AdvanceWatermark(partition, w, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return segtest::Render(job_, out);
  }

  JobSpec job_;
  std::shared_ptr<const SegmentProgram> program_;
};

TEST_F(SegmentKeyedEvaluatorTest, WatermarkEvaluatesInstantsBelowItInTimeThenUserOrder) {
  KeyedEvaluator ev(program_, 1);
  ASSERT_TRUE(Add(&ev, 0, {"zed", "a", 100}).ok());
  ASSERT_TRUE(Add(&ev, 0, {"amy", "a", 105}).ok());
  ASSERT_TRUE(Add(&ev, 0, {"bob", "a", 100}).ok());
  ASSERT_TRUE(Add(&ev, 0, {"cat", "a", 120}).ok());
  EXPECT_EQ(Advance(&ev, 0, 100), Changes{});  // instants < 100 only
  EXPECT_EQ(Advance(&ev, 0, 111),
            (Changes{"s bob +100", "s zed +100", "s amy +105", "s bob -110", "s zed -110"}));
  EXPECT_EQ(ev.watermark(0), 111);
  // A lower watermark changes nothing.
  EXPECT_EQ(Advance(&ev, 0, 50), Changes{});
  EXPECT_EQ(Advance(&ev, 0, 121), (Changes{"s amy -115", "s cat +120"}));
  auto members = ev.Members(0);
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(*members, std::vector<std::string>{"cat"});
  EXPECT_TRUE(*ev.IsMember("cat", 0));
  EXPECT_FALSE(*ev.IsMember("amy", 0));
  EXPECT_FALSE(*ev.IsMember("nobody", 0));
  EXPECT_EQ(ev.users(), 4u);
}

TEST_F(SegmentKeyedEvaluatorTest, EventBelowTheWatermarkIsRefused) {
  KeyedEvaluator ev(program_, 2);
  ASSERT_TRUE(Add(&ev, 0, {"u", "a", 100}).ok());
  Advance(&ev, 0, 200);
  Status s = Add(&ev, 0, {"v", "a", 150});
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  // At the watermark is on time; other partitions have their own watermark.
  EXPECT_TRUE(Add(&ev, 0, {"v", "a", 200}).ok());
  EXPECT_TRUE(Add(&ev, 1, {"w", "a", 150}).ok());
  EXPECT_EQ(Add(&ev, 5, {"x", "a", 150}).code(), Status::Code::kInvalidArgument);
}

TEST_F(SegmentKeyedEvaluatorTest, UserBelongsToOnePartition) {
  KeyedEvaluator ev(program_, 2);
  ASSERT_TRUE(Add(&ev, 1, {"u", "a", 100}).ok());
  EXPECT_EQ(Add(&ev, 0, {"u", "a", 101}).code(), Status::Code::kFailedPrecondition);
}

TEST_F(SegmentKeyedEvaluatorTest, PartitionsAdvanceIndependently) {
  KeyedEvaluator ev(program_, 2);
  ASSERT_TRUE(Add(&ev, 0, {"p0", "a", 100}).ok());
  ASSERT_TRUE(Add(&ev, 1, {"p1", "a", 100}).ok());
  EXPECT_EQ(Advance(&ev, 1, 1000), (Changes{"s p1 +100", "s p1 -110"}));
  EXPECT_EQ(Advance(&ev, 0, 105), (Changes{"s p0 +100"}));
  std::vector<KeyedChange> out;
  ASSERT_TRUE(ev.Finish(1000, &out).ok());
  EXPECT_EQ(segtest::Render(job_, out), (Changes{"s p0 -110"}));
}

TEST_F(SegmentKeyedEvaluatorTest, EarlierEventRearmsAUserWithALaterTimer) {
  KeyedEvaluator ev(program_, 1);
  ASSERT_TRUE(Add(&ev, 0, {"u", "a", 100}).ok());
  EXPECT_EQ(Advance(&ev, 0, 101), (Changes{"s u +100"}));  // next timer: 110
  ASSERT_TRUE(Add(&ev, 0, {"u", "a", 105}).ok());           // now 105 first, then 115
  ASSERT_TRUE(Add(&ev, 0, {"u", "a", 103}).ok());
  EXPECT_EQ(Advance(&ev, 0, 114), Changes{});  // the stale 110 entry is skipped
  EXPECT_EQ(Advance(&ev, 0, 116), (Changes{"s u -115"}));
}

TEST_F(SegmentKeyedEvaluatorTest, FinishMergesPartitionsInTimeThenUserOrder) {
  KeyedEvaluator ev(program_, 3);
  ASSERT_TRUE(Add(&ev, 2, {"a", "a", 100}).ok());
  ASSERT_TRUE(Add(&ev, 0, {"c", "a", 100}).ok());
  ASSERT_TRUE(Add(&ev, 1, {"b", "a", 104}).ok());
  std::vector<KeyedChange> out;
  ASSERT_TRUE(ev.Finish(110, &out).ok());
  EXPECT_EQ(segtest::Render(job_, out),
            (Changes{"s a +100", "s c +100", "s b +104", "s a -110", "s c -110"}));
  EXPECT_EQ(ev.watermark(1), 111);
  out.clear();
  ASSERT_TRUE(ev.Finish(std::numeric_limits<int64_t>::max(), &out).ok());
  EXPECT_EQ(segtest::Render(job_, out), (Changes{"s b -114"}));
}

TEST_F(SegmentKeyedEvaluatorTest, StreamingEqualsBoundedForAnyPartitioning) {
  JobSpec job = segtest::ParseJob(kTimedSegments);
  auto program = segtest::Compile(job);
  ASSERT_TRUE(program);
  std::mt19937_64 rng(5);
  std::vector<In> events;
  int64_t ts = 0;
  for (int i = 0; i < 400; ++i) {
    ts += static_cast<int64_t>(rng() % 3);
    events.push_back({"u" + std::to_string(rng() % 9), rng() % 3 ? "a" : "b", ts});
  }
  const Changes bounded = segtest::Evaluate(job, events, ts + 100);
  ASSERT_GT(bounded.size(), 50u);
  // Live: 3 partitions, each watermark trailing its own partition's events by up to 4ms,
  // events shuffled within that out-of-orderness.
  KeyedEvaluator ev(program, 3);
  std::vector<KeyedChange> live;
  // Arrival order: by ts plus a jitter of up to 4ms, so no event is late.
  std::vector<std::pair<int64_t, size_t>> arrival;
  for (size_t i = 0; i < events.size(); ++i) {
    arrival.emplace_back(events[i].ts + static_cast<int64_t>(rng() % 5), i);
  }
  std::sort(arrival.begin(), arrival.end());
  std::vector<size_t> order;
  for (const auto& [key, i] : arrival) order.push_back(i);
  std::vector<int64_t> max_ts(3, 0);
  for (size_t i : order) {
    const uint32_t p = static_cast<uint32_t>(std::hash<std::string>()(events[i].user) % 3);
    ProjectedEvent pe;
    program->Project(segtest::MakeEvent(events[i]), i, &pe);
    ASSERT_TRUE(ev.AddEvent(p, events[i].user, std::move(pe)).ok());
    max_ts[p] = std::max(max_ts[p], events[i].ts);
    ASSERT_TRUE(ev.AdvanceWatermark(p, max_ts[p] - 4, &live).ok());
  }
  ASSERT_TRUE(ev.Finish(ts + 100, &live).ok());
  // Same records; per user in the same order (partitions interleave differently).
  Changes streamed = segtest::Render(job, live);
  auto by_user = [](Changes c) {
    std::stable_sort(c.begin(), c.end(), [](const std::string& a, const std::string& b) {
      return a.substr(a.find(' ') + 1, a.rfind(' ') - a.find(' ')) <
             b.substr(b.find(' ') + 1, b.rfind(' ') - b.find(' '));
    });
    return c;
  };
  EXPECT_EQ(by_user(streamed), by_user(bounded));
}

// The runtime's store: states serialized into RocksDB behind a cache. A cache far smaller
// than the user count evicts and reloads states all the time; the changes must not differ
// from the in-memory store's by a single record.
TEST_F(SegmentKeyedEvaluatorTest, RocksDbStoreWithATinyCacheChangesNothing) {
  JobSpec job = segtest::ParseJob(std::string(kTimedSegments) +
      "  - id: seq\n"
      "    when: {sequence: {steps: [{event: a}, {event: b}], within: 6ms}}\n");
  auto program = segtest::Compile(job);
  ASSERT_TRUE(program);
  StateTestDir dir;
  ASSERT_TRUE(dir.ok());
  KeyedStateOptions options;
  auto backend = KeyedStateBackend::Open(dir.Sub("keyed"), KeyGroupRange{0, 127}, options);
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  auto store = CachedUserStateStore::Open(program, backend->get(), /*cache_entries=*/3);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  CachedUserStateStore* cached = store->get();

  KeyedEvaluator in_memory(program, 2);
  KeyedEvaluator on_rocksdb(program, 2, std::move(*store));
  std::mt19937_64 rng(11);
  std::vector<KeyedChange> a, b;
  int64_t ts = 0;
  for (int i = 0; i < 600; ++i) {
    ts += static_cast<int64_t>(rng() % 3);
    In in{"u" + std::to_string(rng() % 17), rng() % 3 ? "a" : "b", ts};
    const uint32_t p = static_cast<uint32_t>(std::hash<std::string>()(in.user) % 2);
    ProjectedEvent pa, pb;
    program->Project(segtest::MakeEvent(in), static_cast<uint64_t>(i), &pa);
    program->Project(segtest::MakeEvent(in), static_cast<uint64_t>(i), &pb);
    ASSERT_TRUE(in_memory.AddEvent(p, in.user, std::move(pa)).ok());
    Status s = on_rocksdb.AddEvent(p, in.user, std::move(pb));
    ASSERT_TRUE(s.ok()) << s.ToString();
    if (i % 50 == 49) {
      ASSERT_TRUE(on_rocksdb.Sync().ok());  // as before a snapshot
    }
    ASSERT_TRUE(in_memory.AdvanceWatermark(p, ts - 2, &a).ok());
    ASSERT_TRUE(on_rocksdb.AdvanceWatermark(p, ts - 2, &b).ok());
  }
  ASSERT_TRUE(in_memory.Finish(ts + 50, &a).ok());
  ASSERT_TRUE(on_rocksdb.Finish(ts + 50, &b).ok());
  ASSERT_GT(a.size(), 100u);
  EXPECT_EQ(segtest::Render(job, b), segtest::Render(job, a));
  for (uint32_t seg = 0; seg < 3; ++seg) {
    auto ma = in_memory.Members(seg);
    auto mb = on_rocksdb.Members(seg);
    ASSERT_TRUE(ma.ok() && mb.ok());
    EXPECT_EQ(*mb, *ma);
  }
  const KeyedValueCacheStats stats = cached->cache_stats();
  EXPECT_GT(stats.evictions, 100u);
  EXPECT_GT(stats.write_backs, 100u);
  EXPECT_EQ(cached->size(), 17u);
}

// Operator snapshot/restore: stop half way, snapshot the keyed state, restore it into a
// new backend and a fresh evaluator, go on. The changes must equal an uninterrupted run's.
TEST_F(SegmentKeyedEvaluatorTest, RestoredFromASnapshotContinuesExactly) {
  JobSpec job = segtest::ParseJob(kTimedSegments);
  auto program = segtest::Compile(job);
  ASSERT_TRUE(program);
  constexpr uint32_t kPartitions = 3;
  std::mt19937_64 rng(23);
  std::vector<In> events;
  int64_t ts = 0;
  for (int i = 0; i < 500; ++i) {
    ts += static_cast<int64_t>(rng() % 3);
    // After the snapshot only half the users have events: the others' pending instants
    // (window expiries, absence deadlines, durations) fire only from restored timers.
    const uint64_t users = i < 250 ? 26 : 13;
    events.push_back({"u" + std::to_string(rng() % users), rng() % 3 ? "a" : "b", ts});
  }
  StateTestDir dir;
  ASSERT_TRUE(dir.ok());
  KeyedStateOptions options;
  auto open_store = [&](KeyedStateBackend* backend) {
    auto store = CachedUserStateStore::Open(program, backend, 5);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(*store);
  };
  // Feeds events [from, to), advancing each partition's watermark to its max ts - 2.
  std::vector<int64_t> max_ts(kPartitions, 0);
  auto feed = [&](KeyedEvaluator* ev, size_t from, size_t to, std::vector<KeyedChange>* out) {
    for (size_t i = from; i < to; ++i) {
      const uint32_t p = PartitionFor(HashUser(events[i].user), kPartitions);
      ProjectedEvent pe;
      program->Project(segtest::MakeEvent(events[i]), i, &pe);
      ASSERT_TRUE(ev->AddEvent(p, events[i].user, std::move(pe)).ok());
      max_ts[p] = std::max(max_ts[p], events[i].ts);
      ASSERT_TRUE(ev->AdvanceWatermark(p, max_ts[p] - 2, out).ok());
    }
  };

  std::vector<KeyedChange> whole;
  {
    KeyedEvaluator ev(program, kPartitions);
    feed(&ev, 0, events.size(), &whole);
    ASSERT_TRUE(ev.Finish(ts + 50, &whole).ok());
  }
  std::fill(max_ts.begin(), max_ts.end(), 0);
  std::vector<KeyedChange> resumed;
  std::vector<int64_t> watermarks;
  size_t emitted = 0;
  std::vector<int64_t> max_ts_at_snapshot;
  {
    auto backend = KeyedStateBackend::Open(dir.Sub("before"), KeyGroupRange{0, 127}, options);
    ASSERT_TRUE(backend.ok());
    KeyedEvaluator ev(program, kPartitions, open_store(backend->get()));
    feed(&ev, 0, 250, &resumed);
    ASSERT_TRUE(ev.Sync().ok());
    for (uint32_t p = 0; p < kPartitions; ++p) watermarks.push_back(ev.watermark(p));
    ASSERT_TRUE((*backend)->Snapshot(dir.Sub("snap")).ok());
    emitted = resumed.size();
    max_ts_at_snapshot = max_ts;
    feed(&ev, 250, 260, &resumed);  // work after the snapshot is lost with the process
  }
  resumed.resize(emitted);
  max_ts = max_ts_at_snapshot;
  {
    auto backend = KeyedStateBackend::Restore({dir.Sub("snap")}, dir.Sub("after"),
                                              KeyGroupRange{0, 127}, options);
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    KeyedEvaluator ev(program, kPartitions, open_store(backend->get()));
    ASSERT_TRUE(ev.Restore(watermarks).ok());
    EXPECT_EQ(ev.users(), 26u);
    for (uint32_t p = 0; p < kPartitions; ++p) EXPECT_EQ(ev.watermark(p), watermarks[p]);
    feed(&ev, 250, events.size(), &resumed);
    ASSERT_TRUE(ev.Finish(ts + 50, &resumed).ok());
  }
  ASSERT_GT(whole.size(), 100u);
  EXPECT_EQ(segtest::Render(job, resumed), segtest::Render(job, whole));
}

// A change carries the log position it was computed at: the offset of the user's latest
// applied record (an expiry without a new record keeps it), across a state round trip.
TEST(ChangePositionTest, ChangesCarryTheLatestAppliedRecordsOffset) {
  const JobSpec job = segtest::ParseJob("  - id: s\n    when: {count: {event: view, window: 10ms, at_least: 2}}\n");
  auto program = segtest::Compile(job);
  ASSERT_NE(program, nullptr);
  std::unique_ptr<UserState> state = program->NewUserState();
  std::vector<MembershipChange> out;
  auto add = [&](int64_t ts, uint64_t seq) {
    ProjectedEvent e;
    program->Project(segtest::MakeEvent({"u", "view", ts}), seq, &e);
    program->AddEvent(state.get(), std::move(e));
  };
  add(1, 5);
  add(2, 9);
  for (auto t = program->NextInstant(*state); t && *t <= 5; t = program->NextInstant(*state)) {
    program->ProcessInstant(state.get(), *t, &out);
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].entered);
  EXPECT_EQ(out[0].pos, 9u);
  std::string bytes;
  program->Serialize(*state, &bytes);
  ASSERT_TRUE(program->Deserialize(bytes, &state).ok());
  auto t = program->NextInstant(*state);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, 11);  // the view at 1 leaves the window
  program->ProcessInstant(state.get(), *t, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[1].entered);
  EXPECT_EQ(out[1].pos, 9u);
}

}  // namespace
}  // namespace segflow
