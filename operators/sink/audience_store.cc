#include "operators/sink/audience_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <filesystem>

namespace segflow {
namespace {

// Keys: "m" segment \0 user -> since (8 bytes LE); "evaluated_through" -> int64 LE.
constexpr char kMemberPrefix = 'm';
const char kEvaluatedKey[] = "#evaluated_through";

std::string MemberKey(const std::string& segment, const std::string& user) {
  std::string k;
  k.reserve(2 + segment.size() + user.size());
  k.push_back(kMemberPrefix);
  k.append(segment);
  k.push_back('\0');
  k.append(user);
  return k;
}

std::string EncodeI64(int64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Status::Busy(what + ": " + s.ToString() + " (is another run of this job active?)");
  }
  return Status::IOError(what + ": " + s.ToString());
}

}  // namespace

AudienceStore::AudienceStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}
AudienceStore::~AudienceStore() = default;

Result<std::unique_ptr<AudienceStore>> AudienceStore::OpenForWrite(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create audience store " + dir + ": " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return FromRocks(s, "open audience store " + dir);
  return std::unique_ptr<AudienceStore>(new AudienceStore(std::unique_ptr<rocksdb::DB>(raw)));
}

Result<std::unique_ptr<AudienceStore>> AudienceStore::OpenForRead(const std::string& dir) {
  if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT")) {
    return Status::NotFound("no audience store at " + dir + " (has the job been run?)");
  }
  rocksdb::Options options;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, dir, &raw);
  if (!s.ok()) return FromRocks(s, "open audience store " + dir);
  return std::unique_ptr<AudienceStore>(new AudienceStore(std::unique_ptr<rocksdb::DB>(raw)));
}

Status AudienceStore::Destroy(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Status::IOError("remove audience store " + dir + ": " + ec.message());
  return Status::OK();
}

Status AudienceStore::Apply(const std::vector<Change>& changes, std::optional<int64_t> evaluated_through,
                            bool sync) {
  rocksdb::WriteBatch batch;
  for (const auto& c : changes) {
    if (c.entered) {
      batch.Put(MemberKey(c.segment, c.user), EncodeI64(c.at));
    } else {
      batch.Delete(MemberKey(c.segment, c.user));
    }
  }
  if (evaluated_through) batch.Put(kEvaluatedKey, EncodeI64(*evaluated_through));
  if (batch.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "write audience store"));
  }
  if (!sync) return Status::OK();
  // A durable commit also moves the memtable into an SST, so the WAL becomes obsolete:
  // RocksDB replays every live WAL on each open, read-only opens included, and a run's
  // changes (hundreds of thousands of puts and deletes) would be replayed by every reader.
  return FromRocks(db_->Flush(rocksdb::FlushOptions()), "flush audience store");
}

Result<std::vector<std::string>> AudienceStore::Members(const std::string& segment) const {
  std::vector<std::string> out;
  std::string prefix;
  prefix.push_back(kMemberPrefix);
  prefix.append(segment);
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.emplace_back(it->key().data() + prefix.size(), it->key().size() - prefix.size());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read audience store");
  return out;  // RocksDB's bytewise order is the sorted order
}

Result<uint64_t> AudienceStore::CountMembers(const std::string& segment) const {
  auto members = Members(segment);
  if (!members.ok()) return members.status();
  return static_cast<uint64_t>(members->size());
}

Result<std::optional<int64_t>> AudienceStore::EvaluatedThrough() const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kEvaluatedKey, &v);
  if (s.IsNotFound()) return std::optional<int64_t>();
  if (!s.ok()) return FromRocks(s, "read audience store");
  if (v.size() != 8) return Status::Corruption("audience store: bad evaluated_through value");
  int64_t t;
  std::memcpy(&t, v.data(), 8);
  return std::optional<int64_t>(t);
}

}  // namespace segflow
