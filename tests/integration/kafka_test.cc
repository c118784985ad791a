// Kafka as a source (issue 14, spec integrations §10.1, §10.3): a 3-broker mock cluster
// (`segflow kafka-mock`, librdkafka's mock over real TCP on 127.0.0.1) fed by `kcat`, the
// independent client, with partitions holding exactly what `segflow produce` puts in the
// embedded log's; runs over Kafka must then give the embedded-log run's changelog.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cli_test_util.h"
#include "network_lab.h"
#include "engine/common/key_group.h"
#include "engine/value/json_event.h"
#include "jobs/job_parser.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

constexpr uint32_t kPartitions = 4;

std::string ShopJob(const std::string& bootstrap) {
  std::string source = bootstrap.empty()
                           ? "  topics: [events]\n"
                           : "  kafka: {bootstrap: \"" + bootstrap + "\", topics: [events]}\n";
  return R"(job: shop
log: log
source:
)" + source +
         R"(  max_out_of_orderness: 5s
  idle_timeout: 1h
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
  - id: busy_browser
    when: {count: {event: page_view, window: 1h, at_least: 5}}
    membership: {duration: 2h}
parallelism: 2
)";
}

// The shop job with a Kafka source and a Kafka changelog (spec integrations §10.2): no
// `log:`, so what the job keeps locally lives under data/shop/ beside the job file, or
// under `<checkpoint_dir>/shop.data/` when a checkpoint folder is given.
std::string KafkaOutJob(const std::string& bootstrap, const std::string& checkpoint_interval,
                        const std::string& checkpoint_dir = "") {
  std::string job = ShopJob(bootstrap);
  job.erase(job.find("log: log\n"), 9);
  return job + "output:\n  changelog:\n    kafka: {bootstrap: \"" + bootstrap +
         "\", topic: shop.memberships}\ncheckpoint: {interval: " + checkpoint_interval +
         (checkpoint_dir.empty() ? "" : ", dir: \"" + checkpoint_dir + "\"") + "}\n";
}

// One record of a Kafka topic as kcat prints it.
struct KafkaRecord {
  int partition = 0;
  int64_t offset = 0;
  std::string id;     // the segflow-id header
  std::string value;  // the record's value
};

// The values of `records` as JSON lines, in their order.
std::string Values(const std::vector<KafkaRecord>& records) {
  std::string out;
  for (const auto& r : records) out += r.value + "\n";
  return out;
}

// The segflow-id a changelog value must carry: [segment, user_id, change, at].
std::string IdOf(const std::string& value) {
  auto v = ParseJsonValue(value);
  if (!v.ok()) return "unparsable: " + value;
  std::string id = "[";
  v->Find("segment")->AppendJson(&id);
  id += ',';
  v->Find("user_id")->AppendJson(&id);
  id += ',';
  v->Find("change")->AppendJson(&id);
  id += "," + std::to_string(v->Find("at")->as_int()) + "]";
  return id;
}

