#include "jobs/condition_parser.h"

#include <cmath>
#include <limits>
#include <utility>

namespace segflow {
namespace {

// Deeper nesting is certainly a mistake, and bounds the recursion.
constexpr int kMaxConditionDepth = 64;
constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

const std::vector<std::pair<std::string, Condition::Kind>>& ConditionKinds() {
  static const auto* kinds = new std::vector<std::pair<std::string, Condition::Kind>>{
      {"count", Condition::Kind::kCount},     {"sum", Condition::Kind::kSum},
      {"avg", Condition::Kind::kAvg},         {"min", Condition::Kind::kMin},
      {"max", Condition::Kind::kMax},         {"distinct", Condition::Kind::kDistinct},
      {"absence", Condition::Kind::kAbsence}, {"sequence", Condition::Kind::kSequence},
      {"profile", Condition::Kind::kProfile}, {"segment", Condition::Kind::kSegment},
      {"all", Condition::Kind::kAll},         {"any", Condition::Kind::kAny},
      {"not", Condition::Kind::kNot}};
  return *kinds;
}

const std::vector<std::string>& ConditionNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const auto& [name, kind] : ConditionKinds()) v->push_back(name);
    return v;
  }();
  return *names;
}

const std::vector<std::pair<std::string, PredOp>>& PredOps() {
  static const auto* ops =
      new std::vector<std::pair<std::string, PredOp>>{{"eq", PredOp::kEq},
                                                      {"ne", PredOp::kNe},
                                                      {"lt", PredOp::kLt},
                                                      {"lte", PredOp::kLte},
                                                      {"gt", PredOp::kGt},
                                                      {"gte", PredOp::kGte},
                                                      {"in", PredOp::kIn},
                                                      {"not_in", PredOp::kNotIn},
                                                      {"exists", PredOp::kExists},
                                                      {"prefix", PredOp::kPrefix},
                                                      {"contains", PredOp::kContains}};
  return *ops;
}

const std::vector<std::string>& PredOpNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const auto& [name, op] : PredOps()) v->push_back(name);
    return v;
  }();
  return *names;
}

const std::vector<std::pair<std::string, CmpOp>>& CmpOps() {
  static const auto* ops = new std::vector<std::pair<std::string, CmpOp>>{{"gt", CmpOp::kGt},
                                                                          {"gte", CmpOp::kGte},
                                                                          {"lt", CmpOp::kLt},
                                                                          {"lte", CmpOp::kLte},
                                                                          {"eq", CmpOp::kEq}};
  return *ops;
}

std::string Quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// A list element as a field named "<list>[i]", so messages can name it.
YamlField Element(const YamlField& list, size_t i, const YAML::Node& item) {
  return YamlField{list.name + "[" + std::to_string(i) + "]", item, item};
}

// A scalar predicate operand; reports bad tags, out-of-range integers and non-finite numbers.
std::optional<Value> ScalarOperand(const YamlField& f, std::string_view expected,
                                   ErrorSink* errors) {
  if (f.value.IsDefined() && !f.value.IsNull() && !f.value.IsScalar()) {
    ReportExpected(f, expected, errors);
    return std::nullopt;
  }
  Result<Value> v = ScalarValue(f.value);
  if (!v.ok()) {
    errors->Add(f.ValueMark(), Quoted(f.name) + ": " + v.status().message());
    return std::nullopt;
  }
  if (v->is_double() && !std::isfinite(v->as_double())) {
    ReportExpected(f, "a finite number", errors);
    return std::nullopt;
  }
  return std::move(v).value();
}

}  // namespace

void ConditionParser::ParseCondition(const YamlField& f, size_t segment, Condition* out) {
  ParseCondition(f, segment, 0, out);
}

