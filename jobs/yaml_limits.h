// Bounds on the YAML of a job file, checked before its nodes are built and walked. YAML
// aliases share nodes, so a file of a few hundred bytes can name billions of nodes (the
// "billion laughs"); every reader that walks the tree (the validator, segment versions,
// savepoint comparison) would expand them. The check streams the parser's events and
// counts each alias as a copy of what it names, so its cost is that of the text.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace segflow {

struct YamlLimits {
  uint64_t max_file_bytes = 8u << 20;     // the text itself
  uint64_t max_nodes = 250'000;           // nodes, aliases expanded
  uint64_t max_scalar_bytes = 32u << 20;  // scalar text, aliases expanded
  int max_depth = 256;                    // nesting, aliases expanded; conditions stop at 64
};

// The first limit `text` exceeds: where (yaml-cpp's 0-based mark; null for the file
// size) and what, e.g. "alias *b expands the document to more than 250000 nodes ...".
struct YamlLimitError {
  YAML::Mark mark;
  std::string message;
};

// Streams every document of `text`. Throws YAML::Exception on a syntax error, as Load does.
std::optional<YamlLimitError> CheckYamlLimits(const std::string& text,
                                              const YamlLimits& limits = {});

// YAML::LoadAll after CheckYamlLimits: InvalidArgument "<file>:<line>:<column>: <what>" for
// a syntax error or an exceeded limit. For texts that skip the job parser (a checkpoint's
// job text, savepoint comparison).
Result<std::vector<YAML::Node>> LoadBoundedYaml(const std::string& text, const std::string& file);

}  // namespace segflow