std::string Which(const std::string& program) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    const std::string path = std::string(dir) + "/" + program;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// Runs `program ARGS` with stdin from `stdin_path`, waits at most 60 s; returns its exit
// code (-1: did not finish). Only async-signal-safe calls in the child.
int RunProgram(const std::string& program, const std::vector<std::string>& args,
               const std::string& stdin_path, const std::string& out_path,
               const std::string& err_path) {
  std::vector<const char*> argv{program.c_str()};
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(stdin_path.c_str(), O_RDONLY);
    const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execv(program.c_str(), const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::optional<int64_t> EvaluatedThrough(const std::string& run_stdout) {
  std::smatch m;
  static const std::regex re(R"(evaluated through \S+ \((-?\d+)\))");
  if (!std::regex_search(run_stdout, m, re)) return std::nullopt;
  return std::stoll(m[1]);
}

// Changelog lines (as `segflow consume` prints them) whose "at" is <= t.
std::vector<std::string> LinesAtOrBefore(const std::string& changelog, int64_t t) {
  std::vector<std::string> out;
  for (const auto& line : Lines(changelog)) {
    auto v = ParseJsonValue(line);
    EXPECT_TRUE(v.ok()) << line;
    if (v.ok() && v->Find("at")->as_int() <= t) out.push_back(line);
  }
  return out;
}

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kcat_ = Which("kcat");
    if (kcat_.empty())
      GTEST_SKIP() << "kcat is not installed (Debian package kcat; scripts/setup.sh installs it)";
    StartMock();
  }
  void TearDown() override {
    ::unsetenv("SEGFLOW_SECRET_FILE");  // StartLab's
    StopMock();
  }
  // A 3-broker mock cluster with the shop job's topics, empty, at bootstrap_.
  void StartMock() {
    const std::string file = scratch() + "/bootstrap";
    fs::remove(file);
    const std::string parts = ":" + std::to_string(kPartitions);
    mock_ = Start({"kafka-mock", "--brokers", "3", "--topic", "events" + parts, "--topic",
                   "shop.memberships" + parts, "--topic", "shop.late" + parts, "--topic",
                   "shop.rejected" + parts, "--bootstrap-file", file},
                  "", scratch(), scratch(), "mock");
    ASSERT_TRUE(Eventually([&] { return fs::exists(file); }))
        << ReadFile(scratch() + "/mock.stderr");
    bootstrap_ = Lines(ReadFile(file)).at(0);
    ASSERT_FALSE(bootstrap_.empty());
  }
  void StopMock() {
    if (mock_ > 0) {
      ::kill(mock_, SIGTERM);
      Wait(mock_, scratch(), "mock");
      mock_ = -1;
    }
  }
  void RestartMock() {
    StopMock();
    StartMock();
  }

  const std::string& scratch() const { return dir_.path(); }
  std::string log() const { return scratch() + "/log"; }
  std::string job_path() const { return scratch() + "/job.yaml"; }

  // `kcat -P` of `lines` into one partition, in order.
  void Kcat(const std::string& topic, uint32_t partition, const std::string& lines) {
    const std::string tag = NextTag("kcat");
    const std::string in = scratch() + "/" + tag + ".stdin";
    WriteFile(in, lines);
    const int rc =
        RunProgram(kcat_, {"-P", "-b", bootstrap_, "-t", topic, "-p", std::to_string(partition)},
                   in, scratch() + "/" + tag + ".stdout", scratch() + "/" + tag + ".stderr");
    ASSERT_EQ(rc, 0) << ReadFile(scratch() + "/" + tag + ".stderr");
  }

  // Splits JSON-lines events by the partition `segflow produce --partitions 4` gives them.
  static std::vector<std::string> ByPartition(const std::string& events) {
    std::vector<std::string> out(kPartitions);
    JsonEventDecoder decoder(RoleFields{});
    Event e;
    for (const auto& line : Lines(events)) {
      if (!decoder.Decode(line, &e).ok()) continue;
      out[PartitionFor(HashUser(e.user), kPartitions)] += line + "\n";
    }
    return out;
  }

  // Every record of `topic`, read as a read_committed consumer with `kcat -C`, ordered by
  // partition then offset (the order `segflow consume` prints a topic in).
  std::vector<KafkaRecord> ReadKafka(const std::string& topic) {
    const std::string tag = NextTag("kcat-read");
    const std::string out = scratch() + "/" + tag + ".stdout";
    const int rc =
        RunProgram(kcat_,
                   {"-C", "-b", bootstrap_, "-t", topic, "-X", "isolation.level=read_committed",
                    "-e", "-q", "-f", "%p %o %h\t%s\n"},
                   "/dev/null", out, scratch() + "/" + tag + ".stderr");
    EXPECT_EQ(rc, 0) << ReadFile(scratch() + "/" + tag + ".stderr");
    std::vector<KafkaRecord> records;
    static const std::regex re(R"(^(\d+) (\d+) (\S*)\t(.*)$)");
    for (const auto& line : Lines(ReadFile(out))) {
      std::smatch m;
      if (!std::regex_match(line, m, re)) {
        ADD_FAILURE() << "kcat printed " << line;
        continue;
      }
      KafkaRecord r{std::stoi(m[1]), std::stoll(m[2]), m[3], m[4]};
      if (r.id.starts_with("segflow-id=")) r.id = r.id.substr(11);
      records.push_back(std::move(r));
    }
    std::sort(records.begin(), records.end(), [](const KafkaRecord& a, const KafkaRecord& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    return records;
  }

  Outcome Run(std::vector<std::string> extra = {"--bounded"}) {
    std::vector<std::string> args = {"run", job_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, "", scratch());
  }
  Outcome Consume(const std::string& topic) {
    return Segflow({"consume", "--log", log(), "--topic", topic}, "", scratch());
  }
  const std::string& CartEvents() {
    static const std::string events = [this] {
      Outcome g = Segflow({"gen", "cart", "--users", "200", "--events", "8000", "--seed", "11",
                           "--late-fraction", "0.01"},
                          "", scratch());
      EXPECT_EQ(g.exit_code, 0) << g.err;
      return g.out;
    }();
    return events;
  }
  // The embedded-log run of the cart events: its changelog and late records.
  void RunOverEmbeddedLog(std::string* changelog, std::string* late) {
    Outcome p = Segflow({"produce", "--log", log(), "--topic", "events", "--partitions", "4"},
                        CartEvents(), scratch());
    ASSERT_EQ(p.exit_code, 0) << p.err;
    WriteFile(job_path(), ShopJob(""));
    Outcome r = Run();
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    *changelog = Consume("shop.memberships").out;
    *late = Consume("shop.late").out;
    ASSERT_GT(Lines(*changelog).size(), 100u);
    ASSERT_GT(Lines(*late).size(), 10u);
  }

  // A coordinator (2 s heartbeat timeout, then `extra` options) and `workers` workers of 2
  // slots on 127.0.0.1 (with `lab_`: the coordinator on the lab's bridge, each worker a
  // host of its own).
  void StartCluster(int workers, const std::vector<std::string>& extra = {}) {
    const std::string listen = lab_ ? lab_->hub() + ":0" : "127.0.0.1:0";
    std::vector<std::string> args = {"coordinator", "--dir", scratch() + "/coordinator"};
    for (const char* a : {"--heartbeat-timeout", "2000", "--heartbeat-interval", "200",
                          "--max-restarts", "20", "--listen"}) {
      args.push_back(a);
    }
    args.push_back(listen);
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t coordinator = Start(args, "", scratch(), scratch(), "coordinator");
    guards_.push_back(std::make_unique<ChildGuard>(coordinator));
    ASSERT_TRUE(Eventually([&] {
      std::smatch m;
      const std::string out = ReadFile(scratch() + "/coordinator.stdout");
      static const std::regex re(R"(coordinator listening on (\S+))");
      if (!std::regex_search(out, m, re)) return false;
      address_ = m[1];
      return true;
    })) << ReadFile(scratch() + "/coordinator.stderr");
    for (int i = 0; i < workers; ++i) AddWorker();
  }
  void AddWorker() {
    const std::string n = std::to_string(workers_.size());
    if (lab_) return AddWorkerHost();
    workers_.push_back(Start(
        {"worker", "--coordinator", address_, "--slots", "2", "--dir", scratch() + "/worker-" + n},
        "", scratch(), scratch(), "worker-" + n));
    guards_.push_back(std::make_unique<ChildGuard>(workers_.back()));
  }
  // With `lab_`: a worker in a network namespace of its own (a new host: a new address, its
  // own --dir) whose only shared folder is `shared_` (--data-root). The mock brokers listen
  // and advertise on 127.0.0.1 only, so a forwarder in the namespace takes each broker's
  // 127.0.0.1 port to the hub's, where `hub_forward_` takes it to the broker.
  void AddWorkerHost() {
    const std::string n = std::to_string(workers_.size());
    std::string ip;
    const std::string ns = lab_->AddHost(&ip);
    ASSERT_FALSE(ns.empty()) << "cannot add a network namespace for worker " << n;
    std::string forward = SEGFLOW_TCP_FORWARD;
    for (const std::string& port : broker_ports_) forward += " 127.0.0.1:" + port + "=" + lab_->hub() + ":" + port;
    const std::string out = scratch() + "/worker-" + n;
    const std::string cmd = "exec ip netns exec " + ns + " sh -c '" + forward + " >" + out +
                            ".forward 2>&1 & exec " + SEGFLOW_BINARY + " worker --coordinator " +
                            address_ + " --listen " + ip + ":0 --slots 2 --dir " + out +
                            " --data-root " + shared_ + " >" + out + ".stdout 2>" + out + ".stderr'";
    const pid_t pid = ShellSpawn(cmd);
    ASSERT_GT(pid, 0);
    workers_.push_back(pid);
    guards_.push_back(std::make_unique<ChildGuard>(pid));
  }
  // Makes `lab_`, the hub's forwarders to the brokers and the shared folder; false (and
  // the reason in *why) when this machine cannot make network namespaces.
  bool StartLab(std::string* why) {
    lab_ = std::make_unique<NetworkLab>();
    if (!lab_->available()) {
      *why = lab_->why_not();
      lab_.reset();
      return false;
    }
    std::string forward = std::string("exec ") + SEGFLOW_TCP_FORWARD;
    static const std::regex broker_re(R"(127\.0\.0\.1:(\d+))");
    for (std::sregex_iterator it(bootstrap_.begin(), bootstrap_.end(), broker_re), end; it != end; ++it) {
      broker_ports_.push_back((*it)[1]);
      forward += " " + lab_->hub() + ":" + broker_ports_.back() + "=127.0.0.1:" + broker_ports_.back();
    }
    EXPECT_EQ(broker_ports_.size(), 3u) << bootstrap_;
    const std::string out = scratch() + "/hub-forward";
    const pid_t hub = ShellSpawn(forward + " >" + out + ".stdout 2>" + out + ".stderr");
    guards_.push_back(std::make_unique<ChildGuard>(hub));
    EXPECT_TRUE(Eventually([&] { return ReadFile(scratch() + "/hub-forward.stdout") == "forwarding\n"; }))
        << ReadFile(scratch() + "/hub-forward.stderr");
    shared_ = scratch() + "/shared";
    fs::create_directories(shared_);
    // Off loopback every process needs the cluster's secret (as a deployment would).
    WriteFile(scratch() + "/secret", "a-secret-for-the-namespaced-kafka-cluster\n");
    fs::permissions(scratch() + "/secret", fs::perms::owner_read | fs::perms::owner_write);
    ::setenv("SEGFLOW_SECRET_FILE", (scratch() + "/secret").c_str(), 1);
    return true;
  }
  // StartCluster with a sink fault armed in every process it starts (`variable`=`marker`,
  // kafka_changelog_committer.cc's InjectedExit); processes started later run without it.
  void StartClusterWithFault(const char* variable, const std::string& marker, int workers) {
    ::setenv(variable, marker.c_str(), 1);
    StartCluster(workers);
    ::unsetenv(variable);
  }
  // The body of KilledWorkersUnderLiveLoadLoseNoChangeAndRepeatOnlyAbortedOnes (below), for
  // `kafka_job` (a KafkaOutJob).
  void LiveLoadWithKilledWorkers(const std::string& kafka_job) {
    std::string log_changelog, log_late;
    ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
    WriteFile(job_path(), kafka_job);
    const std::string exit_marker = scratch() + "/kafka-exit-once";
    ASSERT_NO_FATAL_FAILURE(StartClusterWithFault("SEGFLOW_FAULT_KAFKA_EXIT_ONCE", exit_marker, 3));
    const std::string id = SubmitJob();
    ASSERT_FALSE(id.empty());

    std::vector<std::vector<std::string>> chunks;
    int64_t bound = 0;
    ASSERT_NO_FATAL_FAILURE(CartChunks(5, &chunks, &bound));
    int kills = 0;
    for (size_t c = 0; c < 5; ++c) {
      for (uint32_t p = 0; p < kPartitions; ++p)
        ASSERT_NO_FATAL_FAILURE(Kcat("events", p, chunks[p][c]));
      if (c == 0) {
        // The injected exit happened (the first checkpoint with records), and a replacement
        // worker joins.
        ASSERT_TRUE(Eventually([&] { return fs::exists(exit_marker); }));
        AddWorker();
      }
      if (c == 2 || c == 4) {
        const pid_t victim = KeyedTaskZeroWorker(id);
        ASSERT_GT(victim, 0) << Cli({"status", id}).out;
        ASSERT_EQ(::kill(victim, SIGKILL), 0);
        ++kills;
        AddWorker();
      }
    }
    auto audience_at = [&](int64_t t) {
      return Segflow(
          {"audience", job_path(), "--segment", "cart_abandoned", "--at", std::to_string(t)}, "",
          scratch());
    };
    ASSERT_TRUE(Eventually([&] { return audience_at(bound).exit_code == 0; }))
        << Cli({"status", id}).out << ReadFile(scratch() + "/coordinator.stderr");
    // The checkpoint covering `bound` also committed to Kafka (after the audience store).
    const std::vector<std::string> expected = LinesAtOrBefore(log_changelog, bound);
    ASSERT_TRUE(Eventually([&] {
      std::set<std::string> seen;
      for (const auto& line : Lines(Values(ReadKafka("shop.memberships")))) seen.insert(line);
      return std::all_of(expected.begin(), expected.end(),
                         [&](const std::string& l) { return seen.count(l) > 0; });
    })) << Cli({"status", id}).out;
    Outcome cancel = Cli({"cancel", id, "--wait"});
    ASSERT_EQ(cancel.exit_code, 0) << cancel.err;

    // The sink's own account: the transactions it aborted (or was unsure of), by offsets.
    std::set<std::pair<int, int64_t>> reported;
    int reports = 0;
    std::string report_lines;
    static const std::regex report_re(
        R"((aborted the failed attempt's transaction|died committing its transaction)[^\n]*)");
    static const std::regex range_re(
        R"(topic shop\.memberships partition (\d+) offsets (\d+)\.\.(\d+))");
    for (size_t w = 0; w < workers_.size(); ++w) {
      const std::string err = ReadFile(scratch() + "/worker-" + std::to_string(w) + ".stderr");
      for (std::sregex_iterator it(err.begin(), err.end(), report_re), end; it != end; ++it) {
        ++reports;
        const std::string line = (*it)[0];
        report_lines += line + "\n";
        for (std::sregex_iterator r(line.begin(), line.end(), range_re); r != end; ++r) {
          for (int64_t o = std::stoll((*r)[2]); o <= std::stoll((*r)[3]); ++o)
            reported.insert({std::stoi((*r)[1]), o});
        }
      }
    }
    EXPECT_GE(reports, 1) << "the injected exit left an open transaction to report";

    const std::vector<KafkaRecord> all = ReadKafka("shop.memberships");
    std::vector<KafkaRecord> clean, repeats;
    for (const auto& rec : all) {
      ASSERT_EQ(rec.id, IdOf(rec.value)) << rec.value;
      (reported.count({rec.partition, rec.offset}) ? repeats : clean).push_back(rec);
    }
    EXPECT_GT(repeats.size(), 0u) << "the injected exit's records are in Kafka (the mock shows "
                                     "them); the sink reported:\n"
                                  << report_lines;
    EXPECT_EQ(LinesAtOrBefore(Values(clean), bound), LinesAtOrBefore(log_changelog, bound))
        << "outside the aborted transactions: every expected record once, in order";
    std::set<std::string> clean_ids;
    for (const auto& rec : clean) clean_ids.insert(rec.id);
    for (const auto& rec : repeats) {
      EXPECT_TRUE(clean_ids.count(rec.id)) << "not a repeat of a committed record: " << rec.value;
    }
    EXPECT_EQ(clean_ids.size(), clean.size()) << "a segflow-id committed twice";
  }
  // The pid of the worker running keyed task 0 of a running job (`status` names the worker,
  // `jobs` its pid); -1 if none showed within the deadline.
  pid_t KeyedTaskZeroWorker(const std::string& id) {
    pid_t victim = -1;
    Eventually([&] {
      std::smatch m;
      const std::string st = Cli({"status", id}).out;
      if (st.find("running") == std::string::npos) return false;
      if (!std::regex_search(st, m, std::regex(R"(keyed 0\s+worker (\d+) )"))) return false;
      const std::string worker = m[1];
      const std::string jobs = Cli({"jobs"}).out;
      if (!std::regex_search(jobs, m, std::regex("worker " + worker + R"(\s+\S+\s+pid (\d+))")))
        return false;
      victim = static_cast<pid_t>(std::stol(m[1]));
      return true;
    });
    return victim;
  }
  // `sh -c CMD` in a child; its pid (the program CMD execs keeps it).
  static pid_t ShellSpawn(const std::string& cmd) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
      ::_exit(127);
    }
    return pid;
  }
  Outcome Cli(std::vector<std::string> args) {
    args.push_back("--coordinator");
    args.push_back(address_);
    return Segflow(args, "", scratch());
  }

  // The cart events by partition, each split into `n` chunks in order, and `*bound`: the
  // latest instant every partition's watermark passes once all its records are read (its
  // largest ts less max_out_of_orderness, 5 s, less 1 ms).
  void CartChunks(size_t n, std::vector<std::vector<std::string>>* chunks, int64_t* bound) {
    const std::vector<std::string> parts = ByPartition(CartEvents());
    *bound = std::numeric_limits<int64_t>::max();
    JsonEventDecoder decoder(RoleFields{});
    Event e;
    chunks->assign(kPartitions, std::vector<std::string>(n));
    for (uint32_t p = 0; p < kPartitions; ++p) {
      const std::vector<std::string> lines = Lines(parts[p]);
      int64_t max_ts = std::numeric_limits<int64_t>::min();
      for (size_t i = 0; i < lines.size(); ++i) {
        (*chunks)[p][i * n / lines.size()] += lines[i] + "\n";
        ASSERT_TRUE(decoder.Decode(lines[i], &e).ok()) << lines[i];
        max_ts = std::max(max_ts, e.ts);
      }
      *bound = std::min(*bound, max_ts - 5000 - 1);
    }
  }
  // Submits the job file to the cluster (retried until the workers have registered); its id.
  std::string SubmitJob() {
    Outcome submit;
    EXPECT_TRUE(Eventually([&] {
      submit = Cli({"submit", job_path()});
      return submit.exit_code == 0;
    })) << submit.err;
    return submit.exit_code == 0 ? Lines(submit.out).at(0) : std::string();
  }

  void UpgradeScenario(bool kafka_changelog);  // defined with its tests below

  ScratchDir dir_{"segflow-kafka-test"};
  std::string kcat_;
  std::string bootstrap_;
  pid_t mock_ = -1;
  std::string address_;  // the coordinator's, once StartCluster ran
  std::vector<pid_t> workers_;
  std::vector<std::unique_ptr<ChildGuard>> guards_;
  std::unique_ptr<NetworkLab> lab_;        // StartLab: workers as hosts of their own
  std::vector<std::string> broker_ports_;  // the mock brokers', with lab_
  std::string shared_;                     // the one folder workers share, with lab_
};

