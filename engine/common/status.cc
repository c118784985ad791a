#include "engine/common/status.h"

#include <cstring>

namespace segflow {

Status Status::FromErrno(const std::string& what, int err) {
  return Status(Code::kIOError, what + ": " + std::strerror(err));
}

std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "invalid argument: " + message_;
    case Code::kNotFound: return "not found: " + message_;
    case Code::kCorruption: return "corruption: " + message_;
    case Code::kIOError: return "I/O error: " + message_;
    case Code::kBusy: return "busy: " + message_;
    case Code::kOutOfRange: return "out of range: " + message_;
    case Code::kFailedPrecondition: return "failed precondition: " + message_;
    case Code::kInternal: return "internal error: " + message_;
    case Code::kCancelled: return "cancelled: " + message_;
  }
  return message_;
}

}  // namespace segflow
