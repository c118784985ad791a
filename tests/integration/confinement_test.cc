// What a job may touch (spec integrations §13), attacker-style, on a real coordinator and
// real workers on 127.0.0.1 started with --data-root: a job path outside the roots (plain,
// through `..`, through a symlink inside a root) is refused naming the path, with nothing
// created or changed outside; an existing folder Segflow did not create, named as a state
// dir, audience store or savepoint folder, is refused and its files survive; a worker
// whose roots refuse a path fails the job at once (no restart loop); and a legitimate job
// in the same cluster still gives exactly the in-process run's changelog.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers
using Clock = std::chrono::steady_clock;

bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A cart job named `name` over `log: log` (relative: the data root's log) plus `extra` lines.
std::string Job(const std::string& name, const std::string& extra = "") {
  return "job: " + name +
         "\n"
         "log: log\n"
         "source: {topics: [events], max_out_of_orderness: 5s, idle_timeout: 1h}\n"
         "segments:\n"
         "  - id: cart_abandoned\n"
         "    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: "
         "30m}}\n"
         "    membership: {duration: 24h, exit_on: {event: purchase}}\n"
         "  - id: repeat_buyer\n"
         "    when: {count: {event: purchase, window: 7d, at_least: 2}}\n"
         "parallelism: 2\n" +
         extra;
}

// Every path under `dir` (relative) with each regular file's content: what a test
// compares before and after to show nothing was created, changed or deleted.
std::string Snapshot(const std::string& dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string e = fs::relative(it->path(), dir).string();
    if (it->is_regular_file()) e += " = " + ReadFile(it->path().string());
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& e : entries) out += e + "\n";
  return out;
}

// A coordinator and two workers, each with its own --data-root list.
class ConfinedCluster {
 public:
  ConfinedCluster(const std::string& scratch, const std::vector<std::string>& coordinator_roots,
                  const std::vector<std::string>& worker_roots, const std::string& name)
      : scratch_(scratch) {
    std::vector<std::string> args = {"coordinator",
                                     "--dir",
                                     scratch + "/" + name + "-coordinator",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--max-restarts",
                                     "3",
                                     "--heartbeat-timeout",
                                     "3000",
                                     "--heartbeat-interval",
                                     "300"};
    for (const auto& r : coordinator_roots) args.insert(args.end(), {"--data-root", r});
    const std::string tag = name + "-coordinator";
    pids_.push_back(Start(args, "", scratch, scratch, tag));
    Eventually(
        [&] {
          std::smatch m;
          const std::string out = ReadFile(scratch + "/" + tag + ".stdout");
          static const std::regex re(R"(coordinator listening on (\S+))");
          if (!std::regex_search(out, m, re)) return false;
          address_ = m[1];
          return true;
        },
        std::chrono::seconds(10));
    for (int i = 0; i < 2; ++i) {
      const std::string w = name + "-worker-" + std::to_string(i);
      std::vector<std::string> wargs = {"worker", "--coordinator", address_,         "--slots",
                                        "2",      "--dir",         scratch + "/" + w};
      for (const auto& r : worker_roots) wargs.insert(wargs.end(), {"--data-root", r});
      pids_.push_back(Start(wargs, "", scratch, scratch, w));
    }
  }
  ~ConfinedCluster() {
    for (pid_t p : pids_) {
      ::kill(p, SIGKILL);
      int status = 0;
      ::waitpid(p, &status, 0);
    }
  }
  bool Ready() {
    return Eventually(
        [&] {
          int alive = 0;
          for (const auto& l : Lines(Cli({"jobs"}).out))
            alive += l.find(" alive") != std::string::npos;
          return alive == 2;
        },
        std::chrono::seconds(30));
  }
  Outcome Cli(std::vector<std::string> args) {
    args.push_back("--coordinator");
    args.push_back(address_);
    return Segflow(args, "", scratch_);
  }

 private:
  std::string scratch_, address_;
  std::vector<pid_t> pids_;
};

class ConfinementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    fs::create_directories(root());
    fs::create_directories(outside());
    WriteFile(outside() + "/sentinel", "not Segflow's\n");
    Outcome g = Segflow({"gen", "cart", "--users", "300", "--events", "6000", "--seed", "13"}, "",
                        scratch());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    Outcome p =
        Segflow({"produce", "--log", root() + "/log", "--topic", "events", "--partitions", "4"},
                g.out, scratch());
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  const std::string& scratch() const { return scratch_.path(); }
  std::string root() const { return scratch() + "/root"; }
  std::string outside() const { return scratch() + "/outside"; }
  // Writes a job file into the data root and returns its path.
  std::string WriteJob(const std::string& file, const std::string& text) {
    const std::string path = root() + "/" + file;
    WriteFile(path, text);
    return path;
  }
  // The job's committed changelog, record for record.
  std::string Changelog(const std::string& job) {
    Outcome c = Segflow({"consume", "--log", root() + "/log", "--topic", job + ".memberships",
                         "--from", "earliest"},
                        "", scratch());
    EXPECT_EQ(c.exit_code, 0) << c.err;
    return c.out;
  }

  ScratchDir scratch_{"segflow-confinement"};
};

// Asserts a refused submission: non-zero exit, the message names `path` and the root,
// and nothing under outside() changed.
#define EXPECT_REFUSED(outcome, path, before)                                                  \
  do {                                                                                         \
    EXPECT_NE((outcome).exit_code, 0) << (outcome).out;                                        \
    EXPECT_NE((outcome).err.find(path), std::string::npos) << (outcome).err;                   \
    EXPECT_NE((outcome).err.find("data roots (" + root() + ")"), std::string::npos)            \
        << (outcome).err;                                                                      \
    EXPECT_NE((outcome).err.find("nothing was deployed"), std::string::npos) << (outcome).err; \
    EXPECT_EQ(Snapshot(outside()), before);                                                    \
  } while (0)

TEST_F(ConfinementTest, PathsOutsideTheDataRootsAreRefusedAndTouchNothing) {
  ConfinedCluster cluster(scratch(), {root()}, {root()}, "c");
  ASSERT_TRUE(cluster.Ready());
  fs::create_directory_symlink(outside(), root() + "/link");
  const std::string before = Snapshot(outside());
  ASSERT_EQ(before, "sentinel = not Segflow's\n\n");

  // An absolute path outside.
  std::string job = WriteJob("abs.yaml", Job("abs", "output: {audience: " + outside() + "/aud}\n"));
  Outcome o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_REFUSED(o, "audience " + outside() + "/aud", before);

  // `..` out of the root, relative to it.
  job = WriteJob("dotdot.yaml", Job("dotdot", "output: {audience: ../outside}\n"));
  o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_REFUSED(o, "audience " + outside(), before);
  job = WriteJob("dotdot-log.yaml", "job: dotdotlog\nlog: log/../../outside/log\n" +
                                        Job("x").substr(Job("x").find("source:")));
  o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_REFUSED(o, "log " + outside() + "/log", before);

  // A symlink inside the root that leads outside.
  job = WriteJob("link.yaml", Job("link", "output: {audience: link/aud}\n"));
  o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_REFUSED(o, "audience " + root() + "/link/aud (which resolves to " + outside() + "/aud)",
                 before);

  // Checkpoints, and the command line's folders.
  job =
      WriteJob("chk.yaml", Job("chk", "checkpoint: {interval: 1s, dir: " + outside() + "/chk}\n"));
  o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_REFUSED(o, "checkpoint dir " + outside() + "/chk", before);
  job = WriteJob("ok.yaml", Job("ok"));
  o = cluster.Cli({"submit", job, "--bounded", "--wait", "--state-dir", outside()});
  EXPECT_REFUSED(o, "state dir " + outside(), before);
  o = cluster.Cli({"submit", job, "--bounded", "--wait", "--state-dir", root() + "/link/state"});
  EXPECT_REFUSED(o, "state dir " + root() + "/link/state", before);
  job = WriteJob("sp.yaml", Job("sp", "checkpoint: {interval: 1s}\n"));
  o = cluster.Cli({"submit", job, "--from-savepoint", outside()});
  EXPECT_REFUSED(o, "--from-savepoint " + outside(), before);
  EXPECT_EQ(ReadFile(outside() + "/sentinel"), "not Segflow's\n");

  // The same cluster still runs a legitimate job exactly: its changelog equals the
  // in-process run's over the same log.
  Outcome local = Segflow({"run", job, "--bounded", "--workers", "0"}, "", scratch());
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const std::string expected = Changelog("sp");
  ASSERT_FALSE(expected.empty());
  o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(Changelog("sp"), expected);
  EXPECT_EQ(Snapshot(outside()), before);
}

