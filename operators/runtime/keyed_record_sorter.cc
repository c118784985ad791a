#include "operators/runtime/keyed_record_sorter.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "engine/common/owned_dir.h"
#include "operators/segment/byte_codec.h"

namespace segflow {
namespace {

// A run file is a sequence of frames: u32 length of the rest, the key's hash, ts and seq
// (8 bytes each; native-endian, as entries: run files are this process's own), then the
// entry. Frames above this are corrupt (an event is
// far smaller).
constexpr uint32_t kMaxFrame = 64u << 20;
constexpr size_t kFileBuffer = 1u << 20;
// How many records ahead ForEachUser fetches entries (a group is decoded at once, so
// the fetches must run ahead of whole groups).
constexpr size_t kAhead = 64;

// A keyed task sees only its key groups (the hash's high bits) and, per partition, some
// low bits: the sort key is the hash times an odd constant, a bijection (users group
// exactly as by the hash) whose high bits are uniform for SortKeys' buckets.
uint64_t Mix(uint64_t hash) {
  return hash * 0x9e3779b97f4a7c15ull;
}

// An entry: u32 partition, u32 user length, the user, then the event: i64 ts, u64 seq,
// u32 match-bit words and the words, u32 fields and each (u8 kind, then f64 or u32 length
// and bytes), i8 consent, u8 profile flag, and a profile update's Value (PutValue) to the
// end. Fixed-width native-endian fields, copied with memcpy: an entry is written once and
// read once, by this process (run files are its temporary files), so speed beats size.
template <typename T>
char* Put(T v, char* out) {
  std::memcpy(out, &v, sizeof(T));
  return out + sizeof(T);
}

char* CopyBytes(std::string_view bytes, char* out) {
  std::memcpy(out, bytes.data(), bytes.size());
  return out + bytes.size();
}

// The size of `r`'s entry, `profile` (its update's PutValue bytes) included.
size_t EntrySize(const KeyedRecord& r, std::string_view profile) {
  const ProjectedEvent& e = r.event;
  size_t n =
      4 + 4 + r.user.size() + 8 + 8 + 4 + 8 * e.match_bits.size() + 4 + 1 + 1 + profile.size();
  for (const FieldValue& f : e.fields) {
    n += 1;
    if (f.kind == FieldValue::Kind::kNumber) n += 8;
    if (f.kind == FieldValue::Kind::kKey) n += 4 + f.key.size();
  }
  return n;
}

// Writes `r`'s entry (EntrySize bytes) at `out`.
void WriteEntry(const KeyedRecord& r, std::string_view profile, char* out) {
  const ProjectedEvent& e = r.event;
  out = Put<uint32_t>(r.partition, out);
  out = Put<uint32_t>(static_cast<uint32_t>(r.user.size()), out);
  out = CopyBytes(r.user, out);
  out = Put<int64_t>(e.ts, out);
  out = Put<uint64_t>(e.seq, out);
  out = Put<uint32_t>(static_cast<uint32_t>(e.match_bits.size()), out);
  for (uint64_t w : e.match_bits) out = Put<uint64_t>(w, out);
  out = Put<uint32_t>(static_cast<uint32_t>(e.fields.size()), out);
  for (const FieldValue& f : e.fields) {
    out = Put<uint8_t>(static_cast<uint8_t>(f.kind), out);
    if (f.kind == FieldValue::Kind::kNumber) out = Put<double>(f.number, out);
    if (f.kind == FieldValue::Kind::kKey) {
      out = Put<uint32_t>(static_cast<uint32_t>(f.key.size()), out);
      out = CopyBytes(f.key, out);
    }
  }
  out = Put<int8_t>(e.consent, out);
  out = Put<uint8_t>(e.is_profile ? 1 : 0, out);
  CopyBytes(profile, out);
}

// Reads an entry's parts, refusing any that would run past its end.
class EntryReader {
 public:
  explicit EntryReader(std::string_view data) : data_(data) {}
  template <typename T>
  bool Get(T* v) {
    if (data_.size() < sizeof(T)) return false;
    std::memcpy(v, data_.data(), sizeof(T));
    data_.remove_prefix(sizeof(T));
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  std::string_view rest() const { return data_; }

 private:
  std::string_view data_;
};

// The user of an entry (empty when malformed).
std::string_view EntryUser(std::string_view entry) {
  EntryReader in(entry);
  uint32_t partition;
  uint32_t length;
  std::string_view user;
  if (!in.Get(&partition) || !in.Get(&length) || !in.Bytes(length, &user)) return {};
  return user;
}

// The record in `entry`: its user in `user` (a view into `entry`), its partition and event
// in `out` (out->user and out->user_hash are not set: the evaluation reads neither).
Status DecodeEntry(std::string_view entry, std::string_view* user, KeyedRecord* out) {
  EntryReader in(entry);
  auto bad = [](const char* what) {
    return Status::Corruption(std::string("sorted record: ") + what);
  };
  uint32_t length, words, fields;
  ProjectedEvent& e = out->event;
  if (!in.Get(&out->partition) || !in.Get(&length) || !in.Bytes(length, user) || !in.Get(&e.ts) ||
      !in.Get(&e.seq) || !in.Get(&words)) {
    return bad("truncated header");
  }
  e.match_bits.resize(words);
  for (uint64_t& w : e.match_bits) {
    if (!in.Get(&w)) return bad("truncated match bits");
  }
  if (!in.Get(&fields)) return bad("truncated fields");
  e.fields.resize(fields);
  for (FieldValue& f : e.fields) {
    uint8_t kind;
    if (!in.Get(&kind) || kind > 2) return bad("bad field kind");
    f.kind = static_cast<FieldValue::Kind>(kind);
    f.number = 0;
    f.key.clear();
    if (f.kind == FieldValue::Kind::kNumber && !in.Get(&f.number)) return bad("truncated number");
    if (f.kind == FieldValue::Kind::kKey) {
      uint32_t n;
      std::string_view key;
      if (!in.Get(&n) || !in.Bytes(n, &key)) return bad("truncated key");
      f.key.assign(key);
    }
  }
  uint8_t profile;
  if (!in.Get(&e.consent) || !in.Get(&profile) || profile > 1) return bad("bad flags");
  e.is_profile = profile == 1;
  e.profile_update = Value();
  if (e.is_profile) {
    ByteReader values(in.rest());
    if (!values.GetValue(&e.profile_update) || !values.empty()) return bad("bad profile update");
  } else if (!in.rest().empty()) {
    return bad("trailing bytes");
  }
  return Status::OK();
}

}  // namespace

// Writes one run file: frames in key order.
class KeyedRecordSorter::RunWriter {
 public:
  ~RunWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  Status Create(const std::string& path) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) return Status::FromErrno("sorted run " + path + ": create", errno);
    std::setvbuf(file_, nullptr, _IOFBF, kFileBuffer);
    return Status::OK();
  }
  Status Write(const Key& k, std::string_view entry) {
    char head[28];
    char* out = Put<uint32_t>(static_cast<uint32_t>(entry.size() + 24), head);
    out = Put<uint64_t>(k.hash, out);
    out = Put<int64_t>(k.ts, out);
    Put<uint64_t>(k.seq, out);
    if (std::fwrite(head, 1, sizeof head, file_) != sizeof head ||
        std::fwrite(entry.data(), 1, entry.size(), file_) != entry.size()) {
      return Failed(errno);
    }
    bytes_ += sizeof head + entry.size();
    return Status::OK();
  }
  Status Close() {
    std::FILE* f = std::exchange(file_, nullptr);
    if (std::fclose(f) != 0) return Failed(errno);
    return Status::OK();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  Status Failed(int err) {
    return Status::FromErrno("sorted run " + path_ +
                                 ": write (free space there, or raise --memory-budget so fewer "
                                 "records spill)",
                             err);
  }
  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t bytes_ = 0;
};

// Reads one run file back, an entry at a time.
class KeyedRecordSorter::Cursor {
 public:
  explicit Cursor(std::string path) : path_(std::move(path)) {}
  ~Cursor() {
    if (file_ != nullptr) std::fclose(file_);
  }

