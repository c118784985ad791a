# The contract between Segflow processes (coordinator, workers, clients): every message
# on every TCP connection is one of these, framed as [u32 little-endian byte length]
# [Cap'n Proto flat message]. Add fields, never renumber; bump `protocolVersion` when a
# change makes old peers misread new messages, and peers of another version are refused.
@0xd3a7c19e5b2f4a60;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("segflow::wire");

const protocolVersion :UInt32 = 2;   # 2: the authentication handshake (AuthMessage) opens every connection

enum Role {
  worker @0;   # a worker's control connection to the coordinator
  client @1;   # submit / jobs / status / cancel
}

# ---------------------------------------------------------------- authentication
# Every connection (worker control, worker-to-worker data, client) opens with this
# handshake, before any other message is read (frames of at most 64 KiB, 5 s in all):
#   accepting side -> connecting side: challenge (a fresh random nonce)
#   connecting side -> accepting side: response (its own fresh nonce and its proof)
#   accepting side -> connecting side: result (ok, and the accepting side's proof)
# A proof is HMAC-SHA256(shared secret, label | the other side's nonce | own nonce), so
# the secret never crosses the wire, each side proves it holds the secret (mutual), and a
# recorded response cannot be replayed (the accepting side's nonce is new each time).
# Without a secret on the accepting side, `secretRequired` is false and no proof is asked;
# a connecting side that has a secret then refuses the peer (it cannot prove itself).

struct AuthChallenge {
  version @0 :UInt32;        # protocolVersion of the accepting side
  nonce @1 :Data;            # 32 random bytes
  secretRequired @2 :Bool;
}

struct AuthResponse {
  version @0 :UInt32;
  nonce @1 :Data;            # 32 random bytes
  proof @2 :Data;            # HMAC-SHA256(secret, "segflow-connect" | challenge nonce | own nonce); empty without a secret
}

struct AuthResult {
  ok @0 :Bool;
  error @1 :Text;
  proof @2 :Data;            # HMAC-SHA256(secret, "segflow-accept" | response nonce | challenge nonce)
}

struct AuthMessage {
  union {
    challenge @0 :AuthChallenge;
    response @1 :AuthResponse;
    result @2 :AuthResult;
  }
}

# ---------------------------------------------------------------- control plane

struct Hello {
  version @0 :UInt32;
  role @1 :Role;
}

struct HelloReply {
  ok @0 :Bool;
  error @1 :Text;
  version @2 :UInt32;   # the coordinator's protocol version
}

struct RegisterWorker {
  slots @0 :UInt32;
  dataHost @1 :Text;    # where other workers reach this worker's data server
  dataPort @2 :UInt16;
  dir @3 :Text;
  pid @4 :Int32;
}

struct RegisterReply {
  workerId @0 :UInt32;
  heartbeatIntervalMs @1 :UInt32;
}

struct Heartbeat {
  sentAtMs @0 :Int64;
}

# Where a task of an attempt runs.
struct Placement {
  kind @0 :TaskKind;
  index @1 :UInt32;
  worker @2 :UInt32;   # worker id
}

enum TaskKind {
  source @0;
  keyed @1;
  sink @2;
}

struct WorkerAddress {
  workerId @0 :UInt32;
  host @1 :Text;
  port @2 :UInt16;
}

# One attempt of a job: every worker gets the whole plan and runs its own tasks.
struct AttemptSpec {
  jobId @0 :Text;
  attempt @1 :UInt32;
  jobFile @2 :Text;      # path of the job file (relative paths in it resolve against it)
  jobText @3 :Text;      # its YAML as submitted: every process parses the same text
  bounded @4 :Bool;
  hasUntil @5 :Bool;
  until @6 :Int64;
  partitions @7 :UInt32;
  sources @8 :UInt32;
  keyed @9 :UInt32;
  placements @10 :List(Placement);
  workers @11 :List(WorkerAddress);
  stateDir @12 :Text;    # the job's shared working-state folder (its lock file lives beside it)
  checkpointDir @13 :Text;   # this attempt's checkpoints go to <checkpointDir>/chk-<id>/
  restoreFrom @14 :Text;     # a completed checkpoint folder to start from (empty: the log's start)
  transactional @15 :Bool;   # the changelog is committed by completed checkpoints only
  restoreId @16 :UInt64;     # the id of restoreFrom's checkpoint
  endWithSavepoint @17 :Bool;  # bounded: at the end offsets, wait for a stop-with-savepoint
  startOffsets @18 :List(PartitionOffset);  # reprocessing: where sources start (offset field)
  endOffsets @19 :List(PartitionOffset);    # bounded reprocessing: where sources stop (--until offsets:)
  restoreIsSavepoint @20 :Bool;  # restoreFrom is the savepoint a new job starts from: its bounded end offsets are another job's
  mergeFrom @21 :Text;           # a version upgrade's handover: a backfill's savepoint at restoreFrom's offsets; changed segments take its state
  streaming @22 :Bool;           # bounded: evaluate as a live run does, not in batch (sorted by user)
}

