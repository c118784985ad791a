// KeyedStateBackend::Restore: a working copy serving one key-group range, built from
// snapshots of any key-group split (rescaling = filtering whole ranges).
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "engine/state/keyed_state_backend.h"
#include "engine/state/rocksdb_support.h"
#include "engine/state/snapshot_metadata.h"
#include "engine/state/state_key.h"

namespace segflow {

namespace fs = std::filesystem;
using state_internal::FromRocks;
using state_internal::StateWriteOptions;

namespace {

constexpr size_t kImportBatchBytes = 4u << 20;

bool Intersects(KeyGroupRange a, KeyGroupRange b) { return a.first <= b.last && b.first <= a.last; }

uint32_t Overlap(KeyGroupRange a, KeyGroupRange b) {
  return Intersects(a, b) ? std::min(a.last, b.last) - std::max(a.first, b.first) + 1 : 0;
}

std::string RangeText(KeyGroupRange r) {
  // Appended piecewise: GCC 12's -Wrestrict misfires on "[" + std::to_string(...) at -O3.
  std::string s = "[";
  s += std::to_string(r.first);
  s += ", ";
  s += std::to_string(r.last);
  s += "]";
  return s;
}

// A snapshot's db opened read-only from a private copy, closed and removed on destruction.
class SnapshotCopy {
 public:
  ~SnapshotCopy() {
    if (db_ != nullptr) {
      for (auto& [name, h] : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      db_->Close().PermitUncheckedError();
      delete db_;
    }
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }

  Status Open(const std::string& snapshot_db, const std::string& path, const rocksdb::Options& opts) {
    path_ = path;
    SEGFLOW_RETURN_IF_ERROR(state_internal::CopyDbDir(snapshot_db, path));
    std::vector<std::string> names;
    SEGFLOW_RETURN_IF_ERROR(FromRocks(
        rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(opts), path, &names),
        "list column families of " + snapshot_db));
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions(opts));
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    SEGFLOW_RETURN_IF_ERROR(FromRocks(
        rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(opts), path, descriptors, &handles, &db_),
        "open snapshot " + snapshot_db));
    for (size_t i = 0; i < names.size(); ++i) handles_[names[i]] = handles[i];
    return Status::OK();
  }

  rocksdb::DB* db() const { return db_; }
  const std::map<std::string, rocksdb::ColumnFamilyHandle*>& handles() const { return handles_; }

