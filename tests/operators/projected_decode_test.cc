// The source decodes only the props the program reads (log::DecodeRecordProjected with
// SegmentProgram::PropsNeeded): on seeded random jobs and records, the projection of that
// partial event equals the projection of the whole event, field by field.
#include <capnp/message.h>
#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

#include "engine/log/record_codec.h"
#include "jobs/job_parser.h"
#include "operators/segment/program.h"
#include "random_events.h"

namespace segflow::reference {
namespace {

constexpr int kSeedsPerFamily = 120;
constexpr int kPathJobs = 300;

Value RandomValue(Rng& rng, const std::vector<std::string>& names, int depth);

// An object of 0-4 fields named from `names` (duplicates possible).
Value RandomObject(Rng& rng, const std::vector<std::string>& names, int depth) {
  ValueObject fields;
  const int64_t n = rng.Between(0, 4);
  for (int64_t i = 0; i < n; ++i)
    fields.emplace_back(rng.Pick(names), RandomValue(rng, names, depth));
  return Value::Object(std::move(fields));
}

// Any kind of value, nested up to `depth` levels.
Value RandomValue(Rng& rng, const std::vector<std::string>& names, int depth) {
  switch (rng.Between(0, depth > 0 ? 8 : 5)) {
    case 0:
      return Value::Null();
    case 1:
      return Value::Bool(rng.Chance(50));
    case 2:
      return Value::Int(rng.Between(-3, 5));
    case 3:
      return Value::Double(static_cast<double>(rng.Between(-4, 10)) / 2.0);
    case 4:
      return Value::String(
          rng.Pick<std::string>({"a", "b", "ba", "1", "gold", "fr", "", std::string(40, 'z')}));
    case 5:
      return Value::Int(rng.Between(0, 2));
    case 6: {
      ValueArray items;
      const int64_t n = rng.Between(0, 3);
      for (int64_t i = 0; i < n; ++i) items.push_back(RandomValue(rng, names, depth - 1));
      return Value::Array(std::move(items));
    }
    default:
      return RandomObject(rng, names, depth - 1);
  }
}

// `props` with random changes: fields added before or after (shadowing or shadowed
// duplicates), values replaced by values of another type or nesting.
Value AddNoise(Value props, Rng& rng, const std::vector<std::string>& names) {
  ValueObject& fields = props.mutable_object();
  if (rng.Chance(30) && !fields.empty()) {
    fields[static_cast<size_t>(rng.Between(0, static_cast<int64_t>(fields.size()) - 1))].second =
        RandomValue(rng, names, 3);
  }
  const int64_t extra = rng.Between(0, 3);
  for (int64_t i = 0; i < extra; ++i) {
    auto field = std::make_pair(rng.Pick(names), RandomValue(rng, names, 3));
    if (rng.Chance(30)) {
      fields.insert(fields.begin(), std::move(field));
    } else {
      fields.push_back(std::move(field));
    }
  }
  return props;
}

std::string Describe(const ProjectedEvent& e) {
  std::string s = "ts " + std::to_string(e.ts) + " seq " + std::to_string(e.seq) + " bits";
  for (uint64_t w : e.match_bits) s += " " + std::to_string(w);
  s += " fields";
  for (const FieldValue& f : e.fields) {
    s += " [" + std::to_string(static_cast<int>(f.kind)) + " " +
         std::to_string(std::bit_cast<uint64_t>(f.number)) + " " + f.key + "]";
  }
  s += " profile " + std::to_string(e.is_profile) + " " +
       std::to_string(static_cast<int>(e.profile_update.kind())) + " " + e.profile_update.ToJson() +
       " consent " + std::to_string(e.consent);
  return s;
}

// Projects `e` decoded whole and decoded partially (into `reused`, as a reader reuses its
// records); returns false after an ADD_FAILURE when they differ.
bool ProjectsTheSame(const SegmentProgram& program, const Event& e, uint64_t seq, Event* reused,
                     const std::string& context) {
  capnp::MallocMessageBuilder message;
  auto builder = message.initRoot<schema::Record>();
  log::EncodeRecord(e, builder);
  auto reader = builder.asReader();
  Event whole;
  EXPECT_TRUE(log::DecodeRecord(reader, &whole).ok());
  EXPECT_TRUE(log::DecodeRecordProjected(reader, *program.PropsNeeded(), reused).ok());
  ProjectedEvent expected;
  ProjectedEvent actual;
  program.Project(whole, seq, &expected);
  program.Project(*reused, seq, &actual);
  if (Describe(expected) == Describe(actual)) return true;
  ADD_FAILURE() << context << "\nrecord: " << e.type << " " << e.props.ToJson()
                << "\nkept: " << reused->props.ToJson()
                << "\nwhole projects to:   " << Describe(expected)
                << "\npartial projects to: " << Describe(actual);
  return false;
}

TEST(ProjectedDecodeTest, EqualsTheWholeDecodeOnThePropertyHarnessCases) {
  const std::vector<std::string> names = {"n",   "cat",     "flag", "tier",    "age",
                                          "geo", "country", "vip",  "granted", "x"};
  const Family families[] = {Family::kCounts,     Family::kMembership, Family::kConsent,
                             Family::kProfile,    Family::kAbsence,    Family::kSequence,
                             Family::kSegmentRefs};
  size_t checked = 0;
  for (Family family : families) {
    for (uint64_t seed = 0; seed < kSeedsPerFamily; ++seed) {
      auto c = MakeRandomCase(family, seed);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      auto program = SegmentProgram::Compile(c->job);
      if (!program.ok()) continue;  // a family this build refuses: nothing is projected
      Rng rng(seed * 7919 + static_cast<uint64_t>(family));
      Event reused;
      for (const LogRecord& r : c->arrival) {
        Event e = r.event;
        if (rng.Chance(60)) e.props = AddNoise(std::move(e.props), rng, names);
        ++checked;
        if (!ProjectsTheSame(**program, e, r.offset, &reused,
                             std::string(FamilyName(family)) + " seed " + std::to_string(seed) +
                                 "\n" + c->job_text.yaml)) {
          return;
        }
      }
    }
  }
  EXPECT_GT(checked, 10000u);
}

TEST(ProjectedDecodeTest, EqualsTheWholeDecodeOnRandomDottedPaths) {
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  const std::vector<std::string> paths = {"a", "b",     "a.b", "a.b.c", "b.a",
                                          "c", "c.a.b", "a.c", "d.d"};
  const std::vector<std::string> preds = {"{exists: true}", "{exists: false}",  "\"a\"",   "1",
                                          "{gte: 1}",       "{in: [1, \"a\"]}", "{ne: 2}", "true",
                                          "{prefix: \"b\"}"};
  const std::vector<std::string> events = {"view",  "cart",     "[view, cart]",
                                           "\"*\"", "identify", "consent"};
  const std::vector<std::string> types = {"view", "cart", "identify", "consent", "other"};
  size_t checked = 0;
  for (uint64_t seed = 0; seed < kPathJobs; ++seed) {
    Rng rng(seed);
    std::string y = "job: paths\nlog: log\nsource:\n  topics: [events]\n";
    if (rng.Chance(60)) y += "profile:\n  event: identify\n";
    if (rng.Chance(40)) {
      y += "consent:\n  event: consent\n  field: " + rng.Pick(paths) + "\n  default: granted\n";
    }
    y += "segments:\n";
    const int64_t segments = rng.Between(1, 4);
    for (int64_t s = 0; s < segments; ++s) {
      y += "  - id: s" + std::to_string(s) + "\n    when: ";
      std::string where;
      if (rng.Chance(60)) where = ", where: {" + rng.Pick(paths) + ": " + rng.Pick(preds) + "}";
      const std::string ev = "event: " + rng.Pick(events) + where;
      switch (rng.Between(0, 3)) {
        case 0:
          y += "{count: {" + ev + ", at_least: 1}}\n";
          break;
        case 1:
          y += "{sum: {" + ev + ", field: " + rng.Pick(paths) + ", gt: 1}}\n";
          break;
        case 2:
          y += "{distinct: {" + ev + ", field: " + rng.Pick(paths) + ", at_least: 2}}\n";
          break;
        default:
          if (y.find("profile:") != std::string::npos) {
            y += "{profile: {" + rng.Pick(paths) + ": " + rng.Pick(preds) + "}}\n";
          } else {
            y += "{max: {" + ev + ", field: " + rng.Pick(paths) + ", lt: 3}}\n";
          }
      }
    }
    JobParseResult parsed = ParseJobText(y, "/tmp/segflow-projected/paths.yaml");
    ASSERT_TRUE(parsed.ok()) << parsed.ErrorText() << "\n" << y;
    auto program = SegmentProgram::Compile(parsed.job);
    ASSERT_TRUE(program.ok()) << program.status().ToString() << "\n" << y;
    Event reused;
    for (uint64_t i = 0; i < 60; ++i) {
      Event e;
      e.user = "u" + std::to_string(rng.Between(0, 9));
      e.type = rng.Pick(types);
      e.ts = rng.Between(0, 1000);
      e.props = RandomObject(rng, names, 4);
      ++checked;
      if (!ProjectsTheSame(**program, e, i, &reused, "seed " + std::to_string(seed) + "\n" + y)) {
        return;
      }
    }
  }
  EXPECT_EQ(checked, kPathJobs * 60u);
}

}  // namespace
}  // namespace segflow::reference
