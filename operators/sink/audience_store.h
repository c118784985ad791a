// AudienceStore: the embedded, queryable audience (RocksDB), fed by the changelog sink.
//
// Holds each segment's current members (with `since`) and the job's evaluated time:
// every instant <= evaluated_through has been applied. Readers open it read-only while a
// run writes it. History ("as of T") lives in the changelog topic; see audience_query.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace rocksdb {
class DB;
}

namespace segflow {

class AudienceStore {
 public:
  // Opens (creating if needed) for writing; one writer process at a time (RocksDB LOCK).
  static Result<std::unique_ptr<AudienceStore>> OpenForWrite(const std::string& dir);
  // Opens a consistent read-only view; NotFound if the job never ran.
  static Result<std::unique_ptr<AudienceStore>> OpenForRead(const std::string& dir);
  // Removes the store (a fresh run starts from nothing).
  static Status Destroy(const std::string& dir);
  ~AudienceStore();

  struct Change {
    std::string segment;
    std::string user;
    bool entered = false;
    int64_t at = 0;
  };
  // Applies changes and the new evaluated time atomically. When `sync` (a run's final
  // commit), fsyncs and flushes the memtable to an SST, so that opening the store (for
  // reading, too) does not replay the write-ahead log.
  Status Apply(const std::vector<Change>& changes, std::optional<int64_t> evaluated_through, bool sync);

  // Current members of a segment, sorted.
  Result<std::vector<std::string>> Members(const std::string& segment) const;
  Result<uint64_t> CountMembers(const std::string& segment) const;
  // The evaluated time; nullopt before the first instant is evaluated.
  Result<std::optional<int64_t>> EvaluatedThrough() const;

 private:
  explicit AudienceStore(std::unique_ptr<rocksdb::DB> db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace segflow
