// Fuzzes the keyed state's per-user decoding (SegmentProgram::Deserialize, read back from
// RocksDB snapshots when a job restores a checkpoint or savepoint): the first byte picks
// one of the example jobs' programs; a state that decodes is then driven as the keyed
// task drives it (next instant, processing it, serializing it again).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job_parser.h"
#include "operators/segment/program.h"

namespace {

std::vector<std::shared_ptr<const segflow::SegmentProgram>>* programs;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  programs = new std::vector<std::shared_ptr<const segflow::SegmentProgram>>();
  for (const char* name : {"cart", "fintech", "media"}) {
    const std::string path = std::string(SEGFLOW_SOURCE_DIR) + "/jobs/" + name + ".yaml";
    segflow::JobParseResult parsed = segflow::ParseJobFile(path);
    if (!parsed.ok()) {
      std::fprintf(stderr, "%s", parsed.ErrorText().c_str());
      std::abort();
    }
    auto program = segflow::SegmentProgram::Compile(parsed.job);
    if (!program.ok()) std::abort();
    programs->push_back(*program);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const segflow::SegmentProgram& program = *(*programs)[data[0] % programs->size()];
  std::unique_ptr<segflow::UserState> state;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!program.Deserialize(bytes, &state).ok()) return 0;
  if (auto next = program.NextInstant(*state)) {
    std::vector<segflow::MembershipChange> changes;
    program.ProcessInstant(state.get(), *next, &changes);
  }
  std::string again;
  program.Serialize(*state, &again);
  return 0;
}