  Status Open(size_t buffer) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) return Status::FromErrno("sorted run " + path_ + ": open", errno);
    std::setvbuf(file_, nullptr, _IOFBF, buffer);
    return Next();
  }
  bool done() const { return done_; }
  const Key& key() const { return key_; }
  std::string_view entry() const { return std::string_view(frame_).substr(24); }

  // Reads the next entry (done() at the end of the file).
  Status Next() {
    uint32_t len = 0;
    const size_t got = std::fread(&len, 1, sizeof len, file_);
    if (got == 0 && std::feof(file_)) {
      done_ = true;
      return Status::OK();
    }
    if (got != sizeof len) return Bad("truncated frame length");
    if (len < 24 || len > kMaxFrame) return Bad("frame length " + std::to_string(len));
    frame_.resize(len);
    if (std::fread(frame_.data(), 1, len, file_) != len) return Bad("truncated frame");
    EntryReader in(frame_);  // len >= 24: the key's three fields are there
    if (!in.Get(&key_.hash) || !in.Get(&key_.ts) || !in.Get(&key_.seq)) return Bad("short key");
    return Status::OK();
  }

 private:
  Status Bad(const std::string& what) {
    return Status::Corruption("sorted run " + path_ + ": " + what +
                              " (the spill folder was changed during the run; run it again)");
  }

  const std::string path_;
  std::FILE* file_ = nullptr;
  bool done_ = false;
  std::string frame_;
  Key key_{};
};

