// Helpers for walking a yaml-cpp tree while collecting positioned validation errors
// (spec §7). Internal to jobs/: the public API is job_parser.h.
//
// Typing of scalars (YAML 1.2 core schema, which is what users of JSON-ish YAML expect):
//  * plain scalars: null|Null|NULL|~|(empty) -> null; true|True|TRUE|false|False|FALSE -> bool;
//    [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+ -> integer (int64, overflow is an error);
//    [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?, .inf, .nan -> double; else string.
//    (yes/no/on/off are strings, unlike YAML 1.1.)
//  * quoted scalars and the "!" / "!!str" tags -> string; "!!int", "!!float", "!!bool",
//    "!!null" force that type; any other tag is an error.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/common/status.h"
#include "engine/value/value.h"
#include "jobs/job_parser.h"
#include "jobs/job_spec.h"

namespace segflow {

// Collects the errors of one file; Take() returns them in file order (stable for ties).
class ErrorSink {
 public:
  explicit ErrorSink(std::string file) : file_(std::move(file)) {}
  // `mark` is yaml-cpp's 0-based position; a null mark is reported without a position.
  void Add(const YAML::Mark& mark, std::string message);
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  std::vector<JobError> Take();

 private:
  std::string file_;
  std::vector<JobError> errors_;
};

SourceLoc ToSourceLoc(const YAML::Mark& mark);

// One entry of a YAML map.
struct YamlField {
  std::string name;
  YAML::Node key;
  YAML::Node value;
  // Where to report a problem with the value. yaml-cpp gives an empty (null) value the
  // position of the next token, so empty values are reported at their key.
  YAML::Mark ValueMark() const;
};

// "a map", "an empty list", "null", a plain non-string scalar as is (5, true), or a string
// quoted ("\"30x\""), for "got ..." in messages.
std::string DescribeNode(const YAML::Node& node);

// The closest of `known` to `name` when it is a likely typo (edit distance with
// transpositions <= 2 and at most half the candidate's length, case-insensitive), else empty.
std::string ClosestKey(std::string_view name, const std::vector<std::string>& known);
// " (did you mean \"x\"?)" or "".
std::string DidYouMean(std::string_view name, const std::vector<std::string>& known);
// "a, b or c".
std::string JoinOr(const std::vector<std::string>& words);

// Types a scalar node as a Value (rules above). Null nodes give null. Errors for maps,
// lists, unknown tags and out-of-range integers (message without position).
Result<Value> ScalarValue(const YAML::Node& node);

// Reads a map's entries, reporting non-scalar keys, duplicate keys and unknown keys
// ("unknown <noun> \"windw\" <where> (did you mean \"window\"?)"). Unknown and duplicate
// entries are dropped; the rest stay in file order.
class MapReader {
 public:
  // `where` completes messages: "in count", "at the top level". `anchor` is where
  // missing keys are reported (the key that introduced the map, or the map itself).
  MapReader(const YAML::Node& map, std::string where, const YAML::Mark& anchor,
            const std::vector<std::string>& known, ErrorSink* errors,
            std::string_view noun = "key");
  // A map with free-form keys (property paths): only non-scalar and duplicate keys are errors.
  MapReader(const YAML::Node& map, std::string where, const YAML::Mark& anchor, ErrorSink* errors,
            std::string_view noun);

  const std::vector<YamlField>& fields() const { return fields_; }
  const YamlField* Get(std::string_view name) const;
  // Like Get, and reports "missing required key" when absent.
  const YamlField* Require(std::string_view name) const;
  const std::string& where() const { return where_; }
  const YAML::Mark& anchor() const { return anchor_; }

 private:
  void Read(const YAML::Node& map, const std::vector<std::string>* known, std::string_view noun);

  std::string where_;
  YAML::Mark anchor_;
  ErrorSink* errors_;
  std::vector<YamlField> fields_;
};

// Typed readers: each reports "\"<key>\": expected <what>, got <found>" at the value and
// returns nullopt when the value does not fit.

// True iff `path` is a dotted property path: dot-separated, non-empty parts.
bool IsPropertyPath(std::string_view path);

// A name (event type, topic, id, path): any non-null scalar, by its text, non-empty (a plain
// `404` names "404"). `what` is the expectation in messages, e.g. "an event name".
std::optional<std::string> ReadName(const YamlField& f, std::string_view what, ErrorSink* errors);
// A dotted property path ("device.os"): a name whose dot-separated parts are all non-empty.
std::optional<std::string> ReadPath(const YamlField& f, ErrorSink* errors);
// An integer in [min, max].
std::optional<int64_t> ReadInt(const YamlField& f, int64_t min, int64_t max, ErrorSink* errors);
std::optional<bool> ReadBool(const YamlField& f, ErrorSink* errors);
// A duration (spec §3) in milliseconds.
std::optional<int64_t> ReadDuration(const YamlField& f, ErrorSink* errors);
// A finite number (integer or double) as double.
std::optional<double> ReadNumber(const YamlField& f, ErrorSink* errors);

// Reports `"<key>": expected <expected>, got <found>` at f's value.
void ReportExpected(const YamlField& f, std::string_view expected, ErrorSink* errors);

}  // namespace segflow
