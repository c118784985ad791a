// YAML aliases and nesting are bounded before a job file's nodes are walked (spec
// integrations §13): a small file cannot expand without limit.
#include "jobs/yaml_limits.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "job_test_util.h"
#include "jobs/job_parser.h"
#include "jobs/state_compatibility.h"

namespace segflow {
namespace {

using testing_util::Describe;
using testing_util::OnlyError;
using testing_util::Parse;

// A job's first three lines followed by `rest` (appended, not `+`: GCC 12 reports false
// -Warray-bounds for some `std::string + literal` chains).
std::string Job(std::string_view rest = "") {
  std::string out = "job: t\nlog: log\nsource: {topics: [events]}\n";
  out += rest;
  return out;
}

// The "billion laughs": nine anchors, each a list of ten aliases of the previous one, so
// the last names 10^9 scalars in about 400 bytes. Anchor `a` is on line 4, `b` on 5, ...
std::string AliasBomb() {
  std::string text = Job();
  text +=
      "x: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", "
      "\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string alias = std::string("*") + static_cast<char>(c - 1);
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + alias;
    text += "]\n";
  }
  return text + "segments:\n  - id: s\n    when: {not: *i}\n";
}

long MaxRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

TEST(YamlLimitsTest, AliasBombIsRefusedQuicklyAtTheAliasThatExceedsTheLimit) {
  const std::string bomb = AliasBomb();
  ASSERT_LT(bomb.size(), 600u);
  const long rss_before = MaxRssMb();
  const auto start = std::chrono::steady_clock::now();
  JobParseResult r = Parse(bomb);
  const auto took = std::chrono::steady_clock::now() - start;
  // The document passes 250000 nodes inside `f` (line 9): x's list has 11 nodes, b's 111,
  // ... e's 111111, so f's second *e (column 12) crosses the limit.
  EXPECT_TRUE(OnlyError(
      r, 9, 12,
      {"alias *e expands the document to more than 250000 nodes", "aliases count as copies"}))
      << Describe(r);
  EXPECT_EQ(r.errors[0].ToString().rfind("/srv/jobs/test.yaml:9:12: ", 0), 0u)
      << r.errors[0].ToString();
  // Unbounded, the validator's walk took minutes and 7.9 GB; the check streams the text once.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::seconds>(took).count(), 10);
  EXPECT_LT(MaxRssMb() - rss_before, 100);
}

// yaml-cpp 0.7 never ends on a document that starts with a comma (",", ", x", ",\0"): it
// emits null nodes at one position forever. Found by the long fuzz run, where the node limit
// ended it after 250000 nodes (0.2 s each); now refused as the parser stops advancing.
TEST(YamlLimitsTest, ADocumentOnWhichYamlCppLoopsForeverIsRefused) {
  for (const std::string& text : {std::string(","), std::string(", x\n"), std::string(",\0", 2)}) {
    const auto start = std::chrono::steady_clock::now();
    JobParseResult r = Parse(text);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r.ok());
    EXPECT_NE(Describe(r).find("the parser does not advance"), std::string::npos) << Describe(r);
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), 100);
  }
}

TEST(YamlLimitsTest, AliasesThatNestDeeperThanTheLimitAreRefused) {
  // Each anchor nests the previous one five levels deeper: 60 lines, 300 levels.
  std::string text = Job();
  text += "a0: &a0 x\n";
  for (int i = 1; i <= 60; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [[[[[*a" +
            std::to_string(i - 1) + "]]]]]\n";
  }
  JobParseResult r = Parse(text);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r);
  EXPECT_NE(r.errors[0].message.find("nested more than 256 levels deep"), std::string::npos)
      << Describe(r);
  // 1 (top map) + 5 per anchor: *a50 inside a51 (line 55) reaches 1 + 5 * 51 + 1 = 257.
  EXPECT_EQ(r.errors[0].line, 55) << Describe(r);
}

TEST(YamlLimitsTest, DeeplyNestedTextIsRefusedWithItsPosition) {
  std::string deep = std::string(300, '[') + std::string(300, ']');
  JobParseResult r = Parse(Job("segments: " + deep + "\n"));
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r);
  EXPECT_EQ(r.errors[0].line, 4) << Describe(r);
  EXPECT_NE(r.errors[0].message.find("nested more than 256 levels deep"), std::string::npos)
      << Describe(r);
}

TEST(YamlLimitsTest, AnAliasInsideItsOwnAnchorIsRefused) {
  JobParseResult r = Parse(Job("segments: &loop [{id: s, when: {not: *loop}}]\n"));
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r);
  EXPECT_EQ(r.errors[0].line, 4) << Describe(r);
  EXPECT_NE(r.errors[0].message.find("alias *loop names a node that contains it"),
            std::string::npos)
      << Describe(r);
}

TEST(YamlLimitsTest, ModestAliasesStillWork) {
  JobParseResult r =
      Parse(Job("segments:\n"
                "  - id: a\n"
                "    when: &buy {count: {event: purchase, at_least: 1}}\n"
                "  - id: b\n"
                "    when: {all: [*buy, {not: {count: {event: refund, at_least: 1}}}]}\n"));
  EXPECT_TRUE(r.ok()) << Describe(r);
}

TEST(YamlLimitsTest, OversizedFileIsRefusedWithoutReadingItAll) {
  std::string big = Job("# ");
  big.append(9u << 20, 'x');
  JobParseResult r = Parse(big);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r);
  EXPECT_NE(r.errors[0].message.find("more than the 8 MiB a job file may have"), std::string::npos)
      << Describe(r);

  const std::string path = ::testing::TempDir() + "/segflow-yaml-limits-big.yaml";
  std::ofstream(path, std::ios::binary) << big;
  r = ParseJobFile(path);
  std::filesystem::remove(path);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r);
  EXPECT_EQ(r.errors[0].file, path);
  EXPECT_NE(r.errors[0].message.find("bytes, more than the 8 MiB"), std::string::npos)
      << Describe(r);
}

TEST(YamlLimitsTest, SavepointComparisonRefusesABombInTheCheckpointsJobText) {
  const std::string good =
      Job("segments:\n  - id: s\n    when: {count: {event: e, at_least: 1}}\n");
  StateCarryOver c = CompareJobState(AliasBomb(), good);
  EXPECT_NE(c.refused.find(
                "cannot compare the job files: the savepoint's job file:9:12: alias *e expands"),
            std::string::npos)
      << c.refused;
}

}  // namespace
}  // namespace segflow
