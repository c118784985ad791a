// Folders Segflow creates and may later delete or empty carry a marker file,
// `.segflow-owned`, holding what created them. Segflow deletes only marked folders: one
// it was merely pointed at (a user's folder named as a state dir, audience or checkpoint
// folder) is an error, never a deletion (spec integrations §13).
#pragma once

#include <string>
#include <string_view>

#include "engine/common/status.h"

namespace segflow {

inline constexpr char kOwnedMarker[] = ".segflow-owned";

// True when `dir` holds the marker.
bool IsOwnedDir(const std::string& dir);

// Creates `dir` (and missing parents) and marks it, `what` recorded in the marker. An
// existing marked folder is fine; an existing empty one is adopted (marked); an existing
// non-empty unmarked one is FailedPrecondition, and nothing in it is touched.
Status CreateOwnedDir(const std::string& dir, std::string_view what);

// OK when `dir` is missing, empty or marked: what CreateOwnedDir would accept and
// RemoveOwnedDir delete. Touches nothing.
Status CheckOwnableDir(const std::string& dir, std::string_view what);

// Deletes `dir` and everything in it when it holds the marker; a missing `dir` is OK, an
// empty unmarked one is left as it is; a non-empty unmarked one (not created by Segflow)
// is FailedPrecondition and nothing is deleted.
Status RemoveOwnedDir(const std::string& dir, std::string_view what);

}  // namespace segflow
