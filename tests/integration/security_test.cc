// A cluster that only its owners can use (issue 13), attacked as an outsider would: real
// `segflow` processes on 127.0.0.1, raw sockets for the attacker. No secret or a wrong one,
// a replayed handshake, garbage, a huge frame header, floods of idle and slow connections,
// descriptor exhaustion, a worker that never answers, forged acks: each is refused and
// logged with the peer, resources stay bounded, and real clients and jobs are unharmed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"
#include "engine/net/auth.h"
#include "engine/net/connection.h"
#include "engine/schema/cluster.capnp.h"

namespace segflow {
namespace {

using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers
using Clock = std::chrono::steady_clock;

bool Eventually(const std::function<bool()>& probe, std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (probe()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

uint64_t ProcStatus(pid_t pid, const std::string& field) {
  const std::string text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  std::smatch m;
  const std::regex re(field + R"(:\s+(\d+))");
  return std::regex_search(text, m, re) ? std::stoull(m[1]) : 0;
}

// Like Spawn, with RLIMIT_NOFILE lowered in the child before exec (async-signal-safe).
pid_t SpawnWithFdLimit(const std::vector<std::string>& args, const std::string& out,
                       const std::string& err, rlim_t nofile) {
  const std::string binary = SEGFLOW_BINARY;
  std::vector<const char*> argv{binary.c_str()};
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int in = ::open("/dev/null", O_RDONLY);
  const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || o < 0 || e < 0) ::_exit(127);
  ::dup2(in, 0);
  ::dup2(o, 1);
  ::dup2(e, 2);
  ::close(in);
  ::close(o);
  ::close(e);
  const rlimit limit{nofile, nofile};
  if (nofile > 0 && ::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
  ::execv(binary.c_str(), const_cast<char* const*>(argv.data()));
  ::_exit(127);
}

// A raw TCP connection to 127.0.0.1:port (the attacker's side); -1 on failure.
int RawConnect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t w = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) return false;
    sent += static_cast<size_t>(w);
  }
  return true;
}

// Reads until `n` bytes came, EOF or `timeout`; what came.
std::string RecvSome(int fd, size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  const auto until = Clock::now() + timeout;
  char buf[4096];
  while (out.size() < n) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// True once the peer closed `fd` (EOF or reset) within `timeout`; data before it is read past.
bool ClosedByPeer(int fd, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    const ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) return true;
  }
}

// One frame: [u32 little-endian length][message].
std::string Frame(capnp::MallocMessageBuilder& msg) {
  auto words = capnp::messageToFlatArray(msg);
  auto bytes = words.asBytes();
  std::string out(4, '\0');
  const auto n = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(n >> (8 * i));
  out.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return out;
}

// Reads one whole frame (header and body) as raw bytes.
std::string RecvFrame(int fd, std::chrono::milliseconds timeout) {
  std::string head = RecvSome(fd, 4, timeout);
  if (head.size() < 4) return head;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<uint8_t>(head[i])) << (8 * i);
  return head + RecvSome(fd, n, timeout);
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_ = scratch() + "/secret";
    WriteFile(secret_, "correct-horse-battery-staple-0123456789\n");
    other_secret_ = scratch() + "/other-secret";
    WriteFile(other_secret_, "a-different-secret-of-enough-bytes\n");
    ::chmod(secret_.c_str(), 0600);
    ::chmod(other_secret_.c_str(), 0600);
  }
  void TearDown() override {
    for (pid_t p : pids_) {
      int status = 0;
      if (::waitpid(p, &status, WNOHANG) == 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, &status, 0);
      }
    }
    net::SetDefaultCredentials(net::Credentials{});
  }
  const std::string& scratch() const { return dir_.path(); }

  // Starts a coordinator (`secret`: its --secret-file, empty: none); waits for its address.
  void StartCoordinator(const std::string& secret, std::vector<std::string> extra = {},
                        rlim_t nofile = 0) {
    std::vector<std::string> args = {
        "coordinator",         "--dir", scratch() + "/coordinator", "--listen", "127.0.0.1:0",
        "--heartbeat-timeout", "3000",  "--heartbeat-interval",     "200",
        "--data-root",         scratch()};
    if (!secret.empty()) args.insert(args.end(), {"--secret-file", secret});
    args.insert(args.end(), extra.begin(), extra.end());
    coordinator_out_ = scratch() + "/coordinator.stdout";
    coordinator_err_ = scratch() + "/coordinator.stderr";
    coordinator_ = SpawnWithFdLimit(args, coordinator_out_, coordinator_err_, nofile);
    pids_.push_back(coordinator_);
    ASSERT_TRUE(Eventually(
        [&] {
          std::smatch m;
          const std::string out = ReadFile(coordinator_out_);
          static const std::regex re(R"(coordinator listening on (\S+):(\d+))");
          if (!std::regex_search(out, m, re)) return false;
          address_ = std::string(m[1]) + ":" + std::string(m[2]);
          port_ = static_cast<uint16_t>(std::stoi(m[2]));
          return true;
        },
        std::chrono::seconds(10)))
        << ReadFile(coordinator_err_);
  }
  pid_t AddWorker(int slots, const std::string& secret) {
    const int n = workers_++;
    std::vector<std::string> args = {"worker",
                                     "--coordinator",
                                     address_,
                                     "--slots",
                                     std::to_string(slots),
                                     "--dir",
                                     scratch() + "/worker-" + std::to_string(n),
                                     "--data-root",
                                     scratch()};
    if (!secret.empty()) args.insert(args.end(), {"--secret-file", secret});
    const pid_t pid = Start(args, "", scratch(), scratch(), "worker-" + std::to_string(n));
    pids_.push_back(pid);
    return pid;
  }
  Outcome Cli(std::vector<std::string> args, const std::string& secret) {
    args.insert(args.end(), {"--coordinator", address_});
    if (!secret.empty()) args.insert(args.end(), {"--secret-file", secret});
    return Segflow(args, "", scratch());
  }
  bool WaitForWorkers(int n, const std::string& secret) {
    return Eventually(
        [&] {
          const std::string out = Cli({"jobs"}, secret).out;
          int alive = 0;
          for (const auto& l : Lines(out)) alive += l.find(" alive") != std::string::npos;
          return alive >= n;
        },
        std::chrono::seconds(20));
  }
  std::string CoordinatorLog() { return ReadFile(coordinator_err_); }
  // A small log and a job over it (in `dir`, default the scratch folder).
  void MakeJob(const std::string& dir, int parallelism, const std::string& checkpoint = "") {
    std::filesystem::create_directories(dir);
    Outcome g = Segflow({"gen", "cart", "--users", "200", "--events", "4000", "--seed", "11"}, "",
                        scratch());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    Outcome p =
        Segflow({"produce", "--log", dir + "/log", "--topic", "events", "--partitions", "2"}, g.out,
                scratch());
    ASSERT_EQ(p.exit_code, 0) << p.err;
    WriteFile(dir + "/job.yaml",
              "job: shop\nlog: " + dir + "/log\nsource: {topics: [events], max_out_of_orderness: 5s}\n"
              "segments:\n"
              "  - id: big_cart\n"
              "    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}\n"
              "  - id: buyer\n"
              "    when: {count: {event: purchase, window: 7d, at_least: 1}}\n" +
                  checkpoint + "parallelism: " + std::to_string(parallelism) + "\n");
  }
  std::string Audience(const std::string& job) {
    Outcome a = Segflow({"audience", job, "--segment", "big_cart"}, "", scratch());
    Outcome b = Segflow({"audience", job, "--segment", "buyer"}, "", scratch());
    EXPECT_EQ(a.exit_code, 0) << a.err;
    return a.out + "--\n" + b.out;
  }

  ScratchDir dir_{"segflow-security"};
  std::string secret_, other_secret_;
  std::string coordinator_out_, coordinator_err_, address_;
  uint16_t port_ = 0;
  pid_t coordinator_ = -1;
  int workers_ = 0;
  std::vector<pid_t> pids_;
};

