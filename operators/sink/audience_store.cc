#include "operators/sink/audience_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "engine/common/owned_dir.h"

namespace segflow {
namespace {

// Keys:
//   "m" segment \0 user -> row: [member u8][at i64][pos u64] (member 0: a tombstone)
//   "c" user            -> latest consent: [granted u8][ts i64][seq u64]
//   "e" user            -> erasure: [erased_at i64]
//   "#evaluated_through" -> the own job's evaluated time (i64)
//   "#evaluated/" writer -> a feeding job's evaluated time (i64)
//   "#stats/" writer    -> cumulative ApplyStats (4 x u64)
//   "#latency/" segment -> LatencyHistogram (kLatencyBuckets x u64)
//   "#version/" segment -> the segment's serving version (text)
//   "#count/" segment   -> SegmentCounts: [members u64][entered u64][exited u64]
//   "#counts"           -> present when every segment's counts are kept (see CountAll)
// Integers are little-endian.
constexpr char kMemberPrefix = 'm';
constexpr char kConsentPrefix = 'c';
constexpr char kErasurePrefix = 'e';
const char kEvaluatedKey[] = "#evaluated_through";
const char kWriterEvaluatedPrefix[] = "#evaluated/";
const char kStatsPrefix[] = "#stats/";
const char kLatencyPrefix[] = "#latency/";
const char kVersionPrefix[] = "#version/";
const char kCountPrefix[] = "#count/";
const char kCountsKey[] = "#counts";

// What one batch changes of a segment's counts.
struct CountDelta {
  int64_t members = 0;
  uint64_t entered = 0;
  uint64_t exited = 0;
};

std::string MemberKey(const std::string& segment, const std::string& user) {
  std::string k;
  k.reserve(2 + segment.size() + user.size());
  k.push_back(kMemberPrefix);
  k.append(segment);
  k.push_back('\0');
  k.append(user);
  return k;
}

template <typename T>
void Put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string EncodeI64(int64_t v) {
  std::string s;
  Put(&s, v);
  return s;
}

// A row's stamp in apply order: newer event time, then later log position, then an exit
// over an enter at the same (at, pos).
struct Row {
  bool member = false;
  int64_t at = 0;
  uint64_t pos = 0;
  auto Order() const { return std::make_tuple(at, pos, member ? 0 : 1); }
  bool operator==(const Row& o) const { return Order() == o.Order(); }
};

std::string EncodeRow(const Row& r) {
  std::string s;
  Put<uint8_t>(&s, r.member ? 1 : 0);
  Put(&s, r.at);
  Put(&s, r.pos);
  return s;
}

// A row of the layout before stamps (8 bytes: since) or a damaged one.
Status BadRow(size_t size, const std::string& where) {
  if (size == 8) {
    return Status::Corruption(
        "audience store: " + where +
        " holds rows of an earlier Segflow (without stamps); run the job again to rebuild it");
  }
  return Status::Corruption("audience store: bad row (" + std::to_string(size) + " bytes) " +
                            where);
}

Result<Row> DecodeRow(const std::string& v) {
  if (v.size() != 17) return BadRow(v.size(), "");
  return Row{v[0] != 0, Get<int64_t>(v.data() + 1), Get<uint64_t>(v.data() + 9)};
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound(what + ": " + s.ToString());
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Status::Busy(what + ": " + s.ToString() + " (is another run of this job active?)");
  }
  return Status::IOError(what + ": " + s.ToString());
}

// nullopt when absent.
Result<std::optional<std::string>> Read(rocksdb::DB* db, const std::string& key,
                                        const rocksdb::ReadOptions& ro = rocksdb::ReadOptions()) {
  std::string v;
  rocksdb::Status s = db->Get(ro, key, &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read audience store");
  return std::optional<std::string>(std::move(v));
}

Result<AudienceStore::SegmentCounts> DecodeCounts(const std::optional<std::string>& v,
                                                  const std::string& segment) {
  AudienceStore::SegmentCounts c;
  if (!v) return c;
  if (v->size() != 24) return Status::Corruption("audience store: bad counts of " + segment);
  c.members = Get<uint64_t>(v->data());
  c.entered = Get<uint64_t>(v->data() + 8);
  c.exited = Get<uint64_t>(v->data() + 16);
  return c;
}

std::string EncodeCounts(const AudienceStore::SegmentCounts& c) {
  std::string v;
  for (uint64_t n : {c.members, c.entered, c.exited}) Put(&v, n);
  return v;
}

// Members of `segment` by scanning its rows (a store without counts).
Result<std::vector<std::string>> ScanMembers(rocksdb::DB* db, const std::string& segment,
                                             const rocksdb::ReadOptions& ro) {
  std::vector<std::string> out;
  std::string prefix;
  prefix.push_back(kMemberPrefix);
  prefix.append(segment);
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 17) return BadRow(it->value().size(), "in segment " + segment);
    if (it->value()[0] == 0) continue;  // a tombstone
    out.emplace_back(it->key().data() + prefix.size(), it->key().size() - prefix.size());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read audience store");
  return out;  // RocksDB's bytewise order is the sorted order
}

// Adds each segment's delta to its counts on record, in `batch`.
Status AddCounts(rocksdb::DB* db, const std::unordered_map<std::string, CountDelta>& deltas,
                 rocksdb::WriteBatch* batch) {
  for (const auto& [segment, d] : deltas) {
    auto v = Read(db, kCountPrefix + segment);
    if (!v.ok()) return v.status();
    auto c = DecodeCounts(*v, segment);
    if (!c.ok()) return c.status();
    const int64_t members = static_cast<int64_t>(c->members) + d.members;
    c->members = members < 0 ? 0 : static_cast<uint64_t>(members);
    c->entered += d.entered;
    c->exited += d.exited;
    batch->Put(kCountPrefix + segment, EncodeCounts(*c));
  }
  return Status::OK();
}

size_t LatencyBucket(int64_t ms) {
  if (ms <= 0) return 0;
  size_t b = 1;
  while (b + 1 < AudienceStore::kLatencyBuckets && (int64_t{1} << b) <= ms) ++b;
  return b;
}

}  // namespace

