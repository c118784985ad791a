#include "random_events.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "engine/common/key_group.h"
#include "jobs/job_parser.h"

namespace segflow::reference {
namespace {

constexpr int kMaxDepth = 2;

// Writes one job's YAML from a small grammar. Event types: view, cart, buy (properties
// n: number, cat: string, flag: bool), plus identify (profile) and consent.
class JobWriter {
 public:
  JobWriter(Family family, Rng* rng, RandomJob* out) : family_(family), rng_(*rng), out_(*out) {}

  void Write() {
    out_.max_out_of_orderness_ms = rng_.Pick<int64_t>({0, 0, 1, 2, 3, 5, 8});
    out_.has_profile = family_ == Family::kProfile || rng_.Chance(15);
    out_.has_consent = family_ == Family::kConsent || rng_.Chance(10);
    std::string& y = out_.yaml;
    y = "job: property\nlog: log\nsource:\n  topics: [events]\n";
    y += "  max_out_of_orderness: " + std::to_string(out_.max_out_of_orderness_ms) + "ms\n";
    if (out_.has_profile) y += "profile:\n  event: identify\n";
    if (out_.has_consent) {
      y += "consent:\n  event: consent\n  field: granted\n  default: ";
      y += rng_.Chance(50) ? "granted\n" : "denied\n";
    }
    const int segments =
        static_cast<int>(family_ == Family::kSegmentRefs ? rng_.Between(2, 4) : rng_.Between(1, 3));
    // Segment i may reference j when rank[j] < rank[i]: a DAG whose dependency order
    // differs from file order.
    for (int s = 0; s < segments; ++s) rank_.push_back(s);
    rng_.Shuffle(&rank_);
    y += "segments:\n";
    for (int s = 0; s < segments; ++s) {
      y += "  - id: s" + std::to_string(s) + "\n";
      y += "    when: " + Cond(0, s) + "\n";
      const int membership_chance = family_ == Family::kMembership ? 100 : 30;
      if (rng_.Chance(membership_chance)) y += "    membership: " + MembershipRules() + "\n";
    }
  }

 private:
  // A duration in [lo, hi] ms, remembered as a boundary for the event generator.
  std::string Duration(int64_t lo, int64_t hi) {
    int64_t d = rng_.Between(lo, hi);
    out_.durations_ms.push_back(d);
    return std::to_string(d) + "ms";
  }

  // `where: {...}` with one or two predicates on distinct properties.
  std::string Where() {
    static const std::vector<std::pair<std::string, std::string>> kPreds = {
        {"n", "{gte: 2}"},       {"n", "1"},
        {"n", "{lt: 3}"},        {"n", "{in: [1, 3]}"},
        {"n", "{exists: true}"}, {"n", "{exists: false}"},
        {"n", "{ne: 2}"},        {"n", "{gt: 0.5, lte: 3}"},
        {"cat", "\"a\""},       {"cat", "{in: [\"a\", \"b\"]}"},
        {"cat", "{not_in: [\"a\"]}"}, {"cat", "{prefix: \"b\"}"},
        {"flag", "true"},        {"flag", "{ne: false}"},
    };
    const auto first = rng_.Pick(kPreds);
    std::string w = "where: {" + first.first + ": " + first.second;
    const auto second = rng_.Pick(kPreds);
    if (rng_.Chance(20) && second.first != first.first) {
      w += ", " + second.first + ": " + second.second;
    }
    return w + "}";
  }

  // The inline MATCH fields: `event: ...[, where: {...}]`.
  std::string MatchFields() {
    static const std::vector<std::string> kEvents = {
        "view", "view", "cart", "buy", "[view, cart]", "[cart, buy]", "\"*\"", "identify"};
    std::string m = "event: " + rng_.Pick(kEvents);
    if (rng_.Chance(30)) m += ", " + Where();
    return m;
  }

  std::string Match() { return "{" + MatchFields() + "}"; }

  std::string OptionalWindow() {
    if (rng_.Chance(25)) return "";
    return ", window: " + Duration(1, 12);
  }

  std::string Bound(double lo_halves, double hi_halves) {
    double v = static_cast<double>(rng_.Between(static_cast<int64_t>(lo_halves),
                                                static_cast<int64_t>(hi_halves))) /
               2.0;
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
    return s;
  }

