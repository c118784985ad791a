// segflow gen SCENARIO --users N --events N --seed S [...]: scenario events as JSON lines.
#include <fcntl.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <system_error>
#include <type_traits>

#include "bench/generator/scenario_generator.h"
#include "cli/commands.h"
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

}  // namespace

int GenCommand(int argc, char** argv) {
  po::options_description opts(
      "usage: segflow gen SCENARIO --users N --events N --seed S [--start TIME] [--days D]\n"
      "                  [--late-fraction F] [--malformed-fraction F] [--out FILE]\n\n"
      "Writes N events of SCENARIO (media, cart or fintech) as JSON lines, in roughly\n"
      "increasing time (up to 3 s out of order), to stdout or FILE. The same options give the\n"
      "same bytes. A --late-fraction of events arrive 10 min to 6 h behind their time; a\n"
      "--malformed-fraction of lines are malformed on purpose. TIME: epoch ms or RFC 3339.\n\n"
      "options");
  opts.add_options()("help,h", "show this help")("users", po::value<std::string>(),
                                                 "number of distinct users (user ids u1..uN)")(
      "events", po::value<std::string>(), "number of lines to write")(
      "seed", po::value<std::string>(), "random seed (unsigned integer)")(
      "start", po::value<std::string>(), "time of the first events (default 2026-05-01T00:00:00Z)")(
      "days", po::value<std::string>(), "days the events span (default 7)")(
      "late-fraction", po::value<std::string>(), "share of events that arrive late (default 0)")(
      "malformed-fraction", po::value<std::string>(), "share of malformed lines (default 0)")(
      "out", po::value<std::string>(), "write to FILE (fsync'd) instead of stdout");
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

  int fd = STDOUT_FILENO;
  std::string out_path;
  if (vm.count("out")) {
    out_path = arg("out");
    fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::cerr << "segflow gen: " << Status::FromErrno(out_path, errno).message() << "\n";
      return 1;
    }
  }
  const auto began = std::chrono::steady_clock::now();
  auto stats =
      gen::GenerateScenario(options, [fd](std::string_view chunk) { return WriteAll(fd, chunk); });
  Status status = stats.ok() ? Status::OK() : stats.status();
  if (!out_path.empty()) {
    if (status.ok() && ::fsync(fd) != 0) status = Status::FromErrno("fsync " + out_path, errno);
    if (::close(fd) != 0 && status.ok()) status = Status::FromErrno("close " + out_path, errno);
  }
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
  return 0;
}

}  // namespace segflow::cli
