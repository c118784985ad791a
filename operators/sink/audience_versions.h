// Frozen audience versions (issue 6 item 2): when a segment's serving version stops
// serving (its definition changed, or it was removed from the job), the job's sink keeps
// that version's members, as the store held them then, in
//   <audience dir>.versions/<segment>@<version>
// (engine/schema/audience_version.capnp), so old versions stay queryable (`segflow
// audience --version`) until dropped (`segflow drop-version`). Files are written
// atomically (temp file, fsync, rename, fsync of the folder) and CRC-checked on read: a
// damaged file is an error naming it, never a silently shorter audience.
//
// A fresh run of the job removes the folder with the store; a restore keeps it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/common/status.h"

namespace segflow {

class AudienceStore;

struct FrozenVersion {
  std::string job;
  std::string segment;
  std::string version;
  std::optional<int64_t> evaluated_through;  // the store's, when frozen
  int64_t frozen_at_ms = 0;                  // wall-clock time of the freeze
  uint64_t member_count = 0;
  std::vector<std::string> members;  // sorted
};

// "<audience_dir>.versions" and the file of one version in it.
std::string FrozenVersionsDir(const std::string& audience_dir);
std::string FrozenVersionPath(const std::string& audience_dir, const std::string& segment,
                              const std::string& version);

// Writes (or replaces) the file of `v.segment`@`v.version`; member_count is set from
// the members. InvalidArgument for a segment or version that cannot name a file.
Status WriteFrozenVersion(const std::string& audience_dir, const FrozenVersion& v);
// NotFound when there is no such frozen version; Corruption naming a damaged file.
Result<FrozenVersion> ReadFrozenVersion(const std::string& audience_dir, const std::string& segment,
                                        const std::string& version);

struct FrozenVersionName {
  std::string segment;
  std::string version;
  bool operator<(const FrozenVersionName& o) const {
    return std::tie(segment, version) < std::tie(o.segment, o.version);
  }
};
// Every frozen version in the folder (by file name; nothing is read), sorted. Empty
// when the folder does not exist.
Result<std::vector<FrozenVersionName>> ListFrozenVersions(const std::string& audience_dir);
// Deletes one frozen version (NotFound if absent) and fsyncs the folder.
Status DropFrozenVersion(const std::string& audience_dir, const std::string& segment,
                         const std::string& version);
// Removes the whole folder (a fresh run).
Status DestroyFrozenVersions(const std::string& audience_dir);

// Freezes `store`'s current members of `segment` as `version` (with the store's
// evaluated time). A file of that version already frozen at the same evaluated time is
// left alone (an attempt restarted from the same checkpoint freezes again: idempotent);
// one frozen at another time is replaced (the version served again since). Returns
// whether it wrote.
Result<bool> FreezeVersion(const AudienceStore& store, const std::string& audience_dir,
                           const std::string& job, const std::string& segment,
                           const std::string& version, int64_t now_ms);

// The store an upgrade backfill of the job writes (the lead's orchestration): its sink
// records the versions it computes, like any job's own store.
std::string BackfillAudienceDir(const std::string& audience_dir);

// Every version of one segment of a job's audience there is to read.
struct SegmentVersionSet {
  std::optional<std::string> serving;   // recorded in the job's store (nullopt: none / unversioned)
  std::vector<std::string> frozen;      // sorted
  std::optional<std::string> backfill;  // recorded in the backfill store, if it exists
  // Every distinct version above, for messages: "serving 1a2b..., frozen 3c4d...".
  std::string Describe() const;
};
// `store`: the job's store open for reading (null: it does not exist).
Result<SegmentVersionSet> FindSegmentVersions(const AudienceStore* store,
                                              const std::string& audience_dir,
                                              const std::string& segment);
// A version named on the command line: all 16 hex digits or a unique prefix of at least
// 4 of them, among `versions`. NotFound (listing what exists) or InvalidArgument.
Result<std::string> ResolveVersion(const SegmentVersionSet& versions, const std::string& segment,
                                   const std::string& wanted);

// The members of `version`, one of `versions` other than the serving one: a frozen
// version from its file, otherwise the upgrade backfill's store.
Result<std::vector<std::string>> NonServingMembers(const SegmentVersionSet& versions, const std::string& audience_dir,
                                                   const std::string& segment, const std::string& version);

// The members of version `wanted` (see ResolveVersion) of `segment` of the job whose own
// store is `audience_dir`: the serving version from the store, a frozen one from its file,
// otherwise the upgrade backfill's store. `*resolved` is the full version.
Result<std::vector<std::string>> VersionMembers(const std::string& audience_dir, const std::string& segment,
                                                const std::string& wanted, std::string* resolved);

// Removes `user` from every frozen version (segflow forget). Returns the memberships
// removed.
Result<uint64_t> EraseFromFrozenVersions(const std::string& audience_dir, const std::string& user);

}  // namespace segflow
