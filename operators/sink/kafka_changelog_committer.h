// KafkaChangelogCommitter: the committer of a job's Kafka changelog (job file
// `output.changelog.kafka`, spec integrations §10.2).
//
// The sink task stages every change in the embedded changelog (flushed with each
// checkpoint); when a checkpoint completes, this committer sends the staged records it has
// not sent yet (and the job's staged late records and rejects, to "<job>.late" and
// "<job>.rejected") in ONE Kafka transaction and commits it. Each record: key = user id,
// value = the JSON object `segflow consume` prints, header `segflow-id` = the JSON array
// [segment, user_id, change, at] (unambiguous, whatever the strings hold). Changelog
// partition p goes to Kafka partition p mod the topic's partitions, so each Kafka partition
// holds its records in the changelog's order and a user's records share one.
//
// Exactly once: the producer's transactional.id is "segflow.<job>.sink-0", so a restarted
// attempt's init_transactions fences the failed attempt and aborts its open transaction;
// the journal (kafka_commit_journal.h) says what was committed, and Restore sends what the
// restored checkpoint holds beyond it. A restore from a checkpoint or savepoint older than
// the last commit sends nothing twice when the job's definition is the one that wrote the
// commits (the same input re-evaluated gives the same records at the same offsets); an
// edited or rescaled job's changes from there on are all sent, and the repeat reported. The aborted transaction is reported (stderr, Summary)
// with its checkpoint, record count and Kafka offsets, so that a consumer that cannot read
// committed (or a test on a mock that does not hide aborted records) can tell its records.
// A crash after commit_transaction was called and before the journal says so (state
// "committing") is resolved by reading the transaction's offsets back as a read_committed
// consumer once init_transactions has completed or aborted it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "operators/sink/kafka_commit_journal.h"
#include "operators/sink/sink_committer.h"

struct rd_kafka_s;
struct rd_kafka_error_s;

namespace segflow {

class KafkaChangelogCommitter : public SinkCommitter {
 public:
  // Creates the transactional producer and runs init_transactions (fencing a previous
  // attempt), retrying while `live` until connected or `stop`; reports a transaction of
  // the failed attempt that this aborted. `partitions`: the staged changelog's.
  static Result<std::unique_ptr<KafkaChangelogCommitter>> Open(const JobSpec& job,
                                                               uint32_t partitions, bool live,
                                                               const std::atomic<bool>* stop);
  ~KafkaChangelogCommitter() override;

  Status Restore(const CommitProgress& restored, bool fresh) override;
  Status Commit(std::vector<AudienceStore::Change> changes,
                const CommitProgress& progress) override;
  Status Poll() override;
  Status Drain(std::chrono::milliseconds timeout) override;
  std::string Summary() const override;

  // "Kafka changelog <topic> at <bootstrap>": the prefix of every message.
  const std::string& where() const { return where_; }
  // The journal's path: <checkpoint dir>/kafka-changelog.journal.
  static std::string JournalPath(const JobSpec& job);
  // What determines the staged changelog's records at given offsets for given input: the
  // partition count and every segment's version ("p<N>-<hash>").
  static std::string DefinitionOf(const JobSpec& job, uint32_t partitions);

 private:
  KafkaChangelogCommitter(const JobSpec& job, uint32_t partitions);
  Status Connect(bool live, const std::atomic<bool>* stop);
  // Reports the failed attempt's transaction in flight (`previous`, state open or
  // committing); one found committed moves previous's offsets to its pending ones.
  Status ReportAborted(KafkaCommitJournal* previous);
  // True when a read_committed consumer reads a record in one of `written`'s ranges
  // ((topic, partition) -> [from, end)).
  Result<bool> ReadsCommitted(
      const std::map<std::pair<std::string, int32_t>, std::pair<int64_t, int64_t>>& written);
  // Sends the staged records from the journal's offsets to `to` (changelog) and to the
  // late / rejected topics' current ends, in one transaction, and commits it.
  Status Send(const std::vector<uint64_t>& to, uint64_t checkpoint, const std::string& kind);
  Status Produce(const std::string& topic, uint32_t staged_partition, const std::string& key,
                 const std::string& value, const std::string& id);
  Result<int32_t> KafkaPartitions(const std::string& topic);
  Status TxnError(const std::string& what, ::rd_kafka_error_s* error);
  std::vector<uint64_t> StagedEnds(const std::string& topic) const;

  std::string bootstrap_, topic_, late_topic_, rejected_topic_, log_dir_, journal_path_, job_;
  std::string definition_;  // DefinitionOf this run's job
  std::map<std::string, std::string> properties_;
  uint32_t partitions_;
  std::string where_;
  ::rd_kafka_s* rk_ = nullptr;
  std::map<std::string, int32_t> kafka_partitions_;  // per Kafka topic; 0: unknown
  KafkaCommitJournal journal_;
  bool has_journal_ = false;  // a journal was found, or Restore wrote one
  bool in_transaction_ = false;
  uint64_t sent_records_ = 0, transactions_ = 0;
  std::string aborted_report_;  // the failed attempt's transaction, as reported
};

}  // namespace segflow