AudienceStore::ApplyStats& AudienceStore::ApplyStats::operator+=(const ApplyStats& o) {
  applied += o.applied;
  duplicates += o.duplicates;
  stale += o.stale;
  blocked += o.blocked;
  return *this;
}

AudienceStore::AudienceStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {
  // Consent ("c") and erasure ("e") keys sort after "#..." and before the members ("m").
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(std::string(1, kConsentPrefix));
  has_governance_ = it->Valid() && it->key()[0] < kMemberPrefix;
  auto marker = Read(db_.get(), kCountsKey);
  has_counts_ = marker.ok() && marker->has_value();
}
AudienceStore::~AudienceStore() = default;

Result<std::unique_ptr<AudienceStore>> AudienceStore::OpenForWrite(const std::string& dir) {
  SEGFLOW_RETURN_IF_ERROR(CreateOwnedDir(dir, "audience store"));
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return FromRocks(s, "open audience store " + dir);
  std::unique_ptr<AudienceStore> store(new AudienceStore(std::unique_ptr<rocksdb::DB>(raw)));
  if (!store->has_counts_) SEGFLOW_RETURN_IF_ERROR(store->CountAll());
  return store;
}

Status AudienceStore::CountAll() {
  auto segments = Segments();
  if (!segments.ok()) return segments.status();
  rocksdb::WriteBatch batch;
  for (const auto& segment : *segments) {
    auto members = ScanMembers(db_.get(), segment, rocksdb::ReadOptions());
    if (!members.ok()) return members.status();
    SegmentCounts c;
    c.members = members->size();
    batch.Put(kCountPrefix + segment, EncodeCounts(c));
  }
  batch.Put(kCountsKey, "1");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "write audience store"));
  has_counts_ = true;
  return Status::OK();
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
  return RemoveOwnedDir(dir, "audience store");
}

