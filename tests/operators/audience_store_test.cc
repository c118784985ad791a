// AudienceStore: members and evaluated time, and what a durable commit leaves on disk.
#include "operators/sink/audience_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "operators/sink/live_audience.h"

namespace segflow {
namespace {

class AudienceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/segflow-audience-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/audience";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  // Bytes in the store's write-ahead log files (what every open replays).
  uint64_t WalBytes() const {
    uint64_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.path().extension() == ".log") n += e.file_size();
    }
    return n;
  }

  std::string root_;
  std::string dir_;
};

TEST_F(AudienceStoreTest, MembersAndEvaluatedTime) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(
      (*w)->Apply({{"s", "u2", true, 10}, {"s", "u1", true, 11}, {"t", "u3", true, 12}}, 12, false)
          .ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u2", false, 20}}, 20, false).ok());
  auto members = (*w)->Members("s");
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(*members, std::vector<std::string>({"u1"}));
  auto through = (*w)->EvaluatedThrough();
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, std::optional<int64_t>(20));
}

// One Apply writes each row once, with the row's last change (and its stamp): in order
// (a fresh run's sink) and by stamps alike.
TEST_F(AudienceStoreTest, OneApplyOfSeveralChangesToARowKeepsItsLastChange) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (bool ordered : {true, false}) {
    SCOPED_TRACE(ordered ? "ordered" : "by stamps");
    const std::string s = ordered ? "a" : "b";
    AudienceStore::ApplyOptions o;
    o.ordered = ordered;
    AudienceStore::ApplyStats stats;
    ASSERT_TRUE((*w)->Apply({{s, "u1", true, 10, 1},
                             {s, "u2", true, 10, 2},
                             {s, "u1", false, 20, 3},
                             {s, "u1", true, 30, 4},
                             {s, "u2", false, 40, 5}},
                            40, o, &stats)
                    .ok());
    EXPECT_EQ(stats.applied, 5u);
    EXPECT_EQ(*(*w)->Members(s), std::vector<std::string>({"u1"}));
    // The row holds the last change's stamp: an older enter is stale, a newer exit applies.
    AudienceStore::ApplyOptions later;
    AudienceStore::ApplyStats after;
    ASSERT_TRUE(
        (*w)->Apply({{s, "u2", true, 35, 9}, {s, "u1", false, 31, 9}}, 41, later, &after).ok());
    EXPECT_EQ(after.stale, 1u);
    EXPECT_EQ(after.applied, 1u);
    EXPECT_TRUE((*w)->Members(s)->empty());
  }
}

// The final (sync) commit flushes the memtable: readers open an SST instead of replaying
// the run's whole write-ahead log.
TEST_F(AudienceStoreTest, SyncCommitLeavesNoWalToReplay) {
  {
    auto w = AudienceStore::OpenForWrite(dir_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (int i = 0; i < 1000; ++i) {
      const std::string user = "user-" + std::to_string(i);
      ASSERT_TRUE((*w)->Apply({{"s", user, true, i}}, i, false).ok());
      if (i % 3 == 0) {
        ASSERT_TRUE((*w)->Apply({{"s", user, false, i + 1}}, i + 1, false).ok());
      }
    }
    ASSERT_TRUE((*w)->Apply({}, 2000, false).ok());
    EXPECT_GT(WalBytes(), 0u);
    // Nothing new to write: the final commit still flushes.
    ASSERT_TRUE((*w)->Apply({}, std::nullopt, true).ok());
  }
  EXPECT_EQ(WalBytes(), 0u);
  auto r = AudienceStore::OpenForRead(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto n = (*r)->CountMembers("s");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 666u);
  auto through = (*r)->EvaluatedThrough();
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, std::optional<int64_t>(2000));
}

std::vector<std::string> MembersOf(AudienceStore* store, const std::string& segment) {
  auto m = store->Members(segment);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : std::vector<std::string>{};
}

