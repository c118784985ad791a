// CompilePlan: JobSpec -> ProgramPlan (dedup of matchers and extractors, condition
// trees flattened, segments ordered so that referenced segments come first).
#include <algorithm>
#include <limits>
#include <string>

#include "operators/segment/program_plan.h"

namespace segflow {
namespace {

constexpr uint64_t kMaxCap = std::numeric_limits<uint64_t>::max();

}  // namespace

std::string MatchKey(const EventMatch& m) {
  std::string key = m.any_event ? "*" : "";
  std::vector<std::string> events = m.events;
  std::sort(events.begin(), events.end());
  for (const std::string& e : events) {
    key += std::to_string(e.size()) + ":" + e;
  }
  key += "|";
  for (const auto& [path, pred] : m.where) {
    key += std::to_string(path.size()) + ":" + path + "{";
    for (const auto& [op, operand] : pred.ops) {
      key += std::to_string(static_cast<int>(op)) + "=" + operand.ToJson() + ";";
    }
    key += "}";
  }
  return key;
}

namespace {

class Compiler {
 public:
  explicit Compiler(const JobSpec& job) : job_(job) {}

  Result<ProgramPlan> Run() {
    SEGFLOW_RETURN_IF_ERROR(OrderSegments());
    for (size_t i = 0; i < job_.segments.size(); ++i) {
      const SegmentSpec& s = job_.segments[i];
      segment_ = &s;
      SegmentPlan sp;
      auto root = CompileNode(s.when, 0);
      if (!root.ok()) return root.status();
      sp.root = *root;
      const Membership& m = s.membership;
      if ((m.duration_ms && *m.duration_ms < 0) || (m.cooldown_ms && *m.cooldown_ms < 0)) {
        return Refuse("membership duration and cooldown must not be negative");
      }
      sp.duration_ms = m.duration_ms;
      sp.cooldown_ms = m.cooldown_ms;
      if (m.exit_on) {
        auto exit_on = Matcher(*m.exit_on, "exit_on");
        if (!exit_on.ok()) return exit_on.status();
        sp.exit_on = *exit_on;
      }
      plan_.segments.push_back(std::move(sp));
    }
    for (uint32_t i = 0; i < plan_.matchers.size(); ++i) {
      const EventMatch& m = plan_.matchers[i];
      if (m.any_event) {
        plan_.any_type_matchers.push_back(i);
        continue;
      }
      for (const std::string& type : m.events) {
        std::vector<uint32_t>& v = plan_.matchers_by_type[type];
        if (v.empty() || v.back() != i) v.push_back(i);
      }
    }
    plan_.match_words = (plan_.matchers.size() + 63) / 64;
    std::sort(plan_.profile_keys.begin(), plan_.profile_keys.end());
    plan_.profile_keys.erase(std::unique(plan_.profile_keys.begin(), plan_.profile_keys.end()),
                             plan_.profile_keys.end());
    if (job_.profile && !plan_.profile_keys.empty()) plan_.profile_event = job_.profile->event;
    if (job_.consent) {
      plan_.consent_event = job_.consent->event;
      plan_.consent_field = job_.consent->field;
      plan_.consent_default = job_.consent->default_granted;
      if (plan_.consent_event.empty() || plan_.consent_field.empty()) {
        return Status::InvalidArgument("consent needs an event and a field");
      }
    }
    return std::move(plan_);
  }

 private:
  Status Refuse(const std::string& what) const {
    return Status::InvalidArgument("segment \"" + segment_->id + "\": " + what);
  }
  Status Unsupported(const Condition& c, const std::string& why) const {
    return Refuse("condition \"" + std::string(ConditionKindName(c.kind)) + "\" " + why);
  }

