#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/log/log.h"
#include "log_test_util.h"

namespace segflow::log {
namespace {

using testing::Describe;
using testing::MakeEvent;
using testing::Meta;
using testing::ReadAll;
using testing::TempDir;

size_t CountSegments(const std::string& partition_dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(partition_dir)) {
    if (e.path().extension() == ".log") ++n;
  }
  return n;
}

WriterOptions SmallSegments(uint64_t bytes = 8192) {
  WriterOptions o;
  o.segment_bytes = bytes;
  o.index_interval_bytes = 512;
  return o;
}

// Writes `n` events with flushes of varying size; returns what was written.
std::vector<Event> WriteEvents(const std::string& dir, const std::string& topic, uint32_t partition, uint64_t n,
                               const WriterOptions& options, uint64_t seed) {
  std::vector<Event> written;
  auto w = PartitionWriter::Open(dir, topic, partition, options);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return written;
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < n; ++i) {
    Event e = MakeEvent(i);
    written.push_back(e);
    (*w)->Append(e);
    if (rng() % 40 == 0) {
      Status st = (*w)->Flush(rng() % 4 == 0);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
  }
  Status st = (*w)->Flush(true);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ((*w)->NextOffset(), n);
  return written;
}

TEST(LogRoundTripTest, ManyRecordsAcrossSegmentRolls) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(2)).ok());
  const std::vector<Event> written = WriteEvents(dir.path(), "events", 1, 5000, SmallSegments(), 1);
  EXPECT_GT(CountSegments(dir.path() + "/events/1"), 10u);

  auto records = ReadAll(dir.path(), "events", 1);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    EXPECT_EQ((*records)[i].offset, i);
    EXPECT_EQ((*records)[i].partition, 1u);
    ASSERT_EQ(Describe((*records)[i].event), Describe(written[i])) << "offset " << i;
  }
  EXPECT_EQ(*EndOffset(dir.path(), "events", 1), 5000u);
  EXPECT_EQ(*EndOffset(dir.path(), "events", 0), 0u);
  auto empty = ReadAll(dir.path(), "events", 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(LogRoundTripTest, LargeBatchesAndDefaultSegments) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  auto w = PartitionWriter::Open(dir.path(), "events", 0);
  ASSERT_TRUE(w.ok());
  // One flush bigger than a batch and than the reader's chunk: split into several batches.
  std::vector<Event> written;
  for (uint64_t i = 0; i < 20000; ++i) {
    written.push_back(MakeEvent(i));
    (*w)->Append(written.back());
  }
  EXPECT_EQ((*w)->buffered(), 20000u);
  EXPECT_GT((*w)->buffered_bytes(), 1u << 20);
  ASSERT_TRUE((*w)->Flush(true).ok());
  EXPECT_EQ((*w)->buffered(), 0u);
  EXPECT_EQ((*w)->buffered_bytes(), 0u);
  // A single record bigger than the reader's chunk.
  Event big = MakeEvent(20000);
  big.props.mutable_object().emplace_back("blob", Value::String(std::string(3 << 20, 'b')));
  written.push_back(big);
  (*w)->Append(big);
  ASSERT_TRUE((*w)->Flush(true).ok());
  EXPECT_EQ(CountSegments(dir.path() + "/events/0"), 1u);
  auto records = ReadAll(dir.path(), "events", 0);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) ASSERT_EQ(Describe((*records)[i].event), Describe(written[i]));
}

TEST(LogRoundTripTest, SeekFromOffset) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  const std::vector<Event> written = WriteEvents(dir.path(), "events", 0, 2000, SmallSegments(), 2);
  const std::vector<std::string> want = testing::ExpectedDescriptions(written.size());
  std::mt19937_64 rng(3);
  std::vector<uint64_t> starts = {0, 1, 1999, 2000, 2500};
  for (int i = 0; i < 10; ++i) starts.push_back(rng() % 2000);
  // Segment bases: seeking exactly to a segment start.
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/events/0")) {
    if (e.path().extension() == ".log" && rng() % 3 == 0) starts.push_back(std::stoull(e.path().stem().string()));
  }
  for (uint64_t start : starts) {
    auto records = ReadAll(dir.path(), "events", 0, start);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    const uint64_t expected = start >= written.size() ? 0 : written.size() - start;
    ASSERT_EQ(records->size(), expected) << "start " << start;
    for (size_t i = 0; i < records->size(); ++i) {
      ASSERT_EQ((*records)[i].offset, start + i);
      ASSERT_EQ(Describe((*records)[i].event), want[start + i]);
    }
  }
}

