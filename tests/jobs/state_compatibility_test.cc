// Which job-file edits a savepoint's state survives, segment by segment.
#include "jobs/state_compatibility.h"

#include <gtest/gtest.h>

#include "jobs/segment_version.h"

namespace segflow {
namespace {

constexpr char kJob[] = R"(job: j
log: log
source: {topics: [events], max_out_of_orderness: 5s}
consent: {event: consent, field: granted}
segments:
  - id: a
    when: {count: {event: x, at_least: 1}}
  - id: b
    when: {count: {event: y, window: 1h, at_least: 2}}
  - id: c
    when: {all: [{segment: a}, {count: {event: z, where: {segment: b}, at_least: 1}}]}
parallelism: 2
)";

std::string Edit(const std::string& from, const std::string& to, std::string s = kJob) {
  s.replace(s.find(from), from.size(), to);
  return s;
}

using Ids = std::vector<std::string>;

TEST(StateCompatibilityTest, ParallelismAndOtherSettingsMayChange) {
  for (const std::string& after :
       {std::string(kJob), Edit("parallelism: 2", "parallelism: 5"),
        Edit("parallelism: 2", "parallelism: 2\ncheckpoint: {interval: 1s}"),
        Edit("{count: {event: x, at_least: 1}}", "{count: {at_least: 1, event: x}}")}) {
    StateCarryOver c = CompareJobState(kJob, after);
    EXPECT_TRUE(c.identical()) << c.Describe();
    EXPECT_EQ(c.kept, (Ids{"a", "b", "c"}));
  }
}

TEST(StateCompatibilityTest, EditedSegmentsRestartAndTheirDependentsWithThem) {
  StateCarryOver c = CompareJobState(kJob, Edit("at_least: 2", "at_least: 3"));
  EXPECT_EQ(c.refused, "");
  EXPECT_EQ(c.kept, (Ids{"a", "c"})) << "c reads a property called segment, not segment b";
  EXPECT_EQ(c.restarted, (Ids{"b (changed)"}));
  c = CompareJobState(kJob, Edit("event: x", "event: xx"));
  EXPECT_EQ(c.kept, (Ids{"b"}));
  EXPECT_EQ(c.restarted, (Ids{"a (changed)", "c (changed)"})) << "c references a";
  EXPECT_EQ(c.Describe(), "kept b; restarted a (changed), c (changed)");
}

TEST(StateCompatibilityTest, AddedRemovedAndReorderedSegments) {
  StateCarryOver c = CompareJobState(
      kJob, Edit("parallelism: 2", "  - id: d\n    when: {segment: a}\nparallelism: 2"));
  EXPECT_EQ(c.kept, (Ids{"a", "b", "c"}));
  EXPECT_EQ(c.restarted, (Ids{"d (added)"}));
  c = CompareJobState(
      kJob, Edit("  - id: b\n    when: {count: {event: y, window: 1h, at_least: 2}}\n", ""));
  EXPECT_EQ(c.kept, (Ids{"a", "c"}));
  EXPECT_EQ(c.dropped, (Ids{"b"}));
  const std::string seg_a = "  - id: a\n    when: {count: {event: x, at_least: 1}}\n";
  c = CompareJobState(kJob, Edit("parallelism: 2", seg_a + "parallelism: 2", Edit(seg_a, "")));
  EXPECT_TRUE(c.identical()) << "order is not a change";
  EXPECT_EQ(c.kept, (Ids{"b", "c", "a"}));
}

TEST(StateCompatibilityTest, SharedBlocksRefuse) {
  EXPECT_EQ(CompareJobState(kJob, Edit("5s", "10s")).refused,
            "source.max_out_of_orderness changed");
  EXPECT_EQ(CompareJobState(kJob, Edit("field: granted", "field: ok")).refused,
            "the consent block changed");
}

TEST(SegmentVersionTest, StableHashOfTheNormalizedDefinition) {
  auto v = SegmentVersions(kJob);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 3u);
  for (const auto& [id, version] : *v) EXPECT_EQ(version.size(), 16u) << id;
  EXPECT_NE(v->at("a"), v->at("b"));
  // The same text gives the same version in every process: pinned.
  auto again = SegmentVersions(
      Edit("{count: {event: x, at_least: 1}}", "{count: {at_least: 1,   event: x}}"));
  EXPECT_EQ(again->at("a"), v->at("a"));
  EXPECT_FALSE(SegmentVersions("segments: 3").ok());
}

}  // namespace
}  // namespace segflow
