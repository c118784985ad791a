#include "operators/segment/state_migration.h"

#include <algorithm>
#include <limits>
#include <map>

#include "operators/segment/program_impl.h"
#include "operators/segment/user_state.h"

namespace segflow {
namespace {

// The leaves of the condition tree at `node`, in compile (depth-first) order.
void LeavesOf(const ProgramPlan& plan, uint32_t node, std::vector<uint32_t>* out) {
  const NodePlan& n = plan.nodes[node];
  if (n.leaf != kNoIndex) out->push_back(n.leaf);
  for (uint32_t c : n.children) LeavesOf(plan, c, out);
}

uint32_t SegmentIndex(const JobSpec& job, const std::string& id) {
  for (size_t i = 0; i < job.segments.size(); ++i) {
    if (job.segments[i].id == id) return static_cast<uint32_t>(i);
  }
  return kNoIndex;
}

}  // namespace

Status StateMigration::MapLeaves(const SegmentProgram& to, const SegmentProgram& other, const std::string& id,
                                 uint32_t* to_index, uint32_t* other_index, std::vector<uint32_t>* leaf_map) {
  const ProgramPlan& a = other.impl_->plan;
  const ProgramPlan& b = to.impl_->plan;
  const uint32_t i = SegmentIndex(to.job(), id);
  const uint32_t j = SegmentIndex(other.job(), id);
  if (i == kNoIndex || j == kNoIndex) {
    return Status::InvalidArgument("state migration: segment \"" + id + "\" is missing");
  }
  std::vector<uint32_t> new_leaves, old_leaves;
  LeavesOf(b, b.segments[i].root, &new_leaves);
  LeavesOf(a, a.segments[j].root, &old_leaves);
  bool same = new_leaves.size() == old_leaves.size();
  for (size_t k = 0; same && k < new_leaves.size(); ++k) {
    same = b.leaves[new_leaves[k]].kind == a.leaves[old_leaves[k]].kind;
  }
  if (!same) {
    return Status::InvalidArgument("state migration: segment \"" + id +
                                   "\" compiled to another shape than the savepoint's");
  }
  *to_index = i;
  *other_index = j;
  for (size_t k = 0; k < new_leaves.size(); ++k) (*leaf_map)[new_leaves[k]] = old_leaves[k];
  return Status::OK();
}

Result<std::unique_ptr<StateMigration>> StateMigration::Plan(
    std::shared_ptr<const SegmentProgram> from, std::shared_ptr<const SegmentProgram> to,
    const std::vector<std::string>& kept_ids) {
  const ProgramPlan& a = from->impl_->plan;
  const ProgramPlan& b = to->impl_->plan;
  std::unique_ptr<StateMigration> m(new StateMigration());
  m->segment_from_.assign(b.segments.size(), kNoIndex);
  m->leaf_from_.assign(b.leaves.size(), kNoIndex);
  for (const std::string& id : kept_ids) {
    uint32_t i = 0, j = 0;
    SEGFLOW_RETURN_IF_ERROR(MapLeaves(*to, *from, id, &i, &j, &m->leaf_from_));
    m->segment_from_[i] = j;
  }
  for (uint32_t i = 0; i < b.segments.size(); ++i) {
    m->member_from_.push_back(SegmentIndex(from->job(), to->job().segments[i].id));
  }
  m->restarted_ =
      static_cast<size_t>(std::count(m->segment_from_.begin(), m->segment_from_.end(), kNoIndex));

  std::map<std::string, uint32_t> old_matchers;
  for (uint32_t k = 0; k < a.matchers.size(); ++k) old_matchers[MatchKey(a.matchers[k])] = k;
  for (const EventMatch& em : b.matchers) {
    auto it = old_matchers.find(MatchKey(em));
    m->matcher_from_.push_back(it == old_matchers.end() ? kNoIndex : it->second);
  }
  // An extractor reads one field as a number or a key; the matchers gating it may differ
  // between programs, but a kept leaf's matcher gates it in both.
  for (const Extractor& e : b.extractors) {
    uint32_t from_index = kNoIndex;
    for (uint32_t k = 0; k < a.extractors.size(); ++k) {
      if (a.extractors[k].field == e.field && a.extractors[k].numeric == e.numeric) from_index = k;
    }
    m->extractor_from_.push_back(from_index);
  }
  m->from_ = std::move(from);
  m->to_ = std::move(to);
  return m;
}

Result<std::unique_ptr<StateMigration>> StateMigration::PlanMerge(
    std::shared_ptr<const SegmentProgram> from, std::shared_ptr<const SegmentProgram> to,
    const std::vector<std::string>& kept_ids, std::shared_ptr<const SegmentProgram> merge,
    const std::vector<std::string>& merged_ids) {
  // The backfill ran the new job file: its states have `to`'s layout, so a user only it
  // saw is taken as is.
  const JobSpec& tj = to->job();
  const JobSpec& mj = merge->job();
  bool same_segments = tj.segments.size() == mj.segments.size();
  for (size_t i = 0; same_segments && i < tj.segments.size(); ++i) same_segments = tj.segments[i].id == mj.segments[i].id;
  if (!same_segments) {
    return Status::InvalidArgument("state merge: the backfill's job file defines other segments than the new one");
  }
  const ProgramPlan& b = to->impl_->plan;
  const ProgramPlan& c = merge->impl_->plan;
  if (b.leaves.size() != c.leaves.size() || b.matchers.size() != c.matchers.size() ||
      b.extractors.size() != c.extractors.size()) {
    return Status::InvalidArgument("state merge: the backfill's job file compiles to another program than the new one");
  }
  auto m = Plan(std::move(from), std::move(to), kept_ids);
  if (!m.ok()) return m.status();
  StateMigration& sm = **m;
  sm.merge_segment_from_.assign(b.segments.size(), kNoIndex);
  sm.merge_leaf_from_.assign(b.leaves.size(), kNoIndex);
  for (const std::string& id : merged_ids) {
    uint32_t i = 0, j = 0;
    SEGFLOW_RETURN_IF_ERROR(MapLeaves(*sm.to_, *merge, id, &i, &j, &sm.merge_leaf_from_));
    if (sm.segment_from_[i] != kNoIndex) {
      return Status::InvalidArgument("state merge: segment \"" + id + "\" is both kept and merged");
    }
    sm.merge_segment_from_[i] = j;
  }
  size_t restarted = 0;
  for (size_t i = 0; i < b.segments.size(); ++i) {
    restarted += sm.segment_from_[i] == kNoIndex && sm.merge_segment_from_[i] == kNoIndex;
  }
  sm.restarted_ = restarted;
  sm.merge_ = std::move(merge);
  return m;
}

void StateMigration::Carry(UserStateData& o, int64_t resume_at, UserStateData& s) const {
  const ProgramPlan& b = to_->impl_->plan;

  s.last_instant = o.last_instant;
  s.last_seq = o.last_seq;
  s.consent = o.consent;
  s.consent_ts = o.consent_ts;
  s.consent_seq = o.consent_seq;
  const ValueObject& old_profile = o.profile.as_object();
  ValueObject& profile = s.profile.mutable_object();
  for (size_t i = 0; i < old_profile.size(); ++i) {
    if (!b.profile_event.empty() &&
        std::binary_search(b.profile_keys.begin(), b.profile_keys.end(), old_profile[i].first)) {
      profile.emplace_back(old_profile[i].first, old_profile[i].second);
      s.profile_stamps.push_back(o.profile_stamps[i]);
    }
  }
  s.profile_version = o.profile_version + 1;
  for (size_t i = 0; i < s.members.size(); ++i) {
    if (member_from_[i] != kNoIndex) s.members[i] = o.members[member_from_[i]];
  }
  for (size_t i = 0; i < s.leaves.size(); ++i) {
    if (leaf_from_[i] != kNoIndex) s.leaves[i] = std::move(o.leaves[leaf_from_[i]]);
  }
  for (size_t i = 0; i < o.pending.size(); ++i) {
    ProjectedEvent& e = o.pending[i];
    ProjectedEvent n;
    n.ts = e.ts;
    n.seq = e.seq;
    n.match_bits.resize(b.match_words);
    for (uint32_t k = 0; k < matcher_from_.size(); ++k) {
      if (matcher_from_[k] != kNoIndex && ProgramPlan::Bit(e.match_bits, matcher_from_[k])) {
        n.match_bits[k / 64] |= uint64_t{1} << (k % 64);
      }
    }
    n.fields.resize(extractor_from_.size());
    for (size_t k = 0; k < extractor_from_.size(); ++k) {
      if (extractor_from_[k] != kNoIndex && extractor_from_[k] < e.fields.size()) {
        n.fields[k] = std::move(e.fields[extractor_from_[k]]);
      }
    }
    n.is_profile = e.is_profile && !b.profile_event.empty();
    if (n.is_profile) n.profile_update = std::move(e.profile_update);
    n.consent = b.consent_event.empty() ? -1 : e.consent;
    s.pending.push_back(std::move(n));
  }
  if (restarted_ > 0 && s.last_instant != kNoTime) {
    // Instants before resume_at are evaluated; the restarted segments' conditions apply
    // from there (a user with no evaluated instant is evaluated at its first event anyway).
    s.recheck_at = std::max(resume_at, s.last_instant + 1);
  } else {
    s.recheck_at = o.recheck_at;
  }
  if (s.last_instant != kNoTime) s.next_timer = ComputeNextTimer(b, s, s.last_instant);
}

Status StateMigration::Migrate(std::string_view from_state, int64_t resume_at, std::string* out) const {
  std::unique_ptr<UserState> decoded;
  SEGFLOW_RETURN_IF_ERROR(from_->Deserialize(from_state, &decoded));
  std::unique_ptr<UserState> fresh = to_->NewUserState();
  Carry(static_cast<UserStateData&>(*decoded), resume_at, static_cast<UserStateData&>(*fresh));
  to_->Serialize(*fresh, out);
  return Status::OK();
}

Status StateMigration::Merge(std::string_view from_state, std::string_view merge_state, int64_t resume_at,
                             std::string* out, std::vector<MembershipChange>* switched, bool* misaligned) const {
  *misaligned = false;
  if (merge_ == nullptr) return Status::InvalidArgument("state migration: not planned as a merge");
  std::unique_ptr<UserState> merged_decoded;
  UserStateData* m = nullptr;
  if (!merge_state.empty()) {
    SEGFLOW_RETURN_IF_ERROR(merge_->Deserialize(merge_state, &merged_decoded));
    m = static_cast<UserStateData*>(merged_decoded.get());
  }
  auto report = [&](uint32_t segment, bool entered) {
    if (resume_at == kNoTime) return;  // nothing evaluated yet: nobody can be a member
    // Both states are as of the last evaluated instant: the switch happens there, after
    // every change the old version made at it (the largest position).
    MembershipChange c;
    c.segment = segment;
    c.entered = entered;
    c.at = resume_at - 1;
    c.pos = std::numeric_limits<uint64_t>::max();
    switched->push_back(c);
  };
  if (from_state.empty()) {
    // Only the backfill saw the user: its state (same layout as `to`), announced whole.
    if (m == nullptr) return Status::InvalidArgument("state merge: neither state given");
    for (uint32_t i = 0; i < m->members.size(); ++i) {
      if (m->members[i].member) report(i, true);
    }
    to_->Serialize(*m, out);
    return Status::OK();
  }
  std::unique_ptr<UserState> decoded;
  SEGFLOW_RETURN_IF_ERROR(from_->Deserialize(from_state, &decoded));
  auto& o = static_cast<UserStateData&>(*decoded);
  std::vector<bool> was_member(to_->job().segments.size(), false);
  for (size_t i = 0; i < was_member.size(); ++i) {
    if (member_from_[i] != kNoIndex) was_member[i] = o.members[member_from_[i]].member;
  }
  std::unique_ptr<UserState> fresh = to_->NewUserState();
  auto& s = static_cast<UserStateData&>(*fresh);
  Carry(o, resume_at, s);
  const std::unique_ptr<UserState> blank = to_->NewUserState();
  const auto& empty = static_cast<const UserStateData&>(*blank);
  if (m != nullptr) {
    // Both runs evaluated every instant below the same watermark, so both hold exactly the
    // events at or after it as pending — each the ones its program needs. The backfill's
    // are the new program's (an event only a changed segment matches would be missing from
    // the old run's, having been dropped there as irrelevant). Its last instant may be
    // later than the old run's where the new program found more events relevant.
    s.pending = std::move(m->pending);
    if (m->last_instant > s.last_instant) {
      *misaligned = m->last_instant != kNoTime && s.last_instant != kNoTime;
      s.last_instant = m->last_instant;
    }
    s.last_seq = std::max(s.last_seq, m->last_seq);
  }
  for (size_t i = 0; i < s.members.size(); ++i) {
    if (merge_segment_from_[i] == kNoIndex) continue;
    // The backfill's membership, or (it never saw the user) a new user's.
    s.members[i] = m != nullptr ? m->members[merge_segment_from_[i]] : empty.members[i];
    if (s.members[i].member != was_member[i]) report(static_cast<uint32_t>(i), s.members[i].member);
  }
  for (size_t i = 0; i < s.leaves.size(); ++i) {
    if (merge_leaf_from_[i] == kNoIndex) continue;
    s.leaves[i] = m != nullptr ? std::move(m->leaves[merge_leaf_from_[i]]) : empty.leaves[i];
  }
  if (m == nullptr && s.last_instant != kNoTime) s.recheck_at = std::max(resume_at, s.last_instant + 1);
  const ProgramPlan& b = to_->impl_->plan;
  if (s.last_instant != kNoTime) s.next_timer = ComputeNextTimer(b, s, s.last_instant);
  to_->Serialize(s, out);
  return Status::OK();
}

}  // namespace segflow
