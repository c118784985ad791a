// The declarative case driver (in the spirit of DuckDB's sqllogictest): every folder under
// tests/cases/ holds job.yaml, events.jsonl and expect.txt (format: tests/cases/README.md).
// Each case runs three times through the real binary: bounded (produce, `run --bounded
// --until H`), live (`run` on an empty log, produce while it runs, a far-future sentinel per
// partition moves the watermark past H, poll `audience --at H`, SIGTERM), and bounded over
// Kafka (the events in the partitions `produce` would give them, written by `kcat` into a
// `segflow kafka-mock` cluster, the job's source rewritten to `source.kafka`). H is the
// case's largest T.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "cli_test_util.h"
#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "engine/value/json_event.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/sink/audience_store.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Live mode's sentinel: one event per partition, from users no case may use, far in the
// future so that every partition's watermark passes every T of a case.
constexpr int64_t kSentinelTs = 4102444800000;  // 2100-01-01T00:00:00Z
constexpr std::string_view kSentinelPrefix = "~sentinel";
constexpr auto kPollInterval = std::chrono::milliseconds(20);
constexpr auto kDeadline = std::chrono::seconds(30);  // generous: CI also runs under ASan

enum class Mode { kBounded, kLive, kKafka };

std::string CasesDir() {
  return std::string(SEGFLOW_SOURCE_DIR) + "/tests/cases";
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

bool IsSentinel(std::string_view user) {
  return user.substr(0, kSentinelPrefix.size()) == kSentinelPrefix;
}

// ---------------------------------------------------------------------------------------
// expect.txt

struct AudienceCheck {
  int line = 0;
  int64_t at = 0;
  std::string segment;
  std::vector<std::string> members;  // sorted
};

struct Expectation {
  uint32_t partitions = 1;
  std::vector<AudienceCheck> audiences;
  int64_t horizon = 0;                                // H: the largest T of the `at` lines
  std::optional<std::vector<std::string>> changelog;  // "AT USER SEGMENT entered|exited", sorted
  std::vector<std::string> late;                      // "TS USER EVENT", sorted
  std::vector<std::string> errors;
};

std::optional<int64_t> ParseTime(const std::string& text) {
  auto t = ParseTimeArg(text);
  if (!t.ok()) return std::nullopt;
  return *t;
}

Expectation ParseExpectation(const std::string& path) {
  Expectation x;
  enum class Section { kNone, kChangelog, kLate } section = Section::kNone;
  int n = 0;
  auto error = [&](const std::string& what) {
    x.errors.push_back(path + ":" + std::to_string(n) + ": " + what);
  };
  for (std::string line : Lines(ReadFile(path))) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream in(line);
    std::vector<std::string> tok;
    for (std::string t; in >> t;) tok.push_back(t);
    if (tok.empty()) continue;
    if (tok[0] == "partitions" && tok.size() == 2) {
      x.partitions = static_cast<uint32_t>(std::atoi(tok[1].c_str()));
      if (x.partitions < 1 || x.partitions > 8) error("partitions must be 1..8");
      section = Section::kNone;
    } else if (tok[0] == "at") {
      section = Section::kNone;
      if (tok.size() < 3 || tok[2].size() < 2 || tok[2].back() != ':') {
        error("expected `at TIME SEGMENT: [USER ...]`");
        continue;
      }
      AudienceCheck c;
      c.line = n;
      auto t = ParseTime(tok[1]);
      if (!t) error("bad TIME " + tok[1]);
      c.at = t.value_or(0);
      c.segment = tok[2].substr(0, tok[2].size() - 1);
      c.members.assign(tok.begin() + 3, tok.end());
      for (const auto& m : c.members) {
        if (IsSentinel(m))
          error("user ids starting with " + std::string(kSentinelPrefix) + " are reserved");
      }
      std::sort(c.members.begin(), c.members.end());
      x.horizon = x.audiences.empty() ? c.at : std::max(x.horizon, c.at);
      x.audiences.push_back(std::move(c));
    } else if (tok.size() == 1 && tok[0] == "changelog:") {
      section = Section::kChangelog;
      if (!x.changelog) x.changelog.emplace();
    } else if (tok.size() == 1 && tok[0] == "late:") {
      section = Section::kLate;
    } else if (section == Section::kChangelog) {
      auto t = ParseTime(tok[0]);
      if (tok.size() != 4 || !t || (tok[3] != "entered" && tok[3] != "exited")) {
        error("expected a changelog record `AT USER SEGMENT entered|exited`");
        continue;
      }
      x.changelog->push_back(std::to_string(*t) + " " + tok[1] + " " + tok[2] + " " + tok[3]);
    } else if (section == Section::kLate) {
      auto t = ParseTime(tok[0]);
      if (tok.size() != 3 || !t) {
        error("expected a late record `TS USER EVENT`");
        continue;
      }
      x.late.push_back(std::to_string(*t) + " " + tok[1] + " " + tok[2]);
    } else {
      error("unknown line (expected `partitions N`, `at ...`, `changelog:` or `late:`)");
    }
  }
  if (x.audiences.empty()) x.errors.push_back(path + ": no `at` line");
  if (x.changelog) std::sort(x.changelog->begin(), x.changelog->end());
  std::sort(x.late.begin(), x.late.end());
  return x;
}

