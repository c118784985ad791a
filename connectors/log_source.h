// The embedded log as a source connector: a split is a log partition of a source topic.
#pragma once

#include <memory>

#include "connectors/source_connector.h"

namespace segflow {

std::unique_ptr<SourceConnector> NewLogSource(const SourceConfig& config);

}  // namespace segflow
