// Valid job files parse into the right JobSpec: every section, defaults, paths (spec §3).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "job_test_util.h"
#include "jobs/job_parser.h"

namespace segflow {
namespace {

using testing_util::Describe;

constexpr char kFullJob[] = R"(# every section given
job: full-job
log: data/log
source:
  topics: [events, more]
  fields: {user: uid, event: type, time: at}
  max_out_of_orderness: 5s
  idle_timeout: 1m
profile:
  event: identify
consent:
  event: consent
  field: prefs.granted
  default: denied
segments:
  - id: cart_abandoned
    when: {absence: {after: {event: add_to_cart}, missing: {event: purchase}, within: 30m}}
    membership: {duration: 24h, exit_on: {event: purchase, where: {total: {gt: 0}}}, cooldown: 1d}
  - id: vip
    when:
      profile: {vip: true}
output:
  changelog: full.changes
  audience: /var/segflow/audience/
parallelism: 4
max_parallelism: 256
checkpoint: {interval: 2s, dir: ../ckpt/./full}
)";

TEST(JobSpecParseTest, FullJobFillsEverySection) {
  JobParseResult r = ParseJobText(kFullJob, "/srv/jobs/full.yaml");
  ASSERT_TRUE(r.ok()) << Describe(r);
  const JobSpec& job = r.job;
  EXPECT_EQ(job.name, "full-job");
  EXPECT_EQ(job.file, "/srv/jobs/full.yaml");
  EXPECT_EQ(job.log_dir, "/srv/jobs/data/log");

  EXPECT_EQ(job.source.topics, (std::vector<std::string>{"events", "more"}));
  EXPECT_EQ(job.source.fields.user, "uid");
  EXPECT_EQ(job.source.fields.event, "type");
  EXPECT_EQ(job.source.fields.time, "at");
  EXPECT_EQ(job.source.max_out_of_orderness_ms, 5000);
  EXPECT_EQ(job.source.idle_timeout_ms, 60000);

  ASSERT_TRUE(job.profile.has_value());
  EXPECT_EQ(job.profile->event, "identify");
  ASSERT_TRUE(job.consent.has_value());
  EXPECT_EQ(job.consent->event, "consent");
  EXPECT_EQ(job.consent->field, "prefs.granted");
  EXPECT_FALSE(job.consent->default_granted);

  ASSERT_EQ(job.segments.size(), 2u);
  const SegmentSpec& cart = job.segments[0];
  EXPECT_EQ(cart.id, "cart_abandoned");
  EXPECT_EQ(cart.loc.line, 16);
  EXPECT_EQ(cart.loc.column, 5);
  EXPECT_EQ(cart.when.kind, Condition::Kind::kAbsence);
  EXPECT_EQ(cart.when.loc.line, 17);
  EXPECT_EQ(cart.when.loc.column, 12);
  EXPECT_EQ(cart.when.after.events, (std::vector<std::string>{"add_to_cart"}));
  EXPECT_EQ(cart.when.missing.events, (std::vector<std::string>{"purchase"}));
  EXPECT_EQ(cart.when.within_ms, 30 * 60 * 1000);
  EXPECT_EQ(cart.membership.duration_ms, 24 * 3600 * 1000LL);
  EXPECT_EQ(cart.membership.cooldown_ms, 24 * 3600 * 1000LL);
  ASSERT_TRUE(cart.membership.exit_on.has_value());
  EXPECT_EQ(cart.membership.exit_on->events, (std::vector<std::string>{"purchase"}));
  ASSERT_EQ(cart.membership.exit_on->where.size(), 1u);
  EXPECT_EQ(cart.membership.exit_on->where[0].first, "total");
  ASSERT_EQ(cart.membership.exit_on->where[0].second.ops.size(), 1u);
  EXPECT_EQ(cart.membership.exit_on->where[0].second.ops[0].first, PredOp::kGt);
  EXPECT_EQ(cart.membership.exit_on->where[0].second.ops[0].second, Value::Int(0));

  const SegmentSpec& vip = job.segments[1];
  EXPECT_EQ(vip.id, "vip");
  EXPECT_EQ(vip.when.kind, Condition::Kind::kProfile);
  EXPECT_EQ(vip.when.loc.line, 21);
  EXPECT_EQ(vip.when.loc.column, 7);
  EXPECT_FALSE(vip.membership.duration_ms.has_value());
  EXPECT_FALSE(vip.membership.exit_on.has_value());
  EXPECT_FALSE(vip.membership.cooldown_ms.has_value());
  EXPECT_EQ(job.FindSegment("vip"), &vip);
  EXPECT_EQ(job.FindSegment("nope"), nullptr);

  EXPECT_EQ(job.output.changelog, "full.changes");
  EXPECT_EQ(job.output.audience_dir, "/var/segflow/audience");
  EXPECT_EQ(job.parallelism, 4);
  EXPECT_EQ(job.max_parallelism, 256u);
  EXPECT_EQ(job.checkpoint.interval_ms, 2000);
  EXPECT_EQ(job.checkpoint.dir, "/srv/ckpt/full");
}

TEST(JobSpecParseTest, MinimalJobGetsDefaults) {
  JobParseResult r = ParseJobText(
      "job: min\n"
      "log: data/cart/log\n"
      "source: {topics: [events]}\n"
      "segments: [{id: s, when: {count: {event: e, at_least: 1}}}]\n",
      "/srv/jobs/min.yaml");
  ASSERT_TRUE(r.ok()) << Describe(r);
  const JobSpec& job = r.job;
  EXPECT_EQ(job.log_dir, "/srv/jobs/data/cart/log");
  EXPECT_EQ(job.source.fields.user, "user_id");
  EXPECT_EQ(job.source.fields.event, "event");
  EXPECT_EQ(job.source.fields.time, "ts");
  EXPECT_EQ(job.source.max_out_of_orderness_ms, 0);
  EXPECT_EQ(job.source.idle_timeout_ms, 30000);
  EXPECT_FALSE(job.profile.has_value());
  EXPECT_FALSE(job.consent.has_value());  // no consent block: granted
  EXPECT_EQ(job.output.changelog, "min.memberships");
  EXPECT_EQ(job.output.audience_dir, "/srv/jobs/data/cart/audience/min");
  EXPECT_EQ(job.checkpoint.dir, "/srv/jobs/data/cart/checkpoints/min");
  EXPECT_EQ(job.checkpoint.interval_ms, 10000);
  EXPECT_EQ(job.parallelism, 1);
  EXPECT_EQ(job.max_parallelism, 128u);
  ASSERT_EQ(job.segments.size(), 1u);
  EXPECT_EQ(job.segments[0].when.kind, Condition::Kind::kCount);
  EXPECT_FALSE(job.segments[0].when.window_ms.has_value());
}

TEST(JobSpecParseTest, ConsentDefaultsToGranted) {
  JobParseResult r = ParseJobText(
      "job: c\nlog: /abs/log\nsource: {topics: [e]}\nconsent: {event: consent, field: ok}\n"
      "segments: [{id: s, when: {count: {event: e, at_least: 1}}}]\n",
      "/srv/jobs/c.yaml");
  ASSERT_TRUE(r.ok()) << Describe(r);
  ASSERT_TRUE(r.job.consent.has_value());
  EXPECT_TRUE(r.job.consent->default_granted);
  EXPECT_EQ(r.job.log_dir, "/abs/log");
  EXPECT_EQ(r.job.output.audience_dir, "/abs/audience/c");
}

TEST(JobSpecParseTest, PathsAreNormalizedAndAbsolute) {
  JobParseResult r = ParseJobText(
      "job: p\nlog: ./a/../b//log/\nsource: {topics: [e]}\n"
      "segments: [{id: s, when: {count: {event: e, at_least: 1}}}]\n"
      "output: {audience: ../../aud}\ncheckpoint: {dir: /x/y/../z}\n",
      "/srv/jobs/nested/p.yaml");
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.job.log_dir, "/srv/jobs/nested/b/log");
  EXPECT_EQ(r.job.output.audience_dir, "/srv/aud");
  EXPECT_EQ(r.job.checkpoint.dir, "/x/z");
}