  std::string CountLeaf() {
    const std::string w = OptionalWindow();
    switch (rng_.Between(0, 6)) {
      case 0: {
        std::string bound;
        switch (rng_.Between(0, 2)) {
          case 0: bound = "at_least: " + std::to_string(rng_.Between(1, 3)); break;
          case 1: bound = "at_most: " + std::to_string(rng_.Between(0, 2)); break;
          default: {
            int64_t lo = rng_.Between(0, 2);
            bound = "between: [" + std::to_string(lo) + ", " +
                    std::to_string(lo + rng_.Between(0, 2)) + "]";
          }
        }
        return "{count: {" + MatchFields() + w + ", " + bound + "}}";
      }
      case 1:
      case 2:
      case 3:
      case 4: {
        static const std::vector<std::string> kAggs = {"sum", "avg", "min", "max"};
        static const std::vector<std::string> kOps = {"gt", "gte", "lt", "lte", "eq"};
        const std::string agg = rng_.Pick(kAggs);
        std::string bounds = rng_.Pick(kOps) + ": " + Bound(0, 12);
        if (rng_.Chance(25)) {
          std::string op2 = rng_.Pick(kOps);
          if (bounds.rfind(op2 + ":", 0) != 0) bounds += ", " + op2 + ": " + Bound(0, 16);
        }
        return "{" + agg + ": {" + MatchFields() + ", field: n" + w + ", " + bounds + "}}";
      }
      default: {
        std::string bound = rng_.Chance(60) ? "at_least: " + std::to_string(rng_.Between(1, 3))
                                            : "at_most: " + std::to_string(rng_.Between(0, 2));
        const std::string field = rng_.Chance(60) ? "cat" : "n";
        return "{distinct: {" + MatchFields() + ", field: " + field + w + ", " + bound + "}}";
      }
    }
  }

  std::string AbsenceLeaf() {
    return "{absence: {after: " + Match() + ", missing: " + Match() +
           ", within: " + Duration(0, 12) + "}}";
  }

  std::string SequenceLeaf() {
    std::string steps;
    const int64_t k = rng_.Between(1, 3);
    for (int64_t i = 0; i < k; ++i) steps += (i ? ", " : "") + Match();
    std::string s = "{sequence: {steps: [" + steps + "], within: " + Duration(0, 15);
    if (rng_.Chance(50)) s += ", window: " + Duration(1, 15);
    return s + "}}";
  }

  std::string ProfileLeaf() {
    static const std::vector<std::pair<std::string, std::string>> kAttrs = {
        {"tier", "\"gold\""},        {"tier", "{in: [\"gold\", \"silver\"]}"},
        {"tier", "{exists: false}"}, {"tier", "{ne: \"bronze\"}"},
        {"age", "{gte: 20}"},        {"age", "{lt: 30, gt: 10}"},
        {"age", "25"},               {"geo.country", "\"fr\""},
        {"geo", "{exists: true}"},   {"vip", "true"},
    };
    const auto first = rng_.Pick(kAttrs);
    std::string p = "{profile: {" + first.first + ": " + first.second;
    const auto second = rng_.Pick(kAttrs);
    if (rng_.Chance(30) && second.first != first.first) {
      p += ", " + second.first + ": " + second.second;
    }
    return p + "}}";
  }

  std::string Leaf(int segment) {
    switch (family_) {
      case Family::kAbsence:
        if (rng_.Chance(70)) return AbsenceLeaf();
        break;
      case Family::kSequence:
        if (rng_.Chance(70)) return SequenceLeaf();
        break;
      case Family::kProfile:
        if (rng_.Chance(60)) return ProfileLeaf();
        break;
      case Family::kSegmentRefs:
        if (rng_.Chance(50)) {
          std::vector<int> below;
          for (size_t j = 0; j < rank_.size(); ++j) {
            if (rank_[j] < rank_[segment]) below.push_back(static_cast<int>(j));
          }
          if (!below.empty()) return "{segment: s" + std::to_string(rng_.Pick(below)) + "}";
        }
        break;
      default: break;
    }
    return CountLeaf();
  }

  std::string Cond(int depth, int segment) {
    if (depth < kMaxDepth && rng_.Chance(depth == 0 ? 45 : 25)) {
      switch (rng_.Between(0, 2)) {
        case 0:
        case 1: {
          std::string children;
          const int64_t n = rng_.Between(1, 3);
          for (int64_t i = 0; i < n; ++i) children += (i ? ", " : "") + Cond(depth + 1, segment);
          return std::string("{") + (rng_.Chance(50) ? "all" : "any") + ": [" + children + "]}";
        }
        default: return "{not: " + Cond(depth + 1, segment) + "}";
      }
    }
    return Leaf(segment);
  }

