// Log read: PartitionReader::Poll over one partition of generated cart events, as a
// bounded replay's source task reads it (CRC check, Cap'n Proto batch, every record
// decoded into an Event). Items are records; bytes are the segment files' bytes.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <vector>

#include "bench/micro/bench_support.h"
#include "engine/log/log.h"

namespace segflow::microbench {
namespace {

constexpr uint64_t kRecords = 100000;

// Writes the log once per process: the benchmark is about reading it.
struct CartLog {
  BenchDir dir;
  uint64_t bytes = 0;
  CartLog() {
    log::TopicMeta meta;
    if (!log::EnsureTopic(dir.path(), "events", meta).ok()) Fail("EnsureTopic");
    auto w = log::PartitionWriter::Open(dir.path(), "events", 0);
    if (!w.ok()) Fail("PartitionWriter::Open: " + w.status().ToString());
    for (Event& e : ScenarioEvents(gen::Scenario::kCart, 20000, kRecords)) {
      (*w)->Append(std::move(e));
      if ((*w)->buffered() >= 1024 && !(*w)->Flush(false).ok()) Fail("Flush");
    }
    if (!(*w)->Flush(true).ok()) Fail("Flush");
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir.path())) {
      if (f.path().extension() == ".log") bytes += f.file_size();
    }
  }
};

// A function-local static, destroyed at exit: its directory is removed then.
const CartLog& TheLog() {
  static const CartLog log;
  return log;
}

void BM_LogRead(benchmark::State& state) {
  const CartLog& log = TheLog();
  const size_t poll = static_cast<size_t>(state.range(0));
  std::vector<log::LogRecord> records;
  uint64_t total = 0;
  for (auto _ : state) {
    auto reader = log::PartitionReader::Open(log.dir.path(), "events", 0, 0);
    if (!reader.ok()) {
      state.SkipWithError("PartitionReader::Open failed");
      return;
    }
    uint64_t read = 0;
    for (;;) {
      records.clear();
      auto n = (*reader)->Poll(poll, &records);
      if (!n.ok()) {
        state.SkipWithError("Poll failed");
        return;
      }
      if (*n == 0) break;
      read += *n;
      benchmark::DoNotOptimize(records.back().event.ts);
    }
    if (read != kRecords) {
      state.SkipWithError("read a different number of records than were written");
      return;
    }
    total += read;
  }
  state.SetItemsProcessed(static_cast<int64_t>(total));
  state.SetBytesProcessed(static_cast<int64_t>(log.bytes) * state.iterations());
}
// 4096: the source task's poll size (kPollRecords).
BENCHMARK(BM_LogRead)->Arg(256)->Arg(4096)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace segflow::microbench
