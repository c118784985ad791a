#include "bench/latency/latency_probe.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "engine/log/transaction.h"

namespace segflow::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the producer and the reader share.
struct Shared {
  std::mutex mu;
  std::map<std::string, Clock::time_point> appended;  // probe user -> flushed at
  std::vector<double> latencies_ms;
};

// Tails the changelog read-committed: a partition is polled only while its reader is below
// the commit limit, and records a poll returns at or past the limit are dropped and the
// reader reopened at the limit, so that nothing uncommitted (which recovery may truncate
// and rewrite) is ever taken as seen.
Status ReadChangelog(const ProbeOptions& o, Shared* shared, const std::atomic<bool>* producing) {
  const auto wait_until = Clock::now() + std::chrono::duration<double>(o.changelog_wait_seconds);
  Result<log::TopicMeta> meta = log::ReadTopicMeta(o.log_dir, o.changelog_topic);
  while (!meta.ok()) {
    if (Clock::now() >= wait_until) {
      return meta.status().Annotate(
          "changelog topic '" + o.changelog_topic + "' did not appear within " +
          std::to_string(static_cast<int>(o.changelog_wait_seconds)) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    meta = log::ReadTopicMeta(o.log_dir, o.changelog_topic);
  }
  const uint32_t partitions = meta->partitions;
  std::vector<std::unique_ptr<log::PartitionReader>> readers(partitions);
  std::vector<uint64_t> position(partitions, 0);
  std::vector<log::LogRecord> records;
  auto drain_deadline = Clock::time_point::max();
  for (;;) {
    auto limits = log::CommittedLimits(o.log_dir, o.changelog_topic, partitions);
    if (!limits.ok()) return limits.status().Annotate("read the changelog's commit marker");
    size_t got = 0;
    for (uint32_t p = 0; p < partitions; ++p) {
      if (position[p] >= (*limits)[p]) continue;
      if (readers[p] == nullptr) {
        auto r = log::PartitionReader::Open(o.log_dir, o.changelog_topic, p, position[p]);
        if (!r.ok()) return r.status().Annotate("open the changelog");
        readers[p] = std::move(r).value();
      }
      records.clear();
      auto n = readers[p]->Poll(4096, &records);
      if (!n.ok()) return n.status().Annotate("read the changelog");
      got += *n;
      const auto now = Clock::now();
      std::lock_guard<std::mutex> lock(shared->mu);
      for (const auto& rec : records) {
        if (rec.offset >= (*limits)[p]) break;  // not committed yet
        position[p] = rec.offset + 1;
        if (rec.event.type != "entered") continue;
        auto it = shared->appended.find(rec.event.user);
        if (it == shared->appended.end()) continue;
        shared->latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(now - it->second).count());
        shared->appended.erase(it);
      }
      if (readers[p]->position() != position[p]) readers[p].reset();  // overshot the limit
    }
    if (!producing->load() && drain_deadline == Clock::time_point::max()) {
      drain_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(o.drain_seconds));
    }
    if (Clock::now() > drain_deadline) return Status::OK();
    if (!producing->load()) {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->appended.empty()) return Status::OK();  // every probe seen
    }
    if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

double ProbeResult::Percentile(double q) const {
  if (latencies_ms.empty()) return 0;
  const size_t rank = static_cast<size_t>(q * static_cast<double>(latencies_ms.size()));
  return latencies_ms[std::min(latencies_ms.size() - 1, rank)];
}

Status EnsureEventsTopic(const std::string& log_dir, const std::string& topic,
                         uint32_t partitions) {
  log::TopicMeta meta;
  meta.partitions = partitions;
  auto got = log::EnsureTopic(log_dir, topic, meta);
  if (!got.ok()) return got.status();
  if (got->format != log::TopicFormat::kEvents) {
    return Status::InvalidArgument("topic '" + topic + "' in " + log_dir + " is a changelog topic");
  }
  return Status::OK();
}

Result<ProbeResult> RunProbe(const ProbeOptions& o) {
  if (!(o.rate > 0) || !(o.seconds > 0) || o.probe_ms < 1 || o.background_users == 0) {
    return Status::InvalidArgument(
        "latency probe: rate, seconds, probe interval and users must be positive");
  }
  auto meta = log::ReadTopicMeta(o.log_dir, o.topic);
  if (!meta.ok()) return meta.status().Annotate("the probe's events topic");
  const uint32_t partitions = meta->partitions;
  std::vector<std::unique_ptr<log::PartitionWriter>> writers;
  for (uint32_t p = 0; p < partitions; ++p) {
    auto w = log::PartitionWriter::Open(o.log_dir, o.topic, p);
    if (!w.ok()) return w.status().Annotate("open the probe's events topic");
    writers.push_back(std::move(w).value());
  }

  Shared shared;
  std::atomic<bool> producing{true};
  Status reader_status;
  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    reader_status = ReadChangelog(o, &shared, &producing);
    reader_done.store(true);
  });

  // Batches about every 0.5 ms, flushed (not fsynced: an append is visible to readers
  // once written).
  ProbeResult result;
  result.target_rate = o.rate;
  Status producer_status;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  uint64_t next_user = 0;
  auto last_probe = start;
  auto last_tick = start;
  while (Clock::now() < end && (o.stop == nullptr || !o.stop->load()) && producer_status.ok()) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const uint64_t due = static_cast<uint64_t>(elapsed * o.rate);
    const int64_t ts = WallMs();
    std::vector<bool> touched(partitions, false);
    for (; result.events < due; ++result.events) {
      Event e;
      e.user = "bg" + std::to_string(next_user++ % o.background_users);
      e.type = "view";
      e.ts = ts;
      const uint32_t p = PartitionFor(HashUser(e.user), partitions);
      writers[p]->Append(std::move(e));
      touched[p] = true;
    }
    if (Clock::now() - last_probe >= std::chrono::milliseconds(o.probe_ms)) {
      last_probe = Clock::now();
      Event e;
      e.user = o.probe_prefix + std::to_string(result.probes++);
      e.type = "probe";
      e.ts = ts;
      const std::string user = e.user;
      const uint32_t p = PartitionFor(HashUser(e.user), partitions);
      writers[p]->Append(std::move(e));
      ++result.events;
      touched[p] = false;
      producer_status = writers[p]->Flush(false);
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.appended[user] = Clock::now();
    }
    for (uint32_t p = 0; p < partitions && producer_status.ok(); ++p) {
      if (touched[p] && writers[p]->buffered() > 0) producer_status = writers[p]->Flush(false);
    }
    if (o.on_tick && Clock::now() - last_tick >= std::chrono::milliseconds(200)) {
      last_tick = Clock::now();
      o.on_tick(elapsed);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.actual_rate = result.seconds > 0 ? static_cast<double>(result.events) / result.seconds : 0;
  producing.store(false);
  // While the reader drains: one event per partition every 5 ms (not counted), so that every
  // partition's watermark passes the last probes' instants and they are evaluated. Each of
  // a partition's ticks is of a user that hashes to it, as a producer would route it.
  std::vector<std::string> tick_user(partitions);
  for (uint32_t found = 0, i = 0; found < partitions; ++i) {
    std::string user = "tick" + std::to_string(i);
    std::string& slot = tick_user[PartitionFor(HashUser(user), partitions)];
    if (slot.empty()) {
      slot = std::move(user);
      ++found;
    }
  }
  while (!reader_done.load() && producer_status.ok()) {
    for (uint32_t p = 0; p < partitions && producer_status.ok(); ++p) {
      Event e;
      e.user = tick_user[p];
      e.type = "view";
      e.ts = WallMs();
      writers[p]->Append(std::move(e));
      producer_status = writers[p]->Flush(false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  reader.join();
  if (!producer_status.ok()) return producer_status.Annotate("append to the probe's events topic");
  if (!reader_status.ok()) return reader_status;
  result.latencies_ms = std::move(shared.latencies_ms);
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  return result;
}

}  // namespace segflow::bench
