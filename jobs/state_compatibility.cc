#include "jobs/state_compatibility.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <tuple>

#include "jobs/segment_version.h"
#include "jobs/yaml_limits.h"

namespace segflow {
namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string StateCarryOver::Describe() const {
  if (!refused.empty()) return "refused: " + refused;
  std::string out = kept.empty() ? "no segment state kept" : "kept " + Join(kept);
  if (!restarted.empty()) out += "; restarted " + Join(restarted);
  if (!dropped.empty()) out += "; dropped " + Join(dropped);
  return out;
}

StateCarryOver CompareJobState(const std::string& before_text, const std::string& after_text) {
  StateCarryOver out;
  YAML::Node before, after;
  // Bounded: a checkpoint's job text is read from disk, and aliases must not expand it.
  for (auto [text, node, name] : {std::tuple(&before_text, &before, "the savepoint's job file"),
                                  std::tuple(&after_text, &after, "the new job file")}) {
    auto docs = LoadBoundedYaml(*text, name);
    if (!docs.ok()) {
      out.refused = "cannot compare the job files: " + docs.status().message();
      return out;
    }
    if (!docs->empty()) *node = docs->front();
  }
  std::vector<std::string> shared;
  for (const char* block : {"profile", "consent"}) {
    if (CanonicalYaml(before[block]) != CanonicalYaml(after[block])) {
      shared.push_back(std::string("the ") + block + " block changed");
    }
  }
  for (const char* key : {"fields", "max_out_of_orderness"}) {
    if (CanonicalYaml(before["source"][key]) != CanonicalYaml(after["source"][key])) {
      shared.push_back(std::string("source.") + key + " changed");
    }
  }
  auto old_versions = SegmentVersions(before);
  auto new_versions = SegmentVersions(after);
  if (!old_versions.ok() || !new_versions.ok()) {
    shared.push_back(!old_versions.ok() ? old_versions.status().message()
                                        : new_versions.status().message());
  }
  if (!shared.empty()) {
    out.refused = Join(shared);
    return out;
  }
  for (const auto& seg : after["segments"]) {
    const std::string id = seg["id"].as<std::string>("");
    auto it = old_versions->find(id);
    if (it == old_versions->end()) {
      out.restarted.push_back(id + " (added)");
    } else if (it->second != new_versions->at(id)) {
      out.restarted.push_back(id + " (changed)");
    } else {
      out.kept.push_back(id);
    }
  }
  for (const auto& seg : before["segments"]) {
    const std::string id = seg["id"].as<std::string>("");
    if (!new_versions->count(id)) out.dropped.push_back(id);
  }
  return out;
}

}  // namespace segflow
