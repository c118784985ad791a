// segflow produce --log DIR --topic T [...] < events.jsonl (spec §1, §8): decodes JSON
// lines into events and appends them to their users' partitions. Bad lines are reported
// (`line N: reason`), kept verbatim in a rejects file, and never stop the good ones.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "engine/common/key_group.h"
#include "engine/log/file_util.h"
#include "engine/log/log.h"
#include "engine/value/json_event.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

constexpr uint32_t kDefaultPartitions = 4;
constexpr size_t kFlushBytesPerPartition = 256 * 1024;
constexpr size_t kReadChunkBytes = 4 << 20;
constexpr size_t kDiagnosticsFlushBytes = 64 * 1024;

// The signal (SIGINT/SIGTERM) that asked produce to stop; 0 while none did.
std::atomic<int> g_stop_signal{0};
extern "C" void HandleProduceStop(int signo) {
  g_stop_signal.store(signo);
}

// Without SA_RESTART, so a read() blocked on stdin returns EINTR and the loop sees the stop.
void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = HandleProduceStop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool StopRequested() {
  return g_stop_signal.load(std::memory_order_relaxed) != 0;
}

// Rejected lines and their diagnostics, written in whole lines (the rejects file is
// opened O_APPEND, so concurrent producers sharing it never split a line).
class Rejects {
 public:
  explicit Rejects(std::string path) : path_(std::move(path)) {}
  ~Rejects() { FlushDiagnostics(); }

  Status Add(uint64_t line_number, std::string_view line, const std::string& reason) {
    ++count_;
    diagnostics_ += "line " + std::to_string(line_number) + ": " + reason + "\n";
    if (diagnostics_.size() >= kDiagnosticsFlushBytes) FlushDiagnostics();
    lines_.append(line.data(), line.size());
    lines_.push_back('\n');
    if (lines_.size() >= kDiagnosticsFlushBytes) return FlushLines(false);
    return Status::OK();
  }

  Status Finish() {
    FlushDiagnostics();
    return FlushLines(true);
  }

  uint64_t count() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  void FlushDiagnostics() {
    if (!diagnostics_.empty()) std::fwrite(diagnostics_.data(), 1, diagnostics_.size(), stderr);
    diagnostics_.clear();
  }

  Status FlushLines(bool sync) {
    if (lines_.empty() && !(sync && fd_.valid())) return Status::OK();
    if (!fd_.valid()) {
      auto fd = log::OpenFile(path_, O_WRONLY | O_CREAT | O_APPEND);
      if (!fd.ok()) return fd.status();
      fd_ = std::move(fd).value();
    }
    // Whole lines per write; a line is never split between writes.
    SEGFLOW_RETURN_IF_ERROR(log::WriteFull(fd_.get(), lines_.data(), lines_.size(), path_));
    lines_.clear();
    if (sync) SEGFLOW_RETURN_IF_ERROR(log::SyncFile(fd_.get(), path_));
    return Status::OK();
  }

  std::string path_;
  log::UniqueFd fd_;
  std::string lines_;
  std::string diagnostics_;
  uint64_t count_ = 0;
};

struct ProduceOptions {
  std::string log_dir;
  std::string topic;
  std::optional<uint32_t> partitions;
  std::optional<std::string> user_field, event_field, time_field;
  std::string rejects_path;
};

class Producer {
 public:
  Producer(const ProduceOptions& options, const log::TopicMeta& meta, RoleFields fields)
      : options_(options), meta_(meta), decoder_(std::move(fields)), rejects_(options.rejects_path) {}

  Status OpenWriters() {
    for (uint32_t p = 0; p < meta_.partitions; ++p) {
      auto w = log::PartitionWriter::Open(options_.log_dir, options_.topic, p);
      if (!w.ok()) return w.status();
      writers_.push_back(std::move(w).value());
    }
    return Status::OK();
  }

