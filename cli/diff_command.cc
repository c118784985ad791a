// segflow diff A B [--segment ID]... [--threshold PCT] [--shared] [--show N] [--json]:
// divergence between two audiences per segment (issue 6 item 4). Exit code 0 when every
// compared segment is within the threshold, 1 when one is past it, 2 on an error.
#include <array>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/job_command_line.h"
#include "engine/value/value.h"
#include "jobs/job_parser.h"
#include "operators/sink/audience_diff.h"
#include "operators/sink/audience_store.h"
#include "operators/sink/audience_versions.h"
#include "operators/sink/erasure_ledger.h"
#include "operators/sink/postgres_committer.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", p);
  return buf;
}

Value Strings(const std::vector<std::string>& v, size_t limit) {
  ValueArray a;
  for (size_t i = 0; i < v.size() && i < limit; ++i) a.push_back(Value::String(v[i]));
  return Value::Array(std::move(a));
}

}  // namespace

int DiffCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow diff A B [--segment ID]... [--threshold PCT] [--shared] [--show N] "
      "[--json]\n"
      "                        [--version-a V] [--version-b V]\n\n"
      "Compares two audiences per segment: sizes, members only in A and only in B, and the\n"
      "divergence (|only in A| + |only in B|) / |A ∪ B|. A and B are job files (JOB.yaml: the\n"
      "job's audience; with --shared, its output.shared_audience store) or audience store\n"
      "folders, or postgres:JOB.yaml (the job's PostgreSQL table, output.postgres).\n"
      "Compares every segment of either side (--segment: only those); a segment a job\n"
      "file does not define counts as diverged (a store lacking one holds it empty).\n"
      "--version-a/--version-b V compare one segment's versions (e.g. the serving one against\n"
      "an upgrade's backfill before the switch, or against a frozen old one after). Users\n"
      "erased by segflow forget are on neither side. Exit code:\n"
      "0 every segment within the\n"
      "threshold, 1 one past it, 2 an error.\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "segment", po::value<std::vector<std::string>>(), "compare only this segment (repeatable)")(
      "threshold", po::value<double>()->default_value(5.0),
      "largest divergence in percent that passes")("shared",
                                                   "read the job files' shared audience stores")(
      "show", po::value<size_t>()->default_value(10), "members listed per side and segment")(
      "version-a", po::value<std::string>(),
      "A (a job file) at this version of the one --segment: serving, frozen or an upgrade's backfill")(
      "version-b", po::value<std::string>(), "the same for B")(
      "json", "print one JSON object (for tools)");
  // A and B: positional, not listed as options.
  po::options_description positional;
  positional.add_options()("a", po::value<std::string>())("b", po::value<std::string>());
  po::options_description all;
  all.add(opts).add(positional);
  po::positional_options_description pos;
  pos.add("a", 1).add("b", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "segflow diff: " << e.what() << "\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (!vm.count("a") || !vm.count("b")) {
    std::cerr << "segflow diff: needs two audiences A and B\n" << opts << "\n";
    return 2;
  }
  const double threshold = vm["threshold"].as<double>();
  if (!(threshold >= 0 && threshold <= 100)) {
    std::cerr << "segflow diff: --threshold " << threshold << " is not a percentage in 0..100\n";
    return 2;
  }
  const bool shared = vm.count("shared") > 0;
  // A side "postgres:JOB.yaml" is that job's PostgreSQL table (output.postgres).
  std::array<std::unique_ptr<PostgresCommitter>, 2> tables;
  auto open_side = [&](int i, const std::string& arg) -> Result<AudienceSide> {
    if (!arg.starts_with("postgres:")) return OpenAudienceSide(arg, shared);
    JobParseResult parsed = ParseJobFile(arg.substr(9));
    if (!parsed.ok())
      return Status::InvalidArgument(parsed.ErrorText() + arg + ": fix the job file");
    if (!parsed.job.output.postgres.enabled()) {
      return Status::InvalidArgument(arg + ": job " + parsed.job.name + " has no output.postgres");
    }
    auto table = PostgresCommitter::OpenForRead(parsed.job);
    if (!table.ok()) return table.status();
    AudienceSide side;
    side.label = arg;
    auto segments = (*table)->Segments();
    if (!segments.ok()) return segments.status();
    side.segments = std::move(*segments);
    auto progress = (*table)->ProgressText();
    if (!progress.ok()) return progress.status();
    side.evaluated = *progress;
    tables[i] = std::move(table).value();
    return side;
  };
  auto a = open_side(0, vm["a"].as<std::string>());
  auto b = open_side(1, vm["b"].as<std::string>());
  for (const auto* side : {&a, &b}) {
    if (!side->ok()) {
      std::cerr << "segflow diff: " << side->status().message() << "\n";
      return 2;
    }
  }
  const std::set<std::string> in_a(a->segments.begin(), a->segments.end());
  const std::set<std::string> in_b(b->segments.begin(), b->segments.end());
  std::vector<std::string> segments;
  if (vm.count("segment")) {
    for (const auto& s : vm["segment"].as<std::vector<std::string>>()) {
      if (!in_a.count(s) && !in_b.count(s)) {
        std::cerr << "segflow diff: neither side has segment \"" << s << "\"\n";
        return 2;
      }
      segments.push_back(s);
    }
  } else {
    std::set<std::string> all(in_a);
    all.insert(in_b.begin(), in_b.end());
    segments.assign(all.begin(), all.end());
  }
  // Versions of one segment: each side's members come from that version, not the store.
  std::array<std::optional<std::string>, 2> version;
  if (vm.count("version-a")) version[0] = vm["version-a"].as<std::string>();
  if (vm.count("version-b")) version[1] = vm["version-b"].as<std::string>();
  if ((version[0] || version[1]) && (segments.size() != 1 || !vm.count("segment"))) {
    std::cerr << "segflow diff: --version-a/--version-b name a version of one segment: give exactly one --segment\n";
    return 2;
  }
  for (int i = 0; i < 2; ++i) {
    if (version[i] && (!(i == 0 ? a : b)->defines_segments || shared || tables[i])) {
      std::cerr << "segflow diff: --version-" << (i == 0 ? 'a' : 'b')
                << " needs a job file (its own store holds the versions), not a store folder, a table or --shared\n";
      return 2;
    }
  }
  std::array<std::vector<std::string>, 2> version_members;
  for (int i = 0; i < 2; ++i) {
    if (!version[i]) continue;
    std::string full;
    auto m = VersionMembers((i == 0 ? a : b)->store_dir, segments[0], *version[i], &full);
    if (!m.ok()) {
      std::cerr << "segflow diff: --version-" << (i == 0 ? 'a' : 'b') << ": " << m.status().message() << "\n";
      return 2;
    }
    version_members[i] = std::move(m).value();
    (i == 0 ? a : b)->label += " version " + full;
  }
  // Each side's store, unless the side is a table.
  std::array<std::unique_ptr<AudienceStore>, 2> stores;
  for (int i = 0; i < 2; ++i) {
    if (tables[i]) continue;
    auto store = AudienceStore::OpenForRead((i == 0 ? a : b)->store_dir);
    if (!store.ok()) {
      std::cerr << "segflow diff: " << store.status().message() << "\n";
      return 2;
    }
    stores[i] = std::move(store).value();
  }
  // Users erased by `segflow forget` are on neither side (erasure_ledger.h). A table has no
  // ledger: forget deletes its rows itself.
  std::array<Erasures, 2> erasures;
  for (int i = 0; i < 2; ++i) {
    const std::string& ledger = (i == 0 ? a : b)->ledger;
    if (ledger.empty() || tables[i]) continue;
    auto e = LoadErasures(ledger);
    if (!e.ok()) {
      std::cerr << "segflow diff: " << e.status().message() << "\n";
      return 2;
    }
    erasures[i] = std::move(e).value();
  }
  auto members_of = [&](int side, const std::string& segment) -> Result<std::vector<std::string>> {
    if (tables[side]) return tables[side]->Members(segment);
    auto members = version[side] ? Result<std::vector<std::string>>(version_members[side])
                                 : stores[side]->Members(segment);
    if (!members.ok()) return members;
    SEGFLOW_RETURN_IF_ERROR(DropErasedMembers(erasures[side], stores[side].get(), &*members));
    return members;
  };
  const size_t show = vm["show"].as<size_t>();
  bool diverged = false;
  std::string text =
      "A: " + a->label + " (" + a->evaluated + ")\nB: " + b->label + " (" + b->evaluated + ")\n";
  ValueArray rows, recorded;  // recorded: what the stores keep of this diff (counts only)
  for (const auto& s : segments) {
    // A store knows only segments with rows: a segment it lacks is empty there. A job
    // file defines its segments: one it lacks is missing (a definition differs).
    const bool missing =
        (a->defines_segments && !in_a.count(s)) || (b->defines_segments && !in_b.count(s));
    auto ma = members_of(0, s);
    auto mb = members_of(1, s);
    if (!ma.ok() || !mb.ok()) {
      std::cerr << "segflow diff: " << (ma.ok() ? mb.status() : ma.status()).message() << "\n";
      return 2;
    }
    SegmentDiff d = DiffMembers(s, *ma, *mb);
    const bool over = missing || d.divergence_pct > threshold;
    diverged = diverged || over;
    text += "segment " + s + ": A " + std::to_string(d.a) + ", B " + std::to_string(d.b) +
            ", only in A " + std::to_string(d.only_a.size()) + ", only in B " +
            std::to_string(d.only_b.size()) + ", divergence " + Percent(d.divergence_pct) +
            (over ? "  DIVERGED" : "  ok") + "\n";
    if (missing)
      text += "  " + std::string(in_a.count(s) ? "B" : "A") + " does not define this segment\n";
    for (const auto& [name, list] : {std::pair{"A", &d.only_a}, std::pair{"B", &d.only_b}}) {
      if (list->empty() || show == 0) continue;
      text += std::string("  only in ") + name + ":";
      for (size_t i = 0; i < list->size() && i < show; ++i) text += " " + (*list)[i];
      if (list->size() > show) text += " ... (" + std::to_string(list->size() - show) + " more)";
      text += "\n";
    }
    rows.push_back(
        Value::Object({{"segment", Value::String(s)},
                       {"in_a", Value::Bool(in_a.count(s) > 0)},
                       {"in_b", Value::Bool(in_b.count(s) > 0)},
                       {"a", Value::Int(static_cast<int64_t>(d.a))},
                       {"b", Value::Int(static_cast<int64_t>(d.b))},
                       {"only_a_count", Value::Int(static_cast<int64_t>(d.only_a.size()))},
                       {"only_b_count", Value::Int(static_cast<int64_t>(d.only_b.size()))},
                       {"only_a", Strings(d.only_a, show)},
                       {"only_b", Strings(d.only_b, show)},
                       {"divergence_pct", Value::Double(d.divergence_pct)},
                       {"diverged", Value::Bool(over)}}));
    recorded.push_back(
        Value::Object({{"segment", Value::String(s)},
                       {"a", Value::Int(static_cast<int64_t>(d.a))},
                       {"b", Value::Int(static_cast<int64_t>(d.b))},
                       {"only_a_count", Value::Int(static_cast<int64_t>(d.only_a.size()))},
                       {"only_b_count", Value::Int(static_cast<int64_t>(d.only_b.size()))},
                       {"divergence_pct", Value::Double(d.divergence_pct)},
                       {"diverged", Value::Bool(over)}}));
  }
  // Each compared store keeps this result (audience_diff.h: the dashboard shows it).
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  for (int i = 0; i < 2; ++i) {
    const AudienceSide& side = *(i == 0 ? a : b);
    if (tables[i] || version[0] || version[1] ||
        (i == 1 && !tables[0] && side.store_dir == a->store_dir))
      continue;
    const std::string record = Value::Object({{"at", Value::Int(now_ms)},
                                              {"side", Value::String(i == 0 ? "a" : "b")},
                                              {"a", Value::String(a->label)},
                                              {"b", Value::String(b->label)},
                                              {"threshold_pct", Value::Double(threshold)},
                                              {"diverged", Value::Bool(diverged)},
                                              {"segments", Value::Array(recorded)}})
                                   .ToJson();
    Status s = RecordLastDiff(side.store_dir, record + "\n");
    if (!s.ok() && s.code() != Status::Code::kFailedPrecondition)
      std::cerr << "segflow diff: note: the result is not recorded: " << s.message() << "\n";
  }
  text += diverged ? "diverged: a segment is past the threshold of " + Percent(threshold) + "\n"
                   : "within the threshold of " + Percent(threshold) + "\n";
  if (vm.count("json")) {
    text = Value::Object({{"a", Value::Object({{"audience", Value::String(a->label)},
                                               {"store", Value::String(a->store_dir)},
                                               {"evaluated", Value::String(a->evaluated)}})},
                          {"b", Value::Object({{"audience", Value::String(b->label)},
                                               {"store", Value::String(b->store_dir)},
                                               {"evaluated", Value::String(b->evaluated)}})},
                          {"threshold_pct", Value::Double(threshold)},
                          {"diverged", Value::Bool(diverged)},
                          {"segments", Value::Array(std::move(rows))}})
               .ToJson() +
           "\n";
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return diverged ? 1 : 0;
}

}  // namespace segflow::cli
