#include "operators/segment/explain.h"

#include <algorithm>
#include <set>
#include <utility>

#include "engine/value/time_format.h"
#include "operators/segment/program_impl.h"
#include "operators/segment/user_state.h"

namespace segflow {

std::string FormatDurationShort(int64_t ms) {
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  if (ms != 0) {
    for (const auto& [unit, name] : kUnits) {
      if (ms % unit == 0) return std::to_string(ms / unit) + name;
    }
  }
  return std::to_string(ms) + "ms";
}

namespace {

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string MatchText(const EventMatch& m) {
  std::string out = m.any_event ? "*" : Join(m.events, "|");
  if (!m.where.empty()) {
    std::vector<std::string> paths;
    for (const auto& [path, pred] : m.where) paths.push_back(path);
    out += " where " + Join(paths, ",");
  }
  return out;
}

std::string Number(double d) {
  Value v = Value::Double(d);
  return v.ToJson();
}

std::string CountBoundsText(const Condition& c) {
  if (c.at_least && c.at_most) {
    return "between " + std::to_string(*c.at_least) + " and " + std::to_string(*c.at_most);
  }
  if (c.at_least) return ">= " + std::to_string(*c.at_least);
  return "<= " + std::to_string(c.at_most.value_or(0));
}

std::string CmpBoundsText(const Condition& c) {
  std::vector<std::string> parts;
  for (const auto& [op, x] : c.bounds) {
    const char* o = "?";
    switch (op) {
      case CmpOp::kGt: o = ">"; break;
      case CmpOp::kGte: o = ">="; break;
      case CmpOp::kLt: o = "<"; break;
      case CmpOp::kLte: o = "<="; break;
      case CmpOp::kEq: o = "=="; break;
    }
    parts.push_back(std::string(o) + " " + Number(x));
  }
  return Join(parts, " and ");
}

std::string WindowText(const std::optional<int64_t>& window) {
  return window ? " in " + FormatDurationShort(*window) : " ever";
}

void AddPaths(const EventMatch& m, std::vector<std::string>* paths) {
  for (const auto& [path, pred] : m.where) {
    if (std::find(paths->begin(), paths->end(), path) == paths->end()) paths->push_back(path);
  }
}

// Walks one segment's Condition tree and its compiled nodes (CompileNode keeps them in
// one-to-one correspondence, children in order).
class Explainer {
 public:
  Explainer(const ProgramPlan& plan, const UserStateData& s, int64_t t,
            const std::vector<ExplainEvent>& history)
      : plan_(plan), s_(s), t_(t) {
    // Evidence in (ts, seq) order, whatever order the caller keeps.
    for (const ExplainEvent& e : history) {
      if (e.event.ts <= t_) order_.push_back(&e);
    }
    std::stable_sort(order_.begin(), order_.end(), [](const ExplainEvent* a, const ExplainEvent* b) {
      return std::make_pair(a->event.ts, a->projected.seq) < std::make_pair(b->event.ts, b->projected.seq);
    });
  }

  void Node(const Condition& c, uint32_t node, ExplainNode* out) {
    const NodePlan& n = plan_.nodes[node];
    out->kind = ConditionKindName(c.kind);
    switch (n.kind) {
      case Condition::Kind::kAll:
      case Condition::Kind::kAny:
      case Condition::Kind::kNot: {
        out->text = out->kind;
        size_t held = 0;
        out->children.resize(n.children.size());
        for (size_t i = 0; i < n.children.size(); ++i) {
          Node(c.children[i], n.children[i], &out->children[i]);
          held += out->children[i].holds ? 1 : 0;
        }
        if (n.kind == Condition::Kind::kAll) {
          out->holds = held == n.children.size();
        } else if (n.kind == Condition::Kind::kAny) {
          out->holds = held > 0;
        } else {
          out->holds = held == 0;
        }
        return;
      }
      default:
        Leaf(c, n.leaf, out);
    }
  }

 private:
  bool InWindow(const std::optional<int64_t>& window, int64_t ts) const {
    return !window || SatAdd(ts, *window) > t_;
  }