  // Reads stdin to its end, or until a stop signal; every complete or final line is
  // decoded and appended, in order, so the lines handled are always 1..lines_read().
  Status ReadAll(int fd) {
    std::string buf;
    buf.resize(kReadChunkBytes);
    size_t have = 0;
    for (;;) {
      if (StopRequested()) return Status::OK();
      if (have == buf.size()) buf.resize(buf.size() * 2);  // a line longer than the buffer
      ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("read stdin", errno);
      }
      if (n == 0) break;
      const size_t scan_from = have;
      have += static_cast<size_t>(n);
      size_t start = 0;
      const char* data = buf.data();
      for (size_t i = scan_from; i < have; ++i) {
        if (data[i] != '\n') continue;
        if (StopRequested()) return Status::OK();  // the rest is unread: resumed after lines_read()
        SEGFLOW_RETURN_IF_ERROR(Line(std::string_view(data + start, i - start)));
        start = i + 1;
      }
      std::memmove(buf.data(), buf.data() + start, have - start);
      have -= start;
    }
    if (have > 0 && !StopRequested()) SEGFLOW_RETURN_IF_ERROR(Line(std::string_view(buf.data(), have)));
    return Status::OK();
  }

  // Flushes and fsyncs every partition, then the rejects file.
  Status Finish() {
    Status first;
    for (auto& w : writers_) {
      Status st = w->Flush(true);
      if (!st.ok() && first.ok()) first = st;
    }
    Status st = rejects_.Finish();
    if (!st.ok() && first.ok()) first = st;
    return first;
  }

  uint64_t produced() const { return produced_; }
  // Input lines handled so far (produced or rejected).
  uint64_t lines_read() const { return line_number_; }
  // The input line of the last record produced (0: none).
  uint64_t last_produced_line() const { return last_produced_line_; }
  const Rejects& rejects() const { return rejects_; }

 private:
  Status Line(std::string_view line) {
    ++line_number_;
    Status st = decoder_.Decode(line, &event_);
    if (!st.ok()) return rejects_.Add(line_number_, line, st.message());
    const uint32_t p = PartitionFor(HashUser(event_.user), meta_.partitions);
    log::PartitionWriter& w = *writers_[p];
    w.Append(std::move(event_));
    event_ = Event();
    ++produced_;
    last_produced_line_ = line_number_;
    if (w.buffered_bytes() >= kFlushBytesPerPartition) return w.Flush(false);
    return Status::OK();
  }

  const ProduceOptions& options_;
  log::TopicMeta meta_;
  JsonEventDecoder decoder_;
  Rejects rejects_;
  std::vector<std::unique_ptr<log::PartitionWriter>> writers_;
  Event event_;
  uint64_t line_number_ = 0;
  uint64_t produced_ = 0;
  uint64_t last_produced_line_ = 0;
};

constexpr const char* kUsage =
    "usage: segflow produce --log DIR --topic T [--partitions N]\n"
    "                       [--user-field F --event-field F --time-field F] [--rejects FILE] < events.jsonl\n\n"
    "Appends JSON-lines events from stdin to a topic of the embedded log, each user's events\n"
    "to one partition. The topic is created if missing (with --partitions and the field names).\n"
    "A bad line is reported on stderr as `line N: reason` and appended verbatim to the rejects\n"
    "file; the other lines are still produced. SIGINT/SIGTERM stops reading: the records of\n"
    "the lines read so far are flushed and fsynced, so the topic holds exactly the valid lines\n"
    "1..N, and the summary names N (`stopped after input line N`) to resume from line N+1.\n"
    "Exit status: 0 when every line was produced, 1 when a line was rejected or producing\n"
    "failed (every valid line is flushed and fsynced first), 2 on a usage error, 130 / 143\n"
    "when stopped by SIGINT / SIGTERM (after flushing).\n\noptions";

}  // namespace

