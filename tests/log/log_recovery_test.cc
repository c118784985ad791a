// Crash consistency: torn and zeroed tails, flipped bytes, writers killed mid-append.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "engine/log/log.h"
#include "log_test_util.h"

namespace segflow::log {
namespace {

namespace fs = std::filesystem;
using testing::Describe;
using testing::MakeEvent;
using testing::Meta;
using testing::ReadAll;
using testing::TempDir;

WriterOptions SmallSegments(uint64_t bytes) {
  WriterOptions o;
  o.segment_bytes = bytes;
  o.index_interval_bytes = 1024;
  return o;
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

uint64_t TotalLogBytes(const std::string& partition_dir) {
  uint64_t n = 0;
  for (const auto& p : Segments(partition_dir)) n += fs::file_size(p);
  return n;
}

// Where each flush ended: (bytes of log across segments, records so far).
struct FlushPoint {
  uint64_t bytes;
  uint64_t records;
};

std::vector<FlushPoint> WritePristine(const std::string& dir, uint64_t n, const WriterOptions& options,
                                      uint64_t seed) {
  std::vector<FlushPoint> points;
  EXPECT_TRUE(EnsureTopic(dir, "events", Meta(1)).ok());
  auto w = PartitionWriter::Open(dir, "events", 0, options);
  EXPECT_TRUE(w.ok());
  std::mt19937_64 rng(seed);
  uint64_t i = 0;
  while (i < n) {
    const uint64_t k = std::min<uint64_t>(n - i, 1 + rng() % 60);
    for (uint64_t j = 0; j < k; ++j) (*w)->Append(MakeEvent(i++));
    EXPECT_TRUE((*w)->Flush(false).ok());
    points.push_back({TotalLogBytes(dir + "/events/0"), i});
  }
  return points;
}

// Simulates a crash that kept the first `cut` bytes of the partition's log: later segments
// vanish; the segment holding the cut is truncated there, or zero-filled from it.
void CutLog(const std::string& partition_dir, uint64_t cut, bool zero_fill) {
  uint64_t start = 0;
  for (const auto& seg : Segments(partition_dir)) {
    const uint64_t size = fs::file_size(seg);
    if (start > cut) {
      fs::remove(seg);
      fs::remove(fs::path(seg).replace_extension(".index"));
    } else if (cut < start + size) {
      const uint64_t local = cut - start;
      if (zero_fill) {
        std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(local));
        std::string zeros(size - local, '\0');
        f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
      } else {
        fs::resize_file(seg, local);
      }
    }
    start += size;
  }
}

// True when the bytes [from, to) of the partition's log (across segments) are all zero.
bool AllZero(const std::string& partition_dir, uint64_t from, uint64_t to) {
  uint64_t start = 0;
  for (const auto& seg : Segments(partition_dir)) {
    const uint64_t size = fs::file_size(seg);
    std::ifstream f(seg, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    for (uint64_t g = std::max(from, start); g < std::min(to, start + size); ++g) {
      if (bytes[g - start] != 0) return false;
    }
    start += size;
  }
  return true;
}

TEST(LogRecoveryTest, TruncationAtRandomByteOffsets) {
  TempDir pristine;
  const WriterOptions options = SmallSegments(16 * 1024);
  const std::vector<FlushPoint> points = WritePristine(pristine.path(), 800, options, 5);
  const std::vector<std::string> expected = testing::ExpectedDescriptions(800);
  const std::vector<std::string> expected_after = testing::ExpectedDescriptions(840, "after");
  const uint64_t total = points.back().bytes;
  ASSERT_GT(Segments(pristine.path() + "/events/0").size(), 4u);

  std::mt19937_64 rng(20240601);
  for (int trial = 0; trial < 50; ++trial) {
    TempDir dir;
    fs::copy(pristine.path(), dir.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    const uint64_t cut = trial == 0 ? 0 : (trial == 1 ? total - 1 : rng() % total);
    const bool zero_fill = trial % 2 == 1;
    CutLog(dir.path() + "/events/0", cut, zero_fill);
    uint64_t intact = 0;
    for (const auto& p : points) {
      if (p.bytes <= cut) {
        intact = p.records;
      } else {
        // Zeroing bytes that were zero already (capnp padding) leaves the batch whole.
        if (zero_fill && AllZero(pristine.path() + "/events/0", cut, p.bytes)) intact = p.records;
        break;
      }
    }
    SCOPED_TRACE("trial " + std::to_string(trial) + " cut " + std::to_string(cut) +
                 (zero_fill ? " zero-filled" : " truncated") + " intact " + std::to_string(intact));

    // Before any writer recovers: readers serve exactly the intact batches, no error.
    auto before = ReadAll(dir.path(), "events", 0);
    ASSERT_TRUE(before.ok()) << before.status().ToString();
    ASSERT_EQ(before->size(), intact);
    for (uint64_t i = 0; i < intact; ++i) ASSERT_EQ(Describe((*before)[i].event), expected[i]);
    auto end = EndOffset(dir.path(), "events", 0);
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    ASSERT_EQ(*end, intact);

    // A writer truncates the torn tail and continues with dense offsets.
    {
      auto w = PartitionWriter::Open(dir.path(), "events", 0, options);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      ASSERT_EQ((*w)->NextOffset(), intact);
      for (uint64_t i = 0; i < 40; ++i) (*w)->Append(MakeEvent(intact + i, "after"));
      ASSERT_TRUE((*w)->Flush(true).ok());
      ASSERT_EQ((*w)->NextOffset(), intact + 40);
    }
    auto after = ReadAll(dir.path(), "events", 0);
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    ASSERT_EQ(after->size(), intact + 40);
    for (uint64_t i = 0; i < intact + 40; ++i) {
      ASSERT_EQ((*after)[i].offset, i);
      ASSERT_EQ(Describe((*after)[i].event), i < intact ? expected[i] : expected_after[i]);
    }
    // Seeks through the (recovered) index land on the right records too.
    const uint64_t seek = rng() % (intact + 40);
    auto from = ReadAll(dir.path(), "events", 0, seek);
    ASSERT_TRUE(from.ok());
    ASSERT_EQ(from->size(), intact + 40 - seek);
    if (!from->empty()) {
      ASSERT_EQ(from->front().offset, seek);
    }
  }
}

// Batch boundaries of a single-segment log written in flushes of 50 records.
struct Layout {
  std::vector<uint64_t> batch_starts;  // plus the end
};

Layout WriteTenBatches(const std::string& dir) {
  Layout layout;
  EXPECT_TRUE(EnsureTopic(dir, "events", Meta(1)).ok());
  auto w = PartitionWriter::Open(dir, "events", 0);
  EXPECT_TRUE(w.ok());
  layout.batch_starts.push_back(0);
  for (uint64_t b = 0; b < 10; ++b) {
    for (uint64_t i = 0; i < 50; ++i) (*w)->Append(MakeEvent(b * 50 + i));
    EXPECT_TRUE((*w)->Flush(true).ok());
    layout.batch_starts.push_back(TotalLogBytes(dir + "/events/0"));
  }
  return layout;
}

void FlipBit(const fs::path& file, uint64_t position, int bit) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(position));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(position));
  f.write(&c, 1);
}

TEST(LogRecoveryTest, FlippedByteInTheMiddleIsCorruption) {
  TempDir pristine;
  const Layout layout = WriteTenBatches(pristine.path());
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 40; ++trial) {
    TempDir dir;
    fs::copy(pristine.path(), dir.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    const uint64_t batch = 1 + rng() % 8;  // batches 1..8: valid data follows
    const uint64_t start = layout.batch_starts[batch];
    const uint64_t len = layout.batch_starts[batch + 1] - start;
    // Header bytes in a third of the trials, payload bytes otherwise.
    const uint64_t position = start + (trial % 3 == 0 ? rng() % 40 : 40 + rng() % (len - 40));
    const fs::path file = Segments(dir.path() + "/events/0").front();
    FlipBit(file, position, static_cast<int>(rng() % 8));
    SCOPED_TRACE("trial " + std::to_string(trial) + " flipped byte " + std::to_string(position) + " in batch " +
                 std::to_string(batch));

    auto reader = PartitionReader::Open(dir.path(), "events", 0, 0);
    ASSERT_TRUE(reader.ok());
    std::vector<LogRecord> out;
    Status error;
    for (int i = 0; i < 1000 && error.ok(); ++i) {
      auto n = (*reader)->Poll(70, &out);
      if (!n.ok()) error = n.status();
      else if (*n == 0) break;
    }
    ASSERT_EQ(error.code(), Status::Code::kCorruption) << error.ToString();
    EXPECT_NE(error.message().find(file.string()), std::string::npos) << error.message();
    EXPECT_NE(error.message().find("at byte " + std::to_string(start)), std::string::npos) << error.message();
    // Everything served before the error is the real data of the batches before it.
    ASSERT_EQ(out.size(), batch * 50);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(Describe(out[i].event), Describe(MakeEvent(i)));

    // A writer never truncates valid data after the damage.
    auto w = PartitionWriter::Open(dir.path(), "events", 0);
    if (w.ok()) {
      EXPECT_EQ((*w)->NextOffset(), 500u);
    } else {
      EXPECT_EQ(w.status().code(), Status::Code::kCorruption);
    }
  }
}

TEST(LogRecoveryTest, FlippedByteInTheLastBatchIsATornTail) {
  TempDir dir;
  const Layout layout = WriteTenBatches(dir.path());
  const fs::path file = Segments(dir.path() + "/events/0").front();
  FlipBit(file, layout.batch_starts[9] + 100, 3);
  auto before = ReadAll(dir.path(), "events", 0);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->size(), 450u);  // never served
  auto w = PartitionWriter::Open(dir.path(), "events", 0);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->NextOffset(), 450u);
  EXPECT_EQ(fs::file_size(file), layout.batch_starts[9]);
}

