#include "jobs/segment_version.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <set>
#include <vector>

#include "jobs/yaml_limits.h"

namespace segflow {
namespace {

// FNV-1a, 64 bit: stable across builds and machines (std::hash is not).
uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The ids a condition references (`segment: ID`), walking only condition positions so a
// property called "segment" inside a `where` is not mistaken for a reference.
void CollectRefs(const YAML::Node& cond, std::set<std::string>* out, int depth) {
  if (depth > 64 || !cond.IsMap() || cond.size() != 1) return;
  const auto kv = *cond.begin();
  const std::string key = kv.first.as<std::string>("");
  if (key == "segment" && kv.second.IsScalar()) {
    out->insert(kv.second.Scalar());
  } else if ((key == "all" || key == "any") && kv.second.IsSequence()) {
    for (const auto& c : kv.second) CollectRefs(c, out, depth + 1);
  } else if (key == "not") {
    CollectRefs(kv.second, out, depth + 1);
  }
}

}  // namespace

std::string CanonicalYaml(const YAML::Node& node) {
  if (!node) return "";
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      std::map<std::string, std::string> items;
      for (const auto& kv : node) items[kv.first.as<std::string>("")] = CanonicalYaml(kv.second);
      std::string out = "{";
      for (const auto& [k, v] : items) out += k + ":" + v + ",";
      return out + "}";
    }
    case YAML::NodeType::Sequence: {
      std::string out = "[";
      for (const auto& item : node) out += CanonicalYaml(item) + ",";
      return out + "]";
    }
    case YAML::NodeType::Scalar:
      // A quoted scalar ('5' vs 5) is a different value: mark it.
      return (node.Tag() == "!" ? "'" : "") + node.Scalar();
    default:
      return "~";
  }
}

Result<std::map<std::string, std::string>> SegmentVersions(const std::string& job_text) {
  auto docs = LoadBoundedYaml(job_text, "job file");
  if (!docs.ok()) return docs.status();
  if (docs->empty()) return Status::InvalidArgument("job file has no list of segments");
  return SegmentVersions(docs->front());
}

Result<std::map<std::string, std::string>> SegmentVersions(const YAML::Node& root) {
  if (!root.IsMap() || !root["segments"] || !root["segments"].IsSequence()) {
    return Status::InvalidArgument("job file has no list of segments");
  }
  std::map<std::string, std::string> own;  // id -> canonical definition
  std::map<std::string, std::set<std::string>> refs;
  for (const auto& seg : root["segments"]) {
    if (!seg.IsMap()) return Status::InvalidArgument("a segment is not a map");
    const std::string id = seg["id"].as<std::string>("");
    own[id] = CanonicalYaml(seg);
    CollectRefs(seg["when"], &refs[id], 0);
  }
  std::map<std::string, std::string> versions;
  std::set<std::string> visiting;
  std::function<std::string(const std::string&)> version =
      [&](const std::string& id) -> std::string {
    if (auto it = versions.find(id); it != versions.end()) return it->second;
    if (!own.count(id) || visiting.count(id)) return "?" + id;  // unknown or cyclic
    visiting.insert(id);
    std::string text = own[id];
    for (const std::string& r : refs[id]) text += "\n@" + r + "=" + version(r);
    visiting.erase(id);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(Fnv1a(text)));
    return versions[id] = hex;
  };
  for (const auto& [id, _] : own) version(id);
  return versions;
}

}  // namespace segflow
