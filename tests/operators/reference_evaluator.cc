#include "reference_evaluator.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <tuple>
#include <utility>

#include "operators/predicate.h"

namespace segflow::reference {
namespace {

bool InWindow(int64_t ts, const std::optional<int64_t>& window, int64_t t) {
  return ts <= t && (!window.has_value() || ts > t - *window);
}

bool Compare(double value, CmpOp op, double bound) {
  switch (op) {
    case CmpOp::kGt: return value > bound;
    case CmpOp::kGte: return value >= bound;
    case CmpOp::kLt: return value < bound;
    case CmpOp::kLte: return value <= bound;
    case CmpOp::kEq: return value == bound;
  }
  return false;
}

bool AllBoundsHold(double value, const std::vector<std::pair<CmpOp, double>>& bounds) {
  for (const auto& [op, bound] : bounds) {
    if (!Compare(value, op, bound)) return false;
  }
  return true;
}

bool CountBoundsHold(int64_t n, const Condition& c) {
  if (c.at_least.has_value() && n < *c.at_least) return false;
  if (c.at_most.has_value() && n > *c.at_most) return false;
  return true;
}

// §9: for `distinct`, 1 and 1.0 are one value, "1" another; booleans and null are values.
bool SameDistinctValue(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_number() == b.as_number();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kNull: return true;
    case Value::Kind::kBool: return a.as_bool() == b.as_bool();
    case Value::Kind::kString: return a.as_string() == b.as_string();
    default: return false;
  }
}

// Every time offset after an event at which some condition of the job may change truth
// without a new event: windows (e.ts + window) and absence deadlines (a.ts + within).
void CollectDeltas(const Condition& c, std::set<int64_t>* deltas) {
  if (c.window_ms.has_value()) deltas->insert(*c.window_ms);
  if (c.kind == Condition::Kind::kAbsence) deltas->insert(c.within_ms);
  for (const auto& child : c.children) CollectDeltas(child, deltas);
}

void CollectRefs(const Condition& c, std::set<std::string>* refs) {
  if (c.kind == Condition::Kind::kSegment) refs->insert(c.segment_ref);
  for (const auto& child : c.children) CollectRefs(child, refs);
}

}  // namespace

std::string Change::ToString() const {
  return "{at: " + std::to_string(at) + ", user: " + user + ", segment: " +
         std::to_string(segment) + ", " + (entered ? "entered" : "exited") + "}";
}

bool ChangeLess(const Change& a, const Change& b) {
  return std::tie(a.at, a.user, a.segment, a.entered) <
         std::tie(b.at, b.user, b.segment, b.entered);
}

// One user's on-time events (sorted by ts, then offset) and the definitions of §5 on them.
class ReferenceEvaluator::UserView {
 public:
  UserView(const JobSpec& job, const std::vector<UserEvent>& events)
      : job_(job), events_(events) {}

  // §5 Consent: the field of the latest valid consent event with ts <= t (larger offset
  // wins a tie), else the default; no consent block means granted.
  bool ConsentAt(int64_t t) const {
    if (!job_.consent.has_value()) return true;
    bool granted = job_.consent->default_granted;
    for (const UserEvent& e : events_) {  // (ts, offset) order: the last valid one wins
      if (e.ts > t) break;
      if (e.event->type != job_.consent->event) continue;
      const Value* v = e.event->props.FindPath(job_.consent->field);
      if (v == nullptr || !v->is_bool()) continue;  // §9: changes nothing
      granted = v->as_bool();
    }
    return granted;
  }

  // §5 Profile: merge every profile event with ts <= t in (ts, offset) order; each
  // replaces the top-level properties it carries.
  Value ProfileAt(int64_t t) const {
    ValueObject merged;
    if (!job_.profile.has_value()) return Value::Object(std::move(merged));
    for (const UserEvent& e : events_) {
      if (e.ts > t) break;
      if (e.event->type != job_.profile->event) continue;
      for (const auto& [name, value] : e.event->props.as_object()) {
        auto it = std::find_if(merged.begin(), merged.end(),
                               [&](const auto& kv) { return kv.first == name; });
        if (it == merged.end()) {
          merged.emplace_back(name, value);
        } else {
          it->second = value;
        }
      }
    }
    return Value::Object(std::move(merged));
  }

