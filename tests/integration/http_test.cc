// The HTTP API, metrics and dashboard (issue #15, integrations §12) as a client sees them:
// a real coordinator (`--http`) and worker on 127.0.0.1, requests sent with cpp-httplib's
// client, every answer compared with what the CLI says of the same job, and a real
// Prometheus server scraping /metrics.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"

namespace segflow {
namespace {

using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr char kToken[] = "s3cret-token";

std::string ShopJob() {
  return R"(job: shop
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
  idle_timeout: 1h
consent: {event: consent, field: granted, default: granted}
segments:
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
  - id: repeat_buyer
    when: {count: {event: purchase, window: 7d, at_least: 2}}
parallelism: 2
)";
}

bool Eventually(const std::function<bool()>& probe,
                std::chrono::milliseconds deadline = kProcessDeadline) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void KillAndReap(pid_t pid) {
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
}

// A port free right now on 127.0.0.1 (for a server that cannot pick its own).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// Runs the program args[0] with stdout to `out_path` and stderr to `err_path`.
pid_t StartProgram(const std::vector<std::string>& args, const std::string& out_path,
                   const std::string& err_path) {
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {  // async-signal-safe calls only
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err =
        err_path == out_path ? out : ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) ::_exit(127);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(argv[0], const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  return pid;
}

// Whether `pid` exited (reaped) within `deadline`; its exit code in *code.
bool ExitedWithin(pid_t pid, std::chrono::milliseconds deadline, int* code) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

struct Answer {
  int status = -1;  // -1: no answer
  std::string body;
  json Json() const { return json::parse(body, nullptr, false); }
};

class HttpTest : public ::testing::Test {
 protected:
  const std::string& scratch() const { return dir_.path(); }
  std::string job_path() const { return scratch() + "/job.yaml"; }

  void TearDown() override {
    for (pid_t p : pids_) KillAndReap(p);
  }

  // Starts `segflow coordinator --http 127.0.0.1:0` (with the token unless `token` is
  // empty) and one worker; fills address_ and http_port_.
  void StartCluster(const std::string& token = kToken) {
    std::vector<std::string> args = {"coordinator", "--dir",       scratch() + "/coordinator",
                                     "--listen",    "127.0.0.1:0", "--http",
                                     "127.0.0.1:0"};
    if (!token.empty()) {
      WriteFile(scratch() + "/token", "  " + token + "\n");
      args.push_back("--http-token-file");
      args.push_back(scratch() + "/token");
    }
    token_ = token;
    pids_.push_back(Start(args, "", scratch(), scratch(), "coordinator"));
    ASSERT_TRUE(Eventually(
        [&] {
          std::smatch m;
          const std::string out = ReadFile(scratch() + "/coordinator.stdout");
          static const std::regex re(
              R"(coordinator listening on (\S+)\nhttp listening on 127\.0\.0\.1:(\d+))");
          if (!std::regex_search(out, m, re)) return false;
          address_ = m[1];
          http_port_ = std::stoi(m[2]);
          return true;
        },
        std::chrono::seconds(10)))
        << ReadFile(scratch() + "/coordinator.stderr");
    pids_.push_back(
        Start({"worker", "--coordinator", address_, "--slots", "8", "--dir", scratch() + "/worker"},
              "", scratch(), scratch(), "worker"));
    ASSERT_TRUE(Eventually(
        [&] {
          return Get("/metrics").body.find("segflow_workers{state=\"alive\"} 1") !=
                 std::string::npos;
        },
        std::chrono::seconds(20)));
  }

  void ProduceEvents(int users, int events) {
    WriteFile(job_path(), ShopJob());
    Outcome g = Segflow({"gen", "cart", "--users", std::to_string(users), "--events",
                         std::to_string(events), "--seed", "7", "--late-fraction", "0.01"},
                        "", scratch());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    Outcome p =
        Segflow({"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "2"},
                g.out, scratch());
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }

  httplib::Client Client(const std::string& token) const {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(20, 0);
    if (!token.empty()) c.set_bearer_token_auth(token.c_str());
    return c;
  }
  static Answer Of(const httplib::Result& r) {
    if (!r) return {};
    return {r->status, r->body};
  }
  Answer Get(const std::string& path) { return GetAs(path, token_); }
  Answer GetAs(const std::string& path, const std::string& token) {
    return Of(Client(token).Get(path.c_str()));
  }
  Answer Post(const std::string& path, const std::string& body = "") {
    return Of(Client(token_).Post(path.c_str(), body, "application/yaml"));
  }
  Outcome Cli(std::vector<std::string> args) {
    args.push_back("--coordinator");
    args.push_back(address_);
    return Segflow(args, "", scratch());
  }
  std::string State(const std::string& id) {
    return Get("/v1/jobs/" + id).Json().value("state", "");
  }
  // Submits the job file over HTTP; its id ("" after a failed assertion).
  std::string Submit(const std::string& query) {
    Answer a = Post("/v1/jobs?file=" + job_path() + (query.empty() ? "" : "&" + query),
                    ReadFile(job_path()));
    EXPECT_EQ(a.status, 201) << a.body;
    return a.Json().value("id", "");
  }

  // The dashboard's DOM after its scripts ran in headless Chromium ("" after a failure).
  std::string DashboardDom(const std::string& chromium, const std::string& job_id) {
    const std::string url = "http://127.0.0.1:" + std::to_string(http_port_) + "/#job=" + job_id;
    const pid_t pid = StartProgram(
        {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--user-data-dir=" + scratch() + "/chromium",
         "--virtual-time-budget=5000", "--window-size=1200,1400", "--dump-dom", url},
        scratch() + "/dom.html", scratch() + "/chromium.log");
    pids_.push_back(pid);
    int code = -1;
    EXPECT_TRUE(ExitedWithin(pid, std::chrono::seconds(60), &code))
        << ReadFile(scratch() + "/chromium.log");
    EXPECT_EQ(code, 0) << ReadFile(scratch() + "/chromium.log");
    return code == 0 ? ReadFile(scratch() + "/dom.html") : "";
  }

  ScratchDir dir_{"segflow-http-test"};
  std::vector<pid_t> pids_;
  std::string address_, token_;
  int http_port_ = 0;
};

// A bounded job submitted over HTTP: GET /v1/jobs and /v1/jobs/{id} are exactly what
// `segflow jobs --json` and `status --json` print, agree with the text `status`, and
// /metrics carries its per-task records in (summing to the job's) and the workers.
TEST_F(HttpTest, JobAnswersEqualTheCliAndTheMetrics) {
  ProduceEvents(200, 4000);
  StartCluster();
  const std::string id = Submit("bounded=true");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(Eventually([&] { return State(id) == "finished"; })) << Get("/v1/jobs/" + id).body;

  Answer job = Get("/v1/jobs/" + id);
  ASSERT_EQ(job.status, 200);
  Outcome status_json = Cli({"status", id, "--json"});
  ASSERT_EQ(status_json.exit_code, 0) << status_json.err;
  EXPECT_EQ(job.Json(), json::parse(status_json.out));
  const json j = job.Json();
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["name"], "shop");
  EXPECT_EQ(j["bounded"], true);
  EXPECT_EQ(j["records_in"], 4000);
  ASSERT_TRUE(j["tasks"].is_array());
  EXPECT_EQ(j["tasks"].size(), 5u) << "2 sources, 2 keyed tasks, the sink";
  const std::string text = Cli({"status", id}).out;
  EXPECT_NE(text.find("records in 4000, late " + std::to_string(j["late_records"].get<uint64_t>())),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(": finished, attempt " + std::to_string(j["attempt"].get<int>())),
            std::string::npos)
      << text;

  Answer jobs = Get("/v1/jobs");
  ASSERT_EQ(jobs.status, 200);
  Outcome jobs_json = Cli({"jobs", "--json"});
  ASSERT_EQ(jobs_json.exit_code, 0) << jobs_json.err;
  EXPECT_EQ(jobs.Json(), json::parse(jobs_json.out));
  ASSERT_EQ(jobs.Json().size(), 1u);
  EXPECT_EQ(jobs.Json()[0]["state"], "finished");

  Answer metrics = Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  uint64_t sources_in = 0;
  const std::regex sample("segflow_records_in_total\\{job_id=\"" + id +
                          "\",job_name=\"shop\",task=\"source \\d\"\\} (\\d+)");
  for (std::sregex_iterator it(metrics.body.begin(), metrics.body.end(), sample), end; it != end;
       ++it) {
    sources_in += std::stoull((*it)[1]);
  }
  EXPECT_EQ(sources_in, 4000u) << metrics.body;
  for (const char* family :
       {"# TYPE segflow_records_in_total counter", "# TYPE segflow_watermark_lag_seconds gauge",
        "# TYPE segflow_backpressure_seconds_total counter",
        "# TYPE segflow_records_late_total counter", "segflow_workers{state=\"alive\"} 1",
        "segflow_segment_changes_total{job_id=\""}) {
    EXPECT_NE(metrics.body.find(family), std::string::npos) << family << "\n" << metrics.body;
  }
  // Per segment, from the store on the sink's worker: its size (as `segflow audience
  // --count` says) and its change-latency histogram.
  for (const std::string segment : {"big_cart", "repeat_buyer"}) {
    Outcome count =
        Segflow({"audience", job_path(), "--segment", segment, "--count"}, "", scratch());
    ASSERT_EQ(count.exit_code, 0) << count.err;
    const std::string labels =
        "{job_id=\"" + id + "\",job_name=\"shop\",segment=\"" + segment + "\"";
    EXPECT_NE(metrics.body.find("segflow_segment_members" + labels + "} " + Lines(count.out).at(0) +
                                "\n"),
              std::string::npos)
        << metrics.body;
    EXPECT_NE(
        metrics.body.find("segflow_change_latency_seconds_bucket" + labels + ",le=\"+Inf\"} "),
        std::string::npos)
        << metrics.body;
  }
  EXPECT_NE(metrics.body.find("# TYPE segflow_change_latency_seconds histogram"),
            std::string::npos);
}

// The value of the one sample of `name{labels}` in a /metrics text; -1 if absent.
double Sample(const std::string& text, const std::string& name, const std::string& labels) {
  const std::string head = name + "{" + labels + "} ";
  const size_t at = text.find(head);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + head.size()));
}