// The seed's first trap: a batch job finishing after a streaming update must not
// overwrite it with stale data. Here the stream saw u1 leave at 300; the batch, which
// evaluated only through 200, still has u1 entering at 100 and arrives last.
TEST_F(AudienceStoreTest, StaleBatchDoesNotOverwriteANewerStreamingUpdate) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  AudienceStore::ApplyOptions live, batch;
  live.writer = "live";
  batch.writer = "batch";
  ASSERT_TRUE((*w)->Apply({{"s", "u1", true, 100}, {"s", "u2", true, 150}, {"s", "u1", false, 300}},
                          300, live)
                  .ok());
  AudienceStore::ApplyStats stats;
  ASSERT_TRUE(
      (*w)->Apply({{"s", "u1", true, 100}, {"s", "u3", true, 180}}, 200, batch, &stats).ok());
  EXPECT_EQ(MembersOf(w->get(), "s"), std::vector<std::string>({"u2", "u3"}));
  EXPECT_EQ(stats.stale, 1u);    // u1's enter at 100 is older than its exit at 300
  EXPECT_EQ(stats.applied, 1u);  // u3: the batch is the only evidence, so it wins
  // Each writer's evaluated time is its own.
  EXPECT_EQ(*(*w)->EvaluatedThrough("live"), std::optional<int64_t>(300));
  EXPECT_EQ(*(*w)->EvaluatedThrough("batch"), std::optional<int64_t>(200));
  EXPECT_EQ((*w)->Stats("batch")->stale, 1u);
}

// The second trap: a late backfill must not resurrect a member who left, even when it
// replays the whole enter/exit history in a different batch split.
TEST_F(AudienceStoreTest, LateBackfillDoesNotResurrectAMemberWhoLeft) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Apply({{"s", "u1", true, 10}}, 10, false).ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u1", false, 20}}, 20, false).ok());
  AudienceStore::ApplyOptions backfill;
  backfill.writer = "backfill";
  ASSERT_TRUE((*w)->Apply({{"s", "u1", true, 10}}, 15, backfill).ok());
  EXPECT_TRUE(MembersOf(w->get(), "s").empty());
  // Ties: the same (at, pos) as an exit and an enter -> the exit wins, in either order.
  ASSERT_TRUE((*w)->Apply({{"s", "u2", false, 30}}, 30, false).ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u2", true, 30}}, 30, backfill).ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u3", true, 30}}, 30, backfill).ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u3", false, 30}}, 30, false).ok());
  EXPECT_TRUE(MembersOf(w->get(), "s").empty());
  // The log position orders writes with the same event time.
  ASSERT_TRUE((*w)->Apply({{"s", "u4", false, 40, 7}}, 40, false).ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u4", true, 40, 8}}, 40, backfill).ok());
  EXPECT_EQ(MembersOf(w->get(), "s"), std::vector<std::string>({"u4"}));
}

