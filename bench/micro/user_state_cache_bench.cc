// State access through the cache: CachedUserStateStore::Find (the keyed task's lookup of
// a user's SegmentProgram state, RocksDB behind a write-back KeyedValueCache) for the
// segments of jobs/cart.yaml, each state holding a few events' worth of leaf state.
//  * hit: every user fits the cache (a replay with the default 1 Mi entries per subtask);
//  * miss: 4x more users than cache entries, visited round robin, so every lookup evicts
//    (serializes and writes back a dirty state) and reads and deserializes another.
// Items are lookups.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/micro/bench_support.h"
#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "operators/segment/cached_user_state_store.h"

namespace segflow::microbench {
namespace {

constexpr const char* kCartSegments = R"(
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
  - id: repeat_buyer
    when: {count: {event: purchase, window: 30d, at_least: 2}}
)";

// Every user gets a state that has processed an add_to_cart and a purchase.
void Populate(const SegmentProgram& program, CachedUserStateStore* store,
              const std::vector<std::string>& users) {
  Event add;
  add.type = "add_to_cart";
  add.props = Value::Object({{"price", Value::Double(99.5)}});
  Event buy;
  buy.type = "purchase";
  std::vector<MembershipChange> changes;
  for (size_t i = 0; i < users.size(); ++i) {
    auto st = store->Insert(users[i], program.NewUserState());
    if (!st.ok()) Fail("Insert: " + st.status().ToString());
    add.ts = 1000 + static_cast<int64_t>(i);
    buy.ts = add.ts + 60000;
    for (const Event* e : {&add, &buy}) {
      ProjectedEvent pe;
      program.Project(*e, i, &pe);
      program.AddEvent(*st, std::move(pe));
    }
    for (auto t = program.NextInstant(**st); t && *t <= buy.ts; t = program.NextInstant(**st)) {
      program.ProcessInstant(*st, *t, &changes);
    }
  }
}

void BM_UserStateCache(benchmark::State& state) {
  const bool miss = state.range(0) != 0;
  const size_t cache_entries = 4096;
  const size_t n_users = miss ? cache_entries * 4 : cache_entries / 2;
  BenchDir dir;
  auto backend = KeyedStateBackend::Open(dir.Sub("keyed"), {0, kDefaultMaxParallelism - 1});
  if (!backend.ok()) Fail("KeyedStateBackend::Open: " + backend.status().ToString());
  const auto program = CompileBenchJob(ParseBenchJob(kCartSegments));
  auto store = CachedUserStateStore::Open(program, backend->get(), cache_entries);
  if (!store.ok()) Fail("CachedUserStateStore::Open: " + store.status().ToString());
  std::vector<std::string> users;
  for (size_t i = 0; i < n_users; ++i) users.push_back("u" + std::to_string(i * 7919 % 1000003));
  Populate(*program, store->get(), users);
  if (!(*store)->Sync().ok()) Fail("Sync");
  size_t i = 0;
  for (auto _ : state) {
    auto st = (*store)->Find(users[i]);
    if (++i == users.size()) i = 0;
    if (!st.ok() || *st == nullptr) {
      state.SkipWithError("a populated user has no state");
      return;
    }
    benchmark::DoNotOptimize(*st);
  }
  state.SetItemsProcessed(state.iterations());
  const auto stats = (*store)->cache_stats();
  state.counters["hit_ratio"] =
      static_cast<double>(stats.hits) / static_cast<double>(stats.hits + stats.misses);
}
BENCHMARK(BM_UserStateCache)->ArgName("miss")->Arg(0)->Arg(1);

}  // namespace
}  // namespace segflow::microbench
