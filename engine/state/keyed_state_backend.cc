#include "engine/state/keyed_state_backend.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "engine/state/rocksdb_support.h"
#include "engine/state/snapshot_metadata.h"
#include "engine/state/state_key.h"

namespace segflow {

namespace fs = std::filesystem;
using state_internal::FromRocks;
using state_internal::StateWriteOptions;

namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

bool ValidStateName(std::string_view name) {
  if (name.empty() || name == rocksdb::kDefaultColumnFamilyName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

// ---- StateWriteBatch ----

StateWriteBatch::StateWriteBatch(KeyedStateBackend* backend)
    : backend_(backend), batch_(std::make_unique<rocksdb::WriteBatch>()) {}

StateWriteBatch::~StateWriteBatch() = default;

void StateWriteBatch::Put(StateId state, uint32_t key_group, std::string_view user,
                          std::string_view value) {
  if (!status_.ok()) return;
  status_ = backend_->CheckKeyGroup(key_group);
  if (!status_.ok()) return;
  EncodeStateKey(key_group, user, &key_);
  PutRaw(state, key_, value);
}

void StateWriteBatch::Delete(StateId state, uint32_t key_group, std::string_view user) {
  if (!status_.ok()) return;
  status_ = backend_->CheckKeyGroup(key_group);
  if (!status_.ok()) return;
  EncodeStateKey(key_group, user, &key_);
  DeleteRaw(state, key_);
}

void StateWriteBatch::PutRaw(StateId state, std::string_view key, std::string_view value) {
  if (!status_.ok()) return;
  status_ = backend_->CheckState(state);
  if (!status_.ok()) return;
  status_ = FromRocks(batch_->Put(backend_->states_[state].handle, ToSlice(key), ToSlice(value)),
                      "write batch put");
}

void StateWriteBatch::DeleteRaw(StateId state, std::string_view key) {
  if (!status_.ok()) return;
  status_ = backend_->CheckState(state);
  if (!status_.ok()) return;
  status_ = FromRocks(batch_->Delete(backend_->states_[state].handle, ToSlice(key)),
                      "write batch delete");
}

size_t StateWriteBatch::count() const { return static_cast<size_t>(batch_->Count()); }
size_t StateWriteBatch::bytes() const { return batch_->GetDataSize(); }

void StateWriteBatch::Clear() {
  batch_->Clear();
  status_ = Status::OK();
}

// ---- KeyedStateBackend ----

KeyedStateBackend::KeyedStateBackend(std::string dir, KeyGroupRange key_groups,
                                     const KeyedStateOptions& options)
    : dir_(std::move(dir)),
      key_groups_(key_groups),
      max_parallelism_(options.max_parallelism),
      options_(options) {}

KeyedStateBackend::~KeyedStateBackend() {
  if (db_ == nullptr) return;
  for (auto& st : states_) {
    if (st.handle != nullptr) db_->DestroyColumnFamilyHandle(st.handle).PermitUncheckedError();
  }
  if (default_cf_ != nullptr) db_->DestroyColumnFamilyHandle(default_cf_).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
  delete db_;
}

Status KeyedStateBackend::Validate(KeyGroupRange key_groups, const KeyedStateOptions& options) {
  if (options.max_parallelism == 0 || options.max_parallelism > kMaxStateMaxParallelism) {
    return Status::InvalidArgument("max_parallelism must be in [1, " +
                                   std::to_string(kMaxStateMaxParallelism) + "], got " +
                                   std::to_string(options.max_parallelism));
  }
  if (key_groups.first > key_groups.last || key_groups.last >= options.max_parallelism) {
    return Status::InvalidArgument("bad key-group range [" + std::to_string(key_groups.first) +
                                   ", " + std::to_string(key_groups.last) + "] for max_parallelism " +
                                   std::to_string(options.max_parallelism));
  }
  return Status::OK();
}

Result<std::unique_ptr<KeyedStateBackend>> KeyedStateBackend::Open(const std::string& dir,
                                                                   KeyGroupRange key_groups,
                                                                   const KeyedStateOptions& options) {
  SEGFLOW_RETURN_IF_ERROR(Validate(key_groups, options));
  SEGFLOW_RETURN_IF_ERROR(state_internal::PrepareWorkDir(dir));
  return OpenDb(dir, key_groups, options, {});
}

Result<std::unique_ptr<KeyedStateBackend>> KeyedStateBackend::OpenDb(
    const std::string& dir, KeyGroupRange key_groups, const KeyedStateOptions& options,
    std::map<std::string, uint32_t> known_layouts) {
  std::unique_ptr<KeyedStateBackend> b(new KeyedStateBackend(dir, key_groups, options));
  b->block_cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  const rocksdb::Options opts = state_internal::StateDbOptions(options, b->block_cache_);
  const std::string db_path = dir + "/" + kSnapshotDbDir;

  std::vector<std::string> names;
  std::error_code ec;
  if (fs::exists(fs::path(db_path) / "CURRENT", ec)) {
    SEGFLOW_RETURN_IF_ERROR(FromRocks(
        rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(opts), db_path, &names),
        "list column families of " + db_path));
  } else {
    names.push_back(rocksdb::kDefaultColumnFamilyName);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) {
    descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions(opts));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::Open(rocksdb::DBOptions(opts), db_path, descriptors, &handles, &b->db_),
      "open " + db_path));
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == rocksdb::kDefaultColumnFamilyName) {
      b->default_cf_ = handles[i];
      continue;
    }
    StateLayout layout{known_layouts.count(names[i]) ? known_layouts[names[i]] : 0};
    b->states_.push_back(StateInfo{names[i], layout, handles[i]});
  }
  b->layouts_ = std::move(known_layouts);
  return b;
}

