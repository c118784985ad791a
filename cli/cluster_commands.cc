// The cluster's processes and clients (issue #4):
//   segflow coordinator --listen HOST:PORT --dir DIR
//   segflow worker --coordinator HOST:PORT --slots N --dir DIR [--listen HOST:PORT]
//   segflow submit JOB.yaml --coordinator HOST:PORT [--bounded [--until TIME]] [--wait] ...
//   segflow jobs --coordinator HOST:PORT
//   segflow status JOB_ID --coordinator HOST:PORT
//   segflow cancel JOB_ID --coordinator HOST:PORT
//   segflow savepoint JOB_ID --coordinator HOST:PORT [--stop] [--dir DIR]
// --coordinator defaults to $SEGFLOW_COORDINATOR. Each --help's usage names every option
// (tests/integration/cluster_cli_test.cc checks it).
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <boost/program_options.hpp>

#include "cli/cluster_client.h"
#include "cli/cluster_job.h"
#include "cli/embedded_cluster.h"
#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "cli/job_summary.h"
#include "coordinator/coordinator.h"
#include "coordinator/status_json.h"
#include "engine/common/byte_size.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "worker/worker.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void HandleClusterStop(int) { g_stop.store(true); }

void InstallStopHandlers() {
  std::signal(SIGINT, HandleClusterStop);
  std::signal(SIGTERM, HandleClusterStop);
  std::signal(SIGPIPE, SIG_IGN);
}

// Options plus at most one positional argument; an exit code when the command must stop.
std::optional<int> ParsePlain(const char* command, int argc, char** argv, const po::options_description& opts,
                              po::variables_map* vm, const char* positional = nullptr) {
  return ParseCommandLine(command, argc, argv, opts, vm, positional);
}

// --coordinator of every client command and `worker`: given, else $SEGFLOW_COORDINATOR
// (when set and not empty), else 127.0.0.1:7000 (clients; a worker requires an address).
constexpr const char* kCoordinatorHelp =
    "the coordinator's address (default: $SEGFLOW_COORDINATOR if set, else 127.0.0.1:7000)";

po::typed_value<std::string>* CoordinatorValue(bool client = true) {
  auto* value = po::value<std::string>();
  const char* env = std::getenv("SEGFLOW_COORDINATOR");
  if (env != nullptr && *env != '\0') return value->default_value(env);
  return client ? value->default_value("127.0.0.1:7000") : value;
}

std::string DurationText(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string WatermarkText(bool has, int64_t wm) { return has ? FormatTimeWithMs(wm) : "none"; }

const char* KindName(wire::TaskKind k) {
  switch (k) {
    case wire::TaskKind::SOURCE: return "source";
    case wire::TaskKind::KEYED: return "keyed";
    case wire::TaskKind::SINK: return "sink";
  }
  return "?";
}

}  // namespace

int CoordinatorCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow coordinator --dir DIR [--listen HOST:PORT] [--data-root DIR]...\n"
      "                           [--heartbeat-timeout MS] [--heartbeat-interval MS]\n"
      "                           [--max-restarts N] [--slot-wait S] [--checkpoint-timeout MS]\n"
      "                           [--upgrade-catch-up-records N] [--max-connections N]\n"
      "                           [--prepare-timeout MS] [--http HOST:PORT [--http-token-file F]]\n"
      "                           [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "Runs the coordinator: workers register with it, clients submit jobs to it. Runs until\n"
      "SIGINT/SIGTERM. HOST:PORT port 0 picks a free port (printed on start).\n\n"
      "Every path a submitted job names (log, audience, checkpoints, state, savepoints) must lie\n"
      "inside a --data-root after resolving '..' and symlinks, or the submission is refused\n"
      "naming it; relative job paths resolve against the first --data-root (default: the\n"
      "current directory), never against the submitting client's folder.\n\noptions");
  opts.add_options()("help,h", "show this help")("listen", po::value<std::string>()->default_value("127.0.0.1:7000"),
                                                 "address to listen on")(
      "dir", po::value<std::string>(), "the coordinator's folder (one coordinator at a time)")(
      "heartbeat-timeout", po::value<int>()->default_value(5000), "ms without a heartbeat before a worker is dead")(
      "heartbeat-interval", po::value<int>()->default_value(500), "ms between a worker's heartbeats")(
      "max-restarts", po::value<int>()->default_value(3), "restarts of a failed job before it is failed for good")(
      "slot-wait", po::value<int>()->default_value(30), "seconds a job waits for enough free slots")(
      "checkpoint-timeout", po::value<int>()->default_value(0),
      "ms before an incomplete checkpoint is abandoned (0: 10 x the job's interval, at least 10 s)")(
      "upgrade-catch-up-records", po::value<int64_t>()->default_value(20000),
      "upgrades: another backfill round while the log grew by more records than this during the last one")(
      "http", po::value<std::string>(),
      "serve the HTTP API, /metrics and the dashboard on HOST:PORT (only loopback without a token)")(
      "http-token-file", po::value<std::string>(),
      "a file holding the token every /v1 and /metrics request must send as Authorization: Bearer <token>")(
      "data-root", po::value<std::vector<std::string>>(),
      "repeatable: a folder jobs may make the coordinator touch (log, checkpoints, savepoints, audience); "
      "relative job paths resolve against the first (default: the current directory)")(
      "max-connections", po::value<int>()->default_value(256),
      "connections open at once (workers, clients, handshakes); past it the oldest handshake is dropped")(
      "prepare-timeout", po::value<int>()->default_value(30000),
      "ms a worker may take to answer a prepare before it is treated as lost");
  po::variables_map vm;
  if (auto done = ParsePlain("coordinator", argc, argv, opts, &vm)) return *done;
  if (!vm.count("dir")) {
    std::cerr << "segflow coordinator: missing --dir DIR\n" << opts << "\n";
    return 2;
  }
  auto listen = net::ParseHostPort(vm["listen"].as<std::string>());
  if (!listen.ok()) {
    std::cerr << "segflow coordinator: --listen: " << listen.status().message() << "\n";
    return 2;
  }
  const int timeout = vm["heartbeat-timeout"].as<int>(), interval = vm["heartbeat-interval"].as<int>();
  if (timeout <= 0 || interval <= 0 || interval >= timeout || vm["max-restarts"].as<int>() < 0 ||
      vm["slot-wait"].as<int>() < 0) {
    std::cerr << "segflow coordinator: need 0 < --heartbeat-interval < --heartbeat-timeout, and "
                 "--max-restarts, --slot-wait >= 0\n";
    return 2;
  }
  coordinator::CoordinatorOptions options;
  options.listen = *listen;
  options.dir = vm["dir"].as<std::string>();
  options.heartbeat_timeout = std::chrono::milliseconds(timeout);
  options.heartbeat_interval = std::chrono::milliseconds(interval);
  options.max_restarts = static_cast<uint32_t>(vm["max-restarts"].as<int>());
  options.slot_wait = std::chrono::seconds(vm["slot-wait"].as<int>());
  options.checkpoint_timeout = std::chrono::milliseconds(std::max(0, vm["checkpoint-timeout"].as<int>()));
  options.upgrade_catch_up_records = static_cast<uint64_t>(std::max<int64_t>(0, vm["upgrade-catch-up-records"].as<int64_t>()));
  if (vm.count("http-token-file") && !vm.count("http")) {
    std::cerr << "segflow coordinator: --http-token-file needs --http HOST:PORT\n";
    return 2;
  }
  if (vm.count("http")) {
    auto http = net::ParseHostPort(vm["http"].as<std::string>());
    if (!http.ok()) {
      std::cerr << "segflow coordinator: --http: " << http.status().message() << "\n";
      return 2;
    }
    options.http = *http;
    if (vm.count("http-token-file")) {
      auto token = ReadHttpToken(vm["http-token-file"].as<std::string>());
      if (!token.ok()) {
        std::cerr << "segflow coordinator: --http-token-file: " << token.status().message() << "\n";
        return 2;
      }
      options.http_token = *token;
    }
  }
  if (vm.count("data-root")) options.data_roots = vm["data-root"].as<std::vector<std::string>>();
  if (vm["max-connections"].as<int>() < 4 || vm["prepare-timeout"].as<int>() <= 0) {
    std::cerr << "segflow coordinator: need --max-connections >= 4 and --prepare-timeout > 0\n";
    return 2;
  }
  options.max_connections = static_cast<size_t>(vm["max-connections"].as<int>());
  options.prepare_timeout = std::chrono::milliseconds(vm["prepare-timeout"].as<int>());
  InstallStopHandlers();
  coordinator::Coordinator coord(options);
  Status s = coord.Start();
  if (!s.ok()) {
    std::cerr << "segflow coordinator: " << s.message() << "\n";
    return 1;
  }
  std::printf("coordinator listening on %s\n", coord.address().ToString().c_str());
  if (options.http) std::printf("http listening on %s\n", coord.http_address().ToString().c_str());
  std::fflush(stdout);
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  coord.Shutdown();
  return 0;
}