Status AudienceStore::Apply(const std::vector<Change>& changes,
                            std::optional<int64_t> evaluated_through, const ApplyOptions& options,
                            ApplyStats* stats_out) {
  rocksdb::WriteBatch batch;
  ApplyStats stats;
  // Rows, consents and erasures as this batch leaves them (a batch may touch a row twice).
  std::unordered_map<std::string, Row> rows;
  std::unordered_map<std::string, std::optional<std::string>> consents, erasures;
  std::unordered_map<std::string, LatencyHistogram> latency;
  std::unordered_map<std::string, CountDelta> counts;
  std::set<std::string> retired;
  for (const auto& segment : options.retired) {
    std::string begin = MemberKey(segment, "");
    std::string end = begin;
    end.back() = '\1';  // "m" segment \1 sorts after every "m" segment \0 user
    batch.DeleteRange(begin, end);
    batch.Delete(kVersionPrefix + segment);
    batch.Delete(kLatencyPrefix + segment);
    batch.Delete(kCountPrefix + segment);
    retired.insert(segment);
  }
  auto cached = [&](std::unordered_map<std::string, std::optional<std::string>>* cache, char prefix,
                    const std::string& user) -> Result<const std::optional<std::string>*> {
    auto it = cache->find(user);
    if (it == cache->end()) {
      auto v = Read(db_.get(), std::string(1, prefix) + user);
      if (!v.ok()) return v.status();
      it = cache->emplace(user, std::move(*v)).first;
    }
    return &it->second;
  };
  for (const auto& c : changes) {
    if (!retired.empty() && retired.count(c.segment)) {
      ++stats.stale;  // the segment stops serving in this very batch
      continue;
    }
    std::string key = MemberKey(c.segment, c.user);
    const Row incoming{c.entered, c.at, c.pos};
    if (has_governance_) {
      auto erased = cached(&erasures, kErasurePrefix, c.user);
      if (!erased.ok()) return erased.status();
      if (**erased && c.at <= Get<int64_t>((**erased)->data())) {
        ++stats.blocked;  // older than the user's erasure
        continue;
      }
    }
    if (c.entered && has_governance_) {
      auto consent = cached(&consents, kConsentPrefix, c.user);
      if (!consent.ok()) return consent.status();
      if (**consent && (**consent)->at(0) == 0) {
        ++stats.blocked;  // consent withdrawn and no newer grant
        continue;
      }
    }
    std::optional<Row> current;
    bool was_member = false;
    if (auto it = rows.find(key); it != rows.end()) {
      current = it->second;
    } else if (options.ordered && options.fresh && !has_governance_) {
      was_member = !c.entered;  // written by this run only, and memberships alternate
    } else {
      auto v = Read(db_.get(), key);
      if (!v.ok()) return v.status();
      if (*v) {
        auto row = DecodeRow(**v);
        if (!row.ok()) return row.status();
        current = *row;
      }
    }
    // An ordered replay of the writer's own history: the later record wins, whatever its
    // stamp (the row is still read, for the member count).
    if (!options.ordered && current && *current == incoming) {
      ++stats.duplicates;
      continue;
    }
    if (!options.ordered && current && incoming.Order() < current->Order()) {
      ++stats.stale;
      continue;
    }
    ++stats.applied;
    CountDelta& delta = counts[c.segment];
    if (current) was_member = current->member;
    delta.members += (incoming.member ? 1 : 0) - (was_member ? 1 : 0);
    ++(c.entered ? delta.entered : delta.exited);
    rows[std::move(key)] = incoming;  // written once per row below: the last change wins
    if (options.now_ms > 0) {
      auto& h = latency.try_emplace(c.segment, LatencyHistogram{}).first->second;
      ++h[LatencyBucket(options.now_ms - c.at)];
    }
  }
  for (const auto& [key, row] : rows) batch.Put(key, EncodeRow(row));
  for (auto& [segment, add] : latency) {
    auto h = Latency(segment);
    if (!h.ok()) return h.status();
    std::string v;
    for (size_t i = 0; i < kLatencyBuckets; ++i) Put<uint64_t>(&v, (*h)[i] + add[i]);
    batch.Put(kLatencyPrefix + segment, v);
  }
  SEGFLOW_RETURN_IF_ERROR(AddCounts(db_.get(), counts, &batch));
  if (!changes.empty()) {
    auto total = Stats(options.writer);
    if (!total.ok()) return total.status();
    *total += stats;
    std::string v;
    for (uint64_t n : {total->applied, total->duplicates, total->stale, total->blocked}) Put(&v, n);
    batch.Put(kStatsPrefix + options.writer, v);
  }
  for (const auto& [segment, version] : options.versions) {
    if (retired.count(segment)) continue;
    auto prev = Read(db_.get(), kVersionPrefix + segment);
    if (!prev.ok()) return prev.status();
    if (!*prev || **prev != version) batch.Put(kVersionPrefix + segment, version);
  }
  if (evaluated_through) {
    auto prev = EvaluatedThrough(options.writer);
    if (!prev.ok()) return prev.status();
    if (!*prev || **prev < *evaluated_through) {
      batch.Put(options.writer.empty() ? std::string(kEvaluatedKey)
                                       : kWriterEvaluatedPrefix + options.writer,
                EncodeI64(*evaluated_through));
    }
  }
  if (stats_out != nullptr) *stats_out += stats;
  if (batch.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
    SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "write audience store"));
  }
  if (!options.sync) return Status::OK();
  // A durable commit also moves the memtable into an SST, so the WAL becomes obsolete:
  // RocksDB replays every live WAL on each open, read-only opens included, and a run's
  // changes (hundreds of thousands of puts and deletes) would be replayed by every reader.
  return FromRocks(db_->Flush(rocksdb::FlushOptions()), "flush audience store");
}