int ProduceCommand(int argc, char** argv) {
  po::options_description opts(kUsage);
  opts.add_options()("help,h", "show this help")("log", po::value<std::string>(), "log directory (created if missing)")(
      "topic", po::value<std::string>(), "topic to append to")(
      "partitions", po::value<uint32_t>(),
      "partitions of a new topic (default 4); an existing topic keeps its own")(
      "user-field", po::value<std::string>(), "user field name (default: the topic's, else user_id)")(
      "event-field", po::value<std::string>(), "event field name (default: the topic's, else event)")(
      "time-field", po::value<std::string>(), "time field name (default: the topic's, else ts)")(
      "rejects", po::value<std::string>(), "file rejected lines are appended to (default: ./<T>.rejected.jsonl)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "segflow produce: " << e.what() << "\n(segflow produce --help for usage)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (!vm.count("log") || !vm.count("topic")) {
    std::cerr << "segflow produce: --log and --topic are required\n(segflow produce --help for usage)\n";
    return 2;
  }
  ProduceOptions o;
  o.log_dir = vm["log"].as<std::string>();
  o.topic = vm["topic"].as<std::string>();
  if (vm.count("partitions")) {
    o.partitions = vm["partitions"].as<uint32_t>();
    if (*o.partitions == 0) {
      std::cerr << "segflow produce: --partitions must be at least 1\n";
      return 2;
    }
  }
  if (vm.count("user-field")) o.user_field = vm["user-field"].as<std::string>();
  if (vm.count("event-field")) o.event_field = vm["event-field"].as<std::string>();
  if (vm.count("time-field")) o.time_field = vm["time-field"].as<std::string>();
  o.rejects_path = vm.count("rejects") ? vm["rejects"].as<std::string>() : o.topic + ".rejected.jsonl";
  if (Status st = log::ValidateTopicName(o.topic); !st.ok()) {
    std::cerr << "segflow produce: " << st.message() << "\n";
    return 2;
  }

  log::TopicMeta wanted;
  wanted.partitions = o.partitions.value_or(kDefaultPartitions);
  if (o.user_field) wanted.fields.user = *o.user_field;
  if (o.event_field) wanted.fields.event = *o.event_field;
  if (o.time_field) wanted.fields.time = *o.time_field;
  auto meta = log::EnsureTopic(o.log_dir, o.topic, wanted);
  if (!meta.ok()) {
    std::cerr << "segflow produce: " << meta.status().ToString() << "\n";
    return 1;
  }
  if (meta->format != log::TopicFormat::kEvents) {
    std::cerr << "segflow produce: topic '" << o.topic << "' is a changelog topic, not an events topic\n";
    return 1;
  }
  if (o.partitions && *o.partitions != meta->partitions) {
    std::cerr << "segflow produce: note: topic '" << o.topic << "' exists with " << meta->partitions
              << " partitions; --partitions " << *o.partitions << " ignored\n";
  }
  // Flags name the fields of this input; without them, the topic's names apply.
  RoleFields fields = meta->fields;
  if (o.user_field) fields.user = *o.user_field;
  if (o.event_field) fields.event = *o.event_field;
  if (o.time_field) fields.time = *o.time_field;

  Producer producer(o, *meta, fields);
  InstallStopHandlers();
  Status st = producer.OpenWriters();
  if (st.ok()) st = producer.ReadAll(STDIN_FILENO);
  Status finish = producer.Finish();
  if (st.ok()) st = finish;

  const uint64_t rejected = producer.rejects().count();
  if (rejected > 0) {
    std::cerr << "segflow produce: rejected lines appended to " << producer.rejects().path() << "\n";
  }
  std::cerr << "segflow produce: " << producer.produced() << " records produced to topic '" << o.topic << "' ("
            << meta->partitions << " partitions), " << rejected << " lines rejected\n";
  const int stop_signal = g_stop_signal.load();
  if (stop_signal != 0) {
    std::cerr << "segflow produce: " << (stop_signal == SIGINT ? "SIGINT" : "SIGTERM") << ": stopped after input line "
              << producer.lines_read() << " (the last record produced is from line " << producer.last_produced_line()
              << "); the valid lines up to it are stored, none after it: resume from line "
              << producer.lines_read() + 1 << "\n";
  }
  if (!st.ok()) {
    std::cerr << "segflow produce: " << st.ToString() << "\n";
    return 1;
  }
  if (stop_signal != 0) return 128 + stop_signal;
  return rejected > 0 ? 1 : 0;
}

}  // namespace segflow::cli