  bool ExitOnAt(const EventMatch& m, int64_t t) const {
    for (const UserEvent& e : events_) {
      if (e.ts == t && MatchesEvent(m, *e.event)) return true;
    }
    return false;
  }

  // The matching events with t - window < ts <= t (no window: every ts <= t).
  std::vector<const Event*> Matching(const EventMatch& m, const std::optional<int64_t>& window,
                                     int64_t t) const {
    std::vector<const Event*> out;
    for (const UserEvent& e : events_) {
      if (InWindow(e.ts, window, t) && MatchesEvent(m, *e.event)) out.push_back(e.event);
    }
    return out;
  }

  // `member_now[s]`: membership of segment s at t, already final for every segment the
  // condition can reference (dependency order).
  bool Holds(const Condition& c, int64_t t, const std::vector<bool>& member_now) const {
    using Kind = Condition::Kind;
    switch (c.kind) {
      case Kind::kCount:
        return CountBoundsHold(static_cast<int64_t>(Matching(c.match, c.window_ms, t).size()), c);
      case Kind::kSum:
      case Kind::kAvg:
      case Kind::kMin:
      case Kind::kMax: return AggregateHolds(c, t);
      case Kind::kDistinct: {
        std::vector<Value> seen;
        for (const Event* e : Matching(c.match, c.window_ms, t)) {
          const Value* v = e->props.FindPath(c.field);
          if (v == nullptr || v->is_array() || v->is_object()) continue;
          bool known = std::any_of(seen.begin(), seen.end(),
                                   [&](const Value& s) { return SameDistinctValue(s, *v); });
          if (!known) seen.push_back(*v);
        }
        return CountBoundsHold(static_cast<int64_t>(seen.size()), c);
      }
      case Kind::kAbsence: return AbsenceHolds(c, t);
      case Kind::kSequence: return !c.steps.empty() && SequenceFrom(c, 0, 0, 0, t);
      case Kind::kProfile: {
        Value profile = ProfileAt(t);
        for (const auto& [attr, pred] : c.profile) {
          if (!EvaluatePredicate(pred, profile.FindPath(attr))) return false;
        }
        return true;
      }
      case Kind::kSegment: {
        for (size_t s = 0; s < job_.segments.size(); ++s) {
          if (job_.segments[s].id == c.segment_ref) return member_now[s];
        }
        return false;
      }
      case Kind::kAll:
        for (const auto& child : c.children) {
          if (!Holds(child, t, member_now)) return false;
        }
        return true;
      case Kind::kAny:
        for (const auto& child : c.children) {
          if (Holds(child, t, member_now)) return true;
        }
        return false;
      case Kind::kNot: return !Holds(c.children.at(0), t, member_now);
    }
    return false;
  }

 private:
  // sum of nothing is 0; avg/min/max of nothing never hold.
  bool AggregateHolds(const Condition& c, int64_t t) const {
    std::vector<double> values;
    for (const Event* e : Matching(c.match, c.window_ms, t)) {
      const Value* v = e->props.FindPath(c.field);
      if (v != nullptr && v->is_number()) values.push_back(v->as_number());
    }
    double sum = 0;
    for (double v : values) sum += v;
    switch (c.kind) {
      case Condition::Kind::kSum: return AllBoundsHold(sum, c.bounds);
      case Condition::Kind::kAvg:
        return !values.empty() && AllBoundsHold(sum / static_cast<double>(values.size()), c.bounds);
      case Condition::Kind::kMin:
        return !values.empty() &&
               AllBoundsHold(*std::min_element(values.begin(), values.end()), c.bounds);
      case Condition::Kind::kMax:
        return !values.empty() &&
               AllBoundsHold(*std::max_element(values.begin(), values.end()), c.bounds);
      default: return false;
    }
  }

