#include "cli/embedded_cluster.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/cluster_client.h"
#include "engine/net/auth.h"
#include "engine/net/tls.h"

namespace segflow::cli {
namespace {

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("segflow") : p.string();
}

// Waits for `pid` up to `timeout`; true once it has exited (reaped).
bool WaitExit(pid_t pid, std::chrono::milliseconds timeout, int* status) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid || r < 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

Result<std::string> ReadHttpToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return Status::InvalidArgument(path + " is empty: put the token in it");
  return token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
}

std::string JobFolder(const std::string& job_file) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(job_file, ec);
  if (ec) abs = std::filesystem::path(job_file);
  return abs.lexically_normal().parent_path().string();
}

Result<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(int workers, uint32_t slots, const std::string& dir,
                                                                const std::vector<std::string>& data_roots,
                                                                const Http& http, size_t memory_budget) {
  if (data_roots.empty()) return Status::InvalidArgument("the local cluster needs at least one data root");
  std::unique_ptr<EmbeddedCluster> cluster(new EmbeddedCluster());
  // A fresh secret for this cluster's own processes (0600, in its folder): other local
  // users cannot join it or submit to it. This process's clients use it too.
  std::error_code mk_ec;
  std::filesystem::create_directories(dir, mk_ec);
  const std::string secret_file = dir + "/cluster.secret";
  SEGFLOW_RETURN_IF_ERROR(net::WriteRandomSecretFile(secret_file));
  auto credentials = net::LoadSecretFile(secret_file);
  if (!credentials.ok()) return credentials.status();
  net::SetDefaultCredentials(std::move(credentials).value());
  net::SetDefaultTls(nullptr);  // its workers are started without TLS flags; loopback only
  coordinator::CoordinatorOptions options;
  options.listen = net::HostPort{"127.0.0.1", 0};
  options.dir = dir + "/coordinator";
  options.http = http.address;
  options.http_token = http.token;
  options.data_roots = data_roots;
  cluster->coordinator_ = std::make_unique<coordinator::Coordinator>(options);
  SEGFLOW_RETURN_IF_ERROR(cluster->coordinator_->Start());
  const std::string exe = SelfExe();
  const std::string address = cluster->address();
  const pid_t parent = ::getpid();
  const std::string budget_arg = std::to_string(memory_budget);
  for (int i = 0; i < workers; ++i) {
    const std::string wdir = dir + "/worker-" + std::to_string(i);
    const std::string slots_arg = std::to_string(slots);
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<const char*> argv = {exe.c_str(), "worker",     "--coordinator", address.c_str(), "--slots",
                                     slots_arg.c_str(), "--dir", wdir.c_str(),   "--listen",      "127.0.0.1:0"};
    argv.push_back("--secret-file");
    argv.push_back(secret_file.c_str());
    for (const auto& root : data_roots) {
      argv.push_back("--data-root");
      argv.push_back(root.c_str());
    }
    if (memory_budget > 0) {
      argv.push_back("--memory-budget");
      argv.push_back(budget_arg.c_str());
    }
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return Status::FromErrno("fork a worker", errno);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      const int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
      ::execv(exe.c_str(), const_cast<char* const*>(argv.data()));
      ::_exit(127);
    }
    cluster->pids_.push_back(pid);
  }
  // Every worker registered, or the reason one did not.
  auto client = ClusterClient::Connect(address);
  if (!client.ok()) return client.status();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto reply = (*client)->Status("");
    if (!reply.ok()) return reply.status();
    int alive = 0;
    for (auto w : (*reply)->Root<wire::ControlMessage>().getStatusReply().getWorkers()) alive += w.getAlive();
    if (alive >= workers) break;
    for (pid_t pid : cluster->pids_) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        return Status::Internal("worker process " + std::to_string(pid) + " exited before registering (status " +
                                std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) +
                                "; its error is above)");
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Internal("only " + std::to_string(alive) + " of " + std::to_string(workers) +
                              " workers registered within 30 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cluster;
}

EmbeddedCluster::~EmbeddedCluster() {
  coordinator_->Shutdown();  // asks every worker to exit
  for (pid_t pid : pids_) {
    int status = 0;
    if (WaitExit(pid, std::chrono::seconds(10), &status)) continue;
    ::kill(pid, SIGKILL);
    WaitExit(pid, std::chrono::seconds(5), &status);
  }
}

}  // namespace segflow::cli
