// segflow run JOB.yaml [--bounded [--until TIME]] [--workers N]: the embedded default
// (spec §8). With N >= 1 (default 2) it starts a local cluster (a coordinator in this
// process, N worker processes on 127.0.0.1), submits the job, follows it and shuts the
// cluster down; with --workers 0 every task runs as a thread of this process.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cli/cluster_job.h"
#include "cli/commands.h"
#include "cli/embedded_cluster.h"
#include "cli/job_command_line.h"
#include "cli/job_summary.h"
#include "engine/common/byte_size.h"
#include "engine/common/owned_dir.h"
#include "engine/value/time_format.h"
#include "jobs/execution_graph.h"
#include "jobs/job_parser.h"
#include "operators/runtime/local_job_runner.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void HandleStopSignal(int) { g_stop.store(true); }

// Removes "run-<pid>" folders of runs that are gone (a run killed with SIGKILL).
void RemoveStaleClusterDirs(const std::string& parent) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("run-", 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + 4, nullptr, 10);
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;
    (void)RemoveOwnedDir(entry.path().string(), "local cluster folder");  // not ours: left alone
  }
}

int RunOnCluster(const std::string& path, const JobSpec& job, const RunOptions& options, int workers,
                 const std::vector<std::string>& extra_roots, const EmbeddedCluster::Http& http,
                 size_t memory_budget) {
  const std::string state_dir = options.state_dir.empty() ? DefaultStateDir(job) : options.state_dir;
  // Beside the state folder, not in it (each attempt resets the state folder); one folder
  // per run, so a second (refused) run of the job never touches the first one's workers.
  const std::string cluster_dir = state_dir + ".cluster/run-" + std::to_string(::getpid());
  RemoveStaleClusterDirs(state_dir + ".cluster");
  const uint32_t slots = static_cast<uint32_t>(job.parallelism);  // any one worker can take the whole job
  if (Status made = CreateOwnedDir(cluster_dir, "local cluster folder"); !made.ok()) {
    std::cerr << "segflow run: cannot start the local cluster: " << made.message() << "\n";
    return 1;
  }
  // The job file's folder first: relative job paths resolve there, as `audience` and the
  // other local commands resolve them.
  std::vector<std::string> roots = {JobFolder(path)};
  roots.insert(roots.end(), extra_roots.begin(), extra_roots.end());
  auto cluster = EmbeddedCluster::Start(workers, slots, cluster_dir, roots, http, memory_budget);
  if (!cluster.ok()) {
    std::cerr << "segflow run: cannot start the local cluster: " << cluster.status().message() << "\n";
    return 1;
  }
  if (http.address) std::cerr << "segflow run: http listening on " << (*cluster)->http_address() << "\n";
  std::error_code ec;
  auto client = ClusterClient::Connect((*cluster)->address());
  if (!client.ok()) {
    std::cerr << "segflow run: " << client.status().message() << "\n";
    return 1;
  }
  SubmitRequest req;
  req.bounded = options.bounded;
  req.has_until = options.has_until;
  req.until = options.until;
  req.state_dir = state_dir;
  req.streaming = options.bounded && !options.batch;
  auto id = SubmitJob(client->get(), path, req);
  if (!id.ok()) {
    std::cerr << "segflow run: " << id.status().message() << "\n";
    return 1;
  }
  auto outcome = FollowJob(client->get(), *id, &g_stop, !options.bounded);
  if (!outcome.ok()) {
    std::cerr << "segflow run: job " << job.name << ": " << outcome.status().message() << "\n";
    return 1;
  }
  if (outcome->state == wire::JobState::FAILED) {
    std::cerr << "segflow run: job " << job.name << " failed: " << outcome->reason << "\n";
    return 1;
  }
  cluster->reset();  // workers exit before the summary reads the audience store
  (void)RemoveOwnedDir(cluster_dir, "local cluster folder");
  return PrintJobSummary(job, outcome->report);
}

}  // namespace

int RunCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow run JOB.yaml [--bounded [--until TIME] [--runtime-mode batch|streaming]]\n"
      "                            [--workers N] [--memory-budget SIZE] [--state-dir DIR]\n"
      "                            [--data-root DIR]... [--http HOST:PORT [--http-token-file F]]\n\n"
      "Runs a job on the embedded default: a local cluster of a coordinator and N worker\n"
      "processes on 127.0.0.1 (--workers 0: every task as a thread of this process), with the\n"
      "job's log, state and audience store on local disk. Each run starts fresh from the\n"
      "beginning of the log and replaces the job's changelog and audience. Without --bounded\n"
      "it keeps evaluating new records until SIGINT/SIGTERM. TIME: epoch ms or RFC 3339.\n\n"
      "The local cluster's data root is the job file's folder (plus any --data-root): every path\n"
      "the job names (log, audience, checkpoints, state) must lie inside one, and relative ones\n"
      "resolve against the job file's folder. --workers 0 runs in this process, unconfined.\n\n"
      "A bounded run evaluates in batch by default: each keyed task sorts its input by user,\n"
      "spilling sorted runs under the state folder beyond its share of --memory-budget, and\n"
      "evaluates one user at a time; the changelog and audience equal a streaming run's.\n\noptions");
  opts.add_options()("help,h", "show this help")("bounded", "replay the log up to its end at start, then exit")(
      "until", po::value<std::string>(), "bounded: evaluate instants up to TIME (default: the largest ts read)")(
      "workers", po::value<int>()->default_value(2), "worker processes (0: run in this process)")(
      "runtime-mode", po::value<std::string>(),
      "bounded: batch (default: sorted by user, one user at a time) or streaming (as a live run)")(
      "memory-budget", po::value<std::string>(),
      "memory of each process (this one with --workers 0, else each worker), e.g. 512m, 2g; "
      "half of it holds a bounded batch run's sorted input before it spills (default 1g)")(
      "state-dir", po::value<std::string>(), "working state folder (default: <dir of log>/state/<job>)")(
      "data-root", po::value<std::vector<std::string>>(),
      "repeatable: a further folder the local cluster's coordinator and workers may touch for the job (besides "
      "the job file's folder, always the first data root, against which relative job paths resolve)")(
      "http", po::value<std::string>(), "serve the HTTP API, /metrics and the dashboard on HOST:PORT while it runs")(
      "http-token-file", po::value<std::string>(), "the token /v1 and /metrics requests must send (Bearer)");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("run", argc, argv, opts, &vm)) return *done;
  if (!vm.count("job")) {
    std::cerr << "segflow run: missing JOB.yaml\n" << opts << "\n";
    return 2;
  }
  const int workers = vm["workers"].as<int>();
  if (workers < 0 || workers > 64) {
    std::cerr << "segflow run: --workers must be 0..64 (0: run in this process)\n";
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
  if (vm.count("runtime-mode")) {
    const std::string mode = vm["runtime-mode"].as<std::string>();
    if (!options.bounded || (mode != "batch" && mode != "streaming")) {
      std::cerr << "segflow run: --runtime-mode " << mode
                << (options.bounded ? ": give batch or streaming\n" : ": needs --bounded (a live run streams)\n");
      return 2;
    }
    options.batch = mode == "batch";
  }
  size_t memory_budget = kDefaultMemoryBudget;
  if (vm.count("memory-budget")) {
    auto budget = ParseByteSize(vm["memory-budget"].as<std::string>(), kMinMemoryBudget);
    if (!budget.ok()) {
      std::cerr << "segflow run: --memory-budget: " << budget.status().message() << "\n";
      return 2;
    }
    memory_budget = *budget;
  }
  if (vm.count("state-dir")) {
    std::error_code ec;  // relative to where the user typed it
    options.state_dir = std::filesystem::absolute(vm["state-dir"].as<std::string>(), ec).lexically_normal().string();
  }
  const std::vector<std::string> extra_roots =
      vm.count("data-root") ? vm["data-root"].as<std::vector<std::string>>() : std::vector<std::string>{};

  EmbeddedCluster::Http http;
  if (vm.count("http-token-file") && !vm.count("http")) {
    std::cerr << "segflow run: --http-token-file needs --http HOST:PORT\n";
    return 2;
  }
  if (vm.count("http")) {
    auto address = net::ParseHostPort(vm["http"].as<std::string>());
    if (!address.ok() || workers == 0) {
      std::cerr << "segflow run: --http: "
                << (address.ok() ? "needs a local cluster (--workers 1 or more)" : address.status().message()) << "\n";
      return 2;
    }
    http.address = *address;
    if (vm.count("http-token-file")) {
      auto token = ReadHttpToken(vm["http-token-file"].as<std::string>());
      if (!token.ok()) {
        std::cerr << "segflow run: --http-token-file: " << token.status().message() << "\n";
        return 2;
      }
      http.token = *token;
    }
  }

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
  std::signal(SIGPIPE, SIG_IGN);
  if (!options.bounded) {
    std::cerr << "job " << job.name << ": running live (Ctrl-C or SIGTERM stops it)\n";
  }
  if (workers > 0) return RunOnCluster(path, job, options, workers, extra_roots, http, memory_budget);
  options.sort_memory_bytes = SortMemoryPerKeyedTask(memory_budget, static_cast<uint32_t>(job.parallelism));

  RunReport report;
  Status s = RunJobLocally(job, options, &g_stop, &report);
  if (!s.ok()) {
    std::cerr << "segflow run: job " << job.name << " failed: " << s.ToString() << "\n";
    return 1;
  }
  return PrintJobSummary(job, report);
}

}  // namespace segflow::cli
