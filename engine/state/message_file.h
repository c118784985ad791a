// Durable single-message files (checkpoint task files and metadata): one Cap'n Proto
// message in flat form, written to a temp file, fsynced, renamed into place and the
// folder fsynced, so a reader sees the whole file or none of it.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace segflow {

Status WriteMessageFile(const std::string& path, capnp::MessageBuilder& message);

// A message read back; Root<T>() reads it in place. Corruption names the file.
class MessageFile {
 public:
  static Result<std::unique_ptr<MessageFile>> Read(const std::string& path);
  template <typename T>
  typename T::Reader Root() {
    return reader_->getRoot<T>();
  }

 private:
  std::vector<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// Bytes of every file below `dir` (0 if missing).
uint64_t DirectoryBytes(const std::string& dir);

}  // namespace segflow
