#include "connectors/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include "engine/value/json_event.h"

namespace segflow {
namespace {

constexpr int kMetadataTimeoutMs = 5000;
constexpr int kQueryTimeoutMs = 10000;

// The librdkafka handle of one connector, shared by its readers (they may outlive it).
struct KafkaClient {
  rd_kafka_t* rk = nullptr;
  std::vector<rd_kafka_topic_t*> topics;
  std::string bootstrap;
  std::mutex mu;
  std::string fatal;  // an error no retry cures (authentication, a fatal client error)
  std::chrono::steady_clock::time_point last_warning{};

  ~KafkaClient() {
    for (auto* t : topics) {
      if (t != nullptr) rd_kafka_topic_destroy(t);
    }
    if (rk != nullptr) rd_kafka_destroy(rk);
  }

  // The handle of source topic `i`, made on first use (a handle asks the cluster for its
  // topic, and a cluster that creates topics on first use would make a mistyped one exist).
  Result<rd_kafka_topic_t*> Topic(uint32_t i, const std::string& name) {
    if (topics[i] == nullptr) {
      topics[i] = rd_kafka_topic_new(rk, name.c_str(), nullptr);
      if (topics[i] == nullptr) return Status::IOError(rd_kafka_err2str(rd_kafka_last_error()));
    }
    return topics[i];
  }

  // Serves librdkafka's callbacks; an error no retry cures fails the read.
  Status Serve() {
    rd_kafka_poll(rk, 0);
    std::lock_guard<std::mutex> lock(mu);
    if (!fatal.empty()) return Status::IOError(fatal);
    return Status::OK();
  }
};

void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* client = static_cast<KafkaClient*>(opaque);
  std::lock_guard<std::mutex> lock(client->mu);
  char fatal_reason[512];
  if (err == RD_KAFKA_RESP_ERR__FATAL &&
      rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    client->fatal =
        "Kafka source at " + client->bootstrap + ": fatal client error: " + fatal_reason;
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
      err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) {
    client->fatal = "Kafka source at " + client->bootstrap + ": authentication failed: " + reason +
                    " (check security.protocol and the sasl.* / ssl.* properties under "
                    "source.kafka.properties)";
    return;
  }
  // Brokers down, connections refused: librdkafka retries with backoff; say so, at most
  // every 5 s, and keep waiting (a live job must not fail because a broker restarts).
  const auto now = std::chrono::steady_clock::now();
  if (now - client->last_warning >= std::chrono::seconds(5)) {
    client->last_warning = now;
    std::fprintf(stderr, "segflow: Kafka source at %s: %s (retrying)\n", client->bootstrap.c_str(),
                 reason);
  }
}

// The result of a CommitPositions: a failure is only warned about (offsets live in
// Segflow's checkpoints; the group is for monitoring tools).
void OnOffsetCommit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                    void* opaque) {
  auto* client = static_cast<KafkaClient*>(opaque);
  for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && offsets != nullptr && i < offsets->cnt;
       ++i) {
    err = offsets->elems[i].err;
  }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  std::fprintf(stderr, "segflow: Kafka source at %s: committing offsets to the group failed: %s\n",
               client->bootstrap.c_str(), rd_kafka_err2str(err));
}

class KafkaSplitReader : public SplitReader {
 public:
  KafkaSplitReader(std::shared_ptr<KafkaClient> client, const SourceConfig& config, uint32_t topic,
                   uint32_t partition, uint64_t start)
      : client_(std::move(client)),
        topic_name_(config.topics.at(topic)),
        topic_(topic),
        partition_(partition),
        position_(start),
        decoder_(config.fields) {}

  ~KafkaSplitReader() override {
    if (started_) rd_kafka_consume_stop(client_->topics[topic_], static_cast<int32_t>(partition_));
    if (queue_ != nullptr) rd_kafka_queue_destroy(queue_);
  }

  Status Start() {
    if (auto handle = client_->Topic(topic_, topic_name_); !handle.ok()) {
      return Status::IOError(Where() + ": " + handle.status().message());
    }
    queue_ = rd_kafka_queue_new(client_->rk);
    // Offset 0 is where a run from the beginning starts: the partition's first record,
    // wherever retention has moved it.
    const int64_t start =
        position_ == 0 ? RD_KAFKA_OFFSET_BEGINNING : static_cast<int64_t>(position_);
    if (rd_kafka_consume_start_queue(client_->topics[topic_], static_cast<int32_t>(partition_),
                                     start, queue_) != 0) {
      return Status::IOError(Where() + ": cannot start reading at offset " +
                             std::to_string(position_) + ": " +
                             rd_kafka_err2str(rd_kafka_last_error()));
    }
    started_ = true;
    return Status::OK();
  }

