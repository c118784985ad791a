// segflow bench JOB.yaml [--workers LIST] [--runs R] [--json FILE]: replay throughput of a
// job over its log, on the embedded cluster with each number of workers in LIST (0: every
// task as a thread of this process), R runs each. Prints a progress line per run on
// stderr, then a Markdown table on stdout; --json writes every run and the medians.
// Every run must end with the same changelog counts (entered, exited), or it fails.
// (The first piece of issue #7's `segflow bench`; latency, checkpoints, recovery and
// the baselines are still scripts in bench/.)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cli/cluster_job.h"
#include "cli/commands.h"
#include "cli/embedded_cluster.h"
#include "cli/job_command_line.h"
#include "jobs/execution_graph.h"
#include "jobs/job_parser.h"
#include "operators/runtime/local_job_runner.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

constexpr int kMaxWorkers = 64;

struct BenchRun {
  int workers = 0;
  int run = 0;
  RunReport report;
  double wall_seconds = 0;  // cluster start, submit, replay, shutdown
  double events_per_second() const { return report.seconds > 0 ? report.records_in / report.seconds : 0; }
};

// "0,1,2" or "1..4" (or a mix: "0,2..3"); each 0..kMaxWorkers, in the order given.
bool ParseWorkerList(const std::string& text, std::vector<int>* out) {
  std::stringstream in(text);
  std::string item;
  auto number = [](std::string_view s, int* v) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size() && *v >= 0 && *v <= kMaxWorkers;
  };
  while (std::getline(in, item, ',')) {
    const size_t dots = item.find("..");
    int a = 0, b = 0;
    if (dots == std::string::npos) {
      if (!number(item, &a)) return false;
      out->push_back(a);
      continue;
    }
    if (!number(std::string_view(item).substr(0, dots), &a) ||
        !number(std::string_view(item).substr(dots + 2), &b) || a > b) {
      return false;
    }
    for (int w = a; w <= b; ++w) out->push_back(w);
  }
  return !out->empty();
}

// One bounded replay of the job on `workers` workers (0: in this process).
Status RunOnce(const std::string& path, const JobSpec& job, int workers, BenchRun* run) {
  std::atomic<bool> stop{false};
  RunOptions options;
  options.bounded = true;
  options.state_dir = DefaultStateDir(job);
  const auto began = std::chrono::steady_clock::now();
  if (workers == 0) {
    SEGFLOW_RETURN_IF_ERROR(RunJobLocally(job, options, &stop, &run->report));
  } else {
    const std::string cluster_dir = options.state_dir + ".bench/run-" + std::to_string(::getpid());
    {
      auto cluster = EmbeddedCluster::Start(workers, static_cast<uint32_t>(job.parallelism), cluster_dir);
      if (!cluster.ok()) return cluster.status().Annotate("cannot start the local cluster");
      auto client = ClusterClient::Connect((*cluster)->address());
      if (!client.ok()) return client.status();
      SubmitRequest req;
      req.bounded = true;
      req.state_dir = options.state_dir;
      auto id = SubmitJob(client->get(), path, req);
      if (!id.ok()) return id.status();
      auto outcome = FollowJob(client->get(), *id, &stop, false);
      if (!outcome.ok()) return outcome.status();
      if (outcome->state == wire::JobState::FAILED) return Status::Internal("job failed: " + outcome->reason);
      run->report = outcome->report;
    }
    std::error_code ec;
    std::filesystem::remove_all(options.state_dir + ".bench", ec);
  }
  run->wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return Status::OK();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[(v.size() - 1) / 2];
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string JsonText(const std::string& job, const std::vector<BenchRun>& runs, const std::vector<int>& workers) {
  std::ostringstream j;
  j << "{\"job\":\"" << job << "\",\"measure\":\"bounded replay\",\"runs\":[";
  for (size_t i = 0; i < runs.size(); ++i) {
    const BenchRun& r = runs[i];
    j << (i ? "," : "") << "{\"workers\":" << r.workers << ",\"run\":" << r.run
      << ",\"records\":" << r.report.records_in << ",\"late\":" << r.report.late_records
      << ",\"entered\":" << r.report.entered << ",\"exited\":" << r.report.exited
      << ",\"seconds\":" << Fixed(r.report.seconds, 3) << ",\"wall_seconds\":" << Fixed(r.wall_seconds, 3)
      << ",\"events_per_second\":" << Fixed(r.events_per_second(), 0) << "}";
  }
  j << "],\"summary\":[";
  for (size_t i = 0; i < workers.size(); ++i) {
    std::vector<double> rates, walls;
    for (const BenchRun& r : runs) {
      if (r.workers != workers[i]) continue;
      rates.push_back(r.events_per_second());
      walls.push_back(r.wall_seconds);
    }
    j << (i ? "," : "") << "{\"workers\":" << workers[i]
      << ",\"median_events_per_second\":" << Fixed(Median(rates), 0)
      << ",\"median_wall_seconds\":" << Fixed(Median(walls), 3) << "}";
  }
  j << "]}\n";
  return j.str();
}

}  // namespace

int BenchCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow bench JOB.yaml [--workers LIST] [--runs R] [--json FILE]\n\n"
      "Measures the bounded replay of JOB over its log (produce or `gen --log` it first) on\n"
      "the embedded cluster with each number of workers in LIST (e.g. 1,2 or 0..3; 0: every\n"
      "task as a thread of this process), R runs each. Prints a line per run on stderr and a\n"
      "Markdown table on stdout; every run must end with the same changelog counts.\n\noptions");
  opts.add_options()("help,h", "show this help")("workers", po::value<std::string>()->default_value("1,2"),
                                                 "worker counts to measure")(
      "runs", po::value<int>()->default_value(3), "runs per worker count (1..100)")(
      "json", po::value<std::string>(), "also write the runs and medians as JSON to FILE");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("bench", argc, argv, opts, &vm)) return *done;
  auto usage_error = [&](const std::string& message) {
    std::cerr << "segflow bench: " << message << "\n" << opts << "\n";
    return 2;
  };
  if (!vm.count("job")) return usage_error("missing JOB.yaml");
  std::vector<int> workers;
  if (!ParseWorkerList(vm["workers"].as<std::string>(), &workers)) {
    return usage_error("--workers: expected a list like 1,2 or 0..3 (each 0.." + std::to_string(kMaxWorkers) + ")");
  }
  const int runs = vm["runs"].as<int>();
  if (runs < 1 || runs > 100) return usage_error("--runs must be 1..100");

  const std::string path = vm["job"].as<std::string>();
  JobParseResult parsed = ParseJobFile(path);
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText();
    std::cerr << "segflow bench: " << parsed.errors.size() << " error(s) in " << path << "; nothing was run\n";
    return 1;
  }
  const JobSpec& job = parsed.job;

  // Rounds over the worker counts (1, 2, 1, 2, ...), so that background load hits all alike.
  std::vector<BenchRun> results;
  for (int i = 1; i <= runs; ++i) {
    for (int w : workers) {
      BenchRun run;
      run.workers = w;
      run.run = i;
      if (Status s = RunOnce(path, job, w, &run); !s.ok()) {
        std::cerr << "segflow bench: " << w << " workers, run " << i << ": " << s.message() << "\n";
        return 1;
      }
      std::fprintf(stderr, "segflow bench: %d workers, run %d/%d: %llu records in %.2f s (%.0f events/s), wall %.2f s\n",
                   w, i, runs, static_cast<unsigned long long>(run.report.records_in), run.report.seconds,
                   run.events_per_second(), run.wall_seconds);
      const BenchRun& first = results.empty() ? run : results.front();
      if (run.report.records_in != first.report.records_in || run.report.entered != first.report.entered ||
          run.report.exited != first.report.exited) {
        std::cerr << "segflow bench: run " << i << " on " << w << " workers differs from the first run: "
                  << run.report.records_in << " records, " << run.report.entered << " entered, "
                  << run.report.exited << " exited against " << first.report.records_in << ", "
                  << first.report.entered << ", " << first.report.exited << "\n";
        return 1;
      }
      results.push_back(run);
    }
  }

  const BenchRun& first = results.front();
  std::cout << "Bounded replay of job " << job.name << ": " << first.report.records_in << " records, "
            << first.report.late_records << " late; changelog " << first.report.entered << " entered, "
            << first.report.exited << " exited (the same in every run)\n\n"
            << "| workers | events/s per run | median events/s | median wall s |\n|---|---|---|---|\n";
  for (int w : workers) {
    std::vector<double> rates, walls;
    std::string per_run;
    for (const BenchRun& r : results) {
      if (r.workers != w) continue;
      rates.push_back(r.events_per_second());
      walls.push_back(r.wall_seconds);
      per_run += (per_run.empty() ? "" : ", ") + Fixed(r.events_per_second(), 0);
    }
    std::cout << "| " << (w == 0 ? std::string("0 (in-process)") : std::to_string(w)) << " | " << per_run << " | "
              << Fixed(Median(rates), 0) << " | " << Fixed(Median(walls), 2) << " |\n";
  }
  if (vm.count("json")) {
    const std::string json_path = vm["json"].as<std::string>();
    std::ofstream out(json_path, std::ios::binary | std::ios::trunc);
    out << JsonText(job.name, results, workers);
    out.close();
    if (!out) {
      std::cerr << "segflow bench: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace segflow::cli
