#include "engine/value/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace segflow {

const Value* Value::Find(std::string_view name) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : as_object()) {
    if (k == name) return &v;
  }
  return nullptr;
}

const Value* Value::FindPath(std::string_view path) const {
  const Value* cur = this;
  while (cur != nullptr) {
    size_t dot = path.find('.');
    if (dot == std::string_view::npos) return cur->Find(path);
    cur = cur->Find(path.substr(0, dot));
    path.remove_prefix(dot + 1);
  }
  return nullptr;
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void Value::AppendJson(std::string* out) const {
  switch (kind()) {
    case Kind::kNull: out->append("null"); break;
    case Kind::kBool: out->append(as_bool() ? "true" : "false"); break;
    case Kind::kInt: out->append(std::to_string(as_int())); break;
    case Kind::kDouble: {
      // Shortest text that reads back as the same double.
      char buf[32];
      auto res = std::to_chars(buf, buf + sizeof(buf), as_double());
      std::string_view sv(buf, static_cast<size_t>(res.ptr - buf));
      out->append(sv);
      // Keep it a JSON float so it decodes back as a double.
      if (sv.find_first_of(".eEn") == std::string_view::npos) out->append(".0");
      break;
    }
    case Kind::kString: AppendJsonString(as_string(), out); break;
    case Kind::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : as_array()) {
        if (!first) out->push_back(',');
        first = false;
        e.AppendJson(out);
      }
      out->push_back(']');
      break;
    }
    case Kind::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, v] : as_object()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(k, out);
        out->push_back(':');
        v.AppendJson(out);
      }
      out->push_back('}');
      break;
    }
  }
}

std::string Value::ToJson() const {
  std::string s;
  AppendJson(&s);
  return s;
}

bool operator==(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    if (a.is_double() && b.is_double()) return a.as_double() == b.as_double();
    // int vs double: equal only if the double is integral and the same value.
    const int64_t i = a.is_int() ? a.as_int() : b.as_int();
    const double d = a.is_double() ? a.as_double() : b.as_double();
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
    if (std::trunc(d) != d) return false;
    return static_cast<int64_t>(d) == i;
  }
  if (a.kind() != b.kind()) return false;
  return a.v_ == b.v_;
}

}  // namespace segflow
