// Which job-file edits a savepoint's state survives.
#include "jobs/state_compatibility.h"

#include <gtest/gtest.h>

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
parallelism: 2
)";

std::string Edit(const std::string& from, const std::string& to) {
  std::string s = kJob;
  s.replace(s.find(from), from.size(), to);
  return s;
}

TEST(StateCompatibilityTest, ParallelismAndOtherSettingsMayChange) {
  EXPECT_EQ(StateIncompatibility(kJob, kJob), "");
  EXPECT_EQ(StateIncompatibility(kJob, Edit("parallelism: 2", "parallelism: 5")), "");
  EXPECT_EQ(StateIncompatibility(kJob, Edit("parallelism: 2", "parallelism: 2\ncheckpoint: {interval: 1s}")), "");
  EXPECT_EQ(StateIncompatibility(kJob, Edit("{count: {event: x, at_least: 1}}", "{count: {at_least: 1, event: x}}")), "")
      << "key order inside a map is not a change";
}

TEST(StateCompatibilityTest, EditedAddedAndRemovedSegmentsAreNamed) {
  EXPECT_EQ(StateIncompatibility(kJob, Edit("at_least: 2", "at_least: 3")), "segment b changed");
  EXPECT_EQ(StateIncompatibility(kJob, Edit("parallelism: 2", "  - id: c\n    when: {segment: a}\nparallelism: 2")),
            "segment c added");
  EXPECT_EQ(StateIncompatibility(kJob, Edit("  - id: b\n    when: {count: {event: y, window: 1h, at_least: 2}}\n", "")),
            "segment b removed");
  EXPECT_EQ(StateIncompatibility(kJob, Edit("5s", "10s")), "source.max_out_of_orderness changed");
  EXPECT_EQ(StateIncompatibility(kJob, Edit("field: granted", "field: ok")), "the consent block changed");
}

}  // namespace
}  // namespace segflow