TEST(JobSpecParseTest, RelativeJobFileResolvesAgainstWorkingDirectory) {
  JobParseResult r = ParseJobText(
      "job: p\nlog: data/log\nsource: {topics: [e]}\n"
      "segments: [{id: s, when: {count: {event: e, at_least: 1}}}]\n",
      "jobs/p.yaml");
  ASSERT_TRUE(r.ok()) << Describe(r);
  std::filesystem::path expected =
      (std::filesystem::current_path() / "jobs/data/log").lexically_normal();
  EXPECT_EQ(r.job.log_dir, expected.string());
  EXPECT_TRUE(std::filesystem::path(r.job.log_dir).is_absolute());
}

TEST(JobSpecParseTest, ParseJobFileReadsRealFileAndResolvesAgainstItsFolder) {
  char tmpl[] = "/tmp/segflow-jobs-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::filesystem::path dir(tmpl);
  std::filesystem::path file = dir / "job.yaml";
  {
    std::ofstream out(file);
    out << "job: real\nlog: data/log\nsource: {topics: [events]}\n"
           "segments:\n  - id: s\n    when: {count: {event: e, window: 1w, at_least: 2}}\n";
  }
  JobParseResult r = ParseJobFile(file.string());
  EXPECT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.job.file, file.string());
  EXPECT_EQ(r.job.log_dir, (dir / "data/log").string());
  EXPECT_EQ(r.job.output.audience_dir, (dir / "data/audience/real").string());
  ASSERT_EQ(r.job.segments.size(), 1u);
  EXPECT_EQ(r.job.segments[0].when.window_ms, 7 * 24 * 3600 * 1000LL);

  // The same file with an error reports the real path.
  {
    std::ofstream out(file);
    out << "job: real\nlog: data/log\nsource: {topics: [events]}\nsegments: []\n";
  }
  r = ParseJobFile(file.string());
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r);
  EXPECT_EQ(r.errors[0].ToString().rfind(file.string() + ":4:11: \"segments\"", 0), 0u)
      << r.errors[0].ToString();
  std::filesystem::remove_all(dir);
}

