#include "operators/predicate.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>

namespace segflow {
namespace {

// Exact three-way comparison of an int64 with a double (no rounding of big integers).
// nullopt when `d` is NaN (unordered).
std::optional<int> CompareIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return std::nullopt;
  if (d >= 9223372036854775808.0) return -1;  // 2^63: above every int64
  if (d < -9223372036854775808.0) return 1;
  const double whole = std::trunc(d);
  const int64_t w = static_cast<int64_t>(whole);  // exact: |whole| < 2^63
  if (i != w) return i < w ? -1 : 1;
  const double frac = d - whole;
  if (frac == 0) return 0;
  return frac > 0 ? -1 : 1;
}

// Three-way comparison of two numbers; nullopt when unordered (NaN).
std::optional<int> CompareNumbers(const Value& a, const Value& b) {
  if (a.is_int() && b.is_int()) {
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.is_int()) return CompareIntDouble(a.as_int(), b.as_double());
  if (b.is_int()) {
    auto c = CompareIntDouble(b.as_int(), a.as_double());
    if (!c) return c;
    return -*c;
  }
  const double x = a.as_double(), y = b.as_double();
  if (x < y) return -1;
  if (x > y) return 1;
  if (x == y) return 0;
  return std::nullopt;
}

// Ordering for lt/lte/gt/gte: numbers with numbers, strings with strings (UTF-8 byte
// order is code point order); anything else is unordered.
std::optional<int> Order(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return CompareNumbers(a, b);
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return std::nullopt;
}

// Equality of a property with a scalar operand: same kind (numbers as numbers), never
// across kinds; arrays and objects equal nothing.
bool ScalarEquals(const Value& v, const Value& operand) {
  if (!v.is_scalar() || !operand.is_scalar()) return false;
  if (v.is_number() && operand.is_number()) {
    auto c = CompareNumbers(v, operand);
    return c && *c == 0;
  }
  if (v.kind() != operand.kind()) return false;
  return v == operand;
}

bool InList(const Value& v, const Value& list) {
  if (!list.is_array()) return false;
  const ValueArray& items = list.as_array();
  return std::any_of(items.begin(), items.end(),
                     [&](const Value& item) { return ScalarEquals(v, item); });
}

bool Holds(PredOp op, const Value& operand, const Value* v) {
  switch (op) {
    case PredOp::kExists:
      return operand.is_bool() && (v != nullptr) == operand.as_bool();
    case PredOp::kNe:
      return v == nullptr || !ScalarEquals(*v, operand);
    case PredOp::kNotIn:
      return v == nullptr || !InList(*v, operand);
    default:
      break;
  }
  if (v == nullptr) return false;
  switch (op) {
    case PredOp::kEq:
      return ScalarEquals(*v, operand);
    case PredOp::kIn:
      return InList(*v, operand);
    case PredOp::kLt:
    case PredOp::kLte:
    case PredOp::kGt:
    case PredOp::kGte: {
      const auto c = Order(*v, operand);
      if (!c) return false;
      if (op == PredOp::kLt) return *c < 0;
      if (op == PredOp::kLte) return *c <= 0;
      if (op == PredOp::kGt) return *c > 0;
      return *c >= 0;
    }
    case PredOp::kPrefix:
      return v->is_string() && operand.is_string() &&
             std::string_view(v->as_string()).starts_with(operand.as_string());
    case PredOp::kContains:
      return v->is_string() && operand.is_string() &&
             v->as_string().find(operand.as_string()) != std::string::npos;
    default:
      return false;
  }
}

}  // namespace

bool EvaluatePredicate(const Predicate& pred, const Value* v) {
  for (const auto& [op, operand] : pred.ops) {
    if (!Holds(op, operand, v)) return false;
  }
  return true;
}

bool MatchesEvent(const EventMatch& m, const Event& event) {
  if (!m.any_event && std::find(m.events.begin(), m.events.end(), event.type) == m.events.end()) {
    return false;
  }
  for (const auto& [path, pred] : m.where) {
    if (!EvaluatePredicate(pred, event.props.FindPath(path))) return false;
  }
  return true;
}

}  // namespace segflow
