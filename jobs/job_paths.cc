#include "jobs/job_paths.h"

#include <filesystem>

namespace segflow {

std::vector<std::pair<std::string, std::string>> JobPaths(const JobSpec& job,
                                                          const std::string& state_dir) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("log", job.log_dir);
  // The erasure ledger (operators/sink/erasure_ledger.h) lives beside the log.
  out.emplace_back("governance folder",
                   (std::filesystem::path(job.log_dir).parent_path() / "governance").string());
  out.emplace_back("audience", job.output.audience_dir);
  // Frozen versions (operators/sink/audience_versions.h) sit beside the audience store.
  out.emplace_back("audience versions", job.output.audience_dir + ".versions");
  if (!job.output.shared_audience_dir.empty())
    out.emplace_back("shared_audience", job.output.shared_audience_dir);
  if (job.checkpoint.enabled) out.emplace_back("checkpoint dir", job.checkpoint.dir);
  if (!state_dir.empty()) {
    out.emplace_back("state dir", state_dir);
    out.emplace_back("state lock", state_dir + ".lock");
  }
  return out;
}

Status CheckJobPaths(const JobSpec& job, const std::string& state_dir, const DataRoots& roots,
                     const std::vector<std::pair<std::string, std::string>>& extra) {
  for (const auto& [what, path] : JobPaths(job, state_dir)) {
    SEGFLOW_RETURN_IF_ERROR(roots.Check(path, "job " + job.name + ": " + what));
  }
  for (const auto& [what, path] : extra) {
    if (!path.empty()) SEGFLOW_RETURN_IF_ERROR(roots.Check(path, "job " + job.name + ": " + what));
  }
  return Status::OK();
}

}  // namespace segflow
