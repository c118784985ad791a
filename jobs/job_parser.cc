// Job files (spec §3) into JobSpec, with every §7 error reported at once.
//
// Decisions where the spec is silent (also in docs):
//  * Required: job, log, source.topics, segments (non-empty), each segment's id and when,
//    profile.event, consent.event and consent.field. Everything else has a default.
//  * Extension key `max_parallelism` (top level): the number of key groups users hash to
//    (ARCHITECTURE invariant 3), an integer 1..32768, default 128, >= parallelism. It is
//    fixed for the life of a job's state.
//  * Names: job [a-z0-9_-]+; segment ids [A-Za-z0-9_.-]+; topics [A-Za-z0-9._-]+ (Kafka's
//    rule, at most 249 chars). The changelog topic may be neither a source topic nor
//    "<job>.late". Role fields must be distinct. checkpoint.interval must be positive.
//  * A `profile` condition needs the top-level `profile` block (else it could never hold).
//  * `log` may be left out when nothing of the job is in the embedded log (a Kafka source
//    and a Kafka changelog, spec integrations §10.2): it is then `data/<job>/log` beside the
//    job file, so audience, state and checkpoints default under `data/<job>/`. A Kafka
//    changelog needs a `checkpoint` block.
#include "jobs/job_parser.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>
#include <unordered_map>

#include "jobs/condition_parser.h"
#include "jobs/segment_graph.h"
#include "jobs/segment_version.h"
#include "jobs/yaml_limits.h"
#include "jobs/yaml_reader.h"