// Reads a partition from offset 0 until caught up or an error; returns the error (OK if none).
Status ReadUntilError(const std::string& dir, std::vector<LogRecord>* out) {
  auto reader = PartitionReader::Open(dir, "events", 0, 0);
  if (!reader.ok()) return reader.status();
  for (int i = 0; i < 100'000; ++i) {
    auto n = (*reader)->Poll(70, out);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
  }
  return Status::OK();
}

// Only a partition's last segment can end in a torn tail (a segment is synced before its
// successor exists). An earlier segment cut short, zero-filled or missing is Corruption
// naming the file; the records before the damage are served; writers leave it alone.
TEST(LogRecoveryTest, DamagedEarlierSegmentIsCorruptionNeverATornTail) {
  TempDir pristine;
  const WriterOptions options = SmallSegments(16 * 1024);
  const std::vector<FlushPoint> points = WritePristine(pristine.path(), 800, options, 11);
  const std::vector<fs::path> segments = Segments(pristine.path() + "/events/0");
  ASSERT_GT(segments.size(), 4u);
  std::vector<uint64_t> starts;  // each segment's first byte across the partition
  uint64_t total = 0;
  for (const auto& seg : segments) {
    starts.push_back(total);
    total += fs::file_size(seg);
  }

  std::mt19937_64 rng(31337);
  for (int trial = 0; trial < 30; ++trial) {
    TempDir dir;
    fs::copy(pristine.path(), dir.path(),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    const std::string pdir = dir.path() + "/events/0";
    const size_t k = rng() % (segments.size() - 1);  // never the last segment
    const fs::path victim = fs::path(pdir) / segments[k].filename();
    const uint64_t size = fs::file_size(victim);
    const int kind = trial % 5;
    uint64_t cut = 1 + rng() % (size - 1);
    if (kind == 2) {
      cut = 0;
    } else if (kind == 3) {  // exactly at a batch boundary inside the segment
      for (const auto& p : points) {
        if (p.bytes > starts[k] && p.bytes < starts[k] + size) {
          cut = p.bytes - starts[k];
          break;
        }
      }
    }
    std::string what;
    if (kind == 4) {
      what = "segment " + std::to_string(k) + " removed";
      fs::remove(victim);
      fs::remove(fs::path(victim).replace_extension(".index"));
    } else if (kind == 1) {
      what = "segment " + std::to_string(k) + " zero-filled from " + std::to_string(cut);
      std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(cut));
      const std::string zeros(size - cut, '\0');
      f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    } else {
      what = "segment " + std::to_string(k) + " truncated to " + std::to_string(cut);
      fs::resize_file(victim, cut);
    }
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + what);
    // Zeroing bytes that were zero already (padding) can leave the segment whole.
    if (kind == 1 && AllZero(pristine.path() + "/events/0", starts[k] + cut, starts[k] + size))
      continue;

    std::vector<LogRecord> served;
    Status error = ReadUntilError(dir.path(), &served);
    ASSERT_EQ(error.code(), Status::Code::kCorruption)
        << error.ToString() << " after " << served.size();
    // The damaged segment, or (removed) the one before it that now ends short, is named.
    const fs::path named =
        kind == 4 ? fs::path(pdir) / segments[k - (k > 0 ? 1 : 0)].filename() : victim;
    if (!(kind == 4 && k == 0)) {
      EXPECT_NE(error.message().find(named.string()), std::string::npos) << error.message();
      EXPECT_NE(error.message().find("at byte "), std::string::npos) << error.message();
    }
    for (size_t i = 0; i < served.size(); ++i) {
      ASSERT_EQ(served[i].offset, i);
      ASSERT_EQ(Describe(served[i].event), Describe(MakeEvent(i)));
    }

    // The end is the last segment's; a writer recovers only that one and keeps the damage.
    auto end = EndOffset(dir.path(), "events", 0);
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    EXPECT_EQ(*end, 800u);
    const bool victim_exists = fs::exists(victim);
    const uint64_t victim_size = victim_exists ? fs::file_size(victim) : 0;
    {
      auto w = PartitionWriter::Open(dir.path(), "events", 0, options);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      EXPECT_EQ((*w)->NextOffset(), 800u);
      (*w)->Append(MakeEvent(800));
      ASSERT_TRUE((*w)->Flush(true).ok());
    }
    ASSERT_EQ(fs::exists(victim), victim_exists);
    if (victim_exists) {
      EXPECT_EQ(fs::file_size(victim), victim_size);
    }
    served.clear();
    EXPECT_EQ(ReadUntilError(dir.path(), &served).code(), Status::Code::kCorruption);
  }
}

