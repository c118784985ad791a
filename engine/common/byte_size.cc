#include "engine/common/byte_size.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace segflow {

Result<size_t> ParseByteSize(std::string_view text, size_t min_bytes) {
  const std::string shown(text);
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("size \"" + shown + "\": " + why +
                                   " (give bytes, or a number with k, m, g or t: 512m, 1g)");
  };
  size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return bad("no number");
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits || !std::isfinite(number)) {
    return bad("not a number");
  }
  std::string suffix;
  for (char c : text.substr(digits)) suffix.push_back(static_cast<char>(std::tolower(c)));
  double unit = 1;
  if (suffix.empty() || suffix == "b") {
    unit = 1;
  } else if (suffix == "k" || suffix == "kb" || suffix == "kib") {
    unit = 1024.0;
  } else if (suffix == "m" || suffix == "mb" || suffix == "mib") {
    unit = 1024.0 * 1024;
  } else if (suffix == "g" || suffix == "gb" || suffix == "gib") {
    unit = 1024.0 * 1024 * 1024;
  } else if (suffix == "t" || suffix == "tb" || suffix == "tib") {
    unit = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return bad("unknown unit \"" + suffix + "\"");
  }
  if (unit == 1 && number != std::floor(number)) return bad("a fraction of a byte");
  const double bytes = number * unit;
  if (bytes > 1125899906842624.0) return bad("above 1 PiB");
  if (bytes < static_cast<double>(min_bytes)) {
    return bad("below the minimum of " + std::to_string(min_bytes) + " bytes");
  }
  return static_cast<size_t>(bytes);
}

}  // namespace segflow