namespace {
void PrintRegistered(uint32_t id, const std::string& data) {
  std::printf("worker %u registered; data on %s\n", id, data.c_str());
  std::fflush(stdout);
}
}  // namespace

int WorkerCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow worker --coordinator HOST:PORT --slots N --dir DIR [--listen HOST:PORT]\n"
      "                      [--connect-attempts N] [--reconnect-window S] [--data-root DIR]...\n"
      "                      [--memory-budget SIZE]\n"
      "                      [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "Runs a worker: registers N slots with the coordinator and runs the tasks it is given;\n"
      "their keyed state lives under DIR (one worker per DIR). --listen is where other workers\n"
      "send it records (default 127.0.0.1:0, a free port). Runs until SIGINT/SIGTERM.\n\n"
      "--data-root DIR (repeatable) confines the job: every path a job makes this worker read,\n"
      "write or delete (log, checkpoints, savepoints, audience store, state folder) must lie\n"
      "inside one after resolving '..' and symlinks, or the attempt is refused and the job fails\n"
      "with a message naming the path (segflow status). Relative job paths resolve against the\n"
      "first --data-root (default: the worker's current directory). Folders it resets (state,\n"
      "audience) must be ones Segflow created (marked with a .segflow-owned file), missing, or\n"
      "empty: Segflow never deletes a folder it was merely pointed at.\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "coordinator", CoordinatorValue(false), "the coordinator's address (default: $SEGFLOW_COORDINATOR if set)")(
      "slots", po::value<int>()->default_value(1), "task slots (a job takes one per keyed task)")(
      "dir", po::value<std::string>(), "the worker's folder (keyed state)")(
      "data-root", po::value<std::vector<std::string>>(),
      "repeatable: a folder jobs may make this worker touch (default: the current directory)")(
      "listen", po::value<std::string>()->default_value("127.0.0.1:0"), "data server address")(
      "memory-budget", po::value<std::string>(),
      "memory for this worker's tasks, e.g. 512m, 2g: half of it holds a bounded batch run's sorted "
      "input before it spills sorted runs under --dir (default 1g)")(
      "connect-attempts", po::value<int>()->default_value(10), "tries to reach the coordinator at start")(
      "reconnect-window", po::value<int>()->default_value(30), "seconds to keep trying after losing the coordinator");
  po::variables_map vm;
  if (auto done = ParsePlain("worker", argc, argv, opts, &vm)) return *done;
  if (!vm.count("coordinator") || !vm.count("dir")) {
    std::cerr << "segflow worker: --coordinator (or SEGFLOW_COORDINATOR) and --dir are required\n" << opts << "\n";
    return 2;
  }
  worker::WorkerOptions options;
  auto coord = net::ParseHostPort(vm["coordinator"].as<std::string>());
  auto listen = net::ParseHostPort(vm["listen"].as<std::string>());
  if (!coord.ok() || !listen.ok()) {
    std::cerr << "segflow worker: " << (!coord.ok() ? "--coordinator: " + coord.status().message()
                                                    : "--listen: " + listen.status().message())
              << "\n";
    return 2;
  }
  if (vm["slots"].as<int>() < 1 || vm["connect-attempts"].as<int>() < 1 || vm["reconnect-window"].as<int>() < 0) {
    std::cerr << "segflow worker: --slots and --connect-attempts must be >= 1, --reconnect-window >= 0\n";
    return 2;
  }
  options.coordinator = *coord;
  options.listen = *listen;
  options.slots = static_cast<uint32_t>(vm["slots"].as<int>());
  options.dir = vm["dir"].as<std::string>();
  if (vm.count("memory-budget")) {
    auto budget = ParseByteSize(vm["memory-budget"].as<std::string>(), kMinMemoryBudget);
    if (!budget.ok()) {
      std::cerr << "segflow worker: --memory-budget: " << budget.status().message() << "\n";
      return 2;
    }
    options.memory_budget = *budget;
  }
  if (vm.count("data-root")) options.data_roots = vm["data-root"].as<std::vector<std::string>>();
  if (vm.count("memory-budget")) {
    auto budget = ParseByteSize(vm["memory-budget"].as<std::string>(), kMinMemoryBudget);
    if (!budget.ok()) {
      std::cerr << "segflow worker: --memory-budget: " << budget.status().message() << "\n";
      return 2;
    }
    options.memory_budget = *budget;
  }
  options.connect_attempts = vm["connect-attempts"].as<int>();
  options.reconnect_window = std::chrono::seconds(vm["reconnect-window"].as<int>());
  options.stop = &g_stop;
  options.on_registered = PrintRegistered;
  InstallStopHandlers();
  Status s = worker::RunWorker(options);
  if (!s.ok()) {
    std::cerr << "segflow worker: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

int SubmitCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow submit JOB.yaml [--coordinator HOST:PORT]\n"
      "         [--bounded [--until TIME|offsets:P=O,...|savepoint:DIR] [--end-with-savepoint]\n"
      "                    [--runtime-mode batch|streaming]]\n"
      "         [--wait] [--from earliest|latest|time:T|offsets:P=O,...] [--state-dir DIR]\n"
      "         [--from-savepoint PATH [--merge-savepoint PATH]]\n"
      "         [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "Submits a job to a cluster and prints its id. The job file is validated first: with\n"
      "errors, they are printed and nothing is deployed. --wait follows the job to its end\n"
      "and prints what `segflow run` prints (SIGINT cancels it). --from-savepoint starts from a\n"
      "savepoint (any parallelism: key groups are redistributed); --end-with-savepoint makes a\n"
      "bounded job end with a savepoint at the log's end, for a live job to continue from\n"
      "(with --wait, its folder is printed after the summary: \"savepoint: DIR\").\n"
      "--from reprocesses a range of the log: bounded (up to the end, or --until) or live from\n"
      "there, with state built from the range's records only. --until offsets:P=O,... ends a\n"
      "bounded run before offset O of partition P (other partitions: at their end at start);\n"
      "--until savepoint:DIR at that savepoint's offsets. A bounded job runs in batch (each keyed\n"
      "task sorts its input by user, then evaluates one user at a time) until its first\n"
      "checkpoint, if one comes before its end; --runtime-mode streaming evaluates as a live\n"
      "run does. Both give the same changelog, audiences and savepoint.\n\n"
      "Submitting a changed job file while its live job runs upgrades it: the new version is\n"
      "backfilled from the log beside the live job (which keeps serving the old one), then\n"
      "the live job stops with a savepoint, the backfill catches up to it, and a new live job\n"
      "continues from both: unchanged segments keep the live state, changed ones take the\n"
      "backfill's, and the audience switches in one commit. --wait follows the upgrade.\n\n"
      "The job file's relative paths resolve on the cluster against the first --data-root of\n"
      "the coordinator and workers (not this folder); every path must lie inside their data\n"
      "roots, or the job is refused naming it. --state-dir and --from-savepoint are made\n"
      "absolute here, against the current directory.\n\noptions");
  opts.add_options()("help,h", "show this help")("coordinator", CoordinatorValue(), kCoordinatorHelp)(
      "bounded", "replay the log up to its end at start, then finish")(
      "until", po::value<std::string>(), "bounded: evaluate instants up to TIME, or stop at offsets:P=O,...")(
      "state-dir", po::value<std::string>(), "the job's state folder (default: <dir of log>/state/<job>)")(
      "wait", "wait for the job to end and print its summary")(
      "from-savepoint", po::value<std::string>(), "start from this savepoint folder")(
      "from", po::value<std::string>(),
      "reprocess from earliest | latest | time:T | offsets:P=O,... (state starts empty there)")(
      "end-with-savepoint", "bounded: end with a savepoint at the end offsets (backfill -> live handover)")(
      "runtime-mode", po::value<std::string>(), "bounded: batch (default) or streaming")(
      "merge-savepoint", po::value<std::string>(),
      "with --from-savepoint: a backfill's savepoint at the same offsets; changed segments take its state");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("submit", argc, argv, opts, &vm)) return *done;
  if (!vm.count("job")) {
    std::cerr << "segflow submit: missing JOB.yaml\n" << opts << "\n";
    return 2;
  }
  SubmitRequest req;
  req.bounded = vm.count("bounded") > 0;
  if (vm.count("until")) {
    if (!req.bounded) {
      std::cerr << "segflow submit: --until needs --bounded\n";
      return 2;
    }
    const std::string until = vm["until"].as<std::string>();
    if (until.rfind("offsets:", 0) == 0) {
      req.until_offsets = until.substr(8);  // checked against the log by the coordinator
    } else if (until.rfind("savepoint:", 0) == 0) {
      std::error_code ec;
      req.until_savepoint = std::filesystem::absolute(until.substr(10), ec).lexically_normal().string();
    } else {
      auto t = ParseTimeArg(until);
      if (!t.ok()) {
        std::cerr << "segflow submit: --until: " << t.status().message() << " (or offsets:P=O,...)\n";
        return 2;
      }
      req.has_until = true;
      req.until = *t;
    }
  }
  // Folders given here are relative to where the user typed them; the coordinator and
  // workers check them against their --data-root folders.
  if (vm.count("state-dir")) {
    std::error_code ec;
    req.state_dir = std::filesystem::absolute(vm["state-dir"].as<std::string>(), ec).lexically_normal().string();
  }
  if (vm.count("from-savepoint")) {
    std::error_code ec;
    req.from_savepoint =
        std::filesystem::absolute(vm["from-savepoint"].as<std::string>(), ec).lexically_normal().string();
  }
  if (vm.count("from")) req.from = vm["from"].as<std::string>();
  if (vm.count("merge-savepoint")) {
    std::error_code ec;
    req.merge_savepoint =
        std::filesystem::absolute(vm["merge-savepoint"].as<std::string>(), ec).lexically_normal().string();
  }
  if (vm.count("runtime-mode")) {
    const std::string mode = vm["runtime-mode"].as<std::string>();
    if (!req.bounded || (mode != "batch" && mode != "streaming")) {
      std::cerr << "segflow submit: --runtime-mode " << mode
                << (req.bounded ? ": give batch or streaming\n" : ": needs --bounded (a live job streams)\n");
      return 2;
    }
    req.streaming = mode == "streaming";
  }
  req.end_with_savepoint = vm.count("end-with-savepoint") > 0;
  if (req.end_with_savepoint && !req.bounded) {
    std::cerr << "segflow submit: --end-with-savepoint needs --bounded\n";
    return 2;
  }
  const std::string path = vm["job"].as<std::string>();
  // Validate here too: the same errors, without a round trip, and the summary needs the spec.
  JobParseResult parsed = ParseJobFile(path);
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText();
    std::cerr << "segflow submit: " << parsed.errors.size() << " error(s) in " << path << "; nothing was deployed\n";
    return 1;
  }
  auto client = ClusterClient::Connect(vm["coordinator"].as<std::string>());
  if (!client.ok()) {
    std::cerr << "segflow submit: " << client.status().message() << "\n";
    return 1;
  }
  bool upgrade = false;
  auto id = SubmitJob(client->get(), path, req, &upgrade);
  if (!id.ok()) {
    std::cerr << "segflow submit: " << id.status().message() << "\n";
    return 1;
  }
  std::printf("%s\n", id->c_str());
  std::fflush(stdout);
  if (!vm.count("wait")) return 0;
  if (upgrade) {
    auto outcome = FollowUpgrade(client->get(), *id);
    if (!outcome.ok()) {
      std::cerr << "segflow submit: " << outcome.status().message() << "\n";
      return 1;
    }
    if (outcome->phase == wire::UpgradePhase::FAILED) {
      std::cerr << "segflow submit: upgrade " << *id << " failed: " << outcome->reason << "\n";
      return 1;
    }
    std::printf("%s\n", outcome->new_job.c_str());
    return 0;
  }
  InstallStopHandlers();
  auto outcome = FollowJob(client->get(), *id, &g_stop, true);
  if (!outcome.ok()) {
    std::cerr << "segflow submit: " << outcome.status().message() << "\n";
    return 1;
  }
  if (outcome->state == wire::JobState::FAILED) {
    std::cerr << "segflow submit: job " << *id << " failed: " << outcome->reason << "\n";
    return 1;
  }
  const int summary = PrintJobSummary(parsed.job, outcome->report);
  if (!outcome->savepoint.empty()) {
    // On stdout with the summary: a script continues from it (--from-savepoint).
    std::printf("savepoint: %s\n", outcome->savepoint.c_str());
    std::fflush(stdout);
  }
  return summary;
}

int JobsCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow jobs [--coordinator HOST:PORT] [--json]\n"
      "                    [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "Lists the cluster's jobs and workers.\n\noptions");
  opts.add_options()("help,h", "show this help")("coordinator", CoordinatorValue(), kCoordinatorHelp)(
      "json", "print the jobs as GET /v1/jobs answers (one JSON array)");
  po::variables_map vm;
  if (auto done = ParsePlain("jobs", argc, argv, opts, &vm)) return *done;
  auto client = ClusterClient::Connect(vm["coordinator"].as<std::string>());
  if (!client.ok()) {
    std::cerr << "segflow jobs: " << client.status().message() << "\n";
    return 1;
  }
  auto reply = (*client)->Status("");
  if (!reply.ok()) {
    std::cerr << "segflow jobs: " << reply.status().message() << "\n";
    return 1;
  }
  auto sr = (*reply)->Root<wire::ControlMessage>().getStatusReply();
  if (vm.count("json")) {
    const auto json = coordinator::JobListJson(sr);
    std::printf("%s\n", json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("%-32s %-11s %-8s %12s  %s\n", "JOB ID", "STATE", "ATTEMPT", "RECORDS IN", "REASON");
  for (auto j : sr.getJobs()) {
    std::printf("%-32s %-11s %-8u %12llu  %s\n", j.getJobId().cStr(), JobStateName(j.getState()), j.getAttempt(),
                static_cast<unsigned long long>(j.getRecordsIn()), j.getReason().cStr());
  }
  if (sr.getUpgrades().size() > 0) {
    std::printf("\n%-32s %-15s %s\n", "UPGRADE", "PHASE", "JOBS / REASON");
    for (auto u : sr.getUpgrades()) {
      std::printf("%-32s %-15s live %s, backfill %s%s%s%s%s\n", u.getUpgradeId().cStr(), coordinator::UpgradePhaseText(u.getPhase()),
                  u.getLiveJob().cStr(), u.getBackfillJob().cStr(), u.getNewJob().size() > 0 ? ", new " : "",
                  u.getNewJob().cStr(), u.getReason().size() > 0 ? ": " : "", u.getReason().cStr());
    }
  }
  std::printf("\nworkers:\n");
  for (auto w : sr.getWorkers()) {
    std::printf("  worker %-3u %-22s pid %-7d %u/%u slots free  %s\n", w.getWorkerId(), w.getAddress().cStr(),
                w.getPid(), w.getFreeSlots(), w.getSlots(), w.getAlive() ? "alive" : "lost");
  }
  return 0;
}

int StatusCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow status JOB_ID [--coordinator HOST:PORT] [--json]\n"
      "                     [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "A job's state and, per task: its worker, key groups or partitions and offsets,\n"
      "watermark, records in/out and time blocked by backpressure.\n\noptions");
  opts.add_options()("help,h", "show this help")("coordinator", CoordinatorValue(), kCoordinatorHelp)(
      "json", "print what GET /v1/jobs/JOB_ID answers (one JSON object)");
  po::variables_map vm;
  if (auto done = ParsePlain("status", argc, argv, opts, &vm, "id")) return *done;
  if (!vm.count("id")) {
    std::cerr << "segflow status: missing JOB_ID (segflow jobs lists them)\n";
    return 2;
  }
  auto client = ClusterClient::Connect(vm["coordinator"].as<std::string>());
  if (!client.ok()) {
    std::cerr << "segflow status: " << client.status().message() << "\n";
    return 1;
  }
  auto reply = (*client)->Status(vm["id"].as<std::string>());
  if (!reply.ok()) {
    std::cerr << "segflow status: " << reply.status().message() << "\n";
    return 1;
  }
  auto sr = (*reply)->Root<wire::ControlMessage>().getStatusReply();
  if (!sr.getOk()) {
    std::cerr << "segflow status: " << sr.getError().cStr() << "\n";
    return 1;
  }
  if (vm.count("json")) {
    const auto json = sr.getJobs().size() == 1 ? coordinator::JobStatusJson(sr.getJobs()[0])
                                               : coordinator::UpgradeStatusJson(sr.getUpgrades()[0]);
    std::printf("%s\n", json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  if (sr.getJobs().size() == 0 && sr.getUpgrades().size() == 1) {
    auto u = sr.getUpgrades()[0];
    std::printf("upgrade %s (%s, %s): %s\n", u.getUpgradeId().cStr(), u.getName().cStr(), u.getJobFile().cStr(),
                coordinator::UpgradePhaseText(u.getPhase()));
    std::printf("  segments: %s\n", u.getCarryOver().cStr());
    std::printf("  live job (old version): %s\n", u.getLiveJob().cStr());
    std::printf("  backfill (new version): %s, round %u\n", u.getBackfillJob().cStr(), u.getRounds());
    if (u.getNewJob().size() > 0) std::printf("  new live job: %s\n", u.getNewJob().cStr());
    if (u.getLiveSavepoint().size() > 0) std::printf("  live savepoint: %s\n", u.getLiveSavepoint().cStr());
    if (u.getBackfillSavepoint().size() > 0) std::printf("  backfill savepoint: %s\n", u.getBackfillSavepoint().cStr());
    if (u.getReason().size() > 0) std::printf("  %s\n", u.getReason().cStr());
    return 0;
  }
  auto j = sr.getJobs()[0];
  std::printf("job %s (%s, %s): %s, attempt %u, %u restart(s), %s\n", j.getJobId().cStr(), j.getName().cStr(),
              j.getJobFile().cStr(), JobStateName(j.getState()), j.getAttempt(), j.getRestarts(),
              j.getBounded() ? "bounded" : "live");
  if (j.getReason().size() > 0) std::printf("  reason: %s\n", j.getReason().cStr());
  if (j.getLastFailure().size() > 0) std::printf("  last failure: %s\n", j.getLastFailure().cStr());
  std::printf("  records in %llu, late %llu, evaluated through %s\n",
              static_cast<unsigned long long>(j.getRecordsIn()), static_cast<unsigned long long>(j.getLateRecords()),
              WatermarkText(j.getHasEvaluated(), j.getEvaluatedThrough()).c_str());
  if (IsTerminal(j.getState()) && j.getState() != wire::JobState::FAILED) {
    std::printf("  changelog: %llu entered, %llu exited\n", static_cast<unsigned long long>(j.getEntered()),
                static_cast<unsigned long long>(j.getExited()));
  }
  {
    auto c = j.getCheckpoints();
    if (c.getEnabled()) {
      std::printf("  checkpoints every %lld ms: %llu completed, %llu abandoned", static_cast<long long>(c.getIntervalMs()),
                  static_cast<unsigned long long>(c.getCompleted()), static_cast<unsigned long long>(c.getAbandoned()));
      if (c.getLastCompletedId() > 0) {
        std::printf("; last %llu in %lld ms, %llu bytes (%s)", static_cast<unsigned long long>(c.getLastCompletedId()),
                    static_cast<long long>(c.getLastDurationMs()), static_cast<unsigned long long>(c.getLastBytes()),
                    c.getLastPath().cStr());
      }
      std::printf("\n");
      if (c.getRestoredFrom().size() > 0) std::printf("  attempt restored from %s\n", c.getRestoredFrom().cStr());
    }
  }
  std::printf("tasks:\n");
  for (auto t : j.getTasks()) {
    auto m = t.getMetrics();
    std::string what = KindName(m.getKind());
    if (m.getKind() != wire::TaskKind::SINK) what += " " + std::to_string(m.getIndex());
    std::printf("  %-9s worker %u (%s)%s: in %llu, out %llu, blocked %s, watermark %s\n", what.c_str(),
                t.getWorker(), t.getWorkerAddress().cStr(), m.getDone() ? " done" : "",
                static_cast<unsigned long long>(m.getRecordsIn()), static_cast<unsigned long long>(m.getRecordsOut()),
                DurationText(m.getBlockedNs()).c_str(), WatermarkText(m.getHasWatermark(), m.getWatermark()).c_str());
    if (m.getKind() == wire::TaskKind::KEYED) {
      std::printf("            key groups %u-%u\n", m.getKeyGroupFirst(), m.getKeyGroupLast());
    }
    for (auto p : m.getPartitions()) {
      std::printf("            topic %u partition %u: offset %llu%s, watermark %s\n", p.getTopic(), p.getPartition(),
                  static_cast<unsigned long long>(p.getOffset()),
                  j.getBounded() ? (" of " + std::to_string(p.getEndOffset())).c_str() : "",
                  WatermarkText(p.getHasWatermark(), p.getWatermark()).c_str());
    }
  }
  return 0;
}

int SavepointCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow savepoint JOB_ID [--coordinator HOST:PORT] [--stop] [--dir DIR]\n"
      "                        [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "Takes a savepoint of a running job (it needs a checkpoint block): a self-contained copy\n"
      "of a checkpoint that `segflow submit --from-savepoint` starts from, with any parallelism.\n"
      "--stop stops the job right at the savepoint. Each savepoint is a new folder\n"
      "savepoint-<job id>-<checkpoint id> (a random suffix if that name is taken) in --dir\n"
      "(created if missing; it may hold other savepoints, none is ever overwritten), by\n"
      "default in <checkpoint dir>/savepoints. Prints the savepoint's folder.\n\noptions");
  opts.add_options()("help,h", "show this help")("coordinator", CoordinatorValue(), kCoordinatorHelp)(
      "stop", "stop the job at the savepoint")("dir", po::value<std::string>(),
                                                "write the savepoint into a new folder inside DIR (default: beside the job's checkpoints)");
  po::variables_map vm;
  if (auto done = ParsePlain("savepoint", argc, argv, opts, &vm, "id")) return *done;
  if (!vm.count("id")) {
    std::cerr << "segflow savepoint: missing JOB_ID (segflow jobs lists them)\n";
    return 2;
  }
  auto client = ClusterClient::Connect(vm["coordinator"].as<std::string>());
  if (!client.ok()) {
    std::cerr << "segflow savepoint: " << client.status().message() << "\n";
    return 1;
  }
  const std::string id = vm["id"].as<std::string>();
  auto last_savepoint = [&]() -> Result<std::pair<std::string, std::string>> {
    auto reply = (*client)->Status(id);
    if (!reply.ok()) return reply.status();
    auto sr = (*reply)->Root<wire::ControlMessage>().getStatusReply();
    if (!sr.getOk()) return Status::NotFound(sr.getError().cStr());
    auto c = sr.getJobs()[0].getCheckpoints();
    if (c.getSavepointPending()) return std::make_pair(std::string("\x01pending"), std::string());
    return std::make_pair(std::string(c.getLastSavepoint().cStr()), std::string(c.getSavepointError().cStr()));
  };
  auto before = last_savepoint();
  if (!before.ok()) {
    std::cerr << "segflow savepoint: " << before.status().message() << "\n";
    return 1;
  }
  capnp::MallocMessageBuilder msg;
  auto req = msg.initRoot<wire::ControlMessage>().initSavepoint();
  req.setJobId(id);
  req.setStop(vm.count("stop") > 0);
  if (vm.count("dir")) {
    std::error_code ec;
    req.setDir(std::filesystem::absolute(vm["dir"].as<std::string>(), ec).lexically_normal().string());
  }
  auto reply = (*client)->Call(msg);
  if (!reply.ok()) {
    std::cerr << "segflow savepoint: " << reply.status().message() << "\n";
    return 1;
  }
  auto r = (*reply)->Root<wire::ControlMessage>().getSavepointReply();
  if (!r.getOk()) {
    std::cerr << "segflow savepoint: " << r.getError().cStr() << "\n";
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto now = last_savepoint();
    if (!now.ok()) {
      std::cerr << "segflow savepoint: " << now.status().message() << "\n";
      return 1;
    }
    if (now->first != "\x01pending") {
      if (!now->second.empty()) {
        std::cerr << "segflow savepoint: " << now->second << "\n";
        return 1;
      }
      if (now->first != before->first && !now->first.empty()) {
        std::printf("%s\n", now->first.c_str());
        return 0;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "segflow savepoint: no savepoint within 120 s (segflow status " << id << " says why)\n";
  return 1;
}

int CancelCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow cancel JOB_ID|UPGRADE_ID [--coordinator HOST:PORT] [--wait]\n"
      "                     [--secret-file F] [--tls-cert F --tls-key F --tls-ca F]\n\n"
      "Stops a job: its sources stop, and what it evaluated so far is committed. An upgrade\n"
      "is canceled while it backfills (its backfill stops; the live job keeps serving).\n\noptions");
  opts.add_options()("help,h", "show this help")("coordinator", CoordinatorValue(), kCoordinatorHelp)("wait", "wait until it has stopped");
  po::variables_map vm;
  if (auto done = ParsePlain("cancel", argc, argv, opts, &vm, "id")) return *done;
  if (!vm.count("id")) {
    std::cerr << "segflow cancel: missing JOB_ID (segflow jobs lists them)\n";
    return 2;
  }
  auto client = ClusterClient::Connect(vm["coordinator"].as<std::string>());
  if (!client.ok()) {
    std::cerr << "segflow cancel: " << client.status().message() << "\n";
    return 1;
  }
  const std::string id = vm["id"].as<std::string>();
  capnp::MallocMessageBuilder msg;
  msg.initRoot<wire::ControlMessage>().initCancelJob().setJobId(id);
  auto reply = (*client)->Call(msg);
  if (!reply.ok()) {
    std::cerr << "segflow cancel: " << reply.status().message() << "\n";
    return 1;
  }
  auto cr = (*reply)->Root<wire::ControlMessage>().getCancelReply();
  if (!cr.getOk()) {
    std::cerr << "segflow cancel: " << cr.getError().cStr() << "\n";
    return 1;
  }
  if (auto status = (*client)->Status(id); status.ok()) {
    auto sr = (*status)->Root<wire::ControlMessage>().getStatusReply();
    if (sr.getOk() && sr.getJobs().size() == 0 && sr.getUpgrades().size() == 1) {
      // An upgrade is canceled at once (its backfill stops; the live job was never touched).
      std::printf("upgrade %s: %s\n", id.c_str(), coordinator::UpgradePhaseText(sr.getUpgrades()[0].getPhase()));
      return 0;
    }
  }
  if (vm.count("wait")) {
    auto outcome = FollowJob(client->get(), id, nullptr, false);
    if (!outcome.ok()) {
      std::cerr << "segflow cancel: " << outcome.status().message() << "\n";
      return 1;
    }
    std::printf("job %s: %s\n", id.c_str(), JobStateName(outcome->state));
  } else {
    std::printf("job %s: cancel requested\n", id.c_str());
  }
  return 0;
}

}  // namespace segflow::cli