  // Depth-first topological order over segment references; refuses cycles and unknown ids.
  Status OrderSegments() {
    const size_t n = job_.segments.size();
    refs_.assign(n, {});
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (job_.segments[j].id == job_.segments[i].id) {
          return Status::InvalidArgument("duplicate segment id \"" + job_.segments[i].id + "\"");
        }
      }
      segment_ = &job_.segments[i];
      SEGFLOW_RETURN_IF_ERROR(CollectRefs(job_.segments[i].when, &refs_[i], 0));
    }
    std::vector<uint8_t> mark(n, 0);  // 0 new, 1 on the path, 2 done
    for (size_t i = 0; i < n; ++i) SEGFLOW_RETURN_IF_ERROR(Visit(i, &mark, 0));
    return Status::OK();
  }

  Status CollectRefs(const Condition& c, std::vector<uint32_t>* out, int depth) {
    if (depth > kMaxDepth) return Refuse("conditions nested too deeply");
    if (c.kind == Condition::Kind::kSegment) {
      for (size_t j = 0; j < job_.segments.size(); ++j) {
        if (job_.segments[j].id == c.segment_ref) {
          out->push_back(static_cast<uint32_t>(j));
          return Status::OK();
        }
      }
      return Refuse("references unknown segment \"" + c.segment_ref + "\"");
    }
    for (const Condition& child : c.children) {
      SEGFLOW_RETURN_IF_ERROR(CollectRefs(child, out, depth + 1));
    }
    return Status::OK();
  }

  Status Visit(size_t i, std::vector<uint8_t>* mark, size_t depth) {
    if ((*mark)[i] == 2) return Status::OK();
    if ((*mark)[i] == 1 || depth > job_.segments.size()) {
      return Status::InvalidArgument("segment references form a cycle through \"" +
                                     job_.segments[i].id + "\"");
    }
    (*mark)[i] = 1;
    for (uint32_t j : refs_[i]) SEGFLOW_RETURN_IF_ERROR(Visit(j, mark, depth + 1));
    (*mark)[i] = 2;
    plan_.order.push_back(static_cast<uint32_t>(i));
    return Status::OK();
  }

  Result<uint32_t> Matcher(const EventMatch& m, const char* what) {
    if (!m.any_event && m.events.empty()) {
      return Refuse(std::string(what) + ": an event match needs an event name or \"*\"");
    }
    std::string key = MatchKey(m);
    auto [it, inserted] = matcher_ids_.try_emplace(key, static_cast<uint32_t>(plan_.matchers.size()));
    if (inserted) plan_.matchers.push_back(m);
    return it->second;
  }

  uint32_t ExtractorFor(const std::string& field, bool numeric, uint32_t matcher) {
    for (uint32_t i = 0; i < plan_.extractors.size(); ++i) {
      Extractor& x = plan_.extractors[i];
      if (x.field == field && x.numeric == numeric) {
        if (std::find(x.matchers.begin(), x.matchers.end(), matcher) == x.matchers.end()) {
          x.matchers.push_back(matcher);
        }
        return i;
      }
    }
    plan_.extractors.push_back(Extractor{field, numeric, {matcher}});
    return static_cast<uint32_t>(plan_.extractors.size() - 1);
  }

  static uint64_t CapFor(const std::optional<int64_t>& at_least,
                         const std::optional<int64_t>& at_most) {
    uint64_t cap = at_least ? static_cast<uint64_t>(*at_least) : 0;
    if (at_most) {
      const uint64_t m = static_cast<uint64_t>(*at_most);
      cap = std::max(cap, m == kMaxCap ? kMaxCap : m + 1);
    }
    return cap;
  }

  Result<uint32_t> CompileNode(const Condition& c, int depth) {
    if (depth > kMaxDepth) return Refuse("conditions nested too deeply");
    NodePlan node;
    node.kind = c.kind;
    switch (c.kind) {
      case Condition::Kind::kAll:
      case Condition::Kind::kAny:
      case Condition::Kind::kNot: {
        if (c.children.empty() || (c.kind == Condition::Kind::kNot && c.children.size() != 1)) {
          return Unsupported(c, c.kind == Condition::Kind::kNot ? "needs exactly one condition"
                                                                : "needs at least one condition");
        }
        for (const Condition& child : c.children) {
          auto id = CompileNode(child, depth + 1);
          if (!id.ok()) return id.status();
          node.children.push_back(*id);
        }
        break;
      }
      default: {
        auto leaf = CompileLeaf(c);
        if (!leaf.ok()) return leaf.status();
        node.leaf = *leaf;
      }
    }
    plan_.nodes.push_back(std::move(node));
    return static_cast<uint32_t>(plan_.nodes.size() - 1);
  }

