// Writes the encoded seeds of the fuzz targets with the project's own encoders, so each
// target starts from inputs that pass its checks: `fuzz_seed_gen <corpus dir>` fills
// <dir>/<target>/seed-*. The text seeds (events, job files) are kept by hand.
#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/log/batch_format.h"
#include "engine/log/record_codec.h"
#include "engine/schema/checkpoint.capnp.h"
#include "engine/schema/cluster.capnp.h"
#include "engine/state/message_file.h"
#include "engine/state/snapshot_metadata.h"
#include "jobs/job_parser.h"
#include "operators/runtime/checkpoint_state.h"
#include "operators/runtime/wire_codec.h"
#include "operators/segment/program.h"

namespace fs = std::filesystem;
using namespace segflow;

namespace {

std::string out_dir;

void Put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(out_dir + "/" + target);
  std::ofstream(out_dir + "/" + target + "/seed-" + name, std::ios::binary) << bytes;
}

std::string Flat(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  return std::string(reinterpret_cast<const char*>(words.asBytes().begin()),
                     words.asBytes().size());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Event SampleEvent(int i) {
  Event e;
  e.user = "user-" + std::to_string(i);
  e.type = i % 2 ? "purchase" : "add_to_cart";
  e.ts = 1700000000000 + i;
  e.props = Value::Object({{"price", Value::Double(9.5 * i)},
                           {"qty", Value::Int(i)},
                           {"ok", Value::Bool(true)},
                           {"none", Value::Null()},
                           {"device", Value::Object({{"os", Value::String("ios")}})},
                           {"tags", Value::Array({Value::String("a"), Value::Int(-1)})}});
  return e;
}

ProjectedEvent SampleProjected(int i) {
  ProjectedEvent p;
  p.ts = 1700000000000 + i;
  p.seq = static_cast<uint64_t>(i);
  p.match_bits.assign(2, 0x5);
  p.fields.resize(2);
  p.fields[0].kind = FieldValue::Kind::kNumber;
  p.fields[0].number = 3.5;
  p.fields[1].kind = FieldValue::Kind::kKey;
  p.fields[1].key = "sku-1";
  p.is_profile = i % 2 == 1;
  if (p.is_profile) p.profile_update = Value::Object({{"country", Value::String("fr")}});
  p.consent = static_cast<int8_t>(i % 3 - 1);
  return p;
}

void LogSeeds() {
  for (int n : {1, 3}) {
    capnp::MallocMessageBuilder message;
    auto batch = message.initRoot<schema::RecordBatch>();
    batch.setBaseOffset(static_cast<uint64_t>(n * 10));
    auto records = batch.initRecords(static_cast<unsigned>(n));
    for (int i = 0; i < n; ++i)
      log::EncodeRecord(SampleEvent(i), records[static_cast<unsigned>(i)]);
    std::string out;
    log::AppendBatch(message, static_cast<uint64_t>(n * 10), static_cast<uint32_t>(n),
                     1700000000000, &out);
    Put("log_batch", "batch" + std::to_string(n), out);
    Put("log_batch", "payload" + std::to_string(n), out.substr(log::kBatchHeaderBytes));
  }
  for (int i = 0; i < 2; ++i) {
    capnp::MallocMessageBuilder record;
    log::EncodeRecord(SampleEvent(i), record.initRoot<schema::Record>());
    Put("log_record", "record" + std::to_string(i), std::string(1, '\0') + Flat(record));
  }
  capnp::MallocMessageBuilder value;
  log::EncodeValue(SampleEvent(2).props, value.initRoot<schema::Value>());
  Put("log_record", "value", std::string(1, '\1') + Flat(value));
}

void FrameSeeds() {
  std::vector<std::pair<std::string, KeyedInput>> keyed;
  KeyedBatch batch;
  batch.source = 1;
  for (int i = 0; i < 2; ++i) {
    batch.records.push_back(KeyedRecord{static_cast<uint32_t>(i), "user-" + std::to_string(i),
                                        42u + i, SampleProjected(i)});
  }
  keyed.emplace_back("keyed_batch", batch);
  keyed.emplace_back("watermark", PartitionWatermark{0, 1, 1700000000000, false, 2});
  keyed.emplace_back("source_end", SourceEnd{0, 1700000000000, true, true, 1700000009999, true});
  keyed.emplace_back("barrier", SourceBarrier{0, 7});
  for (auto& [name, in] : keyed) {
    capnp::MallocMessageBuilder m;
    EncodeKeyedInput(in, m.initRoot<wire::DataFrame>());
    Put("data_frame", name, Flat(m));
    Put("control_message", "frame_" + name, std::string(1, '\6') + Flat(m));
  }
  ChangeBatch changes;
  changes.partition = 3;
  changes.changes = {{1700000000000, "user-1", 0, true, 5}, {1700000000001, "user-2", 1, false, 6}};
  for (auto& [name, body] : std::vector<std::pair<std::string, SinkInput>>{
           {"changes", changes},
           {"progress", PartitionProgress{1, 1700000000000, true}},
           {"keyed_end", KeyedEnd{true, 9}}}) {
    capnp::MallocMessageBuilder m;
    EncodeSinkMessage(SinkMessage{2, body}, m.initRoot<wire::DataFrame>());
    Put("data_frame", name, Flat(m));
  }

  {
    capnp::MallocMessageBuilder m;
    auto submit = m.initRoot<wire::ControlMessage>().initSubmit();
    submit.setJobFile("/jobs/cart.yaml");
    submit.setJobText(ReadAll(std::string(SEGFLOW_SOURCE_DIR) + "/jobs/cart.yaml"));
    Put("control_message", "submit", std::string(1, '\0') + Flat(m));
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::ControlMessage>().initHeartbeat();
    Put("control_message", "heartbeat", std::string(1, '\0') + Flat(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto h = m.initRoot<wire::DataHello>();
    h.setVersion(1);
    h.setJobId("job-1");
    h.setProducers(2);
    Put("control_message", "data_hello", std::string(1, '\1') + Flat(m));
  }
  {
    capnp::MallocMessageBuilder m;
    auto j = m.initRoot<wire::PersistedJob>();
    j.setJobId("job-1");
    j.initSubmit().setJobText("job: x\n");
    j.initCheckpoints(1)[0].setPath("/chk/job-1/chk-1");
    Put("control_message", "persisted_job", std::string(1, '\4') + Flat(m));
  }
}

// Regression: a frame whose one-record list is rewritten into 4M zero-sized elements (it
// made DecodeKeyedInput allocate 4M records, DecodeSinkMessage accept 4M empty changes).
void ZeroSizedListSeeds() {
  auto zero_sized = [](capnp::MessageBuilder& m) {
    auto array = capnp::messageToFlatArray(m);
    std::vector<uint64_t> raw(array.size());
    std::memcpy(raw.data(), array.begin(), raw.size() * 8);
    for (size_t i = 1; i < raw.size(); ++i) {
      if ((raw[i] & 3) != 1 || ((raw[i] >> 32) & 7) != 7) continue;
      const int64_t tag =
          static_cast<int64_t>(i) + 1 + (static_cast<int32_t>(static_cast<uint32_t>(raw[i])) >> 2);
      raw[i] &= 0x7ffffffffull;
      raw[static_cast<size_t>(tag)] = uint64_t{4u << 20} << 2;
      break;
    }
    return std::string(reinterpret_cast<const char*>(raw.data()), raw.size() * 8);
  };
  capnp::MallocMessageBuilder keyed;
  KeyedBatch batch;
  batch.records.resize(1);
  batch.records[0].user = "u";
  EncodeKeyedInput(batch, keyed.initRoot<wire::DataFrame>());
  Put("data_frame", "regression-zero-sized-keyed-batch", zero_sized(keyed));
  capnp::MallocMessageBuilder sink;
  ChangeBatch changes;
  changes.changes = {{1, "u", 0, true, 1}};
  EncodeSinkMessage(SinkMessage{0, changes}, sink.initRoot<wire::DataFrame>());
  Put("data_frame", "regression-zero-sized-changes", zero_sized(sink));
}

void CheckpointSeeds() {
  const std::string dir = out_dir + "/.scratch";
  fs::create_directories(dir);
  SourceCheckpointState source;
  source.inputs.push_back(InputCheckpoint{0, 1, 100, true, 1700000000000, true, 200});
  source.late_offsets[0] = 5;
  (void)WriteSourceCheckpoint(dir, 0, source);
  PartitionCheckpoint p;
  p.partition = 1;
  p.topic_watermarks = {1700000000000};
  p.topic_idle = {false};
  p.watermark = 1700000000000;
  (void)WriteKeyedCheckpoint(dir, 0, KeyGroupRange{0, 63}, {p});
  SinkCheckpointState sink;
  sink.offsets = {1, 2};
  sink.frontiers = {3, 4};
  sink.idle = {false, true};
  sink.has_evaluated = true;
  sink.evaluated = 9;
  (void)WriteSinkCheckpoint(dir, sink);
  const std::pair<char, std::string> files[] = {{'\0', SourceCheckpointFile(dir, 0)},
                                                {'\1', KeyedCheckpointFile(dir, 0)},
                                                {'\2', SinkCheckpointFile(dir)}};
  for (const auto& [kind, path] : files) {
    Put("checkpoint_state", fs::path(path).filename().string(),
        std::string(1, kind) + ReadAll(path).substr(8));
  }
  capnp::MallocMessageBuilder m;
  auto meta = m.initRoot<schema::CheckpointMetadata>();
  meta.setFormatVersion(schema::CHECKPOINT_FORMAT_VERSION);
  meta.setJobId("job-1");
  meta.setJobName("cart");
  meta.setCheckpointId(3);
  meta.initFiles(2).set(0, "source-0");
  meta.setJobText("job: cart\n");
  Put("checkpoint_state", "metadata", std::string(1, '\3') + Flat(m));
  Put("message_file", "metadata", std::string(1, '\1') + Flat(m));
  (void)WriteMessageFile(dir + "/message", m);
  Put("message_file", "raw_file", std::string(1, '\0') + ReadAll(dir + "/message"));

  SnapshotMetadata snap;
  snap.max_parallelism = 128;
  snap.key_groups = KeyGroupRange{0, 63};
  snap.states = {{"users", 0}, {"timers", 64}};
  (void)WriteSnapshotMetadata(dir, snap);
  Put("snapshot_metadata", "snapshot", ReadAll(dir + "/" + kSnapshotMetadataFile));
  fs::remove_all(dir);
}

// Per-user keyed state of each example job's program after a few events and instants,
// as fuzz_user_state reads it (first byte: the job's index).
void UserStateSeeds() {
  const char* jobs[] = {"cart", "fintech", "media"};
  const std::vector<std::vector<std::pair<std::string, Value>>> events = {
      {{"add_to_cart", Value::Object({{"price", Value::Int(200)}})},
       {"purchase", Value::Object({})},
       {"consent", Value::Object({{"granted", Value::Bool(true)}})}},
      {{"identify", Value::Object({{"country", Value::String("fr")}})},
       {"transaction",
        Value::Object({{"status", Value::String("declined")}, {"amount", Value::Int(9000)}})},
       {"transaction",
        Value::Object({{"status", Value::String("approved")}, {"amount", Value::Int(6000)}})}},
      {{"play",
        Value::Object({{"genre", Value::String("documentary")}, {"watch_s", Value::Int(40000)}})},
       {"play", Value::Object({{"genre", Value::String("drama")}, {"watch_s", Value::Int(60)}})}}};
  for (size_t j = 0; j < 3; ++j) {
    JobParseResult parsed =
        ParseJobFile(std::string(SEGFLOW_SOURCE_DIR) + "/jobs/" + jobs[j] + ".yaml");
    auto program = SegmentProgram::Compile(parsed.job);
    if (!parsed.ok() || !program.ok()) {
      std::fprintf(stderr, "cannot compile %s\n", jobs[j]);
      std::exit(1);
    }
    std::unique_ptr<UserState> state = (*program)->NewUserState();
    int64_t ts = 1700000000000;
    for (size_t i = 0; i < events[j].size(); ++i) {
      Event e;
      e.user = "u";
      e.type = events[j][i].first;
      e.ts = ts + static_cast<int64_t>(i) * 60000;
      e.props = events[j][i].second;
      ProjectedEvent p;
      (*program)->Project(e, i, &p);
      (*program)->AddEvent(state.get(), std::move(p));
      std::string bytes(1, static_cast<char>(j));
      (*program)->Serialize(*state, &bytes);
      Put("user_state", std::string(jobs[j]) + "-" + std::to_string(i) + "-pending", bytes);
      if (auto next = (*program)->NextInstant(*state)) {
        std::vector<MembershipChange> changes;
        (*program)->ProcessInstant(state.get(), *next, &changes);
      }
      bytes.resize(1);
      (*program)->Serialize(*state, &bytes);
      Put("user_state", std::string(jobs[j]) + "-" + std::to_string(i), bytes);
    }
  }
}

// The byte streams a peer sends in the handshake (fuzz_auth_handshake): a first byte
// for the side and secret (bit 0: this side accepts; bit 1: it holds a secret), then
// frames (u32 little-endian length, flat message). Proofs cannot match (nonces are fresh),
// so only the streams without a secret get past the handshake to the control messages.
std::string Frame(capnp::MessageBuilder& message) {
  const std::string body = Flat(message);
  std::string out(4, '\0');
  const uint32_t n = static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + body;
}

void AuthSeeds() {
  const std::string nonce(32, 'n'), proof(32, 'p');
  auto bytes = [](const std::string& s) {
    return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
  };
  auto challenge = [&](bool secret_required, uint32_t version) {
    capnp::MallocMessageBuilder m;
    auto c = m.initRoot<wire::AuthMessage>().initChallenge();
    c.setVersion(version);
    c.setNonce(bytes(nonce));
    c.setSecretRequired(secret_required);
    return Frame(m);
  };
  auto response = [&](bool with_proof, uint32_t version) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<wire::AuthMessage>().initResponse();
    r.setVersion(version);
    r.setNonce(bytes(nonce));
    if (with_proof) r.setProof(bytes(proof));
    return Frame(m);
  };
  auto result = [&](bool ok, bool with_proof) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<wire::AuthMessage>().initResult();
    r.setOk(ok);
    if (!ok) r.setError("refused");
    if (with_proof) r.setProof(bytes(proof));
    return Frame(m);
  };
  std::string after;  // what a client says after the handshake
  {
    capnp::MallocMessageBuilder m;
    auto h = m.initRoot<wire::ControlMessage>().initHello();
    h.setVersion(wire::PROTOCOL_VERSION);
    h.setRole(wire::Role::CLIENT);
    after += Frame(m);
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::ControlMessage>().initStatus().setJobId("job-1");
    after += Frame(m);
  }
  const uint32_t v = wire::PROTOCOL_VERSION;
  Put("auth_handshake", "accept-open", "\x01" + response(false, v) + after);
  Put("auth_handshake", "accept-secret", "\x03" + response(true, v) + after);
  Put("auth_handshake", "accept-old-version", "\x01" + response(false, 1));
  Put("auth_handshake", "connect-open",
      std::string("\x00") + challenge(false, v) + result(true, false) + after);
  Put("auth_handshake", "connect-secret", "\x02" + challenge(true, v) + result(true, true) + after);
  Put("auth_handshake", "connect-refused", "\x02" + challenge(true, v) + result(false, false));
  Put("auth_handshake", "connect-needs-secret",
      std::string("\x00") + challenge(true, v) + result(false, false));
  Put("auth_handshake", "huge-header",
      std::string("\x01\xf8\xff\xff\x0f", 5) + std::string(64, 'x'));
  Put("auth_handshake", "big-frame-after",
      "\x01" + response(false, v) + std::string("\x00\x00\x00\x04", 4) + std::string(4096, 'x'));
}

// Sessions with a coordinator (fuzz_coordinator_session): byte 0 the role (1: worker),
// then each message as a u16 little-endian word count and its words.
std::string Chunk(capnp::MessageBuilder& message) {
  const std::string body = Flat(message);
  const size_t words = body.size() / 8;
  return std::string{static_cast<char>(words & 0xff), static_cast<char>(words >> 8)} + body;
}

void CoordinatorSeeds() {
  using CM = wire::ControlMessage;
  auto submit = [](const std::string& text, bool bounded) {
    capnp::MallocMessageBuilder m;
    auto s = m.initRoot<CM>().initSubmit();
    s.setJobFile("job.yaml");
    s.setJobText(text);
    s.setBounded(bounded);
    return Chunk(m);
  };
  auto status = [](const std::string& id) {
    capnp::MallocMessageBuilder m;
    m.initRoot<CM>().initStatus().setJobId(id);
    return Chunk(m);
  };
  auto savepoint = [](const std::string& id, const std::string& dir) {
    capnp::MallocMessageBuilder m;
    auto s = m.initRoot<CM>().initSavepoint();
    s.setJobId(id);
    s.setDir(dir);
    return Chunk(m);
  };
  auto cancel = [](const std::string& id) {
    capnp::MallocMessageBuilder m;
    m.initRoot<CM>().initCancelJob().setJobId(id);
    return Chunk(m);
  };
  const std::string cart = ReadAll(std::string(SEGFLOW_SOURCE_DIR) + "/jobs/cart.yaml");
  Put("coordinator_session", "client-submit",
      "\x00" + submit(cart, true) + status("") + status("cart"));
  Put("coordinator_session", "client-submit-live",
      "\x00" + submit(cart, false) + savepoint("cart", "../outside") + cancel("cart") + status(""));
  Put("coordinator_session", "client-status",
      "\x00" + status("") + status("nope") + cancel("nope"));
  Put("coordinator_session", "client-savepoint", "\x00" + savepoint("nope", "sp"));

  std::string reg;
  {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<CM>().initRegisterWorker();
    r.setSlots(2);
    r.setDataHost("127.0.0.1");
    r.setDataPort(7100);
    r.setDir("w");
    r.setPid(42);
    reg = Chunk(m);
  }
  std::string worker = "\x01" + reg;
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<CM>().initHeartbeat();
    worker += Chunk(m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto p = m.initRoot<CM>().initPrepared();
    p.setJobId("cart");
    p.setAttempt(1);
    worker += Chunk(m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto a = m.initRoot<CM>().initAckCheckpoint();
    a.setJobId("cart");
    a.setAttempt(1);
    a.setCheckpointId(3);
    a.setKind(wire::TaskKind::KEYED);
    a.setIndex(0);
    a.setOk(true);
    a.setBytes(100);
    worker += Chunk(m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<CM>().initReport();
    r.setJobId("cart");
    r.setAttempt(1);
    auto t = r.initTasks(1)[0];
    t.setKind(wire::TaskKind::SOURCE);
    t.setIndex(0);
    t.setRecordsIn(10);
    t.initPartitions(1);
    worker += Chunk(m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto d = m.initRoot<CM>().initDone();
    d.setJobId("cart");
    d.setAttempt(1);
    worker += Chunk(m);
  }
  Put("coordinator_session", "worker", worker);
  Put("coordinator_session", "worker-register-only", "\x01" + reg);
}

// Sessions with a worker (fuzz_worker_session): each message the coordinator sends, as a
// u16 little-endian word count and its words (the harness registers the worker as id 1
// first and sends a Shutdown last).
void WorkerSeeds() {
  using CM = wire::ControlMessage;
  const std::string job =
      "job: seeded\n"
      "log: log\n"
      "source: {topics: [events]}\n"
      "segments:\n"
      "  - id: buyers\n"
      "    when: {count: {event: purchase, window: 1d, at_least: 1}}\n"
      "checkpoint: {interval: 1s}\n";
  auto spec = [&](wire::AttemptSpec::Builder s) {
    s.setJobId("seeded");
    s.setAttempt(1);
    s.setJobFile("job.yaml");
    s.setJobText(job);
    s.setBounded(true);
    s.setPartitions(1);
    s.setSources(1);
    s.setKeyed(1);
    auto placements = s.initPlacements(3);
    const wire::TaskKind kinds[] = {wire::TaskKind::SOURCE, wire::TaskKind::KEYED,
                                    wire::TaskKind::SINK};
    for (unsigned i = 0; i < 3; ++i) {
      placements[i].setKind(kinds[i]);
      placements[i].setIndex(0);
      placements[i].setWorker(1);
    }
    auto w = s.initWorkers(1)[0];
    w.setWorkerId(1);
    w.setHost("127.0.0.1");
    w.setPort(1);
    s.setStateDir("state/seeded");
    s.setCheckpointDir("checkpoints/seeded");
  };
  std::string prepare, deploy;
  {
    capnp::MallocMessageBuilder m;
    spec(m.initRoot<CM>().initPrepare().initSpec());
    prepare = Chunk(m);
  }
  {
    capnp::MallocMessageBuilder m;
    spec(m.initRoot<CM>().initDeploy().initSpec());
    deploy = Chunk(m);
  }
  auto checkpoint = [](bool trigger, uint64_t id) {
    capnp::MallocMessageBuilder m;
    auto root = m.initRoot<CM>();
    auto ref = trigger ? root.initTriggerCheckpoint() : root.initCheckpointComplete();
    ref.setJobId("seeded");
    ref.setAttempt(1);
    ref.setCheckpointId(id);
    return Chunk(m);
  };
  auto cancel = [](bool abort) {
    capnp::MallocMessageBuilder m;
    auto c = m.initRoot<CM>().initCancelAttempt();
    c.setJobId("seeded");
    c.setAttempt(1);
    c.setAbort(abort);
    return Chunk(m);
  };
  auto query = [&](wire::AudienceQueryKind kind) {
    capnp::MallocMessageBuilder m;
    auto q = m.initRoot<CM>().initAudienceQuery();
    q.setRequestId(7);
    q.setJobId("seeded");
    q.setJobFile("job.yaml");
    q.setJobText(job);
    q.setKind(kind);
    q.setSegment("buyers");
    q.setUser("u1");
    q.setLimit(10);
    q.setHours(24);
    return Chunk(m);
  };
  Put("worker_session", "prepare-deploy-checkpoint",
      prepare + deploy + checkpoint(true, 1) + checkpoint(false, 1) + cancel(false));
  Put("worker_session", "prepare-cancel", prepare + cancel(true));
  Put("worker_session", "deploy-only", deploy + checkpoint(true, 2));
  // The keyed task and the sink here, the source on worker 2 (the harness): a peer's data
  // connection (bit 15 of the chunk header) brings the keyed task its records.
  auto data_chunk = [](capnp::MessageBuilder& m) {
    std::string chunk = Chunk(m);
    chunk[1] = static_cast<char>(chunk[1] | 0x80);
    return chunk;
  };
  std::string remote_source;
  for (bool deploy_it : {false, true}) {
    capnp::MallocMessageBuilder m;
    auto root = m.initRoot<CM>();
    auto s = deploy_it ? root.initDeploy().initSpec() : root.initPrepare().initSpec();
    spec(s);
    s.getPlacements()[0].setWorker(2);
    auto workers = s.initWorkers(2);
    for (unsigned i = 0; i < 2; ++i) {
      workers[i].setWorkerId(i + 1);
      workers[i].setHost("127.0.0.1");
      workers[i].setPort(1);
    }
    remote_source += Chunk(m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto hello = m.initRoot<wire::DataHello>();
    hello.setVersion(wire::PROTOCOL_VERSION);
    hello.setJobId("seeded");
    hello.setAttempt(1);
    hello.setTarget(wire::TaskKind::KEYED);
    hello.setTargetIndex(0);
    hello.setProducers(1);
    hello.setFromWorker(2);
    remote_source += data_chunk(m);
  }
  {
    KeyedBatch batch;
    batch.source = 0;
    for (int i = 0; i < 3; ++i) {
      batch.records.push_back(
          KeyedRecord{0, "user-" + std::to_string(i), static_cast<uint64_t>(i), SampleProjected(i)});
    }
    for (const KeyedInput& in : std::vector<KeyedInput>{
             batch, PartitionWatermark{0, 0, 1700000000000, false, 3}, SourceBarrier{0, 1},
             SourceEnd{0, 1700000000000, true, true, 1700000009999, true}}) {
      capnp::MallocMessageBuilder m;
      EncodeKeyedInput(in, m.initRoot<wire::DataFrame>());
      remote_source += data_chunk(m);
    }
  }
  remote_source += checkpoint(true, 1);
  Put("worker_session", "remote-source-data", remote_source);
  std::string queries;
  for (auto kind : capnp::Schema::from<wire::AudienceQueryKind>().getEnumerants()) {
    queries += query(static_cast<wire::AudienceQueryKind>(kind.getOrdinal()));
  }
  Put("worker_session", "audience-queries", queries);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seed_gen <corpus dir>\n");
    return 2;
  }
  out_dir = argv[1];
  LogSeeds();
  FrameSeeds();
  ZeroSizedListSeeds();
  CheckpointSeeds();
  UserStateSeeds();
  AuthSeeds();
  CoordinatorSeeds();
  WorkerSeeds();
  return 0;
}
