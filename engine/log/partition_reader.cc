#include <fcntl.h>

#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "engine/log/batch_format.h"
#include "engine/log/file_util.h"
#include "engine/log/log.h"
#include "engine/log/record_codec.h"
#include "engine/log/segment_files.h"
#include "engine/schema/record.capnp.h"

namespace segflow::log {
namespace {

constexpr size_t kReadChunkBytes = 1 << 20;

Status CheckPartition(const std::string& log_dir, const std::string& topic, uint32_t partition) {
  auto meta = ReadTopicMeta(log_dir, topic);
  if (!meta.ok()) return meta.status();
  if (partition >= meta->partitions) {
    return Status::InvalidArgument("topic '" + topic + "' has " + std::to_string(meta->partitions) +
                                   " partitions; no partition " + std::to_string(partition));
  }
  return Status::OK();
}

}  // namespace

struct PartitionReader::Impl {
  std::string dir;
  uint32_t partition = 0;
  uint64_t position = 0;  // next offset to hand out

  bool has_segment = false;
  uint64_t base = 0;
  std::string log_path;
  UniqueFd fd;
  uint64_t batch_offset = 0;  // offset of the batch at the cursor
  bool seeked_by_index = false;

  // File bytes [buffer_position, buffer_position + buffer_len); the cursor is a batch start.
  // Word-aligned, and batches start at multiples of 8, so payloads are aligned words.
  std::unique_ptr<capnp::word[]> buffer;
  size_t capacity = 0;
  uint64_t buffer_position = 0;
  size_t buffer_len = 0;
  size_t cursor = 0;

  std::vector<LogRecord> decoded;
  size_t decoded_next = 0;

  // Project(): null decodes every record whole. `max_ts` is the largest ts decoded so far.
  std::shared_ptr<const PropsProjection> projection;
  int64_t max_ts = std::numeric_limits<int64_t>::min();
  int64_t out_of_orderness = 0;
  std::vector<LogRecord> spare;  // Recycle()d records, decoded into again

  char* bytes() { return reinterpret_cast<char*>(buffer.get()); }
  uint64_t cursor_position() const { return buffer_position + cursor; }