Result<uint64_t> AudienceStore::RecordConsents(const std::vector<ConsentRecord>& records) {
  // The newest record per user of this batch first (later ones win ties, as in the log).
  std::unordered_map<std::string, const ConsentRecord*> newest;
  for (const auto& r : records) {
    auto [it, fresh] = newest.try_emplace(r.user, &r);
    if (!fresh && std::make_pair(r.ts, r.seq) >= std::make_pair(it->second->ts, it->second->seq))
      it->second = &r;
  }
  std::vector<std::string> segments;
  bool have_segments = false;
  rocksdb::WriteBatch batch;
  uint64_t removed = 0;
  std::unordered_map<std::string, CountDelta> counts;
  for (const auto& [user, r] : newest) {
    const std::string ckey = std::string(1, kConsentPrefix) + user;
    auto prev = Read(db_.get(), ckey);
    if (!prev.ok()) return prev.status();
    if (*prev && (*prev)->size() == 17 &&
        std::make_pair(Get<int64_t>((*prev)->data() + 1), Get<uint64_t>((*prev)->data() + 9)) >=
            std::make_pair(r->ts, r->seq)) {
      continue;  // not newer than the one on record
    }
    std::string v;
    Put<uint8_t>(&v, r->granted ? 1 : 0);
    Put(&v, r->ts);
    Put(&v, r->seq);
    batch.Put(ckey, v);
    if (r->granted) continue;
    if (!have_segments) {
      auto all = Segments();
      if (!all.ok()) return all.status();
      segments = std::move(*all);
      have_segments = true;
    }
    for (const auto& s : segments) {
      const std::string key = MemberKey(s, user);
      auto row = Read(db_.get(), key);
      if (!row.ok()) return row.status();
      if (!*row) continue;
      auto cur = DecodeRow(**row);
      if (!cur.ok()) return cur.status();
      if (!cur->member) continue;
      // The exit is stamped with the withdrawal, unless the row is newer (it is then a
      // member by a newer write; the consent block still stops further enters).
      batch.Put(key, EncodeRow(Row{false, std::max(r->ts, cur->at), cur->pos}));
      ++removed;
      --counts[s].members;
    }
  }
  if (batch.Count() == 0) return removed;
  SEGFLOW_RETURN_IF_ERROR(AddCounts(db_.get(), counts, &batch));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "write audience store"));
  has_governance_ = true;
  return removed;
}

Result<uint64_t> AudienceStore::Erase(const std::string& user, int64_t erased_at) {
  auto segments = Segments();
  if (!segments.ok()) return segments.status();
  rocksdb::WriteBatch batch;
  uint64_t removed = 0;
  std::unordered_map<std::string, CountDelta> counts;
  for (const auto& s : *segments) {
    const std::string key = MemberKey(s, user);
    auto row = Read(db_.get(), key);
    if (!row.ok()) return row.status();
    if (!*row) continue;
    auto r = DecodeRow(**row);
    if (!r.ok()) return r.status();
    if (r->member) {
      ++removed;
      --counts[s].members;
    }
    batch.Delete(key);
  }
  SEGFLOW_RETURN_IF_ERROR(AddCounts(db_.get(), counts, &batch));
  batch.Delete(std::string(1, kConsentPrefix) + user);
  batch.Put(std::string(1, kErasurePrefix) + user, EncodeI64(erased_at));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  SEGFLOW_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "write audience store"));
  has_governance_ = true;
  return removed;
}

