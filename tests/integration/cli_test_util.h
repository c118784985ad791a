// Helpers for integration tests that run the real `segflow` binary (SEGFLOW_BINARY) as a
// user does: a scratch folder, child processes with captured output, and waits that
// always end (a child still running at its deadline is killed and reported).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace segflow::integration {

// How long any one `segflow` process may take before a test gives up on it.
inline constexpr std::chrono::milliseconds kProcessDeadline{60000};

// A fresh folder under /tmp, removed with everything in it at the end of the scope.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix = "segflow-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    const char* p = ::mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  // SEGFLOW_TEST_KEEP_SCRATCH=1 keeps the folder (and says where) for a post-mortem.
  ~ScratchDir() {
    const char* keep = std::getenv("SEGFLOW_TEST_KEEP_SCRATCH");
    if (keep != nullptr && std::string(keep) == "1") {
      std::fprintf(stderr, "scratch kept: %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Outcome {
  int exit_code = -1;  // 128 + signal when killed by a signal; -1 when it timed out
  std::string out;
  std::string err;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Forks and execs SEGFLOW_BINARY with `args`, stdin from `stdin_path` (empty: /dev/null),
// stdout and stderr to the given files (truncated), in `cwd`. Returns the pid (-1: fork
// failed). Everything the child uses is made before fork(): the test process has threads,
// and a child that allocates before exec can deadlock on a lock another thread held at the
// fork (GCC 12's ASan allocator has no fork handlers; seen as a `segflow produce` that hung).
inline pid_t Spawn(const std::vector<std::string>& args, const std::string& stdin_path,
                   const std::string& stdout_path, const std::string& stderr_path, const std::string& cwd) {
  const std::string binary = SEGFLOW_BINARY;
  const std::string in_path = stdin_path.empty() ? "/dev/null" : stdin_path;
  std::vector<const char*> argv{binary.c_str()};
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // The child: async-signal-safe calls only.
  const int in = ::open(in_path.c_str(), O_RDONLY);
  const int o = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int e = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || o < 0 || e < 0 || (!cwd.empty() && ::chdir(cwd.c_str()) != 0)) ::_exit(127);
  ::dup2(in, 0);
  ::dup2(o, 1);
  ::dup2(e, 2);
  ::execv(binary.c_str(), const_cast<char* const*>(argv.data()));
  ::_exit(127);
}

// Starts `segflow ARGS` in `cwd` with stdin from `stdin_path` (empty: /dev/null); stdout
// and stderr go to "<scratch>/<tag>.stdout" and ".stderr". Returns the pid.
inline pid_t Start(const std::vector<std::string>& args, const std::string& stdin_path,
                   const std::string& cwd, const std::string& scratch, const std::string& tag) {
  return Spawn(args, stdin_path, scratch + "/" + tag + ".stdout", scratch + "/" + tag + ".stderr", cwd);
}

// Waits for `pid` (started with `tag`) to exit, at most `deadline`; past it the child is
// killed and the outcome says so in `err`.
inline Outcome Wait(pid_t pid, const std::string& scratch, const std::string& tag,
                    std::chrono::milliseconds deadline = kProcessDeadline) {
  Outcome r;
  const auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  bool exited = false;
  while (pid > 0) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;
      break;
    }
    if (w < 0) break;
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (exited && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (exited && WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  r.out = ReadFile(scratch + "/" + tag + ".stdout");
  r.err = ReadFile(scratch + "/" + tag + ".stderr");
  if (!exited)
    r.err += "\n[test: segflow did not exit within " + std::to_string(deadline.count()) +
             " ms; killed]\n";
  return r;
}

// Kills (SIGKILL) and reaps a started child still running at the end of the scope, so a
// failed assertion never leaves a live `segflow run` behind. A reaped child is left alone.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;

 private:
  pid_t pid_;
};

// A fresh tag for a child's output files.
inline std::string NextTag(const std::string& prefix = "run") {
  static std::atomic<int> counter{0};
  return prefix + std::to_string(counter++);
}

// Runs `segflow ARGS` to completion (bounded by kProcessDeadline) with `input` on stdin.
inline Outcome Segflow(const std::vector<std::string>& args, const std::string& input,
                       const std::string& scratch, const std::string& cwd = "") {
  const std::string tag = NextTag();
  const std::string stdin_path = scratch + "/" + tag + ".stdin";
  WriteFile(stdin_path, input);
  return Wait(Start(args, stdin_path, cwd.empty() ? scratch : cwd, scratch, tag), scratch, tag);
}

}  // namespace segflow::integration