TEST(JobSpecParseTest, CrlfLineEndingsAndCommentsAreFine) {
  JobParseResult r = ParseJobText(
      "# comment\r\njob: w\r\nlog: log # trailing comment\r\nsource: {topics: [e]}\r\n"
      "segments:\r\n  - id: s\r\n    when: {count: {event: e, at_least: 1}}\r\n",
      "/srv/jobs/w.yaml");
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.job.name, "w");
  EXPECT_EQ(r.job.log_dir, "/srv/jobs/log");
  EXPECT_EQ(r.job.segments[0].when.loc.line, 7);
}

TEST(JobSpecParseTest, DurationUnits) {
  const std::pair<const char*, int64_t> cases[] = {
      {"0ms", 0},      {"500ms", 500},           {"30s", 30000},    {"30m", 1800000},
      {"2h", 7200000}, {"30d", 30LL * 86400000}, {"1w", 604800000}, {"'15s'", 15000},
  };
  for (const auto& [text, ms] : cases) {
    SCOPED_TRACE(text);
    JobParseResult r = testing_util::Parse(testing_util::WithCondition(
        std::string("{count: {event: e, window: ") + text + ", at_least: 1}}"));
    ASSERT_TRUE(r.ok()) << Describe(r);
    EXPECT_EQ(r.job.segments[0].when.window_ms, ms);
  }
}

TEST(JobSpecParseTest, MaxParallelismEqualToParallelismIsValid) {
  JobParseResult r =
      testing_util::Parse(testing_util::WithCondition("{count: {event: e, at_least: 1}}") +
                          "parallelism: 32768\nmax_parallelism: 32768\n");
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.job.parallelism, 32768);
  EXPECT_EQ(r.job.max_parallelism, 32768u);
}

}  // namespace
}  // namespace segflow

