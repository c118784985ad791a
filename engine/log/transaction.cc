#include "engine/log/transaction.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "engine/log/batch_format.h"
#include "engine/log/file_util.h"
#include "engine/log/segment_files.h"

namespace segflow::log {
namespace {

constexpr char kMarkerFile[] = "COMMITTED";
constexpr char kMarkerHeader[] = "segflow-commit 1";

std::string MarkerPath(const std::string& log_dir, const std::string& topic) {
  return TopicDir(log_dir, topic) + "/" + kMarkerFile;
}

}  // namespace

Status WriteCommitMarker(const std::string& log_dir, const std::string& topic, const CommitMarker& marker) {
  std::string text = std::string(kMarkerHeader) + "\ncheckpoint " + std::to_string(marker.checkpoint) +
                     "\nevaluated " + (marker.evaluated ? std::to_string(*marker.evaluated) : "none") + "\noffsets";
  for (uint64_t o : marker.offsets) {
    text += ' ';
    text += std::to_string(o);
  }
  text += "\nend\n";
  const std::string dir = TopicDir(log_dir, topic);
  const std::string path = MarkerPath(log_dir, topic);
  const std::string tmp = path + ".tmp";
  auto fd = OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC);
  if (!fd.ok()) return fd.status();
  SEGFLOW_RETURN_IF_ERROR(WriteFull(fd->get(), text.data(), text.size(), tmp));
  SEGFLOW_RETURN_IF_ERROR(SyncFile(fd->get(), tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return SyncDir(dir);
}

Result<std::optional<CommitMarker>> ReadCommitMarker(const std::string& log_dir, const std::string& topic) {
  const std::string path = MarkerPath(log_dir, topic);
  if (!PathExists(path)) return std::optional<CommitMarker>();
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  std::string text(4096, '\0');
  auto n = PreadFull(fd->get(), text.data(), text.size(), 0, path);
  if (!n.ok()) return n.status();
  text.resize(*n);
  std::istringstream in(text);
  std::string line;
  CommitMarker m;
  bool ended = false;
  const auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  if (!std::getline(in, line) || line != kMarkerHeader) return bad("not a segflow commit marker (or an unknown version)");
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "checkpoint") {
      if (!(words >> m.checkpoint)) return bad("bad checkpoint line");
    } else if (key == "evaluated") {
      std::string v;
      words >> v;
      if (v != "none") {
        try {
          m.evaluated = std::stoll(v);
        } catch (...) {
          return bad("bad evaluated line");
        }
      }
    } else if (key == "offsets") {
      uint64_t o;
      while (words >> o) m.offsets.push_back(o);
    } else if (key == "end") {
      ended = true;
    } else {
      return bad("unknown line \"" + line + "\"");
    }
  }
  if (!ended) return bad("truncated");
  return std::optional<CommitMarker>(std::move(m));
}

Result<std::vector<uint64_t>> CommittedLimits(const std::string& log_dir, const std::string& topic,
                                              uint32_t partitions) {
  auto marker = ReadCommitMarker(log_dir, topic);
  if (!marker.ok()) return marker.status();
  std::vector<uint64_t> limits(partitions, UINT64_MAX);
  if (marker->has_value()) {
    for (uint32_t p = 0; p < partitions && p < (*marker)->offsets.size(); ++p) limits[p] = (*marker)->offsets[p];
  }
  return limits;
}

Status TruncatePartition(const std::string& log_dir, const std::string& topic, uint32_t partition,
                         uint64_t offset) {
  const std::string dir = PartitionDir(log_dir, topic, partition);
  if (!PathExists(dir)) {
    if (offset == 0) return Status::OK();
    return Status::InvalidArgument("truncate " + dir + " to " + std::to_string(offset) + ": no such partition");
  }
  auto lock = OpenFile(dir + "/LOCK", O_RDWR | O_CREAT);
  if (!lock.ok()) return lock.status();
  if (::flock(lock->get(), LOCK_EX) != 0) return Status::FromErrno("lock " + dir, errno);
  auto segments = ListSegments(dir);
  if (!segments.ok()) return segments.status();
  // Whole segments at or past the offset go, newest first (.log before .index: a segment
  // is listed by its .log).
  bool removed = false;
  for (auto it = segments->rbegin(); it != segments->rend() && *it >= offset; ++it) {
    if (::unlink(SegmentLogPath(dir, *it).c_str()) != 0) return Status::FromErrno("remove segment", errno);
    ::unlink(SegmentIndexPath(dir, *it).c_str());
    removed = true;
  }
  uint64_t base = 0;
  bool has = false;
  for (uint64_t b : *segments) {
    if (b < offset) {
      base = b;
      has = true;
    }
  }
  if (has) {
    const std::string lp = SegmentLogPath(dir, base);
    auto log = OpenFile(lp, O_RDWR);
    if (!log.ok()) return log.status();
    auto size = FileSize(log->get(), lp);
    if (!size.ok()) return size.status();
    uint64_t position = 0, at = base;
    char header[kBatchHeaderBytes];
    while (at < offset) {
      auto n = PreadFull(log->get(), header, sizeof(header), position, lp);
      if (!n.ok()) return n.status();
      BatchHeader h;
      if (*n < sizeof(header) || !DecodeBatchHeader(header, &h) || h.base_offset != at) {
        return Status::InvalidArgument("truncate " + lp + " to offset " + std::to_string(offset) +
                                       ": the partition ends, or a batch spans it, at offset " + std::to_string(at));
      }
      position += h.total_bytes();
      at += h.record_count;
    }
    if (at != offset) {
      return Status::InvalidArgument("truncate " + lp + ": offset " + std::to_string(offset) +
                                     " is inside a batch (ends at " + std::to_string(at) + ")");
    }
    if (position < *size) {
      SEGFLOW_RETURN_IF_ERROR(Truncate(log->get(), position, lp));
      SEGFLOW_RETURN_IF_ERROR(SyncFile(log->get(), lp));
      const std::string ip = SegmentIndexPath(dir, base);
      auto index = OpenFile(ip, O_RDWR | O_CREAT);
      if (!index.ok()) return index.status();
      auto entries = LoadIndex(index->get(), ip, position);
      if (!entries.ok()) return entries.status();
      size_t keep = 0;
      while (keep < entries->size() && (*entries)[keep].position < position) ++keep;
      SEGFLOW_RETURN_IF_ERROR(Truncate(index->get(), keep * kIndexEntryBytes, ip));
      SEGFLOW_RETURN_IF_ERROR(SyncFile(index->get(), ip));
    }
  } else if (offset > 0) {
    return Status::InvalidArgument("truncate " + dir + " to " + std::to_string(offset) + ": beyond its end");
  }
  if (removed) SEGFLOW_RETURN_IF_ERROR(SyncDir(dir));
  return Status::OK();
}

}  // namespace segflow::log
