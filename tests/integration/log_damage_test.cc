// A damaged log as `segflow consume` and a bounded `segflow run` meet it (issue 12, item
// 7): the records before the damage are printed / evaluated, then the command fails with
// the file and byte of the damage, and always ends. Only the last segment of a partition
// may end in a torn tail; an earlier segment cut short is damage.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "engine/value/json_event.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

// A bounded run over a damaged log ends well within this (an attempt takes about a second;
// the cluster gives up after 3 restarts).
constexpr std::chrono::milliseconds kRunDeadline{90000};

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

Event View(int64_t i) {
  Event e;
  e.user = "user" + std::to_string(i % 37);
  e.type = "view";
  e.ts = 1'000'000 + i * 100;
  e.props = Value::Object({{"n", Value::Int(i)}, {"pad", Value::String(std::string(48, 'p'))}});
  return e;
}

// Segment .log files of a partition, ascending by base offset.
std::vector<fs::path> Segments(const std::string& partition_dir) {
  std::vector<fs::path> logs;
  for (const auto& e : fs::directory_iterator(partition_dir)) {
    if (e.path().extension() == ".log") logs.push_back(e.path());
  }
  std::sort(logs.begin(), logs.end());
  return logs;
}

class LogDamageTest : public ::testing::Test {
 protected:
  const std::string& scratch() const { return dir_.path(); }
  std::string log() const { return scratch() + "/log"; }
  std::string partition_dir(uint32_t p) const { return log() + "/events/" + std::to_string(p); }

  // What WriteLog wrote: each partition's `n` values in offset order, and where each batch
  // of partition `p_layout` ends in its first segment.
  struct Written {
    std::vector<std::vector<int64_t>> numbers;
    std::vector<uint64_t> ends;
  };

  // `events` view events, each in its user's partition (as `produce` places them), each
  // partition flushed every `per_flush` records (one batch each) into segments of
  // `segment_bytes`.
  Written WriteLog(uint32_t partitions, int events, int per_flush, uint64_t segment_bytes,
                   uint32_t p_layout = 0) {
    Written out;
    out.numbers.resize(partitions);
    log::TopicMeta meta;
    meta.partitions = partitions;
    EXPECT_TRUE(log::EnsureTopic(log(), "events", meta).ok());
    log::WriterOptions options;
    options.segment_bytes = segment_bytes;
    std::vector<std::unique_ptr<log::PartitionWriter>> writers;
    for (uint32_t p = 0; p < partitions; ++p) {
      auto w = log::PartitionWriter::Open(log(), "events", p, options);
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      if (!w.ok()) return out;
      writers.push_back(std::move(w).value());
    }
    auto flush = [&](uint32_t p) {
      if (writers[p]->buffered() == 0) return;
      EXPECT_TRUE(writers[p]->Flush(true).ok());
      if (p == p_layout) out.ends.push_back(fs::file_size(Segments(partition_dir(p)).front()));
    };
    for (int i = 0; i < events; ++i) {
      const Event e = View(i);
      const uint32_t p = PartitionFor(HashUser(e.user), partitions);
      writers[p]->Append(e);
      out.numbers[p].push_back(i);
      if (writers[p]->buffered() == static_cast<size_t>(per_flush)) flush(p);
    }
    for (uint32_t p = 0; p < partitions; ++p) flush(p);
    return out;
  }

  void FlipByte(const fs::path& file, uint64_t position) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(position));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(static_cast<std::streamoff>(position));
    f.write(&c, 1);
  }

  // The first segment of partition 0 cut to half its size (later segments intact).
  fs::path TruncateFirstSegmentOfPartition0() {
    const std::vector<fs::path> segments = Segments(partition_dir(0));
    EXPECT_GT(segments.size(), 2u);
    const fs::path first = segments.front();
    fs::resize_file(first, fs::file_size(first) / 2);
    return first;
  }

  Outcome Consume() {
    return Segflow({"consume", "--log", log(), "--topic", "events"}, "", scratch());
  }

  Outcome RunBounded(const std::string& workers) {
    WriteFile(scratch() + "/job.yaml", kViewsJob);
    const std::string tag = NextTag("bounded");
    const pid_t pid = Start({"run", scratch() + "/job.yaml", "--bounded", "--workers", workers}, "",
                            scratch(), scratch(), tag);
    ChildGuard guard(pid);
    return Wait(pid, scratch(), tag, kRunDeadline);
  }

  ScratchDir dir_{"segflow-log-damage"};
};

