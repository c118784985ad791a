// Whether keyed state built by one version of a job file can be restored by another
// (savepoints): the state depends on the segments, the profile and consent blocks and the
// source's role fields and lateness bound; parallelism, workers, checkpoint and output
// settings may change freely.
#pragma once

#include <string>

namespace segflow {

// Empty when state of `before` restores into `after`; otherwise what changed, naming the
// segments (e.g. "segment big_cart changed; segment vip added").
std::string StateIncompatibility(const std::string& before_text, const std::string& after_text);

}  // namespace segflow