namespace segflow {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxKeyGroups = 32768;

bool AllOf(std::string_view s, bool (*ok)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

bool IsJobNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool IsSegmentIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

bool IsTopicName(std::string_view s) {
  return s.size() <= 249 && s != "." && s != ".." && AllOf(s, IsSegmentIdChar);
}

// `p` made absolute against `base`, lexically normalized, without a trailing separator.
std::string ResolvePath(const fs::path& base, const std::string& text) {
  fs::path p(text);
  if (p.is_relative()) p = base / p;
  p = p.lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p.string();
}

// True when `output` (absent: false) has `changelog: {kafka: ...}`: checked before
// the output block is read, since `log`'s default depends on it.
bool HasKafkaChangelog(const YamlField* output) {
  if (output == nullptr || !output->value.IsMap()) return false;
  const YAML::Node& value = output->value;  // const: operator[] must not insert
  const YAML::Node changelog = value["changelog"];
  return changelog && changelog.IsMap() && changelog["kafka"];
}

class JobReader {
 public:
  JobReader(const std::string& file, const std::string& base_dir, ErrorSink* errors)
      : errors_(errors), conditions_(errors) {
    std::error_code ec;
    if (!base_dir.empty()) {
      base_dir_ = fs::absolute(base_dir, ec);
      if (ec) base_dir_ = fs::path(base_dir);
      return;
    }
    fs::path abs = fs::absolute(file.empty() ? fs::path(".") / "job.yaml" : fs::path(file), ec);
    base_dir_ = ec ? fs::path(".") : abs.parent_path();
  }

  void Read(const YAML::Node& root, JobSpec* job);

 private:
  void ReadSource(const YamlField& f, SourceSpec* out);
  void ReadTopics(const YamlField& t, SourceSpec* out);
  void ReadKafkaSource(const YamlField& f, SourceSpec* out);
  void ReadRoleFields(const YamlField& f, RoleFields* out);
  void ReadSegments(const YamlField& f, JobSpec* job);
  void ReadSegment(const YamlField& f, size_t index, SegmentSpec* out);
  void ReadMembership(const YamlField& f, Membership* out);
  void ReadOutput(const YamlField& f, const JobSpec& job, OutputSpec* out);
  void ReadPostgres(const YamlField& f, OutputSpec::Postgres* out);
  std::optional<std::string> ReadKafkaChangelog(const YamlField& f,
                                                OutputSpec::KafkaChangelog* out);
  void ReadCheckpoint(const YamlField& f, CheckpointSpec* out);
  std::optional<std::string> ReadTopic(const YamlField& f);
  std::optional<std::string> ReadDir(const YamlField& f);
  // True when `f` holds a map; else reports what was expected.
  bool ExpectMap(const YamlField& f, std::string_view expected);

  ErrorSink* errors_;
  ConditionParser conditions_;
  fs::path base_dir_;
  std::vector<std::string> segment_ids_;  // by index, empty when missing
  std::unordered_map<std::string, int> first_id_line_;
};

bool JobReader::ExpectMap(const YamlField& f, std::string_view expected) {
  if (f.value.IsMap()) return true;
  ReportExpected(f, expected, errors_);
  return false;
}

void JobReader::Read(const YAML::Node& root, JobSpec* job) {
  MapReader top(root, "at the top level", root.Mark(),
                {"job", "log", "source", "profile", "consent", "segments", "output", "parallelism",
                 "max_parallelism", "checkpoint"},
                errors_);
  if (const YamlField* f = top.Require("job")) {
    constexpr std::string_view kExpected =
        "a job name of lowercase letters, digits, '_' and '-' ([a-z0-9_-]+)";
    if (f->value.IsScalar() && AllOf(f->value.Scalar(), IsJobNameChar)) {
      job->name = f->value.Scalar();
    } else {
      ReportExpected(*f, kExpected, errors_);
    }
  }
  const YamlField* log_field = top.Get("log");
  if (log_field != nullptr) {
    if (auto dir = ReadDir(*log_field)) job->log_dir = *dir;
  }
  if (const YamlField* f = top.Require("source")) ReadSource(*f, &job->source);
  const bool kafka_in_and_out = job->source.kafka.enabled() && HasKafkaChangelog(top.Get("output"));
  if (log_field == nullptr) {
    // Optional only when nothing of the job is in the embedded log (spec integrations §10.2).
    if (kafka_in_and_out) {
      job->log_dir = (base_dir_ / "data" / (job->name.empty() ? "job" : job->name) / "log")
                         .lexically_normal()
                         .string();
    } else {
      top.Require("log");
    }
  }
  if (const YamlField* f = top.Get("profile")) {
    if (ExpectMap(*f, "a map with event")) {
      MapReader r(f->value, "in profile", f->key.Mark(), {"event"}, errors_);
      job->profile.emplace();
      if (const YamlField* e = r.Require("event")) {
        if (auto name = ReadName(*e, "an event name", errors_)) job->profile->event = *name;
      }
    }
  }
  if (const YamlField* f = top.Get("consent")) {
    if (ExpectMap(*f, "a map with event, field and optional default")) {
      MapReader r(f->value, "in consent", f->key.Mark(), {"event", "field", "default"}, errors_);
      job->consent.emplace();
      if (const YamlField* e = r.Require("event")) {
        if (auto name = ReadName(*e, "an event name", errors_)) job->consent->event = *name;
      }
      if (const YamlField* e = r.Require("field")) {
        if (auto path = ReadPath(*e, errors_)) job->consent->field = *path;
      }
      if (const YamlField* d = r.Get("default")) {
        if (d->value.IsScalar() && d->value.Scalar() == "granted") {
          job->consent->default_granted = true;
        } else if (d->value.IsScalar() && d->value.Scalar() == "denied") {
          job->consent->default_granted = false;
        } else {
          ReportExpected(*d, "granted or denied", errors_);
        }
      }
    }
  }
  if (const YamlField* f = top.Require("segments")) ReadSegments(*f, job);

  std::optional<int64_t> parallelism;
  std::optional<int64_t> max_parallelism;
  const YamlField* parallelism_field = top.Get("parallelism");
  const YamlField* max_field = top.Get("max_parallelism");
  if (parallelism_field) {
    parallelism = ReadInt(*parallelism_field, 1, kMaxKeyGroups, errors_);
    if (parallelism) job->parallelism = static_cast<int>(*parallelism);
  }
  if (max_field) {
    max_parallelism = ReadInt(*max_field, 1, kMaxKeyGroups, errors_);
    if (max_parallelism) job->max_parallelism = static_cast<uint32_t>(*max_parallelism);
  }
  if (job->parallelism > static_cast<int64_t>(job->max_parallelism) &&
      (!parallelism_field || parallelism) && (!max_field || max_parallelism)) {
    const YamlField* at = max_field ? max_field : parallelism_field;
    errors_->Add(at->ValueMark(), "\"parallelism\" " + std::to_string(job->parallelism) +
                                      " exceeds \"max_parallelism\" " +
                                      std::to_string(job->max_parallelism) +
                                      " (the number of key groups; default 128)");
  }

  // Defaults that derive from other keys (spec §3): next to the log directory.
  fs::path log_parent = fs::path(job->log_dir).parent_path();
  job->output.changelog = job->name + ".memberships";
  job->output.audience_dir = (log_parent / "audience" / job->name).string();
  job->checkpoint.dir = (log_parent / "checkpoints" / job->name).string();
  const std::string default_audience_dir = job->output.audience_dir;
  if (const YamlField* f = top.Get("output")) ReadOutput(*f, *job, &job->output);
  const std::string default_checkpoint_dir = job->checkpoint.dir;
  if (const YamlField* f = top.Get("checkpoint")) ReadCheckpoint(*f, &job->checkpoint);
  if (log_field == nullptr && kafka_in_and_out && job->checkpoint.dir != default_checkpoint_dir) {
    // A Kafka-in, Kafka-out job with its own checkpoint folder keeps what it stores
    // itself (the staged changelog, late and rejected records, the audience store, the
    // erasure ledger) inside that folder, so a cluster whose workers share nothing but the
    // checkpoint folder (as Flink's checkpoint directory) can run it (spec integrations
    // §10.2). "<job>.data": no job id ("<job>-<n>") can take that name.
    const fs::path data = fs::path(job->checkpoint.dir) / (job->name + ".data");
    job->log_dir = (data / "log").lexically_normal().string();
    if (job->output.audience_dir == default_audience_dir) {
      job->output.audience_dir = (data / "audience" / job->name).lexically_normal().string();
    }
  }
  if (job->output.kafka.enabled() && !job->checkpoint.enabled) {
    const YamlField* out = top.Get("output");
    errors_->Add(out != nullptr ? out->key.Mark() : root.Mark(),
                 "\"output.changelog.kafka\" needs a \"checkpoint\" block: changes go to Kafka in "
                 "transactions committed with completed checkpoints, since a Kafka topic cannot be "
                 "truncated back; add e.g. \"checkpoint: {interval: 10s}\"");
  }

  CheckSegmentReferences(segment_ids_, conditions_.references(), errors_);
  if (conditions_.first_profile_condition() && !job->profile) {
    errors_->Add(*conditions_.first_profile_condition(),
                 "a profile condition needs a top-level \"profile\" block naming the profile "
                 "event (e.g. profile: {event: identify})");
  }
}

void JobReader::ReadSource(const YamlField& f, SourceSpec* out) {
  if (!ExpectMap(f, "a map with topics (or kafka) and optional fields, max_out_of_orderness, idle_timeout")) {
    return;
  }
  MapReader r(f.value, "in source", f.key.Mark(),
              {"topics", "kafka", "fields", "max_out_of_orderness", "idle_timeout"}, errors_);
  if (const YamlField* k = r.Get("kafka")) {
    if (const YamlField* t = r.Get("topics")) {
      errors_->Add(t->key.Mark(), "\"topics\": a Kafka source names its topics under source.kafka.topics");
    }
    ReadKafkaSource(*k, out);
  } else if (const YamlField* t = r.Require("topics")) {
    ReadTopics(*t, out);
  }
  if (const YamlField* fields = r.Get("fields")) ReadRoleFields(*fields, &out->fields);
  if (const YamlField* d = r.Get("max_out_of_orderness")) {
    if (auto ms = ReadDuration(*d, errors_)) out->max_out_of_orderness_ms = *ms;
  }
  if (const YamlField* d = r.Get("idle_timeout")) {
    if (auto ms = ReadDuration(*d, errors_)) out->idle_timeout_ms = *ms;
  }
}

void JobReader::ReadTopics(const YamlField& t, SourceSpec* out) {
  if (!t.value.IsSequence() || t.value.size() == 0) {
    ReportExpected(t, "a non-empty list of topic names, e.g. [events]", errors_);
    return;
  }
  for (size_t i = 0; i < t.value.size(); ++i) {
    YamlField item{"topics[" + std::to_string(i) + "]", t.value[i], t.value[i]};
    std::optional<std::string> topic = ReadTopic(item);
    if (!topic) continue;
    if (std::find(out->topics.begin(), out->topics.end(), *topic) != out->topics.end()) {
      errors_->Add(item.ValueMark(), "duplicate topic \"" + *topic + "\" in source.topics");
      continue;
    }
    out->topics.push_back(*topic);
  }
}

// `source.kafka: {bootstrap, topics, properties, group}` (spec integrations §10.1).
// Properties are librdkafka's, passed as is; librdkafka itself rejects unknown ones when
// the job starts.
void JobReader::ReadKafkaSource(const YamlField& f, SourceSpec* out) {
  if (!ExpectMap(f, "a map with bootstrap, topics and optional properties, group")) return;
  MapReader r(f.value, "in source.kafka", f.key.Mark(), {"bootstrap", "topics", "properties", "group"}, errors_);
  if (const YamlField* b = r.Require("bootstrap")) {
    if (auto v = ReadName(*b, "bootstrap servers, e.g. 127.0.0.1:9092", errors_)) out->kafka.bootstrap = *v;
  }
  if (const YamlField* t = r.Require("topics")) ReadTopics(*t, out);
  if (const YamlField* g = r.Get("group")) {
    if (auto v = ReadName(*g, "a consumer group name", errors_)) out->kafka.group = *v;
  }
  if (const YamlField* p = r.Get("properties")) {
    if (!ExpectMap(*p, "a map of librdkafka properties, e.g. {security.protocol: ssl}")) return;
    MapReader props(p->value, "in source.kafka.properties", p->key.Mark(), errors_, "property");
    for (const YamlField& prop : props.fields()) {
      if (auto v = ReadName(prop, "a property value", errors_)) out->kafka.properties[prop.name] = *v;
    }
  }
}

void JobReader::ReadRoleFields(const YamlField& f, RoleFields* out) {
  if (!ExpectMap(f, "a map of role: field name, roles user, event and time")) return;
  MapReader r(f.value, "in source.fields", f.key.Mark(), {"user", "event", "time"}, errors_,
              "role");
  std::vector<std::pair<std::string, std::string>> seen;  // field name, role
  for (const YamlField& role : r.fields()) {
    std::optional<std::string> name = ReadName(role, "a field name", errors_);
    if (!name) continue;
    if (role.name == "user") out->user = *name;
    if (role.name == "event") out->event = *name;
    if (role.name == "time") out->time = *name;
  }
  // Roles left at their defaults take part in the distinctness check too.
  const std::pair<std::string, const std::string*> roles[] = {
      {"user", &out->user}, {"event", &out->event}, {"time", &out->time}};
  for (size_t i = 0; i < 3; ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (*roles[i].second != *roles[j].second) continue;
      const YamlField* at = r.Get(roles[i].first);
      if (at == nullptr) at = r.Get(roles[j].first);
      if (at == nullptr) continue;
      errors_->Add(at->ValueMark(), "field \"" + *roles[i].second + "\" is both the " +
                                        roles[j].first + " and the " + roles[i].first +
                                        " field; each role needs its own field");
    }
  }
}

void JobReader::ReadSegments(const YamlField& f, JobSpec* job) {
  if (!f.value.IsSequence() || f.value.size() == 0) {
    ReportExpected(f, "a non-empty list of segments (each with id and when)", errors_);
    return;
  }
  for (size_t i = 0; i < f.value.size(); ++i) {
    YamlField item{"segments[" + std::to_string(i) + "]", f.value[i], f.value[i]};
    job->segments.emplace_back();
    segment_ids_.emplace_back();
    ReadSegment(item, i, &job->segments.back());
  }
}

void JobReader::ReadSegment(const YamlField& f, size_t index, SegmentSpec* out) {
  out->loc = ToSourceLoc(f.ValueMark());
  if (!ExpectMap(f, "a segment: a map with id, when and optional membership")) return;
  MapReader r(f.value, "in segment", f.ValueMark(), {"id", "when", "membership"}, errors_);
  if (const YamlField* id = r.Require("id")) {
    std::optional<std::string> name = ReadName(*id, "a segment id", errors_);
    if (name && !AllOf(*name, IsSegmentIdChar)) {
      ReportExpected(*id, "a segment id of letters, digits, '_', '-' and '.'", errors_);
    } else if (name) {
      int line = ToSourceLoc(id->ValueMark()).line;
      auto [it, fresh] = first_id_line_.emplace(*name, line);
      if (!fresh) {
        errors_->Add(id->ValueMark(), "duplicate segment id \"" + *name +
                                          "\" (first defined at line " +
                                          std::to_string(it->second) + ")");
      }
      out->id = *name;
      segment_ids_[index] = *name;
    }
  }
  if (const YamlField* when = r.Require("when")) {
    conditions_.ParseCondition(*when, index, &out->when);
  }
  if (const YamlField* m = r.Get("membership")) ReadMembership(*m, &out->membership);
}

void JobReader::ReadMembership(const YamlField& f, Membership* out) {
  if (!ExpectMap(f, "a map with optional duration, exit_on and cooldown")) return;
  MapReader r(f.value, "in membership", f.key.Mark(), {"duration", "exit_on", "cooldown"}, errors_);
  if (const YamlField* d = r.Get("duration")) out->duration_ms = ReadDuration(*d, errors_);
  if (const YamlField* e = r.Get("exit_on")) {
    out->exit_on.emplace();
    conditions_.ParseMatchMap(*e, "in membership.exit_on", &*out->exit_on);
  }
  if (const YamlField* d = r.Get("cooldown")) out->cooldown_ms = ReadDuration(*d, errors_);
}

void JobReader::ReadOutput(const YamlField& f, const JobSpec& job, OutputSpec* out) {
  if (!ExpectMap(f,
                 "a map with optional changelog (a topic name or {kafka: {...}}), audience, "
                 "shared_audience and postgres"))
    return;
  MapReader r(f.value, "in output", f.key.Mark(),
              {"changelog", "audience", "shared_audience", "postgres"}, errors_);
  if (const YamlField* c = r.Get("changelog")) {
    std::optional<std::string> named;
    if (c->value.IsMap()) {
      named = ReadKafkaChangelog(*c, &out->kafka);
    } else {
      named = ReadTopic(*c);
    }
    if (auto topic = named) {
      const auto& topics = job.source.topics;
      if (std::find(topics.begin(), topics.end(), *topic) != topics.end()) {
        errors_->Add(c->ValueMark(), "\"changelog\": topic \"" + *topic +
                                         "\" is also a source topic; expected a topic of its own");
      } else if (*topic == job.name + ".late") {
        errors_->Add(c->ValueMark(), "\"changelog\": topic \"" + *topic +
                                         "\" is the job's late topic; expected a topic of its own");
      } else {
        out->changelog = *topic;
      }
    }
  }
  if (const YamlField* a = r.Get("audience")) {
    if (auto dir = ReadDir(*a)) out->audience_dir = *dir;
  }
  if (const YamlField* a = r.Get("shared_audience")) {
    if (auto dir = ReadDir(*a)) {
      if (*dir == out->audience_dir) {
        errors_->Add(a->ValueMark(), "\"shared_audience\": " + *dir +
                                         " is the job's own audience store, which each run resets; expected a folder of its own");
      } else {
        out->shared_audience_dir = *dir;
      }
    }
  }
  if (const YamlField* pg = r.Get("postgres")) ReadPostgres(*pg, &out->postgres);
}

// `output.changelog: {kafka: {bootstrap, topic, properties}}` (spec integrations §10.2);
// returns the topic. Properties are librdkafka's, passed as is.
std::optional<std::string> JobReader::ReadKafkaChangelog(const YamlField& f,
                                                         OutputSpec::KafkaChangelog* out) {
  MapReader outer(f.value, "in output.changelog", f.key.Mark(), {"kafka"}, errors_);
  const YamlField* k = outer.Require("kafka");
  if (k == nullptr ||
      !ExpectMap(*k,
                 "a map with bootstrap, topic and optional properties, e.g. {bootstrap: "
                 "127.0.0.1:9092, topic: cart.memberships}")) {
    return std::nullopt;
  }
  MapReader r(k->value, "in output.changelog.kafka", k->key.Mark(),
              {"bootstrap", "topic", "properties"}, errors_);
  std::optional<std::string> topic;
  std::optional<std::string> bootstrap;
  if (const YamlField* b = r.Require("bootstrap")) {
    bootstrap = ReadName(*b, "bootstrap servers, e.g. 127.0.0.1:9092", errors_);
  }
  if (const YamlField* t = r.Require("topic")) topic = ReadTopic(*t);
  if (const YamlField* p = r.Get("properties")) {
    if (ExpectMap(*p, "a map of librdkafka properties, e.g. {security.protocol: ssl}")) {
      MapReader props(p->value, "in output.changelog.kafka.properties", p->key.Mark(), errors_,
                      "property");
      for (const YamlField& prop : props.fields()) {
        if (auto v = ReadName(prop, "a property value", errors_)) out->properties[prop.name] = *v;
      }
    }
  }
  if (!bootstrap || !topic) return std::nullopt;
  out->bootstrap = *bootstrap;
  out->topic = *topic;
  return topic;
}

// `output.postgres: {dsn, table}`. The table name is an SQL identifier (optionally
// schema-qualified) of letters, digits and '_', so that Segflow can quote it and name its
// side tables after it; a password in the dsn is refused (libpq's PGPASSWORD or ~/.pgpass).
void JobReader::ReadPostgres(const YamlField& f, OutputSpec::Postgres* out) {
  if (!ExpectMap(f, "a map with dsn and table")) return;
  MapReader r(f.value, "in output.postgres", f.key.Mark(), {"dsn", "table"}, errors_);
  const YamlField* dsn = r.Require("dsn");
  const YamlField* table = r.Require("table");
  std::optional<std::string> d, t;
  if (dsn != nullptr) d = ReadName(*dsn, "a libpq connection string", errors_);
  if (d) {
    std::string lower = *d;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool uri = lower.starts_with("postgres://") || lower.starts_with("postgresql://");
    const size_t at = lower.find('@');
    const bool uri_password =
        uri && at != std::string::npos &&
        lower.substr(0, at).find(':', lower.find("//") + 2) != std::string::npos;
    if (std::regex_search(lower, std::regex("(^|[\\s&?])password\\s*=")) || uri_password) {
      errors_->Add(dsn->ValueMark(),
                   "\"dsn\": holds a password; put it in PGPASSWORD or ~/.pgpass (libpq reads "
                   "them), never in the job file");
      d.reset();
    }
  }
  if (table != nullptr)
    t = ReadName(*table, "a table name ([schema.]name of letters, digits and '_')", errors_);
  if (t) {
    bool ok = t->size() <= 50 && !std::isdigit(static_cast<unsigned char>((*t)[0]));
    size_t dots = 0;
    for (size_t i = 0; i < t->size() && ok; ++i) {
      const char c = (*t)[i];
      if (c == '.') {
        ok = ++dots == 1 && i > 0 && i + 1 < t->size() &&
             !std::isdigit(static_cast<unsigned char>((*t)[i + 1]));
      } else {
        ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      }
    }
    if (!ok) {
      ReportExpected(*table,
                     "a table name ([schema.]name of letters, digits and '_', at most 50 "
                     "characters, not starting with a digit)",
                     errors_);
      t.reset();
    }
  }
  if (d && t) {
    out->dsn = *d;
    out->table = *t;
  }
}

void JobReader::ReadCheckpoint(const YamlField& f, CheckpointSpec* out) {
  if (!ExpectMap(f, "a map with optional interval and dir")) return;
  out->enabled = true;
  MapReader r(f.value, "in checkpoint", f.key.Mark(), {"interval", "dir"}, errors_);
  if (const YamlField* i = r.Get("interval")) {
    if (auto ms = ReadDuration(*i, errors_)) {
      if (*ms > 0) {
        out->interval_ms = *ms;
      } else {
        ReportExpected(*i, "a positive duration, e.g. 10s", errors_);
      }
    }
  }
  if (const YamlField* d = r.Get("dir")) {
    if (auto dir = ReadDir(*d)) out->dir = *dir;
  }
}

std::optional<std::string> JobReader::ReadTopic(const YamlField& f) {
  constexpr std::string_view kExpected = "a topic name of letters, digits, '.', '_' and '-'";
  std::optional<std::string> name = ReadName(f, kExpected, errors_);
  if (name && !IsTopicName(*name)) {
    ReportExpected(f, kExpected, errors_);
    return std::nullopt;
  }
  return name;
}

std::optional<std::string> JobReader::ReadDir(const YamlField& f) {
  std::optional<std::string> text = ReadName(f, "a directory path", errors_);
  if (!text) return std::nullopt;
  return ResolvePath(base_dir_, *text);
}

}  // namespace