# Coordinator -> the sink's worker: take the job lock and reset the job's outputs.
struct PrepareAttempt {
  spec @0 :AttemptSpec;
}

struct AttemptPrepared {
  jobId @0 :Text;
  attempt @1 :UInt32;
  ok @2 :Bool;
  error @3 :Text;
  # The worker refused the job (a path outside its --data-root folders, or a folder that
  # Segflow did not create): no later attempt can succeed, so the job fails at once.
  refused @4 :Bool;
}

struct DeployAttempt {
  spec @0 :AttemptSpec;
}

# `abort`: stop at once, output is discarded (failover); otherwise stop the sources
# cleanly and let the sink commit what was evaluated (a live job canceled by its user).
struct CancelAttempt {
  jobId @0 :Text;
  attempt @1 :UInt32;
  abort @2 :Bool;
}

struct TaskMetrics {
  kind @0 :TaskKind;
  index @1 :UInt32;
  recordsIn @2 :UInt64;
  recordsOut @3 :UInt64;
  blockedNs @4 :UInt64;      # time spent waiting for room downstream (backpressure)
  lateRecords @5 :UInt64;
  hasWatermark @6 :Bool;
  watermark @7 :Int64;       # source: min over its partitions; keyed/sink: evaluated frontier
  partitions @8 :List(PartitionOffset);   # source tasks: per partition
  keyGroupFirst @9 :UInt32;  # keyed tasks
  keyGroupLast @10 :UInt32;
  done @11 :Bool;
  rejectedRecords @12 :UInt64;  # source: undecodable records (a Kafka source's values)
}

struct PartitionOffset {
  topic @0 :UInt32;
  partition @1 :UInt32;
  offset @2 :UInt64;
  endOffset @3 :UInt64;     # bounded runs: where the source stops
  hasWatermark @4 :Bool;
  watermark @5 :Int64;
}

struct AttemptReport {
  jobId @0 :Text;
  attempt @1 :UInt32;
  tasks @2 :List(TaskMetrics);
}

# A worker's tasks of an attempt have all ended.
struct AttemptDone {
  jobId @0 :Text;
  attempt @1 :UInt32;
  ok @2 :Bool;
  error @3 :Text;
  tasks @4 :List(TaskMetrics);
  hasSink @5 :Bool;          # the sink ran here: its result below
  finished @6 :Bool;
  hasEvaluated @7 :Bool;
  evaluatedThrough @8 :Int64;
  entered @9 :UInt64;
  exited @10 :UInt64;
  refused @11 :Bool;         # as in AttemptPrepared: the job fails without restarts
}

struct Submit {
  jobFile @0 :Text;
  jobText @1 :Text;
  bounded @2 :Bool;
  hasUntil @3 :Bool;
  until @4 :Int64;
  stateDir @5 :Text;         # empty: the default <dir of log>/state/<job>
  fromSavepoint @6 :Text;    # start from this savepoint (or retained checkpoint) folder
  endWithSavepoint @7 :Bool; # bounded: end with a savepoint at the end offsets, ready for a live job to continue
  from @8 :Text;             # reprocessing start: earliest | latest | time:T | offsets:P=O,...
  untilOffsets @9 :Text;     # bounded reprocessing end: P=O,... (without the "offsets:" prefix)
  mergeFrom @10 :Text;       # with fromSavepoint: a backfill's savepoint at the same offsets; changed segments take its state
  untilSavepoint @11 :Text;  # bounded: end at this savepoint's source offsets
  streaming @12 :Bool;       # bounded: evaluate as a live run does (--runtime-mode streaming), not in batch
}

struct SubmitReply {
  ok @0 :Bool;
  jobId @1 :Text;
  error @2 :Text;            # validation errors, one a line, or why nothing was deployed
  notice @3 :Text;           # accepted, but worth telling (e.g. which segments a savepoint restarts)
  upgradeId @4 :Text;        # the submission started a version upgrade of a running job (jobId is the upgrade's too)
}

