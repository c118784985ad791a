#include "cli/job_command_line.h"

#include <iostream>
#include <string>

namespace segflow::cli {

namespace po = boost::program_options;

std::optional<int> ParseJobCommandLine(const char* command, int argc, char** argv,
                                       const po::options_description& opts,
                                       po::variables_map* vm) {
  return ParseCommandLine(command, argc, argv, opts, vm, "job");
}

std::optional<int> ParseCommandLine(const char* command, int argc, char** argv, const po::options_description& opts,
                                    po::variables_map* vm, const char* positional) {
  po::options_description hidden;
  if (positional != nullptr) hidden.add_options()(positional, po::value<std::string>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  if (positional != nullptr) pos.add(positional, 1);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << "segflow " << command << ": " << e.what() << "\n" << opts << "\n";
    return 2;
  }
  if (vm->count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  return std::nullopt;
}

}  // namespace segflow::cli
