// `segflow bench`: replay throughput over worker counts, as a table and JSON.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <string>
#include <vector>

#include "cli_test_util.h"

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
  void SetUp() override {
    WriteFile(scratch() + "/job.yaml", kJob);
    const Outcome gen = Segflow({"gen", "media", "--users", "300", "--events", "6000", "--seed", "3",
                                 "--log", scratch() + "/log", "--topic", "events"},
                                "", scratch());
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
  }
  const std::string& scratch() const { return dir_.path(); }
  ScratchDir dir_{"segflow-bench-command"};
};

TEST_F(BenchCommandTest, MeasuresEachWorkerCountAndWritesTableAndJson) {
  const std::string json = scratch() + "/bench.json";
  const Outcome r = Segflow({"bench", "job.yaml", "--workers", "0..1", "--runs", "2", "--json", json}, "", scratch());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Bounded replay of job bench-test: 6000 records, 0 late"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| workers | events/s per run | median events/s | median wall s |"), std::string::npos);
  EXPECT_NE(r.out.find("\n| 0 (in-process) | "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n| 1 | "), std::string::npos) << r.out;
  EXPECT_EQ(Lines(r.err).size(), 4u) << "a progress line per run\n" << r.err;

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.load(json).get(doc), simdjson::SUCCESS) << ReadFile(json);
  EXPECT_EQ(std::string_view(doc["job"]), "bench-test");
  std::multiset<int64_t> workers;
  for (simdjson::dom::element run : doc["runs"].get_array()) {
    workers.insert(int64_t(run["workers"]));
    EXPECT_EQ(int64_t(run["records"]), 6000);
    EXPECT_GT(double(run["events_per_second"]), 0);
    EXPECT_GE(double(run["wall_seconds"]), double(run["seconds"]));
  }
  EXPECT_EQ(workers, (std::multiset<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(doc["summary"].get_array().size(), 2u);
}

TEST_F(BenchCommandTest, BadArgumentsAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"bench"},
           {"bench", "job.yaml", "--workers", "x"},
           {"bench", "job.yaml", "--workers", "3..1"},
           {"bench", "job.yaml", "--workers", "65"},
           {"bench", "job.yaml", "--runs", "0"},
       }) {
    const Outcome r = Segflow(args, "", scratch());
    EXPECT_EQ(r.exit_code, 2) << args.back() << "\n" << r.err;
  }
  WriteFile(scratch() + "/bad.yaml", "job: bad\nsegments: []\n");
  EXPECT_EQ(Segflow({"bench", "bad.yaml"}, "", scratch()).exit_code, 1);
}

}  // namespace
}  // namespace segflow::integration
