// segflow consume --log DIR --topic T [--from ...] [--committed] [--follow] (spec §8):
// prints a topic as JSON lines, partition by partition.
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "engine/log/log.h"
#include "engine/log/transaction.h"
#include "engine/value/value.h"
#include "operators/sink/erasure_ledger.h"
#include "operators/sink/record_json.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

constexpr size_t kPollRecords = 4096;
constexpr size_t kStdoutFlushBytes = 1 << 20;

std::atomic<bool> g_stop{false};
extern "C" void HandleConsumeStop(int) { g_stop.store(true); }

// --from: earliest, latest, or P=O,... (unlisted partitions start at the earliest).
struct StartPositions {
  enum class Kind { kEarliest, kLatest, kExplicit } kind = Kind::kEarliest;
  std::map<uint32_t, uint64_t> offsets;
};

Result<uint64_t> ParseUnsigned(const std::string& s, const char* what) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument(std::string("bad ") + what + " '" + s + "'");
  }
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
  if (errno == ERANGE) return Status::InvalidArgument(std::string(what) + " '" + s + "' is out of range");
  return static_cast<uint64_t>(v);
}

Result<StartPositions> ParseFrom(const std::string& text) {
  StartPositions from;
  if (text == "earliest") return from;
  if (text == "latest") {
    from.kind = StartPositions::Kind::kLatest;
    return from;
  }
  from.kind = StartPositions::Kind::kExplicit;
  size_t at = 0;
  for (int guard = 0; guard < 1 << 16 && at <= text.size(); ++guard) {
    size_t comma = text.find(',', at);
    const std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--from '" + text + "': expected earliest, latest or PARTITION=OFFSET,...");
    }
    auto p = ParseUnsigned(item.substr(0, eq), "partition");
    if (!p.ok()) return p.status().Annotate("--from '" + text + "'");
    auto o = ParseUnsigned(item.substr(eq + 1), "offset");
    if (!o.ok()) return o.status().Annotate("--from '" + text + "'");
    if (*p > UINT32_MAX || !from.offsets.emplace(static_cast<uint32_t>(*p), *o).second) {
      return Status::InvalidArgument("--from '" + text + "': partition " + item.substr(0, eq) +
                                     (*p > UINT32_MAX ? " is out of range" : " is given twice"));
    }
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return from;
}

bool WriteStdout(std::string* buf) {
  const bool ok = buf->empty() || std::fwrite(buf->data(), 1, buf->size(), stdout) == buf->size();
  buf->clear();
  return ok;
}

constexpr const char* kUsage =
    "usage: segflow consume --log DIR --topic T [--from earliest|latest|P=O,...] [--committed] [--follow]\n\n"
    "Prints a topic of the embedded log as JSON lines on stdout, partition 0 first, each\n"
    "partition in offset order, up to the end the log had when consume started. Events print\n"
    "with the topic's field names ({\"user_id\": \"u\", \"event\": \"e\", \"ts\": MS, ...properties});\n"
    "changelog topics as {\"segment\": S, \"user_id\": U, \"change\": \"entered\"|\"exited\", \"at\": MS}.\n"
    "A damaged log (a bad batch, an earlier segment cut short) prints the records before the\n"
    "damage, then fails (exit 1) naming the file and byte.\n"
    "Records of users erased by segflow forget (ledger <dir of DIR>/governance/ledger.jsonl),\n"
    "up to their erasure time, are skipped.\n\n"
    "options";

}  // namespace

