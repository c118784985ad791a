#include "engine/state/message_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "engine/log/crc32c.h"
#include "engine/log/file_util.h"

namespace segflow {
namespace {

// [u32 magic "SGMF"][u32 CRC32C of the message bytes][message]: 8 bytes keep the
// message word-aligned, and the CRC catches a damaged file that would still decode.
constexpr uint32_t kMagic = 0x464d4753;
constexpr size_t kHeaderBytes = 8;

}  // namespace

Status WriteMessageFile(const std::string& path, capnp::MessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  std::filesystem::create_directories(dir, ec);
  auto fd = log::OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC);
  if (!fd.ok()) return fd.status();
  uint32_t header[2] = {kMagic, log::Crc32c(reinterpret_cast<const char*>(bytes.begin()), bytes.size())};
  SEGFLOW_RETURN_IF_ERROR(log::WriteFull(fd->get(), header, kHeaderBytes, tmp));
  SEGFLOW_RETURN_IF_ERROR(log::WriteFull(fd->get(), bytes.begin(), bytes.size(), tmp));
  SEGFLOW_RETURN_IF_ERROR(log::SyncFile(fd->get(), tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return log::SyncDir(dir);
}

Result<std::unique_ptr<OwnedMessage>> MessageFile::Read(const std::string& path,
                                                       uint64_t traversal_limit_words) {
  auto fd = log::OpenFile(path, O_RDONLY);
  if (!fd.ok()) return Status::NotFound("missing checkpoint file " + path + ": " + fd.status().message());
  auto size = log::FileSize(fd->get(), path);
  if (!size.ok()) return size.status();
  if (*size <= kHeaderBytes || *size % sizeof(capnp::word) != 0) {
    return Status::Corruption("corrupt checkpoint file " + path + " (" + std::to_string(*size) + " bytes)");
  }
  uint32_t header[2];
  auto h = log::PreadFull(fd->get(), header, kHeaderBytes, 0, path);
  if (!h.ok()) return h.status();
  const size_t body = *size - kHeaderBytes;
  std::vector<capnp::word> words(body / sizeof(capnp::word));
  auto n = log::PreadFull(fd->get(), words.data(), body, kHeaderBytes, path);
  if (!n.ok()) return n.status();
  if (header[0] != kMagic || *n != body ||
      header[1] != log::Crc32c(reinterpret_cast<const char*>(words.data()), body)) {
    return Status::Corruption("corrupt checkpoint file " + path + " (bad magic or checksum)");
  }
  try {
    // A reader that visits each object once or twice traverses at most twice the file.
    const uint64_t limit = traversal_limit_words > 0 ? traversal_limit_words : 2 * words.size() + 1024;
    return std::make_unique<OwnedMessage>(std::move(words), limit);
  } catch (const kj::Exception& e) {
    return Status::Corruption("corrupt checkpoint file " + path + ": " + e.getDescription().cStr());
  }
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace segflow
