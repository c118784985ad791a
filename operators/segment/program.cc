#include "operators/segment/program.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <utility>

#include "operators/predicate.h"
#include "operators/segment/program_impl.h"
#include "operators/segment/user_state.h"

namespace segflow {

bool AllPredicatesHold(const std::vector<std::pair<std::string, Predicate>>& preds,
                       const Value& object) {
  for (const auto& [path, pred] : preds) {
    if (!EvaluatePredicate(pred, object.FindPath(path))) return false;
  }
  return true;
}

bool ConsentGranted(const ProgramPlan& plan, const UserStateData& s) {
  if (plan.consent_event.empty()) return true;
  return s.consent < 0 ? plan.consent_default : s.consent == 1;
}

bool LeafHolds(const ProgramPlan& plan, const UserStateData& s, uint32_t i, int64_t t) {
  const LeafPlan& p = plan.leaves[i];
  const LeafState& st = s.leaves[i];
  switch (p.kind) {
    case Condition::Kind::kCount:
      return std::get<CountState>(st).Holds(p);
    case Condition::Kind::kSum:
    case Condition::Kind::kAvg:
      return std::get<SumState>(st).Holds(p);
    case Condition::Kind::kMin:
    case Condition::Kind::kMax:
      return std::get<ExtremeState>(st).Holds(p);
    case Condition::Kind::kDistinct:
      return std::get<DistinctState>(st).Holds(p);
    case Condition::Kind::kAbsence:
      return std::get<AbsenceState>(st).Holds(p, t);
    case Condition::Kind::kSequence:
      return std::get<SequenceState>(st).Holds(p, t);
    case Condition::Kind::kProfile:
      return AllPredicatesHold(p.profile, s.profile);
    case Condition::Kind::kSegment:
      return s.members[p.segment].member;
    default:
      return false;
  }
}

namespace {

bool AnyBit(const MatchBits& bits) {
  return std::any_of(bits.begin(), bits.end(), [](uint64_t w) { return w != 0; });
}

// Distinct key (spec §9): numbers by numeric value (1 and 1.0 one key), strings apart from
// numbers; arrays and objects have none.
bool DistinctKey(const Value& v, std::string* key) {
  char buf[32];
  switch (v.kind()) {
    case Value::Kind::kNull:
      *key = "n";
      return true;
    case Value::Kind::kBool:
      *key = v.as_bool() ? "b1" : "b0";
      return true;
    case Value::Kind::kInt:
      std::snprintf(buf, sizeof buf, "i%lld", static_cast<long long>(v.as_int()));
      *key = buf;
      return true;
    case Value::Kind::kDouble: {
      const double d = v.as_double();
      if (std::trunc(d) == d && d >= -0x1p63 && d < 0x1p63) {
        std::snprintf(buf, sizeof buf, "i%lld", static_cast<long long>(d));
      } else {
        std::snprintf(buf, sizeof buf, "d%016llx",
                      static_cast<unsigned long long>(std::bit_cast<uint64_t>(d)));
      }
      *key = buf;
      return true;
    }
    case Value::Kind::kString:
      key->assign("s");
      key->append(v.as_string());
      return true;
    default:
      return false;
  }
}

void ApplyProfile(const ProjectedEvent& e, UserStateData* s) {
  if (!e.is_profile || !e.profile_update.is_object()) return;
  ValueObject& fields = s->profile.mutable_object();
  for (const auto& [name, value] : e.profile_update.as_object()) {
    size_t i = 0;
    while (i < fields.size() && fields[i].first != name) ++i;
    if (i == fields.size()) {
      fields.emplace_back(name, value);
      s->profile_stamps.emplace_back(e.ts, e.seq);
    } else if (std::make_pair(e.ts, e.seq) > s->profile_stamps[i]) {
      fields[i].second = value;
      s->profile_stamps[i] = {e.ts, e.seq};
    } else {
      continue;
    }
    ++s->profile_version;
  }
}

void ApplyConsent(const ProjectedEvent& e, UserStateData* s) {
  if (e.consent < 0) return;  // not a consent event, or its field is not a boolean
  if (s->consent >= 0 && std::make_pair(e.ts, e.seq) <= std::make_pair(s->consent_ts, s->consent_seq)) {
    return;
  }
  s->consent = e.consent;
  s->consent_ts = e.ts;
  s->consent_seq = e.seq;
}

class InstantEvaluator {
 public:
  InstantEvaluator(const ProgramPlan& plan, UserStateData* s, int64_t t) : plan_(plan), s_(s), t_(t) {}