Result<std::map<std::string, std::string>> AudienceStore::Versions() const {
  std::map<std::string, std::string> out;
  const size_t n = std::strlen(kVersionPrefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kVersionPrefix); it->Valid() && it->key().starts_with(kVersionPrefix); it->Next()) {
    out.emplace(std::string(it->key().data() + n, it->key().size() - n), it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read audience store");
  return out;
}

Result<std::vector<std::string>> AudienceStore::Members(const std::string& segment) const {
  return ScanMembers(db_.get(), segment, rocksdb::ReadOptions());
}

Result<std::optional<int64_t>> AudienceStore::MemberSince(const std::string& segment,
                                                          const std::string& user) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), MemberKey(segment, user), &value);
  if (s.IsNotFound()) return std::optional<int64_t>();
  if (!s.ok()) return FromRocks(s, "read audience store");
  auto row = DecodeRow(value);
  if (!row.ok()) return row.status();
  if (!row->member) return std::optional<int64_t>();  // a tombstone
  return std::optional<int64_t>(row->at);
}

Result<uint64_t> AudienceStore::CountMembers(const std::string& segment) const {
  auto c = Counts(segment);
  if (!c.ok()) return c.status();
  return c->members;
}

Result<AudienceStore::SegmentCounts> AudienceStore::Counts(const std::string& segment) const {
  if (has_counts_) {
    auto v = Read(db_.get(), kCountPrefix + segment);
    if (!v.ok()) return v.status();
    return DecodeCounts(*v, segment);
  }
  auto members = Members(segment);
  if (!members.ok()) return members.status();
  SegmentCounts c;
  c.members = members->size();
  return c;
}

