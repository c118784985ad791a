// `segflow bench`'s progress display: one line on stderr, rewritten in place, only when
// stderr is a terminal and --quiet is not given (a pipe or a log file gets nothing).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace segflow::cli {

class BenchProgress {
 public:
  explicit BenchProgress(bool quiet) : enabled_(!quiet && ::isatty(STDERR_FILENO) == 1) {}
  ~BenchProgress() { Clear(); }

  // Replaces the line (callable from any thread).
  void Update(const std::string& line) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  // Erases the line, e.g. before an error message or the report.
  void Clear() {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (shown_) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  const bool enabled_;
  std::mutex mu_;
  bool shown_ = false;
};

}  // namespace segflow::cli
