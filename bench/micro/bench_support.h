// Shared helpers of the micro-benchmarks: a scratch directory, jobs compiled from YAML,
// and generated scenario events. Setup failures abort with a message: a benchmark that
// cannot set up must not report a number.
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/generator/scenario_generator.h"
#include "engine/value/json_event.h"
#include "jobs/job_parser.h"
#include "operators/segment/program.h"

namespace segflow::microbench {

[[noreturn]] inline void Fail(const std::string& what) {
  fprintf(stderr, "segflow_micro_bench: setup failed: %s\n", what.c_str());
  abort();
}

// A fresh directory under /tmp, removed with everything in it on destruction.
class BenchDir {
 public:
  BenchDir() {
    char tmpl[] = "/tmp/segflow-bench-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (made == nullptr) Fail("mkdtemp in /tmp");
    path_ = made;
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A job of `segments` (a YAML `segments:` body) with optional top-level `blocks`
// (profile, consent), parsed and validated as a job file is.
inline JobSpec ParseBenchJob(const std::string& segments, const std::string& blocks = "") {
  const std::string text =
      "job: bench\nlog: log\nsource: {topics: [events]}\n" + blocks + "segments:\n" + segments;
  JobParseResult r = ParseJobText(text, "/tmp/segflow-micro-bench/job.yaml");
  if (!r.ok()) Fail("job does not parse: " + r.ErrorText() + "\n" + text);
  return r.job;
}

inline std::shared_ptr<const SegmentProgram> CompileBenchJob(const JobSpec& job) {
  auto p = SegmentProgram::Compile(job);
  if (!p.ok()) Fail("job does not compile: " + p.status().ToString());
  return *p;
}

// `events` JSON lines of a seeded `segflow gen` scenario (no late, no malformed lines).
inline std::vector<std::string> ScenarioLines(gen::Scenario scenario, uint64_t users,
                                              uint64_t events) {
  gen::GenOptions o;
  o.scenario = scenario;
  o.users = users;
  o.events = events;
  o.seed = 7;
  std::vector<std::string> lines;
  lines.reserve(events);
  auto r = gen::GenerateScenario(o, [&](std::string_view chunk) {
    while (!chunk.empty()) {
      const size_t nl = chunk.find('\n');
      lines.emplace_back(chunk.substr(0, nl));
      chunk.remove_prefix(nl == std::string_view::npos ? chunk.size() : nl + 1);
    }
    return Status::OK();
  });
  if (!r.ok()) Fail("gen: " + r.status().ToString());
  return lines;
}

// The same lines decoded as `segflow produce` decodes them.
inline std::vector<Event> ScenarioEvents(gen::Scenario scenario, uint64_t users, uint64_t events) {
  JsonEventDecoder decoder{RoleFields{}};
  std::vector<Event> out;
  for (const std::string& line : ScenarioLines(scenario, users, events)) {
    Event e;
    Status s = decoder.Decode(line, &e);
    if (!s.ok()) Fail("generated line does not decode: " + s.ToString() + ": " + line);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace segflow::microbench
