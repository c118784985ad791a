// Subcommands of the `segflow` binary. Each parses its own options (argv[0] is the
// subcommand name) and returns the process exit code.
#pragma once

namespace segflow::cli {

int ProduceCommand(int argc, char** argv);
int ConsumeCommand(int argc, char** argv);
int RunCommand(int argc, char** argv);
int AudienceCommand(int argc, char** argv);
int GenCommand(int argc, char** argv);
int ExplainCommand(int argc, char** argv);
int CoordinatorCommand(int argc, char** argv);
int WorkerCommand(int argc, char** argv);
int SubmitCommand(int argc, char** argv);
int JobsCommand(int argc, char** argv);
int StatusCommand(int argc, char** argv);
int CancelCommand(int argc, char** argv);
int SavepointCommand(int argc, char** argv);
int BenchCommand(int argc, char** argv);
int DiffCommand(int argc, char** argv);
int HealthCommand(int argc, char** argv);
int ForgetCommand(int argc, char** argv);
int DropVersionCommand(int argc, char** argv);
int KafkaMockCommand(int argc, char** argv);
int PreviewCommand(int argc, char** argv);

}  // namespace segflow::cli
