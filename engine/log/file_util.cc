#include "engine/log/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace segflow::log {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int UniqueFd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<UniqueFd> OpenFile(const std::string& path, int flags, int mode) {
  for (;;) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return UniqueFd(fd);
    if (errno == EINTR) continue;
    if (errno == ENOENT) return Status::NotFound("open " + path + ": no such file or directory");
    return Status::FromErrno("open " + path, errno);
  }
}

Result<size_t> PreadFull(int fd, void* buf, size_t n, uint64_t pos, const std::string& path) {
  size_t done = 0;
  auto* p = static_cast<char*>(buf);
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + path, errno);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

Status PwriteFull(int fd, const void* buf, size_t n, uint64_t pos, const std::string& path) {
  size_t done = 0;
  const auto* p = static_cast<const char*>(buf);
  while (done < n) {
    ssize_t r = ::pwrite(fd, p + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + path, errno);
    }
    done += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status WriteFull(int fd, const void* buf, size_t n, const std::string& path) {
  size_t done = 0;
  const auto* p = static_cast<const char*>(buf);
  while (done < n) {
    ssize_t r = ::write(fd, p + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + path, errno);
    }
    done += static_cast<size_t>(r);
  }
  return Status::OK();
}

Result<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

Status Truncate(int fd, uint64_t size, const std::string& path) {
  for (;;) {
    if (::ftruncate(fd, static_cast<off_t>(size)) == 0) return Status::OK();
    if (errno != EINTR) return Status::FromErrno("truncate " + path, errno);
  }
}

Status SyncFile(int fd, const std::string& path) {
  for (;;) {
    if (::fsync(fd) == 0) return Status::OK();
    if (errno != EINTR) return Status::FromErrno("fsync " + path, errno);
  }
}

Status SyncDir(const std::string& dir) {
  auto fd = OpenFile(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.status();
  return SyncFile(fd->get(), dir);
}

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) {
    size_t slash = dir.find_last_of('/');
    return SyncDir(slash == std::string::npos ? std::string(".") : (slash == 0 ? "/" : dir.substr(0, slash)));
  }
  if (errno == EEXIST) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::OK();
    return Status::IOError("mkdir " + dir + ": exists and is not a directory");
  }
  return Status::FromErrno("mkdir " + dir, errno);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Result<bool> RangeIsZero(int fd, uint64_t pos, uint64_t end, const std::string& path) {
  std::vector<char> buf(64 * 1024);
  while (pos < end) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - pos));
    auto n = PreadFull(fd, buf.data(), want, pos, path);
    if (!n.ok()) return n.status();
    for (size_t i = 0; i < *n; ++i) {
      if (buf[i] != 0) return false;
    }
    if (*n < want) break;
    pos += *n;
  }
  return true;
}

}  // namespace segflow::log
