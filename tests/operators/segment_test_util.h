// Helpers for segment evaluator tests: jobs from YAML, events from JSON, and a driver
// that runs them through KeyedEvaluator and renders the changes as short strings.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/value/json_event.h"
#include "jobs/job_parser.h"
#include "operators/segment/keyed_evaluator.h"
#include "operators/segment/program.h"

namespace segflow::segtest {

// A job with the given `segments:` body (and optional top-level blocks before it).
inline JobSpec ParseJob(const std::string& segments, const std::string& blocks = "") {
  const std::string text = "job: t\nlog: log\nsource: {topics: [events]}\n" + blocks +
                           "segments:\n" + segments;
  JobParseResult r = ParseJobText(text, "/tmp/segflow-segment-test/job.yaml");
  EXPECT_TRUE(r.ok()) << r.ErrorText() << "\n" << text;
  return r.job;
}

inline std::shared_ptr<const SegmentProgram> Compile(const JobSpec& job) {
  auto p = SegmentProgram::Compile(job);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : nullptr;
}

// One input event; `props` is a JSON object.
struct In {
  std::string user;
  std::string type;
  int64_t ts;
  std::string props = "{}";
};

inline Event MakeEvent(const In& in) {
  Event e;
  e.user = in.user;
  e.type = in.type;
  e.ts = in.ts;
  auto v = ParseJsonValue(in.props);
  EXPECT_TRUE(v.ok()) << in.props;
  if (v.ok()) e.props = std::move(v).value();
  return e;
}

// "<segment id> <user> +<at>" for an entry, "-<at>" for an exit.
inline std::string Render(const JobSpec& job, const std::string& user, const MembershipChange& c) {
  return job.segments[c.segment].id + " " + user + " " + (c.entered ? "+" : "-") +
         std::to_string(c.at);
}

inline std::vector<std::string> Render(const JobSpec& job, const std::vector<KeyedChange>& changes) {
  std::vector<std::string> out;
  for (const KeyedChange& c : changes) out.push_back(Render(job, c.user, c.change));
  return out;
}

// Adds `events` (seq = position in the vector, the log order) in the order given by
// `arrival` (indices; all when empty), then evaluates every instant <= until.
inline std::vector<std::string> Evaluate(const JobSpec& job, const std::vector<In>& events, int64_t until,
                                    const std::vector<size_t>& arrival = {}) {
  auto program = Compile(job);
  if (!program) return {"<no program>"};
  KeyedEvaluator ev(program, 1);
  std::vector<size_t> order = arrival;
  if (order.empty()) {
    for (size_t i = 0; i < events.size(); ++i) order.push_back(i);
  }
  for (size_t i : order) {
    ProjectedEvent pe;
    program->Project(MakeEvent(events[i]), i, &pe);
    Status s = ev.AddEvent(0, events[i].user, std::move(pe));
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  std::vector<KeyedChange> changes;
  Status s = ev.Finish(until, &changes);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return Render(job, changes);
}

// Single-segment shorthand: the job's only segment is `s` with condition `when` and an
// optional membership block.
inline JobSpec OneSegment(const std::string& when, const std::string& membership = "",
                          const std::string& blocks = "") {
  std::string seg = "  - id: s\n    when: " + when + "\n";
  if (!membership.empty()) seg += "    membership: " + membership + "\n";
  return ParseJob(seg, blocks);
}

using Changes = std::vector<std::string>;

}  // namespace segflow::segtest
