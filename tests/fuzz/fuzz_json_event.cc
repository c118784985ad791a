// Fuzzes the JSON event decoder (engine/value/json_event): one input is one event line.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/value/json_event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using segflow::JsonEventDecoder;
  static JsonEventDecoder* decoder = new JsonEventDecoder(segflow::RoleFields{});
  std::string_view line(reinterpret_cast<const char*>(data), size);
  segflow::Event event;
  (void)decoder->Decode(line, &event);
  (void)segflow::ParseJsonValue(line);
  return 0;
}
