// segflow explain JOB.yaml --segment ID --user U [--at TIME] [--json]: why a user is (or
// is not) in a segment at TIME, by the job's own evaluator (operators/segment/explain.h).
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/time_format.h"
#include "jobs/job_parser.h"
#include "operators/sink/explain_query.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

std::string Time(int64_t ms) { return FormatRfc3339Millis(ms) + " (" + std::to_string(ms) + ")"; }

bool IsTimeFact(const std::string& key) {
  for (const char* k : kExplainTimeFacts) {
    if (key == k) return true;
  }
  return false;
}

std::string FactText(const std::string& key, const Value& v) {
  if (IsTimeFact(key) && v.is_int()) return key + "=" + FormatRfc3339Millis(v.as_int());
  if (v.is_object() && v.Find("value") != nullptr) {  // a profile attribute
    const Value* exists = v.Find("exists");
    const Value* holds = v.Find("holds");
    std::string out = key + "=" + (exists != nullptr && exists->as_bool() ? v.Find("value")->ToJson() : "(missing)");
    if (holds != nullptr) out += holds->as_bool() ? " (holds)" : " (fails)";
    return out;
  }
  return key + "=" + v.ToJson();
}

void NodeText(const ExplainNode& n, int depth, std::string* out) {
  const std::string indent(2 * depth + 2, ' ');
  *out += indent + (n.holds ? "[true]  " : "[false] ") + n.text;
  if (!n.facts.empty()) {
    std::string facts;
    for (const auto& [k, v] : n.facts) facts += (facts.empty() ? "" : ", ") + FactText(k, v);
    *out += "  -- " + facts;
  }
  *out += "\n";
  if (n.events_omitted > 0) {
    *out += indent + "          (" + std::to_string(n.events_omitted) + " earlier events not shown)\n";
  }
  for (const EvidenceEvent& e : n.events) {
    *out += indent + "          " + Time(e.ts) + "  " + e.type;
    if (!e.role.empty()) *out += "  [" + e.role + "]";
    if (!e.props.as_object().empty()) *out += "  " + e.props.ToJson();
    *out += "\n";
  }
  for (const ExplainNode& c : n.children) NodeText(c, depth + 1, out);
}

std::string ReportText(const JobSpec& job, const ExplainReport& r) {
  const SegmentExplanation& x = r.explanation;
  const MembershipExplanation& m = x.membership;
  std::string out;
  out += "job " + job.name + ", segment " + x.segment + ", user " + r.user + ", at " + Time(x.at) + "\n";
  if (!x.known_user) {
    out += "unknown user: \"" + r.user + "\" has no events in the job's log up to this time" +
           (r.late_records > 0 ? " (" + std::to_string(r.late_records) + " late records set aside)" : "") +
           "; unknown users are in no segment. The condition as it stands for a user with no events:\n";
  } else {
    out += std::to_string(r.events) + " events in partition " + std::to_string(r.partition);
    if (r.late_records > 0) out += ", " + std::to_string(r.late_records) + " late records set aside";
    out += "; last evaluated instant " + Time(*x.last_instant) + "\n";
  }
  out += x.verdict + "\n\ncondition: " + (x.root.holds ? "true" : "false") + "\n";
  NodeText(x.root, 0, &out);
  out += "\nmembership:\n";
  out += std::string("  member: ") + (m.member ? "yes, since " + Time(*m.since) : "no") + "\n";
  if (m.until) out += "  until: " + Time(*m.until) + " (duration)\n";
  out += std::string("  armed: ") + (m.armed ? "yes" : "no") + "\n";
  out += "  cooldown_until: " +
         (m.cooldown_until ? Time(*m.cooldown_until) + (*m.cooldown_until <= x.at ? " (passed)" : "")
                           : std::string("none")) +
         "\n";
  out += "  consent: " +
         (m.consent ? std::string(*m.consent ? "granted" : "not granted") : std::string("no consent block")) + "\n";
  out += "\nchangelog (" + job.output.changelog + "):\n";
  if (r.changelog.empty()) out += "  (none)\n";
  for (const auto& c : r.changelog) out += "  " + Time(c.at) + "  " + (c.entered ? "entered" : "exited") + "\n";
  if (!r.changelog_agrees) {
    out += "warning: the changelog differs from this evaluation of the log (were events appended "
           "after the run read them?)\n";
  }
  return out;
}

}  // namespace

int ExplainCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow explain JOB.yaml --segment ID --user U [--at TIME] [--json]\n\n"
      "Explains why user U is or is not in a segment at TIME (default: the job's evaluated\n"
      "time; a TIME not evaluated yet is an error): the segment's condition tree with each\n"
      "node's truth and evidence (counts, sums, values, the events that decide it), the\n"
      "membership state (since, armed, cooldown, consent) and the user's changelog records.\n"
      "It re-evaluates the user's events from the job's log with the job's own evaluator.\n"
      "TIME: epoch ms or RFC 3339.\n\noptions");
  opts.add_options()("help,h", "show this help")("segment", po::value<std::string>(), "segment id")(
      "user", po::value<std::string>(), "user id")("at", po::value<std::string>(),
                                                   "explain after every instant <= TIME")(
      "json", "print one JSON object (for tools)");
  po::variables_map vm;
  if (auto done = ParseJobCommandLine("explain", argc, argv, opts, &vm)) return *done;
  if (!vm.count("job") || !vm.count("segment") || !vm.count("user")) {
    std::cerr << "segflow explain: needs JOB.yaml, --segment ID and --user U\n" << opts << "\n";
    return 2;
  }
  std::optional<int64_t> at;
  if (vm.count("at")) {
    auto t = ParseTimeArg(vm["at"].as<std::string>());
    if (!t.ok()) {
      std::cerr << "segflow explain: --at: " << t.status().message() << "\n";
      return 2;
    }
    at = *t;
  }
  JobParseResult parsed = ParseJobFile(vm["job"].as<std::string>());
  if (!parsed.ok()) {
    std::cerr << parsed.ErrorText();
    return 1;
  }
  auto report = ExplainFromLog(parsed.job, vm["segment"].as<std::string>(), vm["user"].as<std::string>(), at);
  if (!report.ok()) {
    std::cerr << "segflow explain: " << report.status().message() << "\n";
    return 1;
  }
  const std::string out = vm.count("json") ? ExplainReportJson(parsed.job, *report) : ReportText(parsed.job, *report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace segflow::cli
