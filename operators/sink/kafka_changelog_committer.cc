#include "operators/sink/kafka_changelog_committer.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "engine/log/log.h"
#include "engine/value/value.h"
#include "operators/sink/record_json.h"

namespace segflow {
namespace {

constexpr int kInitTimeoutMs = 10000;
constexpr int kCommitTimeoutMs = 60000;
constexpr int kQueryTimeoutMs = 5000;

// Delivery reports and client errors (served by rd_kafka_poll/flush on the sink's thread).
struct Callbacks {
  uint64_t failures = 0;
  std::string first_failure;
  std::string bootstrap;
  std::chrono::steady_clock::time_point last_warning{};
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* cb = static_cast<Callbacks*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  if (cb->failures++ == 0) cb->first_failure = rd_kafka_err2str(m->err);
}

void OnError(rd_kafka_t*, int, const char* reason, void* opaque) {
  // Brokers down, connections refused: librdkafka retries; say so at most every 5 s.
  auto* cb = static_cast<Callbacks*>(opaque);
  const auto now = std::chrono::steady_clock::now();
  if (now - cb->last_warning < std::chrono::seconds(5)) return;
  cb->last_warning = now;
  std::fprintf(stderr, "segflow: Kafka changelog at %s: %s (retrying)\n", cb->bootstrap.c_str(),
               reason);
}

// The `segflow-id` header: [segment, user_id, change, at] as a JSON array.
std::string SegflowId(const Event& e) {
  std::string id = "[";
  const Value* segment = e.props.Find("segment");
  if (segment != nullptr) {
    segment->AppendJson(&id);
  } else {
    id += "null";
  }
  id += ',';
  AppendJsonString(e.user, &id);
  id += ',';
  AppendJsonString(e.type, &id);
  id += ',' + std::to_string(e.ts) + ']';
  return id;
}

// Fault injection for tests: SEGFLOW_FAULT_KAFKA_EXIT_ONCE=FILE (before the commit) and
// SEGFLOW_FAULT_KAFKA_EXIT_AFTER_COMMIT_ONCE=FILE (after it, before the journal says so)
// make the process exit, as if killed, in the first checkpoint's transaction holding
// changelog records, unless FILE exists; FILE is created first, so a restarted attempt
// runs on.
bool InjectedExit(const char* variable, const std::string& kind, bool has_changes) {
  const char* file = std::getenv(variable);
  if (file == nullptr || kind != "checkpoint" || !has_changes) return false;
  const int fd = ::open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  ::fsync(fd);
  ::close(fd);
  return true;
}

Callbacks* CallbacksOf(rd_kafka_t* rk) {
  return static_cast<Callbacks*>(rd_kafka_opaque(rk));
}

}  // namespace

std::string KafkaChangelogCommitter::JournalPath(const JobSpec& job) {
  return job.checkpoint.dir + "/kafka-changelog.journal";
}

std::string KafkaChangelogCommitter::DefinitionOf(const JobSpec& job, uint32_t partitions) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a: stable across builds and machines
  auto mix = [&h](const std::string& text) {
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // a separator no text byte sequence imitates
  };
  for (const auto& [id, version] : job.segment_versions) {  // a std::map: sorted by id
    mix(id);
    mix(version);
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return "p" + std::to_string(partitions) + "-" + hex;
}

KafkaChangelogCommitter::KafkaChangelogCommitter(const JobSpec& job, uint32_t partitions)
    : bootstrap_(job.output.kafka.bootstrap),
      topic_(job.output.kafka.topic),
      late_topic_(job.name + ".late"),
      rejected_topic_(job.name + ".rejected"),
      log_dir_(job.log_dir),
      journal_path_(JournalPath(job)),
      job_(job.name),
      definition_(DefinitionOf(job, partitions)),
      properties_(job.output.kafka.properties),
      partitions_(partitions),
      where_("Kafka changelog " + job.output.kafka.topic + " at " + job.output.kafka.bootstrap) {}

KafkaChangelogCommitter::~KafkaChangelogCommitter() {
  if (rk_ == nullptr) return;
  // An open transaction (the run failed mid-commit) is left to the next attempt's
  // init_transactions, which aborts it and reports it.
  Callbacks* cb = CallbacksOf(rk_);
  rd_kafka_destroy(rk_);
  delete cb;
}

Result<std::unique_ptr<KafkaChangelogCommitter>> KafkaChangelogCommitter::Open(
    const JobSpec& job, uint32_t partitions, bool live, const std::atomic<bool>* stop) {
  std::unique_ptr<KafkaChangelogCommitter> c(new KafkaChangelogCommitter(job, partitions));
  auto previous = KafkaCommitJournal::Read(c->journal_path_);
  if (!previous.ok()) return previous.status();
  SEGFLOW_RETURN_IF_ERROR(c->Connect(live, stop));
  if (*previous) {
    c->journal_ = **previous;
    if (c->journal_.state != "committed") SEGFLOW_RETURN_IF_ERROR(c->ReportAborted(&c->journal_));
    c->journal_.state = "committed";  // the offsets it holds are the committed ones
    c->journal_.pending_changelog.clear();
    c->journal_.pending_late.clear();
    c->journal_.pending_rejected.clear();
    c->journal_.records = 0;
    c->journal_.high_watermarks.clear();
    c->has_journal_ = true;
  }
  return c;
}

Status KafkaChangelogCommitter::Connect(bool live, const std::atomic<bool>* stop) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) -> Status {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument(where_ + ": property " + k + "=" + v + ": " + errstr);
    }
    return Status::OK();
  };
  Status s = set("bootstrap.servers", bootstrap_);
  // A restarted attempt of this job's sink uses the same id: it fences the failed one.
  if (s.ok()) s = set("transactional.id", "segflow." + job_ + ".sink-0");
  if (s.ok()) s = set("log_level", "3");
  for (const auto& [k, v] : properties_) {
    if (s.ok()) s = set(k, v);
  }
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  auto* cb = new Callbacks;
  cb->bootstrap = bootstrap_;
  rd_kafka_conf_set_opaque(conf, cb);
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_conf_set_error_cb(conf, OnError);
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk_ == nullptr) {
    delete cb;
    return Status::InvalidArgument(where_ + ": cannot create the producer: " + errstr);
  }
  // Fences the previous attempt's producer and aborts its open transaction. A live job
  // waits for the cluster; a bounded one fails after a while.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    rd_kafka_error_t* error = rd_kafka_init_transactions(rk_, kInitTimeoutMs);
    if (error == nullptr) return Status::OK();
    const bool retriable = rd_kafka_error_is_retriable(error) || !rd_kafka_error_is_fatal(error);
    const std::string text = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    const bool stopping = stop != nullptr && stop->load();
    if (!retriable || stopping || (!live && std::chrono::steady_clock::now() >= until)) {
      return Status::IOError(where_ + ": init_transactions: " + text +
                             " (check that the brokers are reachable and support transactions)");
    }
    std::fprintf(stderr, "segflow: %s: init_transactions: %s (retrying)\n", where_.c_str(),
                 text.c_str());
  }
}