TEST_F(ConfinementTest, FoldersSegflowDidNotCreateAreNeverDeleted) {
  ConfinedCluster cluster(scratch(), {root()}, {root()}, "c");
  ASSERT_TRUE(cluster.Ready());
  // Inside the root, but not Segflow's: each holds a sentinel.
  for (const std::string d : {"mine-state", "mine-audience", "mine-savepoint", "mine-chk"}) {
    fs::create_directories(root() + "/" + d);
    WriteFile(root() + "/" + d + "/sentinel", d + "\n");
  }
  std::string job = WriteJob("state.yaml", Job("state"));
  Outcome o =
      cluster.Cli({"submit", job, "--bounded", "--wait", "--state-dir", root() + "/mine-state"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(
      o.err.find("state folder " + root() + "/mine-state exists and was not created by Segflow"),
      std::string::npos)
      << o.err;
  job = WriteJob("aud.yaml", Job("aud", "output: {audience: mine-audience}\n"));
  o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.err.find("audience store " + root() +
                       "/mine-audience exists and was not created by Segflow"),
            std::string::npos)
      << o.err;
  job = WriteJob("chkd.yaml", Job("chkd", "checkpoint: {interval: 1s, dir: mine-chk}\n"));
  o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(
      o.err.find("checkpoint folder " + root() + "/mine-chk exists and was not created by Segflow"),
      std::string::npos)
      << o.err;

  // A savepoint into a folder that is not Segflow's: a new folder of its own inside it (as
  // Flink does), nothing of the folder's own touched.
  job = WriteJob("live.yaml", Job("live", "checkpoint: {interval: 300ms}\n"));
  o = cluster.Cli({"submit", job});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const std::string id = Lines(o.out).at(0);
  ASSERT_TRUE(Eventually([&] {
    return cluster.Cli({"status", id}).out.find(": running") != std::string::npos;
  }));
  Outcome sp = cluster.Cli({"savepoint", id, "--dir", root() + "/mine-savepoint"});
  ASSERT_EQ(sp.exit_code, 0) << sp.err;
  const std::string made = Lines(sp.out).at(0);
  EXPECT_EQ(fs::path(made).parent_path().string(), root() + "/mine-savepoint") << sp.out;
  EXPECT_TRUE(fs::exists(made + "/_metadata")) << made;
  EXPECT_TRUE(fs::exists(made + "/.segflow-owned")) << made;
  fs::remove_all(made);  // the test's own cleanup, so the sentinel check below sees only it
  // ... and one outside the data roots is refused at once.
  sp = cluster.Cli({"savepoint", id, "--dir", outside() + "/sp"});
  EXPECT_NE(sp.exit_code, 0) << sp.out;
  EXPECT_NE(sp.err.find("savepoint --dir " + outside() + "/sp is outside"), std::string::npos)
      << sp.err;
  EXPECT_FALSE(fs::exists(outside() + "/sp"));
  Outcome cancel = cluster.Cli({"cancel", id, "--wait"});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;

  for (const std::string d : {"mine-state", "mine-audience", "mine-savepoint", "mine-chk"}) {
    EXPECT_EQ(Snapshot(root() + "/" + d), "sentinel = " + d + "\n\n") << d;
  }
  // Reruns reset only what Segflow made: the live job's own state and audience are marked.
  EXPECT_TRUE(fs::exists(root() + "/state/live/.segflow-owned"));
  EXPECT_TRUE(fs::exists(root() + "/audience/live/.segflow-owned"));
}

TEST_F(ConfinementTest, AWorkerRefusingAPathFailsTheJobAtOnceNamingIt) {
  // The coordinator allows `outside`, the workers do not: the sink's worker refuses when
  // preparing, and the job fails with its message instead of restarting.
  ConfinedCluster cluster(scratch(), {root(), outside()}, {root()}, "w");
  ASSERT_TRUE(cluster.Ready());
  const std::string before = Snapshot(outside());
  const std::string job =
      WriteJob("wide.yaml", Job("wide", "output: {audience: " + outside() + "/aud}\n"));
  Outcome o = cluster.Cli({"submit", job, "--bounded", "--wait"});
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.err.find("audience " + outside() + "/aud is outside this process's data roots (" +
                       root() + ")"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("not restarted"), std::string::npos) << o.err;
  Outcome status = cluster.Cli({"status", "wide-1"});
  EXPECT_NE(status.out.find("failed, attempt 1,"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find(outside() + "/aud"), std::string::npos) << status.out;
  EXPECT_EQ(Snapshot(outside()), before);
}

}  // namespace
}  // namespace segflow
