// `segflow forget` against the keyed state of running and restored jobs (issue 6 item 5),
// on a real coordinator and real worker processes: the checkpoints a job takes after the
// erasure, and a restore from a savepoint taken before it, hold no row of the user; every
// other user's results are unchanged. Keyed state is read straight from the checkpoints'
// RocksDB snapshots.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"
#include "engine/common/key_group.h"
#include "engine/state/keyed_state_backend.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/segment/cached_user_state_store.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

constexpr const char* kJob = R"(job: shop
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
  idle_timeout: 1h
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: busy
    when: {count: {event: page_view, window: 1h, at_least: 5}}
parallelism: 2
checkpoint: {interval: 300ms}
)";

bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return probe();
}

std::string Event(const std::string& user, const std::string& event, int64_t ts) {
  return R"({"user_id":")" + user + R"(","event":")" + event + R"(","ts":)" + std::to_string(ts) +
         R"(,"price":10})" + "\n";
}

// The users with keyed state in a completed checkpoint or savepoint folder, read from
// every keyed task's RocksDB snapshot (restored into `scratch`; the snapshots are only
// read). nullopt if the folder went away meanwhile (checkpoints rotate).
std::optional<std::set<std::string>> UsersInKeyedState(const std::string& checkpoint,
                                                       const std::string& scratch) {
  auto dirs = KeyedSnapshotDirs(checkpoint);
  if (!dirs.ok()) return std::nullopt;
  fs::remove_all(scratch);
  auto backend =
      KeyedStateBackend::Restore(*dirs, scratch, KeyGroupRange{0, kDefaultMaxParallelism - 1});
  if (!backend.ok()) return std::nullopt;
  auto state = (*backend)->RegisterState(CachedUserStateStore::kStateName);
  if (!state.ok()) return std::nullopt;
  std::set<std::string> users;
  Status s = (*backend)->ForEach(*state, (*backend)->key_groups(),
                                 [&](uint32_t, std::string_view user, std::string_view) {
                                   users.emplace(user);
                                   return Status::OK();
                                 });
  if (!s.ok()) return std::nullopt;
  return users;
}

// Whether any SST file under `dir` holds `bytes`: the physical files, not what reads see.
bool SstFilesContain(const std::string& dir, const std::string& bytes) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".sst") continue;
    if (ReadFile(it->path().string()).find(bytes) != std::string::npos) return true;
  }
  return false;
}

class ErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch().empty());
    WriteFile(job_path(), kJob);
  }
  void TearDown() override {
    for (pid_t p : processes_) {
      int status = 0;
      if (::waitpid(p, &status, WNOHANG) == 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, &status, 0);
      }
    }
  }
  const std::string& scratch() const { return dir_.path(); }
  std::string job_path() const { return scratch() + "/job.yaml"; }
  Outcome Cli(std::vector<std::string> args, const std::string& input = "") {
    return Segflow(args, input, scratch());
  }
  Outcome Cluster(std::vector<std::string> args) {
    args.push_back("--coordinator");
    args.push_back(address_);
    return Cli(args);
  }
  // A coordinator and two workers of three slots, as separate processes.
  void StartCluster() {
    processes_.push_back(
        Start({"coordinator", "--dir", scratch() + "/coordinator", "--listen", "127.0.0.1:0"}, "",
              scratch(), scratch(), "coordinator"));
    ASSERT_TRUE(Eventually(
        [&] {
          std::smatch m;
          const std::string out = ReadFile(scratch() + "/coordinator.stdout");
          if (!std::regex_search(out, m, std::regex(R"(coordinator listening on (\S+))")))
            return false;
          address_ = m[1];
          return true;
        },
        std::chrono::seconds(10)));
    for (int w = 0; w < 2; ++w) {
      processes_.push_back(Start({"worker", "--coordinator", address_, "--slots", "3", "--dir",
                                  scratch() + "/worker-" + std::to_string(w)},
                                 "", scratch(), scratch(), "worker-" + std::to_string(w)));
    }
    ASSERT_TRUE(Eventually(
        [&] {
          const auto lines = Lines(Cluster({"jobs"}).out);
          return std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
                   return l.find(" alive") != std::string::npos;
                 }) >= 2;
        },
        std::chrono::seconds(20)));
  }
  std::string Submit(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"submit", job_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome o = Cluster(args);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return o.exit_code == 0 ? Lines(o.out).at(0) : "";
  }
  std::string Status(const std::string& id) { return Cluster({"status", id}).out; }
  // The newest completed checkpoint id of job `id` (0: none yet).
  int NewestCheckpoint(const std::string& id) const {
    int newest = 0;
    std::error_code ec;
    for (fs::directory_iterator it(scratch() + "/checkpoints/shop/" + id, ec), end;
         !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind("chk-", 0) == 0 && fs::exists(it->path() / "_metadata")) {
        newest = std::max(newest, std::stoi(name.substr(4)));
      }
    }
    return newest;
  }
  // The keyed state's users of the newest completed checkpoint of job `id` whose number is
  // at least `min_id`, waiting for one. The checkpoint is first copied (hard links) to
  // copy_dir(), where it cannot rotate away while it is read.
  std::optional<std::set<std::string>> UsersInCheckpoint(const std::string& id, int min_id) {
    std::optional<std::set<std::string>> users;
    Eventually(
        [&] {
          const int n = NewestCheckpoint(id);
          if (n < min_id) return false;
          std::error_code ec;
          fs::remove_all(copy_dir(), ec);
          fs::copy(scratch() + "/checkpoints/shop/" + id + "/chk-" + std::to_string(n), copy_dir(),
                   fs::copy_options::recursive | fs::copy_options::create_hard_links, ec);
          if (ec || !fs::exists(copy_dir() + "/_metadata")) return false;
          users = UsersInKeyedState(copy_dir(), scratch() + "/read-state");
          return users.has_value();
        },
        std::chrono::seconds(30));
    return users;
  }
  std::string copy_dir() const { return scratch() + "/read-checkpoint"; }
  // The worker logs' "erased N user(s) from its keyed state ..." lines.
  std::vector<std::string> ErasureLogLines() const {
    std::vector<std::string> found;
    for (int w = 0; w < 2; ++w) {
      for (const auto& l :
           Lines(ReadFile(scratch() + "/worker-" + std::to_string(w) + ".stderr"))) {
        if (l.find("from its keyed state") != std::string::npos) found.push_back(l);
      }
    }
    return found;
  }
  std::optional<int64_t> CommittedEvaluated() const {
    std::smatch m;
    const std::string text = ReadFile(scratch() + "/log/shop.memberships/COMMITTED");
    if (!std::regex_search(text, m, std::regex(R"(evaluated (-?\d+))"))) return std::nullopt;
    return std::stoll(m[1]);
  }
  // Waits until the committed evaluated time reaches `at_least` and stops moving.
  std::optional<int64_t> WaitCaughtUp(int64_t at_least) const {
    std::optional<int64_t> last, now;
    const bool settled = Eventually(
        [&] {
          now = CommittedEvaluated();
          const bool stable = now.has_value() && *now >= at_least && last == now;
          last = now;
          if (!stable) std::this_thread::sleep_for(std::chrono::milliseconds(500));
          return stable;
        },
        std::chrono::seconds(40));
    return settled ? now : std::nullopt;
  }
  // Changelog lines with "at" <= t that are not the user's.
  static std::vector<std::string> OthersThrough(const std::string& text, int64_t t,
                                                const std::string& user) {
    std::vector<std::string> out;
    static const std::regex at(R"("at":(-?\d+))");
    for (const auto& l : Lines(text)) {
      std::smatch m;
      if (l.find("\"user_id\":\"" + user + "\"") != std::string::npos) continue;
      if (std::regex_search(l, m, at) && std::stoll(m[1]) <= t) out.push_back(l);
    }
    return out;
  }

  ScratchDir dir_{"segflow-erasure-test"};
  std::string address_;
  std::vector<pid_t> processes_;
};