  Result<size_t> Poll(size_t max_records, std::vector<log::LogRecord>* out,
                      std::vector<RejectedRecord>* rejects) override {
    SEGFLOW_RETURN_IF_ERROR(client_->Serve());
    if (max_records == 0) return size_t{0};
    batch_.resize(max_records);
    const ssize_t got = rd_kafka_consume_batch_queue(queue_, 0, batch_.data(), max_records);
    if (got < 0) return Status::IOError(Where() + ": " + rd_kafka_err2str(rd_kafka_last_error()));
    size_t n = 0;
    Status failed;
    for (ssize_t i = 0; i < got; ++i) {
      rd_kafka_message_t* m = batch_[static_cast<size_t>(i)];
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        // At the partition's end (past any transaction markers, which take offsets too).
        if (m->offset >= 0 && static_cast<uint64_t>(m->offset) > position_)
          position_ = static_cast<uint64_t>(m->offset);
      } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
        if (failed.ok()) {
          failed = Status::NotFound(
              Where() + ": offset " + std::to_string(position_) + " is no longer on the cluster (" +
              rd_kafka_message_errstr(m) +
              "); reading on from the first offset it has would lose records (retention "
              "removed them, or the topic was recreated): restore from an earlier "
              "checkpoint or start with --from earliest");
        }
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (failed.ok() && IsPermanent(m->err)) {
          failed = Status::NotFound(Where() + ": " + rd_kafka_message_errstr(m) +
                                    " (does the topic exist with this partition?)");
        }
      } else if (failed.ok()) {
        const auto offset = static_cast<uint64_t>(m->offset);
        std::string_view value(static_cast<const char*>(m->payload),
                               m->payload == nullptr ? 0 : m->len);
        log::LogRecord r;
        r.partition = partition_;
        r.offset = offset;
        Status st = value.empty() ? Status::InvalidArgument("empty value")
                                  : decoder_.Decode(value, &r.event);
        if (st.ok()) {
          out->push_back(std::move(r));
        } else {
          rejects->push_back({topic_, partition_, offset, std::string(value), st.message()});
        }
        position_ = offset + 1;
        ++n;
      }
      rd_kafka_message_destroy(m);
    }
    if (!failed.ok()) return failed;
    return n;
  }

  uint64_t position() const override { return position_; }

 private:
  static bool IsPermanent(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
  }
  std::string Where() const {
    return "Kafka source at " + client_->bootstrap + ", topic \"" + topic_name_ + "\" partition " +
           std::to_string(partition_);
  }

  std::shared_ptr<KafkaClient> client_;
  std::string topic_name_;
  uint32_t topic_;
  uint32_t partition_;
  uint64_t position_;
  JsonEventDecoder decoder_;
  rd_kafka_queue_t* queue_ = nullptr;
  bool started_ = false;
  std::vector<rd_kafka_message_t*> batch_;
};

class KafkaSource : public SourceConnector {
 public:
  KafkaSource(SourceConfig config, std::shared_ptr<KafkaClient> client)
      : config_(std::move(config)), client_(std::move(client)) {}