// --bounded over the mock reads each partition to its end offset at the start and gives
// the embedded-log run's changelog and late records, record for record.
TEST_F(KafkaTest, BoundedRunEqualsEmbeddedLogRun) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  const std::vector<std::string> parts = ByPartition(CartEvents());
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, parts[p]));

  WriteFile(job_path(), ShopJob(bootstrap_));
  Outcome r = Run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("finished"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": 8000 records"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 rejected"), std::string::npos) << r.out;
  EXPECT_EQ(Consume("shop.memberships").out, log_changelog);
  EXPECT_EQ(Consume("shop.late").out, log_late);

  // Records appended after the start are not read by a bounded run.
  Kcat("events", 0,
       R"({"user_id":"late-comer","event":"page_view","ts":1})"
       "\n");
  Outcome again = Run();
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find(": 8001 records"), std::string::npos) << again.out;
}

// A live run over the mock, fed while it runs, stopped by SIGTERM: its changelog up to
// its evaluated time is the embedded-log run's, and it evaluated as far as the
// watermarks allow (min over partitions of max ts - 5 s).
TEST_F(KafkaTest, LiveRunEqualsEmbeddedLogRunUpToItsEvaluatedTime) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  WriteFile(job_path(), ShopJob(bootstrap_));
  const pid_t live = Start({"run", job_path()}, "", scratch(), scratch(), "live");
  const ChildGuard guard(live);

  std::vector<std::vector<std::string>> halves;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(2, &halves, &bound));
  for (uint32_t p = 0; p < kPartitions; ++p) {
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, halves[p][0]));
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, halves[p][1]));
  }
  auto audience_at = [&](int64_t t) {
    return Segflow(
        {"audience", job_path(), "--segment", "cart_abandoned", "--at", std::to_string(t)}, "",
        scratch());
  };
  ASSERT_TRUE(Eventually([&] { return audience_at(bound).exit_code == 0; }))
      << ReadFile(scratch() + "/live.stderr");
  EXPECT_NE(audience_at(bound + 1).exit_code, 0);

  ASSERT_EQ(::kill(live, SIGTERM), 0);
  Outcome stopped = Wait(live, scratch(), "live");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  EXPECT_NE(stopped.out.find(": 8000 records"), std::string::npos) << stopped.out;
  ASSERT_EQ(EvaluatedThrough(stopped.out), bound) << stopped.out;
  EXPECT_EQ(LinesAtOrBefore(Consume("shop.memberships").out, bound),
            LinesAtOrBefore(log_changelog, bound));
  EXPECT_EQ(Consume("shop.late").out, log_late);
}

// The rejected records reach Prometheus: `segflow run --http` of a live Kafka job with one
// malformed value among good ones exports segflow_records_rejected_total 1 (summed over
// its source tasks).
TEST_F(KafkaTest, RejectedRecordsReachTheMetrics) {
  Kcat("events", 2,
       R"({"user_id":"u1","event":"page_view","ts":1000})"
       "\n{\"broken\n"
       R"({"user_id":"u1","event":"page_view","ts":2000})"
       "\n");
  WriteFile(job_path(), ShopJob(bootstrap_));
  const pid_t run = Start({"run", job_path(), "--workers", "1", "--http", "127.0.0.1:0"}, "",
                          scratch(), scratch(), "run");
  int port = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        std::smatch m;
        const std::string err = ReadFile(scratch() + "/run.stderr");
        static const std::regex re(R"(http listening on 127\.0\.0\.1:(\d+))");
        if (!std::regex_search(err, m, re)) return false;
        port = std::stoi(m[1]);
        return true;
      },
      std::chrono::seconds(20)))
      << ReadFile(scratch() + "/run.stderr");
  httplib::Client http("127.0.0.1", port);
  std::string metrics;
  auto rejected = [&] {
    auto r = http.Get("/metrics");
    if (!r || r->status != 200) return int64_t{-1};
    metrics = r->body;
    static const std::regex sample(
        R"(segflow_records_rejected_total\{job_id="[^"]+",job_name="shop",task="source \d+"\} (\d+))");
    int64_t sum = 0;
    bool any = false;
    for (std::sregex_iterator it(metrics.begin(), metrics.end(), sample), end; it != end; ++it) {
      sum += std::stoll((*it)[1]);
      any = true;
    }
    return any ? sum : int64_t{-1};
  };
  EXPECT_TRUE(Eventually([&] { return rejected() == 1; })) << metrics;
  ::kill(run, SIGTERM);
  Outcome done = Wait(run, scratch(), "run");
  EXPECT_EQ(done.exit_code, 0) << done.err;
}

// Property, on both sources: for seeded random event streams of each scenario (random user
// and event counts, late and malformed fractions), the bundled job run bounded over Kafka
// gives the embedded-log run's changelog and late records, record for record, and rejects
// exactly the malformed lines (which `gen --log` leaves out of the embedded log).
TEST_F(KafkaTest, RandomEventStreamsGiveTheEmbeddedLogRunsResults) {
  const uint64_t base_seed = 20261207;
  std::mt19937_64 rng(base_seed);
  const std::vector<std::string> scenarios = {"cart", "media", "fintech"};
  for (size_t i = 0; i < scenarios.size(); ++i) {
    const std::string& scenario = scenarios[i];
    const std::string seed = std::to_string(rng() % 100000);
    const std::string users = std::to_string(20 + rng() % 300);
    const std::string events = std::to_string(500 + rng() % 4000);
    const std::string late = std::to_string(static_cast<double>(rng() % 30) / 1000.0);
    const std::string malformed = std::to_string(static_cast<double>(rng() % 20) / 1000.0);
    SCOPED_TRACE("base seed " + std::to_string(base_seed) + ": segflow gen " + scenario + " --users " + users +
                 " --events " + events + " --seed " + seed + " --late-fraction " + late + " --malformed-fraction " +
                 malformed);
    const std::vector<std::string> gen = {"gen",    scenario,          "--users",      users,
                                          "--events", events,          "--seed",       seed,
                                          "--late-fraction", late, "--malformed-fraction", malformed};
    const std::string dir = scratch() + "/" + scenario;
    const std::string job_text =
        ReadFile(std::string(SEGFLOW_SOURCE_DIR) + "/jobs/" + scenario + ".yaml");
    fs::create_directories(dir + "/log");
    fs::create_directories(dir + "/kafka");
    WriteFile(dir + "/log/job.yaml", job_text);
    const size_t topics = job_text.find("  topics: [events]\n");
    ASSERT_NE(topics, std::string::npos) << scenario;
    JobParseResult parsed = ParseJobFile(dir + "/log/job.yaml");
    ASSERT_TRUE(parsed.ok()) << parsed.ErrorText();
    const JobSpec& job = parsed.job;

    std::vector<std::string> into_log = gen;
    into_log.insert(into_log.end(), {"--log", job.log_dir, "--topic", "events", "--partitions", "4"});
    Outcome g = Segflow(into_log, "", dir);
    ASSERT_EQ(g.exit_code, 0) << g.err;
    Outcome lines = Segflow(gen, "", dir);
    ASSERT_EQ(lines.exit_code, 0) << lines.err;
    // Into the Kafka topic, restarted empty: the partitions `produce` gives the good lines;
    // the malformed ones go to partition 0, where the job must reject them.
    ASSERT_NO_FATAL_FAILURE(RestartMock());
    JsonEventDecoder decoder(job.source.fields);
    Event e;
    std::vector<std::string> parts(kPartitions);
    size_t bad = 0;
    for (const auto& line : Lines(lines.out)) {
      const bool ok = decoder.Decode(line, &e).ok();
      bad += ok ? 0 : 1;
      parts[ok ? PartitionFor(HashUser(e.user), kPartitions) : 0] += line + "\n";
    }
    for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, parts[p]));
    // The same job, reading the topic from Kafka, with its own log folder for its outputs.
    std::string kafka_text = job_text;
    kafka_text.replace(topics, 19, "  kafka: {bootstrap: \"" + bootstrap_ + "\", topics: [events]}\n");
    WriteFile(dir + "/kafka/job.yaml", kafka_text);
    const std::string kafka_log = ParseJobFile(dir + "/kafka/job.yaml").job.log_dir;

    Outcome from_log = Segflow({"run", dir + "/log/job.yaml", "--bounded"}, "", dir);
    ASSERT_EQ(from_log.exit_code, 0) << from_log.out << from_log.err;
    Outcome from_kafka = Segflow({"run", dir + "/kafka/job.yaml", "--bounded"}, "", dir);
    ASSERT_EQ(from_kafka.exit_code, 0) << from_kafka.out << from_kafka.err;
    EXPECT_NE(from_kafka.out.find("\n" + std::to_string(bad) + " rejected"), std::string::npos)
        << from_kafka.out;
    for (const std::string& topic : {job.output.changelog, job.name + ".late"}) {
      Outcome a = Segflow({"consume", "--log", job.log_dir, "--topic", topic}, "", dir);
      Outcome b = Segflow({"consume", "--log", kafka_log, "--topic", topic}, "", dir);
      ASSERT_EQ(a.exit_code, 0) << a.err;
      ASSERT_EQ(b.exit_code, 0) << b.err;
      EXPECT_EQ(b.out, a.out) << topic;
      if (topic == job.output.changelog) {
        EXPECT_GT(Lines(a.out).size(), 0u) << scenario;
      }
    }
  }
}

