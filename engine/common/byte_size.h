// Sizes given on a command line: "512m", "1g", "1.5GiB", "4096" (bytes).
#pragma once

#include <cstddef>
#include <string_view>

#include "engine/common/status.h"

namespace segflow {

// A byte count: a number (decimals allowed with a suffix) and an optional suffix k, m, g
// or t (powers of 1024; "kb", "kib", "MiB" and the like too, any case). InvalidArgument,
// saying what is accepted, for anything else, and for sizes below `min_bytes` or above
// 1 PiB.
Result<size_t> ParseByteSize(std::string_view text, size_t min_bytes = 0);

}  // namespace segflow
