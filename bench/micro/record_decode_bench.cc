// Record decode, the two ways an event enters the engine: a JSON line into an Event
// (`produce`: simdjson, strict spec §1 parsing) and a log record into an Event (every
// replay: Cap'n Proto reader to Value), then Event -> ProjectedEvent (the source task's
// SegmentProgram::Project for jobs/cart.yaml), and the replay's projected decode (only the
// props that program reads). Items are events; bytes are input bytes.
#include <benchmark/benchmark.h>
#include <capnp/message.h>
#include <simdjson.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/micro/bench_support.h"
#include "engine/log/record_codec.h"

namespace segflow::microbench {
namespace {

constexpr uint64_t kEvents = 20000;

const std::vector<std::string>& CartLines() {
  static const auto* lines =
      new std::vector<std::string>(ScenarioLines(gen::Scenario::kCart, 5000, kEvents));
  return *lines;
}

const std::vector<Event>& CartEvents() {
  static const auto* events =
      new std::vector<Event>(ScenarioEvents(gen::Scenario::kCart, 5000, kEvents));
  return *events;
}

void BM_DecodeJsonLine(benchmark::State& state) {
  const auto& lines = CartLines();
  JsonEventDecoder decoder{RoleFields{}};
  Event e;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const std::string& line = lines[i];
    if (++i == lines.size()) i = 0;
    if (!decoder.Decode(line, &e).ok()) {
      state.SkipWithError("a generated line does not decode");
      return;
    }
    benchmark::DoNotOptimize(e.ts);
    bytes += static_cast<int64_t>(line.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
  // Which simdjson kernel runs (the fallback one is several times slower).
  state.SetLabel(std::string("simdjson ") + simdjson::get_active_implementation()->name());
}
BENCHMARK(BM_DecodeJsonLine);

// One Cap'n Proto message per event, as in a log batch (the batch adds a list around them).
struct EncodedRecords {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> messages;
  int64_t bytes = 0;
};

EncodedRecords* Encode(const std::vector<Event>& events) {
  auto* r = new EncodedRecords();
  for (const Event& e : events) {
    auto m = std::make_unique<capnp::MallocMessageBuilder>();
    log::EncodeRecord(e, m->initRoot<schema::Record>());
    r->bytes += static_cast<int64_t>(m->sizeInWords() * sizeof(capnp::word));
    r->messages.push_back(std::move(m));
  }
  return r;
}

// Scenario 0: cart (short field names); 1: fintech (names such as "merchant_category",
// past std::string's 15 inline characters, so each is a heap copy when decoded).
const EncodedRecords& ScenarioRecords(int64_t scenario) {
  static const EncodedRecords* cart = Encode(CartEvents());
  static const EncodedRecords* fintech =
      Encode(ScenarioEvents(gen::Scenario::kFintech, 5000, kEvents));
  return scenario == 0 ? *cart : *fintech;
}

void BM_DecodeLogRecord(benchmark::State& state) {
  const auto& records = ScenarioRecords(state.range(0));
  std::vector<schema::Record::Reader> readers;
  for (const auto& m : records.messages) readers.push_back(m->getRoot<schema::Record>().asReader());
  Event e;
  size_t i = 0;
  for (auto _ : state) {
    if (!log::DecodeRecord(readers[i], &e).ok()) {
      state.SkipWithError("a record does not decode");
      return;
    }
    if (++i == readers.size()) i = 0;
    benchmark::DoNotOptimize(e.ts);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(records.bytes / static_cast<int64_t>(readers.size()) *
                          state.iterations());
}
BENCHMARK(BM_DecodeLogRecord)->ArgName("fintech")->Arg(0)->Arg(1);

constexpr const char* kCartSegments = R"(
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase}}
  - id: big_cart
    when: {sum: {event: add_to_cart, field: price, window: 1h, gte: 150}}
    membership: {cooldown: 1d}
  - id: repeat_buyer
    when: {count: {event: purchase, window: 30d, at_least: 2}}
)";
constexpr const char* kCartConsent =
    "consent: {event: consent, field: granted, default: granted}\n";

void BM_ProjectCartEvent(benchmark::State& state) {
  const auto& events = CartEvents();
  const auto program = CompileBenchJob(ParseBenchJob(kCartSegments, kCartConsent));
  size_t i = 0;
  for (auto _ : state) {
    ProjectedEvent pe;
    program->Project(events[i], i, &pe);
    if (++i == events.size()) i = 0;
    benchmark::DoNotOptimize(pe.match_bits);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProjectCartEvent);

// A log record into an Event with only the props jobs/cart.yaml's program reads (what a
// replay's source decodes, log::DecodeRecordProjected), into one reused Event.
void BM_DecodeLogRecordProjected(benchmark::State& state) {
  const auto& records = ScenarioRecords(0);
  const auto program = CompileBenchJob(ParseBenchJob(kCartSegments, kCartConsent));
  const auto needed = program->PropsNeeded();
  std::vector<schema::Record::Reader> readers;
  for (const auto& m : records.messages) readers.push_back(m->getRoot<schema::Record>().asReader());
  Event e;
  size_t i = 0;
  for (auto _ : state) {
    if (!log::DecodeRecordProjected(readers[i], *needed, &e).ok()) {
      state.SkipWithError("a record does not decode");
      return;
    }
    if (++i == readers.size()) i = 0;
    benchmark::DoNotOptimize(e.ts);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeLogRecordProjected);

}  // namespace
}  // namespace segflow::microbench
