# Checkpoint files (issue #5). A completed checkpoint is a folder
#   <checkpoint dir>/<job id>/chk-<id>/
# holding one file per task (source-<s>, keyed-<k>.meta with the RocksDB snapshot folder
# keyed-<k>/, sink) and `_metadata`, which the coordinator writes last and atomically once
# every task has acknowledged: a folder without it is not a checkpoint. Add fields, never
# renumber; `formatVersion` changes refuse old readers with a clear error.
@0xa7e41c0b9d3f5e12;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("segflow::schema");

const checkpointFormatVersion :UInt32 = 1;

struct InputPosition {
  topic @0 :UInt32;
  partition @1 :UInt32;
  offset @2 :UInt64;       # next offset to read
  hasMaxPrev @3 :Bool;
  maxPrev @4 :Int64;       # largest ts read so far (spec §2 lateness)
  hasEndOffset @5 :Bool;   # bounded runs: where the source stops (fixed at the first attempt's start)
  endOffset @6 :UInt64;
}

struct LateOffset {
  partition @0 :UInt32;
  offset @1 :UInt64;       # end of the late topic's partition at the barrier
}

struct SourceCheckpoint {
  formatVersion @0 :UInt32;
  source @1 :UInt32;
  inputs @2 :List(InputPosition);
  late @3 :List(LateOffset);
  rejected @4 :List(LateOffset);  # a Kafka source's "<job>.rejected" partition ends at the barrier
}

struct PartitionProgressState {
  partition @0 :UInt32;
  topicWatermarks @1 :List(Int64);
  topicIdle @2 :List(Bool);
  watermark @3 :Int64;
  idle @4 :Bool;
}

struct KeyedCheckpoint {
  formatVersion @0 :UInt32;
  keyed @1 :UInt32;
  keyGroupFirst @2 :UInt32;
  keyGroupLast @3 :UInt32;
  partitions @4 :List(PartitionProgressState);
}

struct SinkCheckpoint {
  formatVersion @0 :UInt32;
  offsets @1 :List(UInt64);      # changelog end per partition at the barrier (all released)
  frontiers @2 :List(Int64);     # per partition: every instant < this is in the changelog
  idle @3 :List(Bool);
  hasEvaluated @4 :Bool;
  evaluated @5 :Int64;
  entered @6 :UInt64;
  exited @7 :UInt64;
  # Changes at instants after `evaluated` (partitions whose frontier is ahead): held back
  # until the job's evaluated time reaches them, so the changelog and the audience never
  # hold a change later than the evaluated time they are committed with.
  pending @8 :List(PendingChange);
}

struct PendingChange {
  partition @0 :UInt32;
  segment @1 :Text;
  user @2 :Text;
  entered @3 :Bool;
  at @4 :Int64;
  pos @5 :UInt64;
}

struct CheckpointMetadata {
  formatVersion @0 :UInt32;
  jobId @1 :Text;
  jobName @2 :Text;
  checkpointId @3 :UInt64;
  attempt @4 :UInt32;
  triggeredAtMs @5 :Int64;
  completedAtMs @6 :Int64;
  partitions @7 :UInt32;
  sources @8 :UInt32;
  keyed @9 :UInt32;
  maxParallelism @10 :UInt32;
  files @11 :List(Text);         # every task file, relative to the folder
  bytes @12 :UInt64;             # their size (the RocksDB snapshots' files included)
  jobText @13 :Text;             # the job file the state was built by
}
