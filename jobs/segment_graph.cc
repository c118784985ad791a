#include "jobs/segment_graph.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>

namespace segflow {

void CheckSegmentReferences(const std::vector<std::string>& ids,
                            const std::vector<SegmentReference>& refs, ErrorSink* errors) {
  std::unordered_map<std::string, size_t> index;  // a duplicated id resolves to its first
  std::vector<std::string> known;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].empty() && index.emplace(ids[i], i).second) known.push_back(ids[i]);
  }

  // edges[u]: (referenced segment, index into refs)
  std::vector<std::vector<std::pair<size_t, size_t>>> edges(ids.size());
  for (size_t r = 0; r < refs.size(); ++r) {
    const SegmentReference& ref = refs[r];
    if (ref.from < ids.size() && ref.to == ids[ref.from]) {
      errors->Add(ref.mark, "segment \"" + ref.to + "\" refers to itself");
      continue;
    }
    auto it = index.find(ref.to);
    if (it == index.end()) {
      std::string hint = DidYouMean(ref.to, known);
      if (hint.empty()) hint = known.empty() ? "" : " (defined: " + JoinOr(known) + ")";
      errors->Add(ref.mark, "unknown segment \"" + ref.to + "\"" + hint);
      continue;
    }
    if (ref.from < ids.size()) edges[ref.from].emplace_back(it->second, r);
  }

  // Iterative DFS in file order; a reference to a segment on the current path closes a cycle.
  enum : uint8_t { kUnseen, kOnPath, kDone };
  std::vector<uint8_t> state(ids.size(), kUnseen);
  std::vector<std::pair<size_t, size_t>> stack;  // (segment, next edge)
  for (size_t start = 0; start < ids.size(); ++start) {
    if (state[start] != kUnseen) continue;
    state[start] = kOnPath;
    stack.emplace_back(start, 0);
    while (!stack.empty()) {
      auto& [u, next] = stack.back();
      if (next == edges[u].size()) {
        state[u] = kDone;
        stack.pop_back();
        continue;
      }
      auto [v, r] = edges[u][next++];
      if (state[v] == kUnseen) {
        state[v] = kOnPath;
        stack.emplace_back(v, 0);
      } else if (state[v] == kOnPath) {
        auto from = std::find_if(stack.begin(), stack.end(),
                                 [v = v](const auto& frame) { return frame.first == v; });
        std::string path;
        for (auto f = from; f != stack.end(); ++f) path += ids[f->first] + " -> ";
        path += ids[v];
        errors->Add(refs[r].mark, "segment reference cycle: " + path);
      }
    }
  }
}

}  // namespace segflow
