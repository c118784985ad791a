// Which folders a job may make a process read, write or delete (spec integrations §13):
// a worker's or coordinator's `--data-root` folders. Every path a job names is resolved
// (relative: against the first root; then `..` and symlinks of its longest existing
// prefix) and must lie inside one of the roots, compared component by component.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "engine/common/status.h"

namespace segflow {

// `path` absolute, its longest existing prefix through realpath (symlinks and `..`
// followed), the rest lexically normalized; no trailing separator. When the prefix
// cannot be resolved (a symlink loop, a folder it may not search), `*error` is set and
// the lexically normalized path returned.
std::string ResolveExisting(const std::string& path, std::error_code* error = nullptr);

// True when the resolved `path` is `root` or below it, component by component
// ("/data/a" is not within "/data/ab"). Both must be absolute and normalized.
bool IsWithin(const std::string& path, const std::string& root);

class DataRoots {
 public:
  // Each root made absolute and resolved (it need not exist yet). An empty list is an
  // error: a process with no data root could touch nothing.
  static Result<DataRoots> Make(const std::vector<std::string>& roots);

  // Relative job paths resolve against this folder (the first root; "" before Make).
  const std::string& base() const { return roots_.empty() ? kNone : roots_.front(); }
  const std::vector<std::string>& roots() const { return roots_; }
  // "/a, /b": for messages and --help.
  std::string Describe() const;

  // `path` (relative: against base()) made absolute and lexically normalized, without
  // resolving symlinks: the path to use afterwards.
  std::string Absolute(const std::string& path) const;
  // OK when Absolute(path), after resolving symlinks and `..`, is inside a root; else
  // FailedPrecondition naming `what`, the path, where it leads and the roots.
  Status Check(const std::string& path, std::string_view what) const;

 private:
  static inline const std::string kNone;
  std::vector<std::string> roots_;
};

}  // namespace segflow