// Property: two writers' stamped writes, applied in any interleaving and batch split and
// any number of times, leave each row as its newest write says (a simple reference),
// and applying everything again changes nothing (exactly-once replays are no-ops).
TEST_F(AudienceStoreTest, AnyInterleavingConvergesToTheNewestWritePerRow) {
  std::mt19937_64 rng(20261201);
  for (int round = 0; round < 30; ++round) {
    const std::string dir = dir_ + "-" + std::to_string(round);
    std::vector<AudienceStore::Change> writes;
    for (int i = 0; i < 60; ++i) {
      writes.push_back({"s" + std::to_string(rng() % 2), "u" + std::to_string(rng() % 6),
                        rng() % 2 == 0, static_cast<int64_t>(rng() % 20), rng() % 3});
    }
    // Reference: per row the write with the largest (at, pos, exit-over-enter).
    std::map<std::pair<std::string, std::string>, std::tuple<int64_t, uint64_t, int>> newest;
    for (const auto& c : writes) {
      auto stamp = std::make_tuple(c.at, c.pos, c.entered ? 0 : 1);
      auto [it, fresh] = newest.try_emplace({c.segment, c.user}, stamp);
      if (!fresh) it->second = std::max(it->second, stamp);
    }
    std::shuffle(writes.begin(), writes.end(), rng);
    {
      auto w = AudienceStore::OpenForWrite(dir);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      for (int pass = 0; pass < 2; ++pass) {
        AudienceStore::ApplyStats stats;
        for (size_t i = 0; i < writes.size();) {
          const size_t n = std::min(writes.size() - i, 1 + static_cast<size_t>(rng() % 7));
          AudienceStore::ApplyOptions o;
          o.writer = rng() % 2 == 0 ? "live" : "backfill";
          std::vector<AudienceStore::Change> batch(writes.begin() + i, writes.begin() + i + n);
          ASSERT_TRUE((*w)->Apply(batch, std::nullopt, o, &stats).ok());
          i += n;
        }
        if (pass == 1) {
          EXPECT_EQ(stats.applied, 0u) << "round " << round;
        }
      }
      for (const std::string seg : {"s0", "s1"}) {
        std::vector<std::string> want;
        for (const auto& [row, stamp] : newest) {
          if (row.first == seg && std::get<2>(stamp) == 0) want.push_back(row.second);
        }
        EXPECT_EQ(MembersOf(w->get(), seg), want) << "round " << round << " segment " << seg;
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

// Governance: a withdrawal removes the user everywhere and blocks every enter, whatever
// its stamp, until a newer grant; an erasure deletes the rows and refuses older writes.
TEST_F(AudienceStoreTest, ConsentWithdrawalAndErasureBlockStaleAndLaterWrites) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(
      (*w)->Apply({{"a", "u1", true, 10}, {"b", "u1", true, 12}, {"a", "u2", true, 11}}, 12, false)
          .ok());
  auto removed = (*w)->RecordConsent("u1", false, 50);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(MembersOf(w->get(), "a"), std::vector<std::string>({"u2"}));
  EXPECT_TRUE(MembersOf(w->get(), "b").empty());
  AudienceStore::ApplyStats stats;
  AudienceStore::ApplyOptions backfill;
  backfill.writer = "backfill";
  // A backfill that missed the withdrawal: an old enter and even a newer one are refused.
  ASSERT_TRUE(
      (*w)->Apply({{"a", "u1", true, 10}, {"a", "u1", true, 70}}, 70, backfill, &stats).ok());
  EXPECT_EQ(stats.blocked, 2u);
  EXPECT_EQ(MembersOf(w->get(), "a"), std::vector<std::string>({"u2"}));
  // An older consent record does not lift it; a newer grant does.
  EXPECT_EQ(*(*w)->RecordConsent("u1", true, 40), 0u);
  ASSERT_TRUE((*w)->Apply({{"a", "u1", true, 71}}, 71, false).ok());
  EXPECT_EQ(MembersOf(w->get(), "a"), std::vector<std::string>({"u2"}));
  EXPECT_EQ(*(*w)->RecordConsent("u1", true, 60), 0u);
  ASSERT_TRUE((*w)->Apply({{"a", "u1", true, 72}}, 72, false).ok());
  EXPECT_EQ(MembersOf(w->get(), "a"), std::vector<std::string>({"u1", "u2"}));

  // Erasure at 100: rows gone; data at or before 100 cannot bring u1 back, new data can.
  auto erased = (*w)->Erase("u1", 100);
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(*erased, 1u);
  EXPECT_EQ(MembersOf(w->get(), "a"), std::vector<std::string>({"u2"}));
  EXPECT_EQ(*(*w)->Consent("u1"), std::nullopt);
  stats = {};
  ASSERT_TRUE(
      (*w)->Apply({{"a", "u1", true, 72}, {"b", "u1", true, 100}}, 100, backfill, &stats).ok());
  EXPECT_EQ(stats.blocked, 2u);
  EXPECT_EQ(MembersOf(w->get(), "a"), std::vector<std::string>({"u2"}));
  ASSERT_TRUE((*w)->Apply({{"b", "u1", true, 101}}, 101, false).ok());
  EXPECT_EQ(MembersOf(w->get(), "b"), std::vector<std::string>({"u1"}));
  EXPECT_EQ(*(*w)->Segments(), std::vector<std::string>({"a", "b"}));
}

// Two processes' writes to one shared store: the second waits for the first to close it.
TEST_F(AudienceStoreTest, SharedStoreWaitsForAnotherWriterThenTimesOut) {
  auto holder = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(holder.ok());
  AudienceStore::ApplyOptions o;
  o.writer = "other";
  Status busy = ApplyToSharedStore(dir_, {{"s", "u1", true, 1}}, 1, o, nullptr, 100);
  EXPECT_EQ(busy.code(), Status::Code::kBusy) << busy.ToString();
  EXPECT_NE(busy.message().find("another writer held it for 100 ms"), std::string::npos)
      << busy.message();
  holder->reset();
  ASSERT_TRUE(ApplyToSharedStore(dir_, {{"s", "u1", true, 1}}, 1, o).ok());
  auto r = AudienceStore::OpenForRead(dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(MembersOf(r->get(), "s"), std::vector<std::string>({"u1"}));
  EXPECT_EQ(*(*r)->Writers(), std::vector<std::string>({"other"}));
}

TEST_F(AudienceStoreTest, LatencyHistogramCountsAppliedChanges) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok());
  AudienceStore::ApplyOptions o;
  o.now_ms = 1000;
  ASSERT_TRUE((*w)->Apply({{"s", "u1", true, 1000}, {"s", "u2", true, 999}, {"s", "u3", true, 900}},
                          1000, o)
                  .ok());
  ASSERT_TRUE((*w)->Apply({{"s", "u1", true, 1000}}, 1000, o).ok());  // a duplicate: not counted
  auto h = (*w)->Latency("s");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)[0], 1u);  // 0 ms
  EXPECT_EQ((*h)[1], 1u);  // 1 ms: [1, 2)
  EXPECT_EQ((*h)[7], 1u);  // 100 ms: [64, 128)
}