// A running job with checkpoints: the victim has live state (an absence deadline 30 min
// after their add_to_cart, pending) in its checkpoints and in a savepoint. After `forget`
// the keyed task erases it: the next checkpoints hold no row of the victim, the deadline
// passes without a timer of theirs firing (the job keeps its first attempt), and the
// committed changelog of everybody else equals a run over the same log without any
// erasure. Then a job restored from the savepoint taken before the erasure erases the
// victim again before it starts: neither its state nor its next checkpoint holds them.
TEST_F(ErasureTest, ForgetErasesKeyedStateOfARunningJobAndOfARestoreFromAnOlderSavepoint) {
  Outcome g = Cli({"gen", "cart", "--users", "300", "--events", "20000", "--seed", "11"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const int64_t t0 = 1780000000000;  // after the generated events (2026-05-01 .. 05-08)
  std::string victim;
  for (int i = 0; i < 6; ++i) victim += Event("victim", "page_view", t0 + i * 1000);
  victim += Event("victim", "add_to_cart", t0 + 10000) + Event("other", "page_view", t0 + 20000);
  ASSERT_EQ(Cli({"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "4"},
                g.out + victim)
                .exit_code,
            0);
  StartCluster();
  const std::string id = Submit();
  ASSERT_FALSE(id.empty());
  // Partitions without the victim stay behind t0 (no later data): caught up means settled.
  ASSERT_TRUE(WaitCaughtUp(std::numeric_limits<int64_t>::min()).has_value()) << Status(id);
  auto before = UsersInCheckpoint(id, 1);
  ASSERT_TRUE(before.has_value());
  ASSERT_TRUE(before->count("victim")) << "the victim's live state is checkpointed";
  ASSERT_TRUE(SstFilesContain(copy_dir(), "victim")) << "the test can see a user's bytes";
  EXPECT_GT(before->size(), 250u);
  Outcome sp = Cluster({"savepoint", id, "--dir", scratch() + "/sp-before"});
  ASSERT_EQ(sp.exit_code, 0) << sp.err;
  const std::string savepoint = Lines(sp.out).at(0);  // a new folder inside --dir
  auto in_savepoint = UsersInKeyedState(savepoint, scratch() + "/read-sp");
  ASSERT_TRUE(in_savepoint.has_value() && in_savepoint->count("victim"));

  Outcome f = Cli({"forget", "victim", job_path(), "--reason", "test"});
  ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
  ASSERT_TRUE(Eventually([&] { return !ErasureLogLines().empty(); }, std::chrono::seconds(10)))
      << Status(id);
  EXPECT_NE(
      ErasureLogLines().at(0).find("erased 1 user(s) from its keyed state (new ledger record)"),
      std::string::npos)
      << ErasureLogLines().at(0);
  // A checkpoint triggered after the log line cannot have had its barrier before the
  // deletion; the next one surely was triggered after it.
  const int at_erasure = NewestCheckpoint(id);
  auto after = UsersInCheckpoint(id, at_erasure + 2);
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE(after->count("victim"));
  EXPECT_FALSE(SstFilesContain(copy_dir(), "victim")) << "purged from the files, not only deleted";
  EXPECT_EQ(after->size() + 1, before->size()) << "nobody else is erased";

  // Time moves 1 h past the victim's pending deadline on every partition: no timer of
  // theirs fires (a stale one would fail the task: the job would restart).
  std::string later;
  for (int i = 0; i < 40; ++i)
    later += Event("late-" + std::to_string(i), "page_view", t0 + 5400000 + i);
  ASSERT_EQ(Cli({"produce", "--log", scratch() + "/log", "--topic", "events"}, later).exit_code, 0);
  const std::optional<int64_t> through = WaitCaughtUp(t0 + 5400000 - 10000);
  ASSERT_TRUE(through.has_value()) << Status(id);
  EXPECT_NE(Status(id).find("running, attempt 1,"), std::string::npos) << Status(id);
  auto last = UsersInCheckpoint(id, NewestCheckpoint(id) + 1);
  ASSERT_TRUE(last.has_value());
  EXPECT_FALSE(last->count("victim"));
  EXPECT_TRUE(last->count("late-0"));
  ASSERT_EQ(Cluster({"cancel", id, "--wait"}).exit_code, 0);
  const std::string committed =
      Cli({"consume", "--log", scratch() + "/log", "--topic", "shop.memberships", "--committed"})
          .out;

  // The reference: the same log, copied away from the ledger, run without any erasure.
  fs::create_directories(scratch() + "/ref/log");
  fs::copy(scratch() + "/log/events", scratch() + "/ref/log/events", fs::copy_options::recursive);
  WriteFile(scratch() + "/ref/job.yaml", kJob);
  Outcome ref =
      Segflow({"run", scratch() + "/ref/job.yaml", "--bounded", "--workers", "0"}, "", scratch());
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const std::string reference =
      Segflow({"consume", "--log", scratch() + "/ref/log", "--topic", "shop.memberships"}, "",
              scratch())
          .out;
  EXPECT_NE(reference.find("\"user_id\":\"victim\""), std::string::npos)
      << "the reference keeps the victim";
  const auto others = OthersThrough(committed, *through, "victim");
  EXPECT_GT(others.size(), 300u);
  EXPECT_TRUE(others == OthersThrough(reference, *through, "victim"))
      << others.size() << " vs " << OthersThrough(reference, *through, "victim").size() << " lines";

  // Restored from the savepoint taken before the erasure.
  const size_t logged = ErasureLogLines().size();
  const std::string restored = Submit({"--from-savepoint", savepoint});
  ASSERT_FALSE(restored.empty());
  ASSERT_TRUE(
      Eventually([&] { return ErasureLogLines().size() > logged; }, std::chrono::seconds(20)))
      << Status(restored);
  EXPECT_NE(ErasureLogLines().back().find("erased 1 user(s) from its keyed state (restored from " +
                                          savepoint + ")"),
            std::string::npos)
      << ErasureLogLines().back();
  // Its first checkpoint with the records after the savepoint (the late-* users).
  std::optional<std::set<std::string>> after_restore;
  ASSERT_TRUE(Eventually(
      [&] {
        after_restore = UsersInCheckpoint(restored, NewestCheckpoint(restored) + 1);
        return after_restore.has_value() && after_restore->count("late-0");
      },
      std::chrono::seconds(30)))
      << Status(restored);
  EXPECT_FALSE(after_restore->count("victim"));
  EXPECT_FALSE(SstFilesContain(copy_dir(), "victim"));
  EXPECT_EQ(after_restore->size(), last->size()) << "everybody else is back";
  EXPECT_NE(Status(restored).find("running, attempt 1,"), std::string::npos) << Status(restored);
  ASSERT_EQ(Cluster({"cancel", restored, "--wait"}).exit_code, 0);
}

}  // namespace
}  // namespace segflow