// No secret, a wrong secret, a raw cancelJob and a replayed handshake are refused and
// logged with the peer; the legitimate job runs on and its output is exactly the in-process
// run's.
TEST_F(SecurityTest, OnlyHoldersOfTheSecretGetIn) {
  MakeJob(scratch() + "/a", 2);  // a live job
  MakeJob(scratch() + "/b", 2);  // a bounded job on the cluster ...
  MakeJob(scratch() + "/c", 2);  // ... and the same log run in-process: the reference
  Outcome reference =
      Segflow({"run", scratch() + "/c/job.yaml", "--bounded", "--workers", "0"}, "", scratch());
  ASSERT_EQ(reference.exit_code, 0) << reference.err;

  StartCoordinator(secret_);
  AddWorker(2, secret_);
  AddWorker(2, secret_);
  ASSERT_TRUE(WaitForWorkers(2, secret_)) << CoordinatorLog();

  // A worker with the wrong secret never registers.
  AddWorker(2, other_secret_);
  Outcome none = Cli({"jobs"}, "");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("requires a shared secret"), std::string::npos) << none.err;
  Outcome wrong = Cli({"jobs"}, other_secret_);
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("refused the handshake"), std::string::npos) << wrong.err;
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string log = CoordinatorLog();
        return log.find("refused the connection from 127.0.0.1:") != std::string::npos &&
               log.find("no secret given") != std::string::npos &&
               log.find("wrong secret") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << CoordinatorLog();

  // A live job, then a raw cancelJob without the handshake: refused, the job runs on.
  Outcome submitted = Cli({"submit", scratch() + "/a/job.yaml"}, secret_);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string live_id = Lines(submitted.out).at(0);
  ASSERT_TRUE(Eventually(
      [&] {
        return Cli({"status", live_id}, secret_).out.find(": running") != std::string::npos;
      },
      std::chrono::seconds(20)));
  const int raw = RawConnect(port_);
  ASSERT_GE(raw, 0);
  capnp::MallocMessageBuilder cancel;
  cancel.initRoot<wire::ControlMessage>().initCancelJob().setJobId(live_id);
  SendAll(raw, Frame(cancel));
  EXPECT_TRUE(ClosedByPeer(raw, std::chrono::seconds(10)));
  ::close(raw);

  // A replay: a proxy records a real client's bytes; sent again on a new connection they
  // fail (the coordinator's nonce is new).
  std::string recorded;
  {
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(lfd, 4), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string proxy = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    std::thread relay([&] {
      const int client = ::accept(lfd, nullptr, nullptr);
      const int server = RawConnect(port_);
      if (client < 0 || server < 0) return;
      const auto until = Clock::now() + std::chrono::seconds(10);
      char buf[65536];
      while (Clock::now() < until) {
        pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        if (::poll(p, 2, 200) <= 0) continue;
        if (p[0].revents) {
          const ssize_t r = ::recv(client, buf, sizeof(buf), 0);
          if (r <= 0) break;
          recorded.append(buf, static_cast<size_t>(r));
          SendAll(server, std::string(buf, static_cast<size_t>(r)));
        }
        if (p[1].revents) {
          const ssize_t r = ::recv(server, buf, sizeof(buf), 0);
          if (r <= 0) break;
          SendAll(client, std::string(buf, static_cast<size_t>(r)));
        }
      }
      ::close(client);
      ::close(server);
    });
    Outcome via_proxy =
        Segflow({"jobs", "--coordinator", proxy, "--secret-file", secret_}, "", scratch());
    relay.join();
    ::close(lfd);
    ASSERT_EQ(via_proxy.exit_code, 0) << via_proxy.err;
  }
  ASSERT_GT(recorded.size(), 4u);
  const int replay = RawConnect(port_);
  ASSERT_GE(replay, 0);
  const std::string challenge = RecvFrame(replay, std::chrono::seconds(5));
  ASSERT_GT(challenge.size(), 4u);
  SendAll(replay, recorded);
  const std::string result = RecvFrame(replay, std::chrono::seconds(5));
  ASSERT_GT(result.size(), 4u);
  {
    std::vector<capnp::word> words((result.size() - 4) / sizeof(capnp::word));
    std::memcpy(words.data(), result.data() + 4, words.size() * sizeof(capnp::word));
    OwnedMessage msg(std::move(words));
    auto r = msg.Root<wire::AuthMessage>();
    ASSERT_EQ(r.which(), wire::AuthMessage::RESULT);
    EXPECT_FALSE(r.getResult().getOk());
    EXPECT_NE(std::string(r.getResult().getError().cStr()).find("wrong secret"), std::string::npos);
  }
  EXPECT_TRUE(ClosedByPeer(replay, std::chrono::seconds(5)));
  ::close(replay);

  Outcome status = Cli({"status", live_id}, secret_);
  EXPECT_NE(status.out.find(": running"), std::string::npos) << status.out;
  Outcome stop = Cli({"cancel", live_id, "--wait"}, secret_);
  EXPECT_EQ(stop.exit_code, 0) << stop.err;

  // The legitimate bounded job: exactly the in-process run's audience.
  Outcome bounded = Cli({"submit", scratch() + "/b/job.yaml", "--bounded", "--wait"}, secret_);
  ASSERT_EQ(bounded.exit_code, 0) << bounded.err;
  const std::string cluster_audience = Audience(scratch() + "/b/job.yaml");
  EXPECT_GT(Lines(cluster_audience).size(), 2u);
  EXPECT_EQ(cluster_audience, Audience(scratch() + "/c/job.yaml"));
  // The wrong-secret worker never joined.
  EXPECT_EQ(Cli({"jobs"}, secret_).out.find("worker 3"), std::string::npos);
}

