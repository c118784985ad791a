// segflow audience JOB.yaml --segment ID [--at TIME] [--version V] [--count] (spec §8),
// segflow audience JOB.yaml --versions [--segment ID], or
// segflow audience --store DIR --segment ID [--count] (a shared, reconciled store).
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/sink/audience_query.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/audience_versions.h"
#include "operators/sink/erasure_ledger.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

std::string Instant(std::optional<int64_t> ms) {
  if (!ms) return "nothing";
  return FormatRfc3339Millis(*ms) + " (" + std::to_string(*ms) + ")";
}

void PrintMembers(const std::vector<std::string>& members, bool count) {
  if (count) {
    std::printf("%zu\n", members.size());
    return;
  }
  std::string out;
  for (const auto& m : members) {
    out += m;
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

// The job's own store for reading; null (not an error) when the job never ran.
Result<std::unique_ptr<AudienceStore>> OpenOwnStore(const JobSpec& job) {
  auto store = AudienceStore::OpenForRead(job.output.audience_dir);
  if (!store.ok() && store.status().code() == Status::Code::kNotFound)
    return std::unique_ptr<AudienceStore>();
  return store;
}

// --version V: the serving version reads the store (one read-only view: its version
// label and its members are of the same commit), any other NonServingMembers.
int MembersOfVersion(const JobSpec& job, const std::string& segment, const std::string& wanted,
                     std::optional<int64_t> at, bool count) {
  auto store = OpenOwnStore(job);
  Result<std::vector<std::string>> members = store.status();
  if (store.ok()) {
    auto versions = FindSegmentVersions(store->get(), job.output.audience_dir, segment);
    Result<std::string> version = versions.ok() ? ResolveVersion(*versions, segment, wanted)
                                                : Result<std::string>(versions.status());
    if (!version.ok()) {
      std::cerr << "segflow audience: --version: " << version.status().message() << "\n";
      return version.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
    }
    if (*version == versions->serving) {
      members = AudienceAt(job, segment, at);
    } else if (at) {
      std::cerr << "segflow audience: --at reads the history of the serving version only; version "
                << *version << " of segment " << segment
                << " no longer serves (its members are as of its evaluated time: "
                << "drop --at)\n";
      return 2;
    } else {
      members = NonServingMembers(*versions, job.output.audience_dir, segment, *version);
      // Erased users (segflow forget) are in no answer; forget erases the frozen versions
      // and the backfill's store with the own one.
      auto erasures = LoadErasures(LedgerPath(job));
      if (!erasures.ok()) {
        members = erasures.status();
      } else if (members.ok()) {
        Status s = DropErasedMembers(*erasures, store->get(), &*members);
        if (!s.ok()) members = s;
      }
    }
  }
  if (!members.ok()) {
    std::cerr << "segflow audience: " << members.status().message() << "\n";
    return 1;
  }
  PrintMembers(*members, count);
  return 0;
}

// --versions: per segment the serving version, the frozen ones, the backfill's.
int ListVersions(const JobSpec& job, std::optional<std::string> only) {
  auto store = OpenOwnStore(job);
  if (!store.ok()) {
    std::cerr << "segflow audience: " << store.status().message() << "\n";
    return 1;
  }
  const AudienceStore* own = store->get();
  std::set<std::string> segments;
  for (const auto& s : job.segments) segments.insert(s.id);
  if (own != nullptr) {
    auto recorded = own->Versions();
    auto in_store = own->Segments();
    if (!recorded.ok() || !in_store.ok()) {
      std::cerr << "segflow audience: "
                << (recorded.ok() ? in_store.status() : recorded.status()).message() << "\n";
      return 1;
    }
    for (const auto& [s, _] : *recorded) segments.insert(s);
    segments.insert(in_store->begin(), in_store->end());
  }
  auto frozen_names = ListFrozenVersions(job.output.audience_dir);
  if (!frozen_names.ok()) {
    std::cerr << "segflow audience: " << frozen_names.status().message() << "\n";
    return 1;
  }
  for (const auto& n : *frozen_names) segments.insert(n.segment);
  if (only) {
    if (!segments.count(*only)) {
      std::string known;
      for (const auto& s : segments) known += (known.empty() ? "" : ", ") + s;
      std::cerr << "segflow audience: job " << job.name << " has no segment \"" << *only
                << "\" (segments: " << known << ")\n";
      return 1;
    }
    segments = {*only};
  }
  auto loaded = LoadErasures(LedgerPath(job));
  if (!loaded.ok()) {
    std::cerr << "segflow audience: " << loaded.status().message() << "\n";
    return 1;
  }
  const Erasures& erasures = *loaded;
  std::optional<int64_t> evaluated;
  if (own != nullptr) {
    auto e = own->EvaluatedThrough();
    if (e.ok()) evaluated = *e;
  }
  std::printf("job %s, audience store %s%s\n", job.name.c_str(), job.output.audience_dir.c_str(),
              own == nullptr ? " (not created yet: the job has not run)" : "");
  int failures = 0;
  for (const auto& segment : segments) {
    auto versions = FindSegmentVersions(own, job.output.audience_dir, segment);
    if (!versions.ok()) {
      std::printf("segment %s: FAILED: %s\n", segment.c_str(), versions.status().message().c_str());
      ++failures;
      continue;
    }
    const auto defined = job.segment_versions.find(segment);
    const bool in_job = defined != job.segment_versions.end();
    std::string line = "segment " + segment + ": ";
    if (versions->serving) {
      line += "serving " + *versions->serving;
      auto n = own->CountMembers(segment);
      if (n.ok() && !erasures.empty()) {
        // Users erased (segflow forget) whose erasure the store has not applied yet.
        auto members = own->Members(segment);
        Status s = members.ok() ? DropErasedMembers(erasures, own, &*members) : members.status();
        n = s.ok() ? Result<uint64_t>(static_cast<uint64_t>(members->size())) : Result<uint64_t>(s);
      }
      if (n.ok()) line += ", " + std::to_string(*n) + " members";
      line += ", evaluated through " + Instant(evaluated);
    } else if (own != nullptr && in_job && evaluated) {
      line +=
          "serving unversioned (the store was written by a Segflow that did not record versions)";
    } else {
      line += in_job ? "not serving yet" : "not serving (removed from the job)";
    }
    if (in_job && versions->serving && defined->second != *versions->serving) {
      line += "; the job file defines " + defined->second + " (not deployed yet)";
    }
    std::printf("%s\n", line.c_str());
    for (const auto& v : versions->frozen) {
      auto f = ReadFrozenVersion(job.output.audience_dir, segment, v);
      if (!f.ok()) {
        std::printf("  frozen %s: DAMAGED: %s\n", v.c_str(), f.status().message().c_str());
        ++failures;
        continue;
      }
      std::printf("  frozen %s: %llu members, evaluated through %s, frozen at %s%s\n", v.c_str(),
                  static_cast<unsigned long long>(f->member_count),
                  Instant(f->evaluated_through).c_str(),
                  FormatRfc3339Millis(f->frozen_at_ms).c_str(),
                  v == versions->serving ? " (serving again since: the store is read)" : "");
    }
    if (versions->backfill) {
      const std::string dir = BackfillAudienceDir(job.output.audience_dir);
      auto backfill = AudienceStore::OpenForRead(dir);
      std::string detail = "store " + dir;
      if (backfill.ok()) {
        auto n = (*backfill)->CountMembers(segment);
        auto e = (*backfill)->EvaluatedThrough();
        if (n.ok() && e.ok()) {
          detail =
              std::to_string(*n) + " members, evaluated through " + Instant(*e) + ", " + detail;
        }
      }
      std::printf("  backfill %s: %s\n", versions->backfill->c_str(), detail.c_str());
    }
  }
  if (failures > 0) {
    std::cerr << "segflow audience: " << failures << " version(s) could not be read (see above)\n";
    return 1;
  }
  return 0;
}

}  // namespace

int AudienceCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow audience JOB.yaml --segment ID [--at TIME] [--version V] [--count]\n"
      "       segflow audience JOB.yaml --versions [--segment ID]\n"
      "       segflow audience --store DIR --segment ID [--count]\n\n"
      "Prints a segment's members (sorted, one a line) as of TIME, or as of the job's evaluated\n"
      "time without --at: the instant `segflow status` reports as \"evaluated through\" (and\n"
      "--versions prints), through which every partition has been evaluated; changes of\n"
      "partitions that ran ahead of it are not in the audience until it reaches them, so the\n"
      "answer equals --at that instant. A TIME the job has not evaluated yet is an error.\n"
      "Users erased by segflow forget are in no answer. TIME: epoch ms or\n"
      "RFC 3339. --version V reads one version of the segment (V: its 16 hex digits or a unique\n"
      "prefix of at least 4): the serving one, one frozen when an edited job file replaced it\n"
      "(as of the time it stopped serving; no --at), or the one an upgrade backfill computes.\n"
      "--versions lists per segment the serving version and the frozen ones. --store reads an\n"
      "audience store folder instead (e.g. a shared_audience that several jobs feed): its\n"
      "current members only.\n\noptions");
  opts.add_options()("help,h", "show this help")("segment", po::value<std::string>(), "segment id")(
      "at", po::value<std::string>(), "membership after every instant <= TIME")(
      "count", "print only the number of members")("version", po::value<std::string>(),
                                                   "read this version of the segment")(
      "versions", "list the versions of every segment (or of --segment)")(
      "store", po::value<std::string>(), "read this audience store folder instead of a job's");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("audience", argc, argv, opts, &vm)) return *done;
  if (vm.count("store")) {
    if (vm.count("job") || vm.count("at") || vm.count("version") || vm.count("versions") ||
        !vm.count("segment")) {
      std::cerr << "segflow audience: --store DIR takes --segment ID and no JOB.yaml, --at or "
                   "--version (a store holds "
                   "no history; shared stores are not versioned)\n";
      return 2;
    }
    auto store = AudienceStore::OpenForRead(vm["store"].as<std::string>());
    auto members = store.ok() ? (*store)->Members(vm["segment"].as<std::string>())
                              : Result<std::vector<std::string>>(store.status());
    if (!members.ok()) {
      std::cerr << "segflow audience: " << members.status().message() << "\n";
      return 1;
    }
    PrintMembers(*members, vm.count("count") > 0);
    return 0;
  }
  if (vm.count("versions")) {
    if (!vm.count("job") || vm.count("at") || vm.count("version") || vm.count("count")) {
      std::cerr << "segflow audience: --versions needs JOB.yaml and takes only --segment\n";
      return 2;
    }
  } else if (!vm.count("job") || !vm.count("segment")) {
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
  std::optional<std::string> segment;
  if (vm.count("segment")) segment = vm["segment"].as<std::string>();
  if (vm.count("versions")) return ListVersions(parsed.job, segment);
  if (vm.count("version")) {
    return MembersOfVersion(parsed.job, *segment, vm["version"].as<std::string>(), at,
                            vm.count("count") > 0);
  }
  auto members = AudienceAt(parsed.job, *segment, at);
  if (!members.ok()) {
    std::cerr << "segflow audience: " << members.status().message() << "\n";
    // A segment removed from the job may still have frozen versions to read.
    auto frozen = FindSegmentVersions(nullptr, parsed.job.output.audience_dir, *segment);
    if (parsed.job.FindSegment(*segment) == nullptr && frozen.ok() && !frozen->frozen.empty()) {
      std::cerr << "segflow audience: segment " << *segment << " no longer serves; its frozen versions: "
                << frozen->Describe() << " (read one with --version V)\n";
    }
    return 1;
  }
  PrintMembers(*members, vm.count("count") > 0);
  return 0;
}

}  // namespace segflow::cli
