// segflow health JOB.yaml [--hours N] [--json]: per segment population, entries and exits
// per hour, change-to-audience latency percentiles; late records; reconciliation counts.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/time_format.h"
#include "engine/value/value.h"
#include "jobs/job_parser.h"
#include "operators/sink/health_json.h"
#include "operators/sink/health_query.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

// "<= N ms", in the largest unit that keeps it readable (a replay's lag is months).
std::string Ms(const std::optional<int64_t>& v) {
  if (!v) return "-";
  char buf[64];
  const double ms = static_cast<double>(*v);
  if (ms >= 86400000.0) {
    std::snprintf(buf, sizeof buf, "<= %.1f d", ms / 86400000.0);
  } else if (ms >= 3600000.0) {
    std::snprintf(buf, sizeof buf, "<= %.1f h", ms / 3600000.0);
  } else if (ms >= 10000.0) {
    std::snprintf(buf, sizeof buf, "<= %.1f s", ms / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "<= %lld ms", static_cast<long long>(*v));
  }
  return buf;
}
std::string StatsText(const AudienceStore::ApplyStats& s) {
  return "applied " + std::to_string(s.applied) + ", duplicates " + std::to_string(s.duplicates) +
         ", stale " + std::to_string(s.stale) + ", blocked " + std::to_string(s.blocked);
}

std::string Text(const HealthReport& r) {
  std::string out = "job " + r.job + ", evaluated through " +
                    (r.evaluated_through ? FormatRfc3339Millis(*r.evaluated_through) + " (" +
                                               std::to_string(*r.evaluated_through) + ")"
                                         : std::string("nothing yet")) +
                    "\n";
  for (const auto& s : r.segments) {
    out += "segment " + s.segment + ": population " + std::to_string(s.population) + ", entries " +
           std::to_string(s.entries) + ", exits " + std::to_string(s.exits) + "\n";
    out += "  change-to-audience latency (" + std::to_string(s.latency_samples) +
           " changes): p50 " + Ms(s.latency_p50_ms) + ", p90 " + Ms(s.latency_p90_ms) + ", p99 " +
           Ms(s.latency_p99_ms) + "\n";
    out += "  per hour (last " + std::to_string(r.hours) + " of event time; entries/exits):";
    for (const auto& [hour, n] : s.hourly) {
      if (n.first == 0 && n.second == 0) continue;
      out += "\n    " + FormatRfc3339Millis(hour) + "  +" + std::to_string(n.first) + " -" +
             std::to_string(n.second);
    }
    out += "\n";
  }
  out += "late records: " + std::to_string(r.late);
  for (const auto& [hour, n] : r.late_hourly) {
    if (n > 0) out += "\n  " + FormatRfc3339Millis(hour) + "  " + std::to_string(n);
  }
  out += "\naudience store writes: " + StatsText(r.store_stats) + "\n";
  if (r.has_shared) out += "shared audience store writes: " + StatsText(r.shared_stats) + "\n";
  return out;
}

}  // namespace

int HealthCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow health JOB.yaml [--hours N] [--json]\n\n"
      "Per segment: population, entries and exits (in total and per event-time hour over the\n"
      "last N hours through the evaluated time), change-to-audience latency percentiles (wall\n"
      "clock of the commit that made a change visible minus its event time: for a live feed\n"
      "this is event-to-membership latency, for a replay its lag); late records per hour; how\n"
      "many audience-store writes applied, were duplicates, stale or blocked. Users erased by\n"
      "segflow forget count nowhere (up to their erasure time).\n\noptions");
  opts.add_options()("help,h", "show this help")("hours", po::value<int>()->default_value(24),
                                                 "hourly window (1..10000)")(
      "json", "print one JSON object");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("health", argc, argv, opts, &vm)) return *done;
  if (!vm.count("job")) {
    std::cerr << "segflow health: needs JOB.yaml\n" << opts << "\n";
    return 2;
  }
  JobParseResult parsed = ParseJobFile(vm["job"].as<std::string>());
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText();
    return 1;
  }
  auto report = ComputeHealth(parsed.job, vm["hours"].as<int>());
  if (!report.ok()) {
    std::cerr << "segflow health: " << report.status().message() << "\n";
    return 1;
  }
  const std::string out = vm.count("json") ? HealthReportJson(*report) : Text(*report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace segflow::cli
