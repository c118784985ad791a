// segflow run JOB.yaml [--bounded [--until TIME]]: the embedded default (spec §8).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/runtime/local_job_runner.h"
#include "operators/sink/audience_store.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void HandleStopSignal(int) { g_stop.store(true); }

std::string FormatTime(int64_t ms) { return FormatRfc3339Millis(ms) + " (" + std::to_string(ms) + ")"; }

}  // namespace

int RunCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow run JOB.yaml [--bounded [--until TIME]]\n\n"
      "Runs a job on the embedded default: its log, state and audience store on local disk,\n"
      "`parallelism` keyed tasks as threads of this process. Each run starts fresh from the\n"
      "beginning of the log and replaces the job's changelog and audience. Without --bounded\n"
      "it keeps evaluating new records until SIGINT/SIGTERM. TIME: epoch ms or RFC 3339.\n\noptions");
  opts.add_options()("help,h", "show this help")("bounded", "replay the log up to its end at start, then exit")(
      "until", po::value<std::string>(), "bounded: evaluate instants up to TIME (default: the largest ts read)")(
      "workers", po::value<int>(), "number of worker processes (the multi-process runtime is not built yet)")(
      "state-dir", po::value<std::string>(), "working state folder (default: <dir of log>/state/<job>)");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("run", argc, argv, opts, &vm)) return *done;
  if (!vm.count("job")) {
    std::cerr << "segflow run: missing JOB.yaml\n" << opts << "\n";
    return 2;
  }
  if (vm.count("workers")) {
    std::cerr << "segflow run: --workers: the multi-process runtime (coordinator + workers) is not built yet;"
                 " run without --workers to execute in this process with the job's parallelism\n";
    return 2;
  }
  RunOptions options;
  options.bounded = vm.count("bounded") > 0;
  if (vm.count("until")) {
    if (!options.bounded) {
      std::cerr << "segflow run: --until needs --bounded\n";
      return 2;
    }
    auto t = ParseTimeArg(vm["until"].as<std::string>());
    if (!t.ok()) {
      std::cerr << "segflow run: --until: " << t.status().message() << "\n";
      return 2;
    }
    options.has_until = true;
    options.until = *t;
  }
  if (vm.count("state-dir")) options.state_dir = vm["state-dir"].as<std::string>();

  const std::string path = vm["job"].as<std::string>();
  JobParseResult parsed = ParseJobFile(path);
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText();
    std::cerr << "segflow run: " << parsed.errors.size() << " error(s) in " << path << "; nothing was run\n";
    return 1;
  }
  const JobSpec& job = parsed.job;

  std::signal(SIGINT, HandleStopSignal);
  std::signal(SIGTERM, HandleStopSignal);
  if (!options.bounded) {
    std::cerr << "job " << job.name << ": running live (Ctrl-C or SIGTERM stops it)\n";
  }
  RunReport report;
  Status s = RunJobLocally(job, options, &g_stop, &report);
  if (!s.ok()) {
    std::cerr << "segflow run: job " << job.name << " failed: " << s.ToString() << "\n";
    return 1;
  }
  const double rate = report.seconds > 0 ? report.records_in / report.seconds : 0;
  std::printf("job %s: %s in %.2f s: %llu records (%.0f records/s), %llu late (topic %s.late)\n",
              job.name.c_str(), report.finished ? "finished" : "stopped", report.seconds,
              static_cast<unsigned long long>(report.records_in), rate,
              static_cast<unsigned long long>(report.late_records), job.name.c_str());
  if (report.has_evaluated) {
    std::printf("evaluated through %s\n", FormatTime(report.evaluated_through).c_str());
  } else {
    std::printf("no instant evaluated yet\n");
  }
  auto store = AudienceStore::OpenForRead(job.output.audience_dir);
  if (!store.ok()) {
    std::cerr << "segflow run: " << store.status().ToString() << "\n";
    return 1;
  }
  for (const auto& seg : job.segments) {
    auto n = (*store)->CountMembers(seg.id);
    if (!n.ok()) {
      std::cerr << "segflow run: " << n.status().ToString() << "\n";
      return 1;
    }
    std::printf("  segment %-24s %8llu members\n", seg.id.c_str(), static_cast<unsigned long long>(*n));
  }
  std::printf("changelog: %llu entered, %llu exited (topic %s)\n", static_cast<unsigned long long>(report.entered),
              static_cast<unsigned long long>(report.exited), job.output.changelog.c_str());
  return 0;
}

}  // namespace segflow::cli