  bool Eval(uint32_t node) {
    const NodePlan& n = plan_.nodes[node];
    switch (n.kind) {
      case Condition::Kind::kAll:
        for (uint32_t c : n.children) {
          if (!Eval(c)) return false;
        }
        return true;
      case Condition::Kind::kAny:
        for (uint32_t c : n.children) {
          if (Eval(c)) return true;
        }
        return false;
      case Condition::Kind::kNot:
        return !Eval(n.children[0]);
      default:
        return Leaf(n.leaf);
    }
  }

 private:
  bool Leaf(uint32_t i) {
    const LeafPlan& p = plan_.leaves[i];
    if (p.kind != Condition::Kind::kProfile) return LeafHolds(plan_, *s_, i, t_);
    // Profile truth is cached per profile version.
    auto& cache = std::get<ProfileLeafState>(s_->leaves[i]);
    if (cache.version != s_->profile_version) {
      cache.holds = AllPredicatesHold(p.profile, s_->profile);
      cache.version = s_->profile_version;
    }
    return cache.holds;
  }

  const ProgramPlan& plan_;
  UserStateData* s_;
  int64_t t_;
};

void ApplyLeaf(const LeafPlan& p, int64_t t, InstantEvents events, LeafState* st) {
  std::visit(
      [&](auto& s) {
        using S = std::decay_t<decltype(s)>;
        if constexpr (!std::is_same_v<S, std::monostate> && !std::is_same_v<S, ProfileLeafState>) {
          s.Apply(p, t, events);
        }
      },
      *st);
}

int64_t LeafNextChange(const LeafPlan& p, int64_t t, const LeafState& st) {
  return std::visit(
      [&](const auto& s) -> int64_t {
        using S = std::decay_t<decltype(s)>;
        if constexpr (!std::is_same_v<S, std::monostate> && !std::is_same_v<S, ProfileLeafState>) {
          return s.NextChange(p, t);
        } else {
          return kNoTime;
        }
      },
      st);
}

// Names of the top-level props each event type's projection reads (see PropsNeeded).
std::shared_ptr<const log::PropsProjection> BuildPropsNeeded(const ProgramPlan& plan) {
  auto top = [](const std::string& path) { return path.substr(0, path.find('.')); };
  auto add = [](std::vector<std::string>* names, std::string name) {
    if (std::find(names->begin(), names->end(), name) == names->end())
      names->push_back(std::move(name));
  };
  // What the matchers `ms` read: their `where` paths, and the fields of the extractors
  // that run when one of them holds.
  auto add_matchers = [&](const std::vector<uint32_t>& ms, std::vector<std::string>* names) {
    for (uint32_t m : ms) {
      for (const auto& [path, pred] : plan.matchers[m].where) add(names, top(path));
    }
    for (const Extractor& x : plan.extractors) {
      for (uint32_t m : x.matchers) {
        if (std::find(ms.begin(), ms.end(), m) != ms.end()) {
          add(names, top(x.field));
          break;
        }
      }
    }
  };
  auto p = std::make_shared<log::PropsProjection>();
  add_matchers(plan.any_type_matchers, &p->other_types);
  auto for_type = [&](const std::string& type) -> std::vector<std::string>& {
    auto [it, inserted] = p->by_type.try_emplace(type, p->other_types);
    return it->second;
  };
  for (const auto& [type, ms] : plan.matchers_by_type) add_matchers(ms, &for_type(type));
  if (!plan.profile_event.empty()) {
    for (const std::string& k : plan.profile_keys) add(&for_type(plan.profile_event), k);
  }
  if (!plan.consent_event.empty()) add(&for_type(plan.consent_event), top(plan.consent_field));
  return p;
}

}  // namespace

int64_t ComputeNextTimer(const ProgramPlan& plan, const UserStateData& s, int64_t t) {
  int64_t next = kNoTime;
  auto consider = [&](int64_t x) {
    if (x != kNoTime && x > t && (next == kNoTime || x < next)) next = x;
  };
  for (size_t i = 0; i < plan.leaves.size(); ++i) consider(LeafNextChange(plan.leaves[i], t, s.leaves[i]));
  consider(s.recheck_at);
  for (size_t i = 0; i < plan.segments.size(); ++i) {
    const SegmentPlan& sp = plan.segments[i];
    const MemberState& m = s.members[i];
    if (m.member && sp.duration_ms) consider(SatAdd(m.since, *sp.duration_ms));
    if (!m.member && m.armed && m.last_c) consider(m.cooldown_until);
  }
  return next;
}

SegmentProgram::SegmentProgram(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SegmentProgram::~SegmentProgram() = default;

Result<std::shared_ptr<const SegmentProgram>> SegmentProgram::Compile(const JobSpec& job) {
  auto plan = CompilePlan(job);
  if (!plan.ok()) return plan.status();
  auto impl = std::make_unique<Impl>();
  impl->job = job;
  impl->plan = std::move(plan).value();
  impl->props_needed = BuildPropsNeeded(impl->plan);
  return std::shared_ptr<const SegmentProgram>(new SegmentProgram(std::move(impl)));
}

const JobSpec& SegmentProgram::job() const { return impl_->job; }

std::shared_ptr<const log::PropsProjection> SegmentProgram::PropsNeeded() const {
  return impl_->props_needed;
}

void SegmentProgram::Project(const Event& event, uint64_t seq, ProjectedEvent* out) const {
  const ProgramPlan& plan = impl_->plan;
  out->ts = event.ts;
  out->seq = seq;
  out->match_bits.assign(plan.match_words, 0);
  auto test = [&](uint32_t i) {
    const EventMatch& m = plan.matchers[i];
    if (AllPredicatesHold(m.where, event.props)) out->match_bits[i / 64] |= uint64_t{1} << (i % 64);
  };
  if (auto it = plan.matchers_by_type.find(event.type); it != plan.matchers_by_type.end()) {
    for (uint32_t i : it->second) test(i);
  }
  for (uint32_t i : plan.any_type_matchers) test(i);

  out->fields.clear();
  if (!plan.extractors.empty() && AnyBit(out->match_bits)) {
    out->fields.resize(plan.extractors.size());
    for (size_t x = 0; x < plan.extractors.size(); ++x) {
      const Extractor& ex = plan.extractors[x];
      bool wanted = false;
      for (uint32_t m : ex.matchers) wanted |= ProgramPlan::Bit(out->match_bits, m);
      if (!wanted) continue;
      const Value* v = event.props.FindPath(ex.field);
      if (v == nullptr) continue;
      ProjectedEvent::FieldValue& f = out->fields[x];
      if (ex.numeric) {
        if (v->is_number()) {
          f.kind = ProjectedEvent::FieldValue::Kind::kNumber;
          f.number = v->as_number();
        }
      } else if (DistinctKey(*v, &f.key)) {
        f.kind = ProjectedEvent::FieldValue::Kind::kKey;
      }
    }
    // Trailing missing values carry nothing.
    while (!out->fields.empty() &&
           out->fields.back().kind == ProjectedEvent::FieldValue::Kind::kMissing) {
      out->fields.pop_back();
    }
  }

  out->is_profile = false;
  out->profile_update = Value();
  if (!plan.profile_event.empty() && event.type == plan.profile_event && event.props.is_object()) {
    ValueObject update;
    for (const auto& [name, value] : event.props.as_object()) {
      if (std::binary_search(plan.profile_keys.begin(), plan.profile_keys.end(), name)) {
        update.emplace_back(name, value);
      }
    }
    if (!update.empty()) {
      out->is_profile = true;
      out->profile_update = Value::Object(std::move(update));
    }
  }

  out->consent = -1;
  if (!plan.consent_event.empty() && event.type == plan.consent_event) {
    const Value* v = event.props.FindPath(plan.consent_field);
    if (v != nullptr && v->is_bool()) out->consent = v->as_bool() ? 1 : 0;
  }
}

std::unique_ptr<UserState> SegmentProgram::NewUserState() const {
  const ProgramPlan& plan = impl_->plan;
  auto s = std::make_unique<UserStateData>();
  s->leaves.reserve(plan.leaves.size());
  for (const LeafPlan& p : plan.leaves) s->leaves.push_back(NewLeafState(p));
  s->members.resize(plan.segments.size());
  return s;
}

void SegmentProgram::AddEvent(UserState* opaque, ProjectedEvent&& event) const {
  UserStateData* state = static_cast<UserStateData*>(opaque);
  if (state->last_instant != kNoTime && event.ts <= state->last_instant) return;  // contract
  TimeQueue<ProjectedEvent>& pending = state->pending;
  const bool relevant = AnyBit(event.match_bits) || event.is_profile || event.consent >= 0;
  if (!relevant) {
    // Such an event changes nothing but the user's existence (spec §2): keep it only if
    // it is the user's earliest.
    const bool exists = state->last_instant != kNoTime ||
                        (!pending.empty() && pending.front().ts <= event.ts);
    if (exists) return;
  }
  size_t pos = pending.size();
  while (pos > 0 && pending[pos - 1].ts > event.ts) --pos;
  pending.insert(pos, std::move(event));
}

std::optional<int64_t> SegmentProgram::NextInstant(const UserState& opaque) const {
  const auto& state = static_cast<const UserStateData&>(opaque);
  int64_t next = state.next_timer;
  if (!state.pending.empty() && (next == kNoTime || state.pending.front().ts < next)) {
    next = state.pending.front().ts;
  }
  if (next == kNoTime) return std::nullopt;
  return next;
}

void SegmentProgram::ProcessInstant(UserState* opaque, int64_t t,
                                    std::vector<MembershipChange>* out) const {
  UserStateData* s = static_cast<UserStateData*>(opaque);
  const ProgramPlan& plan = impl_->plan;
  size_t n = 0;
  while (n < s->pending.size() && s->pending[n].ts <= t) ++n;
  const InstantEvents events = n == 0 ? InstantEvents() : InstantEvents(&s->pending.front(), n);

  for (const ProjectedEvent& e : events) {
    ApplyProfile(e, s);
    ApplyConsent(e, s);
    s->last_seq = std::max(s->last_seq, e.seq);
  }
  for (size_t i = 0; i < plan.leaves.size(); ++i) ApplyLeaf(plan.leaves[i], t, events, &s->leaves[i]);

  const size_t first_change = out->size();
  const bool consent = ConsentGranted(plan, *s);
  InstantEvaluator eval(plan, s, t);
  for (uint32_t seg : plan.order) {
    const SegmentPlan& sp = plan.segments[seg];
    MemberState& m = s->members[seg];
    const bool c = consent && eval.Eval(sp.root);
    bool exit_event = false;
    if (sp.exit_on != kNoIndex) {
      for (const ProjectedEvent& e : events) exit_event |= ProgramPlan::Bit(e.match_bits, sp.exit_on);
    }
    const int64_t cooldown = sp.cooldown_ms.value_or(0);
    if (m.member) {
      const bool expired = sp.duration_ms && t >= SatAdd(m.since, *sp.duration_ms);
      if (!c || expired || exit_event) {
        m.member = false;
        m.cooldown_until = SatAdd(t, cooldown);
        m.armed = !c;
        out->push_back({seg, false, t, s->last_seq});
      }
    } else if (!c) {
      m.armed = true;
    } else if (m.armed && t >= m.cooldown_until) {
      m.since = t;
      if (exit_event || (sp.duration_ms && *sp.duration_ms == 0)) {
        // Would enter and exit at t (spec §9 "Same instant"): no record, stays out.
        m.cooldown_until = SatAdd(t, cooldown);
        m.armed = false;
      } else {
        m.member = true;
        out->push_back({seg, true, t, s->last_seq});
      }
    }
    m.last_c = c;
  }

  // Evaluated in dependency order, reported in segment (file) order.
  std::sort(out->begin() + static_cast<ptrdiff_t>(first_change), out->end(),
            [](const MembershipChange& a, const MembershipChange& b) { return a.segment < b.segment; });
  for (size_t i = 0; i < n; ++i) s->pending.pop_front();
  s->last_instant = t;
  if (s->recheck_at <= t) s->recheck_at = kNoTime;
  s->next_timer = ComputeNextTimer(plan, *s, t);
}

bool SegmentProgram::IsMember(const UserState& opaque, uint32_t segment) const {
  const auto& state = static_cast<const UserStateData&>(opaque);
  return segment < state.members.size() && state.members[segment].member;
}

}  // namespace segflow
