// The audience as a PostgreSQL table (issue 16, spec integrations §11), against a real,
// throwaway PostgreSQL server started once for this binary (initdb + pg_ctl on a free
// port of 127.0.0.1, in a scratch folder; as root, run as the `postgres` user). Tests skip
// only when the PostgreSQL server binaries are absent.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"
#include "engine/log/transaction.h"
#include "jobs/job_spec.h"
#include "operators/sink/postgres_committer.h"

namespace segflow {
namespace {

using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

constexpr char kPassword[] = "segflow-test-pw";

// Runs a shell command, returns its stdout (and its exit status in *rc).
std::string Shell(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  if (rc != nullptr) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The throwaway server: one per test binary run.
class PostgresServer : public ::testing::Environment {
 public:
  static PostgresServer* Get() { return instance_; }
  PostgresServer() { instance_ = this; }

  // The server starts on first use (not in SetUp: the binary's other tests need none).
  void SetUp() override {}
  void EnsureStarted() {
    if (tried_) return;
    tried_ = true;
    for (const char* v : {"17", "16", "15", "14", "13"}) {
      const std::string dir = std::string("/usr/lib/postgresql/") + v + "/bin";
      if (std::filesystem::exists(dir + "/initdb") && std::filesystem::exists(dir + "/pg_ctl")) {
        bin_ = dir;
        break;
      }
    }
    if (bin_.empty()) {
      skip_reason_ =
          "the PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) are "
          "absent";
      return;
    }
    char tmpl[] = "/tmp/segflow-pg-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    port_ = FreePort();
    // As root, the server runs as `postgres` (it refuses root).
    if (::geteuid() == 0) {
      if (::getpwnam("postgres") == nullptr) {
        error_ = "running as root, and there is no postgres user to run the server as";
        return;
      }
      as_ = "runuser -u postgres -- ";
      Shell("chown postgres " + dir_ + " && chmod 700 " + dir_);
    }
    WriteFile(dir_ + "/pw", std::string(kPassword) + "\n");
    if (!as_.empty()) Shell("chown postgres " + dir_ + "/pw");
    int rc = 0;
    const std::string init =
        Shell(as_ + bin_ + "/initdb -D " + dir_ + "/data -U postgres --auth-local=trust " +
                  "--auth-host=scram-sha-256 --pwfile=" + dir_ + "/pw -E UTF8 --no-sync 2>&1",
              &rc);
    if (rc != 0) {
      error_ = "initdb failed: " + init;
      return;
    }
    if (!Start()) return;
    ::setenv("PGPASSWORD", kPassword, 1);
  }
  bool Start() {
    if (running_) return true;
    int rc = 0;
    const std::string out =
        Shell(as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                  "/server.log -w -t 30 -o \"-p " + std::to_string(port_) + " -k " + dir_ +
                  " -c listen_addresses=127.0.0.1 -c fsync=off\" start 2>&1",
              &rc);
    if (rc != 0) {
      error_ = "pg_ctl start failed: " + out + ReadFile(dir_ + "/server.log");
      return false;
    }
    running_ = true;
    return true;
  }
  // Stops the server; a test that does restarts it with Start (a no-op when running).
  void Stop() {
    running_ = false;
    Shell(as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w stop >/dev/null 2>&1");
  }
  void TearDown() override {
    if (dir_.empty()) return;
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Empty when the server runs; else why not (skip_reason: binaries absent).
  const std::string& skip_reason() const { return skip_reason_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string Dsn(const std::string& db = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + db + " user=postgres";
  }
  // Runs `sql` in a psql of its own, in the background (e.g. holding a lock).
  void PsqlBackground(const std::string& sql) const {
    static std::atomic<int> calls{0};
    const std::string file = dir_ + "/bg" + std::to_string(calls.fetch_add(1)) + ".sql";
    WriteFile(file, sql);
    Shell(bin_ + "/psql -X -q -h 127.0.0.1 -p " + std::to_string(port_) +
          " -U postgres -d postgres -f " + file + " >/dev/null 2>&1 &");
  }
  // psql -At: unaligned rows, '|' between columns.
  std::string Psql(const std::string& sql, int* rc = nullptr) const {
    static std::atomic<int> calls{0};  // one file per call: tests query from two threads
    const std::string file = dir_ + "/q" + std::to_string(::getpid()) + "-" +
                             std::to_string(calls.fetch_add(1)) + ".sql";
    WriteFile(file, sql);
    return Shell(bin_ + "/psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " +
                     std::to_string(port_) + " -U postgres -d postgres -f " + file + " 2>&1",
                 rc);
  }

 private:
  static inline PostgresServer* instance_ = nullptr;
  bool tried_ = false, running_ = false;
  std::string bin_, dir_, as_, skip_reason_, error_;
  int port_ = 0;
};

[[maybe_unused]] ::testing::Environment* const kServer =
    ::testing::AddGlobalTestEnvironment(new PostgresServer);

#define REQUIRE_SERVER()                                                                   \
  do {                                                                                     \
    PostgresServer::Get()->EnsureStarted();                                                \
    if (!PostgresServer::Get()->skip_reason().empty())                                     \
      GTEST_SKIP() << PostgresServer::Get()->skip_reason();                                \
    ASSERT_TRUE(PostgresServer::Get()->error().empty()) << PostgresServer::Get()->error(); \
  } while (0)

bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return probe();
}

std::string Job(const std::string& name, const std::string& table, const std::string& dsn,
                const std::string& extra = "") {
  return "job: " + name + R"(
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
  idle_timeout: 1h
consent: {event: consent, field: granted, default: granted}
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: busy
    when: {count: {event: page_view, window: 1h, at_least: 3}}
output:
  postgres: {dsn: ")" +
         dsn + "\", table: " + table + R"(}
parallelism: 2
)" + extra;
}
const std::vector<std::string> kSegments = {"cart_abandoned", "busy"};

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = "t_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::transform(table_.begin(), table_.end(), table_.begin(), ::tolower);
    // One table per test and run (--gtest_repeat reuses the server); side tables add up to
    // 11 characters, tests' own suffixes 5; PostgreSQL keeps 63.
    static int runs = 0;
    table_ = table_.substr(0, 36) + "_" + std::to_string(runs++);
  }
  PostgresServer& pg() { return *PostgresServer::Get(); }
  const std::string& scratch() const { return dir_.path(); }
  std::string Path(const std::string& name) const { return scratch() + "/" + name + ".yaml"; }
  void Write(const std::string& name, const std::string& yaml) { WriteFile(Path(name), yaml); }
  Outcome Cli(const std::vector<std::string>& args, const std::string& input = "") {
    return Segflow(args, input, scratch());
  }
  void ProduceGen(int users, int events, int seed, const std::string& after = "") {
    Outcome g = Cli({"gen", "cart", "--users", std::to_string(users), "--events",
                     std::to_string(events), "--seed", std::to_string(seed)});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    Outcome p =
        Cli({"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "4"},
            g.out + after);
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  std::vector<std::string> Audience(const std::string& job, const std::string& segment) {
    Outcome o = Cli({"audience", Path(job), "--segment", segment});
    EXPECT_EQ(o.exit_code, 0) << o.err;
    auto lines = Lines(o.out);
    std::sort(lines.begin(), lines.end());
    return lines;
  }
  std::vector<std::string> Table(const std::string& segment, const std::string& table = "") {
    int rc = 0;
    auto lines = Lines(pg().Psql("SELECT user_id FROM " + (table.empty() ? table_ : table) +
                                     " WHERE segment = '" + segment + "'",
                                 &rc));
    EXPECT_EQ(rc, 0) << ::testing::PrintToString(lines);
    std::sort(lines.begin(), lines.end());
    return lines;
  }
  // The table equals `segflow audience` of `job`, segment by segment.
  void ExpectTableIsAudience(const std::string& job) {
    for (const auto& s : kSegments) {
      auto audience = Audience(job, s);
      EXPECT_EQ(Table(s), audience) << "segment " << s;
    }
  }
  std::string table_;
  ScratchDir dir_{"segflow-pgtest"};
};

TEST_F(PostgresTest, BoundedRunTableIsTheAudienceAndAReplayIsANoOp) {
  REQUIRE_SERVER();
  ProduceGen(300, 6000, 7);
  Write("j", Job("pgjob", table_, pg().Dsn()));
  Outcome r = Cli({"run", Path("j"), "--bounded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(Audience("j", "busy").empty());
  ExpectTableIsAudience("j");
  // Every column of the contract, entered_at the entry's event time.
  EXPECT_EQ(
      pg().Psql("SELECT count(*) FROM " + table_ +
                " WHERE entered_at <> timestamptz 'epoch' + stamp_at * interval '1 millisecond'"),
      "0\n");
  EXPECT_EQ(pg().Psql("SELECT count(*) FROM segflow_progress WHERE target = '" + table_ +
                      "' AND job = 'pgjob'"),
            "1\n");
  const std::string before = pg().Psql("SELECT segment, user_id, stamp_at, stamp_pos FROM " +
                                       table_ + " ORDER BY segment, user_id COLLATE \"C\"");
  ASSERT_TRUE(before.find("|") != std::string::npos && before.find("ERROR") == std::string::npos)
      << before;
  // Run again: the same writes, every one a duplicate of the row's own stamp.
  r = Cli({"run", Path("j"), "--bounded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(pg().Psql("SELECT segment, user_id, stamp_at, stamp_pos FROM " + table_ +
                      " ORDER BY segment, user_id COLLATE \"C\""),
            before);
}

TEST_F(PostgresTest, CheckpointedRunCommitsEachCheckpointOnce) {
  REQUIRE_SERVER();
  ProduceGen(300, 6000, 11);
  Write("j", Job("pgck", table_, pg().Dsn(), "checkpoint: {interval: 100ms, dir: ck}\n"));
  Outcome r = Cli({"run", Path("j"), "--bounded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectTableIsAudience("j");
  EXPECT_EQ(
      pg().Psql("SELECT count(*) FROM (SELECT checkpoint FROM segflow_commits WHERE target = '" +
                table_ +
                "' GROUP BY checkpoint HAVING count(*) FILTER (WHERE kind <> 'end') > 1) d"),
      "0\n");
}

TEST_F(PostgresTest, TableOfAnotherShapeIsRefused) {
  REQUIRE_SERVER();
  ASSERT_EQ(
      pg().Psql("CREATE TABLE " + table_ + " (segment text, user_id int, PRIMARY KEY (segment));"),
      "");
  ProduceGen(20, 200, 3);
  Write("j", Job("pgshape", table_, pg().Dsn()));
  Outcome r = Cli({"run", Path("j"), "--bounded"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exists with another shape"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("column user_id is integer, expected text"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no column stamp_at"), std::string::npos) << r.err;
}

TEST_F(PostgresTest, ServerNotThereOrLoginRefusedIsAClearError) {
  REQUIRE_SERVER();
  ProduceGen(20, 200, 3);
  const int dead = FreePort();
  Write("j", Job("pgdown", table_,
                 "host=127.0.0.1 port=" + std::to_string(dead) + " dbname=postgres user=postgres"));
  Outcome r = Cli({"run", Path("j"), "--bounded"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;  // libpq's text

  ::setenv("PGPASSWORD", "wrong", 1);
  Write("j", Job("pgdown", table_, pg().Dsn()));
  r = Cli({"run", Path("j"), "--bounded"});
  ::setenv("PGPASSWORD", kPassword, 1);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("password authentication failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("PGPASSWORD or ~/.pgpass"), std::string::npos) << r.err;
}

// A coordinator and workers as separate processes (as in cluster_test.cc), killed at the end.
class MiniCluster {
 public:
  explicit MiniCluster(const std::string& scratch) : scratch_(scratch) {
    coordinator_ = Start({"coordinator", "--dir", scratch + "/coordinator", "--heartbeat-timeout",
                          "2000", "--heartbeat-interval", "200", "--listen", "127.0.0.1:0"},
                         "", scratch, scratch, "coordinator");
    Eventually(
        [&] {
          std::smatch m;
          const std::string out = ReadFile(scratch_ + "/coordinator.stdout");
          static const std::regex re(R"(coordinator listening on (\S+))");
          if (!std::regex_search(out, m, re)) return false;
          address_ = m[1];
          return true;
        },
        std::chrono::seconds(10));
  }
  ~MiniCluster() {
    for (pid_t p : workers_) Kill(p);
    Kill(coordinator_);
  }
  void AddWorker(int slots) {
    const std::string n = std::to_string(workers_.size());
    workers_.push_back(Start({"worker", "--coordinator", address_, "--slots", std::to_string(slots),
                              "--dir", scratch_ + "/worker-" + n},
                             "", scratch_, scratch_, "worker-" + n));
  }
  Outcome Cli(std::vector<std::string> args) {
    args.push_back("--coordinator");
    args.push_back(address_);
    return Segflow(args, "", scratch_);
  }
  bool WaitForWorkers(size_t n) {
    return Eventually(
        [&] {
          size_t alive = 0;
          for (const auto& l : Lines(Cli({"jobs"}).out))
            alive += l.find(" alive") != std::string::npos;
          return alive >= n;
        },
        std::chrono::seconds(20));
  }
  // The pid of the worker running `task_row` ("sink", "keyed 1") of job `id`.
  pid_t PidOfTask(const std::string& id, const std::string& task_row) {
    std::smatch m;
    const std::string status = Cli({"status", id}).out;
    if (!std::regex_search(status, m, std::regex(task_row + R"(\s+worker (\d+) )"))) return -1;
    const std::string worker = m[1];
    const std::string jobs = Cli({"jobs"}).out;
    if (!std::regex_search(jobs, m, std::regex("worker " + worker + R"(\s+\S+\s+pid (\d+))")))
      return -1;
    return static_cast<pid_t>(std::stol(m[1]));
  }
  static void Kill(pid_t pid) {
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }

 private:
  std::string scratch_, address_;
  pid_t coordinator_ = -1;
  std::vector<pid_t> workers_;
};

// The evaluated time of `job` in the table's progress row (ms), or -1.
int64_t ProgressEvaluated(PostgresServer& pg, const std::string& table, const std::string& job) {
  const std::string v = pg.Psql("SELECT evaluated FROM segflow_progress WHERE target = '" + table +
                                "' AND job = '" + job + "'");
  return v.empty() || !std::isdigit(static_cast<unsigned char>(v[0])) ? -1 : std::stoll(v);
}

// A live job on a cluster, fed while it runs; the worker of its sink SIGKILLed in the
// middle. After recovery the table equals a failure-free bounded run's audience at the
// live job's evaluated time, and every checkpoint was applied once.
TEST_F(PostgresTest, LiveJobSurvivesAKilledSinkWorker) {
  REQUIRE_SERVER();
  ProduceGen(400, 8000, 21);
  Write("live", Job("pglive", table_, pg().Dsn(), "checkpoint: {interval: 200ms, dir: ck}\n"));
  MiniCluster cluster(scratch());
  for (int i = 0; i < 3; ++i) cluster.AddWorker(2);
  ASSERT_TRUE(cluster.WaitForWorkers(3));
  Outcome submit = cluster.Cli({"submit", Path("live")});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const std::string id = Lines(submit.out).at(0);
  ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pglive") > 0; }))
      << cluster.Cli({"status", id}).out;
  pid_t victim = -1;
  ASSERT_TRUE(Eventually([&] { return (victim = cluster.PidOfTask(id, "sink")) > 0; }));
  ProduceGen(400, 4000, 22);  // more events while it runs, then the kill
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] {
    return cluster.Cli({"status", id}).out.find("1 restart(s)") != std::string::npos;
  })) << cluster.Cli({"status", id}).out;
  ProduceGen(400, 4000, 23);
  const int64_t before = ProgressEvaluated(pg(), table_, "pglive");
  ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pglive") > before; }))
      << cluster.Cli({"status", id}).out;
  Outcome cancel = cluster.Cli({"cancel", id, "--wait"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  // The table is the job's own audience, and the failure-free run's at the same time.
  ExpectTableIsAudience("live");
  // The failure-free run: a bounded run over the same log. Its changelog, per (segment,
  // user), starts with the live job's committed one (same changes, none twice, none
  // missing), so the table is the failure-free audience at the live job's progress.
  Write("ref", Job("pgref", table_ + "_ref", pg().Dsn()));
  Outcome ref = Cli({"run", Path("ref"), "--bounded"});
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  auto per_key = [&](const std::string& topic) {
    std::map<std::string, std::vector<std::string>> out;
    const std::regex re(
        R"re("segment": ?"([^"]*)", ?"user_id": ?"([^"]*)", ?"change": ?"([^"]*)", ?"at": ?(\d+))re");
    const std::string text =
        Cli({"consume", "--log", scratch() + "/log", "--topic", topic, "--committed"}).out;
    for (const auto& line : Lines(text)) {
      std::smatch m;
      if (std::regex_search(line, m, re)) {
        out[m[1].str() + "/" + m[2].str()].push_back(m[3].str() + "@" + m[4].str());
      }
    }
    return out;
  };
  const auto live_changes = per_key("pglive.memberships");
  const auto ref_changes = per_key("pgref.memberships");
  ASSERT_FALSE(live_changes.empty());
  for (const auto& [key, seq] : live_changes) {
    auto it = ref_changes.find(key);
    ASSERT_NE(it, ref_changes.end()) << key;
    ASSERT_LE(seq.size(), it->second.size()) << key;
    EXPECT_TRUE(std::equal(seq.begin(), seq.end(), it->second.begin())) << key;
  }
  EXPECT_EQ(
      pg().Psql("SELECT count(*) FROM (SELECT checkpoint FROM segflow_commits WHERE target = '" +
                table_ +
                "' AND job = 'pglive' GROUP BY checkpoint HAVING count(*) FILTER (WHERE kind <> "
                "'end') > 1) d"),
      "0\n");
}

// The server stopped and started again under a live job: it retries, and converges.
TEST_F(PostgresTest, LiveJobRetriesWhileTheServerIsDown) {
  REQUIRE_SERVER();
  ProduceGen(300, 4000, 31);
  Write("live", Job("pgretry", table_, pg().Dsn(), "checkpoint: {interval: 200ms, dir: ck}\n"));
  const std::string tag = NextTag("live");
  const pid_t run = Start({"run", Path("live")}, "", scratch(), scratch(), tag);
  ChildGuard guard(run);
  ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pgretry") > 0; }))
      << ReadFile(scratch() + "/" + tag + ".stderr");
  struct Restart {  // the server runs again for the next tests, whatever happens here
    PostgresServer* pg;
    ~Restart() { pg->Start(); }
  } restart{&pg()};
  pg().Stop();
  ProduceGen(300, 4000, 32);
  ASSERT_TRUE(Eventually([&] {
    return ReadFile(scratch() + "/" + tag + ".stderr").find("retrying in") != std::string::npos;
  })) << ReadFile(scratch() + "/" + tag + ".stderr");
  ASSERT_TRUE(pg().Start()) << pg().error();
  const int64_t before = ProgressEvaluated(pg(), table_, "pgretry");
  ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pgretry") > before; }))
      << ReadFile(scratch() + "/" + tag + ".stderr");
  ASSERT_EQ(::kill(run, SIGTERM), 0);
  Outcome done = Wait(run, scratch(), tag);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  ExpectTableIsAudience("live");
}

// A sink that crashed after the changelog's commit marker and before the table's
// transaction: on restore the committer applies the committed changelog past its progress
// row, once; a second restore applies nothing.
TEST_F(PostgresTest, RestoreAppliesTheCommittedChangelogPastTheProgressRowOnce) {
  REQUIRE_SERVER();
  ProduceGen(300, 6000, 41);
  Write("j", Job("pgrs", table_, pg().Dsn(), "checkpoint: {interval: 100ms, dir: ck}\n"));
  Outcome r = Cli({"run", Path("j"), "--bounded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(
      pg().Psql("DELETE FROM " + table_ + "; DELETE FROM " + table_ +
                "_tombstones; UPDATE segflow_progress SET checkpoint = 0, changelog_offsets = "
                "'{0,0,0,0}' WHERE target = '" +
                table_ + "'; DELETE FROM segflow_commits WHERE target = '" + table_ + "';"),
      "");
  JobSpec job;
  job.name = "pgrs";
  job.log_dir = scratch() + "/log";
  job.output.changelog = "pgrs.memberships";
  job.output.postgres.dsn = pg().Dsn();
  job.output.postgres.table = table_;
  auto marker = log::ReadCommitMarker(job.log_dir, job.output.changelog);
  ASSERT_TRUE(marker.ok() && marker->has_value()) << marker.status().ToString();
  // A restore point is a checkpoint (id >= 1) with these changelog offsets. A bounded run
  // that ends before its first checkpoint completes (a quick machine) commits its end as
  // checkpoint 0, which is no restore point: the table is behind any checkpoint >= 1.
  const uint64_t checkpoint = std::max<uint64_t>((*marker)->checkpoint, 1);
  const PostgresCommitter::Progress restored{checkpoint, (*marker)->evaluated,
                                             (*marker)->offsets};
  for (int i = 0; i < 2; ++i) {
    auto c = PostgresCommitter::Open(job, false, nullptr);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->Restore(restored, false).ok());
  }
  ExpectTableIsAudience("j");
  EXPECT_EQ(
      pg().Psql("SELECT kind, checkpoint FROM segflow_commits WHERE target = '" + table_ + "'"),
      "restore|" + std::to_string(checkpoint) + "\n");
}

// segflow forget erases the user's rows from the job's table; a later run (a replay of the
// same log) does not add them back.
TEST_F(PostgresTest, ForgetErasesTheTableRowsForGood) {
  REQUIRE_SERVER();
  ProduceGen(200, 4000, 51);
  Write("j", Job("pgforget", table_, pg().Dsn()));
  Outcome r = Cli({"run", Path("j"), "--bounded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto members = Table("busy");
  ASSERT_FALSE(members.empty());
  const std::string user = members.front();
  Outcome f = Cli({"forget", user, Path("j"), "--reason", "test"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_NE(f.out.find("postgres table " + table_ + ": erased"), std::string::npos) << f.out;
  EXPECT_EQ(pg().Psql("SELECT count(*) FROM " + table_ + " WHERE user_id = '" + user + "'"), "0\n");
  r = Cli({"run", Path("j"), "--bounded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(pg().Psql("SELECT count(*) FROM " + table_ + " WHERE user_id = '" + user + "'"), "0\n");
  ExpectTableIsAudience("j");
}

// The seed's traps with real jobs feeding one table: a batch job over less of the log
// (an earlier --until) finishing after the job that saw everything changes nothing, and
// neither does a late backfill resurrect anyone who left.
TEST_F(PostgresTest, BatchJobFinishingLaterDoesNotOverwriteNewerRows) {
  REQUIRE_SERVER();
  ProduceGen(300, 6000, 61);
  Write("full", Job("pgfull", table_, pg().Dsn()));
  Write("batch", Job("pgbatch", table_, pg().Dsn()));
  Outcome r = Cli({"run", Path("full"), "--bounded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectTableIsAudience("full");
  const std::string before = pg().Psql("SELECT segment, user_id, stamp_at, stamp_pos FROM " +
                                       table_ + " ORDER BY segment, user_id COLLATE \"C\"");
  ASSERT_TRUE(before.find("|") != std::string::npos && before.find("ERROR") == std::string::npos)
      << before;
  r = Cli({"run", Path("batch"), "--bounded", "--until", "2026-05-03T00:00:00Z"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(Audience("batch", "cart_abandoned"), Audience("full", "cart_abandoned"));
  EXPECT_EQ(pg().Psql("SELECT segment, user_id, stamp_at, stamp_pos FROM " + table_ +
                      " ORDER BY segment, user_id COLLATE \"C\""),
            before);
  ExpectTableIsAudience("full");
}

// The committer as two jobs feeding one table (output.shared_audience's case): the seed's
// two traps, consent and forget, decided by the stamps.
class CommitterTest : public PostgresTest {
 protected:
  std::unique_ptr<PostgresCommitter> Open(const std::string& job_name,
                                          const std::map<std::string, std::string>& versions = {}) {
    JobSpec job;
    job.name = job_name;
    job.segment_versions = versions;
    job.log_dir = scratch();
    job.output.postgres.dsn = pg().Dsn();
    job.output.postgres.table = table_;
    auto c = PostgresCommitter::Open(job, false, nullptr);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  static AudienceStore::Change Enter(const std::string& user, int64_t at, uint64_t pos) {
    return {"s", user, true, at, pos};
  }
  static AudienceStore::Change Exit(const std::string& user, int64_t at, uint64_t pos) {
    return {"s", user, false, at, pos};
  }
};

TEST_F(CommitterTest, LateBackfillDoesNotResurrectALeaverNorOverwriteANewerUpdate) {
  REQUIRE_SERVER();
  auto live = Open("live");
  auto backfill = Open("backfill");
  ASSERT_TRUE(live && backfill);
  // Live: u1 entered at 100 and left at 200; u2 entered at 300.
  ASSERT_TRUE(
      live->Commit({Enter("u1", 100, 1), Exit("u1", 200, 2), Enter("u2", 300, 5)}, {1, 300, {}})
          .ok());
  // A backfill that read less of the log finishes later: u1 entered (at 100), u2 left at 250.
  ASSERT_TRUE(
      backfill->Commit({Enter("u1", 100, 1), Exit("u2", 250, 4), Enter("u3", 50, 1)}, {1, 250, {}})
          .ok());
  EXPECT_EQ(Table("s"), (std::vector<std::string>{"u2", "u3"}));
  // A replay of the live job's checkpoint is a no-op.
  ASSERT_TRUE(
      live->Commit({Enter("u1", 100, 1), Exit("u1", 200, 2), Enter("u2", 300, 5)}, {2, 300, {}})
          .ok());
  EXPECT_EQ(Table("s"), (std::vector<std::string>{"u2", "u3"}));
  EXPECT_EQ(pg().Psql("SELECT job, checkpoint FROM segflow_progress WHERE target = '" + table_ +
                      "' ORDER BY job"),
            "backfill|1\nlive|2\n");
}

TEST_F(CommitterTest, ConsentWithdrawalAndForgetKeepUsersOut) {
  REQUIRE_SERVER();
  auto live = Open("live");
  auto backfill = Open("backfill");
  ASSERT_TRUE(live && backfill);
  ASSERT_TRUE(live->Commit({Enter("u1", 100, 1), Enter("u2", 100, 2)}, {1, 100, {}}).ok());
  ASSERT_TRUE(live->RecordConsents({{"u1", false, 150, 3}}).ok());
  EXPECT_EQ(Table("s"), (std::vector<std::string>{"u2"}));
  // A backfill's newer enter does not add u1 back while the withdrawal is the latest consent.
  ASSERT_TRUE(backfill->Commit({Enter("u1", 160, 4)}, {1, 160, {}}).ok());
  EXPECT_EQ(Table("s"), (std::vector<std::string>{"u2"}));
  ASSERT_TRUE(live->RecordConsents({{"u1", true, 170, 5}}).ok());
  ASSERT_TRUE(live->Commit({Enter("u1", 180, 6)}, {2, 180, {}}).ok());
  EXPECT_EQ(Table("s"), (std::vector<std::string>{"u1", "u2"}));
  // forget: rows gone, older writes refused, newer ones accepted.
  ASSERT_TRUE(live->Erase("u2", 200).ok());
  ASSERT_TRUE(backfill->Commit({Enter("u2", 190, 7)}, {2, 190, {}}).ok());
  EXPECT_EQ(Table("s"), (std::vector<std::string>{"u1"}));
  ASSERT_TRUE(live->Commit({Enter("u2", 210, 8)}, {3, 210, {}}).ok());
  EXPECT_EQ(Table("s"), (std::vector<std::string>{"u1", "u2"}));
}

// Issue 16 item 3: an upgraded job's first transaction of its own changes (the checkpoint
// with the upgrade's switch records) switches the version column with the members; the
// restore before it (the old job's progress) leaves the old version on every row.
TEST_F(CommitterTest, VersionColumnSwitchesWithTheFirstCommitNotWithTheRestore) {
  REQUIRE_SERVER();
  const std::string rows = "SELECT user_id || ':' || version FROM " + table_ + " ORDER BY 1";
  {
    auto old_job = Open("job", {{"s", "v1"}});
    ASSERT_TRUE(old_job);
    ASSERT_TRUE(old_job->Commit({Enter("u1", 100, 1), Enter("u2", 100, 2)}, {5, 100, {}}).ok());
  }
  EXPECT_EQ(pg().Psql(rows), "u1:v1\nu2:v1\n");
  auto new_job = Open("job", {{"s", "v2"}});
  ASSERT_TRUE(new_job);
  ASSERT_TRUE(new_job->Restore({5, 100, {}}, false).ok());
  EXPECT_EQ(pg().Psql(rows), "u1:v1\nu2:v1\n") << "the restore switched the version alone";
  // The switch: u1 leaves, u3 enters, every row is v2, all in one transaction. Switch
  // records are stamped after every log position at their instant (the largest uint64).
  constexpr uint64_t kAfterAll = std::numeric_limits<uint64_t>::max();
  auto committed =
      new_job->Commit({Exit("u1", 200, kAfterAll), Enter("u3", 200, kAfterAll)}, {6, 200, {}});
  ASSERT_TRUE(committed.ok()) << committed.ToString();
  EXPECT_EQ(pg().Psql(rows), "u2:v2\nu3:v2\n");
  // A write at the same instant from a log position is older than the switch.
  ASSERT_TRUE(new_job->Commit({Enter("u1", 200, 9)}, {7, 200, {}}).ok());
  EXPECT_EQ(pg().Psql(rows), "u2:v2\nu3:v2\n");
  EXPECT_EQ(pg().Psql("SELECT checkpoint, changes FROM segflow_commits WHERE target = '" + table_ +
                      "' ORDER BY committed_at"),
            "5|2\n6|2\n7|1\n");
}

// The table read in one statement (one snapshot): the job's progress and every row.
struct TableSnapshot {
  int64_t evaluated = -1;
  std::map<std::string, std::set<std::string>> members;   // per segment
  std::map<std::string, std::set<std::string>> versions;  // per segment
};
TableSnapshot Snapshot(PostgresServer& pg, const std::string& table, const std::string& job) {
  TableSnapshot out;
  const std::string rows =
      pg.Psql("SELECT 'p', evaluated::text, '', '' FROM segflow_progress WHERE target = '" + table +
              "' AND job = '" + job + "' UNION ALL SELECT 'r', segment, user_id, " +
              "coalesce(version, '-') FROM " + table);
  for (const auto& l : Lines(rows)) {
    std::vector<std::string> f;
    size_t start = 0;
    for (size_t bar; (bar = l.find('|', start)) != std::string::npos; start = bar + 1)
      f.push_back(l.substr(start, bar - start));
    f.push_back(l.substr(start));
    if (f.size() != 4) continue;
    if (f[0] == "p" && !f[1].empty()) out.evaluated = std::stoll(f[1]);
    if (f[0] == "r") {
      out.members[f[1]].insert(f[2]);
      out.versions[f[1]].insert(f[3]);
    }
  }
  return out;
}

// Issue 16 items 2 and 3 on a cluster: a live job upgraded (segment busy redefined) while a
// reader watches the table. Every snapshot a reader sees is the audience at the progress
// row's evaluated time (`segflow audience --at`), one version per segment; the version of
// busy switches to the new one with the switch (no snapshot shows the new version before
// the switch instant), and the kept segment keeps its version.
TEST_F(PostgresTest, UpgradeSwitchesTheVersionColumnWithTheAudience) {
  REQUIRE_SERVER();
  Outcome g = Cli({"gen", "cart", "--users", "300", "--events", "6000", "--seed", "71"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  int64_t last = 0;
  for (const auto& l : Lines(g.out)) {
    std::smatch m;
    if (std::regex_search(l, m, std::regex(R"("ts":(\d+))")))
      last = std::max<int64_t>(last, std::stoll(m[1]));
  }
  Outcome p = Cli(
      {"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "4"}, g.out);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::string job =
      Job("pgup", table_, pg().Dsn(), "checkpoint: {interval: 200ms, dir: ck}\n");
  Write("live", job);
  MiniCluster cluster(scratch());
  for (int i = 0; i < 2; ++i) cluster.AddWorker(3);
  ASSERT_TRUE(cluster.WaitForWorkers(2));
  Outcome submit = cluster.Cli({"submit", Path("live")});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  // Caught up: the evaluated time stops moving once the log is read (3 equal readings).
  int64_t seen = -2;
  int equal = 0;
  TableSnapshot before;
  ASSERT_TRUE(Eventually([&] {
    before = Snapshot(pg(), table_, "pgup");
    equal = before.evaluated > 0 && before.evaluated == seen ? equal + 1 : 0;
    seen = before.evaluated;
    if (equal < 2) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return equal >= 2 && before.versions.size() == 2;
  }));
  ASSERT_EQ(before.versions["busy"].size(), 1u);
  ASSERT_EQ(before.versions["cart_abandoned"].size(), 1u);
  const std::string old_busy = *before.versions.at("busy").begin();
  const std::string old_cart = *before.versions.at("cart_abandoned").begin();

  std::atomic<bool> stop{false};
  std::vector<TableSnapshot> snapshots;
  std::thread reader([&] {
    while (!stop.load()) {
      auto snap = Snapshot(pg(), table_, "pgup");
      if (snapshots.empty() || snap.evaluated != snapshots.back().evaluated ||
          snap.versions != snapshots.back().versions || snap.members != snapshots.back().members)
        snapshots.push_back(std::move(snap));
    }
  });
  struct Join {
    std::atomic<bool>* stop;
    std::thread* t;
    ~Join() {
      stop->store(true);
      if (t->joinable()) t->join();
    }
  } join{&stop, &reader};
  Write("live", std::regex_replace(job, std::regex("at_least: 3"), "at_least: 4"));
  Outcome upgrade = cluster.Cli({"submit", Path("live"), "--wait"});
  ASSERT_EQ(upgrade.exit_code, 0) << upgrade.out << upgrade.err;
  // Every partition's watermark past the switch: events a day later, 4 page views of each
  // ticker user, busy in the new definition (the others left busy by then).
  std::string tickers;
  for (int u = 0; u < 32; ++u) {
    for (int k = 0; k < 4; ++k) {
      tickers += R"({"user_id":"ticker)" + std::to_string(u) + R"(","event":"page_view","ts":)" +
                 std::to_string(last + 86400000 + k) + "}\n";
    }
  }
  for (int u = 0; u < 32; ++u) {  // one more a minute later: the watermark past the four
    tickers += R"({"user_id":"ticker)" + std::to_string(u) + R"(","event":"page_view","ts":)" +
               std::to_string(last + 86400000 + 60000) + "}\n";
  }
  ASSERT_EQ(Cli({"produce", "--log", scratch() + "/log", "--topic", "events"}, tickers).exit_code,
            0);
  const std::string new_id = Lines(upgrade.out).back();
  ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pgup") > last + 86400000; }))
      << ProgressEvaluated(pg(), table_, "pgup") << " <= " << last << "\n"
      << upgrade.out << upgrade.err << cluster.Cli({"status", new_id}).out;
  ASSERT_EQ(cluster.Cli({"cancel", new_id, "--wait"}).exit_code, 0);
  stop.store(true);
  reader.join();
  snapshots.push_back(Snapshot(pg(), table_, "pgup"));

  // The switch instant: the changelog's version-switch records.
  std::set<int64_t> instants;
  for (const auto& l : Lines(Cli({"consume", "--log", scratch() + "/log", "--topic",
                                  "pgup.memberships", "--committed"})
                                 .out)) {
    std::smatch m;
    if (l.find("version-switch") != std::string::npos &&
        std::regex_search(l, m, std::regex(R"("at": ?(-?\d+))")))
      instants.insert(std::stoll(m[1]));
  }
  ASSERT_EQ(instants.size(), 1u) << "one switch instant";
  const int64_t switched_at = *instants.begin();
  TableSnapshot after = snapshots.back();
  ASSERT_EQ(after.versions.count("busy"), 1u);
  ASSERT_EQ(after.versions.at("busy").size(), 1u);
  const std::string new_busy = *after.versions.at("busy").begin();
  EXPECT_NE(new_busy, old_busy);
  EXPECT_EQ(after.versions["cart_abandoned"], std::set<std::string>{old_cart});
  ExpectTableIsAudience("live");

  // Every snapshot: one version per segment; the new one of busy only from the switch on;
  // members = `audience --at` its evaluated time (asked for a few, evenly spread).
  bool saw_new = false;
  for (const auto& snap : snapshots) {
    for (const auto& [segment, versions] : snap.versions)
      EXPECT_EQ(versions.size(), 1u) << segment << " at " << snap.evaluated;
    auto v = snap.versions.find("busy");
    if (v == snap.versions.end()) continue;
    if (*v->second.begin() == new_busy) {
      saw_new = true;
      EXPECT_GE(snap.evaluated, switched_at) << "the new version before the switch";
    } else {
      EXPECT_EQ(*v->second.begin(), old_busy);
      EXPECT_LE(snap.evaluated, switched_at) << "the old version after the switch";
    }
  }
  EXPECT_TRUE(saw_new);
  const size_t step = std::max<size_t>(1, snapshots.size() / 6);
  for (size_t i = 0; i < snapshots.size(); i += step) {
    const auto& snap = snapshots[i];
    if (snap.evaluated < 0) continue;
    const bool new_version =
        snap.versions.count("busy") && *snap.versions.at("busy").begin() == new_busy;
    for (const auto& segment : kSegments) {
      // The old version at the switch instant itself is the old job's last state, which
      // `audience --at` (the new version from the switch on) does not answer.
      if (segment == "busy" && !new_version && snap.evaluated >= switched_at) continue;
      Outcome o = Cli(
          {"audience", Path("live"), "--segment", segment, "--at", std::to_string(snap.evaluated)});
      ASSERT_EQ(o.exit_code, 0) << o.err;
      const auto lines = Lines(o.out);
      const std::set<std::string> want(lines.begin(), lines.end());
      const auto have =
          snap.members.count(segment) ? snap.members.at(segment) : std::set<std::string>{};
      EXPECT_EQ(have, want) << segment << " at " << snap.evaluated << " (switch at " << switched_at
                            << ")";
    }
  }
}

// Issue 16 item 5: segflow diff with the table as either side, per segment, with the
// threshold's exit code.
TEST_F(PostgresTest, DiffComparesTheTableWithAStore) {
  REQUIRE_SERVER();
  ProduceGen(300, 6000, 81);
  Write("j", Job("pgdiff", table_, pg().Dsn()));
  Write("batch", Job("pgdiffb", table_ + "_b", pg().Dsn()));
  ASSERT_EQ(Cli({"run", Path("j"), "--bounded"}).exit_code, 0);
  const std::string side = "postgres:" + Path("j");
  Outcome same = Cli({"diff", side, Path("j"), "--threshold", "0"});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("A: " + side + " (job pgdiff at checkpoint "), std::string::npos)
      << same.out;
  EXPECT_NE(same.out.find("segment busy: A " + std::to_string(Table("busy").size()) + ", B " +
                          std::to_string(Table("busy").size()) + ", only in A 0, only in B 0"),
            std::string::npos)
      << same.out;
  // A backfill's store over less of the log (an earlier --until) diverges.
  ASSERT_EQ(Cli({"run", Path("batch"), "--bounded", "--until", "2026-05-03T00:00:00Z"}).exit_code,
            0);
  Outcome other = Cli({"diff", side, Path("batch"), "--threshold", "0", "--json"});
  EXPECT_EQ(other.exit_code, 1) << other.out << other.err;
  EXPECT_NE(other.out.find("\"diverged\":true"), std::string::npos) << other.out;
  EXPECT_EQ(Cli({"diff", side, Path("batch"), "--threshold", "100"}).exit_code, 0);
  // A row missing from the table: that segment only, the table as side B.
  ASSERT_EQ(pg().Psql("DELETE FROM " + table_ + " WHERE (segment, user_id) IN (SELECT segment, " +
                      "user_id FROM " + table_ + " WHERE segment = 'busy' LIMIT 1)"),
            "");
  Outcome missing = Cli({"diff", Path("j"), side, "--threshold", "0"});
  EXPECT_EQ(missing.exit_code, 1) << missing.out << missing.err;
  EXPECT_NE(missing.out.find("only in A 1, only in B 0"), std::string::npos) << missing.out;
  EXPECT_NE(missing.out.find("segment cart_abandoned: A"), std::string::npos) << missing.out;
  EXPECT_EQ(
      Cli({"diff", Path("j"), side, "--segment", "cart_abandoned", "--threshold", "0"}).exit_code,
      0);
  // Errors: a job without output.postgres; a server that is not there.
  Write("plain",
        "job: plain\nlog: log\nsource: {topics: [events]}\nsegments:\n"
        "  - id: busy\n    when: {count: {event: page_view, window: 1h, at_least: 3}}\n");
  Outcome none = Cli({"diff", "postgres:" + Path("plain"), Path("j")});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("has no output.postgres"), std::string::npos) << none.err;
  Write("down", Job("pgdiff", table_,
                    "host=127.0.0.1 port=" + std::to_string(FreePort()) + " dbname=postgres"));
  Outcome down = Cli({"diff", "postgres:" + Path("down"), Path("j")});
  EXPECT_EQ(down.exit_code, 2);
  EXPECT_NE(down.err.find("Connection refused"), std::string::npos) << down.err;
  // A table no job wrote is not created by diff.
  Write("nothing", Job("pgdiff", table_ + "_none", pg().Dsn()));
  Outcome nothing = Cli({"diff", "postgres:" + Path("nothing"), Path("j")});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_NE(nothing.err.find("does not exist"), std::string::npos) << nothing.err;
  EXPECT_EQ(pg().Psql("SELECT to_regclass('" + table_ + "_none') IS NULL"), "t\n");
}

// Issue 16 item 4: a statement timeout (here: another client holds the table's writer lock
// longer than the dsn's statement_timeout) fails a bounded run with libpq's text; a live
// job retries until the lock is released, then commits.
TEST_F(PostgresTest, StatementTimeoutFailsABoundedRunAndALiveJobRetries) {
  REQUIRE_SERVER();
  ProduceGen(100, 2000, 91);
  pg().PsqlBackground("SELECT pg_advisory_lock(hashtext('segflow:' || '" + table_ +
                      "')); SELECT pg_sleep(120);");
  const auto locked = [&] {
    return pg().Psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") !=
           "0\n";
  };
  ASSERT_TRUE(Eventually(locked));
  const std::string dsn = pg().Dsn() + " options='-c statement_timeout=300'";
  Write("j", Job("pgtimeout", table_, dsn, "checkpoint: {interval: 200ms, dir: ck}\n"));
  Outcome r = Cli({"run", Path("j"), "--bounded"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("canceling statement due to statement timeout"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("postgres table " + table_), std::string::npos) << r.err;

  const std::string tag = NextTag("live");
  const pid_t run = Start({"run", Path("j")}, "", scratch(), scratch(), tag);
  ChildGuard guard(run);
  ASSERT_TRUE(Eventually([&] {
    const std::string err = ReadFile(scratch() + "/" + tag + ".stderr");
    return err.find("canceling statement due to statement timeout") != std::string::npos &&
           err.find("retrying in") != std::string::npos;
  })) << ReadFile(scratch() + "/" + tag + ".stderr");
  EXPECT_EQ(ProgressEvaluated(pg(), table_, "pgtimeout"), -1);
  pg().Psql(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE "
      "'%pg_sleep(120)%' AND pid <> pg_backend_pid()");
  ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pgtimeout") > 0; }))
      << ReadFile(scratch() + "/" + tag + ".stderr");
  ASSERT_EQ(::kill(run, SIGTERM), 0);
  Outcome done = Wait(run, scratch(), tag);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  ExpectTableIsAudience("j");
}

// Consent end to end, and two jobs feeding one table at once: a withdrawal in the log
// takes the user out of the table (as out of the audience); a second job writing the same
// table at the same time (a batch over less of the log) neither adds the user back nor
// changes any row the full job wrote.
TEST_F(PostgresTest, ConsentWithdrawalAndTwoJobsAtOnce) {
  REQUIRE_SERVER();
  ProduceGen(300, 6000, 95);
  Write("full", Job("pgcfull", table_, pg().Dsn()));
  Write("batch", Job("pgcbatch", table_, pg().Dsn()));
  ASSERT_EQ(Cli({"run", Path("full"), "--bounded"}).exit_code, 0);
  const auto busy = Table("busy");
  ASSERT_FALSE(busy.empty());
  const std::string user = busy.front();
  int64_t last = 0;
  for (const auto& l :
       Lines(Cli({"consume", "--log", scratch() + "/log", "--topic", "events"}).out)) {
    std::smatch m;
    if (std::regex_search(l, m, std::regex(R"("ts": ?(\d+))")))
      last = std::max<int64_t>(last, std::stoll(m[1]));
  }
  ASSERT_GT(last, 0);
  Outcome p = Cli({"produce", "--log", scratch() + "/log", "--topic", "events"},
                  R"({"user_id":")" + user + R"(","event":"consent","ts":)" +
                      std::to_string(last + 1000) + R"(,"granted":false})" + "\n");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::string t1 = NextTag("full"), t2 = NextTag("batch");
  const pid_t full = Start({"run", Path("full"), "--bounded"}, "", scratch(), scratch(), t1);
  const pid_t batch = Start({"run", Path("batch"), "--bounded", "--until", "2026-05-03T00:00:00Z"},
                            "", scratch(), scratch(), t2);
  Outcome a = Wait(full, scratch(), t1);
  Outcome b = Wait(batch, scratch(), t2);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto audience = Audience("full", "busy");
  EXPECT_EQ(std::count(audience.begin(), audience.end(), user), 0) << user;
  EXPECT_EQ(pg().Psql("SELECT count(*) FROM " + table_ + " WHERE user_id = '" + user + "'"), "0\n");
  EXPECT_EQ(pg().Psql("SELECT granted FROM " + table_ + "_consent WHERE user_id = '" + user + "'"),
            "f\n");
  ExpectTableIsAudience("full");
  EXPECT_EQ(
      pg().Psql("SELECT job FROM segflow_progress WHERE target = '" + table_ + "' ORDER BY job"),
      "pgcbatch\npgcfull\n");
}

// Issue 16 item 2 under live load: while events arrive (in time order, in pieces), every
// snapshot a reader takes of the table (rows and progress row in one statement) is the
// job's audience at the progress row's evaluated time: changes stamped later are held back
// and come with a later checkpoint, in the table as in the audience store.
TEST_F(PostgresTest, LiveTableIsTheAudienceAtItsEvaluatedTime) {
  REQUIRE_SERVER();
  Outcome g = Cli({"gen", "cart", "--users", "300", "--events", "8000", "--seed", "101"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  std::vector<std::pair<int64_t, std::string>> events;
  for (const auto& l : Lines(g.out)) {
    std::smatch m;
    if (std::regex_search(l, m, std::regex(R"("ts":(\d+))")))
      events.emplace_back(std::stoll(m[1]), l);
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  constexpr size_t kPieces = 6;
  auto piece = [&](size_t i) {
    std::string out;
    for (size_t e = i * events.size() / kPieces; e < (i + 1) * events.size() / kPieces; ++e)
      out += events[e].second + "\n";
    return out;
  };
  auto produce = [&](const std::string& text) {
    return Cli({"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "4"},
               text)
        .exit_code;
  };
  ASSERT_EQ(produce(piece(0)), 0);
  Write("live", Job("pglivesnap", table_, pg().Dsn(), "checkpoint: {interval: 100ms, dir: ck}\n"));
  const std::string tag = NextTag("live");
  const pid_t run = Start({"run", Path("live")}, "", scratch(), scratch(), tag);
  ChildGuard guard(run);
  std::atomic<bool> stop{false};
  std::vector<TableSnapshot> snapshots;
  std::thread reader([&] {
    while (!stop.load()) {
      auto snap = Snapshot(pg(), table_, "pglivesnap");
      if (snap.evaluated >= 0 &&
          (snapshots.empty() || snap.evaluated != snapshots.back().evaluated))
        snapshots.push_back(std::move(snap));
    }
  });
  struct Join {
    std::atomic<bool>* stop;
    std::thread* t;
    ~Join() {
      stop->store(true);
      if (t->joinable()) t->join();
    }
  } join{&stop, &reader};
  for (size_t i = 1; i < kPieces; ++i) {
    const int64_t before = ProgressEvaluated(pg(), table_, "pglivesnap");
    ASSERT_EQ(produce(piece(i)), 0);
    ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pglivesnap") > before; }))
        << ReadFile(scratch() + "/" + tag + ".stderr");
  }
  stop.store(true);
  reader.join();
  ASSERT_EQ(::kill(run, SIGTERM), 0);
  Outcome done = Wait(run, scratch(), tag);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  ExpectTableIsAudience("live");
  ASSERT_GE(snapshots.size(), 3u);
  const size_t step = std::max<size_t>(1, snapshots.size() / 8);
  for (size_t i = 0; i < snapshots.size(); i += step) {
    const auto& snap = snapshots[i];
    for (const auto& segment : kSegments) {
      Outcome o = Cli(
          {"audience", Path("live"), "--segment", segment, "--at", std::to_string(snap.evaluated)});
      ASSERT_EQ(o.exit_code, 0) << o.err;
      const auto lines = Lines(o.out);
      const std::set<std::string> want(lines.begin(), lines.end());
      const auto have =
          snap.members.count(segment) ? snap.members.at(segment) : std::set<std::string>{};
      EXPECT_EQ(have, want) << segment << " at " << snap.evaluated;
    }
  }
}

// Issue 16 item 4: a live job stopped while the server is down waits for it (here 1 s,
// SEGFLOW_PG_DRAIN_TIMEOUT_MS), then its sink fails saying how many checkpoints are not in
// the table, whose progress row stays where it was: nothing is reported committed that is
// not there.
TEST_F(PostgresTest, StoppedWhileTheServerIsDownNothingIsReportedCommitted) {
  REQUIRE_SERVER();
  ProduceGen(200, 3000, 111);
  Write("live", Job("pgdrain", table_, pg().Dsn(), "checkpoint: {interval: 100ms, dir: ck}\n"));
  ::setenv("SEGFLOW_PG_DRAIN_TIMEOUT_MS", "1000", 1);
  const std::string tag = NextTag("live");
  const pid_t run = Start({"run", Path("live")}, "", scratch(), scratch(), tag);
  ::unsetenv("SEGFLOW_PG_DRAIN_TIMEOUT_MS");
  ChildGuard guard(run);
  ASSERT_TRUE(Eventually([&] { return ProgressEvaluated(pg(), table_, "pgdrain") > 0; }))
      << ReadFile(scratch() + "/" + tag + ".stderr");
  const int64_t committed = ProgressEvaluated(pg(), table_, "pgdrain");
  struct Restart {  // the server runs again for the next tests, whatever happens here
    PostgresServer* pg;
    ~Restart() { pg->Start(); }
  } restart{&pg()};
  pg().Stop();
  ProduceGen(200, 3000, 112);
  ASSERT_TRUE(Eventually([&] {
    return ReadFile(scratch() + "/" + tag + ".stderr").find("retrying in") != std::string::npos;
  })) << ReadFile(scratch() + "/" + tag + ".stderr");
  ASSERT_EQ(::kill(run, SIGTERM), 0);
  Outcome done = Wait(run, scratch(), tag);
  // SIGTERM cancels the job (it ends "canceled"); the sink says what the table lacks.
  EXPECT_NE(done.err.find("checkpoint(s) not in the table"), std::string::npos) << done.err;
  EXPECT_EQ(done.err.find("evaluated through"), std::string::npos) << done.err;
  ASSERT_TRUE(pg().Start()) << pg().error();
  EXPECT_EQ(ProgressEvaluated(pg(), table_, "pgdrain"), committed);
}

}  // namespace
}  // namespace segflow