// A child appends forever with random flushes, reporting flushed counts on a pipe.
[[noreturn]] void AppendUntilKilled(const std::string& dir, int report_fd, uint64_t seed) {
  auto w = PartitionWriter::Open(dir, "events", 0, SmallSegments(64 * 1024));
  if (!w.ok()) ::_exit(3);
  std::mt19937_64 rng(seed);
  uint64_t next = (*w)->NextOffset();
  for (int i = 0; i < 10'000'000; ++i) {
    const int k = 1 + static_cast<int>(rng() % 400);
    for (int j = 0; j < k; ++j) (*w)->Append(MakeEvent(next++));
    if (!(*w)->Flush(rng() % 16 == 0).ok()) ::_exit(4);
    const uint64_t flushed = (*w)->NextOffset();
    [[maybe_unused]] ssize_t r = ::write(report_fd, &flushed, sizeof(flushed));  // non-blocking
  }
  ::_exit(0);
}

TEST(LogRecoveryTest, WriterKilledAtRandomMoments) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  std::mt19937_64 rng(4242);
  for (int trial = 0; trial < 6; ++trial) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      AppendUntilKilled(dir.path(), fds[1], rng());
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 150));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    uint64_t reported = 0, v = 0;
    while (::read(fds[0], &v, sizeof(v)) == static_cast<ssize_t>(sizeof(v))) reported = std::max(reported, v);
    ::close(fds[0]);

    auto records = ReadAll(dir.path(), "events", 0);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    ASSERT_GE(records->size(), reported) << "a flushed record was lost";
    for (size_t i = 0; i < records->size(); ++i) {
      ASSERT_EQ((*records)[i].offset, i);
      ASSERT_EQ(Describe((*records)[i].event), Describe(MakeEvent(i)));
    }
    auto w = PartitionWriter::Open(dir.path(), "events", 0, SmallSegments(64 * 1024));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_EQ((*w)->NextOffset(), records->size());
  }
  auto end = EndOffset(dir.path(), "events", 0);
  ASSERT_TRUE(end.ok());
  EXPECT_GT(*end, 0u);
}

}  // namespace
}  // namespace segflow::log
