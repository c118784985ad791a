// Kafka as a source connector (spec integrations §10.1), over librdkafka: a split is a
// partition of a source topic, read by the simple consumer into a queue of its own, so
// each partition is polled in offset order like a log partition. Offsets live in
// Segflow's checkpoints; no consumer group is joined (with source.kafka.group, completed
// checkpoints' offsets are committed there for monitoring tools). Records are read with
// isolation.level=read_committed unless the job's properties say otherwise.
#pragma once

#include <memory>

#include "connectors/source_connector.h"

namespace segflow {

// Connects at once: a bootstrap no broker answers on is an error naming it.
Result<std::unique_ptr<SourceConnector>> OpenKafkaSource(const SourceConfig& config);

}  // namespace segflow
