#include "jobs/state_compatibility.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <vector>

namespace segflow {
namespace {

// A canonical text of a node: maps with sorted keys, so key order is not a change.
std::string Emit(const YAML::Node& node) {
  if (!node) return "";
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      std::map<std::string, std::string> items;
      for (const auto& kv : node) items[kv.first.as<std::string>("")] = Emit(kv.second);
      std::string out = "{";
      for (const auto& [k, v] : items) out += k + ":" + v + ",";
      return out + "}";
    }
    case YAML::NodeType::Sequence: {
      std::string out = "[";
      for (const auto& item : node) out += Emit(item) + ",";
      return out + "]";
    }
    case YAML::NodeType::Scalar:
      return (node.Tag() == "!" ? "'" : "") + node.Scalar();
    default:
      return "~";
  }
}

}  // namespace

std::string StateIncompatibility(const std::string& before_text, const std::string& after_text) {
  YAML::Node before, after;
  try {
    before = YAML::Load(before_text);
    after = YAML::Load(after_text);
  } catch (const YAML::Exception& e) {
    return std::string("cannot compare the job files: ") + e.what();
  }
  std::vector<std::string> changes;
  for (const char* block : {"profile", "consent"}) {
    if (Emit(before[block]) != Emit(after[block])) changes.push_back(std::string("the ") + block + " block changed");
  }
  for (const char* key : {"fields", "max_out_of_orderness"}) {
    if (Emit(before["source"][key]) != Emit(after["source"][key])) changes.push_back(std::string("source.") + key + " changed");
  }
  std::map<std::string, std::string> old_segments, new_segments;
  std::vector<std::string> old_order, new_order;
  for (const auto& seg : before["segments"]) {
    old_segments[seg["id"].as<std::string>("")] = Emit(seg);
    old_order.push_back(seg["id"].as<std::string>(""));
  }
  for (const auto& seg : after["segments"]) {
    new_segments[seg["id"].as<std::string>("")] = Emit(seg);
    new_order.push_back(seg["id"].as<std::string>(""));
  }
  for (const auto& id : old_order) {
    auto it = new_segments.find(id);
    if (it == new_segments.end()) {
      changes.push_back("segment " + id + " removed");
    } else if (it->second != old_segments[id]) {
      changes.push_back("segment " + id + " changed");
    }
  }
  for (const auto& id : new_order) {
    if (!old_segments.count(id)) changes.push_back("segment " + id + " added");
  }
  if (changes.empty() && old_order != new_order) changes.push_back("the segments' order changed");
  std::string text;
  for (const auto& c : changes) text += (text.empty() ? "" : "; ") + c;
  return text;
}

}  // namespace segflow