void ConditionParser::ParseCondition(const YamlField& f, size_t segment, int depth,
                                     Condition* out) {
  const std::string expected =
      "a condition: a map with exactly one key, one of " + JoinOr(ConditionNames());
  out->loc = ToSourceLoc(f.ValueMark());
  if (depth > kMaxConditionDepth) {
    errors_->Add(f.ValueMark(), "conditions nested more than " +
                                    std::to_string(kMaxConditionDepth) + " levels deep");
    return;
  }
  if (!f.value.IsMap()) {
    ReportExpected(f, expected, errors_);
    return;
  }
  if (f.value.size() == 0) {
    errors_->Add(f.ValueMark(), Quoted(f.name) + ": empty condition; expected exactly one key, " +
                                    "one of " + JoinOr(ConditionNames()));
    return;
  }
  std::vector<YamlField> keys;
  // Entries are copied: yaml-cpp's iterator_value is a temporary proxy.
  for (const auto& entry : f.value) {
    YAML::Node key = entry.first;
    keys.push_back(YamlField{key.IsScalar() ? key.Scalar() : "", key, entry.second});
  }
  if (keys.size() > 1) {
    std::string names;
    for (const YamlField& k : keys) names += (names.empty() ? "" : ", ") + Quoted(k.name);
    errors_->Add(keys[1].key.Mark(), "condition has " + std::to_string(keys.size()) + " keys (" +
                                         names + "); a condition has exactly one key");
  }
  // With several keys, the first is still checked so that its own errors show too.
  const YamlField& cf = keys[0];
  if (!cf.key.IsScalar()) {
    errors_->Add(cf.key.Mark(), "expected a condition name, got " + DescribeNode(cf.key));
    return;
  }
  out->loc = ToSourceLoc(cf.key.Mark());
  const Condition::Kind* kind = nullptr;
  for (const auto& [name, k] : ConditionKinds()) {
    if (name == cf.name) kind = &k;
  }
  if (kind == nullptr) {
    std::string hint = DidYouMean(cf.name, ConditionNames());
    errors_->Add(cf.key.Mark(),
                 "unknown condition " + Quoted(cf.name) +
                     (hint.empty() ? " (expected " + JoinOr(ConditionNames()) + ")" : hint));
    return;
  }
  out->kind = *kind;
  switch (*kind) {
    case Condition::Kind::kCount:
      ParseCount(cf, out);
      break;
    case Condition::Kind::kSum:
    case Condition::Kind::kAvg:
    case Condition::Kind::kMin:
    case Condition::Kind::kMax:
      ParseAggregate(cf, out);
      break;
    case Condition::Kind::kDistinct:
      ParseDistinct(cf, out);
      break;
    case Condition::Kind::kAbsence:
      ParseAbsence(cf, out);
      break;
    case Condition::Kind::kSequence:
      ParseSequence(cf, out);
      break;
    case Condition::Kind::kProfile:
      ParseProfile(cf, out);
      break;
    case Condition::Kind::kSegment:
      ParseSegmentRef(cf, segment, out);
      break;
    case Condition::Kind::kAll:
    case Condition::Kind::kAny:
    case Condition::Kind::kNot:
      ParseJunction(cf, segment, depth, out);
      break;
  }
}

bool ConditionParser::CheckOneOf(const MapReader& r, const std::vector<std::string>& keys,
                                 const std::string& cond) {
  std::vector<const YamlField*> given;
  for (const YamlField& f : r.fields()) {
    for (const std::string& k : keys) {
      if (f.name == k) given.push_back(&f);
    }
  }
  const std::string one_of = "exactly one of " + JoinOr(keys);
  if (given.empty()) {
    errors_->Add(r.anchor(), cond + " needs " + one_of);
    return false;
  }
  if (given.size() > 1) {
    std::string hint = "give " + one_of;
    bool both_ends = (given[0]->name == "at_least" && given[1]->name == "at_most") ||
                     (given[0]->name == "at_most" && given[1]->name == "at_least");
    if (both_ends && cond == "count") hint = "use between: [lo, hi] for both ends";
    errors_->Add(given[1]->key.Mark(), Quoted(given[0]->name) + " with " + Quoted(given[1]->name) +
                                           " in " + cond + ": " + hint);
    return false;
  }
  return true;
}

