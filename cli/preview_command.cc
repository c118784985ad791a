// segflow preview JOB.yaml --segment ID [--from TIME] [--until TIME] [--sample N]: the size
// a segment would have at the end of a bounded replay, and a sorted sample of its members,
// from an in-process replay of that segment alone (operators/runtime/segment_preview.h).
// Writes none of the job's outputs.
#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/runtime/segment_preview.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

std::atomic<bool> g_preview_stop{false};

extern "C" void HandlePreviewStop(int) {
  g_preview_stop.store(true);
}

}  // namespace

int PreviewCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow preview JOB.yaml --segment ID [--from TIME] [--until TIME] [--sample N] [--temp-dir DIR]\n\n"
      "Prints the size segment ID would have at the end of a bounded replay of the job's log\n"
      "(what `segflow run JOB.yaml --bounded` then `segflow audience --count` would say) and a\n"
      "sorted sample of its members, from an in-process replay of that segment alone (plus the\n"
      "segments it references). Nothing of the job's is written: no changelog, late records,\n"
      "audience store or checkpoint; state goes to a temporary folder removed at the end.\n"
      "TIME: epoch ms or RFC 3339. --from: each partition starts at its first record with\n"
      "ts >= TIME (state starts empty there).\n\noptions");
  opts.add_options()("help,h", "show this help")("segment", po::value<std::string>(),
                                                 "the segment's id")(
      "from", po::value<std::string>(),
      "replay from the first record at or after TIME (default: the log's start)")(
      "until", po::value<std::string>(),
      "evaluate instants up to TIME (default: the largest ts read)")(
      "sample", po::value<int>()->default_value(10),
      "members to print (sorted, the first N; 0: none)")(
      "temp-dir", po::value<std::string>(),
      "where the temporary state folder goes (default: the system's)");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("preview", argc, argv, opts, &vm)) return *done;
  if (!vm.count("job")) {
    std::cerr << "segflow preview: missing JOB.yaml\n" << opts << "\n";
    return 2;
  }
  if (!vm.count("segment")) {
    std::cerr << "segflow preview: missing --segment ID (the segment to preview)\n";
    return 2;
  }
  PreviewOptions options;
  options.segment = vm["segment"].as<std::string>();
  const int sample = vm["sample"].as<int>();
  if (sample < 0) {
    std::cerr << "segflow preview: --sample must be 0 or more (members to print)\n";
    return 2;
  }
  for (const char* name : {"from", "until"}) {
    if (!vm.count(name)) continue;
    auto t = ParseTimeArg(vm[name].as<std::string>());
    if (!t.ok()) {
      std::cerr << "segflow preview: --" << name << ": " << t.status().message() << "\n";
      return 2;
    }
    if (std::string(name) == "from") {
      options.has_from = true;
      options.from = *t;
    } else {
      options.has_until = true;
      options.until = *t;
    }
  }
  if (options.has_from && options.has_until && options.until < options.from) {
    std::cerr << "segflow preview: --until is before --from\n";
    return 2;
  }
  if (vm.count("temp-dir")) options.temp_parent = vm["temp-dir"].as<std::string>();

  const std::string path = vm["job"].as<std::string>();
  JobParseResult parsed = ParseJobFile(path);
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText();
    std::cerr << "segflow preview: " << parsed.errors.size() << " error(s) in " << path
              << "; nothing was run\n";
    return 1;
  }
  if (parsed.job.FindSegment(options.segment) == nullptr) {
    std::string defined;
    for (const auto& s : parsed.job.segments) defined += (defined.empty() ? "" : ", ") + s.id;
    std::cerr << "segflow preview: unknown segment \"" << options.segment << "\" in " << path
              << " (defined: " << defined << ")\n";
    return 2;
  }
  std::signal(SIGINT, HandlePreviewStop);
  std::signal(SIGTERM, HandlePreviewStop);
  auto result = PreviewSegment(parsed.job, options, &g_preview_stop);
  if (!result.ok()) {
    std::cerr << "segflow preview: segment " << options.segment << " of job " << parsed.job.name
              << ": " << result.status().message() << "\n";
    return 1;
  }
  std::string evaluated;
  for (const auto& s : result->evaluated_segments) evaluated += (evaluated.empty() ? "" : ", ") + s;
  std::printf("%s: %llu members\n", options.segment.c_str(),
              static_cast<unsigned long long>(result->size));
  std::printf(
      "evaluated through %s; %llu records (%llu late) replayed in %.2f s; segments evaluated: %s\n",
      result->has_evaluated ? (FormatRfc3339Millis(result->evaluated_through) + " (" +
                               std::to_string(result->evaluated_through) + ")")
                                  .c_str()
                            : "nothing",
      static_cast<unsigned long long>(result->records_in),
      static_cast<unsigned long long>(result->late_records), result->seconds, evaluated.c_str());
  if (sample > 0) {
    const size_t n = std::min<size_t>(static_cast<size_t>(sample), result->members.size());
    std::printf("sample (first %zu of %llu, sorted):\n", n,
                static_cast<unsigned long long>(result->size));
    std::string out;
    for (size_t i = 0; i < n; ++i) out += result->members[i] + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return 0;
}

}  // namespace segflow::cli
