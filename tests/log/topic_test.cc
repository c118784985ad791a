#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "engine/log/log.h"
#include "log_test_util.h"

namespace segflow::log {
namespace {

using testing::Meta;
using testing::TempDir;

TEST(TopicTest, CreateThenReadBack) {
  TempDir dir;
  TopicMeta m = Meta(3);
  m.format = TopicFormat::kChangelog;
  m.fields.user = "uid";
  m.fields.event = "type";
  m.fields.time = "at";
  const std::string log_dir = dir.path() + "/nested/log";  // parents are created
  auto created = EnsureTopic(log_dir, "job.memberships", m);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto read = ReadTopicMeta(log_dir, "job.memberships");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->partitions, 3u);
  EXPECT_EQ(read->format, TopicFormat::kChangelog);
  EXPECT_EQ(read->fields.user, "uid");
  EXPECT_EQ(read->fields.event, "type");
  EXPECT_EQ(read->fields.time, "at");
  for (uint32_t p = 0; p < 3; ++p) {
    auto end = EndOffset(log_dir, "job.memberships", p);
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    EXPECT_EQ(*end, 0u);
  }
}

TEST(TopicTest, ExistingMetaWins) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(4)).ok());
  auto again = EnsureTopic(dir.path(), "events", Meta(8));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->partitions, 4u);
}

TEST(TopicTest, MissingTopicIsNotFound) {
  TempDir dir;
  auto meta = ReadTopicMeta(dir.path(), "nope");
  EXPECT_EQ(meta.status().code(), Status::Code::kNotFound);
  EXPECT_NE(meta.status().message().find("nope"), std::string::npos);
  EXPECT_EQ(PartitionReader::Open(dir.path(), "nope", 0, 0).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(PartitionWriter::Open(dir.path(), "nope", 0).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(EndOffset(dir.path(), "nope", 0).status().code(), Status::Code::kNotFound);
}

TEST(TopicTest, PartitionOutOfRange) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(2)).ok());
  EXPECT_EQ(PartitionWriter::Open(dir.path(), "events", 2).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(PartitionReader::Open(dir.path(), "events", 5, 0).status().code(), Status::Code::kInvalidArgument);
}

TEST(TopicTest, BadNamesAndMetaRejected) {
  TempDir dir;
  for (const char* name : {"", ".hidden", "a/b", "a b", "..", "ü"}) {
    EXPECT_EQ(EnsureTopic(dir.path(), name, Meta(1)).status().code(), Status::Code::kInvalidArgument) << name;
  }
  EXPECT_EQ(EnsureTopic(dir.path(), "t", Meta(0)).status().code(), Status::Code::kInvalidArgument);
  TopicMeta bad = Meta(1);
  bad.fields.user = "a\nb";
  EXPECT_EQ(EnsureTopic(dir.path(), "t", bad).status().code(), Status::Code::kInvalidArgument);
}

TEST(TopicTest, DeleteRemovesData) {
  TempDir dir;
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  {
    auto w = PartitionWriter::Open(dir.path(), "events", 0);
    ASSERT_TRUE(w.ok());
    (*w)->Append(testing::MakeEvent(1));
    ASSERT_TRUE((*w)->Flush(true).ok());
  }
  ASSERT_TRUE(DeleteTopic(dir.path(), "events").ok());
  EXPECT_EQ(ReadTopicMeta(dir.path(), "events").status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/events"));
  EXPECT_TRUE(DeleteTopic(dir.path(), "events").ok());  // idempotent
  // Recreated empty.
  ASSERT_TRUE(EnsureTopic(dir.path(), "events", Meta(1)).ok());
  EXPECT_EQ(*EndOffset(dir.path(), "events", 0), 0u);
  // Nothing left behind by the delete.
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string(), "events");
  }
}

TEST(TopicTest, ConcurrentCreatorsAgree) {
  for (int trial = 0; trial < 5; ++trial) {
    TempDir dir;
    constexpr int kProcs = 6;
    pid_t pids[kProcs];
    for (int i = 0; i < kProcs; ++i) {
      pids[i] = ::fork();
      ASSERT_GE(pids[i], 0);
      if (pids[i] == 0) {
        auto m = EnsureTopic(dir.path(), "events", Meta(static_cast<uint32_t>(i + 1)));
        if (!m.ok()) ::_exit(100);
        ::_exit(static_cast<int>(m->partitions));
      }
    }
    int agreed = -1;
    for (int i = 0; i < kProcs; ++i) {
      int status = 0;
      ASSERT_EQ(::waitpid(pids[i], &status, 0), pids[i]);
      ASSERT_TRUE(WIFEXITED(status));
      int got = WEXITSTATUS(status);
      ASSERT_NE(got, 100);
      if (agreed < 0) agreed = got;
      EXPECT_EQ(got, agreed) << "creators saw different metas";
    }
    auto meta = ReadTopicMeta(dir.path(), "events");
    ASSERT_TRUE(meta.ok());
    EXPECT_EQ(static_cast<int>(meta->partitions), agreed);
  }
}

}  // namespace
}  // namespace segflow::log
