// `segflow produce` stopped by SIGINT mid-stream (issue 12, item 5): it commits the lines
// read so far, so the topic holds exactly the valid lines 1..N, and says N.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "cli_test_util.h"
#include "engine/value/json_event.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;
using namespace integration;  // NOLINT(google-build-using-namespace): the test helpers

// Input line `i` (1-based); every tenth line, from the 7th, is malformed.
bool Valid(int64_t i) {
  return i % 10 != 7;
}
std::string InputLine(int64_t i) {
  if (!Valid(i)) return "not json " + std::to_string(i) + "\n";
  return "{\"user_id\":\"user" + std::to_string(i % 613) +
         "\",\"event\":\"view\",\"ts\":" + std::to_string(1000 + i) +
         ",\"line\":" + std::to_string(i) + ",\"pad\":\"" + std::string(60, 'p') + "\"}\n";
}

// True once some partition of the topic has records on disk (produce flushed one).
bool SomethingStored(const std::string& topic_dir) {
  std::error_code ec;
  for (const auto& part : fs::directory_iterator(topic_dir, ec)) {
    if (!part.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(part.path(), ec)) {
      if (f.path().extension() == ".log" && fs::file_size(f.path(), ec) > 0) return true;
    }
  }
  return false;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

TEST(ProduceInterruptTest, SigintStoresExactlyTheValidLinesUpToTheOneItNames) {
  ScratchDir dir("segflow-produce-interrupt");
  const std::string log = dir.path() + "/log";
  const std::string fifo = dir.path() + "/input.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const pid_t pid = Start({"produce", "--log", log, "--topic", "events", "--partitions", "4"}, fifo,
                          dir.path(), dir.path(), "produce");
  ChildGuard guard(pid);
  const int fd = ::open(fifo.c_str(), O_WRONLY);  // returns once the child opened its end
  ASSERT_GE(fd, 0);

  // Feed lines until a partition has flushed records (the others still buffer theirs),
  // then interrupt with the pipe still open: the input has not ended.
  int64_t written = 0;
  const auto until = std::chrono::steady_clock::now() + kProcessDeadline;
  while (!SomethingStored(log + "/events") && std::chrono::steady_clock::now() < until) {
    std::string chunk;
    for (int k = 0; k < 200; ++k) chunk += InputLine(++written);
    ASSERT_TRUE(WriteAll(fd, chunk));
  }
  ASSERT_TRUE(SomethingStored(log + "/events")) << "nothing flushed after " << written << " lines";
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  Outcome r = Wait(pid, dir.path(), "produce");
  ::close(fd);

  EXPECT_EQ(r.exit_code, 130) << r.err;
  std::smatch m;
  const std::regex stopped(R"(stopped after input line (\d+))");
  ASSERT_TRUE(std::regex_search(r.err, m, stopped)) << r.err;
  const int64_t n = std::stoll(m[1]);
  EXPECT_GT(n, 0);
  EXPECT_LE(n, written);
  EXPECT_NE(r.err.find("resume from line " + std::to_string(n + 1)), std::string::npos) << r.err;
  std::set<int64_t> expected;
  for (int64_t i = 1; i <= n; ++i) {
    if (Valid(i)) expected.insert(i);
  }
  EXPECT_NE(r.err.find(std::to_string(expected.size()) + " records produced"), std::string::npos)
      << r.err;

  Outcome c = Segflow({"consume", "--log", log, "--topic", "events"}, "", dir.path());
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::set<int64_t> stored;
  for (const auto& l : Lines(c.out)) {
    auto v = ParseJsonValue(l);
    ASSERT_TRUE(v.ok()) << l;
    ASSERT_TRUE(stored.insert(v->Find("line")->as_int()).second) << "duplicate " << l;
  }
  // Exactly a prefix of the valid lines: none missing before N, none after it.
  EXPECT_EQ(stored.size(), expected.size());
  EXPECT_TRUE(stored == expected) << "stored " << stored.size() << " records, up to line "
                                  << (stored.empty() ? 0 : *stored.rbegin())
                                  << "; expected the valid lines of 1.." << n;
}

}  // namespace
}  // namespace segflow
