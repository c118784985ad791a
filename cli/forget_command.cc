// segflow forget USER JOB.yaml... [--reason TEXT] [--before T]: erases a user from every
// job on the jobs' logs (issue 6 item 5); see operators/sink/erasure_ledger.h.
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/time_format.h"
#include "engine/value/value.h"
#include "jobs/job_parser.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/audience_versions.h"
#include "operators/sink/erasure_ledger.h"
#include "operators/sink/postgres_committer.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace segflow::cli {

int ForgetCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow forget USER JOB.yaml... [--reason TEXT] [--before TIME]\n\n"
      "Erases USER from every job on the logs of the given jobs: appends a forget record to\n"
      "<dir of log>/governance/ledger.jsonl (the audit log, also read by every job's tasks),\n"
      "then deletes USER's rows from the audience stores under <dir of log>/audience/ and the\n"
      "jobs' own and shared stores, and from the jobs' PostgreSQL tables (output.postgres).\n"
      "From then on every source task reads past USER's records\n"
      "up to the erasure (no keyed state, checkpoint or late record of them in any run started\n"
      "or restarted after it), every sink drops USER's changes and stores refuse writes of USER\n"
      "up to it. Running jobs pick the record up within a second: their keyed tasks delete USER's\n"
      "state (so no later checkpoint holds it), and so does every restore from a checkpoint or\n"
      "savepoint taken before. The log and older checkpoint folders are not rewritten.\n"
      "TIME (default now): erase records and changes with ts <= TIME.\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "reason", po::value<std::string>()->default_value(""), "recorded in the audit log")(
      "before", po::value<std::string>(), "erase what is at or before TIME (epoch ms or RFC 3339)");
  // The positional arguments (USER, then the job files): not listed as options.
  po::options_description positional;
  positional.add_options()("user", po::value<std::string>())("job",
                                                             po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(positional);
  po::positional_options_description pos;
  pos.add("user", 1).add("job", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "segflow forget: " << e.what() << "\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (!vm.count("user") || !vm.count("job")) {
    std::cerr << "segflow forget: needs USER and at least one JOB.yaml\n" << opts << "\n";
    return 2;
  }
  const std::string user = vm["user"].as<std::string>();
  if (user.empty()) {
    std::cerr << "segflow forget: USER is empty\n";
    return 2;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  int64_t erased_at = now;
  if (vm.count("before")) {
    auto t = ParseTimeArg(vm["before"].as<std::string>());
    if (!t.ok()) {
      std::cerr << "segflow forget: --before: " << t.status().message() << "\n";
      return 2;
    }
    erased_at = *t;
  }
  std::vector<JobSpec> jobs;
  for (const auto& path : vm["job"].as<std::vector<std::string>>()) {
    JobParseResult parsed = ParseJobFile(path);
    if (!parsed.ok()) {
      std::cerr << parsed.ErrorText() << "segflow forget: nothing was erased\n";
      return 1;
    }
    jobs.push_back(parsed.job);
  }
  // The ledger record first: it is the erasure (tasks and later runs act on it).
  std::set<std::string> ledgers;
  std::set<std::string> stores;
  ValueArray job_names;
  for (const auto& job : jobs) {
    ledgers.insert(LedgerPath(job));
    job_names.push_back(Value::String(job.name));
    stores.insert(job.output.audience_dir);
    if (!job.output.shared_audience_dir.empty()) stores.insert(job.output.shared_audience_dir);
    std::error_code ec;
    const fs::path dir = fs::path(job.log_dir).parent_path() / "audience";
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory()) stores.insert(it->path().string());
    }
  }
  const std::string record =
      Value::Object({{"action", Value::String("forget")},
                     {"user", Value::String(user)},
                     {"erased_at", Value::Int(erased_at)},
                     {"requested_at", Value::String(FormatRfc3339Millis(now))},
                     {"reason", Value::String(vm["reason"].as<std::string>())},
                     {"jobs", Value::Array(job_names)}})
          .ToJson();
  for (const auto& ledger : ledgers) {
    Status s = AppendLedger(ledger, record);
    if (!s.ok()) {
      std::cerr << "segflow forget: " << s.message() << "\n";
      return 1;
    }
    std::printf("recorded the erasure of %s (records and changes at or before %s) in %s\n",
                user.c_str(), FormatRfc3339Millis(erased_at).c_str(), ledger.c_str());
  }
  // Then the stores that no running job holds; a running job's sink erases its own.
  int failures = 0;
  ValueArray results;
  for (const auto& dir : stores) {
    if (!fs::exists(fs::path(dir) / "CURRENT")) continue;
    uint64_t removed = 0;
    Status s = WithSharedStore(dir, 2000, [&](AudienceStore* store) {
      auto n = store->Erase(user, erased_at);
      if (!n.ok()) return n.status();
      removed = *n;
      return Status::OK();
    });
    std::string outcome;
    if (s.ok()) {
      outcome = "erased " + std::to_string(removed) + " membership(s)";
    } else if (s.code() == Status::Code::kBusy) {
      outcome = "in use by a running job, whose sink erases it within a second";
    } else {
      outcome = "FAILED: " + s.message();
      ++failures;
    }
    std::printf("  %s: %s\n", dir.c_str(), outcome.c_str());
    results.push_back(
        Value::Object({{"store", Value::String(dir)}, {"outcome", Value::String(outcome)}}));
    // Frozen versions of the store (audience_versions.h) hold members too.
    const std::string frozen_dir = FrozenVersionsDir(dir);
    if (!fs::exists(frozen_dir)) continue;
    auto erased = EraseFromFrozenVersions(dir, user);
    outcome = erased.ok() ? "erased " + std::to_string(*erased) + " membership(s) from frozen versions"
                          : "FAILED: " + erased.status().message();
    if (!erased.ok()) ++failures;
    std::printf("  %s: %s\n", frozen_dir.c_str(), outcome.c_str());
    results.push_back(
        Value::Object({{"store", Value::String(frozen_dir)}, {"outcome", Value::String(outcome)}}));
  }
  // The jobs' PostgreSQL tables (output.postgres): rows deleted, the erasure recorded so
  // that no older write adds the user back (postgres_committer.h).
  std::set<std::pair<std::string, std::string>> tables;
  for (const auto& job : jobs) {
    if (!job.output.postgres.enabled()) continue;
    if (!tables.insert({job.output.postgres.dsn, job.output.postgres.table}).second) continue;
    Status s;
    auto pg = PostgresCommitter::Open(job, false, nullptr);
    s = pg.ok() ? (*pg)->Erase(user, erased_at) : pg.status();
    const std::string where = "postgres table " + job.output.postgres.table;
    const std::string outcome = s.ok() ? "erased" : "FAILED: " + s.message();
    if (!s.ok()) ++failures;
    std::printf("  %s: %s\n", where.c_str(), outcome.c_str());
    results.push_back(
        Value::Object({{"store", Value::String(where)}, {"outcome", Value::String(outcome)}}));
  }
  // What the jobs' keyed tasks do (they act on the forget record, not on this one).
  const std::string keyed_state =
      "running jobs delete the user's keyed state within a second of the forget record, before "
      "their next checkpoint; restores from checkpoints or savepoints delete it before they "
      "start; checkpoint and savepoint folders written before keep it until they are deleted";
  std::printf(
      "  keyed state of running jobs: erased within a second, and again by any restore from an "
      "older checkpoint or savepoint\n");
  const std::string applied = Value::Object({{"action", Value::String("forget-applied")},
                                             {"user", Value::String(user)},
                                             {"erased_at", Value::Int(erased_at)},
                                             {"stores", Value::Array(std::move(results))},
                                             {"keyed_state", Value::String(keyed_state)}})
                                  .ToJson();
  for (const auto& ledger : ledgers) {
    Status s = AppendLedger(ledger, applied);
    if (!s.ok()) {
      std::cerr << "segflow forget: " << s.message() << "\n";
      return 1;
    }
  }
  if (failures > 0) {
    std::cerr << "segflow forget: " << failures
              << " store(s) could not be erased now; the ledger record stands and each job erases "
                 "its stores when "
                 "it next runs\n";
    return 1;
  }
  return 0;
}

}  // namespace segflow::cli
