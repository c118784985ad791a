#include "engine/state/rocksdb_support.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace segflow::state_internal {

namespace fs = std::filesystem;

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  const std::string msg = what + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(msg);
  if (s.IsIOError()) return Status::IOError(msg);
  return Status::Internal(msg);
}

rocksdb::Options StateDbOptions(const KeyedStateOptions& options,
                                const std::shared_ptr<rocksdb::Cache>& block_cache) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  // Two background jobs: one flush, one compaction (the machine is shared with tasks).
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  o.write_buffer_size = options.write_buffer_bytes;
  o.max_write_buffer_number = 4;
  o.level_compaction_dynamic_level_bytes = true;
  o.target_file_size_base = 64u << 20;
  o.max_bytes_for_level_base = 256u << 20;
  o.level0_file_num_compaction_trigger = 4;
  // Column families flush together: a snapshot is consistent across states without a WAL.
  o.atomic_flush = true;
  // Nothing to preserve at close: the working copy is scratch.
  o.avoid_flush_during_shutdown = true;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.keep_log_file_num = 2;
  // New users are point misses: a memtable bloom filter answers them without a search.
  o.memtable_whole_key_filtering = true;
  o.memtable_prefix_bloom_size_ratio = 0.02;

  const auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    return std::find(supported.begin(), supported.end(), t) != supported.end();
  };
  o.compression = has(rocksdb::kLZ4Compression)      ? rocksdb::kLZ4Compression
                  : has(rocksdb::kSnappyCompression) ? rocksdb::kSnappyCompression
                                                     : rocksdb::kNoCompression;
  if (has(rocksdb::kZSTD)) o.bottommost_compression = rocksdb::kZSTD;

  rocksdb::BlockBasedTableOptions t;
  t.block_cache = block_cache;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.whole_key_filtering = true;
  t.cache_index_and_filter_blocks = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  t.block_size = 16u << 10;
  t.format_version = 5;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

rocksdb::WriteOptions StateWriteOptions() {
  rocksdb::WriteOptions w;
  w.disableWAL = true;
  w.sync = false;
  return w;
}

Status PrepareWorkDir(const std::string& dir) {
  std::error_code ec;
  const fs::path p(dir);
  if (fs::exists(p, ec)) {
    if (!fs::is_directory(p, ec)) return Status::FailedPrecondition(dir + " is not a directory");
    const bool empty = fs::is_empty(p, ec);
    if (ec) return Status::IOError("inspect " + dir + ": " + ec.message());
    if (!empty) {
      if (!fs::exists(p / kWorkDirMarker, ec)) {
        return Status::FailedPrecondition("refusing to wipe " + dir +
                                          ": not empty and not a keyed-state working directory");
      }
      fs::remove_all(p, ec);
      if (ec) return Status::IOError("wipe " + dir + ": " + ec.message());
    }
  }
  fs::create_directories(p, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  std::ofstream marker(p / kWorkDirMarker);
  marker << "scratch working copy of keyed state; durable state lives in snapshots\n";
  marker.close();
  if (!marker) return Status::IOError("write marker in " + dir);
  return Status::OK();
}

Status CopyDbDir(const std::string& src, const std::string& dst) {
  std::error_code ec;
  fs::create_directories(dst, ec);
  if (ec) return Status::IOError("create " + dst + ": " + ec.message());
  fs::directory_iterator it(src, ec);
  if (ec) return Status::IOError("list " + src + ": " + ec.message());
  // increment(ec), not range-for: directory iteration must not throw.
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Status::IOError("list " + src + ": " + ec.message());
    if (!it->is_regular_file(ec)) continue;
    const fs::path from = it->path();
    const fs::path to = fs::path(dst) / from.filename();
    const std::string ext = from.extension().string();
    if (ext == ".sst" || ext == ".blob") {
      fs::create_hard_link(from, to, ec);
      if (!ec) continue;
      ec.clear();  // e.g. EXDEV: another filesystem
    }
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::IOError("copy " + from.string() + ": " + ec.message());
  }
  if (ec) return Status::IOError("list " + src + ": " + ec.message());
  return Status::OK();
}

}  // namespace segflow::state_internal
