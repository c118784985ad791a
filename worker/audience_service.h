// The worker's answers to the coordinator's audience questions (the HTTP API's segments,
// members, user and explain endpoints, integrations §12): read from the job's audience
// store and log where this worker sees them, with the code `segflow audience` and
// `segflow explain` use, so the answers equal theirs.
#pragma once

#include "engine/common/data_roots.h"
#include "engine/schema/cluster.capnp.h"

namespace segflow {

// Job paths resolve against `roots`' base and must lie in `roots` (as for the worker's tasks).
void AnswerAudienceQuery(wire::AudienceQuery::Reader q, const DataRoots& roots,
                         wire::AudienceAnswer::Builder a);

}  // namespace segflow