// A value that is not a valid event is not evaluated: it is counted and copied, with its
// topic, partition, offset and the reason, to "<job>.rejected"; the good records around
// it are evaluated as usual.
TEST_F(KafkaTest, MalformedValuesGoToTheRejectedTopicAndAreCounted) {
  Kcat("events", 1,
       R"({"user_id":"u1","event":"page_view","ts":1000})"
       "\nnot json at all\n"
       R"({"user_id":"u1","event":"page_view"})"
       "\n"
       R"({"user_id":"u1","event":"page_view","ts":2000})"
       "\n");
  WriteFile(job_path(), ShopJob(bootstrap_));
  Outcome r = Run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(": 4 records"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 rejected"), std::string::npos) << r.out;
  Outcome rejected = Consume("shop.rejected");
  ASSERT_EQ(rejected.exit_code, 0) << rejected.err;
  const std::vector<std::string> lines = Lines(rejected.out);
  ASSERT_EQ(lines.size(), 2u) << rejected.out;
  EXPECT_NE(lines[0].find(R"("offset":1)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("value":"not json at all")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("partition":1)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(R"("offset":2)"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("missing field"), std::string::npos) << lines[1];
}

// A restored job truncates "<job>.rejected" to its checkpoint's ends, as it does the late
// topic: the rejects the killed attempt wrote after the checkpoint are written again by
// the restored one, reading those records again, and the topic holds each one once.
TEST_F(KafkaTest, RejectsOfAKilledAttemptAreNotDuplicatedOnRestore) {
  WriteFile(job_path(), ShopJob(bootstrap_) + "checkpoint: {interval: 2s}\n");
  ASSERT_NO_FATAL_FAILURE(StartCluster(3));
  const std::string id = SubmitJob();
  ASSERT_FALSE(id.empty());
  auto rejected = [&] { return Lines(Consume("shop.rejected").out); };
  auto completed = [&]() -> int {
    std::smatch m;
    const std::string st = Cli({"status", id}).out;
    if (!std::regex_search(st, m, std::regex(R"((\d+) completed)"))) return -1;
    return std::stoi(m[1]);
  };
  auto attempt = [&]() -> int {
    std::smatch m;
    const std::string st = Cli({"status", id}).out;
    if (st.find("running") == std::string::npos) return -1;
    if (!std::regex_search(st, m, std::regex(R"(attempt (\d+))"))) return -1;
    return std::stoi(m[1]);
  };

  // A: one reject, covered by a completed checkpoint.
  ASSERT_NO_FATAL_FAILURE(Kcat("events", 1,
                               R"({"user_id":"u1","event":"page_view","ts":1000})"
                               "\nbad-a\n"));
  ASSERT_TRUE(Eventually([&] { return rejected().size() == 1; })) << Cli({"status", id}).out;
  const int before = completed();
  ASSERT_TRUE(Eventually([&] { return completed() >= before + 1; })) << Cli({"status", id}).out;
  const int first_attempt = attempt();

  // The worker running keyed task 0, found before B so that B's kill follows its rejects.
  pid_t victim = -1;
  ASSERT_TRUE(Eventually([&] {
    std::smatch m;
    const std::string st = Cli({"status", id}).out;
    if (!std::regex_search(st, m, std::regex(R"(keyed 0\s+worker (\d+) )"))) return false;
    const std::string worker = m[1];
    const std::string jobs = Cli({"jobs"}).out;
    if (!std::regex_search(jobs, m, std::regex("worker " + worker + R"(\s+\S+\s+pid (\d+))")))
      return false;
    victim = static_cast<pid_t>(std::stol(m[1]));
    return true;
  })) << Cli({"status", id}).out;

  // B: two rejects written, then the worker is killed before the next checkpoint.
  ASSERT_NO_FATAL_FAILURE(Kcat("events", 1,
                               R"({"user_id":"u1","event":"page_view","ts":2000})"
                               "\nbad-b1\nbad-b2\n"));
  ASSERT_TRUE(Eventually([&] { return rejected().size() == 3; }, std::chrono::milliseconds(20000)));
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  AddWorker();
  ASSERT_TRUE(Eventually([&] { return attempt() > first_attempt; })) << Cli({"status", id}).out;

  // C: one more reject; once it is in, the restored attempt has read past B again.
  ASSERT_NO_FATAL_FAILURE(Kcat("events", 1,
                               R"({"user_id":"u1","event":"page_view","ts":3000})"
                               "\nbad-c\n"));
  ASSERT_TRUE(Eventually([&] {
    const auto lines = rejected();
    return !lines.empty() && lines.back().find("bad-c") != std::string::npos;
  })) << Consume("shop.rejected").out;
  Outcome cancel = Cli({"cancel", id, "--wait"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  const std::vector<std::string> lines = rejected();
  std::vector<std::string> values;
  for (const auto& line : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, std::regex(R"re("value":"([^"]*)")re"))) << line;
    values.push_back(m[1]);
  }
  EXPECT_EQ(values, (std::vector<std::string>{"bad-a", "bad-b1", "bad-b2", "bad-c"}))
      << Consume("shop.rejected").out;
}

// `segflow forget` of a user whose records stay in a Kafka topic Segflow does not own: the
// user leaves the audience at once, explain refuses them, and a bounded re-run over the
// same Kafka records (still holding theirs) does not add them back.
TEST_F(KafkaTest, ForgetAUserOfAKafkaSourcedJob) {
  std::string events;
  for (const std::string user : {"u1", "u2"}) {
    for (int i = 1; i <= 5; ++i) {
      events += R"({"user_id":")" + user + R"(","event":"page_view","ts":)" +
                std::to_string(i * 1000) + "}\n";
    }
  }
  const std::vector<std::string> parts = ByPartition(events);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (parts[p].empty()) continue;
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, parts[p]));
  }
  WriteFile(job_path(), ShopJob(bootstrap_));
  auto audience = [&] {
    Outcome a = Segflow({"audience", job_path(), "--segment", "busy_browser"}, "", scratch());
    EXPECT_EQ(a.exit_code, 0) << a.err;
    return Lines(a.out);
  };
  Outcome r = Run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(audience(), (std::vector<std::string>{"u1", "u2"}));

  Outcome f = Segflow({"forget", "u1", job_path(), "--reason", "test"}, "", scratch());
  ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
  EXPECT_EQ(audience(), std::vector<std::string>{"u2"});
  Outcome e =
      Segflow({"explain", job_path(), "--segment", "busy_browser", "--user", "u1"}, "", scratch());
  EXPECT_NE(e.exit_code, 0) << e.out;
  EXPECT_NE(e.err.find("erased by segflow forget"), std::string::npos) << e.err;

  // The Kafka topic still holds u1's records; the re-run reads past them.
  r = Run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(": 10 records"), std::string::npos) << r.out;
  EXPECT_EQ(audience(), std::vector<std::string>{"u2"});
  Outcome changelog = Consume("shop.memberships");
  EXPECT_EQ(changelog.out.find(R"("user_id":"u1")"), std::string::npos) << changelog.out;
  EXPECT_NE(changelog.out.find(R"("user_id":"u2")"), std::string::npos) << changelog.out;
}

// `segflow bench JOB.yaml --modes scaling` of a job whose source is Kafka replays it
// bounded from the cluster (to the end offsets at each run's start), in this process and
// on an embedded cluster, with the counts of `segflow run --bounded`.
TEST_F(KafkaTest, BenchScalingReplaysAKafkaSourcedJob) {
  const std::vector<std::string> parts = ByPartition(CartEvents());
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, parts[p]));
  WriteFile(job_path(), ShopJob(bootstrap_));
  Outcome r = Run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string changelog = Consume("shop.memberships").out;
  size_t entered = 0;
  for (const auto& line : Lines(changelog)) entered += line.find("entered") != std::string::npos;
  ASSERT_GT(entered, 10u);
  Outcome b = Segflow({"bench", job_path(), "--modes", "scaling", "--workers", "0,1", "--runs", "1",
                       "--dir", scratch() + "/bench", "--quiet"},
                      "", scratch());
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_NE(b.out.find("## Scaling: bounded replay of job shop"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("8000 records"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("changelog " + std::to_string(entered) + " entered"), std::string::npos)
      << b.out;
}

// A topic the cluster does not have and a bootstrap no broker answers on fail the job
// with a message naming the servers and the topic, never a run that reads nothing.
TEST_F(KafkaTest, MissingTopicAndUnreachableBrokersFailClearly) {
  std::string job = ShopJob(bootstrap_);
  job.replace(job.find("topics: [events]"), 16, "topics: [nowhere]");
  WriteFile(job_path(), job);
  Outcome missing = Run();
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("topic \"nowhere\" does not exist on the cluster at " + bootstrap_),
            std::string::npos)
      << missing.err;

  WriteFile(job_path(), ShopJob("127.0.0.1:1"));
  Outcome down = Run(
      {"--bounded", "--workers", "0"});  // each client of a cluster run waits out its own lookup
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.err.find("bootstrap servers 127.0.0.1:1"), std::string::npos) << down.err;
  EXPECT_NE(down.err.find("\"events\""), std::string::npos) << down.err;
}

// The coordinator looks up a submission's Kafka partitions and offsets before it takes
// its lock: while a submission waits on a broker that accepts connections and never
// answers, `segflow jobs` is answered (and heartbeats are served), and the submission
// then fails saying which servers did not answer.
TEST_F(KafkaTest, ASlowKafkaLookupHoldsUpNoOtherRequest) {
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(silent, 16), 0);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string broker = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  WriteFile(job_path(), ShopJob(broker));
  StartCluster(1);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(Eventually([&] { return Cli({"jobs"}).out.find(" alive") != std::string::npos; }));
  const pid_t submit = Spawn({"submit", job_path(), "--bounded", "--coordinator", address_}, "",
                             scratch() + "/submit.stdout", scratch() + "/submit.stderr", scratch());
  ChildGuard guard(submit);
  // The coordinator's lookup has connected to the silent broker.
  pollfd pfd{silent, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 30000), 1) << "the coordinator never connected to " << broker;
  const int conn = ::accept(silent, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  Outcome jobs = Cli({"jobs"});
  EXPECT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_NE(jobs.out.find(" alive"), std::string::npos) << jobs.out;
  int status = 0;
  EXPECT_EQ(::waitpid(submit, &status, WNOHANG), 0) << "the submission was answered before `jobs`";
  Outcome done = Wait(submit, scratch(), "submit");
  EXPECT_NE(done.exit_code, 0);
  EXPECT_NE(done.err.find("bootstrap servers " + broker), std::string::npos) << done.err;
  EXPECT_EQ(ReadFile(scratch() + "/coordinator.stderr").find("lost"), std::string::npos)
      << ReadFile(scratch() + "/coordinator.stderr");
  ::close(conn);
  ::close(silent);
}

