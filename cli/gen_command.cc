// segflow gen SCENARIO --users N --events N --seed S [...]: scenario events as JSON lines
// to stdout or a file, or appended straight to a topic of the embedded log; optionally
// paced to a rate (live production for latency and capacity benches).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "bench/generator/scenario_generator.h"
#include "cli/commands.h"
#include "engine/common/key_group.h"
#include "engine/log/log.h"
#include "engine/value/json_event.h"
#include "engine/value/time_format.h"

namespace po = boost::program_options;

namespace segflow::cli {
namespace {

// The whole of `text` as a T (no sign for unsigned types, no spaces, no trailing text).
template <typename T>
bool ParseWhole(const std::string& text, T* out) {
  if (text.empty() || text[0] == '+' || (std::is_unsigned_v<T> && text[0] == '-')) return false;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

constexpr uint32_t kDefaultPartitions = 4;
constexpr size_t kFlushBytesPerPartition = 256 * 1024;
// A paced run writes about this many groups of lines per second.
constexpr double kPacedGroupsPerSecond = 100;

// Where generated lines go. Write gets whole lines, each ending in '\n'; `visible` asks
// that they be readable by others when it returns (paced runs), not only at Finish.
class LineOutput {
 public:
  virtual ~LineOutput() = default;
  virtual Status Write(std::string_view lines, bool visible) = 0;
  // Makes everything written durable (fsync for files and log partitions).
  virtual Status Finish() = 0;
};

// stdout, or a file (fsync'd at Finish).
class FdOutput final : public LineOutput {
 public:
  FdOutput(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FdOutput() override {
    if (!path_.empty() && fd_ >= 0) ::close(fd_);
  }
  Status Write(std::string_view lines, bool) override { return WriteAll(fd_, lines); }
  Status Finish() override {
    if (path_.empty()) return Status::OK();
    Status status;
    if (::fsync(fd_) != 0) status = Status::FromErrno("fsync " + path_, errno);
    if (::close(fd_) != 0 && status.ok()) status = Status::FromErrno("close " + path_, errno);
    fd_ = -1;
    return status;
  }

 private:
  int fd_;
  std::string path_;  // empty for stdout
};

// Appends each line, decoded as `segflow produce` decodes it, to its user's partition.
// Lines that do not decode (the --malformed-fraction ones) are counted, not appended.
class LogOutput final : public LineOutput {
 public:
  static Result<std::unique_ptr<LogOutput>> Open(const std::string& log_dir,
                                                 const std::string& topic,
                                                 std::optional<uint32_t> partitions) {
    SEGFLOW_RETURN_IF_ERROR(log::ValidateTopicName(topic));
    log::TopicMeta wanted;
    wanted.partitions = partitions.value_or(kDefaultPartitions);
    auto meta = log::EnsureTopic(log_dir, topic, wanted);
    if (!meta.ok()) return meta.status();
    if (meta->format != log::TopicFormat::kEvents) {
      return Status::InvalidArgument("topic '" + topic + "' is a changelog topic, not an events topic");
    }
    if (partitions && *partitions != meta->partitions) {
      std::fprintf(stderr, "segflow gen: note: topic '%s' exists with %u partitions; --partitions %u ignored\n",
                   topic.c_str(), meta->partitions, *partitions);
    }
    std::unique_ptr<LogOutput> out(new LogOutput(*meta));
    for (uint32_t p = 0; p < meta->partitions; ++p) {
      auto w = log::PartitionWriter::Open(log_dir, topic, p);
      if (!w.ok()) return w.status();
      out->writers_.push_back(std::move(w).value());
    }
    return out;
  }

  Status Write(std::string_view lines, bool visible) override {
    while (!lines.empty()) {
      const size_t nl = lines.find('\n');
      const std::string_view line = lines.substr(0, nl);
      lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);
      if (!decoder_.Decode(line, &event_).ok()) {
        ++skipped_;
        continue;
      }
      log::PartitionWriter& w = *writers_[PartitionFor(HashUser(event_.user), meta_.partitions)];
      w.Append(std::move(event_));
      event_ = Event();
      ++appended_;
      if (w.buffered_bytes() >= kFlushBytesPerPartition) SEGFLOW_RETURN_IF_ERROR(w.Flush(false));
    }
    if (visible) {
      for (auto& w : writers_) {
        if (w->buffered() > 0) SEGFLOW_RETURN_IF_ERROR(w->Flush(false));
      }
    }
    return Status::OK();
  }

  Status Finish() override {
    for (auto& w : writers_) SEGFLOW_RETURN_IF_ERROR(w->Flush(true));
    return Status::OK();
  }

  uint32_t partitions() const { return meta_.partitions; }
  uint64_t appended() const { return appended_; }
  uint64_t skipped() const { return skipped_; }

 private:
  explicit LogOutput(const log::TopicMeta& meta) : meta_(meta), decoder_(RoleFields{}) {}

  log::TopicMeta meta_;
  JsonEventDecoder decoder_;  // gen's own field names, whatever the topic prints with
  std::vector<std::unique_ptr<log::PartitionWriter>> writers_;
  Event event_;
  uint64_t appended_ = 0;
  uint64_t skipped_ = 0;
};

// Hands chunks to an output at `rate` lines per second: line n (from 0) is written no
// earlier than start + n / rate, in groups of about 1/100 s of lines, each made visible.
class Pacer {
 public:
  Pacer(double rate, LineOutput* out)
      : rate_(rate),
        group_(static_cast<uint64_t>(std::max(1.0, rate / kPacedGroupsPerSecond))),
        out_(out),
        start_(std::chrono::steady_clock::now()) {}

  Status Write(std::string_view chunk) {
    while (!chunk.empty()) {
      size_t end = 0;
      uint64_t lines = 0;
      while (lines < group_ && end < chunk.size()) {
        const size_t nl = chunk.find('\n', end);
        end = nl == std::string_view::npos ? chunk.size() : nl + 1;
        ++lines;
      }
      std::this_thread::sleep_until(
          start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(written_) / rate_)));
      SEGFLOW_RETURN_IF_ERROR(out_->Write(chunk.substr(0, end), true));
      written_ += lines;
      chunk.remove_prefix(end);
    }
    return Status::OK();
  }