Status KafkaChangelogCommitter::ReportAborted(KafkaCommitJournal* previous) {
  std::string ranges;
  // Kafka (topic, partition) -> [the transaction's first offset, the partition's end now).
  std::map<std::pair<std::string, int32_t>, std::pair<int64_t, int64_t>> written;
  for (const auto& [tp, from] : previous->high_watermarks) {
    int64_t low = 0, high = 0;
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk_, tp.first.c_str(), tp.second, &low, &high, kQueryTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError(where_ + ": end offset of " + tp.first + " partition " +
                             std::to_string(tp.second) + ": " + rd_kafka_err2str(err));
    }
    if (high <= from) continue;
    written[tp] = {from, high};
    ranges += "; topic " + tp.first + " partition " + std::to_string(tp.second) + " offsets " +
              std::to_string(from) + ".." + std::to_string(high - 1);
  }
  if (ranges.empty()) ranges = "; none of its records reached Kafka";
  const std::string what = "the failed attempt's transaction for checkpoint " +
                           std::to_string(previous->checkpoint) + " (" +
                           std::to_string(previous->records) + " staged record(s))";
  if (previous->state == "committing") {
    // It died after asking for the commit: init_transactions has since completed or
    // aborted it; a read_committed consumer tells which.
    auto committed = ReadsCommitted(written);
    if (!committed.ok()) return committed.status();
    if (*committed) {
      previous->changelog = previous->pending_changelog;
      previous->late = previous->pending_late;
      previous->rejected = previous->pending_rejected;
      aborted_report_ =
          what + " had committed (its records are readable committed): not sent again" + ranges;
      std::fprintf(stderr, "segflow: %s: %s\n", where_.c_str(), aborted_report_.c_str());
      return Status::OK();
    }
  }
  aborted_report_ = "aborted " + what +
                    ", fenced by init_transactions; a read_committed consumer skips its records" +
                    ranges;
  std::fprintf(stderr, "segflow: %s: %s\n", where_.c_str(), aborted_report_.c_str());
  return Status::OK();
}