// Without a secret the coordinator refuses a non-loopback address, saying what to do.
TEST_F(SecurityTest, NoSecretMeansLoopbackOnly) {
  Outcome o =
      Segflow({"coordinator", "--dir", scratch() + "/c", "--listen", "0.0.0.0:0"}, "", scratch());
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("not a loopback address and no secret is set"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("--secret-file"), std::string::npos) << o.err;
  Outcome short_secret_file = [&] {
    WriteFile(scratch() + "/short", "abc\n");
    return Segflow({"jobs", "--secret-file", scratch() + "/short"}, "", scratch());
  }();
  EXPECT_EQ(short_secret_file.exit_code, 2);
  EXPECT_NE(short_secret_file.err.find("at least 16"), std::string::npos) << short_secret_file.err;
}

// Garbage, and frame headers announcing huge frames before and after the handshake: the
// connections are refused or wait, and the coordinator's memory stays bounded.
TEST_F(SecurityTest, GarbageAndHugeFrameHeadersKeepMemoryBounded) {
  StartCoordinator("");
  const uint64_t rss_before = ProcStatus(coordinator_, "VmRSS");
  // Garbage: refused and closed.
  const int g = RawConnect(port_);
  ASSERT_GE(g, 0);
  std::string junk(1000, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919u) >> 3);
  SendAll(g, junk);
  EXPECT_TRUE(ClosedByPeer(g, std::chrono::seconds(10)));
  ::close(g);
  // Before the handshake: a 256 MiB header is refused at once.
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    const int fd = RawConnect(port_);
    ASSERT_GE(fd, 0);
    SendAll(fd, std::string("\xf8\xff\xff\x0f", 4));
    EXPECT_TRUE(ClosedByPeer(fd, std::chrono::seconds(10)));
    ::close(fd);
  }
  // After the handshake (no secret on loopback): 60 MiB announced, 8 bytes sent; the
  // buffer grows only with what arrives.
  for (int i = 0; i < 3; ++i) {
    const int fd = RawConnect(port_);
    ASSERT_GE(fd, 0);
    ASSERT_GT(RecvFrame(fd, std::chrono::seconds(5)).size(), 4u);  // the challenge
    capnp::MallocMessageBuilder response;
    auto r = response.initRoot<wire::AuthMessage>().initResponse();
    r.setVersion(wire::PROTOCOL_VERSION);
    std::string nonce(32, 'n');
    r.setNonce(kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(nonce.data()),
                                            nonce.size()));
    SendAll(fd, Frame(response));
    ASSERT_GT(RecvFrame(fd, std::chrono::seconds(5)).size(), 4u);  // the result
    const uint32_t n = 60u << 20;
    std::string head(4, '\0');
    for (int b = 0; b < 4; ++b) head[b] = static_cast<char>(n >> (8 * b));
    SendAll(fd, head + std::string(8, '\0'));
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(
      std::chrono::milliseconds(300));  // let the coordinator read what came
  const uint64_t rss_after = ProcStatus(coordinator_, "VmRSS");
  std::printf(
      "[measured] coordinator VmRSS %llu kB before, %llu kB with 3 huge frame headers pending\n",
      static_cast<unsigned long long>(rss_before), static_cast<unsigned long long>(rss_after));
  EXPECT_LT(rss_after, rss_before + 16 * 1024) << "the coordinator allocated announced frame sizes";
  for (int fd : fds) ::close(fd);
  const std::string log = CoordinatorLog();
  EXPECT_NE(log.find("refused the connection from 127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find("bad frame of"), std::string::npos) << log;
  EXPECT_EQ(Cli({"jobs"}, "").exit_code, 0);
}

// 300 idle connections and a slow sender: the coordinator's threads and memory stay bounded,
// the handshake deadline ends the slow one, and a real client is served meanwhile.
TEST_F(SecurityTest, IdleAndSlowConnectionsAreBounded) {
  StartCoordinator(secret_);
  // The baseline after one served client, so that threads started on first use are in it.
  ASSERT_EQ(Cli({"jobs"}, secret_).exit_code, 0);
  const uint64_t threads_before = ProcStatus(coordinator_, "Threads");
  const uint64_t rss_before = ProcStatus(coordinator_, "VmRSS");
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) {
    const int fd = RawConnect(port_);
    if (fd >= 0) idle.push_back(fd);
  }
  ASSERT_GE(idle.size(), 250u);
  const int slow = RawConnect(port_);
  ASSERT_GE(slow, 0);
  uint64_t threads_peak = 0, rss_peak = 0;
  const auto watch_until = Clock::now() + std::chrono::seconds(1);
  while (Clock::now() < watch_until) {
    threads_peak = std::max(threads_peak, ProcStatus(coordinator_, "Threads"));
    rss_peak = std::max(rss_peak, ProcStatus(coordinator_, "VmRSS"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // A real client, while they are all open.
  Outcome served = Cli({"jobs"}, secret_);
  EXPECT_EQ(served.exit_code, 0) << served.err;
  threads_peak = std::max(threads_peak, ProcStatus(coordinator_, "Threads"));
  std::printf(
      "[measured] coordinator threads %llu before, peak %llu with 300 idle connections; VmRSS %llu "
      "-> %llu kB\n",
      static_cast<unsigned long long>(threads_before),
      static_cast<unsigned long long>(threads_peak), static_cast<unsigned long long>(rss_before),
      static_cast<unsigned long long>(rss_peak));
  // 64 in the handshake, at most 8 dropped ones ending, the real client, and a few that have
  // signalled their end but that the kernel has not reaped yet when /proc is read.
  EXPECT_LE(threads_peak, threads_before + 64 + 8 + 6);
  EXPECT_LT(rss_peak, rss_before + 64 * 1024);
  EXPECT_NE(CoordinatorLog().find("connection cap"), std::string::npos) << CoordinatorLog();
  for (int fd : idle) ::close(fd);
  // The slow sender trickles a byte a second: the handshake deadline (5 s) ends it, whether
  // the cap dropped it first or not.
  const auto slow_start = Clock::now();
  bool closed = false;
  while (!closed && Clock::now() - slow_start < std::chrono::seconds(10)) {
    ::send(slow, "\x01", 1, MSG_NOSIGNAL);
    closed = ClosedByPeer(slow, std::chrono::milliseconds(1000));
  }
  EXPECT_TRUE(closed);
  ::close(slow);
  // Everything released: threads back near where they were.
  EXPECT_TRUE(Eventually([&] { return ProcStatus(coordinator_, "Threads") <= threads_before + 2; },
                         std::chrono::seconds(10)))
      << ProcStatus(coordinator_, "Threads");
}

// Clients that come and go release their descriptors (no CLOSE_WAIT pile-up); at the
// descriptor limit the accept loop backs off, logs, and serves again once there is room.
TEST_F(SecurityTest, DescriptorsAreReleasedAndExhaustionIsSurvived) {
  StartCoordinator("", {}, 64);
  auto open_fds = [&] {
    size_t n = 0;
    for (auto it =
             std::filesystem::directory_iterator("/proc/" + std::to_string(coordinator_) + "/fd");
         it != std::filesystem::directory_iterator(); ++it) {
      ++n;
    }
    return n;
  };
  const size_t fds_before = open_fds();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Cli({"jobs"}, "").exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return open_fds() <= fds_before + 2; }, std::chrono::seconds(5)))
      << open_fds() << " descriptors open after 20 clients came and went, " << fds_before
      << " before";

  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) {
    const int fd = RawConnect(port_);
    if (fd >= 0) idle.push_back(fd);
  }
  ASSERT_TRUE(
      Eventually([&] { return CoordinatorLog().find("Too many open files") != std::string::npos; },
                 std::chrono::seconds(10)))
      << CoordinatorLog();
  // Still serving while the flood is open (the oldest handshakes make room) ...
  Outcome during = Cli({"jobs"}, "");
  EXPECT_EQ(during.exit_code, 0) << during.err;
  for (int fd : idle) ::close(fd);
  // ... and after it.
  EXPECT_TRUE(
      Eventually([&] { return Cli({"jobs"}, "").exit_code == 0; }, std::chrono::seconds(15)));
  EXPECT_EQ(::waitpid(coordinator_, nullptr, WNOHANG), 0) << "the coordinator is still running";
}