namespace segflow {
namespace {

// `source.kafka` (spec integrations §10.1): the topics come from under kafka, the
// librdkafka properties are kept as given.
TEST(JobSpecParseTest, KafkaSourceKeepsBootstrapTopicsAndProperties) {
  JobParseResult r = ParseJobText(R"(job: k
log: data/log
source:
  kafka:
    bootstrap: 127.0.0.1:9092,127.0.0.1:9093
    topics: [events, more]
    properties: {security.protocol: ssl, fetch.wait.max.ms: 100}
    group: monitor
segments:
  - id: s
    when: {count: {event: view, at_least: 1}}
)",
                                  "/srv/jobs/k.yaml");
  ASSERT_TRUE(r.ok()) << testing_util::Describe(r);
  EXPECT_EQ(r.job.source.topics, (std::vector<std::string>{"events", "more"}));
  EXPECT_EQ(r.job.source.kafka.bootstrap, "127.0.0.1:9092,127.0.0.1:9093");
  EXPECT_EQ(r.job.source.kafka.group, "monitor");
  EXPECT_EQ(r.job.source.kafka.properties,
            (std::map<std::string, std::string>{{"fetch.wait.max.ms", "100"},
                                                {"security.protocol", "ssl"}}));
  EXPECT_TRUE(r.job.source.kafka.enabled());
}

// A Kafka source without its bootstrap or topics, or with topics beside it, is refused.
TEST(JobSpecParseTest, KafkaSourceNeedsBootstrapAndItsOwnTopics) {
  const std::string segments =
      "segments:\n  - id: s\n    when: {count: {event: view, at_least: 1}}\n";
  JobParseResult missing =
      ParseJobText("job: k\nlog: l\nsource:\n  kafka: {topics: [events]}\n" + segments, "/j.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.ErrorText().find("missing required key \"bootstrap\""), std::string::npos)
      << missing.ErrorText();
  JobParseResult both = ParseJobText(
      "job: k\nlog: l\nsource:\n  topics: [a]\n  kafka: {bootstrap: h:1, topics: [events]}\n" +
          segments,
      "/j.yaml");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.ErrorText().find("source.kafka.topics"), std::string::npos) << both.ErrorText();
}

// `output.changelog.kafka` (spec integrations §10.2): bootstrap, topic and properties kept;
// the topic is also the staged changelog's name. With a Kafka source too, `log` may be
// left out: it and everything defaulting beside it live under data/<job>/ beside the file.
TEST(JobSpecParseTest, KafkaChangelogKeepsItsConfigAndMakesLogOptional) {
  JobParseResult r = ParseJobText(R"(job: k
source:
  kafka: {bootstrap: 127.0.0.1:9092, topics: [events]}
segments:
  - id: s
    when: {count: {event: view, at_least: 1}}
output:
  changelog:
    kafka: {bootstrap: 127.0.0.1:9093, topic: k.changes, properties: {linger.ms: 5}}
checkpoint: {interval: 1s}
)",
                                  "/srv/jobs/k.yaml");
  ASSERT_TRUE(r.ok()) << testing_util::Describe(r);
  EXPECT_TRUE(r.job.output.kafka.enabled());
  EXPECT_EQ(r.job.output.kafka.bootstrap, "127.0.0.1:9093");
  EXPECT_EQ(r.job.output.kafka.topic, "k.changes");
  EXPECT_EQ(r.job.output.changelog, "k.changes");
  EXPECT_EQ(r.job.output.kafka.properties,
            (std::map<std::string, std::string>{{"linger.ms", "5"}}));
  EXPECT_EQ(r.job.log_dir, "/srv/jobs/data/k/log");
  EXPECT_EQ(r.job.output.audience_dir, "/srv/jobs/data/k/audience/k");
  EXPECT_EQ(r.job.checkpoint.dir, "/srv/jobs/data/k/checkpoints/k");
}

