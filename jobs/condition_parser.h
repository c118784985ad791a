// Parsing of segment conditions (spec §5), event matches and predicates (spec §4) from
// YAML, reporting every problem to an ErrorSink and keeping on after each one.
// Internal to jobs/.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "jobs/job_spec.h"
#include "jobs/yaml_reader.h"

namespace segflow {

// A `segment: ID` reference, checked once every segment id is known.
struct SegmentReference {
  size_t from = 0;  // index of the referring segment
  std::string to;
  YAML::Mark mark;  // the ID value
};

class ConditionParser {
 public:
  explicit ConditionParser(ErrorSink* errors) : errors_(errors) {}

  // The condition held by `f` (e.g. a segment's `when`), inside segment number `segment`.
  void ParseCondition(const YamlField& f, size_t segment, Condition* out);
  // A MATCH map ({event, where}), e.g. membership.exit_on; `where` as for MapReader.
  void ParseMatchMap(const YamlField& f, const std::string& where, EventMatch* out);
  // A predicate (spec §4) on the property named by f.name.
  void ParsePredicate(const YamlField& f, Predicate* out);

  const std::vector<SegmentReference>& references() const { return references_; }
  // Position of the first `profile` condition, if any (it needs a top-level profile block).
  const std::optional<YAML::Mark>& first_profile_condition() const { return first_profile_; }

 private:
  void ParseCondition(const YamlField& f, size_t segment, int depth, Condition* out);
  void ParseCount(const YamlField& f, Condition* out);
  void ParseAggregate(const YamlField& f, Condition* out);
  void ParseDistinct(const YamlField& f, Condition* out);
  void ParseAbsence(const YamlField& f, Condition* out);
  void ParseSequence(const YamlField& f, Condition* out);
  void ParseProfile(const YamlField& f, Condition* out);
  void ParseSegmentRef(const YamlField& f, size_t segment, Condition* out);
  void ParseJunction(const YamlField& f, size_t segment, int depth, Condition* out);
  // The MATCH keys (event, where) of an already-read map; `event` is required.
  void ParseInlineMatch(const MapReader& r, EventMatch* out);
  void ParseWhere(const YamlField& f, EventMatch* out);
  // Reports "<at_least> with <at_most>" and similar; true when exactly one bound is given.
  bool CheckOneOf(const MapReader& r, const std::vector<std::string>& keys,
                  const std::string& cond);

  ErrorSink* errors_;
  std::vector<SegmentReference> references_;
  std::optional<YAML::Mark> first_profile_;
};

}  // namespace segflow