// A rogue "worker" registers 64 slots and never answers a prepare: it is lost after
// --prepare-timeout and the job runs on the real worker. One asking for 1000 slots is refused.
TEST_F(SecurityTest, WorkerThatNeverAnswersAPrepareIsLost) {
  MakeJob(scratch(), 2);
  StartCoordinator(secret_, {"--prepare-timeout", "1500"});
  auto credentials = net::LoadSecretFile(secret_);
  ASSERT_TRUE(credentials.ok());
  net::SetDefaultCredentials(*credentials);
  auto hp = net::ParseHostPort(address_);
  ASSERT_TRUE(hp.ok());
  auto rogue_register = [&](uint32_t slots) -> std::unique_ptr<net::Connection> {
    auto conn = net::Connection::Connect(*hp, net::ConnectOptions());
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return nullptr;
    capnp::MallocMessageBuilder hello;
    auto h = hello.initRoot<wire::ControlMessage>().initHello();
    h.setVersion(wire::PROTOCOL_VERSION);
    h.setRole(wire::Role::WORKER);
    EXPECT_TRUE((*conn)->Send(hello).ok());
    EXPECT_TRUE((*conn)->Receive().ok());
    capnp::MallocMessageBuilder reg;
    auto r = reg.initRoot<wire::ControlMessage>().initRegisterWorker();
    r.setSlots(slots);
    r.setDataHost("127.0.0.1");
    r.setDataPort(1);
    r.setDir("/nonexistent");
    EXPECT_TRUE((*conn)->Send(reg).ok());
    return std::move(conn).value();
  };
  auto greedy = rogue_register(1000);
  ASSERT_TRUE(greedy);
  EXPECT_FALSE(greedy->Receive().ok()) << "1000 slots are refused";
  ASSERT_TRUE(Eventually(
      [&] { return CoordinatorLog().find("1000 slots (at most 256)") != std::string::npos; },
      std::chrono::seconds(5)))
      << CoordinatorLog();

  auto rogue = rogue_register(64);
  ASSERT_TRUE(rogue);
  ASSERT_TRUE(rogue->Receive().ok());  // registered, as worker 1
  std::atomic<bool> stop{false};
  std::thread heartbeats([&] {  // alive by heartbeat, deaf to prepares
    while (!stop.load()) {
      capnp::MallocMessageBuilder hb;
      hb.initRoot<wire::ControlMessage>().initHeartbeat().setSentAtMs(0);
      if (!rogue->Send(hb).ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::thread drain([&] {
    while (rogue->Receive().ok()) {
    }
  });
  AddWorker(2, secret_);
  ASSERT_TRUE(WaitForWorkers(2, secret_)) << CoordinatorLog();
  const auto started = Clock::now();
  Outcome run = Cli({"submit", scratch() + "/job.yaml", "--bounded", "--wait"}, secret_);
  const auto took = Clock::now() - started;
  stop.store(true);
  rogue->Close();
  heartbeats.join();
  drain.join();
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_LT(took, std::chrono::seconds(30));
  Outcome status = Cli({"status", "shop-1"}, secret_);
  EXPECT_NE(status.out.find("did not answer the prepare"), std::string::npos) << status.out;
}

// Checkpoint acks and metrics from a worker that does not run the task are refused: a
// rogue's forged declines do not abandon another job's checkpoints.
TEST_F(SecurityTest, ForgedAcksFromANonOwnerAreRejected) {
  MakeJob(scratch(), 2, "checkpoint: {interval: 300ms, dir: chk}\n");
  StartCoordinator(secret_);
  AddWorker(2, secret_);
  ASSERT_TRUE(WaitForWorkers(1, secret_));
  Outcome submitted = Cli({"submit", scratch() + "/job.yaml"}, secret_);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string id = Lines(submitted.out).at(0);
  ASSERT_TRUE(Eventually(
      [&] {
        return Cli({"status", id}, secret_).out.find(": running") != std::string::npos;
      },
      std::chrono::seconds(20)));

  auto credentials = net::LoadSecretFile(secret_);
  ASSERT_TRUE(credentials.ok());
  net::SetDefaultCredentials(*credentials);
  auto hp = net::ParseHostPort(address_);
  auto conn = net::Connection::Connect(*hp, net::ConnectOptions());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto rogue = std::move(conn).value();
  capnp::MallocMessageBuilder hello;
  auto h = hello.initRoot<wire::ControlMessage>().initHello();
  h.setVersion(wire::PROTOCOL_VERSION);
  h.setRole(wire::Role::WORKER);
  ASSERT_TRUE(rogue->Send(hello).ok());
  ASSERT_TRUE(rogue->Receive().ok());
  capnp::MallocMessageBuilder reg;
  auto r = reg.initRoot<wire::ControlMessage>().initRegisterWorker();
  r.setSlots(1);
  r.setDataHost("127.0.0.1");
  r.setDataPort(1);
  ASSERT_TRUE(rogue->Send(reg).ok());
  ASSERT_TRUE(rogue->Receive().ok());
  // Declines for every task and the next checkpoint ids, for 2 s.
  const auto until = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < until) {
    for (uint64_t chk = 1; chk <= 40; ++chk) {
      for (auto kind : {wire::TaskKind::SOURCE, wire::TaskKind::KEYED, wire::TaskKind::SINK}) {
        capnp::MallocMessageBuilder ack;
        auto a = ack.initRoot<wire::ControlMessage>().initAckCheckpoint();
        a.setJobId(id);
        a.setAttempt(1);
        a.setCheckpointId(chk);
        a.setKind(kind);
        a.setIndex(0);
        a.setOk(false);
        a.setError("forged");
        ASSERT_TRUE(rogue->Send(ack).ok());
      }
    }
    capnp::MallocMessageBuilder hb;
    hb.initRoot<wire::ControlMessage>().initHeartbeat().setSentAtMs(0);
    ASSERT_TRUE(rogue->Send(hb).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Checkpoints still complete (a loaded machine may need a moment), and none was abandoned.
  std::string status;
  std::smatch m;
  const std::regex counts(R"((\d+) completed, (\d+) abandoned)");
  ASSERT_TRUE(Eventually(
      [&] {
        status = Cli({"status", id}, secret_).out;
        return std::regex_search(status, m, counts) && std::stoi(m[1]) > 0;
      },
      std::chrono::seconds(20)))
      << status;
  EXPECT_EQ(m[2], "0") << status;
  EXPECT_NE(CoordinatorLog().find("which is not placed on it"), std::string::npos)
      << CoordinatorLog();
  rogue->Close();
  EXPECT_EQ(Cli({"cancel", id, "--wait"}, secret_).exit_code, 0);
}

// A worker sent a control message it cannot decode — a frame that is no Cap'n Proto
// message, or a Prepare whose job id is a text without its NUL (found by the
// worker_session fuzz target) — closes that connection at once and registers again. Before,
// the second kind left the connection open, the worker heartbeating on it as if alive while
// it had aborted its attempts, until its next registration finished. The test is the
// coordinator, on a socket of its own. A Prepare naming 2^31 source tasks is refused
// without sizing anything by that count (it made the worker allocate 7.5 GB: found by the
// same target).
TEST_F(SecurityTest, AWorkerSurvivesBadControlMessagesFromItsCoordinator) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(lfd, 8), 0);
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  address_ = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  // Its data root is not its working folder: a relative path must resolve in the root.
  std::filesystem::create_directories(scratch() + "/root");
  const pid_t worker = Start({"worker", "--coordinator", address_, "--slots", "1", "--dir", scratch() + "/worker-0",
                              "--data-root", scratch() + "/root"},
                             "", scratch(), scratch(), "worker-0");
  pids_.push_back(worker);
  const std::string worker_log = scratch() + "/worker-0.stderr";
  // Accepts the worker's next registration (as worker `id`) within 20 s: the raw
  // descriptor (-1 if none came) and the Connection that ran the handshake on a duplicate
  // (closing it shuts the socket down). A connection whose handshake fails (the worker gave
  // up on it while the test was busy) is dropped and the next one taken.
  struct Registered {
    int fd = -1;
    std::unique_ptr<net::Connection> conn;
  };
  auto accept_registration = [&](uint32_t id) -> Registered {
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < until) {
      pollfd p{lfd, POLLIN, 0};
      if (::poll(&p, 1, 1000) != 1) continue;
      const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      auto conn = std::make_unique<net::Connection>(::dup(fd), "worker", std::chrono::milliseconds(5000));
      bool ok = net::AuthenticateAsServer(*conn, net::Credentials{}).ok() && conn->Receive().ok();
      if (ok) {
        capnp::MallocMessageBuilder reply;
        auto r = reply.initRoot<wire::ControlMessage>().initHelloReply();
        r.setOk(true);
        r.setVersion(wire::PROTOCOL_VERSION);
        auto reg = conn->Send(reply).ok() ? conn->Receive() : Status::IOError("hello reply not sent");
        ok = reg.ok() && (*reg)->Root<wire::ControlMessage>().isRegisterWorker();
      }
      if (ok) {
        capnp::MallocMessageBuilder ack;
        auto a = ack.initRoot<wire::ControlMessage>().initRegisterReply();
        a.setWorkerId(id);
        a.setHeartbeatIntervalMs(100);
        ok = conn->Send(ack).ok();
      }
      if (ok) return {fd, std::move(conn)};
      conn.reset();
      ::close(fd);
    }
    return {};
  };
  // Not a Cap'n Proto message: its segment table names more segments than the frame holds.
  const std::string undecodable("\x08\x00\x00\x00\xff\xff\xff\x0f\x01\x00\x00\x00", 12);
  // A well-formed Prepare whose job id text lost its NUL terminator: it decodes, and the
  // handler's read of the field throws.
  std::string unterminated;
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::ControlMessage>().initPrepare().initSpec().setJobId("abcdefg");
    std::string body = Frame(m).substr(4);
    const size_t at = body.find(std::string("abcdefg\0", 8));
    ASSERT_NE(at, std::string::npos);
    body[at + 7] = 'h';
    unterminated = std::string(4, '\0') + body;
    for (int i = 0; i < 4; ++i) unterminated[i] = static_cast<char>(body.size() >> (8 * i));
  }
  uint32_t id = 1;
  for (const std::string& bad : {undecodable, unterminated}) {
    SCOPED_TRACE(bad == undecodable ? "undecodable frame" : "unterminated text");
    Registered registered = accept_registration(id++);
    ASSERT_GE(registered.fd, 0) << ReadFile(worker_log);
    ASSERT_TRUE(SendAll(registered.fd, bad));
    EXPECT_TRUE(ClosedByPeer(registered.fd, std::chrono::seconds(5)))
        << "the worker kept the connection open after a message it could not decode\n"
        << ReadFile(worker_log);
    registered.conn.reset();
    ::close(registered.fd);
  }
  // Logged once the control loop has returned, which is after the close.
  for (const char* why : {"undecodable message", "bad control message"}) {
    EXPECT_TRUE(Eventually([&] { return ReadFile(worker_log).find(why) != std::string::npos; },
                           std::chrono::seconds(10)))
        << why << "\n" << ReadFile(worker_log);
  }
  // It is still up, and registers again.
  Registered again = accept_registration(id);
  ASSERT_GE(again.fd, 0) << ReadFile(worker_log);
  // Sends a Prepare of a one-task-each plan on worker `id` (changed by `edit`); the
  // worker's answer: "ok" or its error.
  auto prepare = [&](const std::function<void(wire::AttemptSpec::Builder)>& edit) -> std::string {
    capnp::MallocMessageBuilder m;
    auto spec = m.initRoot<wire::ControlMessage>().initPrepare().initSpec();
    spec.setJobId("shop-1");
    spec.setAttempt(1);
    spec.setJobFile("job.yaml");
    spec.setJobText(
        "job: shop\nlog: log\nsource: {topics: [events]}\n"
        "segments:\n  - id: buyer\n    when: {count: {event: purchase, window: 7d, at_least: 1}}\n");
    spec.setBounded(true);
    spec.setSources(1);
    spec.setKeyed(1);
    spec.setPartitions(1);
    auto placements = spec.initPlacements(3);
    const wire::TaskKind kinds[] = {wire::TaskKind::SOURCE, wire::TaskKind::KEYED, wire::TaskKind::SINK};
    for (unsigned i = 0; i < 3; ++i) {
      placements[i].setKind(kinds[i]);
      placements[i].setWorker(id);
    }
    auto w = spec.initWorkers(1)[0];
    w.setWorkerId(id);
    w.setHost("127.0.0.1");
    w.setPort(1);
    spec.setStateDir("state/shop");
    edit(spec);
    if (!again.conn->Send(m).ok()) return "not sent";
    for (int i = 0; i < 200; ++i) {  // heartbeats come between
      auto reply = again.conn->Receive();
      if (!reply.ok()) return "no answer: " + reply.status().ToString();
      auto root = (*reply)->Root<wire::ControlMessage>();
      if (root.isPrepared()) return root.getPrepared().getOk() ? "ok" : root.getPrepared().getError().cStr();
    }
    return "no answer";
  };
  // 2^31 source tasks and no placements for them.
  const std::string huge = prepare([](wire::AttemptSpec::Builder spec) {
    spec.setJobId("huge-1");
    spec.setSources(0x7fffffff);
  });
  EXPECT_NE(huge.find("placements"), std::string::npos) << huge;
  EXPECT_LT(ProcStatus(worker, "VmHWM"), 1024u * 1024) << "peak RSS in kB";
  // A job id that leads out of the worker's attempts folder, which it empties before use.
  const std::string escape = prepare([](wire::AttemptSpec::Builder spec) { spec.setJobId("../../../victim"); });
  EXPECT_NE(escape.find("[a-z0-9_-]"), std::string::npos) << escape;
  // A relative state folder is the data root's, never the working folder's.
  EXPECT_EQ(prepare([](wire::AttemptSpec::Builder) {}), "ok") << ReadFile(worker_log);
  EXPECT_TRUE(std::filesystem::exists(scratch() + "/root/state/shop.lock"));
  EXPECT_FALSE(std::filesystem::exists(scratch() + "/state")) << "created in the worker's working folder";
  EXPECT_FALSE(std::filesystem::exists(scratch() + "/state/shop.lock"));
  again.conn.reset();
  ::close(again.fd);
  ::close(lfd);
  ::kill(worker, SIGTERM);
}

 // A report whose task list is 8 M empty elements costs its sender 8 bytes (Cap'n Proto
 // counts each as one word of the 16 M-word traversal limit) and cost the coordinator a

// A report whose task list is 8 M empty elements costs its sender 8 bytes (Cap'n Proto
// counts each as one word of the 16 M-word traversal limit) and cost the coordinator a
// pass per element under its lock (found by reading the handlers the fuzz targets reach):
// a task list longer than the job's is refused at once, logged, and the coordinator keeps
// serving.
TEST_F(SecurityTest, AReportListingMoreTasksThanTheJobIsRefused) {
  MakeJob(scratch(), 2);
  StartCoordinator(secret_);
  AddWorker(2, secret_);
  ASSERT_TRUE(WaitForWorkers(1, secret_));
  Outcome submitted = Cli({"submit", scratch() + "/job.yaml"}, secret_);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string id = Lines(submitted.out).at(0);
  ASSERT_TRUE(Eventually(
      [&] {
        return Cli({"status", id}, secret_).out.find(": running") != std::string::npos;
      },
      std::chrono::seconds(20)));

  // A registered worker with the secret, on a raw socket: the handshake, Hello and
  // registration go through a Connection on a duplicate of it, the crafted frames raw.
  auto credentials = net::LoadSecretFile(secret_);
  ASSERT_TRUE(credentials.ok());
  auto hp = net::ParseHostPort(address_);
  ASSERT_TRUE(hp.ok());
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(hp->port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  net::Connection rogue(::dup(fd), "coordinator", std::chrono::milliseconds(5000));
  ASSERT_TRUE(net::AuthenticateAsClient(rogue, *credentials).ok());
  capnp::MallocMessageBuilder hello;
  auto h = hello.initRoot<wire::ControlMessage>().initHello();
  h.setVersion(wire::PROTOCOL_VERSION);
  h.setRole(wire::Role::WORKER);
  ASSERT_TRUE(rogue.Send(hello).ok());
  ASSERT_TRUE(rogue.Receive().ok());
  capnp::MallocMessageBuilder reg;
  auto r = reg.initRoot<wire::ControlMessage>().initRegisterWorker();
  r.setSlots(1);
  r.setDataHost("127.0.0.1");
  r.setDataPort(1);
  ASSERT_TRUE(rogue.Send(reg).ok());
  ASSERT_TRUE(rogue.Receive().ok());

  // The report of one task; then the same with its list pointer rewritten to 8 M void
  // elements.
  capnp::MallocMessageBuilder report;
  auto rep = report.initRoot<wire::ControlMessage>().initReport();
  rep.setJobId(id);
  rep.setAttempt(1);
  rep.initTasks(1)[0].setIndex(7);
  auto flat = capnp::messageToFlatArray(report);
  const std::string plain(reinterpret_cast<const char*>(flat.asBytes().begin()),
                          flat.asBytes().size());
  std::string amplified = plain;
  int rewritten = 0;
  for (size_t at = 0; at + 8 <= amplified.size(); at += 8) {
    uint64_t v;
    std::memcpy(&v, amplified.data() + at, 8);
    if ((v & 3) == 1 && ((v >> 32) & 7) == 7 && (v >> 35) != 0) {  // the inline-composite list
      v = 1 | (uint64_t{1u << 23} << 35);                          // a list of void elements
      std::memcpy(amplified.data() + at, &v, 8);
      ++rewritten;
    }
  }
  ASSERT_EQ(rewritten, 1);
  auto send_frame = [&](const std::string& body) {
    std::string frame(4, '\0');
    for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>(body.size() >> (8 * i));
    frame += body;
    return ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(frame.size());
  };
  ASSERT_TRUE(send_frame(plain));
  ASSERT_TRUE(
      Eventually([&] { return CoordinatorLog().find("not placed on it") != std::string::npos; },
                 std::chrono::seconds(10)))
      << CoordinatorLog();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(send_frame(amplified));
  const auto sent = Clock::now();
  ASSERT_TRUE(Eventually(
      [&] { return CoordinatorLog().find("tasks for " + id + ", which has") != std::string::npos; },
      std::chrono::seconds(10)))
      << CoordinatorLog();
  // Still serving at once: the status of the job comes back within moments.
  Outcome status = Cli({"status", id}, secret_);
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_LT(Clock::now() - sent, std::chrono::seconds(10));
  rogue.Close();
  ::close(fd);
  EXPECT_EQ(Cli({"cancel", id, "--wait"}, secret_).exit_code, 0);
}

// Mutual TLS on every connection (coordinator, workers' control and data, clients), with
// certificates the openssl CLI makes: a job runs across two workers; a client without TLS,
// or with a certificate of another CA, is refused and logged with its address.
TEST_F(SecurityTest, MutualTlsOnEveryConnection) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  const std::string d = scratch() + "/tls";
  std::filesystem::create_directories(d);
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  auto sh = [](const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); };
  for (const std::string ca : {"ca", "otherca"}) {
    ASSERT_EQ(sh("openssl req -x509" + ec + " -keyout " + d + "/" + ca + ".key -out " + d + "/" +
                 ca + ".pem -days 1 -subj /CN=" + ca),
              0);
  }
  for (const auto& [name, ca] :
       std::vector<std::pair<std::string, std::string>>{{"node", "ca"}, {"rogue", "otherca"}}) {
    ASSERT_EQ(sh("openssl req" + ec + " -keyout " + d + "/" + name + ".key -out " + d + "/" + name +
                 ".csr -subj /CN=" + name + " && openssl x509 -req -in " + d + "/" + name +
                 ".csr -CA " + d + "/" + ca + ".pem -CAkey " + d + "/" + ca +
                 ".key -CAcreateserial -out " + d + "/" + name + ".pem -days 1"),
              0);
  }
  MakeJob(scratch() + "/b", 2);
  MakeJob(scratch() + "/c", 2);
  Outcome reference =
      Segflow({"run", scratch() + "/c/job.yaml", "--bounded", "--workers", "0"}, "", scratch());
  ASSERT_EQ(reference.exit_code, 0) << reference.err;

  const std::vector<std::string> tls = {"--tls-cert",    d + "/node.pem", "--tls-key",
                                        d + "/node.key", "--tls-ca",      d + "/ca.pem"};
  StartCoordinator(secret_, tls);
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> args = {"worker",
                                     "--coordinator",
                                     address_,
                                     "--slots",
                                     "1",
                                     "--dir",
                                     scratch() + "/tls-worker-" + std::to_string(i),
                                     "--secret-file",
                                     secret_};
    args.insert(args.end(), tls.begin(), tls.end());
    pids_.push_back(Start(args, "", scratch(), scratch(), "tls-worker-" + std::to_string(i)));
  }
  auto cli = [&](std::vector<std::string> args, const std::vector<std::string>& extra) {
    args.insert(args.end(), {"--coordinator", address_, "--secret-file", secret_});
    args.insert(args.end(), extra.begin(), extra.end());
    return Segflow(args, "", scratch());
  };
  ASSERT_TRUE(Eventually(
      [&] {
        int alive = 0;
        for (const auto& l : Lines(cli({"jobs"}, tls).out))
          alive += l.find(" alive") != std::string::npos;
        return alive == 2;
      },
      std::chrono::seconds(20)))
      << CoordinatorLog();
  // Two workers of one slot each: the job's records cross a worker-to-worker TLS connection.
  Outcome run = cli({"submit", scratch() + "/b/job.yaml", "--bounded", "--wait"}, tls);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(Audience(scratch() + "/b/job.yaml"), Audience(scratch() + "/c/job.yaml"));

  Outcome plain = cli({"jobs"}, {});
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_NE(plain.err.find("TLS cluster"), std::string::npos) << plain.err;
  Outcome rogue = cli({"jobs"}, {"--tls-cert", d + "/rogue.pem", "--tls-key", d + "/rogue.key",
                                 "--tls-ca", d + "/ca.pem"});
  EXPECT_EQ(rogue.exit_code, 1);
  EXPECT_NE(rogue.err.find("unknown ca"), std::string::npos) << rogue.err;
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string log = CoordinatorLog();
        return log.find("TLS handshake with 127.0.0.1:") != std::string::npos &&
               log.find("certificate verify failed") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << CoordinatorLog();
}

}  // namespace
}  // namespace segflow
