// Seeded random segment jobs and event logs for the property tests.
//
// A case is a job (YAML text from a small grammar, parsed by ParseJobText), a small event
// set (few users, few event types, small integer timestamps with many ties and with gaps
// equal to the job's windows, durations and cooldowns, give or take one), and a log
// arrival order: shuffled within max_out_of_orderness per partition, plus a few records
// delayed on purpose so that they are late. Deterministic per seed on every platform
// (own integer distributions over std::mt19937_64).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/common/status.h"
#include "jobs/job_spec.h"
#include "reference_evaluator.h"

namespace segflow::reference {

// The condition families, one property test each.
enum class Family { kCounts, kMembership, kConsent, kProfile, kAbsence, kSequence, kSegmentRefs };
const char* FamilyName(Family family);

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform in [lo, hi] (inclusive).
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(engine_() % static_cast<uint64_t>(hi - lo + 1));
  }
  // True with probability percent / 100.
  bool Chance(int percent) { return Between(0, 99) < percent; }
  template <typename T>
  T Pick(const std::vector<T>& items) {
    return items[static_cast<size_t>(Between(0, static_cast<int64_t>(items.size()) - 1))];
  }
  template <typename T>
  void Shuffle(std::vector<T>* items) {  // Fisher-Yates
    for (size_t i = items->size(); i > 1; --i) {
      std::swap((*items)[i - 1],
                (*items)[static_cast<size_t>(Between(0, static_cast<int64_t>(i) - 1))]);
    }
  }

 private:
  std::mt19937_64 engine_;
};

// A generated job: its YAML text and the durations it uses (windows, withins,
// durations, cooldowns), which the event generator aims timestamps at.
struct RandomJob {
  std::string yaml;
  std::vector<int64_t> durations_ms;
  int64_t max_out_of_orderness_ms = 0;
  bool has_profile = false;
  bool has_consent = false;
};

RandomJob GenerateJob(Family family, Rng* rng);

// Events of 5–30 users (sorted by user, then ts), for the vocabulary of GenerateJob.
std::vector<Event> GenerateEvents(const RandomJob& job, Rng* rng);

// Log records in arrival order: users partitioned by PartitionFor(HashUser(user), P),
// each partition's records shuffled within max_out_of_orderness, a few delayed past it
// (late), then the partitions interleaved at random. Offsets are dense per partition.
std::vector<LogRecord> ArrivalOrder(const std::vector<Event>& events, uint32_t partitions,
                                    int64_t max_out_of_orderness_ms, int late_percent, Rng* rng);

// Another arrival order of the on-time records of `arrival` (late ones dropped): every
// record stays on time and records with equal (partition, ts) keep their relative order,
// so profile and consent ties resolve as before. Offsets are reassigned.
std::vector<LogRecord> Rearrange(const std::vector<LogRecord>& arrival,
                                 const ReferenceEvaluator& reference,
                                 int64_t max_out_of_orderness_ms, Rng* rng);

// One complete random case.
struct RandomCase {
  Family family = Family::kCounts;
  uint64_t seed = 0;
  RandomJob job_text;
  JobSpec job;
  uint32_t partitions = 1;
  std::vector<LogRecord> arrival;
  int64_t until = 0;

  // Everything needed to reproduce: seed, YAML, events in arrival order.
  std::string Describe() const;
};

// Fails (InvalidArgument with the parser's errors) if the generated YAML does not parse.
Result<RandomCase> MakeRandomCase(Family family, uint64_t seed);

// JSON text of one record, for failure reports.
std::string RecordJson(const LogRecord& record);

}  // namespace segflow::reference
