// Divergence between two audiences (issue 6 item 4, `segflow diff`): per segment, the
// members only in A and only in B and their share of the union.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/common/status.h"

namespace segflow {

struct SegmentDiff {
  std::string segment;
  uint64_t a = 0;                   // members in A
  uint64_t b = 0;                   // members in B
  std::vector<std::string> only_a;  // sorted
  std::vector<std::string> only_b;  // sorted
  uint64_t union_size = 0;
  // |only_a| + |only_b| over |A ∪ B|, in percent; 0 when both are empty.
  double divergence_pct = 0;
};

// `a` and `b` sorted and without duplicates (AudienceStore::Members' order).
SegmentDiff DiffMembers(const std::string& segment, const std::vector<std::string>& a,
                        const std::vector<std::string>& b);

// One side of a diff: a job file (its own audience store, or its shared one) or an
// audience store folder.
struct AudienceSide {
  std::string label;  // as given on the command line
  std::string store_dir;
  std::vector<std::string> segments;  // the job's segments, or the store's
  bool defines_segments = false;      // a job file: a segment it lacks is missing, not empty
  std::string evaluated;              // how far it has evaluated, for people
  // The erasure ledger of the job's log (a store folder: `<dir of log>/audience/<store>`'s,
  // when it has one): its users are in no answer (erasure_ledger.h).
  std::string ledger;
};

// `arg` ending in .yaml/.yml is a job file (`shared`: its output.shared_audience store),
// otherwise an audience store folder. A missing store or a job file with errors is an
// error saying what to do.
Result<AudienceSide> OpenAudienceSide(const std::string& arg, bool shared);

// The last `segflow diff` that compared a store is kept in the store's own folder, as
// JSON (what `diff --json` prints per segment, its counts without the member lists, with
// the time, both sides and which one this store was). Kept there, it lives and dies with
// the audience it describes (a fresh run that destroys the store drops it), and whoever
// holds the store can show it: the sink's worker returns it with the segment list (GET
// /v1/jobs/ID/segments, the dashboard), so the coordinator needs no shared filesystem and
// no diff has to be rerun per request (a diff reads both member sets whole). RocksDB
// ignores the file; it is written only into folders Segflow created (owned_dir.h).
inline constexpr char kLastDiffFile[] = "segflow-last-diff.json";
// Replaces the record atomically (write, fsync, rename); nothing is written into a folder
// that is not an audience store Segflow made (FailedPrecondition).
Status RecordLastDiff(const std::string& store_dir, const std::string& json);
// The record's text; nullopt when no diff has compared this store.
Result<std::optional<std::string>> ReadLastDiff(const std::string& store_dir);

}  // namespace segflow
