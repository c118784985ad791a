// Checks of `segment: ID` references (spec §5 "References"): every reference names a
// defined segment other than its own, and the references form a DAG. Internal to jobs/.
#pragma once

#include <string>
#include <vector>

#include "jobs/condition_parser.h"
#include "jobs/yaml_reader.h"

namespace segflow {

// `ids[i]` is the id of segment i (empty when it had none). Reports unknown ids, self
// references, and each cycle once as "a -> b -> a" at the reference that closes it.
void CheckSegmentReferences(const std::vector<std::string>& ids,
                            const std::vector<SegmentReference>& refs, ErrorSink* errors);

}  // namespace segflow