// A login the brokers refuse fails the job with a message that says so and where to look,
// rather than retrying forever: the mock offers no SASL mechanism, so a SASL_PLAINTEXT
// client's authentication fails as against a broker that refuses its credentials.
TEST_F(KafkaTest, FailedLoginFailsTheJobClearly) {
  std::string job = ShopJob(bootstrap_);
  job.replace(job.find("topics: [events]"), 16,
              "topics: [events], properties: {security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, "
              "sasl.username: segflow, sasl.password: wrong}");
  WriteFile(job_path(), job);
  Outcome r = Run({"--bounded", "--workers", "0"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("Kafka source at " + bootstrap_ + ": authentication failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sasl.*"), std::string::npos) << r.err;
}

// `segflow explain` of a job whose source is Kafka reads the user's records from the
// cluster (every partition: on Kafka the producer chose them): for users with and without
// changes, each segment's explanation equals the embedded-log job's, field for field.
TEST_F(KafkaTest, ExplainReadsTheUsersRecordsFromKafka) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  std::vector<std::string> users;
  for (const auto& line : Lines(log_changelog)) {
    std::smatch m;
    static const std::regex user(R"re("user_id":"([^"]+)")re");
    if (std::regex_search(line, m, user) &&
        std::find(users.begin(), users.end(), m[1]) == users.end()) {
      users.push_back(m[1]);
    }
    if (users.size() == 2) break;
  }
  ASSERT_EQ(users.size(), 2u) << log_changelog;
  users.push_back("nobody-at-all");
  const std::vector<std::string> segments = {"cart_abandoned", "big_cart", "busy_browser"};
  auto explain_all = [&] {
    std::vector<std::string> out;
    for (const auto& u : users) {
      for (const auto& s : segments) {
        Outcome e = Segflow({"explain", job_path(), "--segment", s, "--user", u, "--json"}, "",
                            scratch());
        EXPECT_EQ(e.exit_code, 0) << u << " " << s << ": " << e.err;
        out.push_back(e.out);
      }
    }
    return out;
  };
  const std::vector<std::string> from_log = explain_all();
  // The Kafka job's explanations cannot come from the embedded log's events.
  ASSERT_TRUE(fs::is_directory(log() + "/events"));
  fs::remove_all(log() + "/events");

  const std::vector<std::string> parts = ByPartition(CartEvents());
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, parts[p]));
  WriteFile(job_path(), ShopJob(bootstrap_));
  Outcome r = Run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(Consume("shop.memberships").out, log_changelog);
  const std::vector<std::string> from_kafka = explain_all();
  ASSERT_EQ(from_kafka.size(), from_log.size());
  for (size_t i = 0; i < from_log.size(); ++i) {
    EXPECT_EQ(from_kafka[i], from_log[i]) << users[i / segments.size()] << " "
                                          << segments[i % segments.size()];
  }
  EXPECT_NE(from_kafka[0].find("\"changelog_agrees\":true"), std::string::npos) << from_kafka[0];
}

// Workers SIGKILLed while a checkpointing live job reads the mock: the job restarts from
// its last checkpoint's Kafka offsets, and its committed changelog up to the evaluated
// time the watermarks allow is the embedded-log run's, record for record (none lost, none
// twice).
TEST_F(KafkaTest, KilledWorkersUnderLiveLoadLoseNothing) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  WriteFile(job_path(), ShopJob(bootstrap_) + "checkpoint: {interval: 200ms}\n");

  ASSERT_NO_FATAL_FAILURE(StartCluster(3));
  auto add_worker = [&] { AddWorker(); };
  auto cli = [&](std::vector<std::string> args) { return Cli(std::move(args)); };
  const std::string id = SubmitJob();
  ASSERT_FALSE(id.empty());

  // The events in 5 chunks per partition, while workers are killed and replaced.
  std::vector<std::vector<std::string>> chunks;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(5, &chunks, &bound));
  int kills = 0;
  for (size_t c = 0; c < 5; ++c) {
    for (uint32_t p = 0; p < kPartitions; ++p)
      ASSERT_NO_FATAL_FAILURE(Kcat("events", p, chunks[p][c]));
    if (c == 1 || c == 3) {
      // The worker running keyed task 0 (status names the worker, `jobs` its pid).
      const pid_t victim = KeyedTaskZeroWorker(id);
      ASSERT_GT(victim, 0) << cli({"status", id}).out;
      ASSERT_EQ(::kill(victim, SIGKILL), 0);
      ++kills;
      add_worker();
      ASSERT_TRUE(Eventually([&] {
        std::smatch m;
        const std::string st = cli({"status", id}).out;
        return std::regex_search(st, m, std::regex(R"(attempt (\d+))")) &&
               std::stoi(m[1]) >= kills + 1;
      })) << cli({"status", id}).out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  auto audience_at = [&](int64_t t) {
    return Segflow(
        {"audience", job_path(), "--segment", "cart_abandoned", "--at", std::to_string(t)}, "",
        scratch());
  };
  ASSERT_TRUE(Eventually([&] { return audience_at(bound).exit_code == 0; }))
      << cli({"status", id}).out << ReadFile(scratch() + "/coordinator.stderr");
  Outcome cancel = cli({"cancel", id, "--wait"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  const std::string status = cli({"status", id}).out;
  EXPECT_NE(status.find("2 restart(s)"), std::string::npos) << status;
  Outcome committed = Segflow(
      {"consume", "--log", log(), "--topic", "shop.memberships", "--committed"}, "", scratch());
  ASSERT_EQ(committed.exit_code, 0) << committed.err;
  const std::vector<std::string> live = LinesAtOrBefore(committed.out, bound);
  EXPECT_GT(live.size(), 100u);
  EXPECT_EQ(live, LinesAtOrBefore(log_changelog, bound))
      << "the committed changelog, record for record";
}

// Reprocessing by Kafka offsets: `submit --bounded --from offsets:P=O,...` over the mock
// gives the changelog of a run over a log holding only the records from those offsets on.
TEST_F(KafkaTest, FromOffsetsEqualsARunOverOnlyThatRange) {
  const std::vector<std::string> parts = ByPartition(CartEvents());
  std::string from = "offsets:";
  std::string second_halves;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    const std::vector<std::string> lines = Lines(parts[p]);
    const size_t half = lines.size() / 2;
    std::string first, second;
    for (size_t i = 0; i < lines.size(); ++i) (i < half ? first : second) += lines[i] + "\n";
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, first));
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, second));
    from += (p ? "," : "") + std::to_string(p) + "=" + std::to_string(half);
    second_halves += second;
  }
  // The reference: the embedded log holding only the second halves (same partitions).
  Outcome p = Segflow({"produce", "--log", log(), "--topic", "events", "--partitions", "4"},
                      second_halves, scratch());
  ASSERT_EQ(p.exit_code, 0) << p.err;
  WriteFile(job_path(), ShopJob(""));
  Outcome ref = Run({"--bounded", "--workers", "0"});
  ASSERT_EQ(ref.exit_code, 0) << ref.out << ref.err;
  const std::string ref_changelog = Consume("shop.memberships").out;
  ASSERT_GT(Lines(ref_changelog).size(), 50u);

  WriteFile(job_path(), ShopJob(bootstrap_));
  ASSERT_NO_FATAL_FAILURE(StartCluster(2));
  Outcome bounded;
  ASSERT_TRUE(Eventually([&] {
    bounded = Cli({"submit", job_path(), "--bounded", "--wait", "--from", from});
    return bounded.err.find("no worker") == std::string::npos || bounded.exit_code == 0;
  }));
  ASSERT_EQ(bounded.exit_code, 0) << bounded.out << bounded.err;
  EXPECT_NE(bounded.out.find(": " + std::to_string(Lines(second_halves).size()) + " records"),
            std::string::npos)
      << bounded.out;
  EXPECT_EQ(Consume("shop.memberships").out, ref_changelog) << "the offset range's changelog";
}

// Reprocessing by Kafka record time: `submit --bounded --from time:T`, T a wall-clock
// instant between two batches kcat produced (its records carry CreateTime, the produce
// time), gives the changelog of a run over a log holding only the second batch, as does
// `--from offsets:` at the batch boundary. The mock answers every ListOffsets by time
// with -1, as a broker does when it has no record at or after T (or no timestamps), so
// the source reads each partition for the first record at or after T; a live job from a
// T after every record starts at the partitions' ends.
TEST_F(KafkaTest, FromTimeEqualsARunOverOnlyThatRange) {
  const std::vector<std::string> parts = ByPartition(CartEvents());
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::string offsets = "offsets:";
  std::string second_halves;
  std::vector<std::string> seconds(kPartitions);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    const std::vector<std::string> lines = Lines(parts[p]);
    const size_t half = lines.size() / 2;
    std::string first;
    for (size_t i = 0; i < lines.size(); ++i) (i < half ? first : seconds[p]) += lines[i] + "\n";
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, first));
    offsets += (p ? "," : "") + std::to_string(p) + "=" + std::to_string(half);
    second_halves += seconds[p];
  }
  // Every first-batch record was stamped before kcat exited: before T. The second batch
  // is produced once the clock has passed T.
  const int64_t t = now_ms() + 1;
  while (now_ms() <= t) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, seconds[p]));

  // The reference: the embedded log holding only the second batch (same partitions).
  Outcome produced = Segflow({"produce", "--log", log(), "--topic", "events", "--partitions", "4"},
                             second_halves, scratch());
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  WriteFile(job_path(), ShopJob(""));
  Outcome ref = Run({"--bounded", "--workers", "0"});
  ASSERT_EQ(ref.exit_code, 0) << ref.out << ref.err;
  const std::string ref_changelog = Consume("shop.memberships").out;
  ASSERT_GT(Lines(ref_changelog).size(), 50u);

  WriteFile(job_path(), ShopJob(bootstrap_));
  ASSERT_NO_FATAL_FAILURE(StartCluster(2));
  auto bounded_from = [&](const std::string& from) {
    Outcome out;
    EXPECT_TRUE(Eventually([&] {
      out = Cli({"submit", job_path(), "--bounded", "--wait", "--from", from});
      return out.err.find("no worker") == std::string::npos || out.exit_code == 0;
    }));
    return out;
  };
  const std::string records = ": " + std::to_string(Lines(second_halves).size()) + " records";
  for (const std::string& from : {"time:" + std::to_string(t), offsets}) {
    Outcome run = bounded_from(from);
    ASSERT_EQ(run.exit_code, 0) << from << ": " << run.out << run.err;
    EXPECT_NE(run.out.find(records), std::string::npos) << from << ": " << run.out;
    EXPECT_EQ(Consume("shop.memberships").out, ref_changelog) << "--from " << from;
  }
  // A T after every record: a live job starts at the partitions' ends.
  Outcome live =
      Cli({"submit", job_path(), "--from", "time:" + std::to_string(now_ms() + 3600000)});
  ASSERT_EQ(live.exit_code, 0) << live.err;
  const std::string live_id = Lines(live.out).at(0);
  std::string status;
  EXPECT_TRUE(Eventually([&] {
    status = Cli({"status", live_id}).out;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      const std::string end = std::to_string(Lines(parts[p]).size());
      if (status.find("partition " + std::to_string(p) + ": offset " + end + ",") ==
          std::string::npos)
        return false;
    }
    return true;
  })) << status;
  EXPECT_EQ(Cli({"cancel", live_id, "--wait"}).exit_code, 0);
}

