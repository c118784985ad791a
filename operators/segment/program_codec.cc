// Binary persistence of UserState (format version 2; 1 is read too) and ProjectedEvent
// (format version 1).
// Every length is checked against the remaining input; any mismatch with the program
// (leaf kinds, counts) or broken invariant (unsorted times) is Corruption.
#include <cmath>

#include "operators/segment/byte_codec.h"
#include "operators/segment/program.h"
#include "operators/segment/program_impl.h"
#include "operators/segment/user_state.h"

namespace segflow {
namespace {

constexpr uint8_t kStateFormat = 2;  // 2 added recheck_at and last_seq
constexpr uint8_t kEventFormat = 1;

Status Corrupt(const std::string& what) {
  return Status::Corruption("segment user state: " + what);
}

void SerializeLeaf(const LeafState& st, std::string* out) {
  std::visit(
      [&](const auto& s) {
        using S = std::decay_t<decltype(s)>;
        if constexpr (!std::is_same_v<S, std::monostate> && !std::is_same_v<S, ProfileLeafState>) {
          s.Serialize(out);
        }
      },
      st);
}

bool DeserializeLeaf(const LeafPlan& p, ByteReader* in, LeafState* st) {
  return std::visit(
      [&](auto& s) -> bool {
        using S = std::decay_t<decltype(s)>;
        if constexpr (!std::is_same_v<S, std::monostate> && !std::is_same_v<S, ProfileLeafState>) {
          return s.Deserialize(p, in);
        } else {
          return true;
        }
      },
      *st);
}

}  // namespace

void SegmentProgram::SerializeEvent(const ProjectedEvent& e, std::string* out) {
  out->push_back(static_cast<char>(kEventFormat));
  PutSignedVarint(e.ts, out);
  PutVarint(e.seq, out);
  PutVarint(e.match_bits.size(), out);
  for (uint64_t w : e.match_bits) PutVarint(w, out);
  PutVarint(e.fields.size(), out);
  for (const ProjectedEvent::FieldValue& f : e.fields) {
    out->push_back(static_cast<char>(f.kind));
    if (f.kind == ProjectedEvent::FieldValue::Kind::kNumber) PutDouble(f.number, out);
    if (f.kind == ProjectedEvent::FieldValue::Kind::kKey) PutBytes(f.key, out);
  }
  out->push_back(e.is_profile ? 1 : 0);
  if (e.is_profile) PutValue(e.profile_update, out);
  out->push_back(static_cast<char>(e.consent + 1));
}

Status SegmentProgram::DeserializeEvent(std::string_view* data, ProjectedEvent* out) {
  ByteReader in(*data);
  auto bad = [](const char* what) { return Status::Corruption(std::string("projected event: ") + what); };
  uint8_t format;
  if (!in.GetByte(&format)) return bad("truncated");
  if (format != kEventFormat) return bad("unknown format version");
  size_t n;
  if (!in.GetSignedVarint(&out->ts) || !in.GetVarint(&out->seq) || !in.GetCount(1, &n)) {
    return bad("truncated header");
  }
  out->match_bits.resize(n);
  for (uint64_t& w : out->match_bits) {
    if (!in.GetVarint(&w)) return bad("truncated match bits");
  }
  if (!in.GetCount(1, &n)) return bad("truncated fields");
  out->fields.resize(n);
  for (ProjectedEvent::FieldValue& f : out->fields) {
    uint8_t kind;
    if (!in.GetByte(&kind) || kind > 2) return bad("bad field kind");
    f.kind = static_cast<ProjectedEvent::FieldValue::Kind>(kind);
    f.number = 0;
    f.key.clear();
    if (f.kind == ProjectedEvent::FieldValue::Kind::kNumber &&
        (!in.GetDouble(&f.number) || !std::isfinite(f.number))) {
      return bad("bad number field");
    }
    if (f.kind == ProjectedEvent::FieldValue::Kind::kKey && !in.GetBytes(&f.key)) {
      return bad("truncated key field");
    }
  }
  uint8_t is_profile;
  if (!in.GetByte(&is_profile) || is_profile > 1) return bad("bad profile flag");
  out->is_profile = is_profile == 1;
  out->profile_update = Value();
  if (out->is_profile && (!in.GetValue(&out->profile_update) || !out->profile_update.is_object())) {
    return bad("bad profile update");
  }
  uint8_t consent;
  if (!in.GetByte(&consent) || consent > 2) return bad("bad consent");
  out->consent = static_cast<int8_t>(static_cast<int>(consent) - 1);
  *data = in.remaining();
  return Status::OK();
}

void SegmentProgram::Serialize(const UserState& opaque, std::string* out) const {
  const auto& s = static_cast<const UserStateData&>(opaque);
  const ProgramPlan& plan = impl_->plan;
  out->push_back(static_cast<char>(kStateFormat));
  PutVarint(plan.leaves.size(), out);
  PutVarint(plan.segments.size(), out);
  PutSignedVarint(s.last_instant, out);
  out->push_back(static_cast<char>(s.consent + 1));
  PutSignedVarint(s.consent_ts, out);
  PutVarint(s.consent_seq, out);
  PutSignedVarint(s.recheck_at, out);
  PutVarint(s.last_seq, out);
  const ValueObject& profile = s.profile.as_object();
  PutVarint(profile.size(), out);
  for (size_t i = 0; i < profile.size(); ++i) {
    PutBytes(profile[i].first, out);
    PutValue(profile[i].second, out);
    PutSignedVarint(s.profile_stamps[i].first, out);
    PutVarint(s.profile_stamps[i].second, out);
  }
  for (const MemberState& m : s.members) {
    out->push_back(static_cast<char>((m.member ? 1 : 0) | (m.armed ? 2 : 0) | (m.last_c ? 4 : 0)));
    PutSignedVarint(m.since, out);
    PutSignedVarint(m.cooldown_until, out);
  }
  for (size_t i = 0; i < plan.leaves.size(); ++i) {
    out->push_back(static_cast<char>(plan.leaves[i].kind));
    SerializeLeaf(s.leaves[i], out);
  }
  PutVarint(s.pending.size(), out);
  for (const ProjectedEvent& e : s.pending) SerializeEvent(e, out);
}

Status SegmentProgram::Deserialize(std::string_view data, std::unique_ptr<UserState>* out) const {
  const ProgramPlan& plan = impl_->plan;
  ByteReader in(data);
  uint8_t format;
  if (!in.GetByte(&format)) return Corrupt("empty");
  if (format != kStateFormat && format != 1) return Corrupt("unknown format version " + std::to_string(format));
  uint64_t leaves, segments;
  if (!in.GetVarint(&leaves) || !in.GetVarint(&segments)) return Corrupt("truncated header");
  if (leaves != plan.leaves.size() || segments != plan.segments.size()) {
    return Corrupt("written by a different program (leaf or segment count differs)");
  }
  std::unique_ptr<UserStateData> s(static_cast<UserStateData*>(NewUserState().release()));
  uint8_t consent;
  if (!in.GetSignedVarint(&s->last_instant) || !in.GetByte(&consent) || consent > 2 ||
      !in.GetSignedVarint(&s->consent_ts) || !in.GetVarint(&s->consent_seq)) {
    return Corrupt("bad header");
  }
  if (format >= 2 && (!in.GetSignedVarint(&s->recheck_at) || !in.GetVarint(&s->last_seq))) {
    return Corrupt("bad header");
  }
  if (s->recheck_at != kNoTime && s->last_instant != kNoTime && s->recheck_at <= s->last_instant) {
    return Corrupt("recheck instant not after the last instant");
  }
  s->consent = static_cast<int8_t>(static_cast<int>(consent) - 1);
  size_t n;
  if (!in.GetCount(4, &n)) return Corrupt("bad profile size");
  ValueObject& profile = s->profile.mutable_object();
  for (size_t i = 0; i < n; ++i) {
    std::string name;
    Value v;
    int64_t ts;
    uint64_t seq;
    if (!in.GetBytes(&name) || !in.GetValue(&v) || !in.GetSignedVarint(&ts) || !in.GetVarint(&seq)) {
      return Corrupt("bad profile property");
    }
    profile.emplace_back(std::move(name), std::move(v));
    s->profile_stamps.emplace_back(ts, seq);
  }
  for (MemberState& m : s->members) {
    uint8_t flags;
    if (!in.GetByte(&flags) || flags > 7 || !in.GetSignedVarint(&m.since) ||
        !in.GetSignedVarint(&m.cooldown_until)) {
      return Corrupt("bad membership");
    }
    m.member = (flags & 1) != 0;
    m.armed = (flags & 2) != 0;
    m.last_c = (flags & 4) != 0;
  }
  for (size_t i = 0; i < plan.leaves.size(); ++i) {
    uint8_t kind;
    if (!in.GetByte(&kind) || kind != static_cast<uint8_t>(plan.leaves[i].kind)) {
      return Corrupt("leaf " + std::to_string(i) + " has the wrong kind");
    }
    if (!DeserializeLeaf(plan.leaves[i], &in, &s->leaves[i])) {
      return Corrupt("bad state of leaf " + std::to_string(i));
    }
  }
  if (!in.GetCount(1, &n)) return Corrupt("bad pending count");
  std::string_view rest = in.remaining();
  for (size_t i = 0; i < n; ++i) {
    ProjectedEvent e;
    Status st = DeserializeEvent(&rest, &e);
    if (!st.ok()) return Corrupt("pending event " + std::to_string(i) + ": " + st.message());
    if (e.match_bits.size() > plan.match_words) return Corrupt("pending event has unknown matchers");
    if ((s->last_instant != kNoTime && e.ts <= s->last_instant) ||
        (!s->pending.empty() && e.ts < s->pending.back().ts)) {
      return Corrupt("pending events out of order");
    }
    s->pending.push_back(std::move(e));
  }
  if (!rest.empty()) return Corrupt("trailing bytes");
  if (s->last_instant != kNoTime) s->next_timer = ComputeNextTimer(plan, *s, s->last_instant);
  *out = std::move(s);
  return Status::OK();
}

}  // namespace segflow