  // An `after` event a with a.ts + within <= t and no `missing` m with a.ts <= m.ts <= t.
  bool AbsenceHolds(const Condition& c, int64_t t) const {
    for (const UserEvent& a : events_) {
      if (a.ts + c.within_ms > t || !MatchesEvent(c.after, *a.event)) continue;
      bool missed = std::none_of(events_.begin(), events_.end(), [&](const UserEvent& m) {
        return a.ts <= m.ts && m.ts <= t && MatchesEvent(c.missing, *m.event);
      });
      if (missed) return true;
    }
    return false;
  }

  // Steps step.. of the sequence, after a previous step at prev_ts (first step at first_ts).
  bool SequenceFrom(const Condition& c, size_t step, int64_t prev_ts, int64_t first_ts,
                    int64_t t) const {
    for (const UserEvent& e : events_) {
      if (e.ts > t) break;
      if (step > 0 && (e.ts <= prev_ts || e.ts - first_ts > c.within_ms)) continue;
      if (!MatchesEvent(c.steps[step], *e.event)) continue;
      int64_t first = step == 0 ? e.ts : first_ts;
      if (step + 1 == c.steps.size()) {
        if (!c.window_ms.has_value() || e.ts > t - *c.window_ms) return true;
      } else if (SequenceFrom(c, step + 1, e.ts, first, t)) {
        return true;
      }
    }
    return false;
  }

  const JobSpec& job_;
  const std::vector<UserEvent>& events_;
};

ReferenceEvaluator::ReferenceEvaluator(const JobSpec& job, std::vector<Input> records)
    : ReferenceEvaluator(job, std::move(records), Options{}) {}

ReferenceEvaluator::ReferenceEvaluator(const JobSpec& job, std::vector<Input> records,
                                       Options options)
    : job_(job), options_(options), records_(std::move(records)) {
  Run();
}

bool ReferenceEvaluator::IsLate(uint32_t partition, uint64_t offset) const {
  auto it = late_.find({partition, offset});
  return it != late_.end() && it->second;
}

std::vector<uint32_t> ReferenceEvaluator::SegmentsInDependencyOrder() const {
  std::vector<uint32_t> order;
  std::vector<bool> placed(job_.segments.size(), false);
  // Repeatedly place every segment whose references are all placed (the parser
  // guarantees a DAG; the bound stops a cycle from looping forever).
  for (size_t round = 0; round <= job_.segments.size(); ++round) {
    for (size_t s = 0; s < job_.segments.size(); ++s) {
      if (placed[s]) continue;
      std::set<std::string> refs;
      CollectRefs(job_.segments[s].when, &refs);
      bool ready = std::all_of(refs.begin(), refs.end(), [&](const std::string& id) {
        for (size_t r = 0; r < job_.segments.size(); ++r) {
          if (job_.segments[r].id == id) return static_cast<bool>(placed[r]);
        }
        return true;
      });
      if (ready) {
        placed[s] = true;
        order.push_back(static_cast<uint32_t>(s));
      }
    }
  }
  return order;
}

void ReferenceEvaluator::Run() {
  // §2 lateness, per partition in offset order.
  std::map<uint32_t, std::vector<const Input*>> by_partition;
  for (const Input& r : records_) by_partition[r.partition].push_back(&r);
  std::map<std::string, std::vector<UserEvent>> by_user;
  for (auto& [partition, list] : by_partition) {
    std::sort(list.begin(), list.end(),
              [](const Input* a, const Input* b) { return a->offset < b->offset; });
    std::optional<int64_t> max_prev;
    for (const Input* r : list) {
      bool late = max_prev.has_value() &&
                  r->event.ts < *max_prev - job_.source.max_out_of_orderness_ms;
      late_[{partition, r->offset}] = late;
      if (late) {
        ++late_count_;
      } else {
        by_user[r->event.user].push_back({r->event.ts, r->offset, &r->event});
      }
      max_prev = max_prev.has_value() ? std::max(*max_prev, r->event.ts) : r->event.ts;
    }
  }
  for (auto& [user, events] : by_user) {
    std::sort(events.begin(), events.end(), [](const UserEvent& a, const UserEvent& b) {
      return std::tie(a.ts, a.offset) < std::tie(b.ts, b.offset);
    });
    RunUser(user, events);
  }
  std::sort(changes_.begin(), changes_.end(), ChangeLess);
}

