#include "cli/job_summary.h"

#include <cstdio>
#include <iostream>

#include "engine/value/time_format.h"
#include "operators/sink/audience_store.h"

namespace segflow::cli {

std::string FormatTimeWithMs(int64_t ms) { return FormatRfc3339Millis(ms) + " (" + std::to_string(ms) + ")"; }

int PrintJobSummary(const JobSpec& job, const RunReport& report) {
  const double rate = report.seconds > 0 ? report.records_in / report.seconds : 0;
  std::printf("job %s: %s in %.2f s: %llu records (%.0f records/s), %llu late (topic %s.late)\n", job.name.c_str(),
              report.finished ? "finished" : "stopped", report.seconds,
              static_cast<unsigned long long>(report.records_in), rate,
              static_cast<unsigned long long>(report.late_records), job.name.c_str());
  if (job.source.kafka.enabled()) {
    std::printf("%llu rejected (undecodable values, topic %s.rejected)\n",
                static_cast<unsigned long long>(report.rejected_records), job.name.c_str());
  }
  if (report.has_evaluated) {
    std::printf("evaluated through %s\n", FormatTimeWithMs(report.evaluated_through).c_str());
  } else {
    std::printf("no instant evaluated yet\n");
  }
  auto store = AudienceStore::OpenForRead(job.output.audience_dir);
  if (!store.ok()) {
    std::cerr << "segflow: " << store.status().ToString() << "\n";
    return 1;
  }
  for (const auto& seg : job.segments) {
    auto n = (*store)->CountMembers(seg.id);
    if (!n.ok()) {
      std::cerr << "segflow: " << n.status().ToString() << "\n";
      return 1;
    }
    std::printf("  segment %-24s %8llu members\n", seg.id.c_str(), static_cast<unsigned long long>(*n));
  }
  std::printf("changelog: %llu entered, %llu exited (topic %s)\n", static_cast<unsigned long long>(report.entered),
              static_cast<unsigned long long>(report.exited), job.output.changelog.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace segflow::cli
