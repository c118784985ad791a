// StateMigration: rewrites users' states written by one SegmentProgram into the layout of
// another, segment by segment (savepoint restore into an edited job file).
//
// Segments listed as kept (same id and version, jobs/segment_version.h) keep their
// condition (leaf) and membership state. A changed segment (same id, another version)
// restarts its condition state but keeps its membership, so the changelog stays
// consistent: the user is re-evaluated at the restore position and a member whose new
// condition does not hold exits there. An added segment starts as for a new user (not a
// member, armed) and is evaluated there too. Shared per-user state carries over: population, the
// last evaluated instant, consent, and the profile properties the new program reads. Pending (not
// yet evaluated) events keep the matcher bits and field values both programs know; a matcher only
// the new program has reads as not matching them (only restarted segments can use it).
//
// Merging (a version upgrade's handover, issue 6 item 2): segments listed as merged take
// their whole state — condition and membership — from a second state of the same user,
// built by a backfill of the new job file up to the same log position (`merge`). Where
// the backfill's membership differs from the old state's, Migrate reports a switch
// change at the resume position, so the changelog moves from the old version's audience
// to the new one's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/status.h"
#include "operators/segment/program.h"

namespace segflow {

class UserStateData;

class StateMigration {
 public:
  // InvalidArgument if a kept segment is missing from either program or compiled to a
  // different shape (which equal versions rule out).
  static Result<std::unique_ptr<StateMigration>> Plan(std::shared_ptr<const SegmentProgram> from,
                                                      std::shared_ptr<const SegmentProgram> to,
                                                      const std::vector<std::string>& kept_ids);
  // As above; segments in `merged_ids` come from states of `merge` (the backfill's
  // program, whose segments of those ids must compile to the same shape as in `to`).
  static Result<std::unique_ptr<StateMigration>> PlanMerge(std::shared_ptr<const SegmentProgram> from,
                                                           std::shared_ptr<const SegmentProgram> to,
                                                           const std::vector<std::string>& kept_ids,
                                                           std::shared_ptr<const SegmentProgram> merge,
                                                           const std::vector<std::string>& merged_ids);

  // `from_state` (serialized by `from`) as a state of `to`, serialized into `out`.
  // `resume_at`: the first instant the restored run has not evaluated for the user's
  // partition (its watermark), or kNoTime. Corruption if `from_state` does not decode.
  Status Migrate(std::string_view from_state, int64_t resume_at, std::string* out) const;

  // Merging: the user's old state (`from_state`, empty if the old job never saw the user)
  // and the backfill's (`merge_state`, empty if the backfill never saw the user) into a
  // state of `to`. Appends to `switched` one change per segment whose membership the
  // result changes (old member, new not: exited; and the reverse), at the last evaluated
  // instant (`resume_at` - 1) with the largest position, so that it follows every change
  // the old version made there.
  // `misaligned` is set when the backfill evaluated the user at a later instant than the old
  // run (an event relevant only to the new program); the merged state resumes after it.
  Status Merge(std::string_view from_state, std::string_view merge_state, int64_t resume_at,
               std::string* out, std::vector<MembershipChange>* switched, bool* misaligned) const;
  bool merging() const { return merge_ != nullptr; }

  // True when every segment of `to` is kept: states still need rewriting if matcher or
  // leaf numbering differs, but no user is re-evaluated.
  bool all_kept() const { return restarted_ == 0; }

 private:
  StateMigration() = default;

  // Leaves of segment `id` in `to` and in `other`, pairwise; InvalidArgument on another shape.
  // `s` (a new state of `to`) from the old state `o`: shared state, kept segments, and the
  // restarted segments' re-evaluation at `resume_at`.
  void Carry(UserStateData& o, int64_t resume_at, UserStateData& s) const;
  static Status MapLeaves(const SegmentProgram& to, const SegmentProgram& other, const std::string& id,
                          uint32_t* to_index, uint32_t* other_index, std::vector<uint32_t>* leaf_map);

  std::shared_ptr<const SegmentProgram> from_, to_, merge_;
  std::vector<uint32_t> segment_from_;    // per new segment: old index if kept, or kNoIndex
  std::vector<uint32_t> member_from_;     // per new segment: old index of the same id, or kNoIndex
  std::vector<uint32_t> leaf_from_;       // per new leaf: old leaf or kNoIndex
  std::vector<uint32_t> matcher_from_;    // per new matcher: old matcher or kNoIndex
  std::vector<uint32_t> extractor_from_;  // per new extractor: old extractor or kNoIndex
  std::vector<uint32_t> merge_segment_from_;  // per new segment: merge program's index if merged
  std::vector<uint32_t> merge_leaf_from_;     // per new leaf: merge program's leaf or kNoIndex
  size_t restarted_ = 0;
};

}  // namespace segflow
