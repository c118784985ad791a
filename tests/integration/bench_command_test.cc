// `segflow bench`: every mode with tiny sizes, the JSON complete and sane, the Markdown
// sections, the SVG well-formed; bad arguments refused.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"
#include "xml_well_formed.h"

namespace segflow::integration {
namespace {

const char* kJob = R"(job: bench-test
log: log
source: {topics: [events], max_out_of_orderness: 5s}
segments:
  - id: binge
    when: {count: {event: play, where: {genre: documentary}, window: 30d, at_least: 3}}
parallelism: 2
)";

class BenchCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteFile(scratch() + "/job.yaml", kJob); }
  void Generate() {
    const Outcome gen = Segflow({"gen", "media", "--users", "300", "--events", "6000", "--seed",
                                 "3", "--log", scratch() + "/log", "--topic", "events"},
                                "", scratch());
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
  }
  // Runs bench with `args` plus --json and --svg; returns the parsed JSON's text, checks
  // the SVG is well-formed with an <svg> root and `panels` chart panels.
  std::string Bench(std::vector<std::string> args, size_t panels, std::string* out = nullptr) {
    const std::string json = scratch() + "/bench.json", svg = scratch() + "/bench.svg";
    args.insert(args.begin(), "bench");
    for (const std::string& a : {std::string("--json"), json, std::string("--svg"), svg})
      args.push_back(a);
    const Outcome r = Segflow(args, "", scratch());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "") << "no progress line when stderr is not a terminal";
    if (out != nullptr) *out = r.out;
    std::string root;
    size_t elements = 0;
    const std::string text = ReadFile(svg);
    EXPECT_EQ(XmlProblem(text, &root, &elements), "") << text;
    EXPECT_EQ(root, "svg");
    size_t groups = 0;
    for (size_t p = text.find("<g>"); p != std::string::npos; p = text.find("<g>", p + 1)) ++groups;
    EXPECT_EQ(groups, panels) << text;
    EXPECT_GT(elements, 3 * panels);
    return ReadFile(json);
  }
  const std::string& scratch() const { return dir_.path(); }
  ScratchDir dir_{"segflow-bench-command"};
};

void ExpectSanePoint(simdjson::dom::element p, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_GT(double(p["target_rate"]), 0);
  EXPECT_GT(double(p["actual_rate"]), 0);
  EXPECT_GT(double(p["seconds"]), 0);
  EXPECT_GT(int64_t(p["events"]), 0);
  const int64_t probes = int64_t(p["probes"]), seen = int64_t(p["seen"]);
  EXPECT_GT(probes, 0);
  EXPECT_GT(seen, 0);
  EXPECT_LE(seen, probes);
  const double p50 = double(p["p50_ms"]), p90 = double(p["p90_ms"]), p99 = double(p["p99_ms"]),
               max = double(p["max_ms"]);
  EXPECT_GT(p50, 0);
  EXPECT_LE(p50, p90);
  EXPECT_LE(p90, p99);
  EXPECT_LE(p99, max);
  EXPECT_LT(max, 60000);
}

TEST(XmlWellFormedTest, FindsWhatIsWrong) {
  EXPECT_EQ(
      XmlProblem(
          "<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><text>a &amp; b</text></g><rect/></svg>\n"),
      "");
  EXPECT_NE(XmlProblem("<svg><g></svg></g>"), "");
  EXPECT_NE(XmlProblem("<svg><g>"), "");
  EXPECT_NE(XmlProblem("<svg a=1/>"), "");
  EXPECT_NE(XmlProblem("<svg><text>a & b</text></svg>"), "");
  EXPECT_NE(XmlProblem("<svg a=\"<\"/>"), "");
  EXPECT_NE(XmlProblem("<svg/><svg/>"), "");
  EXPECT_NE(XmlProblem(""), "");
}

