// Durable single-message files (checkpoint task files and metadata): one Cap'n Proto
// message in flat form, written to a temp file, fsynced, renamed into place and the
// folder fsynced, so a reader sees the whole file or none of it.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/common/owned_message.h"
#include "engine/common/status.h"

namespace segflow {

Status WriteMessageFile(const std::string& path, capnp::MessageBuilder& message);

// A message read back (whole and checksum-verified); Root<T>() reads it in place.
class MessageFile {
 public:
  // NotFound or Corruption naming the file. `traversal_limit_words` bounds what a reader
  // may decode (Cap'n Proto's guard against amplification); 0: twice the file's size.
  static Result<std::unique_ptr<OwnedMessage>> Read(const std::string& path,
                                                    uint64_t traversal_limit_words = 8u << 20);
};

// Bytes of every file below `dir` (0 if missing).
uint64_t DirectoryBytes(const std::string& dir);

}  // namespace segflow
