// NetworkLab: network namespaces joined by a bridge this test creates, so that processes
// run as separate hosts (each its own addresses and loopback) on one machine. Needs root
// (ip netns); `available()` says whether it could be built and `why_not()` why not.
// Everything it made (namespaces, their processes, the bridge) goes with it.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace segflow::integration {

class NetworkLab {
 public:
  NetworkLab() {
    if (::geteuid() != 0) {
      why_not_ = "needs root to create network namespaces (ip netns)";
      return;
    }
    // Unique per test process, so tests running in parallel do not meet.
    const int id = static_cast<int>(::getpid() % 200) + 20;
    tag_ = std::to_string(::getpid() % 100000);
    bridge_ = "sflb" + tag_;
    base_ = "10.214." + std::to_string(id) + ".";
    if (Sh("ip link add " + bridge_ + " type bridge && ip addr add " + base_ + "1/24 dev " +
           bridge_ + " && ip link set " + bridge_ + " up") != 0) {
      why_not_ = "cannot create a bridge with ip link";
      Sh("ip link del " + bridge_);
      bridge_.clear();
    }
  }
  ~NetworkLab() {
    for (const auto& ns : namespaces_) {
      Sh("ip netns pids " + ns + " | xargs -r kill -9");
      Sh("ip netns del " + ns);
    }
    if (!bridge_.empty()) Sh("ip link del " + bridge_);
  }
  NetworkLab(const NetworkLab&) = delete;
  NetworkLab& operator=(const NetworkLab&) = delete;

  bool available() const { return why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }
  // This machine's address on the bridge.
  std::string hub() const { return base_ + "1"; }

  // A new namespace with only `lo` and a veth on the bridge; returns its name (empty on
  // failure) and its address in `*ip`.
  std::string AddHost(std::string* ip) {
    const size_t i = namespaces_.size();
    const std::string ns = "sfl" + tag_ + "n" + std::to_string(i);
    const std::string veth = "sfl" + tag_ + "v" + std::to_string(i);
    *ip = base_ + std::to_string(i + 2);
    if (Sh("ip netns add " + ns) != 0) return "";
    namespaces_.push_back(ns);
    if (Sh("ip link add " + veth + " type veth peer name eth0 netns " + ns + " && ip link set " +
           veth + " master " + bridge_ + " && ip link set " + veth + " up") != 0 ||
        Sh("ip netns exec " + ns + " sh -c 'ip addr add " + *ip +
           "/24 dev eth0 && ip link set eth0 up && ip link set lo up'") != 0) {
      return "";
    }
    return ns;
  }

 private:
  static int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

  std::string why_not_, tag_, bridge_, base_;
  std::vector<std::string> namespaces_;
};

}  // namespace segflow::integration