TEST_F(BenchCommandTest, ScalingMeasuresEachWorkerCountOfTheJob) {
  Generate();
  std::string out;
  const std::string text =
      Bench({"job.yaml", "--modes", "scaling", "--workers", "0..1", "--runs", "2"}, 1, &out);
  EXPECT_NE(out.find("## Scaling: bounded replay of job bench-test"), std::string::npos) << out;
  EXPECT_NE(out.find("6000 records, 0 late"), std::string::npos) << out;
  EXPECT_NE(
      out.find("| workers | events/s per run | median events/s | ratio to first | median wall s |"),
      std::string::npos);
  EXPECT_NE(out.find("\n| 0 (in-process) | "), std::string::npos) << out;
  EXPECT_NE(out.find("\n| 1 | "), std::string::npos) << out;
  EXPECT_EQ(out.find("## Latency"), std::string::npos) << "only the modes asked for";

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(std::string_view(doc["cluster"]), "embedded");
  EXPECT_GT(int64_t(doc["machine"]["cpus"]), 0);
  EXPECT_EQ(doc["latency"].error(), simdjson::NO_SUCH_FIELD);
  simdjson::dom::element scaling = doc["scaling"];
  EXPECT_EQ(std::string_view(scaling["job"]), "bench-test");
  std::multiset<int64_t> workers;
  for (simdjson::dom::element run : scaling["runs"].get_array()) {
    workers.insert(int64_t(run["workers"]));
    EXPECT_EQ(int64_t(run["records"]), 6000);
    EXPECT_GT(double(run["events_per_second"]), 0);
    EXPECT_GE(double(run["wall_seconds"]), double(run["seconds"]));
  }
  EXPECT_EQ(workers, (std::multiset<int64_t>{0, 0, 1, 1}));
  simdjson::dom::array summary = scaling["summary"];
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(double(summary.at(0)["ratio_to_first"]), 1.0);
}

TEST_F(BenchCommandTest, ScalingWithoutAJobGeneratesItsOwnLog) {
  const std::string text = Bench(
      {"--modes", "scaling", "--workers", "0", "--runs", "1", "--events", "3000", "--users", "100"},
      1);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(std::string_view(doc["scaling"]["job"]), "bench-scaling");
  EXPECT_EQ(int64_t(doc["scaling"]["runs"].at(0)["records"]), 3000);
}

TEST_F(BenchCommandTest, SustainAndLatencyModes) {
  std::string out;
  const std::string text =
      Bench({"--modes", "latency,sustain", "--seconds", "1", "--rates", "1000,3000",
             "--sustain-start", "2000", "--sustain-steps", "2", "--background-users", "500",
             "--max-latency-ms", "5000", "--dir", scratch() + "/work"},
            2, &out);
  EXPECT_NE(out.find("## Sustainable throughput"), std::string::npos) << out;
  EXPECT_NE(out.find("## Latency: append → committed changelog record"), std::string::npos) << out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(int64_t(doc["live_workers"]), 2);
  simdjson::dom::array points = doc["latency"]["points"];
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(double(points.at(0)["target_rate"]), 1000);
  EXPECT_EQ(double(points.at(1)["target_rate"]), 3000);
  for (simdjson::dom::element p : points) ExpectSanePoint(p, "latency");

  simdjson::dom::element sustain = doc["sustain"];
  simdjson::dom::array steps = sustain["steps"];
  ASSERT_GE(steps.size(), 1u);
  ASSERT_LE(steps.size(), 2u);
  EXPECT_EQ(double(steps.at(0)["point"]["target_rate"]), 2000)
      << "the first step is --sustain-start";
  double best = 0;
  for (simdjson::dom::element s : steps) {
    const bool sustained = bool(s["sustained"]);
    EXPECT_EQ(std::string_view(s["why_not"]).empty(), sustained);
    if (sustained) best = std::max(best, double(s["point"]["target_rate"]));
    EXPECT_GT(double(s["point"]["target_rate"]), 0);
  }
  EXPECT_EQ(double(sustain["max_sustained_rate"]), best);
  bool failed = false;
  for (simdjson::dom::element s : steps) failed = failed || !bool(s["sustained"]);
  EXPECT_EQ(bool(sustain["limit_found"]), failed);
  if (steps.size() == 2) {
    const double second = double(steps.at(1)["point"]["target_rate"]);
    EXPECT_EQ(second, bool(steps.at(0)["sustained"]) ? 4000 : 1000)
        << "doubles after success, halves after failure";
  }
  // Each run's folder is removed once measured; the bench folder given is kept.
  EXPECT_TRUE(std::filesystem::is_directory(scratch() + "/work"));
  EXPECT_FALSE(std::filesystem::exists(scratch() + "/work/bench-latency-1"));
}