void ConditionParser::ParseCount(const YamlField& f, Condition* out) {
  if (!f.value.IsMap()) {
    ReportExpected(f,
                   "a map with event, optional where and window, and one of at_least, "
                   "at_most or between",
                   errors_);
    return;
  }
  MapReader r(f.value, "in count", f.key.Mark(),
              {"event", "where", "window", "at_least", "at_most", "between"}, errors_);
  ParseInlineMatch(r, &out->match);
  if (const YamlField* w = r.Get("window")) out->window_ms = ReadDuration(*w, errors_);
  CheckOneOf(r, {"at_least", "at_most", "between"}, "count");
  if (const YamlField* b = r.Get("at_least")) out->at_least = ReadInt(*b, 0, kMaxInt, errors_);
  if (const YamlField* b = r.Get("at_most")) out->at_most = ReadInt(*b, 0, kMaxInt, errors_);
  if (const YamlField* b = r.Get("between")) {
    if (!b->value.IsSequence() || b->value.size() != 2) {
      ReportExpected(*b, "a list [lo, hi] of two non-negative integers", errors_);
      return;
    }
    std::optional<int64_t> lo = ReadInt(Element(*b, 0, b->value[0]), 0, kMaxInt, errors_);
    std::optional<int64_t> hi = ReadInt(Element(*b, 1, b->value[1]), 0, kMaxInt, errors_);
    if (lo && hi && *lo > *hi) {
      errors_->Add(b->ValueMark(), "\"between\": lower bound " + std::to_string(*lo) +
                                       " is greater than upper bound " + std::to_string(*hi));
      return;
    }
    out->at_least = lo;
    out->at_most = hi;
  }
}

void ConditionParser::ParseAggregate(const YamlField& f, Condition* out) {
  if (!f.value.IsMap()) {
    ReportExpected(f,
                   "a map with event, field, optional where and window, and bounds (gt, gte, "
                   "lt, lte, eq)",
                   errors_);
    return;
  }
  MapReader r(f.value, "in " + f.name, f.key.Mark(),
              {"event", "where", "field", "window", "gt", "gte", "lt", "lte", "eq"}, errors_);
  ParseInlineMatch(r, &out->match);
  if (const YamlField* fld = r.Require("field")) {
    if (auto path = ReadPath(*fld, errors_)) out->field = *path;
  }
  if (const YamlField* w = r.Get("window")) out->window_ms = ReadDuration(*w, errors_);
  for (const YamlField& b : r.fields()) {
    for (const auto& [name, op] : CmpOps()) {
      if (b.name != name) continue;
      if (auto x = ReadNumber(b, errors_)) out->bounds.emplace_back(op, *x);
    }
  }
  bool any_bound = false;
  for (const auto& [name, op] : CmpOps()) any_bound |= r.Get(name) != nullptr;
  if (!any_bound) {
    errors_->Add(r.anchor(), f.name + " needs at least one bound: gt, gte, lt, lte or eq");
  }
}

void ConditionParser::ParseDistinct(const YamlField& f, Condition* out) {
  if (!f.value.IsMap()) {
    ReportExpected(f,
                   "a map with event, field, optional where and window, and one of at_least "
                   "or at_most",
                   errors_);
    return;
  }
  MapReader r(f.value, "in distinct", f.key.Mark(),
              {"event", "where", "field", "window", "at_least", "at_most"}, errors_);
  ParseInlineMatch(r, &out->match);
  if (const YamlField* fld = r.Require("field")) {
    if (auto path = ReadPath(*fld, errors_)) out->field = *path;
  }
  if (const YamlField* w = r.Get("window")) out->window_ms = ReadDuration(*w, errors_);
  CheckOneOf(r, {"at_least", "at_most"}, "distinct");
  if (const YamlField* b = r.Get("at_least")) out->at_least = ReadInt(*b, 0, kMaxInt, errors_);
  if (const YamlField* b = r.Get("at_most")) out->at_most = ReadInt(*b, 0, kMaxInt, errors_);
}

void ConditionParser::ParseAbsence(const YamlField& f, Condition* out) {
  if (!f.value.IsMap()) {
    ReportExpected(f, "a map with after, missing and within", errors_);
    return;
  }
  MapReader r(f.value, "in absence", f.key.Mark(), {"after", "missing", "within"}, errors_);
  if (const YamlField* a = r.Require("after")) ParseMatchMap(*a, "in absence.after", &out->after);
  if (const YamlField* m = r.Require("missing")) {
    ParseMatchMap(*m, "in absence.missing", &out->missing);
  }
  if (const YamlField* w = r.Require("within")) {
    if (auto ms = ReadDuration(*w, errors_)) out->within_ms = *ms;
  }
}

