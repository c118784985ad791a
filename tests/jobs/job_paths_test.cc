// A submitted job's relative paths resolve against the base folder the cluster chose
// (its first --data-root), and every folder a run touches is checked against the roots.
#include "jobs/job_paths.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/common/data_roots.h"
#include "jobs/job_parser.h"

namespace segflow {
namespace {

std::string Job(const std::string& log, const std::string& extra = "") {
  return "job: shop\nlog: " + log +
         "\nsource: {topics: [events]}\nsegments:\n  - id: a\n    when: {count: {event: view, "
         "at_least: 1}}\n" +
         extra;
}

TEST(JobPathsTest, RelativePathsResolveAgainstTheGivenBaseNotTheFilesFolder) {
  JobParseResult r = ParseJobText(Job("data/log", "checkpoint: {interval: 1s, dir: chk}\n"),
                                  "/client/folder/job.yaml", "/srv/root");
  ASSERT_TRUE(r.ok()) << r.ErrorText();
  EXPECT_EQ(r.job.log_dir, "/srv/root/data/log");
  EXPECT_EQ(r.job.output.audience_dir, "/srv/root/data/audience/shop");
  EXPECT_EQ(r.job.checkpoint.dir, "/srv/root/chk");
  // Without a base: the job file's folder, as local commands (audience, explain) resolve it.
  JobParseResult local = ParseJobText(Job("data/log"), "/client/folder/job.yaml");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local.job.log_dir, "/client/folder/data/log");
}

TEST(JobPathsTest, EveryFolderARunTouchesIsChecked) {
  auto roots = DataRoots::Make({"/srv/root"});
  ASSERT_TRUE(roots.ok());
  JobParseResult ok = ParseJobText(Job("data/log"), "job.yaml", "/srv/root");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(CheckJobPaths(ok.job, "/srv/root/data/state/shop", *roots).ok());
  EXPECT_FALSE(CheckJobPaths(ok.job, "/srv/elsewhere", *roots).ok());
  EXPECT_FALSE(CheckJobPaths(ok.job, "", *roots, {{"--from-savepoint", "/tmp/sp"}}).ok());

  // A log at the root itself: its defaults (audience, governance beside the log) leave it.
  JobParseResult at_root = ParseJobText(Job("."), "job.yaml", "/srv/root");
  ASSERT_TRUE(at_root.ok());
  Status s = CheckJobPaths(at_root.job, "", *roots);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/srv/"), std::string::npos) << s.message();

  JobParseResult escape = ParseJobText(Job("data/log", "output: {shared_audience: ../../etc/x}\n"),
                                       "job.yaml", "/srv/root");
  ASSERT_TRUE(escape.ok()) << escape.ErrorText();
  s = CheckJobPaths(escape.job, "", *roots);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("shared_audience /etc/x is outside"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace segflow
