#include "engine/common/data_roots.h"

#include <filesystem>

namespace segflow {

namespace fs = std::filesystem;

namespace {

std::string WithoutTrailingSeparator(fs::path p) {
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p.string();
}

}  // namespace

std::string ResolveExisting(const std::string& path, std::error_code* error) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) abs = fs::path(path);
  // weakly_canonical: realpath of the longest existing prefix, the rest lexically
  // normalized (so "root/missing/../../x" leaves the root, as it would once created).
  fs::path resolved = fs::weakly_canonical(abs, ec);
  // weakly_canonical takes a dangling symlink for a missing name and keeps it; the kernel
  // follows it (a file or folder created through it lands where it points): follow it
  // too, up to the kernel's 40 links (found by fuzz_data_roots).
  for (int hops = 0; !ec; ++hops) {
    fs::path prefix, link, rest;
    for (const auto& c : resolved) {
      if (!link.empty()) {
        rest /= c;
        continue;
      }
      prefix /= c;
      const auto st = fs::symlink_status(prefix, ec);
      ec.clear();
      if (st.type() == fs::file_type::not_found) break;  // the rest is created anew
      if (st.type() == fs::file_type::symlink) link = prefix;
    }
    if (link.empty()) break;
    if (hops == 40) {
      ec = std::make_error_code(std::errc::too_many_symbolic_link_levels);
      break;
    }
    const fs::path target = fs::read_symlink(link, ec);
    if (ec) break;
    resolved = fs::weakly_canonical(
        (target.is_absolute() ? target : link.parent_path() / target) / rest, ec);
  }
  if (ec) {
    if (error != nullptr) *error = ec;
    resolved = abs.lexically_normal();
  }
  return WithoutTrailingSeparator(resolved.lexically_normal());
}

bool IsWithin(const std::string& path, const std::string& root) {
  const fs::path p(path), r(root);
  auto pi = p.begin();
  for (auto ri = r.begin(); ri != r.end(); ++ri, ++pi) {
    if (ri->empty()) continue;  // a trailing separator's empty element
    if (pi == p.end() || *pi != *ri) return false;
  }
  return true;
}

Result<DataRoots> DataRoots::Make(const std::vector<std::string>& roots) {
  if (roots.empty())
    return Status::InvalidArgument("no data root: give at least one --data-root DIR");
  DataRoots out;
  for (const auto& r : roots) {
    if (r.empty()) return Status::InvalidArgument("--data-root: empty path");
    out.roots_.push_back(ResolveExisting(r));
  }
  return out;
}

std::string DataRoots::Describe() const {
  std::string out;
  for (const auto& r : roots_) out += (out.empty() ? "" : ", ") + r;
  return out;
}

std::string DataRoots::Absolute(const std::string& path) const {
  fs::path p(path);
  if (p.is_relative()) p = fs::path(base()) / p;
  return WithoutTrailingSeparator(p.lexically_normal());
}

Status DataRoots::Check(const std::string& path, std::string_view what) const {
  const std::string abs = Absolute(path);
  std::error_code ec;
  const std::string resolved = ResolveExisting(abs, &ec);
  if (ec) {
    // Where it leads is unknown: refused rather than guessed.
    return Status::FailedPrecondition(
        std::string(what) + " " + abs + " cannot be resolved (" + ec.message() +
        "), so it cannot be shown to lie inside the data roots (" + Describe() + ")");
  }
  for (const auto& r : roots_) {
    if (IsWithin(resolved, r)) return Status::OK();
  }
  std::string msg = std::string(what) + " " + abs;
  if (resolved != abs) msg += " (which resolves to " + resolved + ")";
  msg +=
      " is outside this process's data roots (" + Describe() +
      "): a job may only touch folders under a --data-root; move the path under one, or start the "
      "process with --data-root covering it";
  return Status::FailedPrecondition(std::move(msg));
}

}  // namespace segflow
