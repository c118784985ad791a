#include "bench/generator/scenario_generator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "bench/generator/daily_cycle.h"
#include "bench/generator/scenario_model.h"
#include "bench/generator/zipf_sampler.h"
#include "engine/value/time_format.h"

namespace segflow::gen {
namespace {

constexpr uint64_t kMaxUsers = 20'000'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kMaxJitterMs = 3'000;
constexpr int64_t kMinLateDelayMs = 10 * 60'000;
constexpr int64_t kMaxLateDelayMs = 6 * 3'600'000;
constexpr double kRfc3339Share = 0.05;
constexpr size_t kChunkBytes = 1 << 20;
// Head flattening of the Zipf law of user activity (see zipf_sampler.h).
constexpr double kUserZipfQ = 10.0;

// An event waiting for its arrival time; its line sits in a reusable slot.
struct Pending {
  int64_t arrival;
  uint64_t seq;  // generation order: ties keep it, so output is deterministic
  uint32_t slot;
};

struct LaterArrival {
  bool operator()(const Pending& a, const Pending& b) const {
    return a.arrival != b.arrival ? a.arrival > b.arrival : a.seq > b.seq;
  }
};

class ScenarioGenerator final : public EventOut {
 public:
  ScenarioGenerator(const GenOptions& options, const LineSink& sink)
      : opts_(options), sink_(sink), rng_(options.seed), zipf_(options.users, kUserZipfQ) {}

  Result<GenStats> Run();

  JsonLine& Begin(std::string_view type, int64_t ts) override;
  void Commit() override;
  bool more() const override { return generated_ < opts_.events; }
  int64_t end() const override {
    return opts_.start_ms + static_cast<int64_t>(opts_.days * static_cast<double>(kDayMs));
  }

 private:
  std::unique_ptr<ScenarioModel> NewModel() const;
  // A bijection rank -> user index, so the most active users are spread over the ids.
  void ChooseUserPermutation();
  uint64_t UserForRank(uint64_t rank) const;
  // Writes every pending event that arrives at or before `now`.
  void Drain(int64_t now);
  void Flush();
  void MakeMalformed(uint64_t kind, std::string* line) const;

  const GenOptions& opts_;
  const LineSink& sink_;
  Rng rng_;
  ZipfSampler zipf_;
  DailyCycle cycle_;
  uint64_t perm_mult_ = 1;
  uint64_t perm_add_ = 0;

  std::string user_;  // the current session's user id
  std::string type_;  // the current event, for malformed variants
  int64_t ts_ = 0;
  bool rfc_ = false;
  JsonLine line_;

