// segflow drop-version JOB.yaml SEGMENT VERSION: deletes a frozen version of a segment's
// audience (operators/sink/audience_versions.h). The serving version is refused; nothing
// else is written.
#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/audience_versions.h"

namespace po = boost::program_options;

namespace segflow::cli {

int DropVersionCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow drop-version JOB.yaml SEGMENT VERSION\n\n"
      "Deletes a frozen version of SEGMENT's audience: one that stopped serving when an edited\n"
      "job file replaced it (segflow audience JOB.yaml --versions lists them). VERSION: its 16\n"
      "hex digits or a unique prefix of at least 4. The serving version cannot be "
      "dropped.\n\noptions");
  opts.add_options()("help,h", "show this help");
  // The positional arguments: not listed as options.
  po::options_description positional;
  positional.add_options()("job", po::value<std::string>())("segment", po::value<std::string>())(
      "version", po::value<std::string>());
  po::options_description all;
  all.add(opts).add(positional);
  po::positional_options_description pos;
  pos.add("job", 1).add("segment", 1).add("version", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "segflow drop-version: " << e.what() << "\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (!vm.count("job") || !vm.count("segment") || !vm.count("version")) {
    std::cerr << "segflow drop-version: needs JOB.yaml, SEGMENT and VERSION\n" << opts << "\n";
    return 2;
  }
  JobParseResult parsed = ParseJobFile(vm["job"].as<std::string>());
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText() << "segflow drop-version: nothing was dropped\n";
    return 1;
  }
  const JobSpec& job = parsed.job;
  const std::string segment = vm["segment"].as<std::string>();
  auto store = AudienceStore::OpenForRead(job.output.audience_dir);
  if (!store.ok() && store.status().code() != Status::Code::kNotFound) {
    std::cerr << "segflow drop-version: " << store.status().message() << "\n";
    return 1;
  }
  auto versions =
      FindSegmentVersions(store.ok() ? store->get() : nullptr, job.output.audience_dir, segment);
  if (!versions.ok()) {
    std::cerr << "segflow drop-version: " << versions.status().message() << "\n";
    return 1;
  }
  auto version = ResolveVersion(*versions, segment, vm["version"].as<std::string>());
  if (!version.ok()) {
    std::cerr << "segflow drop-version: " << version.status().message() << "\n";
    return version.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  if (*version == versions->serving) {
    std::cerr << "segflow drop-version: " << *version << " is the serving version of segment "
              << segment << " in " << job.output.audience_dir
              << "; only a version that no longer serves can be dropped (a version stops serving "
                 "when a job "
                 "file with another definition of the segment is submitted from a savepoint)\n";
    return 1;
  }
  if (std::find(versions->frozen.begin(), versions->frozen.end(), *version) ==
      versions->frozen.end()) {
    std::cerr << "segflow drop-version: " << *version << " of segment " << segment
              << " is the version the upgrade "
              << "backfill computes in " << BackfillAudienceDir(job.output.audience_dir)
              << ", not a frozen one; nothing was dropped\n";
    return 1;
  }
  // Read it first, so the message says what went (a damaged file is dropped all the same).
  auto frozen = ReadFrozenVersion(job.output.audience_dir, segment, *version);
  Status s = DropFrozenVersion(job.output.audience_dir, segment, *version);
  if (!s.ok()) {
    std::cerr << "segflow drop-version: " << s.message() << "\n";
    return 1;
  }
  if (frozen.ok()) {
    std::printf("dropped version %s of segment %s (%llu members, frozen at %s)\n", version->c_str(),
                segment.c_str(), static_cast<unsigned long long>(frozen->member_count),
                FormatRfc3339Millis(frozen->frozen_at_ms).c_str());
  } else {
    std::printf("dropped version %s of segment %s (its file was damaged: %s)\n", version->c_str(),
                segment.c_str(), frozen.status().message().c_str());
  }
  return 0;
}

}  // namespace segflow::cli
