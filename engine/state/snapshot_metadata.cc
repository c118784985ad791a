#include "engine/state/snapshot_metadata.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace segflow {
namespace {

constexpr char kMagic[] = "segflow-keyed-state-snapshot";

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  Status s;
  if (::fsync(fd) != 0) s = Status::FromErrno("fsync " + path, errno);
  ::close(fd);
  return s;
}

bool ValidStateName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

Status FsyncDirectory(const std::string& dir) { return FsyncPath(dir, O_RDONLY | O_DIRECTORY); }

Status WriteFileDurably(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create " + tmp, errno);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Status::FromErrno("write " + tmp, errno);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = Status::FromErrno("fsync " + tmp, errno);
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return Status::FromErrno("close " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  std::string dir = std::filesystem::path(path).parent_path().string();
  return FsyncPath(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

Status WriteSnapshotMetadata(const std::string& dir, const SnapshotMetadata& meta) {
  std::ostringstream out;
  out << kMagic << ' ' << kSnapshotFormatVersion << '\n';
  out << "max_parallelism " << meta.max_parallelism << '\n';
  out << "key_groups " << meta.key_groups.first << ' ' << meta.key_groups.last << '\n';
  for (const auto& st : meta.states) {
    if (!ValidStateName(st.name)) return Status::InvalidArgument("bad state name '" + st.name + "'");
    out << "state " << st.name << ' ' << st.key_group_offset << '\n';
  }
  out << "end\n";
  return WriteFileDurably(dir + "/" + kSnapshotMetadataFile, out.str());
}

Result<SnapshotMetadata> ReadSnapshotMetadata(const std::string& dir) {
  const std::string path = dir + "/" + kSnapshotMetadataFile;
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound("snapshot metadata " + path + " missing (incomplete or not a snapshot)");
  }
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  SnapshotMetadata meta;
  std::string line;
  int line_no = 0;
  bool have_mp = false, have_kg = false, ended = false;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream ls(line);
    std::string word;
    ls >> word;
    const std::string where = "line " + std::to_string(line_no);
    if (line_no == 1) {
      uint32_t version = 0;
      if (word != kMagic || !(ls >> version)) return bad(where + ": not a keyed-state snapshot");
      if (version != kSnapshotFormatVersion) {
        return Status::InvalidArgument(path + ": unsupported snapshot format version " +
                                       std::to_string(version) + " (this build reads " +
                                       std::to_string(kSnapshotFormatVersion) + ")");
      }
      continue;
    }
    if (ended) return bad(where + ": data after 'end'");
    if (word == "max_parallelism") {
      if (!(ls >> meta.max_parallelism)) return bad(where + ": bad max_parallelism");
      have_mp = true;
    } else if (word == "key_groups") {
      if (!(ls >> meta.key_groups.first >> meta.key_groups.last)) return bad(where + ": bad key_groups");
      have_kg = true;
    } else if (word == "state") {
      SnapshotStateInfo st;
      if (!(ls >> st.name >> st.key_group_offset)) return bad(where + ": bad state");
      meta.states.push_back(std::move(st));
    } else if (word == "end") {
      ended = true;
    } else {
      return bad(where + ": unknown entry '" + word + "'");
    }
  }
  if (line_no == 0) return bad("empty");
  if (!ended || !have_mp || !have_kg) return bad("truncated");
  if (meta.max_parallelism == 0 || meta.key_groups.first > meta.key_groups.last ||
      meta.key_groups.last >= meta.max_parallelism) {
    return bad("key groups outside max_parallelism");
  }
  return meta;
}

}  // namespace segflow
