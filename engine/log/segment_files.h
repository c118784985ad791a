// Partition directories: segment files named by base offset, their sparse offset
// indexes, and the scan that finds a segment's valid end. Internal to engine/log.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace segflow::log {

std::string TopicDir(const std::string& log_dir, const std::string& topic);
std::string PartitionDir(const std::string& log_dir, const std::string& topic, uint32_t partition);
std::string SegmentLogPath(const std::string& partition_dir, uint64_t base_offset);
std::string SegmentIndexPath(const std::string& partition_dir, uint64_t base_offset);

// Base offsets of the partition's segments, ascending; empty when the directory is missing.
Result<std::vector<uint64_t>> ListSegments(const std::string& partition_dir);

// One sparse index entry: the batch with offset base+relative_offset starts at `position`.
struct IndexEntry {
  uint32_t relative_offset = 0;
  uint32_t position = 0;
};
constexpr size_t kIndexEntryBytes = 8;
void EncodeIndexEntry(const IndexEntry& e, char* out);
// The index's entries up to the first that is torn, out of order, or past `log_size`.
Result<std::vector<IndexEntry>> LoadIndex(int index_fd, const std::string& path, uint64_t log_size);

// The valid extent of a segment from a batch boundary.
struct SegmentEnd {
  uint64_t end_position = 0;  // just past the last valid batch
  uint64_t end_offset = 0;    // offset after the last valid record
  bool torn = false;          // bytes after end_position: an unfinished or zeroed tail
};

// Walks batches from (position, offset) to the end of the file, verifying CRCs. A bad or
// short batch that is only followed by zeros (or nothing) is a torn tail; one followed by
// other data is Corruption naming the file and byte position.
Result<SegmentEnd> ScanSegment(int fd, const std::string& path, uint64_t size, uint64_t position,
                               uint64_t offset);

// ScanSegment from the last index entry whose batch checks (else from the start).
Result<SegmentEnd> FindSegmentEnd(int log_fd, const std::string& log_path, uint64_t size,
                                  const std::vector<IndexEntry>& index, uint64_t base_offset);

}  // namespace segflow::log
