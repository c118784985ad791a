// What keyed state built by one version of a job file carries over to another
// (savepoints). State is mapped per segment by id and version (segment_version.h): a
// segment whose version is unchanged keeps its condition and membership state; a changed
// or added segment starts with empty condition state at the savepoint's position; a
// removed segment's state is dropped. The profile and consent blocks and the source's role
// fields and lateness bound are shared by every segment: changing them refuses the
// savepoint. Parallelism, workers, checkpoint and output settings may change freely.
#pragma once

#include <string>
#include <vector>

namespace segflow {

struct StateCarryOver {
  std::string refused;                 // non-empty: the state cannot be restored (why)
  std::vector<std::string> kept;       // segment ids, in the new file's order
  std::vector<std::string> restarted;  // changed or added, in the new file's order
  std::vector<std::string> dropped;    // removed, in the old file's order

  bool identical() const { return refused.empty() && restarted.empty() && dropped.empty(); }
  // One line for users, e.g. "kept a, b; restarted c (changed), d (added); dropped e".
  std::string Describe() const;
};

StateCarryOver CompareJobState(const std::string& before_text, const std::string& after_text);

}  // namespace segflow