void ConditionParser::ParseSequence(const YamlField& f, Condition* out) {
  if (!f.value.IsMap()) {
    ReportExpected(f, "a map with steps, within and optional window", errors_);
    return;
  }
  MapReader r(f.value, "in sequence", f.key.Mark(), {"steps", "within", "window"}, errors_);
  if (const YamlField* s = r.Require("steps")) {
    if (!s->value.IsSequence() || s->value.size() == 0) {
      ReportExpected(*s, "a non-empty list of event matches", errors_);
    } else {
      for (size_t i = 0; i < s->value.size(); ++i) {
        YamlField step = Element(*s, i, s->value[i]);
        out->steps.emplace_back();
        ParseMatchMap(step, "in sequence.steps[" + std::to_string(i) + "]", &out->steps.back());
      }
    }
  }
  if (const YamlField* w = r.Require("within")) {
    if (auto ms = ReadDuration(*w, errors_)) out->within_ms = *ms;
  }
  if (const YamlField* w = r.Get("window")) out->window_ms = ReadDuration(*w, errors_);
}

void ConditionParser::ParseProfile(const YamlField& f, Condition* out) {
  if (!first_profile_) first_profile_ = f.key.Mark();
  if (!f.value.IsMap() || f.value.size() == 0) {
    ReportExpected(f, "a non-empty map of attribute: predicate", errors_);
    return;
  }
  MapReader r(f.value, "in profile", f.key.Mark(), errors_, "attribute");
  for (const YamlField& attr : r.fields()) {
    if (!IsPropertyPath(attr.name)) {
      errors_->Add(attr.key.Mark(), "bad attribute " + Quoted(attr.name) +
                                        " in profile: expected a property path (e.g. tier or "
                                        "address.country)");
      continue;
    }
    out->profile.emplace_back(attr.name, Predicate{});
    ParsePredicate(attr, &out->profile.back().second);
  }
}

void ConditionParser::ParseSegmentRef(const YamlField& f, size_t segment, Condition* out) {
  if (auto id = ReadName(f, "a segment id", errors_)) {
    out->segment_ref = *id;
    references_.push_back(SegmentReference{segment, *id, f.value.Mark()});
  }
}

void ConditionParser::ParseJunction(const YamlField& f, size_t segment, int depth, Condition* out) {
  if (out->kind == Condition::Kind::kNot) {
    if (f.value.IsSequence()) {
      ReportExpected(f, "a single condition (a map); to negate several use not: {any: [...]}",
                     errors_);
      return;
    }
    out->children.emplace_back();
    ParseCondition(f, segment, depth + 1, &out->children.back());
    return;
  }
  if (!f.value.IsSequence()) {
    ReportExpected(f, "a non-empty list of conditions", errors_);
    return;
  }
  if (f.value.size() == 0) {
    errors_->Add(f.ValueMark(), Quoted(f.name) + ": empty list; expected at least one condition");
    return;
  }
  for (size_t i = 0; i < f.value.size(); ++i) {
    out->children.emplace_back();
    ParseCondition(Element(f, i, f.value[i]), segment, depth + 1, &out->children.back());
  }
}

void ConditionParser::ParseMatchMap(const YamlField& f, const std::string& where, EventMatch* out) {
  if (!f.value.IsMap()) {
    ReportExpected(f, "an event match: a map with event and optional where", errors_);
    return;
  }
  MapReader r(f.value, where, f.key.Mark(), {"event", "where"}, errors_);
  ParseInlineMatch(r, out);
}

void ConditionParser::ParseInlineMatch(const MapReader& r, EventMatch* out) {
  constexpr std::string_view kExpected = "an event name, a non-empty list of event names, or \"*\"";
  if (const YamlField* e = r.Require("event")) {
    if (e->value.IsScalar() && !e->value.Scalar().empty()) {
      if (e->value.Scalar() == "*") {
        out->any_event = true;
      } else {
        out->events.push_back(e->value.Scalar());
      }
    } else if (e->value.IsSequence() && e->value.size() > 0) {
      for (size_t i = 0; i < e->value.size(); ++i) {
        YamlField item = Element(*e, i, e->value[i]);
        std::optional<std::string> name = ReadName(item, "an event name", errors_);
        if (name && *name == "*") {
          errors_->Add(item.ValueMark(),
                       "\"*\" cannot be listed with other event names; use "
                       "event: \"*\" alone to match every event");
        } else if (name) {
          out->events.push_back(*name);
        }
      }
    } else {
      ReportExpected(*e, kExpected, errors_);
    }
  }
  if (const YamlField* w = r.Get("where")) ParseWhere(*w, out);
}