KeyedRecordSorter::KeyedRecordSorter(std::string spill_dir, size_t memory_bytes)
    : spill_dir_(std::move(spill_dir)),
      memory_bytes_(memory_bytes),
      block_size_(std::clamp(memory_bytes / 8, size_t{4096}, size_t{1} << 20)) {}

KeyedRecordSorter::~KeyedRecordSorter() {
  if (created_dir_) (void)RemoveOwnedDir(spill_dir_, "sorted runs folder");
}

void KeyedRecordSorter::SortKeys() {
  auto before = [](const Key& a, const Key& b) { return Before(a, b); };
  const size_t n = keys_.size();
  if (n < 4096) {
    std::sort(keys_.begin(), keys_.end(), before);
    return;
  }
  // Mixed hashes are uniform: one counting pass by their top bits puts each key in a small
  // bucket (about 16 keys), and the buckets are sorted alone, in cache.
  int bits = 8;
  while (bits < 22 && (size_t{16} << bits) < n) ++bits;
  const int shift = 64 - bits;
  std::vector<uint32_t> start((size_t{1} << bits) + 1, 0);
  for (const Key& k : keys_) ++start[(k.hash >> shift) + 1];
  for (size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
  std::vector<uint32_t> next(start.begin(), start.end() - 1);
  std::vector<Key> sorted(n);
  for (const Key& k : keys_) sorted[next[k.hash >> shift]++] = k;
  for (size_t b = 0; b + 1 < start.size(); ++b) {
    if (start[b + 1] - start[b] > 1) {
      std::sort(sorted.begin() + start[b], sorted.begin() + start[b + 1], before);
    }
  }
  keys_.swap(sorted);
}

void KeyedRecordSorter::PrefetchEntry(uint64_t at) const {
  // Sorted order visits entries scattered over the blocks: their first two lines are
  // fetched ahead of use.
  const char* entry = blocks_[at >> 32].data.get() + (at & 0xffffffffu);
  __builtin_prefetch(entry);
  __builtin_prefetch(entry + 64);
}

std::string_view KeyedRecordSorter::EntryAt(uint64_t at) const {
  const char* p = blocks_[at >> 32].data.get() + (at & 0xffffffffu);
  uint32_t length;
  std::memcpy(&length, p, sizeof length);  // written by Add: always there
  return std::string_view(p + sizeof length, length);
}

Status KeyedRecordSorter::Add(const KeyedRecord& r) {
  // Every length and count is a u32 (a record's parts are far smaller: one frame of the
  // log holds the record).
  if (r.user.size() > UINT32_MAX / 2 || r.event.match_bits.size() > UINT32_MAX / 16 ||
      r.event.fields.size() > UINT32_MAX / 16) {
    return Status::InvalidArgument("sorted record of user \"" + r.user.substr(0, 64) +
                                   "\": a part is too large to sort");
  }
  scratch_.clear();
  if (r.event.is_profile) PutValue(r.event.profile_update, &scratch_);
  const size_t size = EntrySize(r, scratch_);
  const size_t need = 4 + size;  // with its length
  if (blocks_.empty() || blocks_.back().size + need > blocks_.back().capacity) {
    const size_t capacity = std::max(block_size_, need);
    blocks_.push_back(Block{std::make_unique<char[]>(capacity), 0, capacity});
    block_bytes_ += capacity;
  }
  Block& block = blocks_.back();
  keys_.push_back(
      Key{Mix(r.user_hash), r.event.ts, r.event.seq, ((blocks_.size() - 1) << 32) | block.size});
  char* out = Put<uint32_t>(static_cast<uint32_t>(size), block.data.get() + block.size);
  WriteEntry(r, scratch_, out);
  block.size += need;
  // Sorting takes a second array of keys.
  const size_t bytes = block_bytes_ + 2 * keys_.capacity() * sizeof(Key);
  return bytes >= memory_bytes_ ? Spill() : Status::OK();
}

void KeyedRecordSorter::EraseUser(const std::string& user) {
  std::erase_if(keys_, [&](const Key& k) { return EntryUser(EntryAt(k.at)) == user; });
  if (!runs_.empty()) erased_[user] = runs_.size();
}

void KeyedRecordSorter::Clear() {
  keys_.clear();
  keys_.shrink_to_fit();
  blocks_.clear();
  block_bytes_ = 0;
}

Status KeyedRecordSorter::Spill() {
  if (keys_.empty()) {
    Clear();
    return Status::OK();
  }
  if (!created_dir_) {
    SEGFLOW_RETURN_IF_ERROR(CreateOwnedDir(spill_dir_, "sorted runs folder"));
    created_dir_ = true;
  }
  SortKeys();
  RunWriter out;
  const std::string path = spill_dir_ + "/run-" + std::to_string(next_run_++);
  SEGFLOW_RETURN_IF_ERROR(out.Create(path));
  Status s;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (i + kAhead < keys_.size()) PrefetchEntry(keys_[i + kAhead].at);
    s = out.Write(keys_[i], EntryAt(keys_[i].at));
    if (!s.ok()) break;
  }
  if (s.ok()) s = out.Close();
  if (!s.ok()) {
    std::remove(path.c_str());
    return s;
  }
  spilled_bytes_ += out.bytes();
  runs_.push_back(path);
  records_spilled_ += keys_.size();
  Clear();
  // Bounded fan-in: past kMaxRuns runs, they are merged into one (open files and read
  // buffers stay bounded whatever the input size).
  return runs_.size() >= kMaxRuns ? MergeRuns() : Status::OK();
}

