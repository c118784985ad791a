// Fuzzes the job-file parser and validator (jobs/job_parser, yaml_reader, condition_parser)
// and what reads a valid job's YAML again (segment versions, savepoint compatibility).
#include <cstddef>
#include <cstdint>
#include <string>

#include "jobs/job_parser.h"
#include "jobs/segment_version.h"
#include "jobs/state_compatibility.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  segflow::JobParseResult parsed = segflow::ParseJobText(text, "/segflow-fuzz/job.yaml");
  (void)parsed.ErrorText();
  if (parsed.ok()) {
    (void)segflow::SegmentVersions(text);
    (void)segflow::CompareJobState(text, text).Describe();
  }
  return 0;
}