// A live job's per-segment metrics while it runs (read from the sink's own store handle,
// counts kept with the rows, no scan): segflow_segment_members equals `segflow audience
// --at T --count` (computed from the changelog) at the job's evaluated time T, and
// segflow_segment_changes_total equals the changelog's records per segment and change
// (`segflow consume`); /v1/jobs/ID/segments says the same sizes, /health what `segflow
// health` says.
TEST_F(HttpTest, LiveSegmentMetricsEqualTheChangelog) {
  ProduceEvents(300, 6000);
  StartCluster();
  const std::string id = Submit("");
  const std::string base = "/v1/jobs/" + id;
  ASSERT_TRUE(Eventually([&] { return Get(base).Json().value("records_in", 0) == 6000; }))
      << Get(base).body;
  // Settled: the same evaluated time and metrics twice, half a second apart.
  std::string metrics;
  json segments;
  int64_t evaluated = 0;
  ASSERT_TRUE(Eventually([&] {
    Answer a = Get(base + "/segments");
    const std::string m = Get("/metrics").body;
    if (a.status != 200 || a.Json().empty() || a.Json()[0]["evaluated_through"].is_null())
      return false;
    const json seen = a.Json();
    std::string segment_lines;  // (other samples, such as watermark lags, move with the clock)
    for (const auto& line : Lines(m)) {
      if (line.rfind("segflow_segment_", 0) == 0) segment_lines += line + "\n";
    }
    const bool same = seen == segments && segment_lines == metrics;
    segments = seen;
    metrics = segment_lines;
    evaluated = seen[0]["evaluated_through"].get<int64_t>();
    if (!same) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return same;
  })) << metrics;
  EXPECT_EQ(State(id), "running");
  std::map<std::pair<std::string, std::string>, int> changelog;  // (segment, change) -> records
  Outcome consume = Segflow({"consume", "--log", scratch() + "/log", "--topic", "shop.memberships"},
                            "", scratch());
  ASSERT_EQ(consume.exit_code, 0) << consume.err;
  for (const auto& line : Lines(consume.out)) {
    const json r = json::parse(line);
    if (r["at"].get<int64_t>() <= evaluated)
      ++changelog[{r["segment"].get<std::string>(), r["change"].get<std::string>()}];
  }
  int total = 0;
  for (const auto& s : segments) {
    const std::string segment = s["segment"];
    SCOPED_TRACE(segment);
    Outcome count = Segflow({"audience", job_path(), "--segment", segment, "--at",
                             std::to_string(evaluated), "--count"},
                            "", scratch());
    ASSERT_EQ(count.exit_code, 0) << count.err;
    const std::string labels =
        "job_id=\"" + id + "\",job_name=\"shop\",segment=\"" + segment + "\"";
    EXPECT_EQ(s["members"].get<uint64_t>(), std::stoull(Lines(count.out).at(0)));
    EXPECT_EQ(Sample(metrics, "segflow_segment_members", labels), std::stod(Lines(count.out).at(0)))
        << metrics;
    for (const std::string change : {"entered", "exited"}) {
      const int records = changelog[{segment, change}];
      EXPECT_EQ(
          Sample(metrics, "segflow_segment_changes_total", labels + ",change=\"" + change + "\""),
          records)
          << change << "\n"
          << metrics;
      total += records;
    }
  }
  EXPECT_GT(total, 20) << "a real workload";
  // Health, read through the running sink's handle, is what `segflow health` says.
  Answer health = Get(base + "/health?hours=48");
  ASSERT_EQ(health.status, 200) << health.body;
  Outcome health_cli = Segflow({"health", job_path(), "--hours", "48", "--json"}, "", scratch());
  ASSERT_EQ(health_cli.exit_code, 0) << health_cli.err;
  EXPECT_EQ(health.Json(), json::parse(health_cli.out));
  // Sources of a log topic reject nothing, and say so.
  EXPECT_EQ(Sample(Get("/metrics").body, "segflow_records_rejected_total",
                   "job_id=\"" + id + "\",job_name=\"shop\",task=\"source 0\""),
            0)
      << metrics;
}

