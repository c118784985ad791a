#include "engine/log/segment_files.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "engine/log/batch_format.h"
#include "engine/log/file_util.h"

namespace segflow::log {
namespace {

constexpr size_t kBaseDigits = 20;

std::string SegmentPath(const std::string& dir, uint64_t base, const char* ext) {
  char name[40];
  std::snprintf(name, sizeof(name), "%020" PRIu64 "%s", base, ext);
  return dir + "/" + name;
}

// The batch at `position` checked against the file: valid, torn tail, or corrupt.
struct BatchAt {
  BatchState state = BatchState::kValid;
  BatchHeader header;
  std::string problem;
};

Result<BatchAt> ReadBatchAt(int fd, const std::string& path, uint64_t size, uint64_t position,
                            std::vector<char>* scratch) {
  BatchAt b;
  const uint64_t avail = size - position;
  if (avail < kBatchHeaderBytes) {
    b.state = BatchState::kIncomplete;
    return b;
  }
  char header[kBatchHeaderBytes];
  auto n = PreadFull(fd, header, sizeof(header), position, path);
  if (!n.ok()) return n.status();
  if (*n < sizeof(header)) {
    b.state = BatchState::kIncomplete;
    return b;
  }
  if (!DecodeBatchHeader(header, &b.header)) {
    b.state = BatchState::kBadHeader;
    b.problem = "bad batch header";
    return b;
  }
  if (avail < b.header.total_bytes()) {
    b.state = BatchState::kIncomplete;
    return b;
  }
  scratch->resize(kBatchHeaderBytes + b.header.payload_bytes);
  std::memcpy(scratch->data(), header, kBatchHeaderBytes);
  n = PreadFull(fd, scratch->data() + kBatchHeaderBytes, b.header.payload_bytes,
                position + kBatchHeaderBytes, path);
  if (!n.ok()) return n.status();
  if (*n < b.header.payload_bytes) {
    b.state = BatchState::kIncomplete;
    return b;
  }
  b.state = InspectBatch(scratch->data(), scratch->size(), &b.header, &b.problem);
  return b;
}

}  // namespace

std::string TopicDir(const std::string& log_dir, const std::string& topic) { return log_dir + "/" + topic; }

std::string PartitionDir(const std::string& log_dir, const std::string& topic, uint32_t partition) {
  return TopicDir(log_dir, topic) + "/" + std::to_string(partition);
}

std::string SegmentLogPath(const std::string& partition_dir, uint64_t base_offset) {
  return SegmentPath(partition_dir, base_offset, ".log");
}

std::string SegmentIndexPath(const std::string& partition_dir, uint64_t base_offset) {
  return SegmentPath(partition_dir, base_offset, ".index");
}

Result<std::vector<uint64_t>> ListSegments(const std::string& partition_dir) {
  std::vector<uint64_t> bases;
  DIR* dir = ::opendir(partition_dir.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return bases;
    return Status::FromErrno("opendir " + partition_dir, errno);
  }
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) break;
    const char* name = e->d_name;
    if (std::strlen(name) != kBaseDigits + 4 || std::strcmp(name + kBaseDigits, ".log") != 0) continue;
    if (!std::all_of(name, name + kBaseDigits, [](char c) { return c >= '0' && c <= '9'; })) continue;
    bases.push_back(std::strtoull(name, nullptr, 10));
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) return Status::FromErrno("readdir " + partition_dir, err);
  std::sort(bases.begin(), bases.end());
  return bases;
}

void EncodeIndexEntry(const IndexEntry& e, char* out) {
  std::memcpy(out, &e.relative_offset, 4);
  std::memcpy(out + 4, &e.position, 4);
}

Result<std::vector<IndexEntry>> LoadIndex(int index_fd, const std::string& path, uint64_t log_size) {
  std::vector<IndexEntry> entries;
  auto size = FileSize(index_fd, path);
  if (!size.ok()) return size.status();
  std::vector<char> bytes(*size / kIndexEntryBytes * kIndexEntryBytes);
  auto n = PreadFull(index_fd, bytes.data(), bytes.size(), 0, path);
  if (!n.ok()) return n.status();
  entries.reserve(*n / kIndexEntryBytes);
  for (size_t at = 0; at + kIndexEntryBytes <= *n; at += kIndexEntryBytes) {
    IndexEntry e;
    std::memcpy(&e.relative_offset, bytes.data() + at, 4);
    std::memcpy(&e.position, bytes.data() + at + 4, 4);
    if (e.position >= log_size || e.position % 8 != 0) break;
    if (!entries.empty() &&
        (e.relative_offset <= entries.back().relative_offset || e.position <= entries.back().position)) {
      break;
    }
    entries.push_back(e);
  }
  return entries;
}

Result<SegmentEnd> ScanSegment(int fd, const std::string& path, uint64_t size, uint64_t position,
                               uint64_t offset) {
  std::vector<char> scratch;
  SegmentEnd end{position, offset, false};
  while (end.end_position < size) {
    auto b = ReadBatchAt(fd, path, size, end.end_position, &scratch);
    if (!b.ok()) return b.status();
    if (b->state == BatchState::kValid) {
      if (b->header.base_offset != end.end_offset) {
        return Status::Corruption(path + " at byte " + std::to_string(end.end_position) + ": batch has offset " +
                                  std::to_string(b->header.base_offset) + ", expected " +
                                  std::to_string(end.end_offset));
      }
      end.end_position += b->header.total_bytes();
      end.end_offset += b->header.record_count;
      continue;
    }
    end.torn = true;
    if (b->state == BatchState::kIncomplete) return end;
    // A bad batch is a torn tail only when nothing but zeros follows it.
    const uint64_t after = b->state == BatchState::kBadHeader
                               ? std::min(size, end.end_position + kBatchHeaderBytes)
                               : end.end_position + b->header.total_bytes();
    auto zero = RangeIsZero(fd, after, size, path);
    if (!zero.ok()) return zero.status();
    if (*zero) return end;
    return Status::Corruption(path + " at byte " + std::to_string(end.end_position) + ": " + b->problem +
                              ", followed by more data");
  }
  return end;
}

Result<SegmentEnd> FindSegmentEnd(int log_fd, const std::string& log_path, uint64_t size,
                                  const std::vector<IndexEntry>& index, uint64_t base_offset) {
  std::vector<char> scratch;
  uint64_t position = 0;
  uint64_t offset = base_offset;
  if (!index.empty()) {
    const IndexEntry& last = index.back();
    auto b = ReadBatchAt(log_fd, log_path, size, last.position, &scratch);
    if (!b.ok()) return b.status();
    if (b->state == BatchState::kValid && b->header.base_offset == base_offset + last.relative_offset) {
      position = last.position;
      offset = b->header.base_offset;
    }
  }
  return ScanSegment(log_fd, log_path, size, position, offset);
}

}  // namespace segflow::log