// The per-segment member count kept in the write batches equals a scan of the rows after
// any mix of fresh, duplicate and stale writes, consent withdrawals, erasures and
// retirements, and survives reopening (what /metrics and `audience --count` read).
TEST_F(AudienceStoreTest, MemberCountsEqualAScanAfterEveryKindOfWrite) {
  std::mt19937 rng(15);
  const std::vector<std::string> segments = {"a", "b", "c"};
  auto check = [&](const AudienceStore& store, const std::string& when) {
    for (const auto& s : segments) {
      auto members = store.Members(s);
      auto n = store.CountMembers(s);
      ASSERT_TRUE(members.ok() && n.ok()) << when;
      EXPECT_EQ(*n, members->size()) << "segment " << s << " " << when;
    }
  };
  {
    auto w = AudienceStore::OpenForWrite(dir_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (int step = 0; step < 300; ++step) {
      std::vector<AudienceStore::Change> changes;
      for (int i = 0; i < 20; ++i) {
        changes.push_back({segments[rng() % 3], "u" + std::to_string(rng() % 40), rng() % 2 == 0,
                           static_cast<int64_t>(rng() % 200), rng() % 3});
      }
      AudienceStore::ApplyOptions o;
      o.ordered = step % 7 == 0;
      if (step % 50 == 49) o.retired = {segments[rng() % 3]};
      ASSERT_TRUE((*w)->Apply(changes, step, o).ok());
      if (step % 11 == 0) {
        ASSERT_TRUE((*w)->RecordConsent("u" + std::to_string(rng() % 40), rng() % 2 == 0,
                                        static_cast<int64_t>(rng() % 200))
                        .ok());
      }
      if (step % 37 == 0) {
        ASSERT_TRUE((*w)->Erase("u" + std::to_string(rng() % 40), 50).ok());
      }
      check(**w, "after step " + std::to_string(step));
    }
  }
  auto r = AudienceStore::OpenForRead(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  check(**r, "reopened");
}

// A fresh run's own store (ApplyOptions::fresh): rows are not read per change, yet after
// every Apply of alternating histories (as a run makes them, spread over many Applies and
// rows) the counts equal a scan and the rows equal those of a store that read each row.
TEST_F(AudienceStoreTest, FreshRunCountsWithoutReadingRowsEqualAScan) {
  std::mt19937 rng(17);
  const std::vector<std::string> segments = {"a", "b"};
  const std::string other = dir_ + "-read";
  auto fresh = AudienceStore::OpenForWrite(dir_);
  auto read = AudienceStore::OpenForWrite(other);
  ASSERT_TRUE(fresh.ok() && read.ok());
  std::map<std::pair<std::string, std::string>, bool> member;  // the alternation
  int64_t at = 0;
  for (int step = 0; step < 200; ++step) {
    std::vector<AudienceStore::Change> changes;
    for (int i = 0; i < 25; ++i) {
      const std::string seg = segments[rng() % 2];
      const std::string user = "u" + std::to_string(rng() % 30);
      bool& m = member[{seg, user}];
      m = !m;
      changes.push_back({seg, user, m, ++at, 0});
    }
    AudienceStore::ApplyOptions o;
    o.ordered = true;
    o.fresh = true;
    ASSERT_TRUE((*fresh)->Apply(changes, at, o).ok());
    o.fresh = false;
    ASSERT_TRUE((*read)->Apply(changes, at, o).ok());
    for (const auto& seg : segments) {
      auto members = (*fresh)->Members(seg);
      auto n = (*fresh)->CountMembers(seg);
      auto expected = (*read)->Members(seg);
      ASSERT_TRUE(members.ok() && n.ok() && expected.ok());
      ASSERT_EQ(*n, members->size()) << "segment " << seg << " after step " << step;
      ASSERT_EQ(*members, *expected) << "segment " << seg << " after step " << step;
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(other, ec);
}

// entered / exited count each applied change once: a replay of the same changes (a
// recovery) adds nothing; Summarize reads counts, version and evaluated time together.
TEST_F(AudienceStoreTest, ChangeCountsCountAppliedChangesOnce) {
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::vector<AudienceStore::Change> changes = {{"s", "u1", true, 10, 1},
                                                      {"s", "u2", true, 11, 2},
                                                      {"s", "u1", false, 12, 3},
                                                      {"s", "u1", true, 13, 4},
                                                      {"t", "u3", true, 14, 5}};
  AudienceStore::ApplyOptions o;
  o.versions = {{"s", "v1"}};
  ASSERT_TRUE((*w)->Apply(changes, 14, o).ok());
  ASSERT_TRUE((*w)->Apply(changes, 14, o).ok());  // replayed: duplicates
  auto summary = (*w)->Summarize({"s", "t", "none"});
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->evaluated_through, std::optional<int64_t>(14));
  ASSERT_EQ(summary->segments.size(), 3u);
  EXPECT_EQ(summary->segments[0].version, "v1");
  EXPECT_EQ(summary->segments[0].counts.members, 2u);
  EXPECT_EQ(summary->segments[0].counts.entered, 3u);
  EXPECT_EQ(summary->segments[0].counts.exited, 1u);
  EXPECT_EQ(summary->segments[1].counts.members, 1u);
  EXPECT_EQ(summary->segments[1].counts.entered, 1u);
  EXPECT_EQ(summary->segments[2].counts.members, 0u);
  // A sink lends its handle to readers of the process while it runs (live_audience.h).
  {
    LiveAudienceRegistration lent(dir_, w->get());
    uint64_t seen = 0;
    EXPECT_TRUE(WithLiveAudience(root_ + "/./audience", [&](const AudienceStore& s) {
      auto c = s.Counts("s");
      if (c.ok()) seen = c->members;
    }));
    EXPECT_EQ(seen, 2u);
  }
  EXPECT_FALSE(WithLiveAudience(dir_, [](const AudienceStore&) {}));
}

// A store that an earlier Segflow wrote has rows but no counts: a reader counts by
// scanning, and the first write-open counts every segment once, after which Apply keeps
// them (what an upgrade of Segflow meets).
TEST_F(AudienceStoreTest, StoreWithoutCountsIsCountedAtItsFirstWriteOpen) {
  {
    auto w = AudienceStore::OpenForWrite(dir_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Apply({{"s", "u1", true, 10}, {"s", "u2", true, 11}, {"s", "u3", true, 12}},
                            12, false)
                    .ok());
    ASSERT_TRUE((*w)->Apply({{"s", "u2", false, 20}}, 20, true).ok());
  }
  {  // Drop the counts, as a store of an earlier Segflow lacks them.
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteBatch batch;
    batch.Delete("#counts");
    batch.Delete("#count/s");
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  {
    auto r = AudienceStore::OpenForRead(dir_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*(*r)->CountMembers("s"), 2u);
    auto summary = (*r)->Summarize({"s"});
    ASSERT_TRUE(summary.ok());
    EXPECT_EQ(summary->segments.at(0).counts.members, 2u);
  }
  auto w = AudienceStore::OpenForWrite(dir_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Apply({{"s", "u4", true, 30}}, 30, false).ok());
  auto c = (*w)->Counts("s");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->members, 3u);
  EXPECT_EQ(c->entered, 1u) << "changes counted from the first write-open on";
  EXPECT_EQ(c->exited, 0u);
}

}  // namespace
}  // namespace segflow
