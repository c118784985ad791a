#include <fcntl.h>
#include <sys/file.h>

#include <capnp/message.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <utility>

#include "engine/log/batch_format.h"
#include "engine/log/file_util.h"
#include "engine/log/log.h"
#include "engine/log/record_codec.h"
#include "engine/log/segment_files.h"
#include "engine/schema/record.capnp.h"

namespace segflow::log {
namespace {

constexpr uint64_t kDefaultSegmentBytes = 128ull << 20;
constexpr uint64_t kMinSegmentBytes = 4096;
constexpr uint64_t kMaxSegmentBytes = 1ull << 30;  // index positions are 32-bit
// Records per batch are bounded by this encoded size (a reader's chunk is 1 MiB).
constexpr size_t kTargetBatchBytes = 512 * 1024;

// Holds the partition's flock for its lifetime.
class PartitionLock {
 public:
  static Result<PartitionLock> Take(int fd, const std::string& path) {
    for (;;) {
      if (::flock(fd, LOCK_EX) == 0) return PartitionLock(fd);
      if (errno != EINTR) return Status::FromErrno("lock " + path, errno);
    }
  }
  PartitionLock(PartitionLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  PartitionLock& operator=(PartitionLock&&) = delete;
  ~PartitionLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }

 private:
  explicit PartitionLock(int fd) : fd_(fd) {}
  int fd_;
};

// A batch built before taking the lock; its base offset is set under the lock.
struct BuiltBatch {
  std::unique_ptr<capnp::MallocMessageBuilder> message;
  uint32_t records = 0;
  int64_t max_ts = std::numeric_limits<int64_t>::min();
};

}  // namespace

uint64_t WriterOptions::DefaultSegmentBytes() {
  const char* env = std::getenv("SEGFLOW_LOG_SEGMENT_BYTES");
  if (env == nullptr || *env == '\0') return kDefaultSegmentBytes;
  char* end = nullptr;
  unsigned long long v = std::strtoull(env, &end, 10);
  if (*end != '\0' || v == 0) return kDefaultSegmentBytes;
  return v;
}

struct PartitionWriter::Impl {
  std::string dir;
  std::string lock_path;
  WriterOptions options;
  UniqueFd lock_fd;

  // The writer's view of the partition tail; refreshed under the lock before each write.
  bool has_segment = false;
  uint64_t base = 0;
  std::string log_path;
  std::string index_path;
  UniqueFd log_fd;
  UniqueFd index_fd;
  uint64_t end_position = 0;
  uint64_t next_offset = 0;
  uint64_t index_bytes = 0;
  uint64_t last_indexed_position = 0;
  bool unsynced = false;

  std::vector<Event> pending;
  size_t pending_bytes = 0;