Result<StateId> KeyedStateBackend::RegisterState(std::string_view name, StateLayout layout) {
  if (!ValidStateName(name)) {
    return Status::InvalidArgument("bad state name '" + std::string(name) + "'");
  }
  for (size_t i = 0; i < states_.size(); ++i) {
    if (states_[i].name != name) continue;
    if (states_[i].layout.key_group_offset != layout.key_group_offset) {
      return Status::InvalidArgument(
          "state '" + std::string(name) + "' has key-group offset " +
          std::to_string(states_[i].layout.key_group_offset) + ", registered with " +
          std::to_string(layout.key_group_offset));
    }
    layouts_[states_[i].name] = layout.key_group_offset;
    return static_cast<StateId>(i);
  }
  const rocksdb::Options opts = state_internal::StateDbOptions(options_, block_cache_);
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(
      db_->CreateColumnFamily(rocksdb::ColumnFamilyOptions(opts), std::string(name), &handle),
      "create state '" + std::string(name) + "'"));
  states_.push_back(StateInfo{std::string(name), layout, handle});
  layouts_[std::string(name)] = layout.key_group_offset;
  return static_cast<StateId>(states_.size() - 1);
}

Status KeyedStateBackend::CheckKeyGroup(uint32_t key_group) const {
  if (key_groups_.Contains(key_group)) return Status::OK();
  return Status::OutOfRange("key group " + std::to_string(key_group) + " outside [" +
                            std::to_string(key_groups_.first) + ", " +
                            std::to_string(key_groups_.last) + "]");
}

Status KeyedStateBackend::CheckState(StateId state) const {
  if (state < states_.size()) return Status::OK();
  return Status::InvalidArgument("unknown state id " + std::to_string(state));
}

Status KeyedStateBackend::Get(StateId state, uint32_t key_group, std::string_view user,
                              std::string* value) {
  SEGFLOW_RETURN_IF_ERROR(CheckKeyGroup(key_group));
  EncodeStateKey(key_group, user, &key_);
  return GetRaw(state, key_, value);
}

Status KeyedStateBackend::GetRaw(StateId state, std::string_view key, std::string* value) {
  SEGFLOW_RETURN_IF_ERROR(CheckState(state));
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), states_[state].handle, ToSlice(key), value);
  if (s.IsNotFound()) return Status::NotFound("no value");
  return FromRocks(s, "get from state '" + states_[state].name + "'");
}

Status KeyedStateBackend::Put(StateId state, uint32_t key_group, std::string_view user,
                              std::string_view value) {
  SEGFLOW_RETURN_IF_ERROR(CheckKeyGroup(key_group));
  SEGFLOW_RETURN_IF_ERROR(CheckState(state));
  EncodeStateKey(key_group, user, &key_);
  return FromRocks(db_->Put(StateWriteOptions(), states_[state].handle, key_, ToSlice(value)),
                   "put to state '" + states_[state].name + "'");
}

Status KeyedStateBackend::Delete(StateId state, uint32_t key_group, std::string_view user) {
  SEGFLOW_RETURN_IF_ERROR(CheckKeyGroup(key_group));
  SEGFLOW_RETURN_IF_ERROR(CheckState(state));
  EncodeStateKey(key_group, user, &key_);
  return FromRocks(db_->Delete(StateWriteOptions(), states_[state].handle, key_),
                   "delete from state '" + states_[state].name + "'");
}