TEST_F(BenchCommandTest, CheckpointAndRecoveryModes) {
  std::string out;
  const std::string text =
      Bench({"--modes", "checkpoint,recovery", "--seconds", "2", "--checkpoint-rate", "2000",
             "--recovery-rate", "2000", "--checkpoint-interval", "300", "--kill-after", "1.5",
             "--background-users", "500", "--recovery-timeout", "60"},
            1, &out);
  EXPECT_NE(out.find("## Checkpoints (interval 300 ms"), std::string::npos) << out;
  EXPECT_NE(out.find("## Recovery after SIGKILL of worker"), std::string::npos) << out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  simdjson::dom::element c = doc["checkpoint"];
  EXPECT_EQ(int64_t(c["interval_ms"]), 300);
  EXPECT_GE(uint64_t(c["completed"]), 1u);
  simdjson::dom::array samples = c["checkpoints"];
  ASSERT_GE(samples.size(), 1u);
  EXPECT_LE(samples.size(), uint64_t(c["completed"]));
  uint64_t last_id = 0;
  for (simdjson::dom::element s : samples) {
    EXPECT_GT(uint64_t(s["id"]), last_id) << "ids increase";
    last_id = uint64_t(s["id"]);
    EXPECT_GE(int64_t(s["duration_ms"]), 0);
    EXPECT_GT(uint64_t(s["bytes"]), 0u);
  }
  EXPECT_LE(double(c["median_duration_ms"]), double(c["max_duration_ms"]));
  ExpectSanePoint(c["committed_latency"], "checkpoint");

  simdjson::dom::element r = doc["recovery"];
  EXPECT_GE(int64_t(r["attempt"]), 2);
  EXPECT_GT(double(r["restart_seconds"]), 0);
  EXPECT_GE(double(r["caught_up_seconds"]), double(r["restart_seconds"]));
  EXPECT_LT(double(r["caught_up_seconds"]), 60);
  EXPECT_GE(int64_t(r["killed_worker"]), 1);
  EXPECT_NE(std::string_view(r["restored_from"]), "") << "the new attempt starts from a checkpoint";
  ExpectSanePoint(r["latency"], "recovery");
  EXPECT_GE(double(r["latency"]["max_ms"]), 1000 * double(r["restart_seconds"]) * 0.5)
      << "a probe appended at the kill waits for the restart";
}

TEST_F(BenchCommandTest, MeasuresARunningCluster) {
  const pid_t coordinator =
      Start({"coordinator", "--listen", "127.0.0.1:0", "--dir", scratch() + "/c"}, "", scratch(),
            scratch(), "coordinator");
  ChildGuard coordinator_guard(coordinator);
  std::string address;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (address.empty() && std::chrono::steady_clock::now() < deadline) {
    const std::string out = ReadFile(scratch() + "/coordinator.stdout");
    const std::string prefix = "coordinator listening on ";
    const size_t at = out.find(prefix);
    const size_t eol = at == std::string::npos ? at : out.find('\n', at);
    if (eol != std::string::npos)
      address = out.substr(at + prefix.size(), eol - at - prefix.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(address.empty()) << ReadFile(scratch() + "/coordinator.stderr");
  const pid_t worker =
      Start({"worker", "--coordinator", address, "--slots", "2", "--dir", scratch() + "/w"}, "",
            scratch(), scratch(), "worker");
  ChildGuard worker_guard(worker);
  const std::string text =
      Bench({"--coordinator", address, "--modes", "scaling,latency", "--events", "3000", "--users",
             "100", "--runs", "1", "--seconds", "1", "--rates", "1000", "--background-users", "500",
             "--dir", scratch() + "/work"},
            2);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(std::string_view(doc["cluster"]), address);
  EXPECT_EQ(int64_t(doc["live_workers"]), 0) << "no embedded cluster";
  simdjson::dom::array summary = doc["scaling"]["summary"];
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(int64_t(summary.at(0)["workers"]), 1) << "the cluster's live workers";
  EXPECT_EQ(int64_t(doc["scaling"]["runs"].at(0)["records"]), 3000);
  ExpectSanePoint(doc["latency"]["points"].at(0), "latency on the running cluster");
  EXPECT_EQ(::waitpid(worker, nullptr, WNOHANG), 0)
      << "the bench leaves the cluster's workers running";
}

TEST_F(BenchCommandTest, BadArgumentsAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"bench", "job.yaml", "--workers", "x"},
           {"bench", "job.yaml", "--workers", "3..1"},
           {"bench", "job.yaml", "--workers", "65"},
           {"bench", "job.yaml", "--runs", "0"},
           {"bench", "--modes", "speed"},
           {"bench", "--modes", ""},
           {"bench", "--rates", "10,x"},
           {"bench", "--rates", "0"},
           {"bench", "--seconds", "0"},
           {"bench", "--checkpoint-interval", "5"},
           {"bench", "--modes", "recovery", "--live-workers", "1"},
           {"bench", "--modes", "recovery", "--coordinator", "127.0.0.1:1"},
           {"bench", "--coordinator", "127.0.0.1:1", "--workers", "1"},
           {"bench", "job.yaml", "--modes", "latency"},
       }) {
    const Outcome r = Segflow(args, "", scratch());
    EXPECT_EQ(r.exit_code, 2) << args.back() << "\n" << r.err;
    EXPECT_NE(r.err.find("segflow bench: "), std::string::npos) << r.err;
  }
  WriteFile(scratch() + "/bad.yaml", "job: bad\nsegments: []\n");
  const Outcome bad = Segflow({"bench", "bad.yaml", "--modes", "scaling"}, "", scratch());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("nothing was run"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace segflow::integration