// A version upgrade of a live Kafka-sourced job (its changelog in the embedded log, or in
// Kafka with `kafka_changelog`), as UpgradeTest does for a log job: resubmitting the file with
// busy_browser changed backfills the new version from Kafka beside the live job while kcat keeps
// producing, the catch-up rounds measure the backlog by the topic's end offsets, the live job stops
// with a savepoint and the new one continues from both. Kept segments' committed changelog
// is the unedited run's record for record; the changed one switches in one instant, with
// alternating entries and exits, to a run of the new file's audience; the old version
// stays queryable.
void KafkaTest::UpgradeScenario(bool kafka_changelog) {
  const std::string shop = kafka_changelog
                               ? KafkaOutJob(bootstrap_, "300ms")
                               : ShopJob(bootstrap_) + "checkpoint: {interval: 300ms}\n";
  const std::string edited =
      std::regex_replace(shop, std::regex("window: 1h, at_least: 5"), "window: 1h, at_least: 1");
  ASSERT_NE(edited, shop);
  std::vector<std::vector<std::string>> chunks;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(30, &chunks, &bound));
  auto produce_chunk = [&](size_t c) {
    for (uint32_t p = 0; p < kPartitions; ++p) {
      if (!chunks[p][c].empty()) {
        ASSERT_NO_FATAL_FAILURE(Kcat("events", p, chunks[p][c]));
      }
    }
  };
  for (size_t c = 0; c < 12; ++c) ASSERT_NO_FATAL_FAILURE(produce_chunk(c));
  WriteFile(job_path(), shop);
  // Catch-up rounds while Kafka grew by more than 300 records during the last one.
  ASSERT_NO_FATAL_FAILURE(StartCluster(2, {"--upgrade-catch-up-records", "300"}));
  const std::string live_id = SubmitJob();
  ASSERT_FALSE(live_id.empty());
  ASSERT_TRUE(Eventually([&] {
    return Cli({"status", live_id}).out.find("running") != std::string::npos;
  })) << Cli({"status", live_id}).out;

  if (kafka_changelog) {
    // A changelog on another cluster is another output: refused, the live job untouched.
    std::string elsewhere = edited;
    elsewhere.replace(elsewhere.find("kafka: {bootstrap: \"" + bootstrap_ + "\", topic:"),
                      std::string("kafka: {bootstrap: \"" + bootstrap_ + "\"").size(),
                      "kafka: {bootstrap: \"127.0.0.1:1\"");
    WriteFile(job_path(), elsewhere);
    Outcome refused = Cli({"submit", job_path()});
    EXPECT_EQ(refused.exit_code, 1) << refused.out;
    EXPECT_NE(refused.err.find("writes other outputs than " + live_id), std::string::npos)
        << refused.err;
  }
  WriteFile(job_path(), edited);
  const pid_t follower = Start({"submit", job_path(), "--wait", "--coordinator", address_}, "",
                               scratch(), scratch(), "upgrade");
  ChildGuard guard(follower);
  // Production load while the backfill runs: a chunk every 100 ms until the live job is
  // stopping (so that the final round has records to replay), then the rest.
  for (size_t c = 12; c < 30; ++c) {
    ASSERT_NO_FATAL_FAILURE(produce_chunk(c));
    if (ReadFile(scratch() + "/upgrade.stderr").find("stopping-live") == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Then one event a day later on every partition: every watermark passes the handover.
  int64_t last = 0;
  for (const auto& l : Lines(CartEvents())) {
    std::smatch m;
    if (std::regex_search(l, m, std::regex(R"("ts":(\d+))")))
      last = std::max<int64_t>(last, std::stoll(m[1]));
  }
  std::string tickers;
  for (int u = 0; u < 32; ++u) {
    tickers += R"({"user_id":"ticker)" + std::to_string(u) + R"(","event":"page_view","ts":)" +
               std::to_string(last + 86400000) + "}\n";
  }
  const std::vector<std::string> ticker_parts = ByPartition(tickers);
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_FALSE(ticker_parts[p].empty()) << p;
  const int64_t through = last + 86400000 - 5000 - 1;

  auto diagnostics = [&] {
    std::string out = Cli({"jobs"}).out;
    for (const auto& l : Lines(out)) {
      if (l.rfind("shop-", 0) == 0) out += Cli({"status", l.substr(0, l.find(' '))}).out;
    }
    return out + ReadFile(scratch() + "/coordinator.stderr");
  };
  Outcome upgraded = Wait(follower, scratch(), "upgrade");
  ASSERT_EQ(upgraded.exit_code, 0) << upgraded.out << upgraded.err << diagnostics();
  EXPECT_NE(upgraded.err.find("kept cart_abandoned, big_cart; backfilled busy_browser (changed)"),
            std::string::npos)
      << upgraded.err;
  const std::vector<std::string> ids = Lines(upgraded.out);
  ASSERT_EQ(ids.size(), 2u) << upgraded.out;  // the upgrade's id, then the new live job's
  const std::string new_id = ids[1];
  EXPECT_NE(Cli({"status", ids[0]}).out.find(": done"), std::string::npos)
      << Cli({"status", ids[0]}).out;
  if (upgraded.err.find(": final-backfill") == std::string::npos) {
    std::fprintf(stderr, "note: no final backfill round was needed in this run\n");
  }
  EXPECT_NE(Cli({"status", live_id}).out.find("finished"), std::string::npos)
      << Cli({"status", live_id}).out;
  for (uint32_t p = 0; p < kPartitions; ++p)
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, ticker_parts[p]));
  auto audience_at = [&](const std::string& segment, int64_t t) {
    return Segflow({"audience", job_path(), "--segment", segment, "--at", std::to_string(t)}, "",
                   scratch());
  };
  ASSERT_TRUE(Eventually([&] { return audience_at("busy_browser", through).exit_code == 0; },
                         std::chrono::seconds(60)))
      << diagnostics();
  ASSERT_EQ(Cli({"cancel", new_id, "--wait"}).exit_code, 0);
  const std::string committed =
      kafka_changelog
          ? Values(ReadKafka("shop.memberships"))
          : Segflow({"consume", "--log", log(), "--topic", "shop.memberships", "--committed"}, "",
                    scratch())
                .out;
  const std::string versions = Segflow({"audience", job_path(), "--versions"}, "", scratch()).out;
  EXPECT_NE(versions.find("segment busy_browser: serving "), std::string::npos) << versions;
  EXPECT_NE(versions.find("  frozen "), std::string::npos) << "the old busy_browser\n" << versions;

  // The switch: one instant S, only busy_browser records, every sequence alternates.
  static const std::regex rec(
      R"re("segment":"([^"]+)","user_id":"([^"]+)","change":"(entered|exited)")re");
  static const std::regex at_re(R"("at":(-?\d+))");
  std::set<int64_t> switch_instants;
  std::map<std::string, bool> member;
  for (const auto& l : Lines(committed)) {
    std::smatch r;
    ASSERT_TRUE(std::regex_search(l, r, rec)) << l;
    if (l.find("\"cause\":\"version-switch\"") != std::string::npos) {
      EXPECT_EQ(r[1], "busy_browser") << l;
      std::smatch m;
      if (std::regex_search(l, m, at_re)) switch_instants.insert(std::stoll(m[1]));
    }
    bool& in = member[r[1].str() + "/" + r[2].str()];
    EXPECT_EQ(in, r[3] == "exited") << "entries and exits alternate: " << l;
    in = r[3] == "entered";
  }
  ASSERT_EQ(switch_instants.size(), 1u) << "one switch instant";
  const int64_t switched_at = *switch_instants.begin();
  ASSERT_LT(switched_at, through);
  std::map<std::pair<std::string, int64_t>, std::vector<std::string>> answers;
  const std::vector<std::string> segments = {"cart_abandoned", "big_cart", "busy_browser"};
  for (const auto& s : segments) {
    for (const int64_t t : {switched_at - 1, switched_at, through}) {
      Outcome a = audience_at(s, t);
      EXPECT_EQ(a.exit_code, 0) << a.err;
      answers[{s, t}] = Lines(a.out);  // sorted ids
    }
  }

  auto answer = [&](const std::string& segment, int64_t t) { return answers[{segment, t}]; };
  // The references: runs of the old and the new file over the embedded log holding the same
  // events in the same partitions (these runs replace the job's outputs).
  Outcome produced = Segflow({"produce", "--log", log(), "--topic", "events", "--partitions", "4"},
                             CartEvents() + tickers, scratch());
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  auto reference = [&](const std::string& job) {
    WriteFile(job_path(), job);
    Outcome r = Run({"--bounded", "--workers", "0"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return Consume("shop.memberships").out;
  };
  const std::string ref_old = reference(ShopJob(""));
  const std::string ref_new = reference(std::regex_replace(
      ShopJob(""), std::regex("window: 1h, at_least: 5"), "window: 1h, at_least: 1"));
  auto of = [](const std::vector<std::string>& lines, const std::string& segment) {
    std::vector<std::string> out;
    for (const auto& l : lines) {
      if (l.find("\"segment\":\"" + segment + "\"") != std::string::npos) out.push_back(l);
    }
    return out;
  };
  auto members = [&](const std::string& changelog, const std::string& segment, int64_t t) {
    std::set<std::string> in;
    for (const auto& l : of(LinesAtOrBefore(changelog, t), segment)) {
      std::smatch r;
      if (!std::regex_search(l, r, rec)) continue;
      if (r[3] == "entered") {
        in.insert(r[2]);
      } else {
        in.erase(r[2]);
      }
    }
    return std::vector<std::string>(in.begin(), in.end());
  };
  for (const std::string s : {"cart_abandoned", "big_cart"}) {
    EXPECT_GT(of(LinesAtOrBefore(committed, through), s).size(), 10u) << s;
    EXPECT_EQ(of(LinesAtOrBefore(committed, through), s), of(LinesAtOrBefore(ref_old, through), s))
        << s << ": the kept segment's changelog, record for record";
    for (const int64_t t : {switched_at - 1, switched_at, through}) {
      EXPECT_EQ(answer(s, t), members(ref_old, s, t)) << s << " at " << t;
    }
  }
  EXPECT_NE(members(ref_old, "busy_browser", switched_at),
            members(ref_new, "busy_browser", switched_at))
      << "the version changed";
  EXPECT_EQ(members(committed, "busy_browser", through), members(ref_new, "busy_browser", through));
  for (const int64_t t : {switched_at, through}) {
    EXPECT_EQ(answer("busy_browser", t), members(ref_new, "busy_browser", t))
        << "at " << t << " (the switch at " << switched_at << ") is the new version's";
  }
  EXPECT_EQ(answer("busy_browser", switched_at - 1),
            members(ref_old, "busy_browser", switched_at - 1))
      << "just before the switch is the old version's";
}

TEST_F(KafkaTest, UpgradeOfALiveKafkaSourcedJobHandsOverLikeALogJob) {
  UpgradeScenario(false);
}

TEST_F(KafkaTest, UpgradeOfAJobWithKafkaSourceAndChangelog) {
  UpgradeScenario(true);
}

// Every broker down for a while in the middle of a live run (the mock drops and refuses
// connections): the run waits and retries, and its changelog is still the embedded-log
// run's.
TEST_F(KafkaTest, BrokersDownAndBackMidRunDelayButDoNotChangeResults) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  WriteFile(job_path(), ShopJob(bootstrap_));
  const pid_t live = Start({"run", job_path(), "--workers", "0"}, "", scratch(), scratch(), "live");
  const ChildGuard guard(live);
  std::vector<std::vector<std::string>> halves;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(2, &halves, &bound));
  for (uint32_t p = 0; p < kPartitions; ++p)
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, halves[p][0]));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(mock_, SIGUSR1), 0);
  ASSERT_TRUE(Eventually([&] {
    return ReadFile(scratch() + "/mock.stderr").find("every broker down") != std::string::npos;
  }));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(1500));  // the outage: the run keeps waiting
  ASSERT_EQ(::kill(mock_, SIGUSR2), 0);
  ASSERT_TRUE(Eventually([&] {
    return ReadFile(scratch() + "/mock.stderr").find("every broker up") != std::string::npos;
  }));
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, halves[p][1]));

  auto audience_at = [&](int64_t t) {
    return Segflow(
        {"audience", job_path(), "--segment", "cart_abandoned", "--at", std::to_string(t)}, "",
        scratch());
  };
  ASSERT_TRUE(Eventually([&] { return audience_at(bound).exit_code == 0; }))
      << ReadFile(scratch() + "/live.stderr");
  ASSERT_EQ(::kill(live, SIGTERM), 0);
  Outcome stopped = Wait(live, scratch(), "live");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  EXPECT_NE(stopped.out.find(": 8000 records"), std::string::npos) << stopped.out;
  EXPECT_EQ(LinesAtOrBefore(Consume("shop.memberships").out, bound),
            LinesAtOrBefore(log_changelog, bound));
}

