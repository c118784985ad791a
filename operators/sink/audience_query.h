// Membership "as of T" (spec §6, §8 `segflow audience --at`), answered from the changelog.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"

namespace segflow {

// Members of `segment` after every instant <= `at`, sorted; `at` empty means as of the
// job's evaluated time. Refuses (OutOfRange) a time the job has not evaluated yet.
Result<std::vector<std::string>> AudienceAt(const JobSpec& job, const std::string& segment,
                                            std::optional<int64_t> at);

}  // namespace segflow