// ---------------------------------------------------------------------------------------
// Running the binary

struct Outcome {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

class Scratch {
 public:
  // In memory when possible (/dev/shm): the cases fsync a lot and stay small.
  Scratch() {
    std::error_code ec;
    const char* env = std::getenv("SEGFLOW_CASE_TMP");
    std::string base =
        env != nullptr ? env : (fs::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp");
    std::string tmpl = base + "/segflow-case-XXXXXX";
    const char* p = ::mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~Scratch() {
    std::error_code ec;
    if (!path_.empty() && std::getenv("SEGFLOW_KEEP_CASE_DIRS") == nullptr)
      fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A started `segflow` process; killed on destruction if still running.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::string& stdin_path,
          const std::string& dir, const std::string& tag)
      : out_(dir + "/" + tag + ".stdout"), err_(dir + "/" + tag + ".stderr") {
    pid_ = integration::Spawn(args, stdin_path, out_, err_, dir);
  }
  ~Process() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool running() const { return pid_ > 0 && !done_; }

  // Non-blocking: true once the process has exited (its outcome is then in outcome()).
  bool Poll() {
    if (!running()) return true;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return false;
    done_ = true;
    outcome_.exit_code = (r == pid_ && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    outcome_.out = ReadFile(out_);
    outcome_.err = ReadFile(err_);
    return true;
  }
  // Waits up to `deadline`; false if the process is still running then.
  bool WaitFor(std::chrono::milliseconds deadline) {
    const auto end = Clock::now() + deadline;
    while (!Poll()) {
      if (Clock::now() >= end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  void Signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }
  const Outcome& outcome() const { return outcome_; }
  std::string StderrSoFar() const { return ReadFile(err_); }

 private:
  pid_t pid_ = -1;
  bool done_ = false;
  std::string out_, err_;
  Outcome outcome_;
};

// ---------------------------------------------------------------------------------------
// One case in one mode

class CaseDriverTest : public ::testing::TestWithParam<std::tuple<std::string, Mode>> {
 protected:
  void SetUp() override {
    name_ = std::get<0>(GetParam());
    mode_ = std::get<1>(GetParam());
    src_ = CasesDir() + "/" + name_;
    dir_ = scratch_.path();
    ASSERT_FALSE(dir_.empty());
    expect_ = ParseExpectation(src_ + "/expect.txt");
    ASSERT_TRUE(expect_.errors.empty()) << Join(expect_.errors, "\n");
    fs::copy_file(src_ + "/job.yaml", dir_ + "/job.yaml");
    job_path_ = dir_ + "/job.yaml";
    JobParseResult parsed = ParseJobFile(job_path_);
    ASSERT_TRUE(parsed.ok()) << parsed.ErrorText();
    job_ = parsed.job;
    ASSERT_EQ(fs::weakly_canonical(fs::path(job_.log_dir).parent_path()),
              fs::weakly_canonical(dir_))
        << "a case's job.yaml must say `log: log` (relative to the job file)";
    ASSERT_EQ(job_.source.topics.size(), 1u) << "cases produce every event into one topic";
    ASSERT_LT(expect_.horizon + job_.source.max_out_of_orderness_ms, kSentinelTs);
    ASSERT_FALSE(job_.segments.empty());
  }

  Outcome Run(const std::vector<std::string>& args, const std::string& stdin_path = "") {
    Process p(args, stdin_path, dir_, "cmd" + std::to_string(counter_++));
    if (!p.WaitFor(kDeadline)) {
      ADD_FAILURE() << "segflow " << Join(args, " ") << " did not finish within the deadline";
      return Outcome{};
    }
    return p.outcome();
  }

  std::vector<std::string> ProduceArgs() const {
    const RoleFields& f = job_.source.fields;
    return {"produce",
            "--log",
            job_.log_dir,
            "--topic",
            job_.source.topics[0],
            "--partitions",
            std::to_string(expect_.partitions),
            "--user-field",
            f.user,
            "--event-field",
            f.event,
            "--time-field",
            f.time};
  }

  void Produce(const std::string& stdin_path) {
    Outcome p = Run(ProduceArgs(), stdin_path);
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }

  // One sentinel line per partition (live mode): users picked by the engine's partitioner.
  std::string SentinelLines() const {
    const RoleFields& f = job_.source.fields;
    std::vector<bool> covered(expect_.partitions, false);
    std::string text;
    for (int k = 0; k < 10000 && std::count(covered.begin(), covered.end(), false) > 0; ++k) {
      const std::string user = std::string(kSentinelPrefix) + std::to_string(k);
      const uint32_t p = PartitionFor(HashUser(user), expect_.partitions);
      if (covered[p]) continue;
      covered[p] = true;
      text += "{\"" + f.user + "\":\"" + user + "\",\"" + f.event + "\":\"~sentinel\",\"" + f.time +
              "\":" + std::to_string(kSentinelTs) + "}\n";
    }
    return text;
  }

  std::vector<std::string> AudienceArgs(const AudienceCheck& c) const {
    return {"audience", job_path_, "--segment", c.segment, "--at=" + std::to_string(c.at)};
  }

  void CheckAudiences() {
    for (const AudienceCheck& c : expect_.audiences) {
      Outcome q = Run(AudienceArgs(c));
      ASSERT_EQ(q.exit_code, 0) << "expect.txt:" << c.line << ": " << q.err;
      std::vector<std::string> got;
      for (const auto& u : Lines(q.out)) {
        if (!IsSentinel(u)) got.push_back(u);
      }
      EXPECT_EQ(Join(got, " "), Join(c.members, " "))
          << "expect.txt:" << c.line << ": members of " << c.segment << " as of " << c.at;
    }
  }

  // Every record of `topic`, partition by partition in offset order (read in-process).
  std::vector<std::pair<uint32_t, Event>> ReadTopic(const std::string& topic) {
    std::vector<std::pair<uint32_t, Event>> out;
    auto meta = log::ReadTopicMeta(job_.log_dir, topic);
    if (!meta.ok()) {
      ADD_FAILURE() << "topic " << topic << ": " << meta.status().ToString();
      return out;
    }
    for (uint32_t p = 0; p < meta->partitions; ++p) {
      auto reader = log::PartitionReader::Open(job_.log_dir, topic, p, 0);
      if (!reader.ok()) {
        ADD_FAILURE() << topic << "/" << p << ": " << reader.status().ToString();
        return out;
      }
      std::vector<log::LogRecord> records;
      for (;;) {
        records.clear();
        auto n = (*reader)->Poll(4096, &records);
        if (!n.ok()) {
          ADD_FAILURE() << topic << "/" << p << ": " << n.status().ToString();
          return out;
        }
        if (*n == 0) break;
        for (auto& r : records) out.emplace_back(p, std::move(r.event));
      }
    }
    return out;
  }

  void CheckChangelogAndLate() {
    // Every (user, segment) history alternates entered/exited at strictly increasing times,
    // and a partition's records are in `at` order (spec §9).
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, std::string>> last;
    std::map<uint32_t, int64_t> partition_at;
    std::vector<std::string> got;
    for (const auto& [p, e] : ReadTopic(job_.output.changelog)) {
      const Value* segment = e.props.Find("segment");
      ASSERT_TRUE(segment != nullptr && segment->is_string());
      const std::string& seg = segment->as_string();
      const std::string text = std::to_string(e.ts) + " " + e.user + " " + seg + " " + e.type;
      int64_t& partition_last = partition_at.try_emplace(p, e.ts).first->second;
      EXPECT_LE(partition_last, e.ts) << "partition " << p << " out of `at` order at " << text;
      partition_last = e.ts;
      auto [it, first] = last.try_emplace({e.user, seg}, e.ts, e.type);
      if (first) {
        EXPECT_EQ(e.type, "entered") << "first record of a history: " << text;
      } else {
        EXPECT_LT(it->second.first, e.ts) << "history out of order: " << text;
        EXPECT_NE(it->second.second, e.type) << "entered/exited do not alternate: " << text;
        it->second = {e.ts, e.type};
      }
      if (!IsSentinel(e.user) && e.ts <= expect_.horizon) got.push_back(text);
    }
    std::sort(got.begin(), got.end());
    if (expect_.changelog) {
      EXPECT_EQ(Join(got, "\n"), Join(*expect_.changelog, "\n"))
          << "changelog through " << expect_.horizon;
    }
    std::vector<std::string> late;
    for (const auto& [partition, e] : ReadTopic(job_.name + ".late")) {
      late.push_back(std::to_string(e.ts) + " " + e.user + " " + e.type);
    }
    std::sort(late.begin(), late.end());
    EXPECT_EQ(Join(late, "\n"), Join(expect_.late, "\n")) << "records in " << job_.name << ".late";
  }

  // The live job's evaluated time, if its audience store exists yet.
  std::optional<int64_t> EvaluatedThrough() const {
    auto store = AudienceStore::OpenForRead(job_.output.audience_dir);
    if (!store.ok()) return std::nullopt;
    auto through = (*store)->EvaluatedThrough();
    return through.ok() ? *through : std::nullopt;
  }

  void RunBounded() {
    Produce(src_ + "/events.jsonl");
    Outcome r = Run({"run", job_path_, "--bounded", "--until=" + std::to_string(expect_.horizon)});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    CheckAudiences();
    // A time the job has not evaluated is an error, not a guess (spec §8).
    AudienceCheck beyond = expect_.audiences.front();
    beyond.at = expect_.horizon + 1;
    Outcome q = Run(AudienceArgs(beyond));
    EXPECT_NE(q.exit_code, 0) << "audience --at " << beyond.at << " after --until "
                              << expect_.horizon;
    CheckChangelogAndLate();
  }

  // Bounded over Kafka: the same partitions as `produce` (the user's hash; an undecodable
  // line, which `produce` would refuse, goes to partition 0 and so to <job>.rejected), each
  // written in file order by kcat; the job reads them through `source.kafka`.
  void RunKafka() {
    const std::string kcat = "/usr/bin/kcat";
    if (::access(kcat.c_str(), X_OK) != 0) GTEST_SKIP() << "kcat is not installed (scripts/setup.sh installs it)";
    const std::string topic = job_.source.topics[0];
    const std::string bootstrap_file = dir_ + "/bootstrap";
    Process mock({"kafka-mock", "--brokers", "1", "--topic", topic + ":" + std::to_string(expect_.partitions),
                  "--bootstrap-file", bootstrap_file},
                 "", dir_, "mock");
    const auto end = Clock::now() + kDeadline;
    while (!fs::exists(bootstrap_file)) {
      ASSERT_FALSE(mock.Poll()) << "kafka-mock exited: " << mock.outcome().err;
      ASSERT_LT(Clock::now(), end) << "kafka-mock did not start";
      std::this_thread::sleep_for(kPollInterval);
    }
    const std::string bootstrap = Lines(ReadFile(bootstrap_file)).at(0);
    std::vector<std::string> parts(expect_.partitions);
    JsonEventDecoder decoder(job_.source.fields);
    Event e;
    for (const auto& line : Lines(ReadFile(src_ + "/events.jsonl"))) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const uint32_t p = decoder.Decode(line, &e).ok() ? PartitionFor(HashUser(e.user), expect_.partitions) : 0;
      parts[p] += line + "\n";
    }
    for (uint32_t p = 0; p < expect_.partitions; ++p) {
      if (parts[p].empty()) continue;
      const std::string in = dir_ + "/kafka." + std::to_string(p) + ".jsonl";
      WriteFile(in, parts[p]);
      std::vector<std::string> argv = {"-P", "-b", bootstrap, "-t", topic, "-p", std::to_string(p)};
      const pid_t pid = ::fork();
      if (pid == 0) {
        const int fd = ::open(in.c_str(), O_RDONLY);
        if (fd < 0) ::_exit(127);
        ::dup2(fd, 0);
        ::execl(kcat.c_str(), "kcat", argv[0].c_str(), argv[1].c_str(), argv[2].c_str(), argv[3].c_str(),
                argv[4].c_str(), argv[5].c_str(), argv[6].c_str(), nullptr);
        ::_exit(127);
      }
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "kcat -P into partition " << p;
    }
    // The job, its source read from Kafka instead of the embedded log.
    YAML::Node job = YAML::LoadFile(job_path_);
    YAML::Node source = job["source"];
    source.remove("topics");
    source["kafka"]["bootstrap"] = bootstrap;
    source["kafka"]["topics"].push_back(topic);
    YAML::Emitter out;
    out << job;
    WriteFile(job_path_, out.c_str());
    Outcome r = Run({"run", job_path_, "--bounded", "--until=" + std::to_string(expect_.horizon)});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    CheckAudiences();
    CheckChangelogAndLate();
    mock.Signal(SIGTERM);
    EXPECT_TRUE(mock.WaitFor(kDeadline));
  }

  void RunLive() {
    // The topic exists, empty, before the job starts.
    log::TopicMeta meta;
    meta.partitions = expect_.partitions;
    meta.fields = job_.source.fields;
    auto created = log::EnsureTopic(job_.log_dir, job_.source.topics[0], meta);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    Process run({"run", job_path_}, "", dir_, "live");
    // Events arrive while it runs: in two batches, the second followed by the sentinels.
    const std::vector<std::string> lines = Lines(ReadFile(src_ + "/events.jsonl"));
    const size_t half = lines.size() / 2;
    std::string first, second;
    for (size_t i = 0; i < lines.size(); ++i) (i < half ? first : second) += lines[i] + "\n";
    WriteFile(dir_ + "/events.1.jsonl", first);
    WriteFile(dir_ + "/events.2.jsonl", second + SentinelLines());
    ASSERT_NO_FATAL_FAILURE(Produce(dir_ + "/events.1.jsonl"));
    ASSERT_NO_FATAL_FAILURE(Produce(dir_ + "/events.2.jsonl"));

    // Poll until `audience --at H` is accepted. The store's evaluated time is read in-process
    // first, so that the command (a process start each) runs about once.
    AudienceCheck probe = expect_.audiences.front();
    probe.at = expect_.horizon;
    const auto end = Clock::now() + kDeadline;
    for (;;) {
      ASSERT_FALSE(run.Poll()) << "live run exited early: " << run.outcome().err;
      if (EvaluatedThrough().value_or(expect_.horizon - 1) >= expect_.horizon) {
        Process q(AudienceArgs(probe), "", dir_, "probe");
        ASSERT_TRUE(q.WaitFor(kDeadline));
        if (q.outcome().exit_code == 0) break;
      }
      ASSERT_LT(Clock::now(), end) << "live run never evaluated " << expect_.horizon
                                   << "\nrun stderr: " << run.StderrSoFar();
      std::this_thread::sleep_for(kPollInterval);
    }
    CheckAudiences();

    run.Signal(SIGTERM);
    ASSERT_TRUE(run.WaitFor(kDeadline)) << "live run did not stop on SIGTERM";
    EXPECT_EQ(run.outcome().exit_code, 0) << run.outcome().err;
    CheckChangelogAndLate();
  }

  std::string name_;
  Mode mode_ = Mode::kBounded;
  std::string src_;
  Scratch scratch_;
  std::string dir_;
  std::string job_path_;
  Expectation expect_;
  JobSpec job_;
  int counter_ = 0;
};

TEST_P(CaseDriverTest, Case) {
  switch (mode_) {
    case Mode::kBounded:
      return RunBounded();
    case Mode::kLive:
      return RunLive();
    case Mode::kKafka:
      return RunKafka();
  }
}

std::vector<std::string> DiscoverCases() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(CasesDir(), ec)) {
    if (e.is_directory() && fs::exists(e.path() / "job.yaml"))
      names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(CaseDriverDiscovery, FindsTheCases) {
  const std::vector<std::string> names = DiscoverCases();
  EXPECT_GE(names.size(), 40u);
  for (const auto& n : names) {
    EXPECT_TRUE(fs::exists(CasesDir() + "/" + n + "/events.jsonl")) << n;
    EXPECT_TRUE(fs::exists(CasesDir() + "/" + n + "/expect.txt")) << n;
    EXPECT_EQ(n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos)
        << "case names are [a-z0-9_]+: " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CaseDriverTest,
                         ::testing::Combine(::testing::ValuesIn(DiscoverCases()),
                                            ::testing::Values(Mode::kBounded, Mode::kLive, Mode::kKafka)),
                         [](const ::testing::TestParamInfo<CaseDriverTest::ParamType>& info) {
                           const Mode mode = std::get<1>(info.param);
                           return std::get<0>(info.param) + (mode == Mode::kBounded ? "_bounded"
                                                             : mode == Mode::kLive  ? "_live"
                                                                                    : "_kafka");
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CaseDriverTest);

}  // namespace
}  // namespace segflow