void ConditionParser::ParseWhere(const YamlField& f, EventMatch* out) {
  if (!f.value.IsMap()) {
    ReportExpected(f, "a map of property: predicate", errors_);
    return;
  }
  MapReader r(f.value, "in where", f.key.Mark(), errors_, "property");
  for (const YamlField& prop : r.fields()) {
    if (!IsPropertyPath(prop.name)) {
      errors_->Add(prop.key.Mark(), "bad property " + Quoted(prop.name) +
                                        " in where: expected a property path (e.g. price or "
                                        "device.os)");
      continue;
    }
    out->where.emplace_back(prop.name, Predicate{});
    ParsePredicate(prop, &out->where.back().second);
  }
}

void ConditionParser::ParsePredicate(const YamlField& f, Predicate* out) {
  if (f.value.IsSequence()) {
    ReportExpected(f,
                   "a value or a map of operators (" + JoinOr(PredOpNames()) +
                       "); to match one of several values use {in: [...]}",
                   errors_);
    return;
  }
  if (!f.value.IsMap()) {  // shorthand: a scalar means eq
    if (auto v = ScalarOperand(f, "a scalar value", errors_)) {
      out->ops.emplace_back(PredOp::kEq, std::move(*v));
    }
    return;
  }
  if (f.value.size() == 0) {
    errors_->Add(f.ValueMark(), Quoted(f.name) +
                                    ": empty predicate; expected a value or one or "
                                    "more of " +
                                    JoinOr(PredOpNames()));
    return;
  }
  MapReader r(f.value, "for " + Quoted(f.name), f.key.Mark(), PredOpNames(), errors_,
              "predicate operator");
  for (const YamlField& opf : r.fields()) {
    PredOp op = PredOp::kEq;
    for (const auto& [name, o] : PredOps()) {
      if (name == opf.name) op = o;
    }
    switch (op) {
      case PredOp::kEq:
      case PredOp::kNe:
        if (auto v = ScalarOperand(opf, "a scalar value (use in/not_in for a list)", errors_)) {
          out->ops.emplace_back(op, std::move(*v));
        }
        break;
      case PredOp::kLt:
      case PredOp::kLte:
      case PredOp::kGt:
      case PredOp::kGte:
        if (auto v = ScalarOperand(opf, "a number or a string", errors_)) {
          if (v->is_number() || v->is_string()) {
            out->ops.emplace_back(op, std::move(*v));
          } else {
            ReportExpected(opf, "a number or a string", errors_);
          }
        }
        break;
      case PredOp::kIn:
      case PredOp::kNotIn: {
        if (!opf.value.IsSequence()) {
          ReportExpected(opf, "a list of scalar values", errors_);
          break;
        }
        ValueArray values;
        bool ok = true;
        for (size_t i = 0; i < opf.value.size(); ++i) {
          auto v = ScalarOperand(Element(opf, i, opf.value[i]), "a scalar value", errors_);
          if (v) {
            values.push_back(std::move(*v));
          } else {
            ok = false;
          }
        }
        if (ok) out->ops.emplace_back(op, Value::Array(std::move(values)));
        break;
      }
      case PredOp::kExists:
        if (auto b = ReadBool(opf, errors_)) out->ops.emplace_back(op, Value::Bool(*b));
        break;
      case PredOp::kPrefix:
      case PredOp::kContains: {
        constexpr std::string_view kExpected = "a string (quote numbers, e.g. \"12\")";
        if (auto v = ScalarOperand(opf, kExpected, errors_)) {
          if (v->is_string()) {
            out->ops.emplace_back(op, std::move(*v));
          } else {
            ReportExpected(opf, kExpected, errors_);
          }
        }
        break;
      }
    }
  }
}

}  // namespace segflow
