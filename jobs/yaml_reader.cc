#include "jobs/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "engine/value/time_format.h"

namespace segflow {
namespace {

constexpr std::string_view kStrTag = "tag:yaml.org,2002:str";
constexpr std::string_view kIntTag = "tag:yaml.org,2002:int";
constexpr std::string_view kFloatTag = "tag:yaml.org,2002:float";
constexpr std::string_view kBoolTag = "tag:yaml.org,2002:bool";
constexpr std::string_view kNullTag = "tag:yaml.org,2002:null";

bool IsDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    if (base == 8    ? (c < '0' || c > '7')
        : base == 16 ? !std::isxdigit(static_cast<unsigned char>(c))
                     : !std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool IsNullText(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> BoolText(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// Core-schema integer syntax; nullopt when `s` is not an integer at all.
std::optional<Result<Value>> IntText(std::string_view s) {
  int base = 10;
  bool negative = false;
  std::string_view digits = s;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    base = s[1] == 'o' ? 8 : 16;
    digits = s.substr(2);
  } else if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    digits = s.substr(1);
  }
  if (!IsDigits(digits, base)) return std::nullopt;
  // Parse the magnitude as unsigned so that INT64_MIN is representable.
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (ec != std::errc() || ptr != digits.data() + digits.size() || magnitude > limit) {
    return Result<Value>(Status::OutOfRange("integer " + std::string(s) + " is out of range"));
  }
  int64_t v = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return Result<Value>(Value::Int(v));
}

// Core-schema float syntax; nullopt when `s` is not a float.
std::optional<double> FloatText(std::string_view s) {
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body = body.substr(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  size_t i = 0;
  size_t int_digits = 0, frac_digits = 0;
  while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++int_digits;
  bool dot = i < body.size() && body[i] == '.';
  if (dot) {
    ++i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  // Out of range (1e999) saturates to infinity; callers that need finite numbers say so.
  if (ec == std::errc::result_out_of_range)
    v = std::numeric_limits<double>::infinity();
  else if (ec != std::errc() || ptr != body.data() + body.size())
    return std::nullopt;
  return negative ? -v : v;
}

Result<Value> ResolvePlain(const std::string& s) {
  if (IsNullText(s)) return Value::Null();
  if (auto b = BoolText(s)) return Value::Bool(*b);
  if (auto i = IntText(s)) return *i;
  if (auto d = FloatText(s)) return Value::Double(*d);
  return Value::String(s);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: edits plus adjacent transpositions ("vpi" -> "vip").
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

void ErrorSink::Add(const YAML::Mark& mark, std::string message) {
  SourceLoc loc = ToSourceLoc(mark);
  errors_.push_back(JobError{file_, loc.line, loc.column, std::move(message)});
}

std::vector<JobError> ErrorSink::Take() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const JobError& a, const JobError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(errors_);
}

SourceLoc ToSourceLoc(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return SourceLoc{};
  return SourceLoc{mark.line + 1, mark.column + 1};
}

YAML::Mark YamlField::ValueMark() const {
  if (!value.IsDefined() || value.IsNull()) return key.Mark();
  return value.Mark();
}

std::string DescribeNode(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsMap()) return node.size() == 0 ? "an empty map" : "a map";
  if (node.IsSequence()) return node.size() == 0 ? "an empty list" : "a list";
  Result<Value> v = ScalarValue(node);
  if (v.ok() && !v->is_string()) return node.Scalar();
  return "\"" + node.Scalar() + "\"";
}

std::string ClosestKey(std::string_view name, const std::vector<std::string>& known) {
  std::string lowered = Lower(name);
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : known) {
    size_t d = EditDistance(lowered, Lower(candidate));
    if (d <= 2 && d <= candidate.size() / 2 && d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string DidYouMean(std::string_view name, const std::vector<std::string>& known) {
  std::string closest = ClosestKey(name, known);
  return closest.empty() ? "" : " (did you mean \"" + closest + "\"?)";
}

std::string JoinOr(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += words[i];
  }
  return out;
}

Result<Value> ScalarValue(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return Value::Null();
  if (node.IsMap()) return Status::InvalidArgument("expected a scalar, got a map");
  if (node.IsSequence()) return Status::InvalidArgument("expected a scalar, got a list");
  const std::string& tag = node.Tag();
  const std::string& text = node.Scalar();
  if (tag == "?") return ResolvePlain(text);
  if (tag == "!" || tag == kStrTag) return Value::String(text);
  if (tag == kIntTag) {
    if (auto i = IntText(text)) return *i;
  } else if (tag == kFloatTag) {
    if (auto i = IntText(text); i && i->ok()) return Value::Double((*i)->as_number());
    if (auto d = FloatText(text)) return Value::Double(*d);
  } else if (tag == kBoolTag) {
    if (auto b = BoolText(text)) return Value::Bool(*b);
  } else if (tag == kNullTag) {
    if (IsNullText(text)) return Value::Null();
  } else {
    return Status::InvalidArgument("unsupported tag \"" + tag + "\"");
  }
  return Status::InvalidArgument("\"" + text + "\" does not fit its tag \"" + tag + "\"");
}

MapReader::MapReader(const YAML::Node& map, std::string where, const YAML::Mark& anchor,
                     const std::vector<std::string>& known, ErrorSink* errors,
                     std::string_view noun)
    : where_(std::move(where)), anchor_(anchor), errors_(errors) {
  Read(map, &known, noun);
}

MapReader::MapReader(const YAML::Node& map, std::string where, const YAML::Mark& anchor,
                     ErrorSink* errors, std::string_view noun)
    : where_(std::move(where)), anchor_(anchor), errors_(errors) {
  Read(map, nullptr, noun);
}

void MapReader::Read(const YAML::Node& map, const std::vector<std::string>* known,
                     std::string_view noun) {
  // Entries are copied: yaml-cpp's iterator_value is a temporary proxy.
  for (const auto& entry : map) {
    YAML::Node key = entry.first;
    if (!key.IsScalar()) {
      errors_->Add(key.Mark(), "expected a " + std::string(noun) + " name " + where_ + ", got " +
                                   DescribeNode(key));
      continue;
    }
    const std::string& name = key.Scalar();
    if (known != nullptr && std::find(known->begin(), known->end(), name) == known->end()) {
      std::string message = "unknown " + std::string(noun) + " \"" + name + "\" " + where_;
      std::string hint = DidYouMean(name, *known);
      message += hint.empty() ? " (expected " + JoinOr(*known) + ")" : hint;
      errors_->Add(key.Mark(), std::move(message));
      continue;
    }
    if (const YamlField* first = Get(name)) {
      errors_->Add(key.Mark(), "duplicate " + std::string(noun) + " \"" + name + "\" " + where_ +
                                   " (first given at line " +
                                   std::to_string(ToSourceLoc(first->key.Mark()).line) + ")");
      continue;
    }
    fields_.push_back(YamlField{name, key, entry.second});
  }
}

const YamlField* MapReader::Get(std::string_view name) const {
  for (const YamlField& f : fields_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const YamlField* MapReader::Require(std::string_view name) const {
  const YamlField* f = Get(name);
  if (f == nullptr) {
    errors_->Add(anchor_, "missing required key \"" + std::string(name) + "\" " + where_);
  }
  return f;
}

void ReportExpected(const YamlField& f, std::string_view expected, ErrorSink* errors) {
  errors->Add(f.ValueMark(), "\"" + f.name + "\": expected " + std::string(expected) + ", got " +
                                 DescribeNode(f.value));
}

std::optional<std::string> ReadName(const YamlField& f, std::string_view what, ErrorSink* errors) {
  if (!f.value.IsScalar() || f.value.Scalar().empty()) {
    ReportExpected(f, what, errors);
    return std::nullopt;
  }
  return f.value.Scalar();
}

bool IsPropertyPath(std::string_view path) {
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    size_t end = dot == std::string_view::npos ? path.size() : dot;
    if (end == start) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::optional<std::string> ReadPath(const YamlField& f, ErrorSink* errors) {
  constexpr std::string_view kWhat = "a property path (e.g. price or device.os)";
  std::optional<std::string> path = ReadName(f, kWhat, errors);
  if (path && !IsPropertyPath(*path)) {
    ReportExpected(f, kWhat, errors);
    return std::nullopt;
  }
  return path;
}

std::optional<int64_t> ReadInt(const YamlField& f, int64_t min, int64_t max, ErrorSink* errors) {
  Result<Value> v = ScalarValue(f.value);
  if (v.ok() && v->is_int() && v->as_int() >= min && v->as_int() <= max) return v->as_int();
  std::string expected;
  if (min == 0 && max == std::numeric_limits<int64_t>::max()) {
    expected = "a non-negative integer";
  } else if (min == 1 && max == std::numeric_limits<int64_t>::max()) {
    expected = "a positive integer";
  } else {
    expected = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  }
  ReportExpected(f, expected, errors);
  return std::nullopt;
}

std::optional<bool> ReadBool(const YamlField& f, ErrorSink* errors) {
  Result<Value> v = ScalarValue(f.value);
  if (v.ok() && v->is_bool()) return v->as_bool();
  ReportExpected(f, "true or false", errors);
  return std::nullopt;
}

std::optional<int64_t> ReadDuration(const YamlField& f, ErrorSink* errors) {
  if (f.value.IsScalar()) {
    Result<int64_t> ms = ParseDurationMillis(f.value.Scalar());
    if (ms.ok()) return *ms;
  }
  ReportExpected(f, "a duration: a non-negative integer and a unit (ms, s, m, h, d or w), e.g. 30m",
                 errors);
  return std::nullopt;
}

std::optional<double> ReadNumber(const YamlField& f, ErrorSink* errors) {
  Result<Value> v = ScalarValue(f.value);
  if (v.ok() && v->is_number() && std::isfinite(v->as_number())) return v->as_number();
  ReportExpected(f, "a number", errors);
  return std::nullopt;
}

}  // namespace segflow