// The Kafka changelog (spec integrations §10.2), bounded: a read_committed consumer (kcat)
// reads exactly the embedded-log run's changelog, partition for partition, each record
// keyed by its user and carrying its segflow-id; the late records go to "shop.late". The
// job has no `log:` (its local state lives under data/shop/) and `segflow audience` reads
// its embedded audience store as usual.
TEST_F(KafkaTest, BoundedRunWritesTheEmbeddedLogChangelogToKafka) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  const std::vector<std::string> parts = ByPartition(CartEvents());
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, parts[p]));

  WriteFile(job_path(), KafkaOutJob(bootstrap_, "200ms"));
  Outcome r = Run();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<KafkaRecord> changelog = ReadKafka("shop.memberships");
  EXPECT_EQ(Values(changelog), log_changelog);
  for (const auto& rec : changelog) ASSERT_EQ(rec.id, IdOf(rec.value)) << rec.value;
  EXPECT_EQ(Values(ReadKafka("shop.late")), log_late);
  EXPECT_TRUE(ReadKafka("shop.rejected").empty());
  EXPECT_TRUE(fs::is_directory(scratch() + "/data/shop/audience/shop"));
  Outcome audience =
      Segflow({"audience", job_path(), "--segment", "cart_abandoned"}, "", scratch());
  EXPECT_EQ(audience.exit_code, 0) << audience.err;
  EXPECT_FALSE(Lines(audience.out).empty());
}

// A failure-free live run with a Kafka changelog, fed while it runs and stopped by SIGTERM:
// Kafka holds exactly the embedded-log run's changelog up to the run's evaluated time.
TEST_F(KafkaTest, LiveRunWritesExactlyTheExpectedChangelogToKafka) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  WriteFile(job_path(), KafkaOutJob(bootstrap_, "200ms"));
  const pid_t live = Start({"run", job_path()}, "", scratch(), scratch(), "live");
  const ChildGuard guard(live);
  std::vector<std::vector<std::string>> halves;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(2, &halves, &bound));
  for (uint32_t p = 0; p < kPartitions; ++p) {
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, halves[p][0]));
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, halves[p][1]));
  }
  auto audience_at = [&](int64_t t) {
    return Segflow(
        {"audience", job_path(), "--segment", "cart_abandoned", "--at", std::to_string(t)}, "",
        scratch());
  };
  ASSERT_TRUE(Eventually([&] { return audience_at(bound).exit_code == 0; }))
      << ReadFile(scratch() + "/live.stderr");
  // Committed with a completed checkpoint while the run goes on.
  ASSERT_TRUE(Eventually([&] {
    return LinesAtOrBefore(Values(ReadKafka("shop.memberships")), bound) ==
           LinesAtOrBefore(log_changelog, bound);
  })) << ReadFile(scratch() + "/live.stderr");
  ASSERT_EQ(::kill(live, SIGTERM), 0);
  Outcome stopped = Wait(live, scratch(), "live");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  ASSERT_EQ(EvaluatedThrough(stopped.out), bound) << stopped.out;
  const std::vector<KafkaRecord> changelog = ReadKafka("shop.memberships");
  EXPECT_EQ(Lines(Values(changelog)), LinesAtOrBefore(log_changelog, bound))
      << "exactly the expected records, none twice";
  for (const auto& rec : changelog) ASSERT_EQ(rec.id, IdOf(rec.value)) << rec.value;
  EXPECT_EQ(Values(ReadKafka("shop.late")), log_late);
  EXPECT_EQ(stopped.err.find("aborted"), std::string::npos) << stopped.err;
}

// Workers SIGKILLed under live load, and one sink that dies inside its transaction after
// its records reached Kafka (SEGFLOW_FAULT_KAFKA_EXIT_ONCE): nothing is lost, and every
// record the read_committed consumer sees beyond the expected ones is an exact repeat
// (same segflow-id) of one of them at offsets the restarted sink reports as the
// transaction it aborted. (librdkafka 2.0.2's mock hides no aborted record, spec §10.3.)
TEST_F(KafkaTest, KilledWorkersUnderLiveLoadLoseNoChangeAndRepeatOnlyAbortedOnes) {
  LiveLoadWithKilledWorkers(KafkaOutJob(bootstrap_, "200ms"));
}

// Savepoints, rescaling and backfill → live handover over Kafka in and out: a bounded
// backfill of the first half of every partition at parallelism 2 stops with a savepoint
// (its last transaction committed); a live job at parallelism 3 continues from it as kcat
// appends the rest. Kafka then holds exactly the uninterrupted embedded-log run's changes
// (none lost at the handover, none twice), and the audiences and health read the same.
TEST_F(KafkaTest, BackfillSavepointRescaleAndLiveHandover) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  const std::string reference = scratch() + "/reference.yaml";
  WriteFile(reference, ShopJob(""));
  std::string job = KafkaOutJob(bootstrap_, "300ms");
  WriteFile(job_path(), job);
  StartCluster(3);
  ASSERT_FALSE(HasFatalFailure());
  std::vector<std::vector<std::string>> chunks;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(2, &chunks, &bound));
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, chunks[p][0]));
  Outcome backfill = Cli({"submit", job_path(), "--bounded", "--end-with-savepoint", "--wait"});
  ASSERT_EQ(backfill.exit_code, 0) << backfill.out << backfill.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(backfill.out, m, std::regex(R"(\nsavepoint: (\S+)\n$)"))) << backfill.out;
  const std::string savepoint = m[1];
  const size_t after_backfill = ReadKafka("shop.memberships").size();
  EXPECT_GT(after_backfill, 0u) << "the backfill's changes committed with its savepoint";

  job.replace(job.find("parallelism: 2"), 14, "parallelism: 3");
  WriteFile(job_path(), job);
  Outcome live = Cli({"submit", job_path(), "--from-savepoint", savepoint});
  ASSERT_EQ(live.exit_code, 0) << live.err;
  const std::string id = Lines(live.out).at(0);
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, chunks[p][1]));
  const std::vector<std::string> expected = LinesAtOrBefore(log_changelog, bound);
  ASSERT_TRUE(Eventually([&] {
    return LinesAtOrBefore(Values(ReadKafka("shop.memberships")), bound).size() >= expected.size();
  })) << Cli({"status", id}).out;
  Outcome cancel = Cli({"cancel", id, "--wait"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;

  // Parallelism 3 orders the live part's records by its own changelog partitions: compare
  // as sorted lists (a repeat would show as an extra line).
  std::vector<std::string> got = LinesAtOrBefore(Values(ReadKafka("shop.memberships")), bound);
  std::vector<std::string> want = expected;
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want) << "every change of the uninterrupted run once, across the handover";
  for (const auto& rec : ReadKafka("shop.memberships")) ASSERT_EQ(rec.id, IdOf(rec.value));
  std::string errors;
  for (size_t w = 0; w < workers_.size(); ++w)
    errors += ReadFile(scratch() + "/worker-" + std::to_string(w) + ".stderr");
  EXPECT_EQ(errors.find("aborted"), std::string::npos) << errors;

  for (const std::string segment : {"cart_abandoned", "big_cart", "busy_browser"}) {
    const std::vector<std::string> at = {"--segment", segment, "--at", std::to_string(bound)};
    std::vector<std::string> ours = {"audience", job_path()}, theirs = {"audience", reference};
    ours.insert(ours.end(), at.begin(), at.end());
    theirs.insert(theirs.end(), at.begin(), at.end());
    const Outcome a = Segflow(ours, "", scratch()), b = Segflow(theirs, "", scratch());
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(a.out, b.out) << segment;
    EXPECT_FALSE(a.out.empty()) << segment;
  }
  Outcome health = Segflow({"health", job_path()}, "", scratch());
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_NE(health.out.find("busy_browser"), std::string::npos) << health.out;

  // `diff` against the embedded-log job evaluated to the same time: nothing diverges.
  Outcome first = Segflow({"diff", job_path(), reference, "--threshold", "0"}, "", scratch());
  ASSERT_TRUE(std::regex_search(first.out, m, std::regex(R"(A: [^\n]*evaluated through \S+ \((\d+)\))")))
      << first.out << first.err;
  const std::string evaluated = m[1];
  Outcome again = Segflow({"run", reference, "--bounded", "--until=" + evaluated}, "", scratch());
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  Outcome diff = Segflow({"diff", job_path(), reference, "--threshold", "0"}, "", scratch());
  EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;
  EXPECT_NE(diff.out.find("evaluated through"), std::string::npos) << diff.out;
}

