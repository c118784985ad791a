#include "operators/segment/state_migration.h"

#include <algorithm>
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

Result<std::unique_ptr<StateMigration>> StateMigration::Plan(
    std::shared_ptr<const SegmentProgram> from, std::shared_ptr<const SegmentProgram> to,
    const std::vector<std::string>& kept_ids) {
  const ProgramPlan& a = from->impl_->plan;
  const ProgramPlan& b = to->impl_->plan;
  std::unique_ptr<StateMigration> m(new StateMigration());
  m->segment_from_.assign(b.segments.size(), kNoIndex);
  m->leaf_from_.assign(b.leaves.size(), kNoIndex);
  for (const std::string& id : kept_ids) {
    const uint32_t i = SegmentIndex(to->job(), id);
    const uint32_t j = SegmentIndex(from->job(), id);
    if (i == kNoIndex || j == kNoIndex) {
      return Status::InvalidArgument("state migration: kept segment \"" + id + "\" is missing");
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
    m->segment_from_[i] = j;
    for (size_t k = 0; k < new_leaves.size(); ++k) m->leaf_from_[new_leaves[k]] = old_leaves[k];
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

Status StateMigration::Migrate(std::string_view from_state, int64_t resume_at,
                               std::string* out) const {
  std::unique_ptr<UserState> decoded;
  SEGFLOW_RETURN_IF_ERROR(from_->Deserialize(from_state, &decoded));
  auto& o = static_cast<UserStateData&>(*decoded);
  std::unique_ptr<UserState> fresh = to_->NewUserState();
  auto& s = static_cast<UserStateData&>(*fresh);
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
  to_->Serialize(s, out);
  return Status::OK();
}

}  // namespace segflow
