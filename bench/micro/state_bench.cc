// Micro-benchmarks of the runtime's hot paths: channel throughput in batches, the keyed
// value cache's hit and miss paths, raw RocksDB writes and reads for comparison, timers.
// Run a Release build: segflow_micro_bench --benchmark_filter=...
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/common/key_group.h"
#include "engine/runtime/channel.h"
#include "engine/runtime/stream_element.h"
#include "engine/state/keyed_state_backend.h"
#include "engine/state/keyed_value_cache.h"
#include "engine/state/timer_service.h"

namespace segflow {
namespace {

constexpr uint32_t kMaxParallelism = 128;

class BenchDir {
 public:
  BenchDir() {
    char tmpl[] = "/tmp/segflow-bench-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    path_ = made != nullptr ? made : "/tmp/segflow-bench-fallback";
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RecordBatch {
  std::vector<uint64_t> records;
};

// One producer (the benchmark thread) and one consumer thread; items = records.
void BM_ChannelBatches(benchmark::State& state) {
  const size_t batch_size = static_cast<size_t>(state.range(0));
  BoundedChannel<StreamElement<RecordBatch>> ch(64);
  uint64_t consumed = 0;
  std::thread consumer([&] {
    for (;;) {
      auto e = ch.Pop();
      if (!e || IsEndOfStream(*e)) return;
      if (auto* b = std::get_if<RecordBatch>(&*e)) consumed += b->records.size();
    }
  });
  uint64_t next = 0;
  for (auto _ : state) {
    RecordBatch b;
    b.records.resize(batch_size);
    for (auto& r : b.records) r = next++;
    if (!ch.Push(std::move(b)).ok()) state.SkipWithError("push failed");
  }
  if (!ch.Push(EndOfStream{}).ok()) state.SkipWithError("push failed");
  consumer.join();
  if (consumed != next) state.SkipWithError("lost records");
  state.SetItemsProcessed(static_cast<int64_t>(next));
  state.counters["blocked_ms"] =
      std::chrono::duration<double, std::milli>(ch.stats().blocked).count();
}
BENCHMARK(BM_ChannelBatches)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();

struct UserCounters {
  std::array<int64_t, 12> counts{};
};
void EncodeCounters(const UserCounters& u, std::string* out) {
  out->append(reinterpret_cast<const char*>(u.counts.data()), sizeof(u.counts));
}
Status DecodeCounters(std::string_view bytes, std::unique_ptr<UserCounters>* out) {
  if (bytes.size() != sizeof(UserCounters::counts)) return Status::Corruption("size");
  auto u = std::make_unique<UserCounters>();
  std::memcpy(u->counts.data(), bytes.data(), bytes.size());
  *out = std::move(u);
  return Status::OK();
}

struct KeyedUser {
  uint32_t key_group;
  std::string user;
};
std::vector<KeyedUser> MakeUsers(size_t n) {
  std::vector<KeyedUser> users;
  users.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string u = "user-" + std::to_string(i * 7919 % 1000003);
    users.push_back({KeyGroupFor(HashUser(u), kMaxParallelism), std::move(u)});
  }
  return users;
}

std::unique_ptr<KeyedStateBackend> OpenBackend(const BenchDir& dir, StateId* state) {
  auto b = KeyedStateBackend::Open(dir.Sub("w"), {0, kMaxParallelism - 1});
  if (!b.ok()) return nullptr;
  auto st = (*b)->RegisterState("users");
  if (!st.ok()) return nullptr;
  *state = *st;
  return std::move(b).value();
}

// Writes a value for every user straight to RocksDB, then flushes memtables to SST files.
bool Preload(KeyedStateBackend* b, StateId state, const std::vector<KeyedUser>& users) {
  std::string bytes;
  EncodeCounters(UserCounters{}, &bytes);
  StateWriteBatch batch(b);
  for (size_t i = 0; i < users.size(); ++i) {
    batch.Put(state, users[i].key_group, users[i].user, bytes);
    if (batch.count() >= 10000 || i + 1 == users.size()) {
      if (!b->Write(&batch).ok()) return false;
      batch.Clear();
    }
  }
  return b->FlushAll().ok();
}

// Read-modify-write of hot users, all cached: the per-event path of a keyed operator.
void BM_CacheHit(benchmark::State& state) {
  BenchDir dir;
  StateId st = 0;
  auto b = OpenBackend(dir, &st);
  const auto users = MakeUsers(10000);
  KeyedValueCache<UserCounters> cache(b.get(), st, EncodeCounters, DecodeCounters, 1 << 16);
  for (const auto& u : users) (void)cache.GetOrCreate(u.key_group, u.user);
  size_t i = 0;
  for (auto _ : state) {
    const auto& u = users[i++ % users.size()];
    auto v = cache.Get(u.key_group, u.user);
    ++(*v)->counts[0];
    (void)cache.MarkDirty(u.key_group, u.user);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_ratio"] =
      static_cast<double>(cache.stats().hits) / static_cast<double>(cache.stats().hits + cache.stats().misses);
}
BENCHMARK(BM_CacheHit);

// Read-modify-write over many more users than fit: a RocksDB read on every lookup and a
// batched write-back of evicted dirty entries.
void BM_CacheMiss(benchmark::State& state) {
  BenchDir dir;
  StateId st = 0;
  auto b = OpenBackend(dir, &st);
  const auto users = MakeUsers(200000);
  if (!b || !Preload(b.get(), st, users)) {
    state.SkipWithError("preload failed");
    return;
  }
  KeyedValueCache<UserCounters> cache(b.get(), st, EncodeCounters, DecodeCounters, 4096);
  std::mt19937 rng(1);
  for (auto _ : state) {
    const auto& u = users[rng() % users.size()];
    auto v = cache.Get(u.key_group, u.user);
    if (!v.ok() || *v == nullptr) {
      state.SkipWithError("missing user");
      break;
    }
    ++(*v)->counts[0];
    (void)cache.MarkDirty(u.key_group, u.user);
  }
  state.SetItemsProcessed(state.iterations());
  const auto s = cache.stats();
  state.counters["miss_ratio"] = static_cast<double>(s.misses) / static_cast<double>(s.hits + s.misses);
}
BENCHMARK(BM_CacheMiss);

void BM_RocksDbRawWrite(benchmark::State& state) {
  BenchDir dir;
  StateId st = 0;
  auto b = OpenBackend(dir, &st);
  const auto users = MakeUsers(200000);
  std::string bytes;
  EncodeCounters(UserCounters{}, &bytes);
  size_t i = 0;
  for (auto _ : state) {
    const auto& u = users[i++ % users.size()];
    if (!b->Put(st, u.key_group, u.user, bytes).ok()) state.SkipWithError("put failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RocksDbRawWrite);

void BM_RocksDbRawRead(benchmark::State& state) {
  BenchDir dir;
  StateId st = 0;
  auto b = OpenBackend(dir, &st);
  const auto users = MakeUsers(200000);
  if (!b || !Preload(b.get(), st, users)) {
    state.SkipWithError("preload failed");
    return;
  }
  std::mt19937 rng(1);
  std::string value;
  for (auto _ : state) {
    const auto& u = users[rng() % users.size()];
    if (!b->Get(st, u.key_group, u.user, &value).ok()) state.SkipWithError("get failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RocksDbRawRead);

// Register one timer per event and fire them as the watermark passes.
void BM_TimerRegisterAndPop(benchmark::State& state) {
  BenchDir dir;
  StateId st = 0;
  auto b = OpenBackend(dir, &st);
  auto timers = TimerService::Open(b.get());
  if (!timers.ok()) {
    state.SkipWithError("open timers failed");
    return;
  }
  const auto users = MakeUsers(10000);
  std::vector<Timer> due;
  int64_t now = 0;
  for (auto _ : state) {
    const auto& u = users[static_cast<size_t>(now) % users.size()];
    (void)(*timers)->Register(0, now + 1000, u.key_group, u.user);
    ++now;
    if (now % 1024 == 0) {
      due.clear();
      (*timers)->PopDue(0, now, &due);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerRegisterAndPop);

}  // namespace
}  // namespace segflow