// A restore from a savepoint older than the Kafka changelog's last commit. The same job
// re-evaluates the same Kafka records into the same staged changes, which are already in
// Kafka: nothing is sent twice. An edited job stages other changes after the savepoint:
// every one of them reaches Kafka (a position-based skip would drop those before the last
// commit's offsets), and the sink says why the earlier job's changes are followed by these.
TEST_F(KafkaTest, RestoringAnOlderSavepointSendsAnEditedJobsChangesAndTheSameJobsOnce) {
  std::string job = KafkaOutJob(bootstrap_, "300ms");
  WriteFile(job_path(), job);
  StartCluster(2);
  ASSERT_FALSE(HasFatalFailure());
  std::vector<std::vector<std::string>> chunks;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(2, &chunks, &bound));
  auto bounded = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"submit", job_path(), "--bounded", "--wait"};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r;
  };
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, chunks[p][0]));
  Outcome first = bounded({"--end-with-savepoint"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(first.out, m, std::regex(R"(\nsavepoint: (\S+)\n$)"))) << first.out;
  const std::string savepoint = m[1];
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, chunks[p][1]));
  bounded({"--from-savepoint", savepoint});
  const size_t committed = ReadKafka("shop.memberships").size();
  ASSERT_GT(committed, 0u);

  // The same job again from the older savepoint: no record twice.
  bounded({"--from-savepoint", savepoint});
  EXPECT_EQ(ReadKafka("shop.memberships").size(), committed);

  // An edited segment: its changes after the savepoint differ, and all reach Kafka.
  job.replace(job.find("at_least: 5"), 11, "at_least: 2");
  WriteFile(job_path(), job);
  bounded({"--from-savepoint", savepoint});
  // The edited run's changes, as staged under data/shop.
  Outcome staged = Segflow({"consume", "--log", scratch() + "/data/shop/log", "--topic", "shop.memberships"}, "",
                   scratch());
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  std::set<std::string> in_kafka;
  for (const auto& line : Lines(Values(ReadKafka("shop.memberships")))) in_kafka.insert(line);
  size_t missing = 0;
  std::string example;
  for (const auto& line : Lines(staged.out)) {
    if (in_kafka.count(line)) continue;
    if (missing++ == 0) example = line;
  }
  EXPECT_EQ(missing, 0u) << "staged changes of the edited job not in Kafka, e.g. " << example;
  std::string errors;
  for (size_t w = 0; w < workers_.size(); ++w)
    errors += ReadFile(scratch() + "/worker-" + std::to_string(w) + ".stderr");
  EXPECT_NE(errors.find("is older than the last committed transaction"), std::string::npos) << errors;
}

// The same, on a cluster spread like one across machines (issue 14's "Done when"): every
// worker is a host of its own (a network namespace on a bridge, its own address), with its
// own --dir, and shares one folder with the others, the checkpoint folder, the only one
// its --data-root lets it touch. The job names no `log:` folder: what it stores itself
// (the staged changelog, the audience store) lives in the checkpoint folder. Replacement
// workers are new hosts with new, empty --dirs.
TEST_F(KafkaTest, WorkersOnSeparateHostsShareOnlyTheCheckpointFolder) {
  std::string why;
  if (!StartLab(&why)) GTEST_SKIP() << why;
  ASSERT_FALSE(HasFailure());
  LiveLoadWithKilledWorkers(KafkaOutJob(bootstrap_, "200ms", shared_));
  if (HasFatalFailure()) return;
  EXPECT_FALSE(fs::exists(scratch() + "/data")) << "the job's files belong in the checkpoint folder";
  EXPECT_TRUE(fs::exists(shared_ + "/shop.data/log"));
  EXPECT_TRUE(fs::exists(shared_ + "/shop.data/audience/shop"));
  // Each worker registered from its own host, not from this one's loopback.
  const std::string jobs = Cli({"jobs"}).out;
  EXPECT_EQ(jobs.find("127.0.0.1"), std::string::npos) << jobs;
}

// A sink that dies after commit_transaction and before its journal records the commit
// (SEGFLOW_FAULT_KAFKA_EXIT_AFTER_COMMIT_ONCE): the restarted sink reads the transaction's
// offsets back as a read_committed consumer, finds it committed and does not send it again,
// so Kafka holds every expected change exactly once.
TEST_F(KafkaTest, SinkDyingRightAfterItsCommitSendsNothingTwice) {
  std::string log_changelog, log_late;
  ASSERT_NO_FATAL_FAILURE(RunOverEmbeddedLog(&log_changelog, &log_late));
  WriteFile(job_path(), KafkaOutJob(bootstrap_, "200ms"));
  const std::string exit_marker = scratch() + "/kafka-exit-after-commit-once";
  ASSERT_NO_FATAL_FAILURE(
      StartClusterWithFault("SEGFLOW_FAULT_KAFKA_EXIT_AFTER_COMMIT_ONCE", exit_marker, 2));
  const std::string id = SubmitJob();
  ASSERT_FALSE(id.empty());
  std::vector<std::vector<std::string>> whole;
  int64_t bound = 0;
  ASSERT_NO_FATAL_FAILURE(CartChunks(1, &whole, &bound));
  for (uint32_t p = 0; p < kPartitions; ++p) ASSERT_NO_FATAL_FAILURE(Kcat("events", p, whole[p][0]));
  ASSERT_TRUE(Eventually([&] { return fs::exists(exit_marker); }));
  AddWorker();
  const std::vector<std::string> expected = LinesAtOrBefore(log_changelog, bound);
  ASSERT_TRUE(Eventually([&] {
    return LinesAtOrBefore(Values(ReadKafka("shop.memberships")), bound) == expected;
  })) << Cli({"status", id}).out;
  // The restarted attempt's sink (after the heartbeat timeout) says what it found.
  std::string reports;
  EXPECT_TRUE(Eventually([&] {
    reports.clear();
    for (size_t w = 0; w < workers_.size(); ++w) {
      const std::string err = ReadFile(scratch() + "/worker-" + std::to_string(w) + ".stderr");
      for (const auto& line : Lines(err)) {
        if (line.find("the failed attempt's transaction") != std::string::npos)
          reports += line + "\n";
      }
    }
    return !reports.empty();
  })) << Cli({"status", id}).out;
  EXPECT_NE(reports.find("had committed (its records are readable committed): not sent again"),
            std::string::npos)
      << reports;
  // Its next checkpoints commit (the job runs on), and nothing repeats.
  ASSERT_TRUE(Eventually([&] {
    std::smatch m;
    const std::string st = Cli({"status", id}).out;
    return st.find("running") != std::string::npos &&
           std::regex_search(st, m, std::regex(R"(attempt (\d+))")) && std::stoi(m[1]) >= 2;
  })) << Cli({"status", id}).out;
  Outcome cancel = Cli({"cancel", id, "--wait"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  const std::vector<KafkaRecord> all = ReadKafka("shop.memberships");
  EXPECT_EQ(LinesAtOrBefore(Values(all), bound), expected) << "every change once, in order";
  std::set<std::string> ids;
  for (const auto& rec : all) EXPECT_TRUE(ids.insert(rec.id).second) << "twice: " << rec.value;
}

// A Kafka changelog without a checkpoint block is refused before anything runs.
TEST_F(KafkaTest, KafkaChangelogWithoutCheckpointsIsRefused) {
  std::string job = KafkaOutJob(bootstrap_, "1s");
  job.erase(job.find("checkpoint:"));
  WriteFile(job_path(), job);
  Outcome r = Run();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("\"output.changelog.kafka\" needs a \"checkpoint\" block"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(ReadKafka("shop.memberships").empty());
}

// The offsets a consumer group `group` has committed for `topic`'s partitions (-1: none),
// read with librdkafka's consumer API (OffsetFetch), as a monitoring tool would.
std::vector<int64_t> GroupOffsets(const std::string& bootstrap, const std::string& group,
                                  const std::string& topic, uint32_t partitions) {
  std::vector<int64_t> out(partitions, -2);
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof(errstr)) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "group.id", group.c_str(), errstr, sizeof(errstr)) !=
          RD_KAFKA_CONF_OK) {
    ADD_FAILURE() << errstr;
    rd_kafka_conf_destroy(conf);
    return out;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    ADD_FAILURE() << errstr;
    return out;
  }
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions));
  for (uint32_t p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), static_cast<int32_t>(p));
  if (rd_kafka_committed(rk, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

// With `group:` under source.kafka, the offsets of each completed checkpoint are also
// committed to that group (for monitoring tools; spec integrations §10.1): once a live run
// has read everything and checkpointed, the group's offsets are the partitions' ends.
TEST_F(KafkaTest, CompletedCheckpointsCommitTheirOffsetsToTheGroup) {
  const std::vector<std::string> parts = ByPartition(CartEvents());
  std::vector<int64_t> ends;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    ASSERT_NO_FATAL_FAILURE(Kcat("events", p, parts[p]));
    ends.push_back(static_cast<int64_t>(Lines(parts[p]).size()));
  }
  std::string job = ShopJob(bootstrap_);
  job.replace(job.find("topics: [events]}"), 17, "topics: [events], group: monitor}");
  WriteFile(job_path(), job + "checkpoint: {interval: 200ms}\n");
  EXPECT_EQ(GroupOffsets(bootstrap_, "monitor", "events", kPartitions),
            std::vector<int64_t>(kPartitions, -1001))
      << "nothing committed before the run (RD_KAFKA_OFFSET_INVALID)";
  const pid_t live = Start({"run", job_path()}, "", scratch(), scratch(), "live");
  const ChildGuard guard(live);
  std::vector<int64_t> committed;
  ASSERT_TRUE(Eventually([&] {
    committed = GroupOffsets(bootstrap_, "monitor", "events", kPartitions);
    return committed == ends;
  })) << ReadFile(scratch() + "/live.stderr")
      << "committed: " << committed[0] << "," << committed[1] << "," << committed[2] << ","
      << committed[3];
  ASSERT_EQ(::kill(live, SIGTERM), 0);
  Outcome stopped = Wait(live, scratch(), "live");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
}

}  // namespace
}  // namespace segflow