Result<AudienceStore::Summary> AudienceStore::Summarize(
    const std::vector<std::string>& segments) const {
  // One snapshot: a commit landing between two reads would mix two evaluated times.
  struct Snapshot {
    rocksdb::DB* db;
    const rocksdb::Snapshot* snap;
    ~Snapshot() {
      if (snap != nullptr) db->ReleaseSnapshot(snap);
    }
  } snapshot{db_.get(), db_->GetSnapshot()};
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snap;
  Summary out;
  auto evaluated = Read(db_.get(), kEvaluatedKey, ro);
  if (!evaluated.ok()) return evaluated.status();
  if (*evaluated) {
    if ((*evaluated)->size() != 8)
      return Status::Corruption("audience store: bad evaluated_through value");
    out.evaluated_through = Get<int64_t>((*evaluated)->data());
  }
  for (const auto& segment : segments) {
    SegmentSummary s;
    s.segment = segment;
    auto version = Read(db_.get(), kVersionPrefix + segment, ro);
    if (!version.ok()) return version.status();
    if (*version) s.version = **version;
    if (has_counts_) {
      auto v = Read(db_.get(), kCountPrefix + segment, ro);
      if (!v.ok()) return v.status();
      auto c = DecodeCounts(*v, segment);
      if (!c.ok()) return c.status();
      s.counts = *c;
    } else {
      auto members = ScanMembers(db_.get(), segment, ro);
      if (!members.ok()) return members.status();
      s.counts.members = members->size();
    }
    auto latency = Read(db_.get(), kLatencyPrefix + segment, ro);
    if (!latency.ok()) return latency.status();
    if (*latency) {
      if ((*latency)->size() != 8 * kLatencyBuckets)
        return Status::Corruption("audience store: bad latency of " + segment);
      for (size_t i = 0; i < kLatencyBuckets; ++i)
        s.latency[i] = Get<uint64_t>((*latency)->data() + 8 * i);
    }
    out.segments.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<std::string>> AudienceStore::Segments() const {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  // Skip-scan: one seek per segment ("m" segment \0 ... sorts before "m" segment \1).
  for (it->Seek(std::string(1, kMemberPrefix));
       it->Valid() && it->key().starts_with(std::string(1, kMemberPrefix));) {
    const rocksdb::Slice k = it->key();
    const char* nul = static_cast<const char*>(std::memchr(k.data() + 1, '\0', k.size() - 1));
    if (nul == nullptr) return Status::Corruption("audience store: bad member key");
    std::string segment(k.data() + 1, nul);
    std::string next = std::string(1, kMemberPrefix) + segment;
    next.push_back('\1');
    out.push_back(std::move(segment));
    it->Seek(next);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read audience store");
  return out;
}

Result<std::optional<int64_t>> AudienceStore::EvaluatedThrough(const std::string& writer) const {
  auto v = Read(db_.get(),
                writer.empty() ? std::string(kEvaluatedKey) : kWriterEvaluatedPrefix + writer);
  if (!v.ok()) return v.status();
  if (!*v) return std::optional<int64_t>();
  if ((*v)->size() != 8) return Status::Corruption("audience store: bad evaluated_through value");
  return std::optional<int64_t>(Get<int64_t>((*v)->data()));
}

Result<std::vector<std::string>> AudienceStore::Writers() const {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kStatsPrefix); it->Valid() && it->key().starts_with(kStatsPrefix); it->Next()) {
    out.emplace_back(it->key().data() + std::strlen(kStatsPrefix),
                     it->key().size() - std::strlen(kStatsPrefix));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read audience store");
  return out;
}

Result<AudienceStore::ApplyStats> AudienceStore::Stats(const std::string& writer) const {
  auto v = Read(db_.get(), kStatsPrefix + writer);
  if (!v.ok()) return v.status();
  ApplyStats s;
  if (!*v) return s;
  if ((*v)->size() != 32)
    return Status::Corruption("audience store: bad stats of writer \"" + writer + "\"");
  const char* p = (*v)->data();
  s.applied = Get<uint64_t>(p);
  s.duplicates = Get<uint64_t>(p + 8);
  s.stale = Get<uint64_t>(p + 16);
  s.blocked = Get<uint64_t>(p + 24);
  return s;
}

Result<AudienceStore::LatencyHistogram> AudienceStore::Latency(const std::string& segment) const {
  auto v = Read(db_.get(), kLatencyPrefix + segment);
  if (!v.ok()) return v.status();
  LatencyHistogram h{};
  if (!*v) return h;
  if ((*v)->size() != 8 * kLatencyBuckets)
    return Status::Corruption("audience store: bad latency of " + segment);
  for (size_t i = 0; i < kLatencyBuckets; ++i) h[i] = Get<uint64_t>((*v)->data() + 8 * i);
  return h;
}

Result<std::optional<std::pair<bool, int64_t>>> AudienceStore::Consent(
    const std::string& user) const {
  auto v = Read(db_.get(), std::string(1, kConsentPrefix) + user);
  if (!v.ok()) return v.status();
  if (!*v) return std::optional<std::pair<bool, int64_t>>();
  if ((*v)->size() != 17) return Status::Corruption("audience store: bad consent of " + user);
  return std::optional<std::pair<bool, int64_t>>(
      std::make_pair((*v)->at(0) != 0, Get<int64_t>((*v)->data() + 1)));
}

Result<std::optional<int64_t>> AudienceStore::ErasedAt(const std::string& user) const {
  auto v = Read(db_.get(), std::string(1, kErasurePrefix) + user);
  if (!v.ok()) return v.status();
  if (!*v) return std::optional<int64_t>();
  if ((*v)->size() != 8) return Status::Corruption("audience store: bad erasure of " + user);
  return std::optional<int64_t>(Get<int64_t>((*v)->data()));
}

Status WithSharedStore(const std::string& dir, int64_t busy_timeout_ms,
                       const std::function<Status(AudienceStore*)>& fn) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  auto backoff = std::chrono::milliseconds(5);
  for (;;) {
    auto store = AudienceStore::OpenForWrite(dir);
    if (store.ok()) return fn(store->get());
    if (store.status().code() != Status::Code::kBusy)
      return store.status().Annotate("shared audience store");
    if (std::chrono::steady_clock::now() >= deadline) {
      return store.status().Annotate("shared audience store " + dir +
                                     ": another writer held it for " +
                                     std::to_string(busy_timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
  }
}

Status ApplyToSharedStore(const std::string& dir, const std::vector<AudienceStore::Change>& changes,
                          std::optional<int64_t> evaluated_through,
                          const AudienceStore::ApplyOptions& options,
                          AudienceStore::ApplyStats* stats, int64_t busy_timeout_ms) {
  return WithSharedStore(dir, busy_timeout_ms, [&](AudienceStore* store) {
    return store->Apply(changes, evaluated_through, options, stats);
  });
}

}  // namespace segflow
