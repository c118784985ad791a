#include "connectors/source_connector.h"

#include "connectors/kafka_source.h"
#include "connectors/log_source.h"

namespace segflow {

Result<std::unique_ptr<SourceConnector>> OpenSourceConnector(const SourceConfig& config) {
  if (config.kafka.enabled()) return OpenKafkaSource(config);
  return NewLogSource(config);
}

}  // namespace segflow