// `segflow run JOB --http HOST:PORT` serves the API of its embedded cluster while it runs.
TEST_F(HttpTest, RunServesTheApiWhileItRuns) {
  ProduceEvents(50, 1000);
  const pid_t run = Start({"run", job_path(), "--workers", "1", "--http", "127.0.0.1:0"}, "",
                          scratch(), scratch(), "run");
  pids_.push_back(run);
  ASSERT_TRUE(Eventually(
      [&] {
        std::smatch m;
        const std::string err = ReadFile(scratch() + "/run.stderr");
        static const std::regex re(R"(http listening on 127\.0\.0\.1:(\d+))");
        if (!std::regex_search(err, m, re)) return false;
        http_port_ = std::stoi(m[1]);
        return true;
      },
      std::chrono::seconds(20)))
      << ReadFile(scratch() + "/run.stderr");
  ASSERT_TRUE(Eventually([&] {
    const json jobs = Get("/v1/jobs").Json();
    return jobs.is_array() && jobs.size() == 1 && jobs[0]["state"] == "running" &&
           jobs[0]["records_in"] == 1000;
  })) << Get("/v1/jobs").body;
  ::kill(run, SIGTERM);
  Outcome done = Wait(run, scratch(), "run");
  EXPECT_EQ(done.exit_code, 0) << done.err;
}