  // The events of the history for which `pick` returns a role (nullopt: not evidence).
  template <typename Pick>
  void Cite(const std::vector<std::string>& paths, Pick pick, ExplainNode* out) const {
    std::vector<EvidenceEvent> all;
    for (const ExplainEvent* e : order_) {
      std::optional<std::string> role = pick(*e);
      if (!role) continue;
      EvidenceEvent ev;
      ev.ts = e->event.ts;
      ev.seq = e->projected.seq;
      ev.type = e->event.type;
      ev.role = std::move(*role);
      if (paths.empty()) {
        ev.props = e->event.props;  // the condition reads no property: show them all
      } else {
        ValueObject props;
        for (const std::string& path : paths) {
          if (const Value* v = e->event.props.FindPath(path)) props.emplace_back(path, *v);
        }
        ev.props = Value::Object(std::move(props));
      }
      all.push_back(std::move(ev));
    }
    if (all.size() > kMaxEvidence) {
      out->events_omitted = all.size() - kMaxEvidence;
      all.erase(all.begin(), all.begin() + static_cast<ptrdiff_t>(out->events_omitted));
    }
    out->events = std::move(all);
  }

  static void Fact(ExplainNode* out, const std::string& key, Value v) {
    out->facts.emplace_back(key, std::move(v));
  }

