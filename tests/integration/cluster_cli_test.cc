// The cluster commands' contracts a user and a script rely on (issue #12): job ids only for
// accepted jobs, savepoints never written over each other, the savepoint of
// `submit --end-with-savepoint --wait` on stdout, a restored job's evaluated time in
// `status`, the coordinator address from SEGFLOW_COORDINATOR, usage lines that name
// every option, and consecutive `segflow run`s with checkpoints that never share folders.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"
#include "engine/value/time_format.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers
using Clock = std::chrono::steady_clock;

constexpr char kJob[] = R"(job: views
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
  idle_timeout: 1h
segments:
  - id: two_views
    when: {count: {event: view, at_least: 2}}
parallelism: 2
checkpoint: {interval: 200ms}
)";

bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string Views(int users, int per_user, int64_t t0) {
  std::string out;
  for (int i = 0; i < per_user; ++i) {
    for (int u = 0; u < users; ++u) {
      out += R"({"user_id":"u)" + std::to_string(u) + R"(","event":"view","ts":)" +
             std::to_string(t0 + i * 60000 + u) + "}\n";
    }
  }
  return out;
}

// Sets an environment variable for the scope (children started meanwhile inherit it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

class ClusterCliTest : public ::testing::Test {
 protected:
  ~ClusterCliTest() override {
    for (pid_t p : children_) {
      int status = 0;
      if (p > 0 && ::waitpid(p, &status, WNOHANG) == 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, &status, 0);
      }
    }
  }
  const std::string& scratch() const { return dir_.path(); }
  std::string job_path() const { return scratch() + "/job.yaml"; }
  Outcome Cli(const std::vector<std::string>& args, const std::string& input = "") {
    return Segflow(args, input, scratch());
  }
  // `segflow ARGS --coordinator <the coordinator>`.
  Outcome Client(std::vector<std::string> args) {
    args.push_back("--coordinator");
    args.push_back(address_);
    return Cli(args);
  }
  void Produce(const std::string& events) {
    Outcome p = Cli(
        {"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "2"}, events);
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  // A coordinator on a free port (address_) and, unless `workers` is 0, that many workers.
  void StartCluster(int workers) {
    const pid_t c =
        Start({"coordinator", "--dir", scratch() + "/coordinator", "--listen", "127.0.0.1:0"}, "",
              scratch(), scratch(), "coordinator");
    children_.push_back(c);
    ASSERT_TRUE(Eventually(
        [&] {
          std::smatch m;
          const std::string out = ReadFile(scratch() + "/coordinator.stdout");
          if (!std::regex_search(out, m, std::regex(R"(coordinator listening on (\S+))")))
            return false;
          address_ = m[1];
          return true;
        },
        std::chrono::seconds(10)))
        << ReadFile(scratch() + "/coordinator.stderr");
    for (int i = 0; i < workers; ++i) AddWorker({"--coordinator", address_});
    if (workers > 0) {
      ASSERT_TRUE(WaitForWorkers(workers));
    }
  }
  void AddWorker(const std::vector<std::string>& extra) {
    const std::string n = std::to_string(workers_++);
    std::vector<std::string> args = {"worker", "--slots", "2", "--dir", scratch() + "/worker-" + n};
    args.insert(args.end(), extra.begin(), extra.end());
    children_.push_back(Start(args, "", scratch(), scratch(), "worker-" + n));
  }
  bool WaitForWorkers(int n) {
    return Eventually(
        [&] {
          int alive = 0;
          for (const auto& l : Lines(Client({"jobs"}).out))
            alive += l.find(" alive") != std::string::npos;
          return alive >= n;
        },
        std::chrono::seconds(20));
  }
  std::string StatusText(const std::string& id) { return Client({"status", id}).out; }
  bool WaitForState(const std::string& id, const std::string& state) {
    return Eventually(
        [&] { return StatusText(id).find("): " + state + ",") != std::string::npos; });
  }

  ScratchDir dir_;
  std::string address_;
  int workers_ = 0;
  std::vector<pid_t> children_;
};

// Refused submissions take no job id: after five of them the next accepted job is the first.
TEST_F(ClusterCliTest, RefusedSubmissionsTakeNoJobId) {
  WriteFile(job_path(), kJob);
  Produce(Views(4, 3, 1700000000000));
  StartCluster(1);
  const std::vector<std::vector<std::string>> refused = {
      {"--from", "somewhere"},
      {"--from-savepoint", scratch() + "/no-such-savepoint"},
      {"--from", "offsets:7=0"},
      {"--bounded", "--until", "offsets:0=999999"},
      {"--from-savepoint", scratch(), "--from", "earliest"},
  };
  for (const auto& extra : refused) {
    std::vector<std::string> args = {"submit", job_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome o = Client(args);
    EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
    EXPECT_NE(o.err.find("nothing was deployed"), std::string::npos) << o.err;
  }
  Outcome ok = Client({"submit", job_path(), "--bounded"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(Lines(ok.out).at(0), "views-1");
  Outcome next = Client({"submit", job_path(), "--from", "nowhere"});
  EXPECT_EQ(next.exit_code, 1);
  ASSERT_TRUE(WaitForState("views-1", "finished")) << StatusText("views-1");
  Outcome second = Client({"submit", job_path(), "--bounded"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(Lines(second.out).at(0), "views-2");
}

// `submit --end-with-savepoint --wait` prints the savepoint's folder on stdout after the
// summary, where a script reads it.
TEST_F(ClusterCliTest, EndWithSavepointWaitPrintsTheSavepointOnStdout) {
  WriteFile(job_path(), kJob);
  Produce(Views(20, 6, 1700000000000));
  StartCluster(1);
  Outcome backfill = Client({"submit", job_path(), "--bounded", "--end-with-savepoint", "--wait"});
  ASSERT_EQ(backfill.exit_code, 0) << backfill.err;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(backfill.out, m, std::regex(R"(\nchangelog: [^\n]*\nsavepoint: (\S+)\n$)")))
      << backfill.out;
  const std::string savepoint = m[1];
  EXPECT_TRUE(fs::exists(savepoint + "/_metadata")) << savepoint;
  EXPECT_NE(StatusText("views-1").find("stopped with savepoint " + savepoint + "\n"),
            std::string::npos)
      << StatusText("views-1");
}

// A live job submitted from a savepoint reports the savepoint's evaluated time in `status`
// before it reads a record (nothing new in the log here).
TEST_F(ClusterCliTest, RestoredJobReportsTheEvaluatedTimeItRestored) {
  WriteFile(job_path(), kJob);
  Produce(Views(20, 6, 1700000000000));
  StartCluster(1);
  Outcome backfill = Client({"submit", job_path(), "--bounded", "--end-with-savepoint", "--wait"});
  ASSERT_EQ(backfill.exit_code, 0) << backfill.err;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(backfill.out, m, std::regex(R"(evaluated through \S+ \((-?\d+)\))")))
      << backfill.out;
  const std::string evaluated = m[1];
  const std::string status0 = StatusText("views-1");
  ASSERT_TRUE(std::regex_search(status0, m, std::regex(R"(stopped with savepoint (\S+))")))
      << status0;
  const std::string savepoint = m[1];

  Outcome live = Client({"submit", job_path(), "--from-savepoint", savepoint});
  ASSERT_EQ(live.exit_code, 0) << live.err;
  const std::string id = Lines(live.out).at(0);
  ASSERT_TRUE(WaitForState(id, "running")) << StatusText(id);
  const std::string status = StatusText(id);
  EXPECT_NE(status.find("records in 0,"), std::string::npos) << status;
  EXPECT_EQ(status.find("evaluated through none"), std::string::npos) << status;
  EXPECT_NE(status.find("evaluated through " + FormatRfc3339Millis(std::stoll(evaluated)) + " (" +
                        evaluated + ")\n"),
            std::string::npos)
      << status;
}

// `savepoint --dir D` writes a new folder inside D each time (with --stop too), keeping
// what D held; each is a complete savepoint a job continues from.
TEST_F(ClusterCliTest, SavepointsNeverOverwriteEachOther) {
  WriteFile(job_path(), kJob);
  Produce(Views(20, 6, 1700000000000));
  StartCluster(1);
  Outcome submit = Client({"submit", job_path()});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string id = Lines(submit.out).at(0);
  ASSERT_TRUE(WaitForState(id, "running")) << StatusText(id);
  const std::string d = scratch() + "/savepoints";
  fs::create_directories(d);
  WriteFile(d + "/keep.txt", "mine");
  Outcome a = Client({"savepoint", id, "--dir", d});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  Outcome b = Client({"savepoint", id, "--dir", d, "--stop"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const std::string sa = Lines(a.out).at(0), sb = Lines(b.out).at(0);
  EXPECT_NE(sa, sb);
  for (const auto& sp : {sa, sb}) {
    EXPECT_EQ(fs::path(sp).parent_path().string(), d) << sp;
    EXPECT_EQ(fs::path(sp).filename().string().rfind("savepoint-" + id + "-", 0), 0u) << sp;
    EXPECT_TRUE(fs::exists(sp + "/_metadata")) << sp;
  }
  EXPECT_EQ(ReadFile(d + "/keep.txt"), "mine");
  ASSERT_TRUE(WaitForState(id, "finished")) << StatusText(id);
  for (const auto& sp : {sa, sb}) {
    Outcome again = Client({"submit", job_path(), "--bounded", "--from-savepoint", sp, "--wait"});
    EXPECT_EQ(again.exit_code, 0) << sp << ": " << again.err;
  }
}

// SEGFLOW_COORDINATOR is the default of --coordinator for clients and workers; an explicit
// --coordinator wins over it.
TEST_F(ClusterCliTest, CoordinatorAddressFromTheEnvironment) {
  WriteFile(job_path(), kJob);
  Produce(Views(4, 3, 1700000000000));
  StartCluster(0);
  {
    ScopedEnv env("SEGFLOW_COORDINATOR", address_);
    AddWorker({});
    EXPECT_TRUE(Eventually([&] { return Cli({"jobs"}).out.find(" alive") != std::string::npos; },
                           std::chrono::seconds(20)))
        << Cli({"jobs"}).err << ReadFile(scratch() + "/worker-0.stderr");
    Outcome submit = Cli({"submit", job_path(), "--bounded", "--wait"});
    ASSERT_EQ(submit.exit_code, 0) << submit.err;
    EXPECT_NE(submit.out.find("job views: finished"), std::string::npos) << submit.out;
    EXPECT_NE(Cli({"status", "views-1"}).out.find("): finished,"), std::string::npos);
    EXPECT_NE(Cli({"submit", "--help"}).out.find("SEGFLOW_COORDINATOR"), std::string::npos);
    EXPECT_NE(Cli({"worker", "--help"}).out.find("SEGFLOW_COORDINATOR"), std::string::npos);
  }
  {
    ScopedEnv env("SEGFLOW_COORDINATOR", "127.0.0.1:1");
    Outcome wrong = Cli({"jobs"});
    EXPECT_EQ(wrong.exit_code, 1);
    EXPECT_NE(wrong.err.find("127.0.0.1:1"), std::string::npos) << wrong.err;
    EXPECT_EQ(Client({"jobs"}).exit_code, 0) << "--coordinator wins over the environment";
  }
}

// Every subcommand's usage line names every option of its --help option table.
TEST_F(ClusterCliTest, UsageLinesNameEveryOption) {
  Outcome top = Cli({"--help"});
  ASSERT_EQ(top.exit_code, 0);
  std::vector<std::string> commands;
  bool in_list = false;
  for (const auto& l : Lines(top.out)) {
    std::smatch m;
    if (l == "commands:") {
      in_list = true;
    } else if (in_list && std::regex_search(l, m, std::regex(R"(^  ([a-z][a-z-]*) )"))) {
      commands.push_back(m[1]);
    }
  }
  ASSERT_GE(commands.size(), 18u) << top.out;
  size_t checked = 0;
  for (const auto& command : commands) {
    Outcome help = Cli({command, "--help"});
    ASSERT_EQ(help.exit_code, 0) << command;
    // The usage: from the start to the first blank line. The options: "  --name" or
    // "  -x [ --name ]" at the start of a line of the table.
    const std::string usage = help.out.substr(0, help.out.find("\n\n"));
    ASSERT_EQ(usage.rfind("usage: segflow " + command, 0), 0u) << help.out;
    std::set<std::string> options;
    static const std::regex option(R"(^  (?:-\w \[ )?--([a-z][a-z0-9-]*))");
    for (const auto& l : Lines(help.out.substr(help.out.find("\n\n")))) {
      std::smatch m;
      if (std::regex_search(l, m, option) && m[1] != "help") options.insert(m[1]);
    }
    checked += options.size();
    for (const auto& o : options) {
      EXPECT_TRUE(std::regex_search(usage, std::regex("--" + o + "([^a-z0-9-]|$)")))
          << "segflow " << command << ": --" << o << " is missing from the usage line:\n"
          << usage;
    }
  }
  EXPECT_GT(checked, 60u) << "the option tables were read";
}

// The checkpoint folders of `segflow run`s of one job, in their checkpoint dir.
std::set<std::string> CheckpointFolders(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory() && e.path().filename() != "savepoints") out.insert(e.path().string());
  }
  return out;
}

// Two consecutive live runs of one job with checkpoints: each has folders of its own and
// completes its checkpoints from chk-1 on, none abandoned (the second run's folders used
// to be the first's, whose retained chk-N folders made its checkpoints fail).
TEST_F(ClusterCliTest, ConsecutiveRunsNeverShareCheckpointFolders) {
  WriteFile(job_path(), kJob);
  Produce(Views(10, 3, 1700000000000));
  const std::string checkpoints = scratch() + "/checkpoints/views";
  std::set<std::string> seen;
  for (int run = 0; run < 2; ++run) {
    const std::string tag = "live-" + std::to_string(run);
    const pid_t pid = Start({"run", job_path()}, "", scratch(), scratch(), tag);
    ChildGuard guard(pid);
    // Its own folder, with its first checkpoints complete.
    // Three are retained: chk-1 stays until chk-4 completes.
    std::string mine;
    ASSERT_TRUE(Eventually(
        [&] {
          for (const auto& f : CheckpointFolders(checkpoints)) {
            if (!seen.count(f) && fs::exists(f + "/chk-1/_metadata") &&
                fs::exists(f + "/chk-2/_metadata")) {
              mine = f;
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(30)))
        << "run " << run << ": " << ReadFile(scratch() + "/" + tag + ".stderr");
    ::kill(pid, SIGINT);
    Outcome o = Wait(pid, scratch(), tag);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.err.find("abandoned"), std::string::npos) << o.err;
    seen.insert(mine);
  }
  EXPECT_EQ(CheckpointFolders(checkpoints).size(), 2u);
}

// SIGTERM (or SIGINT) stops a registered worker within moments, exit code 0, while its
// coordinator is up (it used to block in the control connection's read until the coordinator
// went away).
TEST_F(ClusterCliTest, RegisteredWorkerStopsOnSigterm) {
  StartCluster(1);
  const pid_t worker = children_.back();
  ASSERT_EQ(::kill(worker, SIGTERM), 0);
  int status = 0;
  const bool ended = Eventually(
      [&] { return ::waitpid(worker, &status, WNOHANG) == worker; }, std::chrono::seconds(10));
  ASSERT_TRUE(ended) << "the worker ignored SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  children_.back() = -1;
  EXPECT_EQ(Client({"jobs"}).exit_code, 0);
}

}  // namespace
}  // namespace segflow