  std::string MembershipRules() {
    std::vector<std::string> keys;
    if (rng_.Chance(55)) keys.push_back("duration: " + Duration(0, 15));
    if (rng_.Chance(45)) keys.push_back("exit_on: " + Match());
    if (rng_.Chance(45)) keys.push_back("cooldown: " + Duration(0, 15));
    if (keys.empty()) keys.push_back("duration: " + Duration(1, 15));
    std::string m = "{";
    for (size_t i = 0; i < keys.size(); ++i) m += (i ? ", " : "") + keys[i];
    return m + "}";
  }

  Family family_;
  Rng& rng_;
  RandomJob& out_;
  std::vector<int> rank_;
};

Value RandomNumber(Rng& rng) {
  if (rng.Chance(12)) return Value::Double(static_cast<double>(rng.Between(0, 8)) / 2.0);
  return Value::Int(rng.Between(0, 4));
}

Value ActionProps(Rng& rng) {
  ValueObject props;
  const int64_t n_kind = rng.Between(0, 99);
  if (n_kind < 75) {
    props.emplace_back("n", RandomNumber(rng));
  } else if (n_kind < 82) {
    props.emplace_back("n", Value::String(std::to_string(rng.Between(0, 3))));
  } else if (n_kind < 85) {
    props.emplace_back("n", Value::Null());
  }
  // `cat` mixes 1, 1.0 and "1" (one distinct value and another, §9), arrays (ignored).
  const int64_t cat_kind = rng.Between(0, 99);
  if (cat_kind < 60) {
    props.emplace_back("cat", Value::String(rng.Pick<std::string>({"a", "b", "c", "ba"})));
  } else if (cat_kind < 70) {
    props.emplace_back("cat", Value::Int(1));
  } else if (cat_kind < 80) {
    props.emplace_back("cat", Value::Double(1.0));
  } else if (cat_kind < 85) {
    props.emplace_back("cat", Value::String("1"));
  } else if (cat_kind < 89) {
    props.emplace_back("cat", Value::Array({Value::String("a")}));
  }
  if (rng.Chance(50)) props.emplace_back("flag", Value::Bool(rng.Chance(50)));
  return Value::Object(std::move(props));
}

Value ProfileProps(Rng& rng) {
  ValueObject props;
  if (rng.Chance(60)) {
    props.emplace_back("tier", Value::String(rng.Pick<std::string>({"gold", "silver", "bronze"})));
  }
  if (rng.Chance(50)) props.emplace_back("age", Value::Int(rng.Between(2, 7) * 5));
  if (rng.Chance(30)) {
    ValueObject geo;
    if (rng.Chance(80)) geo.emplace_back("country", Value::String(rng.Pick<std::string>({"fr", "de"})));
    props.emplace_back("geo", Value::Object(std::move(geo)));
  }
  if (rng.Chance(20)) props.emplace_back("vip", Value::Bool(rng.Chance(50)));
  if (props.empty() || props.front().first != "tier") {
    if (rng.Chance(10)) props.emplace_back("tier", Value::Null());
  }
  return Value::Object(std::move(props));
}

Value ConsentProps(Rng& rng) {
  ValueObject props;
  const int64_t kind = rng.Between(0, 99);
  if (kind < 86) {
    props.emplace_back("granted", Value::Bool(rng.Chance(50)));
  } else if (kind < 93) {
    props.emplace_back("granted", Value::String("yes"));
  }  // else: the field is missing
  return Value::Object(std::move(props));
}

// Puts records with equal ts back into their order in `original` (by position), so
// profile and consent ties keep their outcome; the set of ts at each position, hence
// every record's lateness, is unchanged.
void KeepTieOrder(std::vector<LogRecord>* order) {
  std::map<int64_t, std::vector<size_t>> positions;
  std::map<int64_t, std::vector<LogRecord>> records;
  for (size_t i = 0; i < order->size(); ++i) positions[(*order)[i].event.ts].push_back(i);
  for (const LogRecord& r : *order) records[r.event.ts].push_back(r);
  for (auto& [ts, list] : records) {
    std::sort(list.begin(), list.end(),
              [](const LogRecord& a, const LogRecord& b) { return a.offset < b.offset; });
    const std::vector<size_t>& pos = positions[ts];
    for (size_t i = 0; i < list.size(); ++i) (*order)[pos[i]] = list[i];
  }
}

// Sorts by ts + jitter, jitter in [0, ooo]: every record stays on time (anything before
// it has ts <= its own ts + ooo).
void JitterSort(std::vector<LogRecord>* records, int64_t ooo, Rng& rng) {
  std::vector<std::tuple<int64_t, int64_t, size_t>> keys;
  for (size_t i = 0; i < records->size(); ++i) {
    keys.emplace_back((*records)[i].event.ts + rng.Between(0, ooo), rng.Between(0, 1 << 20), i);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<LogRecord> sorted;
  for (const auto& k : keys) sorted.push_back(std::move((*records)[std::get<2>(k)]));
  *records = std::move(sorted);
}

std::vector<LogRecord> Interleave(std::vector<std::vector<LogRecord>> partitions, Rng& rng) {
  std::vector<LogRecord> out;
  std::vector<size_t> next(partitions.size(), 0);
  size_t total = 0;
  for (const auto& p : partitions) total += p.size();
  while (out.size() < total) {
    std::vector<size_t> open;
    for (size_t p = 0; p < partitions.size(); ++p) {
      if (next[p] < partitions[p].size()) open.push_back(p);
    }
    const size_t p = rng.Pick(open);
    out.push_back(std::move(partitions[p][next[p]++]));
  }
  return out;
}

}  // namespace

const char* FamilyName(Family family) {
  switch (family) {
    case Family::kCounts: return "counts";
    case Family::kMembership: return "membership";
    case Family::kConsent: return "consent";
    case Family::kProfile: return "profile";
    case Family::kAbsence: return "absence";
    case Family::kSequence: return "sequence";
    case Family::kSegmentRefs: return "segment_refs";
  }
  return "?";
}

RandomJob GenerateJob(Family family, Rng* rng) {
  RandomJob job;
  JobWriter(family, rng, &job).Write();
  return job;
}

std::vector<Event> GenerateEvents(const RandomJob& job, Rng* rng) {
  Rng& r = *rng;
  std::vector<Event> events;
  const int64_t users = r.Between(5, 30);
  for (int64_t u = 0; u < users; ++u) {
    const std::string user = "u" + std::to_string(u);
    const int64_t count = r.Between(1, 10);
    int64_t ts = r.Between(0, 20);
    for (int64_t i = 0; i < count; ++i) {
      Event e;
      e.user = user;
      e.ts = ts;
      const int64_t kind = r.Between(0, 99);
      const int profile_pct = job.has_profile ? 18 : 3;
      const int consent_pct = job.has_consent ? 18 : 3;
      if (kind < profile_pct) {
        e.type = "identify";
        e.props = ProfileProps(r);
      } else if (kind < profile_pct + consent_pct) {
        e.type = "consent";
        e.props = ConsentProps(r);
      } else {
        e.type = r.Pick<std::string>({"view", "view", "cart", "buy"});
        e.props = ActionProps(r);
      }
      // Profile and consent events come in same-ts pairs often: ties go by log offset.
      const bool tie_prone = e.type == "identify" || e.type == "consent";
      events.push_back(std::move(e));
      if (tie_prone && r.Chance(35)) {
        Event twin = events.back();
        twin.props = twin.type == "identify" ? ProfileProps(r) : ConsentProps(r);
        events.push_back(std::move(twin));
      }
      // Next gap: a tie, a gap right at one of the job's durations (give or take 1), or
      // something small.
      const int64_t gap_kind = r.Between(0, 99);
      if (gap_kind < 20) {
        continue;
      } else if (gap_kind < 60 && !job.durations_ms.empty()) {
        ts += std::max<int64_t>(0, r.Pick(job.durations_ms) + r.Between(-1, 1));
      } else {
        ts += r.Between(1, 8);
      }
    }
  }
  return events;
}

std::vector<LogRecord> ArrivalOrder(const std::vector<Event>& events, uint32_t partitions,
                                    int64_t ooo, int late_percent, Rng* rng) {
  Rng& r = *rng;
  // Work on indices into `events`; records are built once the order is final.
  std::vector<std::vector<size_t>> order(partitions);
  for (size_t i = 0; i < events.size(); ++i) {
    order[PartitionFor(HashUser(events[i].user), partitions)].push_back(i);
  }
  std::vector<std::vector<LogRecord>> parts(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    std::vector<size_t>& list = order[p];
    std::vector<std::tuple<int64_t, int64_t, size_t>> keys;
    for (size_t i : list) keys.emplace_back(events[i].ts + r.Between(0, ooo), r.Between(0, 1 << 20), i);
    std::sort(keys.begin(), keys.end());  // ts + jitter: everything on time
    for (size_t k = 0; k < keys.size(); ++k) list[k] = std::get<2>(keys[k]);
    // Delay a few records past the point where they become late.
    for (size_t i = 0; i < list.size(); ++i) {
      if (!r.Chance(late_percent)) continue;
      const size_t moved = list[i];
      std::vector<size_t> rest = list;
      rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i));
      std::vector<size_t> late_slots;  // insert before rest[k] (k == size: at the end)
      int64_t max_before = INT64_MIN;
      for (size_t k = 1; k <= rest.size(); ++k) {
        max_before = std::max(max_before, events[rest[k - 1]].ts);
        if (events[moved].ts < max_before - ooo) late_slots.push_back(k);
      }
      if (late_slots.empty()) continue;
      rest.insert(rest.begin() + static_cast<std::ptrdiff_t>(r.Pick(late_slots)), moved);
      list = std::move(rest);
    }
    for (size_t k = 0; k < list.size(); ++k) parts[p].push_back({p, k, events[list[k]]});
  }
  return Interleave(std::move(parts), r);
}