  Status OpenSegmentFor(uint64_t offset, bool* found);
  void StartAt(uint64_t file_position, uint64_t offset);
  // Makes at least `n` bytes available from the cursor if the file has them.
  Status Fill(size_t n);
  // Forgets buffered bytes from the cursor on: they may be rewritten (a torn tail).
  void DropUnread() { buffer_len = cursor; }
  // The base offset of the segment after the current one, if any. Only the last segment
  // may end in a torn tail: a writer syncs a segment before it creates the next one.
  Result<std::optional<uint64_t>> NextSegmentBase() const;
  // The current segment ended (at the cursor) and segment `next` follows it: moves there,
  // or, when the segment ends short of `next` (truncated or damaged), is Corruption.
  Status EndOfSegment(uint64_t next, const std::string& what);
  // Decodes the next batch into `decoded`; false when there is none yet.
  Result<bool> NextBatch();
  Status Decode(const BatchHeader& h);
  Status CorruptionAt(const std::string& what) const {
    return Status::Corruption(log_path + " at byte " + std::to_string(cursor_position()) + ": " + what);
  }
};

void PartitionReader::Impl::StartAt(uint64_t file_position, uint64_t offset) {
  buffer_position = file_position;
  buffer_len = 0;
  cursor = 0;
  batch_offset = offset;
}

Status PartitionReader::Impl::OpenSegmentFor(uint64_t offset, bool* found) {
  *found = false;
  auto segments = ListSegments(dir);
  if (!segments.ok()) return segments.status();
  if (segments->empty()) return Status::OK();
  if (segments->front() > offset) {
    return Status::Corruption(dir + ": the partition starts at offset " + std::to_string(segments->front()) +
                              ", offset " + std::to_string(offset) + " is missing");
  }
  auto it = std::upper_bound(segments->begin(), segments->end(), offset);
  base = *(it - 1);
  log_path = SegmentLogPath(dir, base);
  auto f = OpenFile(log_path, O_RDONLY);
  if (!f.ok()) return f.status();
  fd = std::move(f).value();
  has_segment = true;
  *found = true;
  StartAt(0, base);
  seeked_by_index = false;
  if (offset == base) return Status::OK();

  const std::string index_path = SegmentIndexPath(dir, base);
  auto index_fd = OpenFile(index_path, O_RDONLY);
  if (!index_fd.ok()) {
    return index_fd.status().code() == Status::Code::kNotFound ? Status::OK() : index_fd.status();
  }
  auto size = FileSize(fd.get(), log_path);
  if (!size.ok()) return size.status();
  auto entries = LoadIndex(index_fd->get(), index_path, *size);
  if (!entries.ok()) return entries.status();
  auto e = std::upper_bound(entries->begin(), entries->end(), offset - base,
                            [](uint64_t rel, const IndexEntry& x) { return rel < x.relative_offset; });
  if (e != entries->begin()) {
    --e;
    StartAt(e->position, base + e->relative_offset);
    seeked_by_index = true;
  }
  return Status::OK();
}

Status PartitionReader::Impl::Fill(size_t n) {
  if (buffer_len - cursor >= n) return Status::OK();
  if (cursor > 0) {
    std::memmove(bytes(), bytes() + cursor, buffer_len - cursor);
    buffer_position += cursor;
    buffer_len -= cursor;
    cursor = 0;
  }
  if (capacity < n) {
    size_t new_capacity = std::max(kReadChunkBytes, (n + kReadChunkBytes - 1) / kReadChunkBytes * kReadChunkBytes);
    auto grown = std::make_unique<capnp::word[]>(new_capacity / sizeof(capnp::word));
    if (buffer_len > 0) std::memcpy(grown.get(), buffer.get(), buffer_len);
    buffer = std::move(grown);
    capacity = new_capacity;
  }
  auto got = PreadFull(fd.get(), bytes() + buffer_len, capacity - buffer_len, buffer_position + buffer_len, log_path);
  if (!got.ok()) return got.status();
  buffer_len += *got;
  return Status::OK();
}

Status PartitionReader::Impl::Decode(const BatchHeader& h) {
  decoded.clear();
  decoded_next = 0;
  const auto* words = reinterpret_cast<const capnp::word*>(bytes() + cursor + kBatchHeaderBytes);
  const size_t n_words = h.payload_bytes / sizeof(capnp::word);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = n_words * 4 + 1024;
  options.nestingLimit = kRecordNestingLimit;
  try {
    capnp::FlatArrayMessageReader message(kj::arrayPtr(words, n_words), options);
    auto root = message.getRoot<schema::RecordBatch>();
    auto records = root.getRecords();
    if (root.getBaseOffset() != h.base_offset || records.size() != h.record_count) {
      return CorruptionAt("batch payload disagrees with its header");
    }
    const uint64_t skip = position > h.base_offset ? position - h.base_offset : 0;
    if (skip < records.size()) decoded.reserve(records.size() - skip);
    for (uint64_t i = skip; i < records.size(); ++i) {
      if (spare.empty()) {
        decoded.emplace_back();
      } else {
        decoded.push_back(std::move(spare.back()));
        spare.pop_back();
      }
      LogRecord& r = decoded.back();
      r.partition = partition;
      r.partial = false;
      r.offset = h.base_offset + i;
      auto record = records[static_cast<unsigned>(i)];
      Status st;
      if (projection == nullptr) {
        st = DecodeRecord(record, &r.event);
      } else {
        // The source task's lateness rule (spec §2), decided on the same records in the
        // same order: a late record goes whole to the late topic.
        const int64_t ts = record.getTs();
        const bool late =
            max_ts != std::numeric_limits<int64_t>::min() && ts < max_ts - out_of_orderness;
        if (ts > max_ts) max_ts = ts;
        r.partial = !late;
        st = late ? DecodeRecord(record, &r.event)
                  : DecodeRecordProjected(record, *projection, &r.event);
      }
      if (!st.ok()) {
        decoded.pop_back();
        return CorruptionAt(st.message());
      }
    }
  } catch (const kj::Exception& e) {
    return CorruptionAt(std::string("malformed batch: ") + e.getDescription().cStr());
  }
  return Status::OK();
}

Result<std::optional<uint64_t>> PartitionReader::Impl::NextSegmentBase() const {
  // The usual case, a roll at our end offset, needs no directory listing.
  if (batch_offset != base && PathExists(SegmentLogPath(dir, batch_offset))) return {batch_offset};
  auto segments = ListSegments(dir);
  if (!segments.ok()) return segments.status();
  auto it = std::upper_bound(segments->begin(), segments->end(), base);
  if (it == segments->end()) return {std::nullopt};
  return {*it};
}

Status PartitionReader::Impl::EndOfSegment(uint64_t next, const std::string& what) {
  const std::string next_path = SegmentLogPath(dir, next);
  if (buffer_len > cursor) {
    return CorruptionAt(
        what + " before the next segment " + next_path +
        " (an earlier segment is damaged; only a partition's last segment can have a torn tail)");
  }
  if (next != batch_offset) {
    return CorruptionAt("the segment ends at offset " + std::to_string(batch_offset) +
                        " but the next segment " + next_path + " starts at offset " +
                        std::to_string(next) +
                        " (a truncated or damaged earlier segment: records are missing)");
  }
  base = next;
  log_path = next_path;
  auto f = OpenFile(log_path, O_RDONLY);
  if (!f.ok()) return f.status();
  fd = std::move(f).value();
  StartAt(0, base);
  return Status::OK();
}

Result<bool> PartitionReader::Impl::NextBatch() {
  // Each pass returns, moves to the next segment, or re-reads a finished segment's end once.
  bool rechecked = false;
  for (int pass = 0; pass < 1 << 20; ++pass) {
    if (!has_segment) {
      bool found = false;
      SEGFLOW_RETURN_IF_ERROR(OpenSegmentFor(position, &found));
      if (!found) return false;
    }
    SEGFLOW_RETURN_IF_ERROR(Fill(kBatchHeaderBytes));
    BatchHeader h;
    std::string problem;
    BatchState state = InspectBatch(bytes() + cursor, buffer_len - cursor, &h, &problem);
    if (state == BatchState::kIncomplete && buffer_len - cursor >= kBatchHeaderBytes) {
      SEGFLOW_RETURN_IF_ERROR(Fill(h.total_bytes()));
      state = InspectBatch(bytes() + cursor, buffer_len - cursor, &h, &problem);
    }
    if (state != BatchState::kValid && seeked_by_index) {
      seeked_by_index = false;  // a stale index entry: scan the segment from its start
      StartAt(0, base);
      continue;
    }
    if (state == BatchState::kValid) {
      if (h.base_offset != batch_offset) {
        if (seeked_by_index) {
          seeked_by_index = false;
          StartAt(0, base);
          continue;
        }
        return CorruptionAt("batch has offset " + std::to_string(h.base_offset) + ", expected " +
                            std::to_string(batch_offset));
      }
      seeked_by_index = false;
      SEGFLOW_RETURN_IF_ERROR(Decode(h));
      cursor += h.total_bytes();
      batch_offset += h.record_count;
      return true;
    }
    // The end of the current segment's valid data: an unfinished batch, or a bad one.
    if (state != BatchState::kIncomplete) {
      // A bad batch followed by anything but zeros is damage, never a torn tail.
      auto size = FileSize(fd.get(), log_path);
      if (!size.ok()) return size.status();
      const uint64_t after = state == BatchState::kBadHeader ? cursor_position() + kBatchHeaderBytes
                                                             : cursor_position() + h.total_bytes();
      auto zero = RangeIsZero(fd.get(), std::min(after, *size), *size, log_path);
      if (!zero.ok()) return zero.status();
      if (!*zero) return CorruptionAt(problem + ", followed by more data");
    }
    auto next = NextSegmentBase();
    if (!next.ok()) return next.status();
    if (!next->has_value()) {
      DropUnread();
      return false;  // the partition's tail: not yet written (or torn, until a writer truncates it)
    }
    // A later segment exists, so this one is final: read its end once more (the writer may
    // have finished it after our read), then move on or report the damage.
    if (!rechecked) {
      rechecked = true;
      DropUnread();
      continue;
    }
    rechecked = false;
    SEGFLOW_RETURN_IF_ERROR(EndOfSegment(
        **next, state == BatchState::kIncomplete ? std::string("unfinished batch") : problem));
  }
  return Status::Internal("reader made no progress on " + log_path);
}

Result<std::unique_ptr<PartitionReader>> PartitionReader::Open(const std::string& log_dir, const std::string& topic,
                                                              uint32_t partition, uint64_t start_offset) {
  SEGFLOW_RETURN_IF_ERROR(CheckPartition(log_dir, topic, partition));
  auto impl = std::make_unique<Impl>();
  impl->dir = PartitionDir(log_dir, topic, partition);
  impl->partition = partition;
  impl->position = start_offset;
  auto reader = std::unique_ptr<PartitionReader>(new PartitionReader());
  reader->impl_ = std::move(impl);
  return reader;
}

PartitionReader::~PartitionReader() = default;

uint64_t PartitionReader::position() const { return impl_->position; }

void PartitionReader::Recycle(std::vector<LogRecord>* used) {
  // Bounded by what a Poll hands out; whole events are not worth keeping without projection.
  constexpr size_t kMaxSpare = 8192;
  Impl& r = *impl_;
  if (r.projection != nullptr) {
    for (LogRecord& record : *used) {
      if (r.spare.size() >= kMaxSpare) break;
      r.spare.push_back(std::move(record));
    }
  }
  used->clear();
}

void PartitionReader::Project(std::shared_ptr<const PropsProjection> projection, int64_t max_prev,
                              int64_t out_of_orderness) {
  impl_->projection = std::move(projection);
  impl_->max_ts = max_prev;
  impl_->out_of_orderness = out_of_orderness;
}

Result<size_t> PartitionReader::Poll(size_t max_records, std::vector<LogRecord>* out) {
  Impl& r = *impl_;
  size_t n = 0;
  while (n < max_records) {
    if (r.decoded_next < r.decoded.size()) {
      const size_t take = std::min(max_records - n, r.decoded.size() - r.decoded_next);
      for (size_t i = 0; i < take; ++i) out->push_back(std::move(r.decoded[r.decoded_next + i]));
      r.decoded_next += take;
      r.position = out->back().offset + 1;
      n += take;
      continue;
    }
    auto more = r.NextBatch();
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return n;
}

Result<uint64_t> EndOffset(const std::string& log_dir, const std::string& topic, uint32_t partition) {
  SEGFLOW_RETURN_IF_ERROR(CheckPartition(log_dir, topic, partition));
  const std::string dir = PartitionDir(log_dir, topic, partition);
  auto segments = ListSegments(dir);
  if (!segments.ok()) return segments.status();
  if (segments->empty()) return uint64_t{0};
  const uint64_t base = segments->back();
  const std::string log_path = SegmentLogPath(dir, base);
  auto fd = OpenFile(log_path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  auto size = FileSize(fd->get(), log_path);
  if (!size.ok()) return size.status();
  std::vector<IndexEntry> entries;
  const std::string index_path = SegmentIndexPath(dir, base);
  auto index_fd = OpenFile(index_path, O_RDONLY);
  if (index_fd.ok()) {
    auto loaded = LoadIndex(index_fd->get(), index_path, *size);
    if (!loaded.ok()) return loaded.status();
    entries = std::move(loaded).value();
  } else if (index_fd.status().code() != Status::Code::kNotFound) {
    return index_fd.status();
  }
  auto end = FindSegmentEnd(fd->get(), log_path, *size, entries, base);
  if (!end.ok()) return end.status();
  return end->end_offset;
}

}  // namespace segflow::log