// With its own checkpoint folder, a job with Kafka in and out and no `log` keeps what it
// stores itself in that folder (`<dir>/<job>.data/`), so workers that share only the
// checkpoint folder can run it; an audience folder it names stays where it says.
TEST(JobSpecParseTest, KafkaInAndOutJobKeepsItsFilesInItsCheckpointFolder) {
  const std::string job = R"(job: k
source:
  kafka: {bootstrap: 127.0.0.1:9092, topics: [events]}
segments:
  - id: s
    when: {count: {event: view, at_least: 1}}
output:
  changelog:
    kafka: {bootstrap: 127.0.0.1:9093, topic: k.changes}
)";
  JobParseResult r = ParseJobText(job + "checkpoint: {interval: 1s, dir: /shared/ckpt}\n", "/srv/jobs/k.yaml");
  ASSERT_TRUE(r.ok()) << testing_util::Describe(r);
  EXPECT_EQ(r.job.checkpoint.dir, "/shared/ckpt");
  EXPECT_EQ(r.job.log_dir, "/shared/ckpt/k.data/log");
  EXPECT_EQ(r.job.output.audience_dir, "/shared/ckpt/k.data/audience/k");

  JobParseResult own_audience = ParseJobText(
      job + "  audience: /var/aud\ncheckpoint: {interval: 1s, dir: shared}\n", "/srv/jobs/k.yaml");
  ASSERT_TRUE(own_audience.ok()) << testing_util::Describe(own_audience);
  EXPECT_EQ(own_audience.job.log_dir, "/srv/jobs/shared/k.data/log");
  EXPECT_EQ(own_audience.job.output.audience_dir, "/var/aud");

  // With a `log:` folder, everything stays beside it.
  JobParseResult with_log =
      ParseJobText("log: l\n" + job + "checkpoint: {interval: 1s, dir: /shared/ckpt}\n", "/srv/jobs/k.yaml");
  ASSERT_TRUE(with_log.ok()) << testing_util::Describe(with_log);
  EXPECT_EQ(with_log.job.log_dir, "/srv/jobs/l");
  EXPECT_EQ(with_log.job.output.audience_dir, "/srv/jobs/audience/k");
}

// A Kafka changelog without a checkpoint block is refused (a Kafka topic cannot be
// truncated back); `log` stays required when something of the job is in the embedded log.
TEST(JobSpecParseTest, KafkaChangelogNeedsCheckpointsAndLogWhenTheSourceIsTheLog) {
  const std::string segments =
      "segments:\n  - id: s\n    when: {count: {event: view, at_least: 1}}\n";
  const std::string kafka_out =
      "output:\n  changelog: {kafka: {bootstrap: h:1, topic: k.changes}}\n";
  JobParseResult no_checkpoint = ParseJobText(
      "job: k\nsource:\n  kafka: {bootstrap: h:1, topics: [events]}\n" + segments + kafka_out,
      "/j.yaml");
  ASSERT_FALSE(no_checkpoint.ok());
  EXPECT_NE(
      no_checkpoint.ErrorText().find("\"output.changelog.kafka\" needs a \"checkpoint\" block"),
      std::string::npos)
      << no_checkpoint.ErrorText();
  JobParseResult log_source = ParseJobText(
      "job: k\nsource:\n  topics: [events]\n" + segments + kafka_out + "checkpoint: {}\n",
      "/j.yaml");
  ASSERT_FALSE(log_source.ok());
  EXPECT_NE(log_source.ErrorText().find("missing required key \"log\""), std::string::npos)
      << log_source.ErrorText();
  JobParseResult no_topic =
      ParseJobText("job: k\nlog: l\nsource:\n  topics: [events]\n" + segments +
                       "output:\n  changelog: {kafka: {bootstrap: h:1}}\ncheckpoint: {}\n",
                   "/j.yaml");
  ASSERT_FALSE(no_topic.ok());
  EXPECT_NE(no_topic.ErrorText().find("missing required key \"topic\""), std::string::npos)
      << no_topic.ErrorText();
}

}  // namespace
}  // namespace segflow