  void Leaf(const Condition& c, uint32_t leaf, ExplainNode* out) {
    const LeafPlan& p = plan_.leaves[leaf];
    const LeafState& st = s_.leaves[leaf];
    out->holds = LeafHolds(plan_, s_, leaf, t_);
    auto matches = [&](const ExplainEvent& e, uint32_t matcher) {
      return ProgramPlan::Bit(e.projected.match_bits, matcher);
    };
    auto field = [&](const ExplainEvent& e) -> const ProjectedEvent::FieldValue* {
      return p.extractor < e.projected.fields.size() ? &e.projected.fields[p.extractor] : nullptr;
    };
    std::vector<std::string> paths;
    switch (p.kind) {
      case Condition::Kind::kCount: {
        out->text = "count(" + MatchText(c.match) + ") " + CountBoundsText(c) + WindowText(c.window_ms);
        AddPaths(c.match, &paths);
        uint64_t n = 0;
        Cite(paths, [&](const ExplainEvent& e) -> std::optional<std::string> {
          if (!matches(e, p.matcher) || !InWindow(p.window_ms, e.event.ts)) return std::nullopt;
          ++n;
          return std::string();
        }, out);
        Fact(out, "count", Value::Int(static_cast<int64_t>(n)));
        break;
      }
      case Condition::Kind::kSum:
      case Condition::Kind::kAvg:
      case Condition::Kind::kMin:
      case Condition::Kind::kMax: {
        out->text = out->kind + "(" + MatchText(c.match) + "." + c.field + ") " + CmpBoundsText(c) +
                    WindowText(c.window_ms);
        AddPaths(c.match, &paths);
        paths.push_back(c.field);
        Cite(paths, [&](const ExplainEvent& e) -> std::optional<std::string> {
          const ProjectedEvent::FieldValue* f = field(e);
          if (!matches(e, p.matcher) || !InWindow(p.window_ms, e.event.ts) || f == nullptr ||
              f->kind != ProjectedEvent::FieldValue::Kind::kNumber) {
            return std::nullopt;
          }
          return std::string();
        }, out);
        if (p.kind == Condition::Kind::kSum || p.kind == Condition::Kind::kAvg) {
          const auto& sum = std::get<SumState>(st);
          const uint64_t n = sum.Size(p, t_);
          Fact(out, "values", Value::Int(static_cast<int64_t>(n)));
          Fact(out, "sum", Value::Double(sum.Sum(p, t_)));
          if (p.kind == Condition::Kind::kAvg) {
            Fact(out, "avg", n == 0 ? Value::Null() : Value::Double(sum.Sum(p, t_) / static_cast<double>(n)));
          }
        } else {
          const auto& ext = std::get<ExtremeState>(st);
          Fact(out, out->kind, ext.Has(p) ? Value::Double(ext.Extreme(p)) : Value::Null());
        }
        break;
      }
      case Condition::Kind::kDistinct: {
        out->text = "distinct(" + MatchText(c.match) + "." + c.field + ") " + CountBoundsText(c) +
                    WindowText(c.window_ms);
        AddPaths(c.match, &paths);
        paths.push_back(c.field);
        std::set<std::string> keys;
        Cite(paths, [&](const ExplainEvent& e) -> std::optional<std::string> {
          const ProjectedEvent::FieldValue* f = field(e);
          if (!matches(e, p.matcher) || !InWindow(p.window_ms, e.event.ts) || f == nullptr ||
              f->kind != ProjectedEvent::FieldValue::Kind::kKey) {
            return std::nullopt;
          }
          keys.insert(f->key);
          return std::string();
        }, out);
        Fact(out, "distinct", Value::Int(static_cast<int64_t>(keys.size())));
        break;
      }
      case Condition::Kind::kAbsence: {
        out->text = "absence: no " + MatchText(c.missing) + " within " +
                    FormatDurationShort(c.within_ms) + " after " + MatchText(c.after);
        AddPaths(c.after, &paths);
        AddPaths(c.missing, &paths);
        const int64_t pending = std::get<AbsenceState>(st).earliest_after();
        // The evidence: the after and missing events (a missing event cancels every after
        // event at or before it; pending_after is the after event the deadline runs from).
        Cite(paths, [&](const ExplainEvent& e) -> std::optional<std::string> {
          const bool a = matches(e, p.after);
          const bool m = matches(e, p.missing);
          if (!a && !m) return std::nullopt;
          return std::string(a && m ? "after+missing" : (a ? "after" : "missing"));
        }, out);
        if (pending == kNoTime) {
          Fact(out, "pending_after", Value::Null());
        } else {
          Fact(out, "pending_after", Value::Int(pending));
          Fact(out, "deadline", Value::Int(SatAdd(pending, p.within_ms)));
        }
        break;
      }
      case Condition::Kind::kSequence: {
        std::vector<std::string> steps;
        for (const EventMatch& m : c.steps) {
          steps.push_back(MatchText(m));
          AddPaths(m, &paths);
        }
        out->text = "sequence: " + Join(steps, " -> ") + " within " + FormatDurationShort(c.within_ms) +
                    (c.window_ms ? ", ended in last " + FormatDurationShort(*c.window_ms) : "");
        Cite(paths, [&](const ExplainEvent& e) -> std::optional<std::string> {
          std::vector<std::string> roles;
          for (size_t j = 0; j < p.steps.size(); ++j) {
            if (matches(e, p.steps[j])) roles.push_back("step " + std::to_string(j + 1));
          }
          if (roles.empty()) return std::nullopt;
          return Join(roles, ",");
        }, out);
        const int64_t end = std::get<SequenceState>(st).latest_end();
        Fact(out, "chain_end", end == kNoTime ? Value::Null() : Value::Int(end));
        if (end != kNoTime && p.window_ms) Fact(out, "holds_until", Value::Int(SatAdd(end, *p.window_ms)));
        break;
      }
      case Condition::Kind::kProfile: {
        std::vector<std::string> attrs;
        for (const auto& [path, pred] : p.profile) {
          attrs.push_back(path);
          const Value* v = s_.profile.FindPath(path);
          ValueObject a;
          a.emplace_back("value", v != nullptr ? *v : Value::Null());
          a.emplace_back("exists", Value::Bool(v != nullptr));
          a.emplace_back("holds", Value::Bool(AllPredicatesHold({{path, pred}}, s_.profile)));
          Fact(out, path, Value::Object(std::move(a)));
        }
        out->text = "profile: " + Join(attrs, ", ");
        // Evidence: the profile events whose update is the current value of an attribute.
        const ValueObject& fields = s_.profile.as_object();
        Cite({}, [&](const ExplainEvent& e) -> std::optional<std::string> {
          std::vector<std::string> sets;
          for (size_t i = 0; i < fields.size(); ++i) {
            if (s_.profile_stamps[i] != std::make_pair(e.event.ts, e.projected.seq)) continue;
            for (const std::string& attr : attrs) {
              if (attr.substr(0, attr.find('.')) == fields[i].first) {
                sets.push_back(fields[i].first);
                break;
              }
            }
          }
          if (sets.empty()) return std::nullopt;
          return "sets " + Join(sets, ",");
        }, out);
        for (EvidenceEvent& ev : out->events) {
          // The values it set that are current (role: "sets a,b").
          ValueObject props;
          const std::string names = ev.role.substr(5);
          size_t start = 0;
          while (start <= names.size()) {
            const size_t comma = std::min(names.find(',', start), names.size());
            const std::string name = names.substr(start, comma - start);
            if (const Value* v = s_.profile.Find(name)) props.emplace_back(name, *v);
            start = comma + 1;
          }
          ev.props = Value::Object(std::move(props));
        }
        break;
      }
      case Condition::Kind::kSegment: {
        out->text = "segment " + c.segment_ref;
        const MemberState& m = s_.members[p.segment];
        Fact(out, "member", Value::Bool(m.member));
        if (m.member) Fact(out, "since", Value::Int(m.since));
        break;
      }
      default:
        out->text = out->kind;
    }
  }

