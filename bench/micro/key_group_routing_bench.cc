// Key-group routing: what the source task computes per record to pick the keyed subtask
// (HashUser, KeyGroupFor, SubtaskForKeyGroup; engine/common/key_group.h), over the user
// ids `segflow gen` writes. Items are records.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/common/key_group.h"

namespace segflow {
namespace {

std::vector<std::string> UserIds(size_t n) {
  std::vector<std::string> users;
  users.reserve(n);
  for (size_t i = 0; i < n; ++i) users.push_back("u" + std::to_string(i * 7919 % 1000003));
  return users;
}

void BM_KeyGroupRouting(benchmark::State& state) {
  const auto users = UserIds(4096);
  const uint32_t parallelism = static_cast<uint32_t>(state.range(0));
  std::vector<uint64_t> per_subtask(parallelism);
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t h = HashUser(users[i]);
    if (++i == users.size()) i = 0;
    const uint32_t k = SubtaskForKeyGroup(KeyGroupFor(h, kDefaultMaxParallelism),
                                          kDefaultMaxParallelism, parallelism);
    ++per_subtask[k];
  }
  benchmark::DoNotOptimize(per_subtask.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyGroupRouting)->Arg(2)->Arg(4);

}  // namespace
}  // namespace segflow