 private:
  const double rate_;
  const uint64_t group_;
  LineOutput* out_;
  const std::chrono::steady_clock::time_point start_;
  uint64_t written_ = 0;
};

}  // namespace

int GenCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow gen SCENARIO --users N --events N --seed S [--start TIME] [--days D]\n"
      "                  [--late-fraction F] [--malformed-fraction F] [--rate R]\n"
      "                  [--out FILE | --log DIR --topic T [--partitions N]]\n\n"
      "Writes N events of SCENARIO (media, cart or fintech) as JSON lines, in roughly\n"
      "increasing time (up to 3 s out of order), to stdout or FILE. The same options give the\n"
      "same bytes. A --late-fraction of events arrive 10 min to 6 h behind their time; a\n"
      "--malformed-fraction of lines are malformed on purpose. TIME: epoch ms or RFC 3339.\n"
      "With --log and --topic the events are appended to a topic of the embedded log as\n"
      "`segflow produce` would (created with --partitions, default 4, if missing); malformed\n"
      "lines are counted and left out. --rate R writes R events per second of wall time\n"
      "(each 1/100 s of them flushed, so readers of the log see them as they come).\n\n"
      "options");
  opts.add_options()("help,h", "show this help")("users", po::value<std::string>(),
                                                 "number of distinct users (user ids u1..uN)")(
      "events", po::value<std::string>(), "number of lines to write")(
      "seed", po::value<std::string>(), "random seed (unsigned integer)")(
      "start", po::value<std::string>(), "time of the first events (default 2026-05-01T00:00:00Z)")(
      "days", po::value<std::string>(), "days the events span (default 7)")(
      "late-fraction", po::value<std::string>(), "share of events that arrive late (default 0)")(
      "malformed-fraction", po::value<std::string>(), "share of malformed lines (default 0)")(
      "rate", po::value<std::string>(), "events per second of wall time (default: as fast as possible)")(
      "out", po::value<std::string>(), "write to FILE (fsync'd) instead of stdout")(
      "log", po::value<std::string>(), "append to the embedded log in DIR (needs --topic)")(
      "topic", po::value<std::string>(), "topic of --log to append to")(
      "partitions", po::value<std::string>(), "partitions of a new --log topic (default 4)");
  po::options_description hidden;
  hidden.add_options()("scenario", po::value<std::string>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("scenario", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "segflow gen: " << e.what() << "\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  auto usage_error = [&](const std::string& message) {
    std::cerr << "segflow gen: " << message << "\n" << opts << "\n";
    return 2;
  };
  if (!vm.count("scenario")) return usage_error("missing SCENARIO (media, cart or fintech)");
  for (const char* required : {"users", "events", "seed"}) {
    if (!vm.count(required)) return usage_error(std::string("missing --") + required);
  }

  gen::GenOptions options;
  auto scenario = gen::ParseScenario(vm["scenario"].as<std::string>());
  if (!scenario.ok()) return usage_error(scenario.status().message());
  options.scenario = *scenario;
  auto arg = [&](const char* name) { return vm[name].as<std::string>(); };
  if (!ParseWhole(arg("users"), &options.users)) return usage_error("--users: expected an integer");
  if (!ParseWhole(arg("events"), &options.events)) {
    return usage_error("--events: expected a non-negative integer");
  }
  if (!ParseWhole(arg("seed"), &options.seed))
    return usage_error("--seed: expected an unsigned integer");
  if (vm.count("start")) {
    auto start = ParseTimeArg(arg("start"));
    if (!start.ok()) return usage_error("--start: " + start.status().message());
    options.start_ms = *start;
  }
  if (vm.count("days") && !ParseWhole(arg("days"), &options.days)) {
    return usage_error("--days: expected a number");
  }
  if (vm.count("late-fraction") && !ParseWhole(arg("late-fraction"), &options.late_fraction)) {
    return usage_error("--late-fraction: expected a number");
  }
  if (vm.count("malformed-fraction") &&
      !ParseWhole(arg("malformed-fraction"), &options.malformed_fraction)) {
    return usage_error("--malformed-fraction: expected a number");
  }
  if (Status s = options.Validate(); !s.ok()) return usage_error(s.message());
  std::optional<double> rate;
  if (vm.count("rate")) {
    double r = 0;
    if (!ParseWhole(arg("rate"), &r) || !(r > 0 && r <= 1e9)) {
      return usage_error("--rate: expected events per second, > 0 and <= 1e9");
    }
    rate = r;
  }
  const bool to_log = vm.count("log") > 0;
  if (to_log != (vm.count("topic") > 0)) return usage_error("--log and --topic go together");
  if (to_log && vm.count("out")) return usage_error("--out and --log exclude each other");
  std::optional<uint32_t> partitions;
  if (vm.count("partitions")) {
    uint32_t n = 0;
    if (!to_log) return usage_error("--partitions needs --log and --topic");
    if (!ParseWhole(arg("partitions"), &n) || n == 0) {
      return usage_error("--partitions: expected an integer >= 1");
    }
    partitions = n;
  }

  std::unique_ptr<LineOutput> output;
  LogOutput* log_output = nullptr;
  if (to_log) {
    auto opened = LogOutput::Open(arg("log"), arg("topic"), partitions);
    if (!opened.ok()) {
      std::cerr << "segflow gen: " << opened.status().message() << "\n";
      return 1;
    }
    log_output = opened->get();
    output = std::move(opened).value();
  } else if (vm.count("out")) {
    const std::string out_path = arg("out");
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::cerr << "segflow gen: " << Status::FromErrno(out_path, errno).message() << "\n";
      return 1;
    }
    output = std::make_unique<FdOutput>(fd, out_path);
  } else {
    output = std::make_unique<FdOutput>(STDOUT_FILENO, "");
  }
  std::optional<Pacer> pacer;
  if (rate) pacer.emplace(*rate, output.get());

  const auto began = std::chrono::steady_clock::now();
  auto stats = gen::GenerateScenario(options, [&](std::string_view chunk) {
    return pacer ? pacer->Write(chunk) : output->Write(chunk, false);
  });
  Status status = stats.ok() ? Status::OK() : stats.status();
  if (Status s = output->Finish(); status.ok()) status = s;
  if (!status.ok()) {
    std::cerr << "segflow gen: " << status.message() << "\n";
    return 1;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::fprintf(stderr,
               "segflow gen: %s: %llu lines (%llu malformed, %llu late) for up to %llu users, "
               "%s .. %s, in %.2f s (%.0f lines/s)\n",
               gen::ScenarioName(options.scenario), static_cast<unsigned long long>(stats->lines),
               static_cast<unsigned long long>(stats->malformed),
               static_cast<unsigned long long>(stats->late),
               static_cast<unsigned long long>(options.users),
               stats->lines ? FormatRfc3339Millis(stats->min_ts).c_str() : "-",
               stats->lines ? FormatRfc3339Millis(stats->max_ts).c_str() : "-", secs,
               secs > 0 ? static_cast<double>(stats->lines) / secs : 0.0);
  if (log_output != nullptr) {
    std::fprintf(stderr,
                 "segflow gen: %llu records appended to topic '%s' (%u partitions), %llu malformed "
                 "lines left out\n",
                 static_cast<unsigned long long>(log_output->appended()), arg("topic").c_str(),
                 log_output->partitions(), static_cast<unsigned long long>(log_output->skipped()));
  }
  return 0;
}

}  // namespace segflow::cli
