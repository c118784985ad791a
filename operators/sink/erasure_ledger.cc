#include "operators/sink/erasure_ledger.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "operators/sink/audience_store.h"

namespace segflow {

std::string LedgerPath(const JobSpec& job) {
  return LedgerPathForLog(job.log_dir);
}

std::string LedgerPathForLog(const std::string& log_dir) {
  std::filesystem::path dir(log_dir);
  // "log/" names the same folder as "log": its parent, not itself, holds the ledger.
  if (!dir.has_filename()) dir = dir.parent_path();
  return (dir.parent_path() / "governance" / "ledger.jsonl").string();
}

Status DropErasedMembers(const Erasures& erasures, const AudienceStore* store,
                         std::vector<std::string>* members) {
  if (erasures.empty()) return Status::OK();
  std::vector<std::string> kept;
  kept.reserve(members->size());
  for (auto& m : *members) {
    auto it = erasures.find(m);
    if (it != erasures.end()) {
      if (store == nullptr) continue;
      auto applied = store->ErasedAt(m);
      if (!applied.ok()) return applied.status();
      // The store refuses every write at or before its erasure: a row of the user there
      // now is newer than the erasure (legitimate new data) only once it was applied.
      if (!*applied || **applied < it->second) continue;
    }
    kept.push_back(std::move(m));
  }
  *members = std::move(kept);
  return Status::OK();
}

Result<Erasures> LoadErasures(const std::string& path) {
  Erasures out;
  std::ifstream in(path);
  if (!in) {
    if (!std::filesystem::exists(path)) return out;
    return Status::IOError("open erasure ledger " + path);
  }
  simdjson::dom::parser parser;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    simdjson::dom::element doc;
    auto bad = [&](const std::string& why) {
      return Status::Corruption(
          "erasure ledger " + path + ":" + std::to_string(n) + ": " + why +
          " (the ledger is append-only: restore the line from a backup, never drop it)");
    };
    if (parser.parse(line).get(doc) != simdjson::SUCCESS || !doc.is_object())
      return bad("not a JSON object");
    std::string_view action;
    if (doc["action"].get(action) != simdjson::SUCCESS) return bad("no \"action\"");
    if (action != "forget") continue;
    std::string_view user;
    int64_t erased_at = 0;
    if (doc["user"].get(user) != simdjson::SUCCESS)
      return bad("forget record without a \"user\" string");
    if (doc["erased_at"].get(erased_at) != simdjson::SUCCESS)
      return bad("forget record without an \"erased_at\" integer");
    auto [it, fresh] = out.try_emplace(std::string(user), erased_at);
    if (!fresh) it->second = std::max(it->second, erased_at);
  }
  return out;
}

Status AppendLedger(const std::string& path, const std::string& json_line) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec)
    return Status::IOError("create " + std::filesystem::path(path).parent_path().string() + ": " +
                           ec.message());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open erasure ledger " + path, errno);
  Status s;
  if (::flock(fd, LOCK_EX) != 0) s = Status::FromErrno("lock erasure ledger " + path, errno);
  const std::string data = json_line + "\n";
  if (s.ok() && ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    s = Status::FromErrno("append to erasure ledger " + path, errno);
  }
  if (s.ok() && ::fsync(fd) != 0) s = Status::FromErrno("fsync erasure ledger " + path, errno);
  ::close(fd);
  return s;
}

ErasureWatch::ErasureWatch(std::string path, std::chrono::milliseconds interval)
    : path_(std::move(path)), interval_(interval) {}

Status ErasureWatch::Load() {
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0) {
    size_ = st.st_size;
    mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  } else {
    size_ = mtime_ns_ = -1;
  }
  last_check_ = std::chrono::steady_clock::now();
  auto e = LoadErasures(path_);
  if (!e.ok()) return e.status();
  erasures_ = std::move(*e);
  return Status::OK();
}

Result<bool> ErasureWatch::Poll() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_check_ < interval_) return false;
  last_check_ = now;
  struct stat st;
  int64_t size = -1, mtime = -1;
  if (::stat(path_.c_str(), &st) == 0) {
    size = st.st_size;
    mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
  if (size == size_ && mtime == mtime_ns_) return false;
  SEGFLOW_RETURN_IF_ERROR(Load());
  return true;
}

}  // namespace segflow