enum JobState {
  scheduling @0;   # waiting for slots or for the sink's worker to prepare
  running @1;
  restarting @2;   # an attempt failed; the next one starts from the beginning of the log
  finished @3;
  failed @4;
  canceled @5;
  canceling @6;
}

struct JobStatus {
  jobId @0 :Text;
  name @1 :Text;
  state @2 :JobState;
  reason @3 :Text;           # why it failed / restarted / was canceled
  attempt @4 :UInt32;
  restarts @5 :UInt32;
  bounded @6 :Bool;
  submittedAtMs @7 :Int64;
  endedAtMs @8 :Int64;
  tasks @9 :List(TaskStatus);
  recordsIn @10 :UInt64;
  lateRecords @11 :UInt64;
  entered @12 :UInt64;
  exited @13 :UInt64;
  hasEvaluated @14 :Bool;
  evaluatedThrough @15 :Int64;
  finished @16 :Bool;
  jobFile @17 :Text;
  lastFailure @18 :Text;     # why the last failed attempt failed (kept after a restart)
  checkpoints @19 :CheckpointStats;
  rejectedRecords @20 :UInt64;  # undecodable source records, in "<job>.rejected"
}

struct CheckpointStats {
  enabled @0 :Bool;
  intervalMs @1 :Int64;
  completed @2 :UInt64;
  abandoned @3 :UInt64;
  lastCompletedId @4 :UInt64;
  lastDurationMs @5 :Int64;
  lastBytes @6 :UInt64;
  lastPath @7 :Text;
  restoredFrom @8 :Text;     # the checkpoint the current attempt started from
  lastSavepoint @9 :Text;    # the folder of the last savepoint written
  savepointPending @10 :Bool;
  savepointError @11 :Text;  # why the last savepoint request failed
  history @12 :List(CheckpointRecord);  # the last kCheckpointHistory, oldest first
}

# One checkpoint the coordinator triggered, as it ended.
struct CheckpointRecord {
  id @0 :UInt64;
  triggeredAtMs @1 :Int64;   # wall clock
  durationMs @2 :Int64;      # trigger -> completed (or abandoned)
  bytes @3 :UInt64;          # what the tasks acknowledged writing (so far, if it failed)
  completed @4 :Bool;
  error @5 :Text;            # why it was abandoned
  savepoint @6 :Bool;
}

struct TaskStatus {
  metrics @0 :TaskMetrics;
  worker @1 :UInt32;
  workerAddress @2 :Text;
}

struct StatusRequest {
  jobId @0 :Text;            # empty: every job (summaries, no tasks)
}

struct StatusReply {
  ok @0 :Bool;
  error @1 :Text;
  jobs @2 :List(JobStatus);
  workers @3 :List(WorkerInfo);
  upgrades @4 :List(UpgradeStatus);
}

# A version upgrade: a changed job file resubmitted while its live job runs.
enum UpgradePhase {
  backfill @0;       # the new version replays the log beside the live job (rounds catch up)
  stoppingLive @1;   # the live job stops with a savepoint
  finalBackfill @2;  # the backfill replays up to the live job's savepoint
  switching @3;      # the new live job starts from both savepoints; done at its first checkpoint
  done @4;
  failed @5;
}

struct UpgradeStatus {
  upgradeId @0 :Text;
  name @1 :Text;
  jobFile @2 :Text;
  phase @3 :UpgradePhase;
  reason @4 :Text;           # failed: why (and what was rolled back)
  carryOver @5 :Text;        # e.g. "kept a, b; restarted c (changed)"
  liveJob @6 :Text;          # the job serving the old version
  backfillJob @7 :Text;      # the current backfill round
  newJob @8 :Text;           # the job serving the new version
  rounds @9 :UInt32;         # backfill rounds so far
  liveSavepoint @10 :Text;
  backfillSavepoint @11 :Text;
  startedAtMs @12 :Int64;
  endedAtMs @13 :Int64;
}

struct WorkerInfo {
  workerId @0 :UInt32;
  address @1 :Text;
  slots @2 :UInt32;
  freeSlots @3 :UInt32;
  alive @4 :Bool;
  pid @5 :Int32;
}

struct CancelJob {
  jobId @0 :Text;
}

struct CancelReply {
  ok @0 :Bool;
  error @1 :Text;
}

