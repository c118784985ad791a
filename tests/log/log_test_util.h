// Helpers for the log tests: a scratch directory, deterministic events, read-all.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/log/log.h"
#include "engine/value/event.h"

namespace segflow::log::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/segflow-log-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Event number `i`: varied users, types, times and property shapes.
inline Event MakeEvent(uint64_t i, const std::string& tag = "") {
  Event e;
  e.user = "user-" + std::to_string(i % 97);
  e.type = (i % 3 == 0) ? "add_to_cart" : (i % 3 == 1 ? "purchase" : "page_view");
  e.ts = 1'700'000'000'000 + static_cast<int64_t>(i) * 17 - static_cast<int64_t>(i % 5) * 1000;
  ValueObject props;
  props.emplace_back("seq", Value::Int(static_cast<int64_t>(i)));
  if (!tag.empty()) props.emplace_back("tag", Value::String(tag));
  if (i % 2 == 0) props.emplace_back("price", Value::Double(static_cast<double>(i) * 0.25 + 0.1));
  if (i % 4 == 1) {
    props.emplace_back("device", Value::Object({{"os", Value::String("ios")},
                                                {"version", Value::Int(static_cast<int64_t>(i % 17))}}));
  }
  if (i % 5 == 2) {
    props.emplace_back("tags", Value::Array({Value::String("a"), Value::Bool(i % 2 == 0), Value::Null()}));
  }
  if (i % 7 == 3) props.emplace_back("note", Value::String(std::string(i % 40, 'x') + "ü€😀"));
  e.props = Value::Object(std::move(props));
  return e;
}

inline std::string Describe(const Event& e) {
  return e.user + "|" + e.type + "|" + std::to_string(e.ts) + "|" + e.props.ToJson();
}

// Describe(MakeEvent(i, tag)) for i in [0, n): compare against these in loops.
inline std::vector<std::string> ExpectedDescriptions(uint64_t n, const std::string& tag = "") {
  std::vector<std::string> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) out.push_back(Describe(MakeEvent(i, tag)));
  return out;
}

// Every record of a partition from `start` until the reader is caught up.
inline Result<std::vector<LogRecord>> ReadAll(const std::string& dir, const std::string& topic, uint32_t partition,
                                              uint64_t start = 0) {
  auto reader = PartitionReader::Open(dir, topic, partition, start);
  if (!reader.ok()) return reader.status();
  std::vector<LogRecord> out;
  for (int i = 0; i < 1'000'000; ++i) {
    auto n = (*reader)->Poll(1000, &out);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
  }
  return out;
}

inline TopicMeta Meta(uint32_t partitions) {
  TopicMeta m;
  m.partitions = partitions;
  return m;
}

}  // namespace segflow::log::testing