Result<bool> KafkaChangelogCommitter::ReadsCommitted(
    const std::map<std::pair<std::string, int32_t>, std::pair<int64_t, int64_t>>& written) {
  if (written.empty()) return false;
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Status s;
  auto set = [&](const std::string& k, const std::string& v) {
    if (s.ok() &&
        rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      s = Status::InvalidArgument(where_ + ": property " + k + "=" + v + ": " + errstr);
    }
  };
  set("bootstrap.servers", bootstrap_);
  for (const auto& [k, v] : properties_) {
    if (k != "transactional.id" && k.rfind("transaction", 0) != 0 &&
        k.rfind("enable.idempotence", 0) != 0)
      set(k, v);
  }
  set("isolation.level", "read_committed");
  // Assigned partitions, no group membership; librdkafka's consumer needs a group name.
  set("group.id", "segflow." + job_ + ".sink-readback");
  set("enable.auto.commit", "false");
  set("enable.partition.eof", "true");
  set("log_level", "3");
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (consumer == nullptr) return Status::IOError(where_ + ": cannot create a consumer: " + errstr);
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(written.size()));
  for (const auto& [tp, range] : written) {
    rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = range.first;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  bool committed = false;
  size_t at_end = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCommitTimeoutMs);
  while (err == RD_KAFKA_RESP_ERR_NO_ERROR && !committed && at_end < written.size()) {
    if (std::chrono::steady_clock::now() >= until) {
      err = RD_KAFKA_RESP_ERR__TIMED_OUT;
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++at_end;
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      err = m->err;
    } else {
      committed = true;  // a record of the transaction reads committed
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_destroy(consumer);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::IOError(
        where_ + ": reading back the failed attempt's transaction: " + rd_kafka_err2str(err));
  }
  return committed;
}

std::vector<uint64_t> KafkaChangelogCommitter::StagedEnds(const std::string& topic) const {
  std::vector<uint64_t> ends(partitions_, 0);
  for (uint32_t p = 0; p < partitions_; ++p) {
    auto end = log::EndOffset(log_dir_, topic, p);
    if (end.ok()) ends[p] = *end;  // no such topic (no rejects staged): nothing to send
  }
  return ends;
}

