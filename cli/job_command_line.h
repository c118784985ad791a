// Command-line parsing shared by the subcommands that take one JOB.yaml positional
// argument (run, audience, explain).
#pragma once

#include <optional>

#include <boost/program_options.hpp>

namespace segflow::cli {

// Parses argv against `opts` plus the positional JOB.yaml (stored as "job"). Returns an
// exit code when the command must stop here: 0 after printing --help, 2 after a usage
// error (message and options on stderr, prefixed with "segflow <command>: "). Returns
// nullopt when parsing succeeded; "job" may still be missing (the caller says what is).
std::optional<int> ParseJobCommandLine(const char* command, int argc, char** argv,
                                       const boost::program_options::options_description& opts,
                                       boost::program_options::variables_map* vm);

// The same with one positional argument stored as `positional` (nullptr: none).
std::optional<int> ParseCommandLine(const char* command, int argc, char** argv,
                                    const boost::program_options::options_description& opts,
                                    boost::program_options::variables_map* vm, const char* positional);

}  // namespace segflow::cli