Status KeyedStateBackend::Write(StateWriteBatch* batch) {
  SEGFLOW_RETURN_IF_ERROR(batch->status_);
  if (batch->count() == 0) return Status::OK();
  return FromRocks(db_->Write(StateWriteOptions(), batch->batch_.get()), "write batch");
}

Status KeyedStateBackend::ForEach(StateId state, KeyGroupRange key_groups, const Visitor& fn) {
  SEGFLOW_RETURN_IF_ERROR(CheckState(state));
  const StateInfo& st = states_[state];
  if (st.layout.key_group_offset != 0) {
    return Status::InvalidArgument("state '" + st.name + "' is not key-group prefixed; use ForEachRaw");
  }
  const uint32_t first = std::max(key_groups.first, key_groups_.first);
  const uint32_t last = std::min(key_groups.last, key_groups_.last);
  if (first > last) return Status::OK();
  const std::string lower = KeyGroupPrefix(first);
  const std::string upper = KeyGroupPrefix(last + 1);  // last + 1 <= max_parallelism fits
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, st.handle));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    uint32_t kg = 0;
    std::string_view user;
    if (!DecodeStateKey(key, &kg, &user)) {
      return Status::Corruption("state '" + st.name + "': key shorter than its key group");
    }
    SEGFLOW_RETURN_IF_ERROR(fn(kg, user, std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "scan state '" + st.name + "'");
}

Status KeyedStateBackend::ForEachRaw(StateId state, const RawVisitor& fn) {
  SEGFLOW_RETURN_IF_ERROR(CheckState(state));
  const StateInfo& st = states_[state];
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, st.handle));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    uint32_t kg = 0;
    if (!KeyGroupAt(key, st.layout.key_group_offset, &kg)) {
      return Status::Corruption("state '" + st.name + "': key shorter than its key group");
    }
    if (!key_groups_.Contains(kg)) continue;
    SEGFLOW_RETURN_IF_ERROR(fn(key, std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "scan state '" + st.name + "'");
}

void KeyedStateBackend::AddFlushable(StateFlushable* f) { flushables_.push_back(f); }

void KeyedStateBackend::RemoveFlushable(StateFlushable* f) {
  flushables_.erase(std::remove(flushables_.begin(), flushables_.end(), f), flushables_.end());
}

Status KeyedStateBackend::FlushAll() {
  for (StateFlushable* f : flushables_) SEGFLOW_RETURN_IF_ERROR(f->Flush());
  return Status::OK();
}

Status KeyedStateBackend::Snapshot(const std::string& dir) {
  SEGFLOW_RETURN_IF_ERROR(FlushAll());
  return SnapshotStored(dir);
}

Status KeyedStateBackend::PurgeDeleted(StateId state, const std::vector<std::string>& keys) {
  SEGFLOW_RETURN_IF_ERROR(CheckState(state));
  rocksdb::CompactRangeOptions options;
  // The last level too: only a compaction into it drops a tombstone with what it hides.
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  options.exclusive_manual_compaction = false;
  for (const auto& key : keys) {
    const rocksdb::Slice k(key);
    SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->CompactRange(options, states_[state].handle, &k, &k),
                                      "compact erased keys in " + dir_));
  }
  return Status::OK();
}

Status KeyedStateBackend::SnapshotStored(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) return Status::FailedPrecondition("snapshot directory " + dir + " exists");
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());

  std::vector<rocksdb::ColumnFamilyHandle*> handles{default_cf_};
  for (const auto& st : states_) handles.push_back(st.handle);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Flush(fo, handles), "flush before snapshot"));

  rocksdb::Checkpoint* raw = nullptr;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_, &raw), "create checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  const std::string db_dir = dir + "/" + kSnapshotDbDir;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(checkpoint->CreateCheckpoint(db_dir), "checkpoint to " + db_dir));

  SnapshotMetadata meta;
  meta.max_parallelism = max_parallelism_;
  meta.key_groups = key_groups_;
  for (const auto& st : states_) meta.states.push_back({st.name, st.layout.key_group_offset});
  SEGFLOW_RETURN_IF_ERROR(WriteSnapshotMetadata(dir, meta));
  fs::path abs = fs::absolute(fs::path(dir), ec).lexically_normal();
  if (ec) return Status::IOError("resolve " + dir + ": " + ec.message());
  if (!abs.has_filename()) abs = abs.parent_path();  // "dir/" names dir itself
  return FsyncDirectory(abs.parent_path().string());
}

}  // namespace segflow
