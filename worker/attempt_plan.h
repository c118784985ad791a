// AttemptPlan: one attempt of a job as the coordinator deployed it (wire::AttemptSpec,
// decoded): the job's text, the graph's shape, and which worker runs each task.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "engine/net/host_port.h"
#include "engine/schema/cluster.capnp.h"
#include "operators/runtime/job_graph.h"

namespace segflow::worker {

struct AttemptPlan {
  std::string job_id;
  uint32_t attempt = 0;
  std::string job_file;
  std::string job_text;
  bool bounded = false;
  bool has_until = false;
  int64_t until = 0;
  GraphShape shape;
  std::vector<uint32_t> source_worker;  // [s]: worker id
  std::vector<uint32_t> keyed_worker;   // [k]
  uint32_t sink_worker = 0;
  std::map<uint32_t, net::HostPort> workers;  // data addresses
  std::string state_dir;                       // the job's shared state folder (lock beside it)
  std::string checkpoint_dir;                  // empty: no checkpoints
  std::string restore_from;                    // a completed checkpoint folder, or empty
  uint64_t restore_id = 0;
  bool transactional = false;
  bool end_with_savepoint = false;
  bool streaming = false;  // bounded: as a live run evaluates, not in batch
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> start_offsets;  // reprocessing (--from)
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> end_offsets;    // bounded reprocessing (--until offsets:)
  bool restore_is_savepoint = false;  // restore_from is a savepoint this job was submitted from
  std::string merge_from;             // a version upgrade: the backfill's savepoint to merge (restore_migration.h)

  // "<job id>/<attempt>", for messages.
  std::string Name() const { return job_id + " attempt " + std::to_string(attempt); }
  static Result<AttemptPlan> FromWire(wire::AttemptSpec::Reader spec);
};

}  // namespace segflow::worker
