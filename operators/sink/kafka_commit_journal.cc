#include "operators/sink/kafka_commit_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace segflow {
namespace {

constexpr const char* kHeader = "segflow kafka changelog journal v1";

std::string JoinOffsets(const std::vector<uint64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(std::to_string(v[i]));
  }
  return out.empty() ? "-" : out;
}

bool SplitOffsets(const std::string& text, std::vector<uint64_t>* out) {
  out->clear();
  if (text == "-") return true;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      out->push_back(std::stoull(item));
    } catch (...) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::optional<KafkaCommitJournal>> KafkaCommitJournal::Read(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<KafkaCommitJournal>();
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read " + path);
  auto bad = [&](const std::string& what) {
    return Status::Corruption(path + ": " + what +
                              " (the Kafka changelog's journal; delete it to "
                              "start the changelog's bookkeeping afresh)");
  };
  std::string line;
  if (!std::getline(in, line) || line != kHeader) return bad("not a journal");
  KafkaCommitJournal j;
  bool ended = false;
  while (std::getline(in, line)) {
    std::stringstream words(line);
    std::string key;
    words >> key;
    if (key == "end") {
      ended = true;
      break;
    }
    std::string value;
    words >> value;
    if (key == "state") {
      j.state = value;
    } else if (key == "definition") {
      j.definition = value;
    } else if (key == "checkpoint" || key == "records") {
      uint64_t n = 0;
      try {
        n = std::stoull(value);
      } catch (...) {
        return bad("bad number in \"" + line + "\"");
      }
      (key == "checkpoint" ? j.checkpoint : j.records) = n;
    } else if (key == "changelog" || key == "late" || key == "rejected" ||
               key == "pending_changelog" || key == "pending_late" || key == "pending_rejected") {
      std::vector<uint64_t>* v = key == "changelog"           ? &j.changelog
                                 : key == "late"              ? &j.late
                                 : key == "rejected"          ? &j.rejected
                                 : key == "pending_changelog" ? &j.pending_changelog
                                 : key == "pending_late"      ? &j.pending_late
                                                              : &j.pending_rejected;
      if (!SplitOffsets(value, v)) return bad("bad offsets in \"" + line + "\"");
    } else if (key == "hw") {
      int32_t partition = 0;
      int64_t offset = 0;
      if (!(words >> partition >> offset)) return bad("bad line \"" + line + "\"");
      j.high_watermarks[{value, partition}] = offset;
    } else {
      return bad("unknown line \"" + line + "\"");
    }
  }
  if (!ended) return bad("cut short");
  return std::optional<KafkaCommitJournal>(std::move(j));
}

Status KafkaCommitJournal::Write(const std::string& path) const {
  std::string text =
      std::string(kHeader) + "\nstate " + state + "\ncheckpoint " + std::to_string(checkpoint) +
      "\nrecords " + std::to_string(records) + "\nchangelog " + JoinOffsets(changelog) + "\nlate " +
      JoinOffsets(late) + "\nrejected " + JoinOffsets(rejected) + "\npending_changelog " +
      JoinOffsets(pending_changelog) + "\npending_late " + JoinOffsets(pending_late) +
      "\npending_rejected " + JoinOffsets(pending_rejected) + "\n";
  if (!definition.empty()) text += "definition " + definition + "\n";
  for (const auto& [tp, offset] : high_watermarks) {
    text +=
        "hw " + tp.first + " " + std::to_string(tp.second) + " " + std::to_string(offset) + "\n";
  }
  text += "end\n";
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + tmp, errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::FromErrno("write " + tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno("fsync " + tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return Status::OK();
}

}  // namespace segflow
