// Topic metadata: <log_dir>/<topic>/topic.meta, created once (link of a complete temp
// file, so concurrent creators agree on one meta) and never rewritten.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "engine/log/file_util.h"
#include "engine/log/log.h"
#include "engine/log/segment_files.h"

namespace segflow::log {
namespace {

constexpr char kMetaHeader[] = "segflow-topic 1";
constexpr uint32_t kMaxPartitions = 1u << 16;

std::atomic<uint64_t> temp_counter{0};

std::string MetaPath(const std::string& log_dir, const std::string& topic) {
  return TopicDir(log_dir, topic) + "/topic.meta";
}

std::string UniqueSuffix() {
  return std::to_string(::getpid()) + "." + std::to_string(temp_counter.fetch_add(1));
}

Status ValidateFieldName(const char* role, const std::string& name) {
  if (name.empty()) return Status::InvalidArgument(std::string(role) + " field name is empty");
  if (name.find('\n') != std::string::npos || name.find('\r') != std::string::npos) {
    return Status::InvalidArgument(std::string(role) + " field name contains a line break");
  }
  return Status::OK();
}

std::string FormatMeta(const TopicMeta& meta) {
  std::string s = std::string(kMetaHeader) + "\n";
  s += "partitions=" + std::to_string(meta.partitions) + "\n";
  s += std::string("format=") + (meta.format == TopicFormat::kChangelog ? "changelog" : "events") + "\n";
  s += "user_field=" + meta.fields.user + "\n";
  s += "event_field=" + meta.fields.event + "\n";
  s += "time_field=" + meta.fields.time + "\n";
  return s;
}

Result<TopicMeta> ParseMeta(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kMetaHeader) {
    return Status::Corruption(path + ": not a segflow topic meta file (or an unknown version)");
  }
  TopicMeta meta;
  bool have_partitions = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) return Status::Corruption(path + ": malformed line '" + line + "'");
    const std::string key = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    if (key == "partitions") {
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n == 0 || n > kMaxPartitions) {
        return Status::Corruption(path + ": bad partition count '" + value + "'");
      }
      meta.partitions = static_cast<uint32_t>(n);
      have_partitions = true;
    } else if (key == "format") {
      if (value == "events") {
        meta.format = TopicFormat::kEvents;
      } else if (value == "changelog") {
        meta.format = TopicFormat::kChangelog;
      } else {
        return Status::Corruption(path + ": unknown format '" + value + "'");
      }
    } else if (key == "user_field") {
      meta.fields.user = value;
    } else if (key == "event_field") {
      meta.fields.event = value;
    } else if (key == "time_field") {
      meta.fields.time = value;
    }  // other keys: written by a newer version, ignored
  }
  if (!have_partitions) return Status::Corruption(path + ": no partition count");
  return meta;
}

Status MakeDirs(const std::string& dir) {
  if (dir.empty() || PathExists(dir)) return Status::OK();
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) SEGFLOW_RETURN_IF_ERROR(MakeDirs(dir.substr(0, slash)));
  return MakeDir(dir);
}

}  // namespace

Status ValidateTopicName(const std::string& topic) {
  if (topic.empty()) return Status::InvalidArgument("topic name is empty");
  if (topic[0] == '.') return Status::InvalidArgument("topic name '" + topic + "' starts with '.'");
  for (char c : topic) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("topic name '" + topic + "' has a character outside [A-Za-z0-9._-]");
    }
  }
  return Status::OK();
}

Result<TopicMeta> ReadTopicMeta(const std::string& log_dir, const std::string& topic) {
  SEGFLOW_RETURN_IF_ERROR(ValidateTopicName(topic));
  const std::string path = MetaPath(log_dir, topic);
  auto fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) {
    if (fd.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("topic '" + topic + "' does not exist in log " + log_dir);
    }
    return fd.status();
  }
  std::string text(4096, '\0');
  auto n = PreadFull(fd->get(), text.data(), text.size(), 0, path);
  if (!n.ok()) return n.status();
  text.resize(*n);
  return ParseMeta(text, path);
}

Result<TopicMeta> EnsureTopic(const std::string& log_dir, const std::string& topic, const TopicMeta& meta) {
  SEGFLOW_RETURN_IF_ERROR(ValidateTopicName(topic));
  if (meta.partitions == 0 || meta.partitions > kMaxPartitions) {
    return Status::InvalidArgument("partition count must be between 1 and " + std::to_string(kMaxPartitions));
  }
  SEGFLOW_RETURN_IF_ERROR(ValidateFieldName("user", meta.fields.user));
  SEGFLOW_RETURN_IF_ERROR(ValidateFieldName("event", meta.fields.event));
  SEGFLOW_RETURN_IF_ERROR(ValidateFieldName("time", meta.fields.time));

  auto existing = ReadTopicMeta(log_dir, topic);
  if (existing.ok() || existing.status().code() != Status::Code::kNotFound) return existing;

  SEGFLOW_RETURN_IF_ERROR(MakeDirs(log_dir));
  const std::string dir = TopicDir(log_dir, topic);
  SEGFLOW_RETURN_IF_ERROR(MakeDir(dir));
  const std::string path = MetaPath(log_dir, topic);
  const std::string temp = path + ".tmp." + UniqueSuffix();
  {
    auto fd = OpenFile(temp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd.ok()) return fd.status();
    const std::string text = FormatMeta(meta);
    SEGFLOW_RETURN_IF_ERROR(WriteFull(fd->get(), text.data(), text.size(), temp));
    SEGFLOW_RETURN_IF_ERROR(SyncFile(fd->get(), temp));
  }
  // link() fails if the meta exists: exactly one creator wins, the others read its meta.
  const bool won = ::link(temp.c_str(), path.c_str()) == 0;
  const int err = errno;
  ::unlink(temp.c_str());
  if (!won && err != EEXIST) return Status::FromErrno("link " + path, err);
  SEGFLOW_RETURN_IF_ERROR(SyncDir(dir));
  if (!won) return ReadTopicMeta(log_dir, topic);
  for (uint32_t p = 0; p < meta.partitions; ++p) {
    SEGFLOW_RETURN_IF_ERROR(MakeDir(PartitionDir(log_dir, topic, p)));
  }
  return meta;
}

Status DeleteTopic(const std::string& log_dir, const std::string& topic) {
  SEGFLOW_RETURN_IF_ERROR(ValidateTopicName(topic));
  const std::string dir = TopicDir(log_dir, topic);
  if (!PathExists(dir)) return Status::OK();
  // Only a topic Segflow made (it has its metadata file, or only the temporary one of a
  // creation cut short): never a folder that merely has a topic's name.
  bool foreign = false;
  if (!PathExists(MetaPath(log_dir, topic))) {
    std::error_code it_ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, it_ec)) {
      if (entry.path().filename().string().rfind("topic.meta", 0) != 0) foreign = true;
    }
  }
  if (foreign) {
    return Status::FailedPrecondition("topic folder " + dir + " has no " + MetaPath(log_dir, topic) +
                                      ": not a Segflow topic, refusing to delete it; move it out of the log folder");
  }
  // Rename first, so a half-deleted topic is never seen under its name.
  const std::string doomed = log_dir + "/.deleting." + topic + "." + UniqueSuffix();
  if (::rename(dir.c_str(), doomed.c_str()) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::FromErrno("rename " + dir, errno);
  }
  SEGFLOW_RETURN_IF_ERROR(SyncDir(log_dir));
  std::error_code ec;
  std::filesystem::remove_all(doomed, ec);
  if (ec) return Status::IOError("remove " + doomed + ": " + ec.message());
  return Status::OK();
}

}  // namespace segflow::log
