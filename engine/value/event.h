// Event: one decoded input record (spec §1). Role fields are not properties.
#pragma once

#include <cstdint>
#include <string>

#include "engine/value/value.h"

namespace segflow {

struct Event {
  std::string user;   // integer users are kept as their decimal string
  std::string type;   // the event type, e.g. "add_to_cart"
  int64_t ts = 0;     // event time, epoch milliseconds
  Value props = Value::Object({});  // always an object
};

// Names of the three role fields of a source (job `source.fields`).
struct RoleFields {
  std::string user = "user_id";
  std::string event = "event";
  std::string time = "ts";
};

}  // namespace segflow