Result<int32_t> KafkaChangelogCommitter::KafkaPartitions(const std::string& topic) {
  auto cached = kafka_partitions_.find(topic);
  if (cached != kafka_partitions_.end()) return cached->second;
  // A topic the cluster does not have yet is created by the metadata request where the
  // cluster creates topics on first use: asked again for a while before giving up.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCommitTimeoutMs);
  std::string why;
  for (;;) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    if (rkt == nullptr) {
      return Status::IOError(where_ + ": topic " + topic + ": " +
                             rd_kafka_err2str(rd_kafka_last_error()));
    }
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, rkt, &md, kQueryTimeoutMs);
    rd_kafka_topic_destroy(rkt);
    int32_t n = 0;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      why = rd_kafka_err2str(err);
    } else {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
      } else if (md->topic_cnt == 1) {
        why = rd_kafka_err2str(md->topics[0].err);
      }
      rd_kafka_metadata_destroy(md);
    }
    if (n > 0) {
      kafka_partitions_[topic] = n;
      return n;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return Status::IOError(where_ + ": topic " + topic + " is not on the cluster: " + why +
                             " (Segflow does not create topics: create it, or let the cluster "
                             "create topics on first use)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Status KafkaChangelogCommitter::TxnError(const std::string& what, rd_kafka_error_t* error) {
  const std::string text = rd_kafka_error_string(error);
  const bool abort = rd_kafka_error_txn_requires_abort(error);
  rd_kafka_error_destroy(error);
  if (abort && in_transaction_) {
    if (rd_kafka_error_t* e = rd_kafka_abort_transaction(rk_, kCommitTimeoutMs))
      rd_kafka_error_destroy(e);
    in_transaction_ = false;
  }
  return Status::IOError(where_ + ": " + what + ": " + text);
}

Status KafkaChangelogCommitter::Produce(const std::string& topic, uint32_t staged_partition,
                                        const std::string& key, const std::string& value,
                                        const std::string& id) {
  auto n = KafkaPartitions(topic);
  if (!n.ok()) return n.status();
  const int32_t partition = *n > 0
                                ? static_cast<int32_t>(staged_partition % static_cast<uint32_t>(*n))
                                : RD_KAFKA_PARTITION_UA;
  for (;;) {
    rd_kafka_resp_err_t err;
    if (id.empty()) {
      err = rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    } else {
      err = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_HEADER("segflow-id", id.data(), static_cast<ssize_t>(id.size())),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::OK();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return Status::IOError(where_ + ": produce to " + topic + ": " + rd_kafka_err2str(err));
    }
    rd_kafka_poll(rk_, 50);  // the local queue is full: let deliveries drain it
  }
}

Status KafkaChangelogCommitter::Send(const std::vector<uint64_t>& to, uint64_t checkpoint,
                                     const std::string& kind) {
  struct Range {
    const std::string* topic;
    std::vector<uint64_t> from, to;
  };
  std::vector<uint64_t> from = journal_.changelog;
  from.resize(partitions_, 0);
  std::vector<uint64_t> changelog_to = to;
  changelog_to.resize(partitions_, 0);
  for (uint32_t p = 0; p < partitions_; ++p) changelog_to[p] = std::max(changelog_to[p], from[p]);
  std::vector<Range> ranges;
  ranges.push_back({&topic_, from, changelog_to});
  for (const std::string* t : {&late_topic_, &rejected_topic_}) {
    std::vector<uint64_t> f = t == &late_topic_ ? journal_.late : journal_.rejected;
    f.resize(partitions_, 0);
    std::vector<uint64_t> e = StagedEnds(t == &late_topic_ ? late_topic_ : rejected_topic_);
    for (uint32_t p = 0; p < partitions_; ++p) e[p] = std::max(e[p], f[p]);
    ranges.push_back({t, std::move(f), std::move(e)});
  }
  KafkaCommitJournal next = journal_;
  next.checkpoint = std::max(journal_.checkpoint, checkpoint);
  next.changelog = ranges[0].to;
  next.late = ranges[1].to;
  next.rejected = ranges[2].to;
  uint64_t records = 0;
  for (const auto& r : ranges) {
    for (uint32_t p = 0; p < partitions_; ++p) records += r.to[p] - r.from[p];
  }
  if (records == 0) {
    if (next.checkpoint == journal_.checkpoint) return Status::OK();
    SEGFLOW_RETURN_IF_ERROR(next.Write(journal_path_));
    journal_ = std::move(next);
    return Status::OK();
  }

  // The journal says a transaction is open, and where each Kafka partition ended before it.
  KafkaCommitJournal open = journal_;
  open.state = "open";
  open.pending_changelog = next.changelog;
  open.pending_late = next.late;
  open.pending_rejected = next.rejected;
  open.checkpoint = next.checkpoint;
  open.records = records;
  for (const auto& r : ranges) {
    auto n = KafkaPartitions(*r.topic);
    if (!n.ok()) return n.status();
    for (uint32_t p = 0; p<partitions_&& * n> 0; ++p) {
      if (r.to[p] == r.from[p]) continue;
      const int32_t kp = static_cast<int32_t>(p % static_cast<uint32_t>(*n));
      if (open.high_watermarks.count({*r.topic, kp})) continue;
      int64_t low = 0, high = 0;
      const rd_kafka_resp_err_t err =
          rd_kafka_query_watermark_offsets(rk_, r.topic->c_str(), kp, &low, &high, kQueryTimeoutMs);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::IOError(where_ + ": end offset of " + *r.topic + " partition " +
                               std::to_string(kp) + ": " + rd_kafka_err2str(err));
      }
      open.high_watermarks[{*r.topic, kp}] = high;
    }
  }
  SEGFLOW_RETURN_IF_ERROR(open.Write(journal_path_));

  if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk_))
    return TxnError("begin_transaction", e);
  in_transaction_ = true;
  Callbacks* cb = CallbacksOf(rk_);
  const uint64_t failures_before = cb->failures;
  std::vector<log::LogRecord> batch;
  std::string value;
  for (const auto& r : ranges) {
    if (std::equal(r.from.begin(), r.from.end(), r.to.begin())) continue;
    const std::string& staged = r.topic == &topic_ ? topic_ : *r.topic;
    auto meta = log::ReadTopicMeta(log_dir_, staged);
    if (!meta.ok()) return meta.status().Annotate(where_ + ": staged topic " + staged);
    for (uint32_t p = 0; p < partitions_; ++p) {
      if (r.from[p] >= r.to[p]) continue;
      auto reader = log::PartitionReader::Open(log_dir_, staged, p, r.from[p]);
      if (!reader.ok()) return reader.status();
      while ((*reader)->position() < r.to[p]) {
        batch.clear();
        const size_t want =
            static_cast<size_t>(std::min<uint64_t>(4096, r.to[p] - (*reader)->position()));
        auto n = (*reader)->Poll(want, &batch);
        if (!n.ok()) return n.status();
        if (*n == 0) {
          return Status::Corruption(where_ + ": staged topic " + staged + " partition " +
                                    std::to_string(p) + " ends before offset " +
                                    std::to_string(r.to[p]));
        }
        for (const auto& rec : batch) {
          value.clear();
          AppendRecordJsonLine(*meta, rec, &value);
          if (!value.empty() && value.back() == '\n') value.pop_back();
          SEGFLOW_RETURN_IF_ERROR(
              Produce(*r.topic, p, rec.event.user, value,
                      r.topic == &topic_ ? SegflowId(rec.event) : std::string()));
        }
        rd_kafka_poll(rk_, 0);
      }
    }
  }
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk_, kCommitTimeoutMs);
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR || cb->failures != failures_before) {
    const std::string why =
        flushed != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(flushed) : cb->first_failure;
    if (rd_kafka_error_t* e = rd_kafka_abort_transaction(rk_, kCommitTimeoutMs))
      rd_kafka_error_destroy(e);
    in_transaction_ = false;
    return Status::IOError(where_ + ": delivering checkpoint " + std::to_string(checkpoint) +
                           "'s records failed: " + why + " (the transaction was aborted)");
  }
  const bool has_changes =
      !std::equal(ranges[0].from.begin(), ranges[0].from.end(), ranges[0].to.begin());
  if (InjectedExit("SEGFLOW_FAULT_KAFKA_EXIT_ONCE", kind, has_changes)) {
    std::fprintf(stderr, "segflow: %s: injected exit before committing checkpoint %llu\n",
                 where_.c_str(), static_cast<unsigned long long>(checkpoint));
    std::fflush(stderr);
    ::_exit(137);
  }
  KafkaCommitJournal committing = open;
  committing.state = "committing";
  SEGFLOW_RETURN_IF_ERROR(committing.Write(journal_path_));
  if (rd_kafka_error_t* e = rd_kafka_commit_transaction(rk_, kCommitTimeoutMs)) {
    return TxnError("commit_transaction of checkpoint " + std::to_string(checkpoint), e);
  }
  in_transaction_ = false;
  if (InjectedExit("SEGFLOW_FAULT_KAFKA_EXIT_AFTER_COMMIT_ONCE", kind, has_changes)) {
    std::fprintf(stderr, "segflow: %s: injected exit after committing checkpoint %llu\n",
                 where_.c_str(), static_cast<unsigned long long>(checkpoint));
    std::fflush(stderr);
    ::_exit(137);
  }
  SEGFLOW_RETURN_IF_ERROR(next.Write(journal_path_));
  journal_ = std::move(next);
  sent_records_ += records;
  ++transactions_;
  return Status::OK();
}