struct CheckpointRef {
  jobId @0 :Text;
  attempt @1 :UInt32;
  checkpointId @2 :UInt64;
  stop @3 :Bool;           # a stop-with-savepoint: sources stop right after this barrier
}

struct SavepointRequest {
  jobId @0 :Text;
  stop @1 :Bool;
  dir @2 :Text;            # empty: <checkpoint dir>/savepoints/<job id>-<checkpoint id>
}

struct SavepointReply {
  ok @0 :Bool;
  error @1 :Text;
}

struct AckCheckpoint {
  jobId @0 :Text;
  attempt @1 :UInt32;
  checkpointId @2 :UInt64;
  kind @3 :TaskKind;
  index @4 :UInt32;
  ok @5 :Bool;             # false: the task declined (e.g. its input ended); the checkpoint is abandoned
  error @6 :Text;
  bytes @7 :UInt64;
}

struct ControlMessage {
  union {
    hello @0 :Hello;
    helloReply @1 :HelloReply;
    registerWorker @2 :RegisterWorker;
    registerReply @3 :RegisterReply;
    heartbeat @4 :Heartbeat;
    prepare @5 :PrepareAttempt;
    prepared @6 :AttemptPrepared;
    deploy @7 :DeployAttempt;
    cancelAttempt @8 :CancelAttempt;
    report @9 :AttemptReport;
    done @10 :AttemptDone;
    submit @11 :Submit;
    submitReply @12 :SubmitReply;
    status @13 :StatusRequest;
    statusReply @14 :StatusReply;
    cancelJob @15 :CancelJob;
    cancelReply @16 :CancelReply;
    shutdown @17 :Void;      # coordinator -> worker: exit when idle (embedded cluster)
    triggerCheckpoint @18 :CheckpointRef;    # coordinator -> workers with sources
    ackCheckpoint @19 :AckCheckpoint;         # worker -> coordinator, one per task
    checkpointComplete @20 :CheckpointRef;   # coordinator -> the sink's worker: commit it
    savepoint @21 :SavepointRequest;          # client -> coordinator
    savepointReply @22 :SavepointReply;
    audienceQuery @23 :AudienceQuery;         # coordinator -> the sink's worker (HTTP API)
    audienceAnswer @24 :AudienceAnswer;       # worker -> coordinator
  }
}

# The HTTP API's audience questions (integrations §12): the coordinator asks the worker
# that runs (or last ran) a job's sink, which holds its audience store, and relays the
# answer, so the coordinator needs no shared filesystem.
enum AudienceQueryKind {
  segments @0;   # every segment: serving version, member count
  members @1;    # a page of a segment's members (as of `at`, or the evaluated time)
  user @2;       # the user's current memberships
  explain @3;    # why the user is (not) in `segment` at `at`
  health @4;     # what `segflow health --json --hours N` prints
}

struct AudienceQuery {
  requestId @0 :UInt64;      # echoed in the answer
  jobId @1 :Text;
  jobFile @2 :Text;          # the job as submitted: the worker finds the store from it
  jobText @3 :Text;
  kind @4 :AudienceQueryKind;
  segment @5 :Text;
  user @6 :Text;
  hasAt @7 :Bool;
  at @8 :Int64;
  limit @9 :UInt32;          # members: page size
  after @10 :Text;           # members: the page starts after this id
  hours @11 :UInt32;         # health: the hourly window
}

enum AudienceError {
  none @0;
  invalid @1;        # a bad question (HTTP 400)
  notFound @2;       # no such segment (404)
  notEvaluated @3;   # `at` past the evaluated time (409)
  unavailable @4;    # the store cannot be read (409)
}

struct SegmentSize {
  segment @0 :Text;
  version @1 :Text;          # the serving version (empty: unversioned)
  members @2 :UInt64;
  latencyBuckets @3 :List(UInt64);  # AudienceStore::Latency: record appended -> change committed
  entered @4 :UInt64;        # AudienceStore::SegmentCounts: applied enters
  exited @5 :UInt64;         # and exits
}

struct UserMembership {
  segment @0 :Text;
  since @1 :Int64;           # event time of the change that made the user a member
}

struct AudienceAnswer {
  requestId @0 :UInt64;
  error @1 :AudienceError;
  message @2 :Text;
  hasEvaluated @3 :Bool;
  evaluatedThrough @4 :Int64;
  segments @5 :List(SegmentSize);
  members @6 :List(Text);    # sorted ids
  next @7 :Text;             # members: the last id given when more follow (empty: none)
  memberships @8 :List(UserMembership);
  explainJson @9 :Text;      # explain: what `segflow explain --json` prints
  healthJson @10 :Text;      # health: what `segflow health --json` prints
  lastDiffJson @11 :Text;    # segments: the last diff of this store (audience_diff.h), or empty
}

