// A unique temporary directory under /tmp for state tests, removed on destruction.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace segflow {

class StateTestDir {
 public:
  StateTestDir() {
    char tmpl[] = "/tmp/segflow-state-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    path_ = made != nullptr ? made : "";
  }
  ~StateTestDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  StateTestDir(const StateTestDir&) = delete;
  StateTestDir& operator=(const StateTestDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace segflow