std::vector<LogRecord> Rearrange(const std::vector<LogRecord>& arrival,
                                 const ReferenceEvaluator& reference, int64_t ooo, Rng* rng) {
  uint32_t partitions = 0;
  for (const LogRecord& rec : arrival) partitions = std::max(partitions, rec.partition + 1);
  std::vector<std::vector<LogRecord>> parts(partitions);
  for (const LogRecord& rec : arrival) {
    if (!reference.IsLate(rec.partition, rec.offset)) parts[rec.partition].push_back(rec);
  }
  for (auto& list : parts) {
    JitterSort(&list, ooo, *rng);
    KeepTieOrder(&list);
    for (size_t i = 0; i < list.size(); ++i) list[i].offset = i;
  }
  return Interleave(std::move(parts), *rng);
}

std::string RecordJson(const LogRecord& record) {
  std::string out = "{\"partition\":" + std::to_string(record.partition) +
                    ",\"offset\":" + std::to_string(record.offset) + ",\"user_id\":";
  AppendJsonString(record.event.user, &out);
  out += ",\"event\":";
  AppendJsonString(record.event.type, &out);
  out += ",\"ts\":" + std::to_string(record.event.ts);
  for (const auto& [name, value] : record.event.props.as_object()) {
    out += ",";
    AppendJsonString(name, &out);
    out += ":";
    value.AppendJson(&out);
  }
  return out + "}";
}