# ---------------------------------------------------------------- data plane
# One TCP connection per (sending worker, receiving task). The receiver grants credits:
# the sender sends one frame per credit and the receiver returns a credit only once the
# frame is in the receiving task's bounded input, so at most `credits` frames are in
# flight and a slow task slows its senders (Flink's credit-based flow control).

struct DataHello {
  version @0 :UInt32;
  jobId @1 :Text;
  attempt @2 :UInt32;
  target @3 :TaskKind;       # keyed or sink
  targetIndex @4 :UInt32;
  producers @5 :UInt32;      # local tasks multiplexed on this connection: one end each
  fromWorker @6 :UInt32;
}

struct DataHelloReply {
  ok @0 :Bool;
  error @1 :Text;
  credits @2 :UInt32;
}

struct Credit {
  frames @0 :UInt32;
}

struct KeyedRecordWire {
  partition @0 :UInt32;
  userHash @1 :UInt64;
  user @2 :Text;
  event @3 :Data;            # SegmentProgram::SerializeEvent
}

struct WatermarkWire {
  topic @0 :UInt32;
  partition @1 :UInt32;
  time @2 :Int64;
  idle @3 :Bool;
}

struct SourceEndWire {
  hasMaxTs @0 :Bool;
  maxTs @1 :Int64;
  finish @2 :Bool;
  hasUntil @3 :Bool;
  until @4 :Int64;
}

struct ChangeWire {
  at @0 :Int64;
  user @1 :Text;
  segment @2 :UInt32;
  entered @3 :Bool;
  pos @4 :UInt64;     # log position of the change (the store's stamp after `at`)
}

struct DataFrame {
  from @0 :UInt32;           # the sending task's index (a source for keyed tasks, a keyed task for the sink)
  union {
    keyedBatch @1 :List(KeyedRecordWire);
    watermark @2 :WatermarkWire;
    sourceEnd @3 :SourceEndWire;
    changeBatch :group {
      partition @4 :UInt32;
      changes @5 :List(ChangeWire);
      switched @12 :Bool;    # a version switch's changes (the sink makes the switch records)
    }
    progress :group {
      partition @6 :UInt32;
      frontier @7 :Int64;
      idle @8 :Bool;
    }
    keyedEnd :group {
      finished @9 :Bool;
      evaluatedThrough @10 :Int64;
    }
    barrier @11 :UInt64;     # checkpoint barrier from task `from` (a source, or a keyed task)
  }
}

# ---------------------------------------------------------------- coordinator --dir
# <dir>/jobs/<job id>: what the coordinator must know to resume a job after its own
# restart (rewritten atomically on every change that matters).

struct PersistedCheckpoint {
  id @0 :UInt64;
  path @1 :Text;
  durationMs @2 :Int64;
  bytes @3 :UInt64;
}

struct PersistedJob {
  jobId @0 :Text;
  submit @1 :Submit;
  state @2 :JobState;
  reason @3 :Text;
  attempt @4 :UInt32;
  restarts @5 :UInt32;
  submittedAtMs @6 :Int64;
  endedAtMs @7 :Int64;
  checkpoints @8 :List(PersistedCheckpoint);
  nextCheckpoint @9 :UInt64;
  completed @10 :UInt64;
  abandoned @11 :UInt64;
  lastSavepoint @12 :Text;
  stoppedWithSavepoint @13 :Bool;
  initialRestore @14 :Text;
  initialRestoreId @15 :UInt64;
  lastFailure @16 :Text;
  startOffsets @17 :List(PartitionOffset);  # resolved from Submit.from once, at submission
  endOffsets @18 :List(PartitionOffset);    # resolved from Submit.untilOffsets
}

# <dir>/upgrades/<upgrade id>: an upgrade in progress, resumed by a restarted coordinator.
struct PersistedUpgrade {
  status @0 :UpgradeStatus;
  jobText @1 :Text;          # the new job file
  backfillText @2 :Text;     # the backfill's job file (the new one, its outputs renamed)
  oldText @3 :Text;          # the live job's (a rollback restarts it)
  oldFile @4 :Text;
  rollbackJob @5 :Text;
  from @6 :Text;             # where the backfill started (the live job's --from)
}
