// The example jobs shipped in jobs/*.yaml are valid (spec §3–§7).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "jobs/job_parser.h"

namespace segflow {
namespace {

class ExampleJobsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExampleJobsTest, ParsesWithoutErrors) {
  std::filesystem::path file = std::filesystem::path(SEGFLOW_SOURCE_DIR) / "jobs" / GetParam();
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " is not there yet";
  JobParseResult r = ParseJobFile(file.string());
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_FALSE(r.job.name.empty());
  EXPECT_FALSE(r.job.segments.empty());
  EXPECT_FALSE(r.job.source.topics.empty());
  // Relative paths resolve against the job file's folder.
  EXPECT_EQ(r.job.log_dir.rfind(file.parent_path().string() + "/", 0), 0u) << r.job.log_dir;
}

INSTANTIATE_TEST_SUITE_P(Jobs, ExampleJobsTest,
                         ::testing::Values("cart.yaml", "fintech.yaml", "media.yaml"),
                         [](const auto& info) {
                           return info.param.substr(0, info.param.find('.'));
                         });

}  // namespace
}  // namespace segflow