Status KeyedRecordSorter::EmitGroup(const std::vector<std::string_view>& group, const UserFn& fn) {
  if (group.empty()) return Status::OK();
  if (decoded_.size() < group.size()) decoded_.resize(group.size());
  users_.resize(group.size());
  pointers_.clear();
  bool one_user = true;
  for (size_t i = 0; i < group.size(); ++i) {
    SEGFLOW_RETURN_IF_ERROR(DecodeEntry(group[i], &users_[i], &decoded_[i]));
    pointers_.push_back(&decoded_[i]);
    one_user = one_user && users_[i] == users_[0];
  }
  if (one_user) return fn(users_[0], pointers_);
  // Users sharing a hash (rare): split by user, keeping each user's order.
  std::vector<size_t> order(group.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return users_[a] < users_[b]; });
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    user_.clear();
    while (j < order.size() && users_[order[j]] == users_[order[i]]) {
      user_.push_back(&decoded_[order[j++]]);
    }
    SEGFLOW_RETURN_IF_ERROR(fn(users_[order[i]], user_));
    i = j;
  }
  return Status::OK();
}

Status KeyedRecordSorter::ForEachUser(const UserFn& fn) {
  SortKeys();
  std::vector<std::string_view> group;
  if (runs_.empty()) {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (i + kAhead < keys_.size()) PrefetchEntry(keys_[i + kAhead].at);
      if (i > 0 && keys_[i].hash != keys_[i - 1].hash) {
        SEGFLOW_RETURN_IF_ERROR(EmitGroup(group, fn));
        group.clear();
      }
      group.push_back(EntryAt(keys_[i].at));
    }
    SEGFLOW_RETURN_IF_ERROR(EmitGroup(group, fn));
    Clear();
    return Status::OK();
  }
  // Merge: every run file, and what is in memory (the latest arrivals).
  std::string group_bytes;                       // the group's entries (a cursor's frame is reused)
  std::vector<std::pair<size_t, size_t>> parts;  // (offset, length) in group_bytes
  uint64_t group_hash = 0;
  auto emit = [&]() -> Status {
    group.clear();
    for (const auto& [offset, length] : parts) {
      group.push_back(std::string_view(group_bytes).substr(offset, length));
    }
    Status s = EmitGroup(group, fn);
    group_bytes.clear();
    parts.clear();
    return s;
  };
  SEGFLOW_RETURN_IF_ERROR(Merge(true, [&](const Key& k, std::string_view entry) -> Status {
    if (!parts.empty() && k.hash != group_hash) SEGFLOW_RETURN_IF_ERROR(emit());
    group_hash = k.hash;
    parts.emplace_back(group_bytes.size(), entry.size());
    group_bytes.append(entry);
    return Status::OK();
  }));
  if (!parts.empty()) SEGFLOW_RETURN_IF_ERROR(emit());
  Clear();
  RemoveRuns();
  records_spilled_ = 0;
  return Status::OK();
}