Status KafkaChangelogCommitter::Restore(const CommitProgress& restored, bool fresh) {
  if (fresh || !has_journal_) {
    // A run from the log's start (the staged topics were reset), or a job whose Kafka
    // changelog starts at this checkpoint: Kafka gets what is staged from here on.
    journal_ = KafkaCommitJournal();
    journal_.checkpoint = restored.checkpoint;
    journal_.changelog = restored.offsets;
    journal_.late.assign(partitions_, 0);
    journal_.rejected.assign(partitions_, 0);
    journal_.definition = definition_;
    has_journal_ = true;
    return journal_.Write(journal_path_);
  }
  bool older = false;  // a checkpoint or savepoint from before the last commit
  for (uint32_t p = 0; p < partitions_ && p < journal_.changelog.size(); ++p) {
    older |= (p < restored.offsets.size() ? restored.offsets[p] : 0) < journal_.changelog[p];
  }
  if (older && !journal_.definition.empty() && journal_.definition != definition_) {
    // Another definition (edited segments, another parallelism) staged other records at
    // those offsets: everything from the restored point on goes to Kafka. Late records and
    // rejects depend only on the input, so they stay deduplicated by position.
    const std::string report =
        "restored checkpoint " + std::to_string(restored.checkpoint) +
        " is older than the last committed transaction (checkpoint " +
        std::to_string(journal_.checkpoint) +
        ") and the job's segments or parallelism changed since: its changes from there on "
        "are all written, so a consumer sees the earlier job's changes after that point "
        "followed by this job's";
    std::fprintf(stderr, "segflow: %s: %s\n", where_.c_str(), report.c_str());
    journal_.changelog = restored.offsets;
    journal_.changelog.resize(partitions_, 0);
    journal_.checkpoint = restored.checkpoint;
  }
  journal_.definition = definition_;
  // What the restored checkpoint holds beyond the last committed transaction (the failed
  // attempt's aborted or unfinished one) is sent again, in one transaction.
  return Send(restored.offsets, restored.checkpoint, "restore");
}

Status KafkaChangelogCommitter::Commit(std::vector<AudienceStore::Change>,
                                       const CommitProgress& progress) {
  return Send(progress.offsets, progress.checkpoint, progress.kind);
}

Status KafkaChangelogCommitter::Poll() {
  rd_kafka_poll(rk_, 0);
  return Status::OK();
}

Status KafkaChangelogCommitter::Drain(std::chrono::milliseconds) {
  return Status::OK();  // every Commit is synchronous: nothing is queued
}

std::string KafkaChangelogCommitter::Summary() const {
  std::string s = where_ + ": " + std::to_string(sent_records_) + " record(s) in " +
                  std::to_string(transactions_) + " transaction(s)";
  if (!aborted_report_.empty()) s += "; " + aborted_report_;
  return s;
}

}  // namespace segflow
