// Segment versions: a stable hash of a segment's normalized definition.
//
// Two job files give a segment the same version iff its definition (condition and
// membership, YAML key order ignored) and, transitively, the definitions of the segments
// it references are the same. State and audiences are tied to versions: a savepoint
// carries a segment's state over to a job file only if the version is unchanged.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "engine/common/status.h"

namespace segflow {

// A canonical text of a YAML node: maps with sorted keys, so key order is not a change.
std::string CanonicalYaml(const YAML::Node& node);

// Segment id -> version (16 hex digits) of every segment of the job file `job_text`.
// InvalidArgument if the text is not YAML with a list of segments; unknown references
// and cycles (refused by the parser anyway) count as changes of the referring segment.
Result<std::map<std::string, std::string>> SegmentVersions(const std::string& job_text);
// The same for a job file already parsed as YAML.
Result<std::map<std::string, std::string>> SegmentVersions(const YAML::Node& root);

}  // namespace segflow