  std::vector<Pending> pending_;    // a min-heap on (arrival, seq)
  std::vector<std::string> slots_;  // lines of pending events; strings keep their capacity
  std::vector<uint32_t> free_slots_;
  uint64_t generated_ = 0;
  std::string out_;
  Status status_;
  GenStats stats_;
};

std::unique_ptr<ScenarioModel> ScenarioGenerator::NewModel() const {
  switch (opts_.scenario) {
    case Scenario::kMedia:
      return NewMediaModel(opts_.users);
    case Scenario::kCart:
      return NewCartModel(opts_.users);
    case Scenario::kFintech:
      return NewFintechModel(opts_.users);
  }
  return nullptr;
}

void ScenarioGenerator::ChooseUserPermutation() {
  const uint64_t n = opts_.users;
  if (n <= 1) return;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const uint64_t m = rng_.NextU64() % n;
    if (m != 0 && std::gcd(m, n) == 1) {
      perm_mult_ = m;
      break;
    }
  }
  perm_add_ = rng_.UniformInt(n);
}

uint64_t ScenarioGenerator::UserForRank(uint64_t rank) const {
  const __uint128_t x = static_cast<__uint128_t>(rank) * perm_mult_ + perm_add_;
  return static_cast<uint64_t>(x % opts_.users);
}

JsonLine& ScenarioGenerator::Begin(std::string_view type, int64_t ts) {
  // A fixed number of draws per event, whatever the options: the fractions then change
  // only the events they touch.
  rfc_ = rng_.Bernoulli(kRfc3339Share);
  static constexpr int kOffsets[] = {0, 0, 0, 120, -300, 330};
  const int offset = kOffsets[rng_.UniformInt(std::size(kOffsets))];
  type_.assign(type);
  ts_ = ts;
  line_.Start(user_, type, ts, rfc_, offset);
  return line_;
}

void ScenarioGenerator::Commit() {
  line_.Finish();
  const int64_t jitter = rng_.UniformRange(0, kMaxJitterMs);
  const bool late = rng_.Bernoulli(opts_.late_fraction);
  const int64_t late_delay = rng_.UniformRange(kMinLateDelayMs, kMaxLateDelayMs);
  const bool malformed = rng_.Bernoulli(opts_.malformed_fraction);
  const uint64_t malformed_kind = rng_.UniformInt(5);

  std::string& text = line_.text();
  if (malformed) {
    MakeMalformed(malformed_kind, &text);
    ++stats_.malformed;
  } else if (rfc_) {
    ++stats_.rfc3339;
  }
  if (late) ++stats_.late;
  if (generated_ == 0) stats_.min_ts = stats_.max_ts = ts_;
  stats_.min_ts = std::min(stats_.min_ts, ts_);
  stats_.max_ts = std::max(stats_.max_ts, ts_);
  const int64_t arrival = ts_ + (late ? late_delay : jitter);
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  slots_[slot].swap(text);
  pending_.push_back(Pending{arrival, generated_, slot});
  std::push_heap(pending_.begin(), pending_.end(), LaterArrival());
  ++generated_;
}

void ScenarioGenerator::MakeMalformed(uint64_t kind, std::string* line) const {
  const std::string ts = std::to_string(ts_);
  switch (kind) {
    case 0:  // truncated mid-object
      line->resize(line->size() / 2);
      break;
    case 1: {  // no user field
      const size_t comma = line->find(',');
      line->erase(1, comma);
      break;
    }
    case 2:  // time as a float
      line->assign("{\"user_id\":\"").append(user_).append("\",\"event\":\"").append(type_);
      line->append("\",\"ts\":").append(ts).append(".5}");
      break;
    case 3:  // not an object
      line->assign("[\"").append(user_).append("\",\"").append(type_).append("\",");
      line->append(ts).append("]");
      break;
    default:  // trailing comma
      line->back() = ',';
      line->push_back('}');
      break;
  }
}

void ScenarioGenerator::Drain(int64_t now) {
  while (!pending_.empty() && pending_.front().arrival <= now) {
    std::pop_heap(pending_.begin(), pending_.end(), LaterArrival());
    const uint32_t slot = pending_.back().slot;
    pending_.pop_back();
    out_.append(slots_[slot]);
    out_.push_back('\n');
    free_slots_.push_back(slot);
    ++stats_.lines;
    if (out_.size() >= kChunkBytes) Flush();
  }
}

void ScenarioGenerator::Flush() {
  if (!out_.empty() && status_.ok()) status_ = sink_(out_);
  out_.clear();
}

Result<GenStats> ScenarioGenerator::Run() {
  std::unique_ptr<ScenarioModel> model = NewModel();
  ChooseUserPermutation();
  const double sessions =
      std::max(1.0, static_cast<double>(opts_.events) / model->MeanEventsPerSession());
  out_.reserve(kChunkBytes + 4096);
  // Each session writes at least one event, so this runs at most `events` times.
  for (uint64_t i = 0; more() && status_.ok(); ++i) {
    const double position = (static_cast<double>(i) + rng_.Uniform01()) / sessions * opts_.days;
    const int64_t now = cycle_.TimeAt(opts_.start_ms, position);
    Drain(now);
    const uint64_t user = UserForRank(zipf_.Sample(rng_));
    char id[24] = {'u'};
    const auto end = std::to_chars(id + 1, id + sizeof(id), user + 1).ptr;
    user_.assign(id, end);
    const uint64_t before = generated_;
    model->Session(user, now, rng_, *this);
    if (generated_ == before) return Status::Internal("generator: a session wrote no event");
  }
  Drain(std::numeric_limits<int64_t>::max());
  Flush();
  if (!status_.ok()) return status_;
  return stats_;
}

}  // namespace

Result<Scenario> ParseScenario(std::string_view name) {
  if (name == "media") return Scenario::kMedia;
  if (name == "cart") return Scenario::kCart;
  if (name == "fintech") return Scenario::kFintech;
  return Status::InvalidArgument("unknown scenario \"" + std::string(name) +
                                 "\": expected media, cart or fintech");
}

const char* ScenarioName(Scenario scenario) {
  switch (scenario) {
    case Scenario::kMedia:
      return "media";
    case Scenario::kCart:
      return "cart";
    case Scenario::kFintech:
      return "fintech";
  }
  return "?";
}

Status GenOptions::Validate() const {
  if (users < 1 || users > kMaxUsers) {
    return Status::InvalidArgument("--users must be between 1 and " + std::to_string(kMaxUsers));
  }
  if (!(days > 0 && days <= 3650)) {
    return Status::InvalidArgument("--days must be > 0 and <= 3650");
  }
  if (!(late_fraction >= 0 && late_fraction <= 1)) {
    return Status::InvalidArgument("--late-fraction must be between 0 and 1");
  }
  if (!(malformed_fraction >= 0 && malformed_fraction <= 1)) {
    return Status::InvalidArgument("--malformed-fraction must be between 0 and 1");
  }
  // Sessions may schedule events a few days past the end (late purchases, late arrivals).
  const double last = static_cast<double>(start_ms) + (days + 30) * static_cast<double>(kDayMs);
  if (start_ms < kMinTimeMillis || last > static_cast<double>(kMaxTimeMillis)) {
    return Status::InvalidArgument("--start and --days must stay within years 0000-9999");
  }
  return Status::OK();
}

Result<GenStats> GenerateScenario(const GenOptions& options, const LineSink& sink) {
  SEGFLOW_RETURN_IF_ERROR(options.Validate());
  ScenarioGenerator generator(options, sink);
  return generator.Run();
}

}  // namespace segflow::gen
