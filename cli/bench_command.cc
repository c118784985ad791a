// segflow bench [JOB.yaml] [--modes LIST] ...: end-to-end capacity figures of a cluster
// (the embedded local one, or a running coordinator with --coordinator), each mode
// bounded in time:
//   scaling     bounded replay throughput of JOB (or of a generated media log) over numbers
//               of workers, runs interleaved and checked equal;
//   sustain     the largest input rate a live job keeps up with (bounded latency);
//   latency     append -> committed changelog record percentiles at given rates;
//   checkpoint  checkpoint duration and size under a live load;
//   recovery    time to running again and to caught-up committed output after a SIGKILL.
// A progress line on stderr (a terminal only, not with --quiet); a Markdown report on
// stdout; --json and --svg write every figure and a chart. The live modes are in
// bench_live.*, the renderings in bench_report.*.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_live.h"
#include "cli/bench_progress.h"
#include "cli/bench_report.h"
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
const std::vector<std::string> kModes = {"scaling", "sustain", "latency", "checkpoint", "recovery"};

// "0,1,2" or "1..4" (or a mix: "0,2..3"); each 0..kMaxWorkers, in the order given.
bool ParseWorkerList(const std::string& text, std::vector<int>* out) {
  std::stringstream in(text);
  std::string item;
  auto number = [](std::string_view s, int* v) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size() && *v >= 0 &&
           *v <= kMaxWorkers;
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

// "10000,50000": positive rates (events/s) up to 100 M.
bool ParseRates(const std::string& text, std::vector<double>* out) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    uint64_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || r.ec != std::errc() || r.ptr != item.data() + item.size() || v == 0 ||
        v > 100000000) {
      return false;
    }
    out->push_back(static_cast<double>(v));
  }
  return !out->empty();
}

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("segflow") : p.string();
}

// Runs this binary with `args` (stdout to /dev/null, stderr to `err_file`); its stderr is
// in the error when it fails.
Status RunSelf(const std::vector<std::string>& args, const std::string& err_file) {
  const std::string exe = SelfExe();
  std::vector<const char*> argv{exe.c_str()};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  // The child makes only async-signal-safe calls before exec: this process may have threads.
  const pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork", errno);
  if (pid == 0) {
    const int out = ::open("/dev/null", O_WRONLY);
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(err, STDERR_FILENO) < 0) ::_exit(126);
    ::execv(exe.c_str(), const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid)
    return Status::FromErrno("wait for segflow " + args[0], errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
  std::ifstream in(err_file);
  std::stringstream text;
  text << in.rdbuf();
  return Status::Internal("segflow " + args[0] + " failed: " + text.str());
}

// The scaling mode's job when none is given: a 30-day count window over generated media
// events (the job of bench/cluster_bench.sh). Its log's path is absolute: a cluster
// resolves relative job paths against its own --data-root, not the job file's folder.
std::string ScalingJob(const std::string& log_dir) {
  return "job: bench-scaling\nlog: " + log_dir + R"(
source: {topics: [events], max_out_of_orderness: 5s}
segments:
  - id: binge
    when: {count: {event: play, where: {genre: documentary}, window: 30d, at_least: 5}}
parallelism: 2
)";
}

// One bounded replay of the job: on an embedded cluster of `workers` workers (0: in this
// process), or on the cluster at `coordinator`.
Status ReplayOnce(const std::string& path, const JobSpec& job, int workers,
                  const std::string& coordinator, ScalingRun* run) {
  std::atomic<bool> stop{false};
  RunOptions options;
  options.bounded = true;
  options.state_dir = DefaultStateDir(job);
  RunReport report;
  const auto began = std::chrono::steady_clock::now();
  if (workers == 0 && coordinator.empty()) {
    SEGFLOW_RETURN_IF_ERROR(RunJobLocally(job, options, &stop, &report));
  } else {
    const std::string cluster_dir = options.state_dir + ".bench/run-" + std::to_string(::getpid());
    {
      std::unique_ptr<EmbeddedCluster> cluster;
      std::string address = coordinator;
      if (address.empty()) {
        auto started =
            EmbeddedCluster::Start(workers, static_cast<uint32_t>(job.parallelism), cluster_dir, {JobFolder(path)});
        if (!started.ok()) return started.status().Annotate("cannot start the local cluster");
        cluster = std::move(started).value();
        address = cluster->address();
      }
      auto client = ClusterClient::Connect(address);
      if (!client.ok()) return client.status();
      SubmitRequest req;
      req.bounded = true;
      req.state_dir = options.state_dir;
      auto id = SubmitJob(client->get(), path, req);
      if (!id.ok()) return id.status();
      auto outcome = FollowJob(client->get(), *id, &stop, false);
      if (!outcome.ok()) return outcome.status();
      if (outcome->state == wire::JobState::FAILED)
        return Status::Internal("job failed: " + outcome->reason);
      report = outcome->report;
    }
    std::error_code ec;
    std::filesystem::remove_all(options.state_dir + ".bench", ec);
  }
  run->records = report.records_in;
  run->late = report.late_records;
  run->entered = report.entered;
  run->exited = report.exited;
  run->seconds = report.seconds;
  run->wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return Status::OK();
}

