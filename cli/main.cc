// segflow: one binary, one subcommand per verb (spec §8).
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"

namespace {

struct Subcommand {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

const Subcommand kSubcommands[] = {
    {"produce", segflow::cli::ProduceCommand, "append JSON-lines events from stdin to a log topic"},
    {"consume", segflow::cli::ConsumeCommand, "print a log topic as JSON lines"},
    {"run", segflow::cli::RunCommand, "run a job on the embedded default (bounded or live)"},
    {"audience", segflow::cli::AudienceCommand, "list a segment's members as of a time"},
    {"preview", segflow::cli::PreviewCommand, "a segment's size and sample members from a quick replay of it alone, writing nothing"},
    {"explain", segflow::cli::ExplainCommand, "why a user is or is not in a segment at a time"},
    {"gen", segflow::cli::GenCommand, "generate scenario events (media, cart, fintech) as JSON lines"},
    {"bench", segflow::cli::BenchCommand, "replay throughput of a job on 0..N local workers (Markdown, JSON)"},
    {"diff", segflow::cli::DiffCommand, "compare two audiences per segment; non-zero past a divergence threshold"},
    {"health", segflow::cli::HealthCommand, "per segment population, entries/exits per hour, latency, late records"},
    {"drop-version", segflow::cli::DropVersionCommand, "delete a frozen (no longer serving) version of a segment's audience"},
    {"forget", segflow::cli::ForgetCommand, "erase a user from a job's outputs and audience stores, with an audit record"},
    {"kafka-mock", segflow::cli::KafkaMockCommand, "start a local Kafka-protocol mock cluster (librdkafka) for trying Kafka sources"},
    {"coordinator", segflow::cli::CoordinatorCommand, "run a cluster's coordinator"},
    {"worker", segflow::cli::WorkerCommand, "run a worker that registers with a coordinator"},
    {"submit", segflow::cli::SubmitCommand, "submit a job to a cluster"},
    {"jobs", segflow::cli::JobsCommand, "list a cluster's jobs and workers"},
    {"status", segflow::cli::StatusCommand, "a job's state and per-task metrics"},
    {"cancel", segflow::cli::CancelCommand, "stop a job on a cluster"},
    {"savepoint", segflow::cli::SavepointCommand, "write a savepoint of a running job (optionally stopping it)"},
};

void PrintUsage(FILE* out) {
  std::fprintf(out, "usage: segflow <command> [options]   (segflow <command> --help for its options)\n\ncommands:\n");
  for (const auto& c : kSubcommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  for (const auto& c : kSubcommands) {
    if (cmd == c.name) return c.fn(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "segflow: unknown command '%s'\n", cmd.c_str());
  PrintUsage(stderr);
  return 2;
}