// Every /v1 and /metrics request needs the token (401 without it or with a wrong one);
// the dashboard's page needs none, holds no data and asks no other host.
TEST_F(HttpTest, TokenIsRequiredExceptForTheDashboardPage) {
  StartCluster();
  for (const char* path :
       {"/v1/jobs", "/v1/jobs/x", "/metrics", "/v1/anything", "/v1/jobs/x/segments"}) {
    Answer none = GetAs(path, "");
    EXPECT_EQ(none.status, 401) << path;
    EXPECT_TRUE(none.Json().contains("error")) << none.body;
    EXPECT_EQ(GetAs(path, "s3cret-tokeN").status, 401) << path;
    EXPECT_EQ(GetAs(path, std::string(kToken) + "x").status, 401) << path;
  }
  EXPECT_EQ(Of(Client("").Post("/v1/jobs", ShopJob(), "application/yaml")).status, 401);
  EXPECT_EQ(Get("/v1/jobs").status, 200);
  Answer page = GetAs("/", "");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos) << "no request to another host";
  EXPECT_EQ(page.body.find("https://"), std::string::npos) << "no request to another host";
}

// Bad paths, parameters and bodies get 400/404/409 with a message that says what.
TEST_F(HttpTest, BadRequestsGetClearErrors) {
  ProduceEvents(50, 500);
  StartCluster();
  auto expect = [&](const Answer& a, int status, const std::string& needle) {
    EXPECT_EQ(a.status, status) << a.body;
    const json j = a.Json();
    ASSERT_TRUE(j.is_object() && j.contains("error")) << a.body;
    EXPECT_NE(j["error"].get<std::string>().find(needle), std::string::npos) << a.body;
  };
  expect(Get("/v1/jobs/nope-1"), 404, "no job nope-1");
  expect(Get("/v1/nothing"), 404, "no such path");
  expect(Post("/v1/jobs/nope-1/cancel"), 404, "no job nope-1");
  expect(Post("/v1/jobs/nope-1/savepoints"), 404, "no job nope-1");
  expect(Post("/v1/jobs?bounded=maybe", ShopJob()), 400, "bounded");
  expect(Post("/v1/jobs?colour=red", ShopJob()), 400, "unknown parameter \"colour\"");
  expect(Post("/v1/jobs", ""), 400, "body");
  expect(Post("/v1/jobs?until=yesterday-ish", ShopJob()), 400, "until");
  // Every validation error of an invalid job, one per entry.
  Answer invalid = Post("/v1/jobs?file=" + job_path(),
                        "job: shop\nlog: log\nsource: {topics: [events]}\nsegments:\n"
                        "  - id: a\n    when: {count: {event: x, window: forever, at_least: 1}}\n"
                        "  - id: b\n    when: {nonsense: 1}\n");
  expect(invalid, 400, "nothing was deployed");
  EXPECT_GE(invalid.Json()["errors"].size(), 3u) << invalid.body;
  // A body over the bound is refused without being read.
  EXPECT_EQ(Post("/v1/jobs", std::string(2 << 20, 'x')).status, 413);

  const std::string id = Submit("bounded=true");
  ASSERT_TRUE(Eventually([&] { return State(id) == "finished"; }));
  expect(Post("/v1/jobs/" + id + "/cancel"), 409, "already ended");
  expect(Post("/v1/jobs/" + id + "/savepoints"), 409, "checkpoint");
  expect(Post("/v1/jobs/" + id + "/savepoints?stop=perhaps"), 400, "stop");
}

// A live job with checkpoints: a savepoint requested over HTTP is written (as status
// shows), then the job is canceled over HTTP and ends canceled.
TEST_F(HttpTest, SavepointAndCancelOfALiveJob) {
  ProduceEvents(100, 2000);
  WriteFile(job_path(), ShopJob() + "checkpoint: {interval: 300ms}\n");
  StartCluster();
  const std::string id = Submit("");
  ASSERT_TRUE(Eventually([&] { return Get("/v1/jobs/" + id).Json()["records_in"] == 2000; }))
      << Get("/v1/jobs/" + id).body;
  Answer sp = Post("/v1/jobs/" + id + "/savepoints");
  ASSERT_EQ(sp.status, 202) << sp.body;
  std::string savepoint;
  ASSERT_TRUE(Eventually([&] {
    savepoint = Get("/v1/jobs/" + id).Json()["checkpoints"].value("last_savepoint", "");
    return !savepoint.empty();
  })) << Get("/v1/jobs/" + id).body;
  EXPECT_TRUE(std::filesystem::exists(savepoint + "/_metadata")) << savepoint;
  Answer cancel = Post("/v1/jobs/" + id + "/cancel");
  ASSERT_EQ(cancel.status, 202) << cancel.body;
  ASSERT_TRUE(Eventually([&] { return State(id) == "canceled"; })) << Get("/v1/jobs/" + id).body;
  EXPECT_NE(Cli({"status", id}).out.find(": canceled,"), std::string::npos);
}

