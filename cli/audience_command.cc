// segflow audience JOB.yaml --segment ID [--at TIME] [--count] (spec §8), or
// segflow audience --store DIR --segment ID [--count] (a shared, reconciled store).
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/sink/audience_query.h"
#include "operators/sink/audience_store.h"

namespace po = boost::program_options;

namespace segflow::cli {

int AudienceCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow audience JOB.yaml --segment ID [--at TIME] [--count]\n"
      "       segflow audience --store DIR --segment ID [--count]\n\n"
      "Prints a segment's members (sorted, one a line) as of TIME, or as of the job's evaluated\n"
      "time without --at. A TIME the job has not evaluated yet is an error. TIME: epoch ms or\n"
      "RFC 3339. --store reads an audience store folder instead (e.g. a shared_audience that\n"
      "several jobs feed): its current members only.\n\noptions");
  opts.add_options()("help,h", "show this help")("segment", po::value<std::string>(), "segment id")(
      "at", po::value<std::string>(), "membership after every instant <= TIME")("count", "print only the number of members")(
      "store", po::value<std::string>(), "read this audience store folder instead of a job's");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("audience", argc, argv, opts, &vm)) return *done;
  if (vm.count("store")) {
    if (vm.count("job") || vm.count("at") || !vm.count("segment")) {
      std::cerr << "segflow audience: --store DIR takes --segment ID and no JOB.yaml or --at (a store holds no "
                   "history)\n";
      return 2;
    }
    auto store = AudienceStore::OpenForRead(vm["store"].as<std::string>());
    auto members = store.ok() ? (*store)->Members(vm["segment"].as<std::string>())
                              : Result<std::vector<std::string>>(store.status());
    if (!members.ok()) {
      std::cerr << "segflow audience: " << members.status().message() << "\n";
      return 1;
    }
    std::string out = vm.count("count") ? std::to_string(members->size()) + "\n" : std::string();
    for (const auto& m : *members) {
      if (!vm.count("count")) out += m + "\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  if (!vm.count("job") || !vm.count("segment")) {
    std::cerr << "segflow audience: needs JOB.yaml and --segment ID\n" << opts << "\n";
    return 2;
  }
  std::optional<int64_t> at;
  if (vm.count("at")) {
    auto t = ParseTimeArg(vm["at"].as<std::string>());
    if (!t.ok()) {
      std::cerr << "segflow audience: --at: " << t.status().message() << "\n";
      return 2;
    }
    at = *t;
  }
  const std::string path = vm["job"].as<std::string>();
  JobParseResult parsed = ParseJobFile(path);
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText();
    return 1;
  }
  auto members = AudienceAt(parsed.job, vm["segment"].as<std::string>(), at);
  if (!members.ok()) {
    std::cerr << "segflow audience: " << members.status().message() << "\n";
    return 1;
  }
  if (vm.count("count")) {
    std::printf("%zu\n", members->size());
    return 0;
  }
  std::string out;
  for (const auto& m : *members) {
    out += m;
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace segflow::cli