  // Re-reads the last segment: finds its valid end, truncates a torn tail and the index
  // entries past it. Requires the lock.
  Status Recover();
  // Catches up with appends by other writers. Requires the lock.
  Status Refresh();
  Status CreateSegment(uint64_t base_offset);
  Status Roll();
  Status WriteBatch(const std::string& bytes, uint32_t records);
  Status SyncSegment();
};

Status PartitionWriter::Impl::Recover() {
  has_segment = false;
  log_fd.reset();
  index_fd.reset();
  auto segments = ListSegments(dir);
  if (!segments.ok()) return segments.status();
  if (segments->empty()) {
    next_offset = 0;
    end_position = 0;
    return Status::OK();
  }
  base = segments->back();
  log_path = SegmentLogPath(dir, base);
  index_path = SegmentIndexPath(dir, base);
  auto log = OpenFile(log_path, O_RDWR);
  if (!log.ok()) return log.status();
  auto index = OpenFile(index_path, O_RDWR | O_CREAT);
  if (!index.ok()) return index.status();
  log_fd = std::move(log).value();
  index_fd = std::move(index).value();

  auto size = FileSize(log_fd.get(), log_path);
  if (!size.ok()) return size.status();
  auto entries = LoadIndex(index_fd.get(), index_path, *size);
  if (!entries.ok()) return entries.status();
  auto end = FindSegmentEnd(log_fd.get(), log_path, *size, *entries, base);
  if (!end.ok()) return end.status();
  if (end->torn) {
    SEGFLOW_RETURN_IF_ERROR(Truncate(log_fd.get(), end->end_position, log_path));
    SEGFLOW_RETURN_IF_ERROR(SyncFile(log_fd.get(), log_path));
  }
  size_t keep = 0;
  while (keep < entries->size() && (*entries)[keep].position < end->end_position) ++keep;
  auto index_size = FileSize(index_fd.get(), index_path);
  if (!index_size.ok()) return index_size.status();
  index_bytes = keep * kIndexEntryBytes;
  if (*index_size != index_bytes) {
    SEGFLOW_RETURN_IF_ERROR(Truncate(index_fd.get(), index_bytes, index_path));
    SEGFLOW_RETURN_IF_ERROR(SyncFile(index_fd.get(), index_path));
  }
  last_indexed_position = keep > 0 ? (*entries)[keep - 1].position : 0;
  end_position = end->end_position;
  next_offset = end->end_offset;
  has_segment = true;
  return Status::OK();
}

Status PartitionWriter::Impl::Refresh() {
  if (!has_segment) return Recover();
  auto size = FileSize(log_fd.get(), log_path);
  if (!size.ok()) return size.status();
  // Another writer appended, or rolled to a segment named by our end offset.
  if (*size != end_position || (next_offset != base && PathExists(SegmentLogPath(dir, next_offset)))) {
    return Recover();
  }
  return Status::OK();
}

Status PartitionWriter::Impl::CreateSegment(uint64_t base_offset) {
  const std::string lp = SegmentLogPath(dir, base_offset);
  const std::string ip = SegmentIndexPath(dir, base_offset);
  auto index = OpenFile(ip, O_RDWR | O_CREAT | O_TRUNC);
  if (!index.ok()) return index.status();
  // The .log appears last: a segment is listed only once its index exists. O_EXCL: under
  // the lock a new segment's name is never taken, unless something else wrote there.
  auto log = OpenFile(lp, O_RDWR | O_CREAT | O_EXCL);
  if (!log.ok()) return log.status();
  SEGFLOW_RETURN_IF_ERROR(SyncDir(dir));
  base = base_offset;
  log_path = lp;
  index_path = ip;
  log_fd = std::move(log).value();
  index_fd = std::move(index).value();
  end_position = 0;
  index_bytes = 0;
  last_indexed_position = 0;
  has_segment = true;
  return Status::OK();
}

Status PartitionWriter::Impl::SyncSegment() {
  SEGFLOW_RETURN_IF_ERROR(SyncFile(log_fd.get(), log_path));
  return SyncFile(index_fd.get(), index_path);
}

Status PartitionWriter::Impl::Roll() {
  // A segment is durable before its successor exists, so a crash never leaves a
  // later segment after a torn one.
  SEGFLOW_RETURN_IF_ERROR(SyncSegment());
  return CreateSegment(next_offset);
}

Status PartitionWriter::Impl::WriteBatch(const std::string& bytes, uint32_t records) {
  if (!has_segment) {
    SEGFLOW_RETURN_IF_ERROR(CreateSegment(next_offset));
  } else if (end_position > 0 && (end_position + bytes.size() > options.segment_bytes ||
                                  next_offset - base + records > std::numeric_limits<uint32_t>::max())) {
    SEGFLOW_RETURN_IF_ERROR(Roll());
  }
  Status st = PwriteFull(log_fd.get(), bytes.data(), bytes.size(), end_position, log_path);
  if (!st.ok()) {
    (void)Truncate(log_fd.get(), end_position, log_path);  // best effort: leave no partial batch
    return st;
  }
  if (end_position > 0 && end_position >= last_indexed_position + options.index_interval_bytes) {
    char entry[kIndexEntryBytes];
    EncodeIndexEntry({static_cast<uint32_t>(next_offset - base), static_cast<uint32_t>(end_position)}, entry);
    // The index is a hint: a lost entry only makes seeks scan further.
    SEGFLOW_RETURN_IF_ERROR(PwriteFull(index_fd.get(), entry, sizeof(entry), index_bytes, index_path));
    index_bytes += kIndexEntryBytes;
    last_indexed_position = end_position;
  }
  end_position += bytes.size();
  next_offset += records;
  unsynced = true;
  return Status::OK();
}

Result<std::unique_ptr<PartitionWriter>> PartitionWriter::Open(const std::string& log_dir, const std::string& topic,
                                                              uint32_t partition, const WriterOptions& options) {
  auto meta = ReadTopicMeta(log_dir, topic);
  if (!meta.ok()) return meta.status();
  if (partition >= meta->partitions) {
    return Status::InvalidArgument("topic '" + topic + "' has " + std::to_string(meta->partitions) +
                                   " partitions; no partition " + std::to_string(partition));
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = PartitionDir(log_dir, topic, partition);
  impl->lock_path = impl->dir + "/LOCK";
  impl->options = options;
  impl->options.segment_bytes = std::clamp(options.segment_bytes, kMinSegmentBytes, kMaxSegmentBytes);
  if (impl->options.index_interval_bytes == 0) impl->options.index_interval_bytes = 1;
  SEGFLOW_RETURN_IF_ERROR(MakeDir(impl->dir));
  auto lock_fd = OpenFile(impl->lock_path, O_RDWR | O_CREAT);
  if (!lock_fd.ok()) return lock_fd.status();
  impl->lock_fd = std::move(lock_fd).value();
  {
    auto lock = PartitionLock::Take(impl->lock_fd.get(), impl->lock_path);
    if (!lock.ok()) return lock.status();
    SEGFLOW_RETURN_IF_ERROR(impl->Recover());
  }
  auto writer = std::unique_ptr<PartitionWriter>(new PartitionWriter());
  writer->impl_ = std::move(impl);
  return writer;
}

PartitionWriter::~PartitionWriter() = default;

void PartitionWriter::Append(const Event& event) {
  impl_->pending_bytes += EstimateEncodedBytes(event);
  impl_->pending.push_back(event);
}

void PartitionWriter::Append(Event&& event) {
  impl_->pending_bytes += EstimateEncodedBytes(event);
  impl_->pending.push_back(std::move(event));
}

size_t PartitionWriter::buffered() const { return impl_->pending.size(); }
size_t PartitionWriter::buffered_bytes() const { return impl_->pending_bytes; }
uint64_t PartitionWriter::NextOffset() const { return impl_->next_offset; }

Status PartitionWriter::Flush(bool sync) {
  Impl& w = *impl_;
  if (w.pending.empty()) {
    if (sync && w.unsynced && w.has_segment) {
      SEGFLOW_RETURN_IF_ERROR(w.SyncSegment());
      w.unsynced = false;
    }
    return Status::OK();
  }

  // Encode outside the lock; only offsets, CRCs and the write happen under it.
  std::vector<BuiltBatch> batches;
  size_t i = 0;
  while (i < w.pending.size()) {
    size_t j = i;
    size_t bytes = 0;
    while (j < w.pending.size() && (j == i || bytes < kTargetBatchBytes)) {
      bytes += EstimateEncodedBytes(w.pending[j]);
      ++j;
    }
    BuiltBatch b;
    b.message = std::make_unique<capnp::MallocMessageBuilder>(static_cast<unsigned>(bytes / 8 + 64));
    auto root = b.message->initRoot<schema::RecordBatch>();
    auto records = root.initRecords(static_cast<unsigned>(j - i));
    for (size_t k = i; k < j; ++k) {
      EncodeRecord(w.pending[k], records[static_cast<unsigned>(k - i)]);
      if (w.pending[k].ts > b.max_ts) b.max_ts = w.pending[k].ts;
    }
    b.records = static_cast<uint32_t>(j - i);
    batches.push_back(std::move(b));
    i = j;
  }

  auto lock = PartitionLock::Take(w.lock_fd.get(), w.lock_path);
  if (!lock.ok()) return lock.status();
  SEGFLOW_RETURN_IF_ERROR(w.Refresh());
  std::string bytes;
  size_t written = 0;
  Status st;
  for (auto& b : batches) {
    b.message->getRoot<schema::RecordBatch>().setBaseOffset(w.next_offset);
    bytes.clear();
    BatchHeader h = AppendBatch(*b.message, w.next_offset, b.records, b.max_ts, &bytes);
    if (h.payload_bytes > kMaxBatchPayloadBytes) {
      st = Status::InvalidArgument("a record batch exceeds " + std::to_string(kMaxBatchPayloadBytes) + " bytes");
      break;
    }
    st = w.WriteBatch(bytes, b.records);
    if (!st.ok()) break;
    written += b.records;
  }
  if (st.ok() && sync) {
    st = w.SyncSegment();
    if (st.ok()) w.unsynced = false;
  }
  // Written records leave the buffer even on a later failure, so a retry never doubles them.
  w.pending.erase(w.pending.begin(), w.pending.begin() + static_cast<std::ptrdiff_t>(written));
  w.pending_bytes = 0;
  for (const auto& e : w.pending) w.pending_bytes += EstimateEncodedBytes(e);
  return st;
}

}  // namespace segflow::log