// The audience endpoints, answered by the sink's worker from the job's store and log:
// segment sizes and members (every page together, at the evaluated time and at an
// earlier TIME) equal `segflow audience`, a user's memberships agree with the audiences,
// an explanation equals `segflow explain --json`; bad questions get 400/404/409.
TEST_F(HttpTest, AudienceAnswersEqualTheCli) {
  ProduceEvents(300, 6000);
  StartCluster();
  const std::string id = Submit("bounded=true");
  ASSERT_TRUE(Eventually([&] { return State(id) == "finished"; })) << Get("/v1/jobs/" + id).body;
  const std::string base = "/v1/jobs/" + id;
  auto audience = [&](const std::string& segment, const std::string& at) {
    std::vector<std::string> args = {"audience", job_path(), "--segment", segment};
    if (!at.empty()) args.insert(args.end(), {"--at", at});
    Outcome o = Segflow(args, "", scratch());
    EXPECT_EQ(o.exit_code, 0) << o.err;
    return Lines(o.out);
  };
  // Every page of `segment`'s members, `limit` at a time; each id must come once.
  auto paged = [&](const std::string& segment, const std::string& at, int limit) {
    std::vector<std::string> all;
    std::string after;
    for (int page = 0; page < 10000; ++page) {
      std::string path = base + "/segments/" + segment + "/members?limit=" + std::to_string(limit);
      if (!at.empty()) path += "&at=" + at;
      if (!after.empty()) path += "&after=" + after;
      Answer a = Get(path);
      EXPECT_EQ(a.status, 200) << a.body;
      const json j = a.Json();
      if (a.status != 200 || !j.is_object()) break;
      EXPECT_LE(j["members"].size(), static_cast<size_t>(limit));
      for (const auto& m : j["members"]) all.push_back(m.get<std::string>());
      if (j["next"].is_null()) break;
      after = j["next"].get<std::string>();
    }
    return all;
  };

  Answer segments = Get(base + "/segments");
  ASSERT_EQ(segments.status, 200) << segments.body;
  ASSERT_EQ(segments.Json().size(), 2u) << segments.body;
  const int64_t evaluated = Get("/v1/jobs/" + id).Json()["evaluated_through"].get<int64_t>();
  const std::string earlier = std::to_string(evaluated - 2 * 24 * 3600 * 1000LL);
  const std::string day_before = std::to_string(evaluated - 24 * 3600 * 1000LL);
  size_t total = 0;
  for (const auto& s : segments.Json()) {
    const std::string segment = s["segment"];
    SCOPED_TRACE(segment);
    EXPECT_EQ(s["evaluated_through"], evaluated);
    const std::vector<std::string> want = audience(segment, "");
    EXPECT_EQ(s["members"].get<size_t>(), want.size());
    EXPECT_EQ(paged(segment, "", 7), want);
    EXPECT_EQ(paged(segment, "", 100000), want);
    EXPECT_EQ(paged(segment, earlier, 5), audience(segment, earlier));
    EXPECT_EQ(paged(segment, day_before, 3), audience(segment, day_before));
    total += want.size();
  }
  ASSERT_GT(total, 20u) << "a real workload";

  // A user in some segments and one in none.
  const std::string member = audience("big_cart", "").at(0);
  Answer user = Get(base + "/users/" + member);
  ASSERT_EQ(user.status, 200) << user.body;
  EXPECT_EQ(user.Json()["user_id"], member);
  std::set<std::string> in;
  const json user_json = user.Json();
  for (const auto& m : user_json["segments"]) {
    in.insert(m["segment"].get<std::string>());
    EXPECT_LE(m["since"].get<int64_t>(), evaluated);
  }
  for (const auto& s : segments.Json()) {
    const std::string segment = s["segment"];
    const std::vector<std::string> members = audience(segment, "");
    EXPECT_EQ(in.count(segment) > 0, std::binary_search(members.begin(), members.end(), member))
        << segment << ": " << user.body;
    // ... and what `segflow explain` says of the user in that segment.
    Outcome says = Segflow(
        {"explain", job_path(), "--segment", segment, "--user", member, "--json"}, "", scratch());
    ASSERT_EQ(says.exit_code, 0) << says.err;
    EXPECT_EQ(in.count(segment) > 0, json::parse(says.out)["member"].get<bool>())
        << segment << ": " << user.body << "\n"
        << says.out;
  }
  Answer nobody = Get(base + "/users/nobody-at-all");
  ASSERT_EQ(nobody.status, 200);
  EXPECT_EQ(nobody.Json()["segments"], json::array());

  Answer explain = Get(base + "/users/" + member + "/explain?segment=big_cart");
  ASSERT_EQ(explain.status, 200) << explain.body;
  Outcome cli = Segflow(
      {"explain", job_path(), "--segment", "big_cart", "--user", member, "--json"}, "", scratch());
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(explain.Json(), json::parse(cli.out));
  EXPECT_EQ(explain.Json()["member"], true);

  // Entries and exits per hour: what `segflow health --json` says.
  Answer health = Get(base + "/health?hours=48");
  ASSERT_EQ(health.status, 200) << health.body;
  Outcome health_cli = Segflow({"health", job_path(), "--hours", "48", "--json"}, "", scratch());
  ASSERT_EQ(health_cli.exit_code, 0) << health_cli.err;
  EXPECT_EQ(health.Json(), json::parse(health_cli.out));
  EXPECT_EQ(health.Json()["segments"][0]["hourly"].size(), 48u) << health.body;

  auto expect = [&](const Answer& a, int status, const std::string& needle) {
    EXPECT_EQ(a.status, status) << a.body;
    EXPECT_NE(a.Json().value("error", "").find(needle), std::string::npos) << a.body;
  };
  expect(Get(base + "/health?hours=0"), 400, "hours");
  expect(Get(base + "/segments/nope/members"), 404, "no segment \"nope\"");
  expect(Get(base + "/segments/big_cart/members?at=" + std::to_string(evaluated + 1)), 409,
         "not evaluated yet");
  expect(Get(base + "/segments/big_cart/members?limit=0"), 400, "limit");
  expect(Get(base + "/segments/big_cart/members?limit=ten"), 400, "limit");
  expect(Get(base + "/segments/big_cart/members?at=noon-ish"), 400, "at");
  expect(Get(base + "/users/" + member + "/explain"), 400, "segment");
  expect(Get(base + "/users/" + member + "/explain?segment=nope"), 404, "nope");
  expect(Get("/v1/jobs/nope-9/segments"), 404, "no job nope-9");
}

