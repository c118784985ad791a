// Serialize/Deserialize of UserState and ProjectedEvent: round trips mid-run give the
// same results as uninterrupted runs; corrupt input is refused, never crashes.
#include <algorithm>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "segment_test_util.h"

namespace segflow {
namespace {

using segtest::In;

// Every condition kind and membership rule, so every leaf state is exercised.
JobSpec RichJob() {
  return segtest::ParseJob(
      "  - id: c\n"
      "    when: {count: {event: [a, b], where: {x: {gte: 2}}, window: 20ms, between: [1, 3]}}\n"
      "    membership: {duration: 15ms, cooldown: 5ms}\n"
      "  - id: s\n"
      "    when: {sum: {event: a, field: x, window: 30ms, gte: 5}}\n"
      "    membership: {exit_on: {event: b}}\n"
      "  - id: av\n"
      "    when: {avg: {event: \"*\", field: x, window: 25ms, lt: 3}}\n"
      "  - id: mn\n"
      "    when: {min: {event: a, field: x, window: 15ms, lte: 1}}\n"
      "  - id: mx\n"
      "    when: {max: {event: b, field: x, gt: 4}}\n"
      "  - id: sl\n"
      "    when: {sum: {event: b, field: x, lt: 12}}\n"
      "  - id: d\n"
      "    when: {distinct: {event: [a, b], field: x, window: 40ms, at_least: 3}}\n"
      "  - id: dl\n"
      "    when: {distinct: {event: a, field: x, at_most: 2}}\n"
      "  - id: cl\n"
      "    when: {count: {event: b, at_least: 4}}\n"
      "  - id: ab\n"
      "    when: {absence: {after: {event: a}, missing: {event: b}, within: 12ms}}\n"
      "  - id: sq\n"
      "    when: {sequence: {steps: [{event: a}, {event: b}, {event: a}], within: 20ms, window: 10ms}}\n"
      "  - id: p\n"
      "    when: {all: [{profile: {tier: {in: [1, 2]}}}, {not: {segment: c}}]}\n"
      "  - id: r\n"
      "    when: {any: [{segment: s}, {segment: ab}]}\n",
      "profile: {event: identify}\nconsent: {event: consent, field: granted, default: granted}\n");
}

std::vector<In> RandomEvents(std::mt19937_64& rng, int users, int per_user) {
  const char* types[] = {"a", "a", "b", "b", "identify", "consent", "other"};
  const char* xs[] = {"0", "1", "2", "3", "4.5", "5", "1.0", "\"2\"", "[1]", "null"};
  std::vector<In> out;
  for (int u = 0; u < users; ++u) {
    int64_t ts = 1000 + static_cast<int64_t>(rng() % 10);
    for (int i = 0; i < per_user; ++i) {
      ts += static_cast<int64_t>(rng() % 9);  // repeats timestamps often
      const std::string type = types[rng() % 7];
      std::string props = "{";
      if (rng() % 5 != 0) props += std::string("\"x\":") + xs[rng() % 10];
      if (type == "identify") props += std::string(props.size() > 1 ? "," : "") + "\"tier\":" + std::to_string(rng() % 4);
      if (type == "consent") {
        props += std::string(props.size() > 1 ? "," : "") + "\"granted\":" + (rng() % 3 ? "true" : "false");
      }
      props += "}";
      out.push_back({"u" + std::to_string(u), type, ts, props});
    }
  }
  return out;
}

// Runs one user's events through the program: events are added in batches (shuffled
// within a batch, all at or after the batch's watermark), instants below each watermark
// are evaluated. With `round_trip`, the state and every event go through the codec at
// every step.
std::vector<std::string> RunUser(const SegmentProgram& program, const std::vector<In>& events,
                                 const std::vector<uint64_t>& seqs, bool round_trip, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::unique_ptr<UserState> state = program.NewUserState();
  std::vector<std::string> out;
  auto cycle = [&] {
    if (!round_trip) return;
    std::string buf;
    program.Serialize(*state, &buf);
    std::unique_ptr<UserState> copy;
    Status s = program.Deserialize(buf, &copy);
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::string again;
    program.Serialize(*copy, &again);
    EXPECT_EQ(again.size(), buf.size());
    state = std::move(copy);
  };
  auto run_below = [&](int64_t w) {
    for (int guard = 0; guard < 100000; ++guard) {
      std::optional<int64_t> next = program.NextInstant(*state);
      if (!next || *next >= w) return;
      std::vector<MembershipChange> changes;
      program.ProcessInstant(state.get(), *next, &changes);
      for (const auto& c : changes) out.push_back(segtest::Render(program.job(), events[0].user, c));
      cycle();
    }
    ADD_FAILURE() << "too many instants";
  };
  size_t i = 0;
  while (i < events.size()) {
    const int64_t w = events[i].ts;
    run_below(w);
    size_t j = i;
    const int64_t batch_end = w + static_cast<int64_t>(rng() % 15);
    while (j < events.size() && events[j].ts <= batch_end) ++j;
    std::vector<size_t> batch;
    for (size_t k = i; k < j; ++k) batch.push_back(k);
    std::shuffle(batch.begin(), batch.end(), rng);
    for (size_t k : batch) {
      ProjectedEvent pe;
      program.Project(segtest::MakeEvent(events[k]), seqs[k], &pe);
      if (round_trip) {
        std::string buf;
        SegmentProgram::SerializeEvent(pe, &buf);
        std::string_view view = buf;
        ProjectedEvent back;
        Status s = SegmentProgram::DeserializeEvent(&view, &back);
        EXPECT_TRUE(s.ok() && view.empty()) << s.ToString();
        pe = std::move(back);
      }
      program.AddEvent(state.get(), std::move(pe));
      cycle();
    }
    i = j;
  }
  run_below(int64_t{1} << 50);
  return out;
}

TEST(SegmentCodecTest, RoundTripMidRunGivesIdenticalResults) {
  JobSpec job = RichJob();
  auto program = segtest::Compile(job);
  ASSERT_TRUE(program);
  std::mt19937_64 rng(42);
  std::vector<In> all = RandomEvents(rng, 12, 60);
  size_t total_changes = 0;
  for (int u = 0; u < 12; ++u) {
    std::vector<In> events;
    std::vector<uint64_t> seqs;
    for (size_t k = 0; k < all.size(); ++k) {
      if (all[k].user == "u" + std::to_string(u)) {
        events.push_back(all[k]);
        seqs.push_back(k);
      }
    }
    auto straight = RunUser(*program, events, seqs, false, 1);
    auto cycled = RunUser(*program, events, seqs, true, 2);  // other arrival order too
    EXPECT_EQ(straight, cycled) << "user u" << u;
    total_changes += straight.size();
  }
  EXPECT_GT(total_changes, 100u);  // the data exercises the segments
}

TEST(SegmentCodecTest, EventRoundTripKeepsEveryField) {
  ProjectedEvent e;
  e.ts = -5;
  e.seq = 1ull << 40;
  e.match_bits = {0x8000000000000001ull, 3};
  e.fields.resize(3);
  e.fields[0].kind = ProjectedEvent::FieldValue::Kind::kNumber;
  e.fields[0].number = -0.25;
  e.fields[2].kind = ProjectedEvent::FieldValue::Kind::kKey;
  e.fields[2].key = std::string("s\0x", 3);
  e.is_profile = true;
  e.profile_update = Value::Object({{"a", Value::Array({Value::Int(1), Value::Double(2.5), Value::Null()})},
                                    {"b", Value::Object({{"c", Value::Bool(true)}})},
                                    {"d", Value::String("é")}});
  e.consent = 0;
  std::string buf;
  SegmentProgram::SerializeEvent(e, &buf);
  SegmentProgram::SerializeEvent(e, &buf);  // two in a row: the view advances past one
  std::string_view view = buf;
  for (int i = 0; i < 2; ++i) {
    ProjectedEvent back;
    ASSERT_TRUE(SegmentProgram::DeserializeEvent(&view, &back).ok());
    EXPECT_EQ(back.ts, e.ts);
    EXPECT_EQ(back.seq, e.seq);
    EXPECT_EQ(back.match_bits, e.match_bits);
    ASSERT_EQ(back.fields.size(), 3u);
    EXPECT_EQ(back.fields[0].kind, e.fields[0].kind);
    EXPECT_EQ(back.fields[0].number, -0.25);
    EXPECT_EQ(back.fields[1].kind, ProjectedEvent::FieldValue::Kind::kMissing);
    EXPECT_EQ(back.fields[2].key, e.fields[2].key);
    EXPECT_TRUE(back.is_profile);
    EXPECT_EQ(back.profile_update.ToJson(), e.profile_update.ToJson());
    EXPECT_EQ(back.consent, 0);
  }
  EXPECT_TRUE(view.empty());
}

// A state with something in every part: pending events, profile, consent, leaves.
std::string RichState(const SegmentProgram& program) {
  std::unique_ptr<UserState> state = program.NewUserState();
  std::mt19937_64 rng(3);
  std::vector<In> events = RandomEvents(rng, 1, 40);
  for (size_t k = 0; k < events.size(); ++k) {
    ProjectedEvent pe;
    program.Project(segtest::MakeEvent(events[k]), k, &pe);
    program.AddEvent(state.get(), std::move(pe));
  }
  std::vector<MembershipChange> changes;
  for (int i = 0; i < 25; ++i) program.ProcessInstant(state.get(), *program.NextInstant(*state), &changes);
  std::string buf;
  program.Serialize(*state, &buf);
  return buf;
}

TEST(SegmentCodecTest, TruncatedOrCorruptStateIsRefused) {
  JobSpec job = RichJob();
  auto program = segtest::Compile(job);
  ASSERT_TRUE(program);
  const std::string buf = RichState(*program);
  std::unique_ptr<UserState> out;
  ASSERT_TRUE(program->Deserialize(buf, &out).ok());
  for (size_t n = 0; n < buf.size(); ++n) {
    Status s = program->Deserialize(std::string_view(buf).substr(0, n), &out);
    ASSERT_FALSE(s.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(s.code(), Status::Code::kCorruption);
  }
  EXPECT_EQ(program->Deserialize(buf + "x", &out).code(), Status::Code::kCorruption);
  std::string bad_version = buf;
  bad_version[0] = 9;
  Status s = program->Deserialize(bad_version, &out);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("version"), std::string::npos);
  // Flipped bytes: refused or accepted, never a crash (ASan checks the rest).
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) {
    std::string flipped = buf;
    flipped[rng() % flipped.size()] ^= static_cast<char>(1 + rng() % 255);
    Status fs = program->Deserialize(flipped, &out);
    if (!fs.ok()) {
      EXPECT_EQ(fs.code(), Status::Code::kCorruption);
    } else {
      // An accepted state must still be usable.
      std::vector<MembershipChange> changes;
      for (int k = 0; k < 5; ++k) {
        std::optional<int64_t> next = program->NextInstant(*out);
        if (!next) break;
        program->ProcessInstant(out.get(), *next, &changes);
      }
    }
  }
}

TEST(SegmentCodecTest, StateOfAnotherProgramIsRefused) {
  auto rich = segtest::Compile(RichJob());
  auto other = segtest::Compile(segtest::OneSegment("{count: {event: a, at_least: 1}}"));
  ASSERT_TRUE(rich && other);
  std::unique_ptr<UserState> out;
  EXPECT_EQ(other->Deserialize(RichState(*rich), &out).code(), Status::Code::kCorruption);
}

TEST(SegmentCodecTest, CorruptEventsAreRefused) {
  ProjectedEvent e;
  e.ts = 77;
  e.match_bits = {5};
  e.fields.resize(1);
  e.fields[0].kind = ProjectedEvent::FieldValue::Kind::kKey;
  e.fields[0].key = "abc";
  e.is_profile = true;
  e.profile_update = Value::Object({{"k", Value::Int(1)}});
  std::string buf;
  SegmentProgram::SerializeEvent(e, &buf);
  for (size_t n = 0; n < buf.size(); ++n) {
    std::string_view view = std::string_view(buf).substr(0, n);
    ProjectedEvent back;
    EXPECT_EQ(SegmentProgram::DeserializeEvent(&view, &back).code(), Status::Code::kCorruption);
  }
  std::string huge = buf;
  huge[huge.size() - 1] = 7;  // consent byte out of range
  std::string_view view = huge;
  ProjectedEvent back;
  EXPECT_EQ(SegmentProgram::DeserializeEvent(&view, &back).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace segflow
