#include "connectors/log_source.h"

namespace segflow {
namespace {

class LogSplitReader : public SplitReader {
 public:
  explicit LogSplitReader(std::unique_ptr<log::PartitionReader> reader)
      : reader_(std::move(reader)) {}
  Result<size_t> Poll(size_t max_records, std::vector<log::LogRecord>* out,
                      std::vector<RejectedRecord>*) override {
    return reader_->Poll(max_records, out);
  }
  uint64_t position() const override { return reader_->position(); }
  void Project(std::shared_ptr<const log::PropsProjection> projection, int64_t max_prev,
               int64_t out_of_orderness) override {
    reader_->Project(std::move(projection), max_prev, out_of_orderness);
  }
  void Recycle(std::vector<log::LogRecord>* used) override { reader_->Recycle(used); }

 private:
  std::unique_ptr<log::PartitionReader> reader_;
};

class LogSource : public SourceConnector {
 public:
  explicit LogSource(SourceConfig config) : config_(std::move(config)) {}

  Result<uint32_t> Partitions(uint32_t topic) override {
    auto meta = log::ReadTopicMeta(config_.log_dir, config_.topics.at(topic));
    if (!meta.ok()) {
      return Status::NotFound("source topic \"" + config_.topics[topic] + "\" in log " +
                              config_.log_dir + ": " + meta.status().message() +
                              " (produce events first: segflow produce)");
    }
    return meta->partitions;
  }
  Result<uint64_t> EndOffset(uint32_t topic, uint32_t partition) override {
    return log::EndOffset(config_.log_dir, config_.topics.at(topic), partition);
  }
  Result<uint64_t> OffsetForTime(uint32_t topic, uint32_t partition, int64_t ms) override {
    // The log keeps no time index: scan to the first record at or after `ms`.
    auto reader =
        log::PartitionReader::Open(config_.log_dir, config_.topics.at(topic), partition, 0);
    if (!reader.ok()) return reader.status();
    std::vector<log::LogRecord> records;
    for (;;) {
      records.clear();
      auto n = (*reader)->Poll(4096, &records);
      if (!n.ok()) return n.status();
      if (*n == 0) return (*reader)->position();
      for (const auto& r : records) {
        if (r.event.ts >= ms) return r.offset;
      }
    }
  }
  Result<std::unique_ptr<SplitReader>> OpenReader(uint32_t topic, uint32_t partition,
                                                  uint64_t start) override {
    auto reader =
        log::PartitionReader::Open(config_.log_dir, config_.topics.at(topic), partition, start);
    if (!reader.ok()) return reader.status();
    return std::unique_ptr<SplitReader>(new LogSplitReader(std::move(reader).value()));
  }
  bool reads_are_immediate() const override { return true; }
  std::string where() const override { return "log " + config_.log_dir; }

 private:
  SourceConfig config_;
};

}  // namespace

std::unique_ptr<SourceConnector> NewLogSource(const SourceConfig& config) {
  return std::make_unique<LogSource>(config);
}

}  // namespace segflow