// User lookups sit in request paths: 100 on one kept-alive connection take well under the
// 4 s that Nagle's algorithm against delayed ACKs cost before (40 ms each), and the worker,
// holding the store open for them, still exits cleanly on SIGTERM (it aborted in RocksDB
// when a static cache closed the store at exit).
TEST_F(HttpTest, UserLookupsAreQuickAndTheWorkerExitsCleanly) {
  ProduceEvents(100, 2000);
  StartCluster();
  const std::string id = Submit("bounded=true");
  ASSERT_TRUE(Eventually([&] { return State(id) == "finished"; }));
  httplib::Client c = Client(kToken);
  c.set_keep_alive(true);
  const std::string path = "/v1/jobs/" + id + "/users/u1";
  ASSERT_EQ(Of(c.Get(path.c_str())).status, 200);
  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(Of(c.Get(path.c_str())).status, 200);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2000));
  // (A worker connected to a coordinator does not end on SIGTERM alone yet: both stop.)
  const pid_t worker = pids_.at(1);
  ::kill(pids_.at(0), SIGTERM);
  ::kill(worker, SIGTERM);
  int code = -1;
  ASSERT_TRUE(ExitedWithin(worker, std::chrono::seconds(20), &code));
  EXPECT_NE(code, 128 + SIGABRT) << ReadFile(scratch() + "/worker.stderr");
  EXPECT_EQ(ReadFile(scratch() + "/worker.stderr").find("pthread lock"), std::string::npos)
      << ReadFile(scratch() + "/worker.stderr");
}

// Without a token the server listens on loopback only; with one, anywhere.
TEST_F(HttpTest, NonLoopbackWithoutTokenIsRefused) {
  Outcome refused = Segflow(
      {"coordinator", "--dir", scratch() + "/c1", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"},
      "", scratch());
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--http-token-file"), std::string::npos) << refused.err;
  WriteFile(scratch() + "/empty-token", " \n");
  Outcome empty = Segflow({"coordinator", "--dir", scratch() + "/c2", "--listen", "127.0.0.1:0",
                           "--http", "0.0.0.0:0", "--http-token-file", scratch() + "/empty-token"},
                          "", scratch());
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("empty"), std::string::npos) << empty.err;
  WriteFile(scratch() + "/token", kToken);
  const pid_t ok = Start({"coordinator", "--dir", scratch() + "/c3", "--listen", "127.0.0.1:0",
                          "--http", "0.0.0.0:0", "--http-token-file", scratch() + "/token"},
                         "", scratch(), scratch(), "anywhere");
  pids_.push_back(ok);
  EXPECT_TRUE(Eventually(
      [&] {
        return ReadFile(scratch() + "/anywhere.stdout").find("http listening on 0.0.0.0:") !=
               std::string::npos;
      },
      std::chrono::seconds(10)))
      << ReadFile(scratch() + "/anywhere.stderr");
}

