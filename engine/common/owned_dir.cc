#include "engine/common/owned_dir.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace segflow {

namespace fs = std::filesystem;

namespace {

std::string NotOwned(const std::string& dir, std::string_view what, std::string_view doing) {
  return std::string(what) + " " + dir + " exists and was not created by Segflow (no " +
         kOwnedMarker + " file in it): refusing to " + std::string(doing) +
         " it; choose a path that does not exist yet (Segflow creates it), or empty or remove that "
         "folder yourself";
}

}  // namespace

bool IsOwnedDir(const std::string& dir) {
  std::error_code ec;
  // A symlink named as the folder is not owned, whatever it points at.
  if (fs::is_symlink(dir, ec)) return false;
  return fs::is_regular_file(fs::path(dir) / kOwnedMarker, ec);
}

Status CreateOwnedDir(const std::string& dir, std::string_view what) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) {
      return Status::FailedPrecondition(std::string(what) + " " + dir +
                                        " exists and is not a folder Segflow created");
    }
    if (IsOwnedDir(dir)) return Status::OK();
    if (!fs::is_empty(dir, ec) || ec) {
      return Status::FailedPrecondition(NotOwned(dir, what, "use"));
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + std::string(what) + " " + dir + ": " + ec.message());
  }
  std::ofstream marker(fs::path(dir) / kOwnedMarker, std::ios::trunc);
  marker << "created by Segflow (process " << ::getpid() << ") as " << what << "\n";
  marker.close();
  if (!marker) return Status::IOError("write " + (fs::path(dir) / kOwnedMarker).string());
  return Status::OK();
}

Status CheckOwnableDir(const std::string& dir, std::string_view what) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st) || IsOwnedDir(dir)) return Status::OK();
  if (fs::is_directory(st) && fs::is_empty(dir, ec) && !ec) return Status::OK();
  return Status::FailedPrecondition(NotOwned(dir, what, "use"));
}

Status RemoveOwnedDir(const std::string& dir, std::string_view what) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) return Status::OK();
  if (!IsOwnedDir(dir)) {
    // An empty folder someone made: nothing to delete, and the folder stays theirs.
    if (fs::is_directory(st) && fs::is_empty(dir, ec) && !ec) return Status::OK();
    return Status::FailedPrecondition(NotOwned(dir, what, "delete"));
  }
  fs::remove_all(dir, ec);
  if (ec) return Status::IOError("remove " + std::string(what) + " " + dir + ": " + ec.message());
  return Status::OK();
}

}  // namespace segflow
