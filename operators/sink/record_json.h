// A log record as the JSON object `segflow consume` prints (spec §1, §6, §8): events with
// their topic's field names, changelog records as {"segment", "user_id", "change", "at", ...}.
// Shared by `segflow consume` and the Kafka changelog (whose record values are these).
#pragma once

#include <string>

#include "engine/log/log.h"

namespace segflow {

// Appends `r` as one JSON line (with its trailing newline) to `out`.
void AppendRecordJsonLine(const log::TopicMeta& meta, const log::LogRecord& r, std::string* out);

}  // namespace segflow
