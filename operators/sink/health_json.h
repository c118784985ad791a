// The JSON of a health report: what `segflow health --json` prints and what the HTTP API's
// GET /v1/jobs/{id}/health answers (integrations §12), one object and a newline.
#pragma once

#include <string>

#include "operators/sink/health_query.h"

namespace segflow {

std::string HealthReportJson(const HealthReport& r);

}  // namespace segflow
