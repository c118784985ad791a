// `segflow preview` (issue 17) as a user runs it: the real binary over a real log. Its
// size and members equal what `segflow run --bounded` then `segflow audience` say for the
// same segment, and it leaves the job's outputs (changelog, late topic, audience store,
// state) untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "cli_test_util.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

// jobs/cart.yaml as shipped, with its log in the test's folder.
std::string CartJob() {
  std::string text = ReadFile(std::string(SEGFLOW_SOURCE_DIR) + "/jobs/cart.yaml");
  const std::string from = "log: data/cart/log";
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "jobs/cart.yaml no longer has \"" << from << "\"";
  if (at != std::string::npos) text.replace(at, from.size(), "log: log");
  return text;
}

// Segment references: lost_cart needs cart_abandoned and repeat_buyer; big_cart is not
// referenced, so a preview of lost_cart evaluates three of the four segments.
constexpr char kReferenceJob[] = R"(job: refs
log: log
source:
  topics: [events]
  max_out_of_orderness: 5s
consent: {event: consent, field: granted, default: granted}
segments:
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
  - id: lost_cart
    when: {all: [{segment: cart_abandoned}, {not: {segment: repeat_buyer}}]}
    membership: {duration: 12h}
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: repeat_buyer
    when: {count: {event: purchase, window: 7d, at_least: 2}}
parallelism: 2
)";

struct Preview {
  size_t size = 0;
  std::vector<std::string> members;
  std::string evaluated_segments;
};

class PreviewTest : public ::testing::Test {
 protected:
  const std::string& scratch() const { return dir_.path(); }
  std::string job_path() const { return scratch() + "/job.yaml"; }

  void ProduceCart() {
    Outcome g = Segflow({"gen", "cart", "--users", "400", "--events", "30000", "--seed", "11",
                         "--late-fraction", "0.01"},
                        "", scratch());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    Outcome p =
        Segflow({"produce", "--log", scratch() + "/log", "--topic", "events", "--partitions", "4"},
                g.out, scratch());
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  Outcome Run(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", job_path(), "--bounded", "--workers", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, "", scratch());
  }
  std::vector<std::string> Members(const std::string& segment) {
    Outcome a = Segflow({"audience", job_path(), "--segment", segment}, "", scratch());
    EXPECT_EQ(a.exit_code, 0) << a.err;
    std::vector<std::string> out = Lines(a.out);
    std::sort(out.begin(), out.end());
    return out;
  }
  size_t Count(const std::string& segment) {
    Outcome a = Segflow({"audience", job_path(), "--segment", segment, "--count"}, "", scratch());
    EXPECT_EQ(a.exit_code, 0) << a.err;
    return std::stoul(a.out);
  }
  Preview RunPreview(const std::string& segment, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"preview", job_path(), "--segment",
                                     segment,   "--sample", "1000000"};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome o = Segflow(args, "", scratch());
    EXPECT_EQ(o.exit_code, 0) << o.err;
    Preview p;
    std::vector<std::string> lines = Lines(o.out);
    std::smatch m;
    EXPECT_GE(lines.size(), 3u) << o.out;
    if (lines.size() < 3) return p;
    EXPECT_TRUE(std::regex_match(lines[0], m, std::regex(segment + R"(: (\d+) members)")))
        << lines[0];
    if (!m.empty()) p.size = std::stoul(m[1]);
    std::smatch e;
    EXPECT_TRUE(std::regex_search(lines[1], e, std::regex("segments evaluated: (.*)$")))
        << lines[1];
    if (!e.empty()) p.evaluated_segments = e[1];
    EXPECT_TRUE(lines[2].rfind("sample (first ", 0) == 0) << lines[2];
    p.members.assign(lines.begin() + 3, lines.end());
    return p;
  }
  // Every segment: preview's size and members are the full bounded run's.
  void ExpectPreviewsEqualTheRun(const std::vector<std::string>& segments,
                                 std::vector<std::string> extra = {}) {
    for (const auto& segment : segments) {
      SCOPED_TRACE(segment);
      Preview p = RunPreview(segment, extra);
      EXPECT_EQ(p.size, Count(segment));
      EXPECT_EQ(p.members, Members(segment));
      EXPECT_TRUE(std::is_sorted(p.members.begin(), p.members.end()));
    }
  }

  ScratchDir dir_{"segflow-preview-test"};
};

TEST_F(PreviewTest, CartSegmentsEqualTheBoundedRunsAudiences) {
  ASSERT_NO_FATAL_FAILURE(ProduceCart());
  WriteFile(job_path(), CartJob());
  Outcome run = Run();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectPreviewsEqualTheRun({"cart_abandoned", "big_cart", "repeat_buyer"});
  EXPECT_GT(Count("cart_abandoned"), 0u);
}