 private:
  std::string path_;
  rocksdb::DB* db_ = nullptr;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace

Result<std::unique_ptr<KeyedStateBackend>> KeyedStateBackend::Restore(
    const std::vector<std::string>& snapshot_dirs, const std::string& dir, KeyGroupRange key_groups,
    const KeyedStateOptions& options) {
  SEGFLOW_RETURN_IF_ERROR(Validate(key_groups, options));

  struct Source {
    std::string dir;
    SnapshotMetadata meta;
  };
  std::vector<Source> sources;
  std::map<std::string, uint32_t> layouts;
  for (const auto& snap : snapshot_dirs) {
    auto meta = ReadSnapshotMetadata(snap);
    if (!meta.ok()) return meta.status();
    if (meta->max_parallelism != options.max_parallelism) {
      return Status::InvalidArgument("snapshot " + snap + " has max_parallelism " +
                                     std::to_string(meta->max_parallelism) + ", restoring with " +
                                     std::to_string(options.max_parallelism));
    }
    if (!Intersects(meta->key_groups, key_groups)) continue;
    for (const auto& st : meta->states) {
      auto [it, inserted] = layouts.emplace(st.name, st.key_group_offset);
      if (!inserted && it->second != st.key_group_offset) {
        return Status::Corruption("state '" + st.name + "' has different layouts across snapshots");
      }
    }
    sources.push_back(Source{snap, std::move(meta).value()});
  }
  // Every key group exactly once: a gap would silently lose state, an overlap is ambiguous.
  for (uint32_t kg = key_groups.first; kg <= key_groups.last; ++kg) {
    int holders = 0;
    for (const auto& src : sources) holders += src.meta.key_groups.Contains(kg) ? 1 : 0;
    if (holders != 1) {
      return Status::InvalidArgument("key group " + std::to_string(kg) + " of " + RangeText(key_groups) +
                                     (holders == 0 ? " is in none" : " is in more than one") +
                                     " of the given snapshots");
    }
  }

  // The source overlapping most becomes the base copy (hard links); the rest are imported.
  const auto base = std::max_element(sources.begin(), sources.end(), [&](const Source& a, const Source& b) {
    return Overlap(a.meta.key_groups, key_groups) < Overlap(b.meta.key_groups, key_groups);
  });
  SEGFLOW_RETURN_IF_ERROR(state_internal::PrepareWorkDir(dir));
  const std::string db_dir = dir + "/" + kSnapshotDbDir;
  SEGFLOW_RETURN_IF_ERROR(state_internal::CopyDbDir(base->dir + "/" + kSnapshotDbDir, db_dir));
  auto opened = OpenDb(dir, key_groups, options, layouts);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<KeyedStateBackend> b = std::move(opened).value();
  for (const auto& [name, offset] : layouts) {
    auto id = b->RegisterState(name, StateLayout{offset});
    if (!id.ok()) return id.status();
  }
  SEGFLOW_RETURN_IF_ERROR(b->DropForeignKeyGroups(base->meta.key_groups));

  const rocksdb::Options opts = state_internal::StateDbOptions(options, b->block_cache_);
  int n = 0;
  for (auto it = sources.begin(); it != sources.end(); ++it) {
    if (it == base) continue;
    SnapshotCopy copy;
    SEGFLOW_RETURN_IF_ERROR(copy.Open(it->dir + "/" + kSnapshotDbDir,
                                      dir + "/import-" + std::to_string(n++), opts));
    SEGFLOW_RETURN_IF_ERROR(b->ImportFrom(copy.db(), copy.handles(), layouts));
  }
  return b;
}

Status KeyedStateBackend::DropForeignKeyGroups(KeyGroupRange had) {
  const bool below = had.first < key_groups_.first;
  const bool above = had.last > key_groups_.last;
  if (!below && !above) return Status::OK();
  for (const auto& st : states_) {
    if (st.layout.key_group_offset == 0) {
      // Prefixed keys: two range tombstones, no scan.
      if (below) {
        SEGFLOW_RETURN_IF_ERROR(FromRocks(
            db_->DeleteRange(StateWriteOptions(), st.handle, KeyGroupPrefix(0), KeyGroupPrefix(key_groups_.first)),
            "drop key groups below range in '" + st.name + "'"));
      }
      if (above) {
        SEGFLOW_RETURN_IF_ERROR(FromRocks(
            db_->DeleteRange(StateWriteOptions(), st.handle, KeyGroupPrefix(key_groups_.last + 1),
                             KeyGroupPrefix(max_parallelism_)),
            "drop key groups above range in '" + st.name + "'"));
      }
      continue;
    }
    // Key group inside the key: filter key by key.
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), st.handle));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint32_t kg = 0;
      if (!KeyGroupAt(std::string_view(it->key().data(), it->key().size()), st.layout.key_group_offset, &kg)) {
        return Status::Corruption("state '" + st.name + "': key shorter than its key group");
      }
      if (key_groups_.Contains(kg)) continue;
      SEGFLOW_RETURN_IF_ERROR(FromRocks(batch.Delete(st.handle, it->key()), "batch delete"));
      if (batch.GetDataSize() >= kImportBatchBytes) {
        SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(StateWriteOptions(), &batch), "drop foreign keys"));
        batch.Clear();
      }
    }
    SEGFLOW_RETURN_IF_ERROR(FromRocks(it->status(), "scan state '" + st.name + "'"));
    SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(StateWriteOptions(), &batch), "drop foreign keys"));
  }
  return Status::OK();
}

Status KeyedStateBackend::ImportFrom(
    rocksdb::DB* src, const std::map<std::string, rocksdb::ColumnFamilyHandle*>& src_handles,
    const std::map<std::string, uint32_t>& layouts) {
  for (const auto& [name, src_cf] : src_handles) {
    if (name == rocksdb::kDefaultColumnFamilyName) continue;
    const auto layout = layouts.find(name);
    if (layout == layouts.end()) return Status::Corruption("snapshot state '" + name + "' not in its metadata");
    auto id = RegisterState(name, StateLayout{layout->second});
    if (!id.ok()) return id.status();
    rocksdb::ColumnFamilyHandle* dst_cf = states_[*id].handle;
    const uint32_t offset = layout->second;

    const std::string lower = KeyGroupPrefix(key_groups_.first);
    const std::string upper = KeyGroupPrefix(key_groups_.last + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    if (offset == 0) ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(src->NewIterator(ro, src_cf));
    rocksdb::WriteBatch batch;
    if (offset == 0) {
      it->Seek(lower);
    } else {
      it->SeekToFirst();
    }
    for (; it->Valid(); it->Next()) {
      uint32_t kg = 0;
      if (!KeyGroupAt(std::string_view(it->key().data(), it->key().size()), offset, &kg)) {
        return Status::Corruption("snapshot state '" + name + "': key shorter than its key group");
      }
      if (!key_groups_.Contains(kg)) continue;
      SEGFLOW_RETURN_IF_ERROR(FromRocks(batch.Put(dst_cf, it->key(), it->value()), "batch put"));
      if (batch.GetDataSize() >= kImportBatchBytes) {
        SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(StateWriteOptions(), &batch), "import"));
        batch.Clear();
      }
    }
    SEGFLOW_RETURN_IF_ERROR(FromRocks(it->status(), "scan snapshot state '" + name + "'"));
    SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(StateWriteOptions(), &batch), "import"));
  }
  return Status::OK();
}

}  // namespace segflow
