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
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/common/status.h"
#include "operators/segment/program.h"

namespace segflow {

class StateMigration {
 public:
  // InvalidArgument if a kept segment is missing from either program or compiled to a
  // different shape (which equal versions rule out).
  static Result<std::unique_ptr<StateMigration>> Plan(std::shared_ptr<const SegmentProgram> from,
                                                      std::shared_ptr<const SegmentProgram> to,
                                                      const std::vector<std::string>& kept_ids);

  // `from_state` (serialized by `from`) as a state of `to`, serialized into `out`.
  // `resume_at`: the first instant the restored run has not evaluated for the user's
  // partition (its watermark), or kNoTime. Corruption if `from_state` does not decode.
  Status Migrate(std::string_view from_state, int64_t resume_at, std::string* out) const;

  // True when every segment of `to` is kept: states still need rewriting if matcher or
  // leaf numbering differs, but no user is re-evaluated.
  bool all_kept() const { return restarted_ == 0; }

 private:
  StateMigration() = default;

  std::shared_ptr<const SegmentProgram> from_, to_;
  std::vector<uint32_t> segment_from_;    // per new segment: old index if kept, or kNoIndex
  std::vector<uint32_t> member_from_;     // per new segment: old index of the same id, or kNoIndex
  std::vector<uint32_t> leaf_from_;       // per new leaf: old leaf or kNoIndex
  std::vector<uint32_t> matcher_from_;    // per new matcher: old matcher or kNoIndex
  std::vector<uint32_t> extractor_from_;  // per new extractor: old extractor or kNoIndex
  size_t restarted_ = 0;
};

}  // namespace segflow
