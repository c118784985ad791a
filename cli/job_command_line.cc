#include "cli/job_command_line.h"

#include <cstdlib>
#include <iostream>
#include <set>
#include <string>

#include "engine/net/auth.h"
#include "engine/net/tls.h"

namespace segflow::cli {

namespace po = boost::program_options;

std::optional<int> ParseJobCommandLine(const char* command, int argc, char** argv,
                                       const po::options_description& opts,
                                       po::variables_map* vm) {
  return ParseCommandLine(command, argc, argv, opts, vm, "job");
}

namespace {

// Commands that connect to a cluster take the cluster's secret (engine/net/auth.h). `run`
// is not one: its embedded cluster makes a secret of its own.
bool Connects(const std::string& command) {
  static const std::set<std::string> kConnecting = {"coordinator", "worker", "submit",    "jobs",
                                                    "status",      "cancel", "savepoint", "bench"};
  return kConnecting.count(command) > 0;
}

// --secret-file, else SEGFLOW_SECRET_FILE: loaded into net::DefaultCredentials().
std::optional<int> LoadSecret(const char* command, const po::variables_map& vm) {
  std::string path;
  if (vm.count("secret-file")) path = vm["secret-file"].as<std::string>();
  if (path.empty()) {
    const char* env = std::getenv("SEGFLOW_SECRET_FILE");
    if (env != nullptr) path = env;
  }
  if (path.empty()) return std::nullopt;
  auto credentials = net::LoadSecretFile(path);
  if (!credentials.ok()) {
    std::cerr << "segflow " << command << ": " << credentials.status().message() << "\n";
    return 2;
  }
  net::SetDefaultCredentials(std::move(credentials).value());
  return std::nullopt;
}

// --tls-cert, --tls-key, --tls-ca (all three or none): mutual TLS on every connection.
std::optional<int> LoadTls(const char* command, const po::variables_map& vm) {
  const int given = static_cast<int>(vm.count("tls-cert") + vm.count("tls-key") + vm.count("tls-ca"));
  if (given == 0) return std::nullopt;
  if (given != 3) {
    std::cerr << "segflow " << command << ": --tls-cert, --tls-key and --tls-ca go together\n";
    return 2;
  }
  auto tls = net::TlsContext::Create(vm["tls-cert"].as<std::string>(), vm["tls-key"].as<std::string>(),
                                     vm["tls-ca"].as<std::string>());
  if (!tls.ok()) {
    std::cerr << "segflow " << command << ": " << tls.status().message() << "\n";
    return 2;
  }
  net::SetDefaultTls(std::move(tls).value());
  return std::nullopt;
}

}  // namespace

std::optional<int> ParseCommandLine(const char* command, int argc, char** argv,
                                    const po::options_description& opts, po::variables_map* vm,
                                    const char* positional) {
  po::options_description hidden;
  if (positional != nullptr) hidden.add_options()(positional, po::value<std::string>());
  po::options_description security("cluster security");
  if (Connects(command)) {
    security.add_options()(
        "secret-file", po::value<std::string>(),
        "file holding the cluster's shared secret (default: $SEGFLOW_SECRET_FILE); every "
        "connection proves it; without one, only loopback addresses")(
        "tls-cert", po::value<std::string>(),
        "PEM certificate (chain) of this process: mutual TLS on every connection")(
        "tls-key", po::value<std::string>(), "PEM private key of --tls-cert")(
        "tls-ca", po::value<std::string>(), "PEM CA bundle every peer's certificate must verify against");
  }
  // Printed as the command's own table, then the security group (a wrapper description
  // would print an empty caption line first).
  auto print_help = [&](std::ostream& out) {
    out << opts << "\n";
    if (Connects(command)) out << security << "\n";
  };
  po::options_description all;
  all.add(opts).add(hidden);
  if (Connects(command)) all.add(security);
  po::positional_options_description pos;
  if (positional != nullptr) pos.add(positional, 1);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << "segflow " << command << ": " << e.what() << "\n";
    print_help(std::cerr);
    return 2;
  }
  if (vm->count("help")) {
    print_help(std::cout);
    return 0;
  }
  if (Connects(command)) {
    if (auto done = LoadSecret(command, *vm)) return done;
    return LoadTls(command, *vm);
  }
  return std::nullopt;
}

}  // namespace segflow::cli