void ReferenceEvaluator::RunUser(const std::string& user, const std::vector<UserEvent>& events) {
  const size_t n = job_.segments.size();
  const std::vector<uint32_t> order = SegmentsInDependencyOrder();
  UserView view(job_, events);
  std::vector<SegmentState> states(n);
  std::vector<bool> member_now(n, false);
  UserHistory& history = history_[user];

  // The user exists from their first event: no instant before it is evaluated.
  std::set<int64_t> pending;
  const int64_t first_ts = events.front().ts;
  if (options_.every_millisecond_until.has_value()) {
    for (int64_t t = first_ts; t <= *options_.every_millisecond_until; ++t) pending.insert(t);
  } else {
    std::set<int64_t> deltas;
    for (const auto& segment : job_.segments) CollectDeltas(segment.when, &deltas);
    for (const UserEvent& e : events) {
      pending.insert(e.ts);
      for (int64_t d : deltas) pending.insert(e.ts + d);
    }
  }
  auto schedule = [&](int64_t t) {
    if (!options_.every_millisecond_until.has_value()) pending.insert(t);
  };

  while (!pending.empty()) {
    const int64_t t = *pending.begin();
    pending.erase(pending.begin());
    const bool consent = view.ConsentAt(t);
    for (uint32_t s : order) {
      const SegmentSpec& segment = job_.segments[s];
      const Membership& rules = segment.membership;
      SegmentState& st = states[s];
      const bool c = consent && view.Holds(segment.when, t, member_now);
      const bool exit_event = rules.exit_on.has_value() && view.ExitOnAt(*rules.exit_on, t);
      const int64_t cooldown = rules.cooldown_ms.value_or(0);
      if (st.member) {
        const bool expired = rules.duration_ms.has_value() && t >= st.since + *rules.duration_ms;
        if (!c || expired || exit_event) {
          st.member = false;
          st.cooldown_until = t + cooldown;
          st.armed = !c;
          changes_.push_back({t, user, s, false});
          schedule(st.cooldown_until);
        }
      } else if (!c) {
        st.armed = true;
      } else if (st.armed && t >= st.cooldown_until) {
        // §9 Same instant: an entry that would exit at once records nothing and leaves
        // the user out, disarmed, in cooldown.
        const bool exits_at_once =
            exit_event || (rules.duration_ms.has_value() && *rules.duration_ms == 0);
        if (exits_at_once) {
          st.armed = false;
          st.cooldown_until = t + cooldown;
          schedule(st.cooldown_until);
        } else {
          st.member = true;
          st.since = t;
          changes_.push_back({t, user, s, true});
          if (rules.duration_ms.has_value()) schedule(t + *rules.duration_ms);
        }
      }
      member_now[s] = st.member;
    }
    history.snapshots.emplace_back(t, member_now);
  }
}

std::vector<std::string> ReferenceEvaluator::MembersAt(const std::string& segment_id,
                                                       int64_t t) const {
  std::vector<std::string> members;
  size_t index = job_.segments.size();
  for (size_t s = 0; s < job_.segments.size(); ++s) {
    if (job_.segments[s].id == segment_id) index = s;
  }
  if (index == job_.segments.size()) return members;
  for (const auto& [user, history] : history_) {
    // The state after the last evaluated instant <= t (snapshots are in instant order).
    auto after = std::upper_bound(
        history.snapshots.begin(), history.snapshots.end(), t,
        [](int64_t time, const auto& snapshot) { return time < snapshot.first; });
    if (after != history.snapshots.begin() && std::prev(after)->second[index]) {
      members.push_back(user);
    }
  }
  return members;  // history_ is ordered by user id
}

std::vector<Change> ReferenceEvaluator::Changelog(int64_t until) const {
  std::vector<Change> out;
  for (const Change& c : changes_) {
    if (c.at <= until) out.push_back(c);
  }
  return out;
}

std::vector<int64_t> ReferenceEvaluator::EvaluatedInstants() const {
  std::set<int64_t> all;
  for (const auto& [user, history] : history_) {
    for (const auto& snapshot : history.snapshots) all.insert(snapshot.first);
  }
  return {all.begin(), all.end()};
}

}  // namespace segflow::reference