// The number of live workers of the cluster at `address`.
Result<int> AliveWorkers(const std::string& address) {
  auto client = ClusterClient::Connect(address);
  if (!client.ok()) return client.status();
  auto reply = (*client)->Status("");
  if (!reply.ok()) return reply.status();
  int alive = 0;
  for (auto w : (*reply)->Root<wire::ControlMessage>().getStatusReply().getWorkers())
    alive += w.getAlive();
  return alive;
}

// Rounds over the worker counts (1, 2, 1, 2, ...), so that background load hits all alike;
// every run must end with the first run's changelog counts.
Result<ScalingResult> MeasureScaling(const std::string& path, const JobSpec& job,
                                     const std::vector<int>& workers, int runs,
                                     const std::string& coordinator, BenchProgress* progress) {
  ScalingResult out;
  out.job = job.name;
  out.workers = workers;
  for (int i = 1; i <= runs; ++i) {
    for (int w : workers) {
      progress->Update("scaling: " + std::to_string(w) + " workers, run " + std::to_string(i) +
                       "/" + std::to_string(runs));
      ScalingRun run;
      run.workers = w;
      run.run = i;
      if (Status s = ReplayOnce(path, job, w, coordinator, &run); !s.ok()) {
        return s.Annotate(std::to_string(w) + " workers, run " + std::to_string(i));
      }
      const ScalingRun& first = out.runs.empty() ? run : out.runs.front();
      if (run.records != first.records || run.entered != first.entered ||
          run.exited != first.exited) {
        return Status::Internal(
            "run " + std::to_string(i) + " on " + std::to_string(w) +
            " workers differs from the first run: " + std::to_string(run.records) + " records, " +
            std::to_string(run.entered) + " entered, " + std::to_string(run.exited) +
            " exited against " + std::to_string(first.records) + ", " +
            std::to_string(first.entered) + ", " + std::to_string(first.exited));
      }
      out.runs.push_back(run);
    }
  }
  return out;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "";
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IOError("cannot write " + path);
  return Status::OK();
}

}  // namespace

int BenchCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow bench [JOB.yaml] [--modes LIST] [--coordinator HOST:PORT] [--dir DIR]\n"
      "         [--json FILE] [--svg FILE] [--quiet]\n"
      "         scaling: [--workers LIST] [--runs N] [--events N] [--users N]\n"
      "         live modes: [--live-workers N] [--seconds S] [--background-users N]\n"
      "         latency: [--rates LIST]\n"
      "         sustain: [--sustain-start R] [--sustain-steps N] [--max-latency-ms MS]\n"
      "         checkpoint: [--checkpoint-rate R] [--checkpoint-interval MS]\n"
      "         recovery: [--recovery-rate R] [--kill-after S] [--recovery-timeout S]\n"
      "         [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "Measures a cluster end to end: the embedded local one (a coordinator in this process and\n"
      "worker processes), or the running cluster at --coordinator (its workers must see --dir).\n"
      "Modes (--modes, default all, run in this order):\n"
      "  scaling     bounded replay of JOB over its log (without JOB: a generated media log of\n"
      "              --events events) on each number of workers in --workers, --runs runs each,\n"
      "              interleaved; every run must end with the same changelog counts\n"
      "  sustain     the largest input rate a live job keeps up with: p99 append -> committed\n"
      "              record <= --max-latency-ms, every probe committed, the rate achieved;\n"
      "              doubles from --sustain-start, then bisects, at most --sustain-steps runs\n"
      "  latency     append -> committed changelog record p50/p90/p99/max at each of --rates\n"
      "  checkpoint  duration and size of the checkpoints of a live job at --checkpoint-rate\n"
      "  recovery    a live checkpointing job at --recovery-rate, a worker SIGKILLed after\n"
      "              --kill-after s: seconds until it runs again and until the committed\n"
      "              output is past the kill (embedded cluster, >= 2 --live-workers)\n"
      "Live modes run the probe job of bench/latency/job.yaml (a probe event every 10 ms, the\n"
      "rest views of --background-users users) for --seconds per rate. A progress line goes to\n"
      "stderr on a terminal (not with --quiet); the report is Markdown on stdout.\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "modes",
      po::value<std::string>()->default_value("scaling,sustain,latency,checkpoint,recovery"),
      "modes to run, comma-separated")(
      "coordinator", po::value<std::string>(),
      "measure the cluster at HOST:PORT instead of an embedded one")(
      "dir", po::value<std::string>(),
      "bench folder (default: a temporary one, removed at the end)")(
      "workers", po::value<std::string>(),
      "scaling: worker counts (default 0,1,2; not with --coordinator)")(
      "runs", po::value<int>()->default_value(3), "scaling: runs per worker count (1..100)")(
      "events", po::value<uint64_t>()->default_value(1000000),
      "scaling without JOB: events to generate")("users",
                                                 po::value<uint64_t>()->default_value(100000),
                                                 "scaling without JOB: users to generate")(
      "live-workers", po::value<int>()->default_value(2),
      "live modes: workers of the embedded cluster (1..64)")(
      "seconds", po::value<double>()->default_value(5),
      "live modes: producing time per rate (0.5..600)")(
      "background-users", po::value<uint64_t>()->default_value(100000),
      "live modes: users of the background views")(
      "rates", po::value<std::string>()->default_value("10000,50000"),
      "latency: events/s, comma-separated")(
      "sustain-start", po::value<uint64_t>()->default_value(50000),
      "sustain: first rate tried (events/s)")("sustain-steps", po::value<int>()->default_value(8),
                                              "sustain: at most this many runs (1..20)")(
      "max-latency-ms", po::value<double>()->default_value(1000),
      "sustain: p99 bound of a sustained rate")(
      "checkpoint-rate", po::value<uint64_t>()->default_value(20000), "checkpoint: events/s")(
      "checkpoint-interval", po::value<int64_t>()->default_value(1000),
      "checkpoint, recovery: interval in ms")(
      "recovery-rate", po::value<uint64_t>()->default_value(20000), "recovery: events/s")(
      "kill-after", po::value<double>()->default_value(4),
      "recovery: seconds of running before the SIGKILL")(
      "recovery-timeout", po::value<double>()->default_value(60),
      "recovery: give up after this many seconds")("json", po::value<std::string>(),
                                                   "write every figure as JSON to FILE")(
      "svg", po::value<std::string>(), "write a chart (SVG) to FILE")("quiet,q",
                                                                      "no progress line");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("bench", argc, argv, opts, &vm)) return *done;
  auto usage_error = [&](const std::string& message) {
    std::cerr << "segflow bench: " << message << "\n" << opts << "\n";
    return 2;
  };

  std::set<std::string> modes;
  {
    std::stringstream in(vm["modes"].as<std::string>());
    std::string m;
    while (std::getline(in, m, ',')) {
      if (std::find(kModes.begin(), kModes.end(), m) == kModes.end()) {
        return usage_error("--modes: unknown mode \"" + m +
                           "\" (scaling, sustain, latency, checkpoint or recovery)");
      }
      modes.insert(m);
    }
    if (modes.empty()) return usage_error("--modes: name at least one mode");
  }
  const std::string coordinator =
      vm.count("coordinator") ? vm["coordinator"].as<std::string>() : "";
  std::vector<int> workers;
  if (vm.count("workers")) {
    if (!coordinator.empty())
      return usage_error("--workers: not with --coordinator (its workers are measured)");
    if (!ParseWorkerList(vm["workers"].as<std::string>(), &workers)) {
      return usage_error("--workers: expected a list like 1,2 or 0..3 (each 0.." +
                         std::to_string(kMaxWorkers) + ")");
    }
  } else if (coordinator.empty()) {
    workers = {0, 1, 2};
  }
  const int runs = vm["runs"].as<int>();
  if (runs < 1 || runs > 100) return usage_error("--runs must be 1..100");
  const int live_workers = vm["live-workers"].as<int>();
  if (live_workers < 1 || live_workers > kMaxWorkers)
    return usage_error("--live-workers must be 1..64");
  const double seconds = vm["seconds"].as<double>();
  if (!(seconds >= 0.5 && seconds <= 600)) return usage_error("--seconds must be 0.5..600");
  std::vector<double> rates;
  if (!ParseRates(vm["rates"].as<std::string>(), &rates)) {
    return usage_error("--rates: expected events/s like 10000,50000 (each 1..100000000)");
  }
  const int sustain_steps = vm["sustain-steps"].as<int>();
  if (sustain_steps < 1 || sustain_steps > 20) return usage_error("--sustain-steps must be 1..20");
  const double max_latency_ms = vm["max-latency-ms"].as<double>();
  if (!(max_latency_ms > 0)) return usage_error("--max-latency-ms must be positive");
  const int64_t interval_ms = vm["checkpoint-interval"].as<int64_t>();
  if (interval_ms < 100 || interval_ms > 600000)
    return usage_error("--checkpoint-interval must be 100..600000 ms");
  const double kill_after = vm["kill-after"].as<double>();
  const double recovery_timeout = vm["recovery-timeout"].as<double>();
  if (!(kill_after >= 0.5 && kill_after <= 600) ||
      !(recovery_timeout >= 1 && recovery_timeout <= 3600)) {
    return usage_error("--kill-after must be 0.5..600 s and --recovery-timeout 1..3600 s");
  }
  for (const char* rate : {"sustain-start", "checkpoint-rate", "recovery-rate", "events", "users",
                           "background-users"}) {
    if (vm[rate].as<uint64_t>() == 0)
      return usage_error(std::string("--") + rate + " must be positive");
  }
  if (modes.count("recovery") && !coordinator.empty()) {
    return usage_error(
        "recovery: only on the embedded cluster (it SIGKILLs one of its own workers); "
        "drop --coordinator or the mode");
  }
  if (modes.count("recovery") && live_workers < 2) {
    return usage_error(
        "recovery: needs --live-workers 2 or more (the job restarts on the workers left)");
  }

  // The bench folder.
  std::string dir;
  bool own_dir = false;
  if (vm.count("dir")) {
    dir = vm["dir"].as<std::string>();
  } else {
    dir = (std::filesystem::temp_directory_path() / ("segflow-bench-" + std::to_string(::getpid())))
              .string();
    own_dir = true;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::cerr << "segflow bench: cannot create the bench folder " << dir << ": " << ec.message()
              << "\n";
    return 1;
  }
  dir = std::filesystem::absolute(dir, ec).lexically_normal().string();
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code e;
      if (!dir.empty()) std::filesystem::remove_all(dir, e);
    }
  } cleanup{own_dir ? dir : ""};

  BenchProgress progress(vm.count("quiet") > 0);
  auto fail = [&](const Status& s) {
    progress.Clear();
    std::cerr << "segflow bench: " << s.message() << "\n";
    return 1;
  };

  BenchResults results;
  results.cluster = coordinator.empty() ? "embedded" : coordinator;
  results.cpus = static_cast<int>(std::thread::hardware_concurrency());
  results.cpu_model = CpuModel();
  results.live_seconds = seconds;

  if (modes.count("scaling")) {
    std::string path;
    if (vm.count("job")) {
      path = vm["job"].as<std::string>();
    } else {
      path = dir + "/scaling/job.yaml";
      std::filesystem::create_directories(dir + "/scaling", ec);
      if (Status s = WriteText(path, ScalingJob(dir + "/scaling/log")); !s.ok()) return fail(s);
      progress.Update("scaling: generating " + std::to_string(vm["events"].as<uint64_t>()) +
                      " media events");
      const Status gen =
          RunSelf({"gen", "media", "--users", std::to_string(vm["users"].as<uint64_t>()),
                   "--events", std::to_string(vm["events"].as<uint64_t>()), "--seed", "7", "--log",
                   dir + "/scaling/log", "--topic", "events"},
                  dir + "/scaling/gen.err");
      if (!gen.ok()) return fail(gen);
    }
    JobParseResult parsed = ParseJobFile(path);
    if (!parsed.ok()) {
      progress.Clear();
      std::cerr << parsed.ErrorText();
      std::cerr << "segflow bench: " << parsed.errors.size() << " error(s) in " << path
                << "; nothing was run\n";
      return 1;
    }
    std::vector<int> scaling_workers = workers;
    if (!coordinator.empty()) {
      auto alive = AliveWorkers(coordinator);
      if (!alive.ok()) return fail(alive.status().Annotate("coordinator " + coordinator));
      scaling_workers = {*alive};
    }
    auto scaling = MeasureScaling(path, parsed.job, scaling_workers, runs, coordinator, &progress);
    if (!scaling.ok()) return fail(scaling.status().Annotate("scaling"));
    results.scaling = std::move(scaling).value();
  } else if (vm.count("job")) {
    return usage_error(
        "JOB.yaml is measured by the scaling mode only; add scaling to --modes or drop it");
  }

  // The live modes, each on a fresh embedded cluster (or the given one).
  const bool any_live = modes.count("sustain") || modes.count("latency") ||
                        modes.count("checkpoint") || modes.count("recovery");
  if (any_live) {
    LiveSettings live;
    live.dir = dir;
    live.seconds = seconds;
    live.background_users = vm["background-users"].as<uint64_t>();
    live.progress = &progress;
    results.live_workers = coordinator.empty() ? live_workers : 0;
    for (const std::string& mode : kModes) {
      if (mode == "scaling" || !modes.count(mode)) continue;
      std::unique_ptr<EmbeddedCluster> cluster;
      if (coordinator.empty()) {
        progress.Update(mode + ": starting " + std::to_string(live_workers) + " workers");
        auto started = EmbeddedCluster::Start(live_workers, static_cast<uint32_t>(live.parallelism),
                                              dir + "/cluster-" + mode, {dir});
        if (!started.ok())
          return fail(started.status().Annotate(mode + ": cannot start the local cluster"));
        cluster = std::move(started).value();
        live.coordinator = cluster->address();
        live.worker_pids = cluster->worker_pids();
      } else {
        live.coordinator = coordinator;
        live.worker_pids.clear();
      }
      if (mode == "sustain") {
        auto r = FindSustainableRate(live, static_cast<double>(vm["sustain-start"].as<uint64_t>()),
                                     sustain_steps, max_latency_ms);
        if (!r.ok()) return fail(r.status());
        results.sustain = std::move(r).value();
      } else if (mode == "latency") {
        auto r = MeasureLatency(live, rates);
        if (!r.ok()) return fail(r.status());
        results.latency = std::move(r).value();
      } else if (mode == "checkpoint") {
        auto r = MeasureCheckpoints(live, static_cast<double>(vm["checkpoint-rate"].as<uint64_t>()),
                                    interval_ms);
        if (!r.ok()) return fail(r.status());
        results.checkpoint = std::move(r).value();
      } else if (mode == "recovery") {
        auto r = MeasureRecovery(live, static_cast<double>(vm["recovery-rate"].as<uint64_t>()),
                                 interval_ms, kill_after, recovery_timeout);
        if (!r.ok()) return fail(r.status());
        results.recovery = std::move(r).value();
      }
      progress.Update(mode + ": stopping the cluster");
      cluster.reset();
      std::filesystem::remove_all(dir + "/cluster-" + mode, ec);
    }
  }
  progress.Clear();

  std::cout << BenchMarkdown(results);
  if (vm.count("json")) {
    if (Status s = WriteText(vm["json"].as<std::string>(), BenchJson(results)); !s.ok())
      return fail(s);
  }
  if (vm.count("svg")) {
    if (Status s = WriteText(vm["svg"].as<std::string>(), BenchSvg(results)); !s.ok())
      return fail(s);
  }
  return 0;
}

}  // namespace segflow::cli
