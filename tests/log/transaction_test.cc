// Transactional topics: commit markers and truncation back to a commit point.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "log_test_util.h"

namespace segflow::log {
namespace {

using testing::MakeEvent;
using testing::Meta;
using testing::ReadAll;
using testing::TempDir;

// Writes `n` records in flushes of random sizes over small segments; returns the offset
// of every flush point (batch boundaries), 0 included.
std::vector<uint64_t> WriteInFlushes(const std::string& dir, uint64_t n, uint64_t seed) {
  WriterOptions o;
  o.segment_bytes = 4096;
  o.index_interval_bytes = 256;
  auto w = PartitionWriter::Open(dir, "t", 0, o);
  EXPECT_TRUE(w.ok());
  std::vector<uint64_t> points = {0};
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < n; ++i) {
    (*w)->Append(MakeEvent(i));
    if (rng() % 7 == 0 || i + 1 == n) {
      EXPECT_TRUE((*w)->Flush(false).ok());
      points.push_back((*w)->NextOffset());
    }
  }
  return points;
}

TEST(TransactionTest, TruncateToAnyFlushPointKeepsExactlyTheRecordsBefore) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    TempDir dir;
    ASSERT_TRUE(EnsureTopic(dir.path(), "t", Meta(1)).ok());
    const std::vector<uint64_t> points = WriteInFlushes(dir.path(), 400, seed);
    std::mt19937_64 rng(seed);
    const uint64_t cut = points[rng() % points.size()];
    SCOPED_TRACE("seed " + std::to_string(seed) + ", cut at " + std::to_string(cut));
    ASSERT_TRUE(TruncatePartition(dir.path(), "t", 0, cut).ok());
    auto end = EndOffset(dir.path(), "t", 0);
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(*end, cut);
    auto records = ReadAll(dir.path(), "t", 0);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    ASSERT_EQ(records->size(), cut);
    for (uint64_t i = 0; i < cut; ++i) EXPECT_EQ((*records)[i].event.ts, MakeEvent(i).ts);
    // A writer continues from the cut with dense offsets.
    auto w = PartitionWriter::Open(dir.path(), "t", 0);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ((*w)->NextOffset(), cut);
    (*w)->Append(MakeEvent(999));
    ASSERT_TRUE((*w)->Flush(true).ok());
    EXPECT_EQ(ReadAll(dir.path(), "t", 0)->size(), cut + 1);
  }
}

TEST(TransactionTest, TruncateRefusesAnOffsetInsideABatchOrPastTheEnd) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "t", Meta(1)).ok());
  auto w = PartitionWriter::Open(dir.path(), "t", 0);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 10; ++i) (*w)->Append(MakeEvent(i));
  ASSERT_TRUE((*w)->Flush(true).ok());  // one batch: offsets 0..9
  Status inside = TruncatePartition(dir.path(), "t", 0, 5);
  EXPECT_EQ(inside.code(), Status::Code::kInvalidArgument) << inside.ToString();
  EXPECT_NE(inside.message().find("inside a batch"), std::string::npos) << inside.ToString();
  EXPECT_EQ(TruncatePartition(dir.path(), "t", 0, 11).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReadAll(dir.path(), "t", 0)->size(), 10u) << "a refused truncation changes nothing";
  EXPECT_TRUE(TruncatePartition(dir.path(), "t", 0, 10).ok()) << "the end itself is a flush point";
  EXPECT_TRUE(TruncatePartition(dir.path(), "t", 0, 0).ok());
  EXPECT_EQ(ReadAll(dir.path(), "t", 0)->size(), 0u);
}

TEST(TransactionTest, CommitMarkerRoundTripsAndAbsentMeansNotTransactional) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "t", Meta(3)).ok());
  auto none = ReadCommitMarker(dir.path(), "t");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  CommitMarker m;
  m.checkpoint = 42;
  m.evaluated = -17;
  m.offsets = {0, 5, 1ull << 40};
  ASSERT_TRUE(WriteCommitMarker(dir.path(), "t", m).ok());
  auto back = ReadCommitMarker(dir.path(), "t");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->checkpoint, 42u);
  EXPECT_EQ((*back)->evaluated, std::optional<int64_t>(-17));
  EXPECT_EQ((*back)->offsets, m.offsets);
  m.evaluated.reset();
  ASSERT_TRUE(WriteCommitMarker(dir.path(), "t", m).ok());
  EXPECT_FALSE((*ReadCommitMarker(dir.path(), "t"))->evaluated.has_value());
  // A damaged marker is an error naming it, never "nothing committed".
  std::ofstream(dir.path() + "/t/COMMITTED") << "segflow-commit 1\ncheckpoint x\n";
  auto bad = ReadCommitMarker(dir.path(), "t");
  EXPECT_EQ(bad.status().code(), Status::Code::kCorruption);
  EXPECT_NE(bad.status().message().find("COMMITTED"), std::string::npos);
}

}  // namespace
}  // namespace segflow::log