void KeyedRecordSorter::RemoveRuns() {
  for (const std::string& path : runs_) std::remove(path.c_str());
  runs_.clear();
  erased_.clear();
}

Status KeyedRecordSorter::Merge(bool with_memory, const Visit& visit) {
  // Each open run reads through a buffer: together they stay within the budget.
  const size_t buffer = std::clamp(memory_bytes_ / (runs_.size() + 1), size_t{4096}, kFileBuffer);
  std::vector<std::unique_ptr<Cursor>> cursors;
  for (const std::string& path : runs_) {
    cursors.push_back(std::make_unique<Cursor>(path));
    SEGFLOW_RETURN_IF_ERROR(cursors.back()->Open(buffer));
  }
  const size_t memory = cursors.size();  // the heap's index for keys_
  size_t in_memory = 0;                  // the next of keys_
  auto key_of = [&](size_t c) -> const Key& {
    return c == memory ? keys_[in_memory] : cursors[c]->key();
  };
  // Smallest key on top; equal keys (one user, same ts and seq) by arrival: run order.
  auto later = [&](size_t a, size_t b) {
    const Key& x = key_of(a);
    const Key& y = key_of(b);
    if (Before(x, y)) return false;
    if (Before(y, x)) return true;
    return a > b;
  };
  std::vector<size_t> heap;
  for (size_t c = 0; c < cursors.size(); ++c) {
    if (!cursors[c]->done()) heap.push_back(c);
  }
  if (with_memory && !keys_.empty()) heap.push_back(memory);
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const size_t c = heap.back();
    bool more;
    if (c == memory) {
      const Key& k = keys_[in_memory];
      SEGFLOW_RETURN_IF_ERROR(visit(k, EntryAt(k.at)));
      more = ++in_memory < keys_.size();
    } else {
      Cursor& cursor = *cursors[c];
      const std::string_view entry = cursor.entry();
      auto erased = erased_.empty() ? erased_.end() : erased_.find(std::string(EntryUser(entry)));
      if (erased == erased_.end() || c >= erased->second) {
        SEGFLOW_RETURN_IF_ERROR(visit(cursor.key(), entry));
      }
      SEGFLOW_RETURN_IF_ERROR(cursor.Next());
      more = !cursor.done();
    }
    if (more) {
      std::push_heap(heap.begin(), heap.end(), later);
    } else {
      heap.pop_back();
    }
  }
  return Status::OK();
}

Status KeyedRecordSorter::MergeRuns() {
  RunWriter out;
  const std::string path = spill_dir_ + "/run-" + std::to_string(next_run_++);
  SEGFLOW_RETURN_IF_ERROR(out.Create(path));
  Status s =
      Merge(false, [&](const Key& k, std::string_view entry) { return out.Write(k, entry); });
  if (s.ok()) s = out.Close();
  if (!s.ok()) {
    std::remove(path.c_str());
    return s;
  }
  spilled_bytes_ += out.bytes();
  RemoveRuns();
  runs_.push_back(path);
  return Status::OK();
}

}  // namespace segflow