TEST(LogRoundTripTest, PollHonoursMaxRecordsAndPosition) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  WriteEvents(dir.path(), "events", 0, 1000, SmallSegments(), 4);
  auto reader = PartitionReader::Open(dir.path(), "events", 0, 10);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->position(), 10u);
  std::vector<LogRecord> out;
  uint64_t expect = 10;
  for (size_t want : {1, 7, 0, 100, 3, 1000}) {
    const size_t before = out.size();
    auto n = (*reader)->Poll(want, &out);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, std::min<size_t>(want, 1000 - expect));
    EXPECT_EQ(out.size() - before, *n);
    for (size_t i = before; i < out.size(); ++i) EXPECT_EQ(out[i].offset, expect++);
    EXPECT_EQ((*reader)->position(), expect);
  }
  EXPECT_EQ(expect, 1000u);
}

TEST(LogRoundTripTest, LiveReaderSeesAppendsAcrossRolls) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  auto reader = PartitionReader::Open(dir.path(), "events", 0, 0);  // before any segment exists
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> out;
  ASSERT_EQ(*(*reader)->Poll(100, &out), 0u);
  auto w = PartitionWriter::Open(dir.path(), "events", 0, SmallSegments(4096));
  ASSERT_TRUE(w.ok());
  uint64_t appended = 0;
  for (int round = 0; round < 60; ++round) {
    for (int i = 0; i < 1 + round % 13; ++i) (*w)->Append(MakeEvent(appended++));
    ASSERT_TRUE((*w)->Flush(false).ok());
    for (int k = 0; k < 100; ++k) {
      auto n = (*reader)->Poll(5, &out);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0) break;
    }
    ASSERT_EQ(out.size(), appended) << "round " << round;
    ASSERT_EQ(*(*reader)->Poll(5, &out), 0u);  // caught up
  }
  EXPECT_GT(CountSegments(dir.path() + "/events/0"), 3u);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i].offset, i);
    ASSERT_EQ(Describe(out[i].event), Describe(MakeEvent(i)));
  }
}

TEST(LogRoundTripTest, ReopenedWriterContinuesOffsets) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  for (int session = 0; session < 4; ++session) {
    auto w = PartitionWriter::Open(dir.path(), "events", 0, SmallSegments());
    ASSERT_TRUE(w.ok());
    EXPECT_EQ((*w)->NextOffset(), static_cast<uint64_t>(session) * 300);
    for (int i = 0; i < 300; ++i) (*w)->Append(MakeEvent(session * 300 + i));
    ASSERT_TRUE((*w)->Flush(session % 2 == 0).ok());
  }
  auto records = ReadAll(dir.path(), "events", 0);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1200u);
  for (size_t i = 0; i < 1200; ++i) ASSERT_EQ(Describe((*records)[i].event), Describe(MakeEvent(i)));
}

TEST(LogRoundTripTest, WritersInOneProcessInterleaveSafely) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  auto a = PartitionWriter::Open(dir.path(), "events", 0, SmallSegments(4096));
  auto b = PartitionWriter::Open(dir.path(), "events", 0, SmallSegments(4096));
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<std::string> expected;
  for (int round = 0; round < 80; ++round) {
    auto& w = round % 3 == 0 ? *b : *a;
    for (int i = 0; i < 1 + round % 7; ++i) {
      Event e = MakeEvent(expected.size(), round % 3 == 0 ? "b" : "a");
      expected.push_back(Describe(e));
      w->Append(e);
    }
    ASSERT_TRUE(w->Flush(false).ok());
    EXPECT_EQ(w->NextOffset(), expected.size());
  }
  auto records = ReadAll(dir.path(), "events", 0);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ((*records)[i].offset, i);
    ASSERT_EQ(Describe((*records)[i].event), expected[i]);
  }
}

TEST(LogRoundTripTest, SegmentSizeFromEnvironment) {
  ::setenv("SEGFLOW_LOG_SEGMENT_BYTES", "12345", 1);
  EXPECT_EQ(WriterOptions::DefaultSegmentBytes(), 12345u);
  EXPECT_EQ(WriterOptions().segment_bytes, 12345u);
  ::setenv("SEGFLOW_LOG_SEGMENT_BYTES", "bogus", 1);
  EXPECT_EQ(WriterOptions::DefaultSegmentBytes(), 128u << 20);
  ::unsetenv("SEGFLOW_LOG_SEGMENT_BYTES");
  EXPECT_EQ(WriterOptions::DefaultSegmentBytes(), 128u << 20);
}

}  // namespace
}  // namespace segflow::log