// A real Prometheus server scrapes /metrics (sending the token from a credentials file)
// and PromQL queries over its HTTP API return the job's records in, a segment's size and
// its entries.
TEST_F(HttpTest, PrometheusScrapesTheJobsRecordsIn) {
  const std::string prometheus = "/usr/bin/prometheus";
  if (!std::filesystem::exists(prometheus))
    GTEST_SKIP() << "no " << prometheus << " (scripts/setup.sh installs it)";
  ProduceEvents(100, 3000);
  StartCluster();
  const std::string id = Submit("bounded=true");
  ASSERT_TRUE(Eventually([&] { return State(id) == "finished"; }));

  const int port = FreePort();
  WriteFile(scratch() + "/prom-token", kToken);
  WriteFile(scratch() + "/prometheus.yml",
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: segflow\n"
            "    authorization: {credentials_file: " +
                scratch() +
                "/prom-token}\n"
                "    static_configs: [{targets: ['127.0.0.1:" +
                std::to_string(http_port_) + "']}]\n");
  const std::vector<std::string> args = {prometheus,
                                         "--config.file=" + scratch() + "/prometheus.yml",
                                         "--storage.tsdb.path=" + scratch() + "/tsdb",
                                         "--web.listen-address=127.0.0.1:" + std::to_string(port)};
  const std::string log_path = scratch() + "/prometheus.log";
  pids_.push_back(StartProgram(args, log_path, log_path));
  httplib::Client prom("127.0.0.1", port);
  prom.set_read_timeout(5, 0);
  // The one value a PromQL query returns, once Prometheus has it ("" until then).
  std::string last;
  auto query = [&](const std::string& promql) -> std::string {
    auto r = prom.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!r || r->status != 200) return "";
    last = r->body;
    const json j = json::parse(r->body, nullptr, false);
    if (!j.is_object() || j.value("status", "") != "success" || j["data"]["result"].empty())
      return "";
    return j["data"]["result"][0]["value"][1].get<std::string>();
  };
  EXPECT_TRUE(Eventually(
      [&] {
        return query("sum(segflow_records_in_total{job_id=\"" + id + "\",task=~\"source.*\"})") ==
               "3000";
      },
      std::chrono::seconds(60)))
      << last << "\n"
      << ReadFile(log_path);
  // A segment's size, as `segflow audience --count` says.
  Outcome count =
      Segflow({"audience", job_path(), "--segment", "big_cart", "--count"}, "", scratch());
  ASSERT_EQ(count.exit_code, 0) << count.err;
  EXPECT_TRUE(Eventually(
      [&] {
        return query("segflow_segment_members{job_id=\"" + id + "\",segment=\"big_cart\"}") ==
               Lines(count.out).at(0);
      },
      std::chrono::seconds(30)))
      << last;
  // A segment's entries: its "entered" records in the changelog (`segflow consume`).
  Outcome changelog = Segflow(
      {"consume", "--log", scratch() + "/log", "--topic", "shop.memberships"}, "", scratch());
  ASSERT_EQ(changelog.exit_code, 0) << changelog.err;
  int entered = 0;
  for (const auto& line : Lines(changelog.out)) {
    const json r = json::parse(line);
    entered += r["segment"] == "repeat_buyer" && r["change"] == "entered" ? 1 : 0;
  }
  EXPECT_GT(entered, 0);
  EXPECT_TRUE(Eventually(
      [&] {
        return query("segflow_segment_changes_total{job_id=\"" + id +
                     "\",segment=\"repeat_buyer\",change=\"entered\"}") == std::to_string(entered);
      },
      std::chrono::seconds(30)))
      << last;
}

// The coordinator keeps each job's last checkpoints with their trigger time, duration,
// size and result: GET /v1/jobs/ID has them (as `status --json` does), in increasing ids,
// and the dashboard shows them as a chart and a table.
TEST_F(HttpTest, CheckpointHistoryInTheApiAndTheDashboard) {
  ProduceEvents(100, 2000);
  WriteFile(job_path(), ShopJob() + "checkpoint: {interval: 200ms}\n");
  StartCluster("");
  const std::string id = Submit("");
  json history;
  ASSERT_TRUE(Eventually([&] {
    history = Get("/v1/jobs/" + id).Json()["checkpoints"]["history"];
    return history.is_array() && history.size() >= 3;
  })) << Get("/v1/jobs/" + id).body;
  uint64_t last_id = 0;
  int64_t last_trigger = 0;
  for (const auto& r : history) {
    SCOPED_TRACE(r.dump());
    EXPECT_GT(r["id"].get<uint64_t>(), last_id);
    EXPECT_GE(r["triggered_at"].get<int64_t>(), last_trigger);
    EXPECT_GE(r["duration_ms"].get<int64_t>(), 0);
    EXPECT_EQ(r["result"], "completed");
    EXPECT_GT(r["bytes"].get<uint64_t>(), 0u);
    last_id = r["id"].get<uint64_t>();
    last_trigger = r["triggered_at"].get<int64_t>();
  }
  const json status = Get("/v1/jobs/" + id).Json()["checkpoints"];
  EXPECT_EQ(status["completed"].get<size_t>(), status["history"].size()) << status.dump();

  const std::string chromium = "/usr/bin/chromium";
  if (!std::filesystem::exists(chromium))
    GTEST_SKIP() << "no " << chromium << " (scripts/setup.sh installs Debian's chromium)";
  const std::string dom = DashboardDom(chromium, id);
  EXPECT_TRUE(std::regex_search(
      dom, std::regex("<table id=\"chkhist\">.*<tr class=\"\"><td>[0-9]+</td><td>20[0-9-]+T[^<]*</"
                      "td><td>[0-9]+ ms</td><td>[0-9]+ bytes</td><td>completed</td></tr>")))
      << dom;
  EXPECT_NE(dom.find("id=\"chkchart\" width=\"640\" height=\"100\" data-series=\"checkpoint "
                     "duration (ms)\""),
            std::string::npos)
      << dom;
}