int ConsumeCommand(int argc, char** argv) {
  po::options_description opts(kUsage);
  opts.add_options()("help,h", "show this help")("log", po::value<std::string>(), "log directory")(
      "topic", po::value<std::string>(), "topic to print")(
      "from", po::value<std::string>()->default_value("earliest"),
      "where to start: earliest, latest, or PARTITION=OFFSET,... (unlisted partitions start at the "
      "earliest)")("committed",
                   "print only committed records: for a transactional topic (a job's changelog when the "
                   "job checkpoints) those of completed checkpoints; other topics are committed as written")(
      "follow,f", "keep printing records as they are appended, until SIGINT/SIGTERM");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "segflow consume: " << e.what() << "\n(segflow consume --help for usage)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (!vm.count("log") || !vm.count("topic")) {
    std::cerr << "segflow consume: --log and --topic are required\n(segflow consume --help for usage)\n";
    return 2;
  }
  const std::string log_dir = vm["log"].as<std::string>();
  const std::string topic = vm["topic"].as<std::string>();
  const bool follow = vm.count("follow") > 0;
  auto from = ParseFrom(vm["from"].as<std::string>());
  if (!from.ok()) {
    std::cerr << "segflow consume: " << from.status().message() << "\n";
    return 2;
  }
  auto meta = log::ReadTopicMeta(log_dir, topic);
  if (!meta.ok()) {
    std::cerr << "segflow consume: " << meta.status().message() << "\n";
    return 1;
  }
  for (const auto& [p, o] : from->offsets) {
    if (p >= meta->partitions) {
      std::cerr << "segflow consume: --from: topic '" << topic << "' has " << meta->partitions
                << " partitions; there is no partition " << p << "\n";
      return 2;
    }
  }

  const bool committed = vm.count("committed") > 0;
  // Read-committed: a transactional topic is read up to its commit marker.
  auto commit_limit = [&](uint32_t p, uint64_t end) -> Result<uint64_t> {
    if (!committed) return end;
    auto marker = log::ReadCommitMarker(log_dir, topic);
    if (!marker.ok()) return marker.status();
    if (!marker->has_value()) return end;
    const auto& offsets = (*marker)->offsets;
    return p < offsets.size() ? std::min(end, offsets[p]) : end;
  };

  struct Input {
    std::unique_ptr<log::PartitionReader> reader;
    uint64_t end = 0;
    Status damage;  // the partition's end is unknown: it is read up to this damage, then fails
  };
  std::vector<Input> inputs(meta->partitions);
  for (uint32_t p = 0; p < meta->partitions; ++p) {
    auto end_or = log::EndOffset(log_dir, topic, p);
    if (!end_or.ok() && end_or.status().code() == Status::Code::kCorruption &&
        from->kind != StartPositions::Kind::kLatest) {
      // Damage: the records before it still print (the reader stops there with the error).
      inputs[p].damage = end_or.status();
    }
    if (!end_or.ok() && inputs[p].damage.ok()) {
      std::cerr << "segflow consume: " << end_or.status().ToString() << "\n";
      return 1;
    }
    const uint64_t end = inputs[p].damage.ok() ? *end_or : UINT64_MAX;
    uint64_t start = 0;
    if (from->kind == StartPositions::Kind::kLatest) {
      start = end;
    } else if (auto it = from->offsets.find(p); it != from->offsets.end()) {
      start = it->second;
      if (start > end && inputs[p].damage.ok()) {
        std::cerr << "segflow consume: --from: offset " << start << " is past the end of partition " << p
                  << " (" << end << ")\n";
        return 2;
      }
    }
    auto reader = log::PartitionReader::Open(log_dir, topic, p, start);
    if (!reader.ok()) {
      std::cerr << "segflow consume: " << reader.status().ToString() << "\n";
      return 1;
    }
    inputs[p].reader = std::move(reader).value();
    auto limit = commit_limit(p, end);
    if (!limit.ok()) {
      std::cerr << "segflow consume: " << limit.status().ToString() << "\n";
      return 1;
    }
    inputs[p].end = *limit;
  }

  if (follow) {
    std::signal(SIGINT, HandleConsumeStop);
    std::signal(SIGTERM, HandleConsumeStop);
  }
  // Users erased by `segflow forget` (erasure_ledger.h): their records up to the erasure
  // are skipped in every topic, as every task of a job on this log skips them.
  ErasureWatch erasures(LedgerPathForLog(log_dir));
  if (Status s = erasures.Load(); !s.ok()) {
    std::cerr << "segflow consume: " << s.message() << "\n";
    return 1;
  }
  std::string out;
  std::vector<log::LogRecord> records;
  auto fail = [&](const Status& st) {
    WriteStdout(&out);
    std::fflush(stdout);
    std::cerr << "segflow consume: " << st.ToString() << "\n";
    return 1;
  };
  // Bounded pass: each partition up to the end it had at start.
  for (auto& in : inputs) {
    while (in.reader->position() < in.end) {
      records.clear();
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kPollRecords, in.end - in.reader->position()));
      auto n = in.reader->Poll(want, &records);
      // Records served before an error are printed first: they precede the damage.
      for (const auto& r : records) {
        if (!erasures.Erased(r.event.user, r.event.ts)) AppendRecordJsonLine(*meta, r, &out);
      }
      if (!n.ok()) return fail(n.status());
      if (*n == 0) break;  // the end moved back: a torn tail was truncated by a writer
      if (out.size() >= kStdoutFlushBytes && !WriteStdout(&out)) return 1;
    }
    if (!in.damage.ok()) return fail(in.damage);
  }
  if (!WriteStdout(&out)) return 1;
  // Follow: round-robin over partitions until stopped.
  while (follow && !g_stop.load()) {
    size_t got = 0;
    for (uint32_t p = 0; p < inputs.size(); ++p) {
      auto& in = inputs[p];
      records.clear();
      size_t want = kPollRecords;
      if (committed) {
        auto limit = commit_limit(p, UINT64_MAX);
        if (!limit.ok()) return fail(limit.status());
        if (*limit <= in.reader->position()) continue;
        want = static_cast<size_t>(std::min<uint64_t>(want, *limit - in.reader->position()));
      }
      auto n = in.reader->Poll(want, &records);
      if (auto reloaded = erasures.Poll(); !reloaded.ok()) return fail(reloaded.status());
      for (const auto& r : records) {
        if (!erasures.Erased(r.event.user, r.event.ts)) AppendRecordJsonLine(*meta, r, &out);
      }
      if (!n.ok()) return fail(n.status());
      got += *n;
    }
    if (!WriteStdout(&out)) return 1;
    std::fflush(stdout);
    if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (std::fflush(stdout) != 0) return 1;
  return 0;
}

}  // namespace segflow::cli