// The `n` property of each consumed line, in order.
std::vector<int64_t> Numbers(const std::string& out) {
  std::vector<int64_t> ns;
  for (const auto& l : Lines(out)) {
    auto v = ParseJsonValue(l);
    EXPECT_TRUE(v.ok()) << l;
    if (v.ok()) ns.push_back(v->Find("n")->as_int());
  }
  return ns;
}

TEST_F(LogDamageTest, ConsumePrintsTheRecordsBeforeACrcMismatchThenFails) {
  // Partition 1: batches of 10 in one segment; the second one's payload is damaged.
  const Written w = WriteLog(2, 80, 10, 1 << 20, /*p_layout=*/1);
  const std::vector<fs::path> segments = Segments(partition_dir(1));
  ASSERT_EQ(segments.size(), 1u);
  ASSERT_GE(w.ends.size(), 3u);
  const uint64_t second = w.ends[0];
  FlipByte(segments.front(), second + 100);

  Outcome c = Consume();
  EXPECT_EQ(c.exit_code, 1) << c.err;
  std::vector<int64_t> expected = w.numbers[0];  // partition 0, whole
  expected.insert(expected.end(), w.numbers[1].begin(),
                  w.numbers[1].begin() + 10);  // before the damage
  EXPECT_EQ(Numbers(c.out), expected);
  EXPECT_NE(c.err.find(segments.front().string()), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("at byte " + std::to_string(second)), std::string::npos) << c.err;
}

TEST_F(LogDamageTest, ConsumeReportsATruncatedEarlierSegmentAfterItsRecords) {
  const Written w = WriteLog(1, 400, 5, 4096);
  const fs::path first = TruncateFirstSegmentOfPartition0();
  Outcome c = Consume();
  EXPECT_EQ(c.exit_code, 1) << c.err;
  const std::vector<int64_t> got = Numbers(c.out);
  ASSERT_FALSE(got.empty()) << c.err;
  ASSERT_LT(got.size(), w.numbers[0].size());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), w.numbers[0].begin()));
  EXPECT_NE(c.err.find(first.string()), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("at byte "), std::string::npos) << c.err;
  // A producer opening the partition recovers only its last segment: the damage stays.
  const uint64_t damaged_size = fs::file_size(first);
  Outcome p = Segflow({"produce", "--log", log(), "--topic", "events"},
                      "{\"user_id\":\"u\",\"event\":\"view\",\"ts\":5,\"n\":-1}\n", scratch());
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(fs::file_size(first), damaged_size);
  EXPECT_EQ(Consume().exit_code, 1);
}

TEST_F(LogDamageTest, BoundedRunInProcessEndsWithTheDamagedFile) {
  WriteLog(2, 800, 5, 4096);
  const fs::path first = TruncateFirstSegmentOfPartition0();
  Outcome r = RunBounded("0");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(first.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at byte "), std::string::npos) << r.err;
}

TEST_F(LogDamageTest, BoundedRunOnWorkersEndsWithTheDamagedFile) {
  WriteLog(2, 800, 5, 4096);
  const fs::path first = TruncateFirstSegmentOfPartition0();
  Outcome r = RunBounded("2");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(first.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at byte "), std::string::npos) << r.err;
}

TEST_F(LogDamageTest, BoundedRunOnACrcMismatchEndsWithTheDamagedFile) {
  const Written w = WriteLog(2, 80, 10, 1 << 20);
  ASSERT_GE(w.ends.size(), 3u);
  const fs::path file = Segments(partition_dir(0)).front();
  FlipByte(file, w.ends[0] + 100);
  Outcome r = RunBounded("0");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(file.string()), std::string::npos) << r.err;
}

}  // namespace
}  // namespace segflow