// `segflow diff` records its result in each store it compared; the sink's worker returns
// it with the segment list, so GET /v1/jobs/ID/segments and the dashboard show each
// segment's last divergence and what it was compared with.
TEST_F(HttpTest, LastDiffPerSegmentInTheApiAndTheDashboard) {
  ProduceEvents(200, 3000);
  StartCluster("");
  const std::string id = Submit("bounded=true");
  ASSERT_TRUE(Eventually([&] { return State(id) == "finished"; }));
  Answer before = Get("/v1/jobs/" + id + "/segments");
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_TRUE(before.Json()[0]["last_diff"].is_null()) << before.body;
  // Another definition over the same events: three purchases make a repeat buyer.
  std::string other = ShopJob();
  other.replace(other.find("job: shop"), 9, "job: shop_three");
  other.replace(other.find("at_least: 2"), 11, "at_least: 3");
  WriteFile(scratch() + "/other.yaml", other);
  Outcome run = Segflow({"run", scratch() + "/other.yaml", "--bounded"}, "", scratch());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  Outcome diff = Segflow({"diff", job_path(), scratch() + "/other.yaml", "--json"}, "", scratch());
  ASSERT_NE(diff.exit_code, 2) << diff.err;
  const json said = json::parse(diff.out);
  Answer after = Get("/v1/jobs/" + id + "/segments");
  ASSERT_EQ(after.status, 200) << after.body;
  bool diverged_somewhere = false;
  for (const auto& s : after.Json()) {
    SCOPED_TRACE(s.dump());
    const json& last = s["last_diff"];
    ASSERT_TRUE(last.is_object());
    json row;
    for (const auto& r : said["segments"]) {
      if (r["segment"] == s["segment"]) row = r;
    }
    ASSERT_TRUE(row.is_object()) << diff.out;
    EXPECT_EQ(last["compared_with"], scratch() + "/other.yaml");
    EXPECT_DOUBLE_EQ(last["divergence_pct"].get<double>(), row["divergence_pct"].get<double>());
    EXPECT_EQ(last["diverged"], row["diverged"]);
    EXPECT_EQ(last["members"], row["a"]);
    EXPECT_EQ(last["members"], s["members"]);
    EXPECT_EQ(last["only_here"], row["only_a_count"]);
    EXPECT_EQ(last["only_there"], row["only_b_count"]);
    EXPECT_GT(last["at"].get<int64_t>(), 0);
    diverged_somewhere = diverged_somewhere || row["divergence_pct"].get<double>() > 0;
  }
  EXPECT_TRUE(diverged_somewhere) << diff.out;

  const std::string chromium = "/usr/bin/chromium";
  if (!std::filesystem::exists(chromium))
    GTEST_SKIP() << "no " << chromium << " (scripts/setup.sh installs Debian's chromium)";
  const std::string dom = DashboardDom(chromium, id);
  EXPECT_TRUE(std::regex_search(dom, std::regex("<td>big_cart</td>.*<td>[0-9.]+% vs " + scratch() +
                                                "/other.yaml \\([0-9]+ only here")))
      << dom;
}

// The dashboard in headless Chromium, with no token (loopback): after its scripts ran, the
// DOM shows the job and its state, its tasks, its segments with their sizes, and charts
// drawn from the API's answers.
TEST_F(HttpTest, DashboardShowsTheJobInHeadlessChromium) {
  const std::string chromium = "/usr/bin/chromium";
  if (!std::filesystem::exists(chromium))
    GTEST_SKIP() << "no " << chromium << " (scripts/setup.sh installs Debian's chromium)";
  ProduceEvents(200, 3000);
  StartCluster("");
  const std::string id = Submit("bounded=true");
  ASSERT_TRUE(Eventually([&] { return State(id) == "finished"; }));
  Outcome count =
      Segflow({"audience", job_path(), "--segment", "big_cart", "--count"}, "", scratch());
  ASSERT_EQ(count.exit_code, 0) << count.err;

  const std::string url = "http://127.0.0.1:" + std::to_string(http_port_) + "/#job=" + id;
  const pid_t pid = StartProgram(
      {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
       "--no-first-run", "--user-data-dir=" + scratch() + "/chromium", "--virtual-time-budget=5000",
       "--window-size=1200,1400", "--dump-dom", url},
      scratch() + "/dom.html", scratch() + "/chromium.log");
  pids_.push_back(pid);
  int code = -1;
  ASSERT_TRUE(ExitedWithin(pid, std::chrono::seconds(60), &code))
      << ReadFile(scratch() + "/chromium.log");
  ASSERT_EQ(code, 0) << ReadFile(scratch() + "/chromium.log");
  const std::string dom = ReadFile(scratch() + "/dom.html");
  auto has = [&](const std::string& needle) {
    EXPECT_NE(dom.find(needle), std::string::npos) << needle << "\n" << dom;
  };
  has("<td>" + id + "</td><td>shop</td><td>finished</td>");
  has("Job " + id + " (shop): finished");
  has("<td>source 0</td>");
  has("<td>sink</td>");
  EXPECT_TRUE(std::regex_search(dom, std::regex("<td>big_cart</td><td>[0-9a-f]+</td><td>" +
                                                Lines(count.out).at(0) + "</td>")))
      << dom;
  has("<td>repeat_buyer</td>");
  // Entries/exits per hour (from /health): 24 hourly points per segment in the chart.
  has("data-series=\"big_cart,repeat_buyer\" data-points=\"24\"");
  has("<table id=\"hourly\">");
  has("id=\"segchart\" width=\"640\" height=\"160\" data-series=\"big_cart,repeat_buyer\"");
  has("id=\"chart\" width=\"640\" height=\"160\" data-series=\"records in\"");
  EXPECT_EQ(dom.find("class=\"err\""), std::string::npos) << dom;
}

}  // namespace
}  // namespace segflow
