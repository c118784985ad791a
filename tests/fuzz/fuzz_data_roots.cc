// Fuzzes the confinement check of job paths (engine/common/data_roots.cc): the input is a
// path as a job file names it (relative or absolute), checked against a data root that
// holds symlinks leading out, back in, in a loop and to nothing. Beyond not crashing, the
// check must be right: when it accepts a path, walking that path as the kernel would (each
// symlink followed, each missing folder created) must end inside the root; a violation
// aborts with the path.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/data_roots.h"
#include "fuzz_util.h"

namespace fs = std::filesystem;

namespace {

struct Fixture {
  std::string dir, root, outside;
  segflow::DataRoots roots;
};

const Fixture& Get() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    f->dir = segflow::fuzz::ScratchDir() + "/dr";
    f->root = f->dir + "/root";
    f->outside = f->dir + "/outside";
    fs::create_directories(f->root + "/a/b");
    fs::create_directories(f->outside);
    segflow::fuzz::WriteBytes(f->root + "/a/file", "x");
    fs::create_symlink("..", f->root + "/up");
    fs::create_symlink("a", f->root + "/in");
    fs::create_symlink("../../a", f->root + "/a/b/back");
    fs::create_symlink(f->outside, f->root + "/abs-out");
    fs::create_symlink("loop", f->root + "/loop");
    fs::create_symlink(f->outside + "/new", f->root + "/dangling");
    fs::create_symlink("../outside/new2", f->root + "/rel-dangling");
    fs::create_symlink("in/b", f->root + "/chain");
    f->roots = segflow::DataRoots::Make({f->root}).value();
    return f;
  }();
  return *fixture;
}

// Where the kernel ends up for `path` (absolute) once the missing folders on it are
// created: symlinks followed component by component, ".." taken from the real folder.
// nullopt when the kernel would refuse it (a loop, a file in the middle).
std::optional<std::string> Walk(const std::string& path) {
  std::vector<std::string> todo;  // components still to walk, the next one last
  auto push = [&todo](const std::string& p) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
      const size_t slash = p.find('/', start);
      parts.push_back(
          p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  };
  push(path);
  std::string cur = "/";
  bool missing = false;
  int hops = 0;
  while (!todo.empty()) {
    const std::string c = todo.back();
    todo.pop_back();
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (missing) return std::nullopt;  // not in a normalized path; not modelled
      cur = fs::path(cur).parent_path().string();
      if (cur.empty()) cur = "/";
      continue;
    }
    const std::string next = cur == "/" ? "/" + c : cur + "/" + c;
    if (!missing) {
      struct stat st {};
      if (::lstat(next.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
          if (++hops > 40) return std::nullopt;
          std::string target(4096, '\0');
          const ssize_t n = ::readlink(next.c_str(), target.data(), target.size());
          if (n <= 0) return std::nullopt;
          target.resize(static_cast<size_t>(n));
          if (target[0] == '/') cur = "/";
          push(target);
          continue;
        }
        if (!S_ISDIR(st.st_mode) && !todo.empty()) return std::nullopt;
      } else if (errno == ENOENT) {
        missing = true;
      } else {
        return std::nullopt;
      }
    }
    cur = next;
  }
  return cur;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1024) return 0;
  const Fixture& f = Get();
  const std::string path(reinterpret_cast<const char*>(data), size);
  const std::string abs = f.roots.Absolute(path);
  if (!f.roots.Check(path, "fuzz path").ok()) return 0;
  // What the file system calls will see: the path up to a NUL byte.
  const auto end = Walk(std::string(abs.c_str()));
  if (!end) return 0;
  if (*end != f.root && end->rfind(f.root + "/", 0) != 0) {
    std::fprintf(stderr, "data roots: accepted \"%s\" (%s), which leads to %s outside %s\n",
                 path.c_str(), abs.c_str(), end->c_str(), f.root.c_str());
    std::abort();
  }
  return 0;
}