  Result<uint32_t> CompileLeaf(const Condition& c) {
    LeafPlan p;
    p.kind = c.kind;
    if (c.window_ms && *c.window_ms < 0) return Unsupported(c, "has a negative window");
    if (c.within_ms < 0) return Unsupported(c, "has a negative within");
    switch (c.kind) {
      case Condition::Kind::kCount:
      case Condition::Kind::kDistinct: {
        if (!c.at_least && !c.at_most) return Unsupported(c, "needs at_least or at_most");
        if ((c.at_least && *c.at_least < 0) || (c.at_most && *c.at_most < 0)) {
          return Unsupported(c, "has a negative bound");
        }
        auto m = Matcher(c.match, ConditionKindName(c.kind));
        if (!m.ok()) return m.status();
        p.matcher = *m;
        p.window_ms = c.window_ms;
        p.at_least = c.at_least;
        p.at_most = c.at_most;
        p.cap = CapFor(c.at_least, c.at_most);
        if (c.kind == Condition::Kind::kDistinct) {
          if (c.field.empty()) return Unsupported(c, "needs a field");
          p.extractor = ExtractorFor(c.field, false, p.matcher);
        }
        break;
      }
      case Condition::Kind::kSum:
      case Condition::Kind::kAvg:
      case Condition::Kind::kMin:
      case Condition::Kind::kMax: {
        if (c.field.empty()) return Unsupported(c, "needs a field");
        auto m = Matcher(c.match, ConditionKindName(c.kind));
        if (!m.ok()) return m.status();
        p.matcher = *m;
        p.extractor = ExtractorFor(c.field, true, p.matcher);
        p.window_ms = c.window_ms;
        p.bounds = c.bounds;
        break;
      }
      case Condition::Kind::kAbsence: {
        auto a = Matcher(c.after, "absence.after");
        if (!a.ok()) return a.status();
        auto m = Matcher(c.missing, "absence.missing");
        if (!m.ok()) return m.status();
        p.after = *a;
        p.missing = *m;
        p.within_ms = c.within_ms;
        break;
      }
      case Condition::Kind::kSequence: {
        if (c.steps.empty()) return Unsupported(c, "needs at least one step");
        for (const EventMatch& step : c.steps) {
          auto m = Matcher(step, "sequence step");
          if (!m.ok()) return m.status();
          p.steps.push_back(*m);
        }
        p.within_ms = c.within_ms;
        p.window_ms = c.window_ms;
        break;
      }
      case Condition::Kind::kProfile: {
        if (c.profile.empty()) return Unsupported(c, "needs at least one attribute");
        p.profile = c.profile;
        for (const auto& [attr, pred] : c.profile) {
          plan_.profile_keys.push_back(attr.substr(0, attr.find('.')));
        }
        break;
      }
      case Condition::Kind::kSegment: {
        for (size_t j = 0; j < job_.segments.size(); ++j) {
          if (job_.segments[j].id == c.segment_ref) p.segment = static_cast<uint32_t>(j);
        }
        if (p.segment == kNoIndex) return Refuse("references unknown segment \"" + c.segment_ref + "\"");
        break;
      }
      default:
        return Unsupported(c, "is not supported");
    }
    plan_.leaves.push_back(std::move(p));
    return static_cast<uint32_t>(plan_.leaves.size() - 1);
  }

  static constexpr int kMaxDepth = 256;
  const JobSpec& job_;
  const SegmentSpec* segment_ = nullptr;
  ProgramPlan plan_;
  std::unordered_map<std::string, uint32_t> matcher_ids_;
  std::vector<std::vector<uint32_t>> refs_;
};

}  // namespace

Result<ProgramPlan> CompilePlan(const JobSpec& job) { return Compiler(job).Run(); }

}  // namespace segflow