std::string JobError::ToString() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::string JobParseResult::ErrorText() const {
  std::string out;
  for (const JobError& e : errors) out += e.ToString() + "\n";
  return out;
}

JobParseResult ParseJobText(const std::string& text, const std::string& file) {
  return ParseJobText(text, file, "");
}

JobParseResult ParseJobText(const std::string& text, const std::string& file, const std::string& base_dir) {
  JobParseResult result;
  result.job.file = file;
  ErrorSink errors(file);
  try {
    // Aliases and nesting are bounded before any node is built and walked.
    if (auto exceeded = CheckYamlLimits(text)) {
      errors.Add(exceeded->mark, exceeded->message);
      result.errors = errors.Take();
      return result;
    }
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    if (docs.size() > 1) {
      errors.Add(docs[1].Mark(),
                 "expected one YAML document, found " + std::to_string(docs.size()));
    }
    if (docs.empty() || !docs[0].IsMap()) {
      YAML::Mark at = docs.empty() || docs[0].IsNull() ? YAML::Mark() : docs[0].Mark();
      errors.Add(at, "expected the job file to be a map (job, log, source, segments, ...), got " +
                         (docs.empty() ? std::string("an empty file") : DescribeNode(docs[0])));
    } else {
      JobReader(file, base_dir, &errors).Read(docs[0], &result.job);
      if (errors.empty()) {  // versions are of valid job files only
        auto versions = SegmentVersions(docs[0]);
        if (versions.ok()) result.job.segment_versions = std::move(*versions);
      }
    }
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's message for this is only "bad file".
    errors.Add(e.mark, "YAML syntax error: nested more than " + std::to_string(e.depth() - 1) +
                           " levels deep");
  } catch (const YAML::Exception& e) {
    errors.Add(e.mark, "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    errors.Add(YAML::Mark::null_mark(), std::string("cannot read job file: ") + e.what());
  }
  result.errors = errors.Take();
  return result;
}

JobParseResult ParseJobFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    JobParseResult result;
    result.job.file = path;
    result.errors.push_back(JobError{path, 0, 0, "cannot read job file: is a directory"});
    return result;
  }
  std::ifstream in(path, std::ios::binary);
  // Reads one byte past the limit, so that a larger file (or an endless one) is refused
  // by ParseJobText without being held in memory.
  std::string text;
  const size_t cap = static_cast<size_t>(YamlLimits{}.max_file_bytes) + 1;
  while (in && text.size() < cap) {
    char buf[1 << 16];
    in.read(buf, static_cast<std::streamsize>(std::min(sizeof buf, cap - text.size())));
    text.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad() || (!in.eof() && text.size() < cap)) {
    int err = errno;
    JobParseResult result;
    result.job.file = path;
    result.errors.push_back(
        JobError{path, 0, 0, std::string("cannot read job file: ") + std::strerror(err)});
    return result;
  }
  return ParseJobText(text, path);
}

}  // namespace segflow