std::string RandomCase::Describe() const {
  std::string out = "family " + std::string(FamilyName(family)) + ", seed " +
                    std::to_string(seed) + " (reproduce: SEGFLOW_PROPERTY_SEED=" +
                    std::to_string(seed) + "), partitions " + std::to_string(partitions) +
                    ", until " + std::to_string(until) + "\n--- job\n" + job_text.yaml +
                    "--- records in arrival order\n";
  for (const LogRecord& r : arrival) out += RecordJson(r) + "\n";
  return out;
}

Result<RandomCase> MakeRandomCase(Family family, uint64_t seed) {
  Rng rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(family) + 1);
  RandomCase c;
  c.family = family;
  c.seed = seed;
  c.job_text = GenerateJob(family, &rng);
  JobParseResult parsed =
      ParseJobText(c.job_text.yaml, "/tmp/segflow-property/" + std::string(FamilyName(family)) +
                                        ".yaml");
  if (!parsed.ok()) {
    return Status::InvalidArgument("generated job does not parse:\n" + parsed.ErrorText() +
                                   "\n" + c.job_text.yaml);
  }
  c.job = std::move(parsed.job);
  std::vector<Event> events = GenerateEvents(c.job_text, &rng);
  c.partitions = static_cast<uint32_t>(rng.Between(1, 4));
  c.arrival = ArrivalOrder(events, c.partitions, c.job_text.max_out_of_orderness_ms, 5, &rng);
  int64_t max_ts = 0;
  for (const Event& e : events) max_ts = std::max(max_ts, e.ts);
  int64_t longest = 1;
  for (int64_t d : c.job_text.durations_ms) longest = std::max(longest, d);
  c.until = max_ts + rng.Between(0, 2 * longest + 2);
  return c;
}

}  // namespace segflow::reference