  Result<uint32_t> Partitions(uint32_t topic) override {
    const std::string& name = config_.topics.at(topic);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(client_->rk, 1, nullptr, &md, kMetadataTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // A refused login shows only as a transport failure here: its own error waits in the
      // client's queue, and says what to fix.
      SEGFLOW_RETURN_IF_ERROR(client_->Serve());
      return Status::IOError(
          "Kafka source: cannot read the cluster's metadata from bootstrap servers " +
          config_.kafka.bootstrap + " (for topic \"" + name + "\"): " + rd_kafka_err2str(err) +
          " (is a broker running there? see source.kafka.bootstrap)");
    }
    Result<uint32_t> out =
        Status::NotFound("Kafka source: topic \"" + name + "\" does not exist on the cluster at " +
                         config_.kafka.bootstrap + " (create it, or produce to it first)");
    for (int i = 0; i < md->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& t = md->topics[i];
      if (name != t.topic) continue;
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        out = Status::IOError("Kafka source: topic \"" + name + "\" on " + config_.kafka.bootstrap +
                              ": " + rd_kafka_err2str(t.err));
      } else {
        out = static_cast<uint32_t>(t.partition_cnt);
      }
    }
    rd_kafka_metadata_destroy(md);
    return out;
  }

  Result<uint64_t> EndOffset(uint32_t topic, uint32_t partition) override {
    int64_t low = 0;
    int64_t high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        client_->rk, config_.topics.at(topic).c_str(), static_cast<int32_t>(partition), &low, &high,
        kQueryTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("Kafka source at " + config_.kafka.bootstrap +
                             ": cannot read the end offset of topic \"" + config_.topics[topic] +
                             "\" partition " + std::to_string(partition) + ": " +
                             rd_kafka_err2str(err));
    }
    return static_cast<uint64_t>(high);
  }

  Result<uint64_t> OffsetForTime(uint32_t topic, uint32_t partition, int64_t ms) override {
    auto offset = BrokerOffsetForTime(topic, partition, ms);
    if (!offset.ok()) return offset.status();
    if (*offset >= 0) return static_cast<uint64_t>(*offset);
    // -1: no record at or after ms, or a broker that cannot look up by time (message format
    // v0; librdkafka's mock answers -1 to every lookup by time). An empty partition needs
    // no look; a broker that finds the first record at or after time 0 can look up by time
    // (so none is at or after ms: the end); otherwise read the partition to find out.
    int64_t low = 0;
    int64_t high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        client_->rk, config_.topics[topic].c_str(), static_cast<int32_t>(partition), &low, &high,
        kQueryTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("Kafka source at " + config_.kafka.bootstrap +
                             ": cannot read the offsets of topic \"" + config_.topics[topic] +
                             "\" partition " + std::to_string(partition) + ": " +
                             rd_kafka_err2str(err));
    }
    if (low >= high) return static_cast<uint64_t>(high);
    if (ms > 0) {
      auto first = BrokerOffsetForTime(topic, partition, 0);
      if (!first.ok()) return first.status();
      if (*first >= 0) return EndOffset(topic, partition);
    }
    return ScanForTime(topic, partition, ms, static_cast<uint64_t>(high));
  }

  Result<std::unique_ptr<SplitReader>> OpenReader(uint32_t topic, uint32_t partition,
                                                  uint64_t start) override {
    auto reader = std::make_unique<KafkaSplitReader>(client_, config_, topic, partition, start);
    SEGFLOW_RETURN_IF_ERROR(reader->Start());
    return std::unique_ptr<SplitReader>(std::move(reader));
  }

  bool reads_are_immediate() const override { return false; }
  std::string where() const override { return "Kafka " + config_.kafka.bootstrap; }

  // Committed asynchronously to source.kafka.group (a simple consumer's offset commit: no
  // group membership); a failure is only warned about, offsets live in checkpoints.
  void CommitPositions(const std::vector<SplitPosition>& positions) override {
    if (config_.kafka.group.empty() || positions.empty()) return;
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(positions.size()));
    for (const auto& p : positions) {
      rd_kafka_topic_partition_list_add(list, config_.topics.at(p.topic).c_str(),
                                        static_cast<int32_t>(p.partition))
          ->offset = static_cast<int64_t>(p.offset);
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(client_->rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "segflow: Kafka source at %s: committing offsets to group %s: %s\n",
                   config_.kafka.bootstrap.c_str(), config_.kafka.group.c_str(),
                   rd_kafka_err2str(err));
    }
  }

 private:
  // The brokers' answer to ListOffsets by time: the first offset whose record timestamp is
  // >= ms, or -1.
  Result<int64_t> BrokerOffsetForTime(uint32_t topic, uint32_t partition, int64_t ms) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, config_.topics.at(topic).c_str(),
                                      static_cast<int32_t>(partition))
        ->offset = ms;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(client_->rk, list, kQueryTimeoutMs);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
    const int64_t offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("Kafka source at " + config_.kafka.bootstrap +
                             ": cannot look up the offset for time " + std::to_string(ms) +
                             " in topic \"" + config_.topics[topic] + "\" partition " +
                             std::to_string(partition) + ": " + rd_kafka_err2str(err));
    }
    return offset < 0 ? int64_t{-1} : offset;
  }

  // ListOffsets by time done by the client: reads the partition from its start
  // (read_committed) to the first record whose Kafka timestamp is >= ms, and answers its
  // offset; none: `high` (the high watermark) once the record before it is read, or the end
  // of what is readable committed. Fails when the cluster sends nothing for
  // kQueryTimeoutMs, or when records carry no timestamp.
  Result<uint64_t> ScanForTime(uint32_t topic, uint32_t partition, int64_t ms, uint64_t high) {
    const std::string where = "Kafka source at " + config_.kafka.bootstrap + ", topic \"" +
                              config_.topics[topic] + "\" partition " + std::to_string(partition);
    auto handle = client_->Topic(topic, config_.topics[topic]);
    if (!handle.ok()) return handle.status().Annotate(where);
    rd_kafka_queue_t* queue = rd_kafka_queue_new(client_->rk);
    const auto p = static_cast<int32_t>(partition);
    if (rd_kafka_consume_start_queue(*handle, p, RD_KAFKA_OFFSET_BEGINNING, queue) != 0) {
      rd_kafka_queue_destroy(queue);
      return Status::IOError(where + ": cannot start reading it to find the offset for time " +
                             std::to_string(ms) + ": " + rd_kafka_err2str(rd_kafka_last_error()));
    }
    std::optional<Result<uint64_t>> answer;
    std::vector<rd_kafka_message_t*> batch(1024);
    auto last_progress = std::chrono::steady_clock::now();
    while (!answer) {
      if (Status st = client_->Serve(); !st.ok()) {
        answer = st;
        break;
      }
      const ssize_t got = rd_kafka_consume_batch_queue(queue, 100, batch.data(), batch.size());
      if (got < 0) {
        answer = Status::IOError(where + ": " + rd_kafka_err2str(rd_kafka_last_error()));
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (got > 0) last_progress = now;
      for (ssize_t i = 0; i < got; ++i) {
        rd_kafka_message_t* m = batch[static_cast<size_t>(i)];
        if (answer) {
          // found: the rest of the batch is only freed
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          answer = static_cast<uint64_t>(std::max<int64_t>(m->offset, 0));  // none at or after ms
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
          const int64_t ts = rd_kafka_message_timestamp(m, &type);
          if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) {
            answer = Status::InvalidArgument(
                where + ": record " + std::to_string(m->offset) +
                " has no Kafka timestamp (message format v0), so --from time: cannot find "
                "where time " +
                std::to_string(ms) + " starts; use --from offsets:P=O,...");
          } else if (ts >= ms) {
            answer = static_cast<uint64_t>(m->offset);
          } else if (static_cast<uint64_t>(m->offset) + 1 >= high) {
            answer = high;  // no wait for the end-of-partition fetch
          }
        } else if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                   m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                   m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                   m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                   m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
          answer = Status::IOError(where + ": " + rd_kafka_message_errstr(m));
        }  // else transient: librdkafka retries
        rd_kafka_message_destroy(m);
      }
      if (!answer && now - last_progress > std::chrono::milliseconds(kQueryTimeoutMs)) {
        answer = Status::IOError(
            where + ": the cluster sent nothing for " + std::to_string(kQueryTimeoutMs / 1000) +
            " s while Segflow read the partition from its start to find the offset for time " +
            std::to_string(ms) +
            " (the brokers answered none for that time); is a broker running there?");
      }
    }
    rd_kafka_consume_stop(*handle, p);
    rd_kafka_queue_destroy(queue);
    return *answer;
  }

  SourceConfig config_;
  std::shared_ptr<KafkaClient> client_;
};

Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument("Kafka source: property " + key + "=\"" + value +
                                   "\": " + errstr);
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<SourceConnector>> OpenKafkaSource(const SourceConfig& config) {
  auto client = std::make_shared<KafkaClient>();
  client->bootstrap = config.kafka.bootstrap;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Status st = Set(conf, "bootstrap.servers", config.kafka.bootstrap);
  if (st.ok()) st = Set(conf, "client.id", "segflow");
  if (st.ok()) st = Set(conf, "isolation.level", "read_committed");
  if (st.ok()) st = Set(conf, "enable.partition.eof", "true");
  // A start offset the partition no longer has (retention removed it) is an error, never a
  // silent jump past records; offset 0 means the partition's beginning (KafkaSplitReader).
  if (st.ok()) st = Set(conf, "auto.offset.reset", "error");
  // `group:` only receives the offsets of completed checkpoints (CommitPositions).
  if (st.ok() && !config.kafka.group.empty()) st = Set(conf, "group.id", config.kafka.group);
  if (st.ok() && !config.kafka.group.empty()) st = Set(conf, "enable.auto.commit", "false");
  if (st.ok() && !config.kafka.group.empty()) st = Set(conf, "enable.auto.offset.store", "false");
  for (const auto& [key, value] : config.kafka.properties) {
    if (st.ok()) st = Set(conf, key, value);
  }
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  rd_kafka_conf_set_error_cb(conf, OnError);
  rd_kafka_conf_set_offset_commit_cb(conf, OnOffsetCommit);
  rd_kafka_conf_set_opaque(conf, client.get());
  char errstr[512];
  client->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (client->rk == nullptr) {  // conf is still ours
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument("Kafka source at " + config.kafka.bootstrap + ": " + errstr);
  }
  // Topic handles are made by the readers: a handle asks the cluster for its topic, and a
  // cluster that creates topics on first use would then make a mistyped one exist.
  client->topics.assign(config.topics.size(), nullptr);
  return std::unique_ptr<SourceConnector>(new KafkaSource(config, std::move(client)));
}

}  // namespace segflow
