// POSIX file helpers for the log: owned descriptors, full reads and writes that retry on
// EINTR and short counts, fsync of files and directories. Every failure names the path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/common/status.h"

namespace segflow::log {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

Result<UniqueFd> OpenFile(const std::string& path, int flags, int mode = 0644);
// Reads up to `n` bytes at `pos`; fewer only at end of file.
Result<size_t> PreadFull(int fd, void* buf, size_t n, uint64_t pos, const std::string& path);
Status PwriteFull(int fd, const void* buf, size_t n, uint64_t pos, const std::string& path);
Status WriteFull(int fd, const void* buf, size_t n, const std::string& path);
Result<uint64_t> FileSize(int fd, const std::string& path);
Status Truncate(int fd, uint64_t size, const std::string& path);
Status SyncFile(int fd, const std::string& path);
// fsync of a directory, so a created, renamed or removed entry survives a crash.
Status SyncDir(const std::string& dir);
// mkdir that accepts an existing directory; syncs the parent when it created one.
Status MakeDir(const std::string& dir);
bool PathExists(const std::string& path);
// True when every byte of [pos, end) reads as zero (an unwritten, zero-filled tail).
Result<bool> RangeIsZero(int fd, uint64_t pos, uint64_t end, const std::string& path);

}  // namespace segflow::log
