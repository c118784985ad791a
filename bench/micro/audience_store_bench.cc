// What reconciliation costs at the audience store: AudienceStore::Apply (a read of the
// row's stamp per change, then the write) against blind RocksDB writes of the same rows
// (what the store did before stamps), for a first run (every row new) and a replay
// (every change a duplicate). Batches of 1024 changes over 100 k users, as a sink commits.
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "operators/sink/audience_store.h"

namespace segflow {
namespace {

constexpr int kUsers = 100000;
constexpr int kBatch = 1024;

std::string TempDir() {
  char tmpl[] = "/tmp/segflow-audience-bench-XXXXXX";
  const char* made = ::mkdtemp(tmpl);
  return made != nullptr ? made : "/tmp/segflow-audience-bench-fallback";
}

// Users first .. first + kBatch - 1; a user's change always has the same stamp.
std::vector<AudienceStore::Change> Batch(int first) {
  std::vector<AudienceStore::Change> out;
  for (int u = first; u < first + kBatch; ++u) {
    out.push_back({"cart_abandoned", "user-" + std::to_string(u), true, 1000 + u, 0});
  }
  return out;
}

void BM_BlindRocksDbWrites(benchmark::State& state) {
  const std::string dir = TempDir();
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) {
    state.SkipWithError("open");
    return;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string value(17, 'x');
  int first = 0;
  for (auto _ : state) {
    rocksdb::WriteBatch batch;
    for (const auto& c : Batch(first)) batch.Put("m" + c.segment + '\0' + c.user, value);
    db->Write(rocksdb::WriteOptions(), &batch);
    first += kBatch;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  db.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BlindRocksDbWrites);

void BM_StampedApply(benchmark::State& state) {
  const std::string dir = TempDir();
  auto store = AudienceStore::OpenForWrite(dir);
  if (!store.ok()) {
    state.SkipWithError("open");
    return;
  }
  int first = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*store)->Apply(Batch(first), first, false).ok());
    first += kBatch;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StampedApply);

// Re-applying what the store holds (an exactly-once replay): every change a duplicate.
void BM_StampedReplayOfDuplicates(benchmark::State& state) {
  const std::string dir = TempDir();
  auto store = AudienceStore::OpenForWrite(dir);
  if (!store.ok()) {
    state.SkipWithError("open");
    return;
  }
  constexpr int kBatches = kUsers / kBatch;
  for (int b = 0; b < kBatches; ++b) (void)(*store)->Apply(Batch(b * kBatch), b, false);
  int b = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*store)->Apply(Batch((b % kBatches) * kBatch), b, false).ok());
    ++b;
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StampedReplayOfDuplicates);

}  // namespace
}  // namespace segflow
