// Several writer processes appending to the same partitions at once.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "log_test_util.h"

namespace segflow::log {
namespace {

using testing::MakeEvent;
using testing::Meta;
using testing::ReadAll;
using testing::TempDir;

constexpr uint32_t kPartitions = 3;

// Appends `n` tagged events to their users' partitions, flushing at random points.
Status ProduceTagged(const std::string& dir, const std::string& tag, uint64_t n, uint64_t seed) {
  WriterOptions options;
  options.segment_bytes = 8192;
  options.index_interval_bytes = 1024;
  std::vector<std::unique_ptr<PartitionWriter>> writers;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto w = PartitionWriter::Open(dir, "events", p, options);
    if (!w.ok()) return w.status();
    writers.push_back(std::move(w).value());
  }
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < n; ++i) {
    Event e = MakeEvent(i, tag);
    const uint32_t p = PartitionFor(HashUser(e.user), kPartitions);
    writers[p]->Append(std::move(e));
    if (rng() % 25 == 0) SEGFLOW_RETURN_IF_ERROR(writers[rng() % kPartitions]->Flush(false));
  }
  for (auto& w : writers) SEGFLOW_RETURN_IF_ERROR(w->Flush(true));
  return Status::OK();
}

// Every tagged record exactly once, in its user's partition, in order per writer; offsets dense.
void CheckAllPresent(const std::string& dir, const std::vector<std::string>& tags, uint64_t n) {
  std::map<std::string, std::set<int64_t>> seen;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto records = ReadAll(dir, "events", p);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    std::map<std::string, int64_t> last_seq;
    for (size_t i = 0; i < records->size(); ++i) {
      const LogRecord& r = (*records)[i];
      ASSERT_EQ(r.offset, i) << "partition " << p;
      ASSERT_EQ(PartitionFor(HashUser(r.event.user), kPartitions), p);
      const std::string tag = r.event.props.Find("tag")->as_string();
      const int64_t seq = r.event.props.Find("seq")->as_int();
      ASSERT_TRUE(seen[tag].insert(seq).second) << "duplicate " << tag << " " << seq;
      auto it = last_seq.find(tag);
      if (it != last_seq.end()) {
        ASSERT_LT(it->second, seq) << "reordered within a writer";
      }
      last_seq[tag] = seq;
      ASSERT_EQ(testing::Describe(r.event), testing::Describe(MakeEvent(static_cast<uint64_t>(seq), tag)));
    }
  }
  for (const auto& tag : tags) EXPECT_EQ(seen[tag].size(), n) << tag;
}

TEST(LogConcurrencyTest, TwoWriterProcessesOnTheSamePartitions) {
  for (int trial = 0; trial < 2; ++trial) {
    TempDir dir;
    ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(kPartitions)).ok());
    constexpr uint64_t kPerWriter = 2000;
    const std::vector<std::string> tags = {"w0", "w1"};
    std::vector<pid_t> pids;
    for (size_t k = 0; k < tags.size(); ++k) {
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        Status st = ProduceTagged(dir.path(), tags[k], kPerWriter, 100 * trial + k);
        if (!st.ok()) std::fprintf(stderr, "writer %zu: %s\n", k, st.ToString().c_str());
        ::_exit(st.ok() ? 0 : 1);
      }
      pids.push_back(pid);
    }
    for (pid_t pid : pids) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CheckAllPresent(dir.path(), tags, kPerWriter);
  }
}

TEST(LogConcurrencyTest, WriterThreadsAndALiveReader) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(kPartitions)).ok());
  constexpr uint64_t kPerWriter = 1500;
  const std::vector<std::string> tags = {"t0", "t1", "t2"};
  std::vector<std::thread> threads;
  std::vector<Status> results(tags.size());
  for (size_t k = 0; k < tags.size(); ++k) {
    threads.emplace_back([&, k] { results[k] = ProduceTagged(dir.path(), tags[k], kPerWriter, 7 + k); });
  }
  // A live reader on partition 0 keeps up while the writers run; it never sees a gap.
  auto reader = PartitionReader::Open(dir.path(), "events", 0, 0);
  ASSERT_TRUE(reader.ok());
  std::vector<LogRecord> live;
  for (int i = 0; i < 200; ++i) {
    auto n = (*reader)->Poll(500, &live);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.ToString();
  for (int i = 0; i < 1000; ++i) {
    auto n = (*reader)->Poll(500, &live);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
  }
  for (size_t i = 0; i < live.size(); ++i) ASSERT_EQ(live[i].offset, i);
  EXPECT_EQ(live.size(), *EndOffset(dir.path(), "events", 0));
  CheckAllPresent(dir.path(), tags, kPerWriter);
}

}  // namespace
}  // namespace segflow::log