TEST_F(PreviewTest, ReferencingSegmentEvaluatesOnlyWhatItNeedsAndEqualsTheRun) {
  ASSERT_NO_FATAL_FAILURE(ProduceCart());
  WriteFile(job_path(), kReferenceJob);
  Outcome run = Run();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectPreviewsEqualTheRun({"lost_cart", "repeat_buyer"});
  EXPECT_GT(Count("lost_cart"), 0u);
  EXPECT_EQ(RunPreview("lost_cart").evaluated_segments, "lost_cart, cart_abandoned, repeat_buyer");
  EXPECT_EQ(RunPreview("big_cart").evaluated_segments, "big_cart");
}

TEST_F(PreviewTest, UntilEqualsABoundedRunUntilTheSameTime) {
  ASSERT_NO_FATAL_FAILURE(ProduceCart());
  WriteFile(job_path(), CartJob());
  // gen cart starts at 2026-05-01T00:00:00Z; a day and a half in is mid-data.
  Outcome run = Run({"--until", "2026-05-02T12:00:00Z"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectPreviewsEqualTheRun({"cart_abandoned", "big_cart"}, {"--until", "2026-05-02T12:00:00Z"});
}

// Nothing of the job's is written: no changelog or late topic, audience store or state.
TEST_F(PreviewTest, WritesNoneOfTheJobsOutputs) {
  ASSERT_NO_FATAL_FAILURE(ProduceCart());
  WriteFile(job_path(), CartJob());
  Preview p = RunPreview("cart_abandoned", {"--temp-dir", scratch()});
  EXPECT_GT(p.size, 0u);
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(scratch())) {
    const std::string name = e.path().filename().string();
    if (name.rfind("run", 0) == 0) continue;  // the test's own stdin/stdout files
    entries.push_back(name);
  }
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries,
            (std::vector<std::string>{"job.yaml", "log"}));  // the temporary folder is gone
  std::vector<std::string> topics;
  for (const auto& e : fs::directory_iterator(scratch() + "/log"))
    topics.push_back(e.path().filename().string());
  EXPECT_EQ(topics, std::vector<std::string>{"events"});
}

// --from: each partition starts at its first record at or after TIME; past the data's end
// nothing is replayed and nobody is a member.
TEST_F(PreviewTest, FromStartsAtTheFirstRecordAtOrAfterTime) {
  ASSERT_NO_FATAL_FAILURE(ProduceCart());
  WriteFile(job_path(), CartJob());
  Outcome all =
      Segflow({"preview", job_path(), "--segment", "repeat_buyer", "--sample", "0"}, "", scratch());
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("30000 records"), std::string::npos) << all.out;
  Outcome late = Segflow(
      {"preview", job_path(), "--segment", "repeat_buyer", "--from", "2026-05-04T00:00:00Z"}, "",
      scratch());
  ASSERT_EQ(late.exit_code, 0) << late.err;
  EXPECT_EQ(late.out.find("30000 records"), std::string::npos) << late.out;
  Outcome none = Segflow(
      {"preview", job_path(), "--segment", "repeat_buyer", "--from", "2030-01-01T00:00:00Z"}, "",
      scratch());
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(Lines(none.out)[0], "repeat_buyer: 0 members") << none.out;
  EXPECT_NE(none.out.find("; 0 records"), std::string::npos) << none.out;
}

TEST_F(PreviewTest, BadSegmentOrFlagIsAClearErrorWithNonZeroExit) {
  WriteFile(job_path(), CartJob());
  Outcome unknown = Segflow({"preview", job_path(), "--segment", "cart_abandonned"}, "", scratch());
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown segment \"cart_abandonned\""), std::string::npos)
      << unknown.err;
  EXPECT_NE(unknown.err.find("defined: cart_abandoned, big_cart, repeat_buyer"), std::string::npos)
      << unknown.err;
  Outcome flag =
      Segflow({"preview", job_path(), "--segment", "big_cart", "--smaple", "3"}, "", scratch());
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("segflow preview:"), std::string::npos) << flag.err;
  Outcome missing = Segflow({"preview", job_path()}, "", scratch());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("missing --segment"), std::string::npos) << missing.err;
  Outcome time = Segflow({"preview", job_path(), "--segment", "big_cart", "--from", "yesterday"},
                         "", scratch());
  EXPECT_EQ(time.exit_code, 2);
  EXPECT_NE(time.err.find("--from"), std::string::npos) << time.err;
  Outcome help = Segflow({"--help"}, "", scratch());
  EXPECT_NE(help.out.find("preview"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace segflow
