// The Kafka changelog's journal (operators/sink/kafka_commit_journal.h): what it writes it
// reads back, a missing file is "never ran", and a damaged one is refused, not guessed at.
#include "operators/sink/kafka_commit_journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace segflow {
namespace {

TEST(KafkaCommitJournalTest, RoundTripsEveryField) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("segflow-journal-" + std::to_string(::getpid()));
  const std::string path = dir + "/sub/kafka-changelog.journal";
  auto none = KafkaCommitJournal::Read(path);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  KafkaCommitJournal j;
  j.state = "committing";
  j.checkpoint = 12;
  j.records = 345;
  j.changelog = {1, 2, 3, 4};
  j.late = {0, 0, 7, 0};
  j.rejected = {};
  j.pending_changelog = {5, 6, 7, 8};
  j.pending_late = {0, 1, 7, 0};
  j.pending_rejected = {0, 0, 0, 1};
  j.definition = "p4-0123456789abcdef";
  j.high_watermarks[{"shop.memberships", 2}] = 99;
  j.high_watermarks[{"shop.late", 0}] = 3;
  ASSERT_TRUE(j.Write(path).ok());
  auto back = KafkaCommitJournal::Read(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_TRUE(back->has_value());
  const KafkaCommitJournal& r = **back;
  EXPECT_EQ(r.state, "committing");
  EXPECT_EQ(r.checkpoint, 12u);
  EXPECT_EQ(r.records, 345u);
  EXPECT_EQ(r.changelog, j.changelog);
  EXPECT_EQ(r.late, j.late);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.pending_changelog, j.pending_changelog);
  EXPECT_EQ(r.pending_late, j.pending_late);
  EXPECT_EQ(r.pending_rejected, j.pending_rejected);
  EXPECT_EQ(r.high_watermarks, j.high_watermarks);
  EXPECT_EQ(r.definition, j.definition);

  // Cut short (no "end"): refused, naming the file.
  std::ofstream(path) << "segflow kafka changelog journal v1\nstate open\n";
  auto cut = KafkaCommitJournal::Read(path);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().ToString().find(path), std::string::npos) << cut.status().ToString();
  EXPECT_NE(cut.status().ToString().find("cut short"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace segflow
