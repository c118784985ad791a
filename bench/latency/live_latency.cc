// segflow_live_latency: end-to-end latency of a live job at a fixed input rate.
//
// Appends events to the job's source topic at RATE events/s for SECONDS (event time =
// wall clock), background traffic from many users plus, every PROBE_MS, one `probe`
// event of a fresh user. The job (bench/latency/job.yaml, run separately with
// `segflow run ... --workers N`) puts a user in segment `probe` at its probe's instant, so
// every probe yields exactly one "entered" changelog record. A reader tails the changelog
// and takes, per probe, the wall time from the probe's append (flushed to the log) to its
// record being readable. Prints p50/p90/p99/max in ms.
//
// usage: segflow_live_latency LOG_DIR RATE SECONDS [PROBE_MS]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/log/log.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Die(const segflow::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s LOG_DIR RATE SECONDS [PROBE_MS]\n", argv[0]);
    return 2;
  }
  const std::string log_dir = argv[1];
  const double rate = std::atof(argv[2]);
  const double seconds = std::atof(argv[3]);
  const int probe_ms = argc > 4 ? std::atoi(argv[4]) : 10;
  auto meta = segflow::log::ReadTopicMeta(log_dir, "events");
  Die(meta.status(), "events topic");
  const uint32_t partitions = meta->partitions;
  std::vector<std::unique_ptr<segflow::log::PartitionWriter>> writers;
  for (uint32_t p = 0; p < partitions; ++p) {
    auto w = segflow::log::PartitionWriter::Open(log_dir, "events", p);
    Die(w.status(), "open writer");
    writers.push_back(std::move(w).value());
  }

  std::mutex mu;
  std::map<std::string, Clock::time_point> appended;  // probe user -> flushed at
  std::vector<double> latencies_ms;
  std::atomic<bool> producing{true};
  uint64_t probes_sent = 0;

  // The reader: tails every changelog partition.
  std::thread reader([&] {
    std::vector<std::unique_ptr<segflow::log::PartitionReader>> readers;
    const auto wait_until = Clock::now() + std::chrono::seconds(30);
    while (readers.empty() && Clock::now() < wait_until) {
      auto m = segflow::log::ReadTopicMeta(log_dir, "latency.memberships");
      if (m.ok()) {
        for (uint32_t p = 0; p < m->partitions; ++p) {
          auto r = segflow::log::PartitionReader::Open(log_dir, "latency.memberships", p, 0);
          Die(r.status(), "open changelog reader");
          readers.push_back(std::move(r).value());
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    std::vector<segflow::log::LogRecord> records;
    auto drain_deadline = Clock::time_point::max();
    for (;;) {
      size_t got = 0;
      for (auto& r : readers) {
        records.clear();
        auto n = r->Poll(4096, &records);
        Die(n.status(), "read changelog");
        got += *n;
        const auto now = Clock::now();
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& rec : records) {
          if (rec.event.type != "entered") continue;
          auto it = appended.find(rec.event.user);
          if (it == appended.end()) continue;
          latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
          appended.erase(it);
        }
      }
      if (!producing.load() && drain_deadline == Clock::time_point::max()) drain_deadline = Clock::now() + std::chrono::seconds(3);
      if (Clock::now() > drain_deadline) break;
      if (got == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });

  // The producer: batches every millisecond, flushed (not fsynced: a live producer's
  // append is visible to readers once written).
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  uint64_t sent = 0, next_user = 0;
  auto last_probe = start;
  while (Clock::now() < end) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const uint64_t due = static_cast<uint64_t>(elapsed * rate);
    const int64_t ts = WallMs();
    std::vector<bool> touched(partitions, false);
    for (; sent < due; ++sent) {
      segflow::Event e;
      e.user = "bg" + std::to_string(next_user++ % 100000);
      e.type = "view";
      e.ts = ts;
      const uint32_t p = segflow::PartitionFor(segflow::HashUser(e.user), partitions);
      writers[p]->Append(std::move(e));
      touched[p] = true;
    }
    std::string probe_user;
    if (Clock::now() - last_probe >= std::chrono::milliseconds(probe_ms)) {
      last_probe = Clock::now();
      probe_user = "probe" + std::to_string(probes_sent++);
      segflow::Event e;
      e.user = probe_user;
      e.type = "probe";
      e.ts = ts;
      const uint32_t p = segflow::PartitionFor(segflow::HashUser(e.user), partitions);
      writers[p]->Append(std::move(e));
      touched[p] = true;
      Die(writers[p]->Flush(false), "flush");
      std::lock_guard<std::mutex> lock(mu);
      appended[probe_user] = Clock::now();
    }
    for (uint32_t p = 0; p < partitions; ++p) {
      if (touched[p] && writers[p]->buffered() > 0) Die(writers[p]->Flush(false), "flush");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const double actual_rate = sent / std::chrono::duration<double>(Clock::now() - start).count();
  producing.store(false);
  reader.join();

  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double q) {
    if (latencies_ms.empty()) return 0.0;
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(q * latencies_ms.size()))];
  };
  std::printf("rate %.0f events/s for %.0f s, %llu probes, %zu seen, %zu never seen\n", actual_rate, seconds,
              static_cast<unsigned long long>(probes_sent), latencies_ms.size(), appended.size());
  std::printf("latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", pct(0.50), pct(0.90), pct(0.99),
              latencies_ms.empty() ? 0.0 : latencies_ms.back());
  return latencies_ms.empty() ? 1 : 0;
}
