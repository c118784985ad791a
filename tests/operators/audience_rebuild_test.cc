// Restoring a checkpoint rebuilds the job's audience store from its committed changelog
// (PreparedOutputs, operators/runtime/job_graph.h): the changelog replayed in order (its
// records carry no log position), labelled with the segment versions of the job file that
// wrote the checkpoint, and the frozen versions kept; a fresh run removes them.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "engine/log/log.h"
#include "engine/schema/checkpoint.capnp.h"
#include "engine/state/message_file.h"
#include "jobs/job_parser.h"
#include "jobs/segment_version.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/job_context.h"
#include "operators/runtime/job_graph.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/audience_versions.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;

std::string Job(const std::string& s_window, bool with_old) {
  return "job: shop\nlog: log\nsource: {topics: [events]}\nsegments:\n"
         "  - id: s\n    when: {count: {event: buy, window: " +
         s_window + ", at_least: 1}}\n" +
         (with_old ? "  - id: old\n    when: {count: {event: view, at_least: 1}}\n" : "");
}

class AudienceRebuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/segflow-audience-rebuild-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  // A checkpoint folder as the coordinator leaves it, written by `writer_text`, whose
  // changelog holds `records` (all committed) with the evaluated time `evaluated`.
  std::string WriteCheckpoint(const std::string& writer_text, const JobSpec& job,
                              const std::vector<Event>& records, int64_t evaluated) {
    log::TopicMeta meta;
    meta.format = log::TopicFormat::kChangelog;
    EXPECT_TRUE(log::EnsureTopic(job.log_dir, job.output.changelog, meta).ok());
    auto w = log::PartitionWriter::Open(job.log_dir, job.output.changelog, 0);
    EXPECT_TRUE(w.ok());
    for (const auto& e : records) (*w)->Append(e);
    EXPECT_TRUE((*w)->Flush(true).ok());
    const std::string dir = root_ + "/chk-1";
    SinkCheckpointState sink;
    sink.offsets = {(*w)->NextOffset()};
    sink.frontiers = {evaluated + 1};
    sink.idle = {false};
    sink.has_evaluated = true;
    sink.evaluated = evaluated;
    EXPECT_TRUE(WriteSinkCheckpoint(dir, sink).ok());
    EXPECT_TRUE(WriteSourceCheckpoint(dir, 0, SourceCheckpointState{}).ok());
    capnp::MallocMessageBuilder msg;
    auto m = msg.initRoot<schema::CheckpointMetadata>();
    m.setFormatVersion(schema::CHECKPOINT_FORMAT_VERSION);
    m.setJobName(job.name);
    m.setCheckpointId(1);
    m.setPartitions(1);
    m.setJobText(writer_text);
    EXPECT_TRUE(WriteMessageFile(dir + "/_metadata", msg).ok());
    return dir;
  }
  static Event Change(const std::string& user, bool entered, int64_t at,
                      const std::string& segment) {
    return Event{user, entered ? "entered" : "exited", at,
                 Value::Object({{"segment", Value::String(segment)}})};
  }

  std::string root_;
};

TEST_F(AudienceRebuildTest, ReplaysTheChangelogInOrderWithTheWritersVersions) {
  const std::string writer = Job("1h", true);
  const std::string restoring = Job("2h", false);  // s changed, old removed
  JobParseResult parsed = ParseJobText(restoring, root_ + "/job.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.ErrorText();
  const JobSpec& job = parsed.job;
  const std::string chk = WriteCheckpoint(
      writer, job,
      {Change("u1", true, 5, "s"), Change("u1", false, 10, "s"), Change("u1", true, 10, "s"),
       Change("u2", true, 10, "old"), Change("u3", true, 10, "gone")},
      11);
  // A version frozen by an earlier switch stays through a restore.
  ASSERT_TRUE(WriteFrozenVersion(job.output.audience_dir,
                                 FrozenVersion{"shop", "s", "00000000000000aa", 3, 1, 0, {"u9"}})
                  .ok());
  CheckpointHooks hooks;
  hooks.restore_dir = chk;
  hooks.restore_id = 1;
  {
    auto prepared = PreparedOutputs::Prepare(job, root_ + "/state", 1, &hooks);
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  }
  {
    auto store = AudienceStore::OpenForRead(job.output.audience_dir);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ(*(*store)->Members("s"), std::vector<std::string>{"u1"})
        << "the re-entry at 10 follows the exit at 10 in the changelog";
    EXPECT_EQ(*(*store)->Members("old"), std::vector<std::string>{"u2"});
    EXPECT_TRUE((*store)->Members("gone")->empty()) << "a segment the writing job did not define";
    EXPECT_EQ(*(*store)->Versions(), *SegmentVersions(writer)) << "the rows are the writing job's";
    EXPECT_EQ(*(*store)->EvaluatedThrough(), std::optional<int64_t>(11));
  }
  EXPECT_EQ(ListFrozenVersions(job.output.audience_dir)->size(), 1u);
  // A fresh run starts from nothing, frozen versions included.
  auto fresh = PreparedOutputs::Prepare(job, root_ + "/state", 1, nullptr);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_FALSE(fs::exists(FrozenVersionsDir(job.output.audience_dir)));
}

}  // namespace
}  // namespace segflow