  const ProgramPlan& plan_;
  const UserStateData& s_;
  int64_t t_;
  std::vector<const ExplainEvent*> order_;
};

std::string Time(int64_t ms) { return FormatRfc3339Millis(ms); }

}  // namespace

void SegmentProgram::Explain(const UserState& opaque, uint32_t segment, int64_t t,
                             const std::vector<ExplainEvent>& history, SegmentExplanation* out) const {
  const auto& s = static_cast<const UserStateData&>(opaque);
  const ProgramPlan& plan = impl_->plan;
  const JobSpec& job = impl_->job;
  out->segment = job.segments[segment].id;
  out->at = t;
  out->known_user = s.last_instant != kNoTime;
  out->last_instant.reset();
  if (out->known_user) out->last_instant = s.last_instant;
  out->root = ExplainNode();
  Explainer(plan, s, t, history).Node(job.segments[segment].when, plan.segments[segment].root, &out->root);

  const SegmentPlan& sp = plan.segments[segment];
  const MemberState& m = s.members[segment];
  MembershipExplanation& ms = out->membership;
  ms = MembershipExplanation();
  ms.member = m.member;
  if (m.member) {
    ms.since = m.since;
    if (sp.duration_ms) ms.until = SatAdd(m.since, *sp.duration_ms);
  }
  ms.armed = m.armed;
  if (m.cooldown_until != kNoTime) ms.cooldown_until = m.cooldown_until;
  const bool consent = ConsentGranted(plan, s);
  if (!plan.consent_event.empty()) ms.consent = consent;
  ms.condition = consent && out->root.holds;

  if (!out->known_user) {
    out->verdict = "not a member: the user has no events up to " + Time(t) +
                   " (spec §2: unknown users are in no segment)";
  } else if (m.member) {
    out->verdict = "member since " + Time(m.since);
    if (ms.until) out->verdict += ", until " + Time(*ms.until) + " (duration)";
  } else if (!out->root.holds) {
    out->verdict = "not a member: the condition does not hold";
  } else if (!consent) {
    out->verdict = "not a member: the condition holds but consent is not granted";
  } else if (!m.armed) {
    out->verdict =
        "not a member: the condition holds but membership is not re-armed (after an exit by "
        "duration or exit_on, or an entry and exit in one instant, the condition must be false "
        "at some instant first)";
  } else if (ms.cooldown_until && t < *ms.cooldown_until) {
    out->verdict = "not a member: in cooldown until " + Time(*ms.cooldown_until);
  } else {
    out->verdict = "not a member";
  }
}

SegmentExplanation ExplainUser(const SegmentProgram& program, std::vector<ExplainEvent> history,
                               uint32_t segment, int64_t at) {
  history.erase(std::remove_if(history.begin(), history.end(),
                               [&](const ExplainEvent& e) { return e.event.ts > at; }),
                history.end());
  std::unique_ptr<UserState> state = program.NewUserState();
  for (const ExplainEvent& e : history) {
    ProjectedEvent copy = e.projected;
    program.AddEvent(state.get(), std::move(copy));
  }
  std::vector<MembershipChange> changes;
  for (std::optional<int64_t> next = program.NextInstant(*state); next && *next <= at;
       next = program.NextInstant(*state)) {
    program.ProcessInstant(state.get(), *next, &changes);
  }
  SegmentExplanation out;
  program.Explain(*state, segment, at, history, &out);
  for (const MembershipChange& c : changes) {
    if (c.segment == segment) out.changes.push_back(c);
  }
  return out;
}

}  // namespace segflow
