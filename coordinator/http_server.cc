// The coordinator's HTTP API, Prometheus metrics and dashboard (integrations §12), served
// by cpp-httplib from the coordinator's own state: every /v1 answer goes through the same
// AnswerClient the CLI's Cap'n Proto requests do, under the same lock.
#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string_view>

#include "coordinator/coordinator_impl.h"
#include "coordinator/dashboard.h"
#include "coordinator/status_json.h"
#include "engine/value/time_format.h"

namespace segflow::coordinator {

struct HttpServerState {
  httplib::Server server;
  std::thread thread;
  net::HostPort bound;
};

namespace {

using nlohmann::json;

// Bounds on hostile input: job files are small, clients that stall are dropped.
constexpr size_t kMaxBody = 1 << 20;
constexpr time_t kIoTimeoutSeconds = 10;

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// Compares in time that depends on the lengths only, not on where the texts differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, json{{"error", message}});
}

// The URL's query parameters alone (httplib's req.params also holds a form-encoded body's,
// and `curl --data-binary @job.yaml` labels the YAML so).
httplib::Params QueryOf(const httplib::Request& req) {
  httplib::Params params;
  const size_t q = req.target.find('?');
  if (q != std::string::npos) httplib::detail::parse_query_text(req.target.substr(q + 1), params);
  return params;
}

std::string Param(const httplib::Params& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

// Every query parameter must be one of `known` (a typo is an error, not a default).
bool CheckParams(const httplib::Params& params, httplib::Response& res,
                 std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : params) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      Error(res, 400,
            "unknown parameter \"" + name + "\" (known: " + (list.empty() ? "none" : list) + ")");
      return false;
    }
  }
  return true;
}

// "true"/"false" (absent: false); anything else is a 400.
bool BoolParam(const httplib::Params& params, httplib::Response& res, const std::string& name,
               bool* out) {
  *out = false;
  if (params.count(name) == 0) return true;
  const std::string v = Param(params, name);
  if (v == "true" || v == "1") {
    *out = true;
  } else if (v != "false" && v != "0") {
    Error(res, 400, "parameter " + name + "=\"" + v + "\": expected true or false");
    return false;
  }
  return true;
}

std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[64];
  auto [end, ec] =
      std::to_chars(buf, buf + sizeof buf, v);  // the shortest text that reads back as v
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

// One metric family: its HELP/TYPE header and samples, written only if it has samples.
struct Family {
  std::string name, type, help;
  std::vector<std::string> samples;
  void Add(const std::string& labels, double value) {
    samples.push_back(name + "{" + labels + "} " + Number(value));
  }
  void WriteTo(std::string* out) const {
    if (samples.empty()) return;
    *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& s : samples) *out += s + "\n";
  }
};

// A scrape asks each job's worker for its segments' sizes and latencies; a worker slower
// than this leaves them out of that scrape.
constexpr auto kMetricsAskTimeout = std::chrono::seconds(2);
constexpr uint32_t kDefaultPage = 1000, kMaxPage = 100000;

// Writes the HTTP error of a failed audience question; false if there was none.
bool AudienceFailed(const AudienceReply& r, httplib::Response& res) {
  if (!r.answer) {
    Error(res, r.status, r.error);
    return true;
  }
  auto a = r.answer->getRoot<wire::ControlMessage>().asReader().getAudienceAnswer();
  switch (a.getError()) {
    case wire::AudienceError::NONE:
      return false;
    case wire::AudienceError::INVALID:
      Error(res, 400, a.getMessage().cStr());
      return true;
    case wire::AudienceError::NOT_FOUND:
      Error(res, 404, a.getMessage().cStr());
      return true;
    case wire::AudienceError::NOT_EVALUATED:
    case wire::AudienceError::UNAVAILABLE:
      Error(res, 409, a.getMessage().cStr());
      return true;
  }
  Error(res, 409, a.getMessage().cStr());
  return true;
}

wire::AudienceAnswer::Reader AnswerOf(const AudienceReply& r) {
  return r.answer->getRoot<wire::ControlMessage>().asReader().getAudienceAnswer();
}

json Evaluated(wire::AudienceAnswer::Reader a) {
  return a.getHasEvaluated() ? json(a.getEvaluatedThrough()) : json(nullptr);
}

// at=TIME (absent: the evaluated time); false after writing a 400.
bool AtParam(const httplib::Params& params, httplib::Response& res, bool* has, int64_t* at) {
  *has = params.count("at") > 0;
  if (!*has) return true;
  auto t = ParseTimeArg(Param(params, "at"));
  if (!t.ok()) {
    Error(res, 400, "parameter at: " + t.status().message());
    return false;
  }
  *at = *t;
  return true;
}

}  // namespace

AudienceReply Coordinator::Impl::AskAudience(
    const std::string& id, const std::function<void(wire::AudienceQuery::Builder)>& fill,
    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return {404, "no job " + id + " (GET /v1/jobs lists them)", nullptr};
  auto alive = [&](uint32_t w) {
    auto x = workers_.find(w);
    return x != workers_.end() && x->second.alive;
  };
  uint32_t worker = it->second.sink_worker;
  if (!alive(worker)) {
    worker = 0;
    for (const auto& [wid, w] : workers_) {
      if (w.alive) {
        worker = wid;
        break;
      }
    }
  }
  if (worker == 0)
    return {409, "no live worker to read job " + id + "'s audience (start a segflow worker)",
            nullptr};
  const uint64_t rid = next_audience_query_++;
  capnp::MallocMessageBuilder msg;
  auto q = msg.initRoot<wire::ControlMessage>().initAudienceQuery();
  q.setRequestId(rid);
  q.setJobId(id);
  q.setJobFile(it->second.file);
  q.setJobText(it->second.text);
  fill(q);
  audience_waiting_.insert(rid);
  SendToWorker(worker, msg);
  cv_.wait_for(lock, timeout, [&] { return shutdown_ || audience_answers_.count(rid) > 0; });
  audience_waiting_.erase(rid);
  auto node = audience_answers_.extract(rid);
  if (node.empty()) {
    return {409,
            "worker " + std::to_string(worker) + " did not answer within " +
                std::to_string(timeout.count()) + " ms (segflow jobs shows whether it is alive)",
            nullptr};
  }
  return {200, "", std::move(node.mapped())};
}

void Coordinator::Impl::OnAudienceAnswer(wire::AudienceAnswer::Reader answer) {
  if (audience_waiting_.count(answer.getRequestId()) == 0) return;  // its asker gave up
  auto copy = std::make_unique<capnp::MallocMessageBuilder>();
  copy->initRoot<wire::ControlMessage>().setAudienceAnswer(answer);
  audience_answers_[answer.getRequestId()] = std::move(copy);
  cv_.notify_all();
}

net::HostPort Coordinator::Impl::http_address() const {
  return http_ ? http_->bound : net::HostPort{"", 0};
}

std::string Coordinator::Impl::MetricsText() {
  Family job_info{"segflow_job_info", "gauge", "1 per listed job, its state as a label", {}};
  Family in{
      "segflow_records_in_total", "counter", "records a task took in (the current attempt's)", {}};
  Family out{
      "segflow_records_out_total", "counter", "records a task sent on (the current attempt's)", {}};
  Family late{"segflow_records_late_total", "counter", "records a source dropped as late", {}};
  Family rejected{"segflow_records_rejected_total",
                  "counter",
                  "undecodable records a source set aside (in <job>.rejected)",
                  {}};
  Family lag{
      "segflow_watermark_lag_seconds", "gauge", "wall clock now minus the task's watermark", {}};
  Family blocked{"segflow_backpressure_seconds_total",
                 "counter",
                 "time a task waited for room downstream",
                 {}};
  Family checkpoints{
      "segflow_checkpoints_total", "counter", "checkpoints by result (failed: abandoned)", {}};
  Family duration{"segflow_checkpoint_duration_seconds",
                  "gauge",
                  "duration of the last completed checkpoint",
                  {}};
  Family workers{"segflow_workers", "gauge", "registered workers by state", {}};
  const int64_t now = NowMs();
  for (const auto& [id, job] : jobs_) {
    const std::string jl =
        "job_id=\"" + LabelValue(id) + "\",job_name=\"" + LabelValue(job.name) + "\"";
    job_info.Add(jl + ",state=\"" + JobStateText(job.state) + "\"", 1);
    for (const auto& [key, t] : job.tasks) {
      const std::string tl = jl + ",task=\"" + TaskName(t.kind, t.index) + "\"";
      in.Add(tl, static_cast<double>(t.records_in));
      out.Add(tl, static_cast<double>(t.records_out));
      if (t.kind == wire::TaskKind::SOURCE) {
        late.Add(tl, static_cast<double>(t.late));
        rejected.Add(tl, static_cast<double>(t.rejected));
      }
      if (t.has_watermark) lag.Add(tl, static_cast<double>(now - t.watermark) / 1000.0);
      blocked.Add(tl, static_cast<double>(t.blocked_ns) / 1e9);
    }
    if (job.checkpointing) {
      checkpoints.Add(jl + ",result=\"completed\"", static_cast<double>(job.checkpoints_completed));
      checkpoints.Add(jl + ",result=\"failed\"", static_cast<double>(job.checkpoints_abandoned));
      if (!job.completed_checkpoints.empty()) {
        duration.Add(jl,
                     static_cast<double>(job.completed_checkpoints.back().duration_ms) / 1000.0);
      }
    }
  }
  size_t alive = 0;
  for (const auto& [wid, w] : workers_) alive += w.alive ? 1 : 0;
  workers.Add("state=\"alive\"", static_cast<double>(alive));
  workers.Add("state=\"lost\"", static_cast<double>(workers_.size() - alive));
  std::string text;
  for (const Family* f : {&job_info, &in, &out, &late, &rejected, &lag, &blocked, &checkpoints,
                          &duration, &workers}) {
    f->WriteTo(&text);
  }
  return text;
}

Status Coordinator::Impl::StartHttp() {
  const net::HostPort where = *options_.http;
  if (options_.http_token.empty() && !IsLoopback(where.host)) {
    return Status::InvalidArgument(
        "--http " + where.ToString() +
        " is not a loopback address: give --http-token-file FILE (clients then send "
        "Authorization: Bearer <token>) or listen on 127.0.0.1");
  }
  auto state = std::make_shared<HttpServerState>();
  httplib::Server& srv = state->server;
  srv.set_payload_max_length(kMaxBody);
  srv.set_read_timeout(kIoTimeoutSeconds, 0);
  srv.set_write_timeout(kIoTimeoutSeconds, 0);
  srv.set_keep_alive_timeout(5);
  srv.set_keep_alive_max_count(1000);
  // A reply is written as headers then body: without this, Nagle holds the body back
  // until the client's delayed ACK (40 ms per request on a kept-alive connection).
  srv.set_tcp_nodelay(true);

  const std::string token = options_.http_token;
  srv.set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    const bool guarded =
        req.path == "/metrics" || req.path == "/v1" || req.path.rfind("/v1/", 0) == 0;
    if (!guarded || token.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
        ConstantTimeEquals(std::string_view(auth).substr(prefix.size()), token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer");
    Error(res, 401,
          auth.empty()
              ? "this server needs Authorization: Bearer <token> (the --http-token-file's content)"
              : "wrong token in Authorization: Bearer <token>");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Unmatched routes (httplib's 404) and oversized bodies (413) get a JSON error too.
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      Error(res, 404, "no such path: " + req.method + " " + req.path + " (see GET /v1/jobs)");
    } else if (res.status == 413) {
      Error(res, 413, "request body over " + std::to_string(kMaxBody) + " bytes");
    } else {
      Error(res, res.status, "bad request");
    }
  });

  // Runs one client request as the CLI sends it, under mu_; `build` fills the request.
  auto ask = [this](auto build, auto answer) {
    capnp::MallocMessageBuilder request, reply;
    build(request.initRoot<wire::ControlMessage>());
    auto root = reply.initRoot<wire::ControlMessage>();
    AnswerClient(request.getRoot<wire::ControlMessage>().asReader(), root);
    answer(root.asReader());
  };

  srv.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(kDashboardHtml), "text/html; charset=utf-8");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
  });

  srv.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    const httplib::Params params = QueryOf(req);
    if (!CheckParams(params, res, {})) return;
    std::string text;
    std::vector<std::pair<std::string, std::string>> jobs;  // id, name
    {
      std::lock_guard<std::mutex> lock(mu_);
      text = MetricsText();
      for (const auto& [id, job] : jobs_) jobs.emplace_back(id, job.name);
    }
    // Per segment: its size, changes and change latency, kept in the store with its rows
    // (no scan), read by the job's worker from the sink's own handle while it runs.
    Family members{"segflow_segment_members", "gauge", "current members of a segment", {}};
    Family changes{"segflow_segment_changes_total",
                   "counter",
                   "changes applied to the audience (= changelog records), by change",
                   {}};
    Family latency{
        "segflow_change_latency_seconds",
        "histogram",
        "record appended -> change committed, per segment (power-of-two ms buckets; no _sum)",
        {}};
    for (const auto& [id, name] : jobs) {
      auto r = AskAudience(
          id, [](wire::AudienceQuery::Builder q) { q.setKind(wire::AudienceQueryKind::SEGMENTS); },
          kMetricsAskTimeout);
      if (!r.answer || AnswerOf(r).getError() != wire::AudienceError::NONE) continue;
      const std::string jl =
          "job_id=\"" + LabelValue(id) + "\",job_name=\"" + LabelValue(name) + "\"";
      for (auto seg : AnswerOf(r).getSegments()) {
        const std::string sl = jl + ",segment=\"" + LabelValue(seg.getSegment().cStr()) + "\"";
        members.Add(sl, static_cast<double>(seg.getMembers()));
        changes.Add(sl + ",change=\"entered\"", static_cast<double>(seg.getEntered()));
        changes.Add(sl + ",change=\"exited\"", static_cast<double>(seg.getExited()));
        auto buckets = seg.getLatencyBuckets();
        unsigned last = 0;  // the buckets up to the last non-empty one, then +Inf
        for (unsigned b = 0; b < buckets.size(); ++b) {
          if (buckets[b] > 0) last = b;
        }
        uint64_t cumulative = 0;
        for (unsigned b = 0; b < buckets.size() && b <= last; ++b) {
          cumulative += buckets[b];
          // Bucket 0: <= 0 ms; bucket b: [2^(b-1), 2^b) ms.
          const double le = b == 0 ? 0.0 : static_cast<double>(uint64_t{1} << b) / 1000.0;
          latency.samples.push_back(latency.name + "_bucket{" + sl + ",le=\"" + Number(le) +
                                    "\"} " + std::to_string(cumulative));
        }
        for (unsigned b = last + 1; b < buckets.size(); ++b) cumulative += buckets[b];
        latency.samples.push_back(latency.name + "_bucket{" + sl + ",le=\"+Inf\"} " +
                                  std::to_string(cumulative));
        latency.samples.push_back(latency.name + "_count{" + sl + "} " +
                                  std::to_string(cumulative));
      }
    }
    members.WriteTo(&text);
    changes.WriteTo(&text);
    latency.WriteTo(&text);
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });

  srv.Get("/v1/jobs", [ask](const httplib::Request& req, httplib::Response& res) {
    const httplib::Params params = QueryOf(req);
    if (!CheckParams(params, res, {})) return;
    ask([](wire::ControlMessage::Builder m) { m.initStatus().setJobId(""); },
        [&](wire::ControlMessage::Reader r) { Reply(res, 200, JobListJson(r.getStatusReply())); });
  });

  srv.Get(R"(/v1/jobs/([^/]+))", [ask](const httplib::Request& req, httplib::Response& res) {
    const httplib::Params params = QueryOf(req);
    if (!CheckParams(params, res, {})) return;
    const std::string id = req.matches[1];
    ask([&](wire::ControlMessage::Builder m) { m.initStatus().setJobId(id); },
        [&](wire::ControlMessage::Reader r) {
          auto sr = r.getStatusReply();
          if (!sr.getOk()) return Error(res, 404, sr.getError().cStr());
          if (sr.getJobs().size() == 1) return Reply(res, 200, JobStatusJson(sr.getJobs()[0]));
          Reply(res, 200, UpgradeStatusJson(sr.getUpgrades()[0]));
        });
  });

  srv.Post("/v1/jobs", [this, ask](const httplib::Request& req, httplib::Response& res) {
    const httplib::Params params = QueryOf(req);
    if (!CheckParams(params, res,
                     {"bounded", "from", "until", "from_savepoint", "end_with_savepoint", "file"}))
      return;
    bool bounded = false, end_with_savepoint = false;
    if (!BoolParam(params, res, "bounded", &bounded) ||
        !BoolParam(params, res, "end_with_savepoint", &end_with_savepoint)) {
      return;
    }
    if (req.body.empty()) return Error(res, 400, "the body must be the job file's YAML");
    bool has_until = false;
    int64_t until = 0;
    std::string until_offsets, until_savepoint;
    if (params.count("until")) {
      const std::string u = Param(params, "until");
      if (u.rfind("offsets:", 0) == 0) {
        until_offsets = u.substr(8);
      } else if (u.rfind("savepoint:", 0) == 0) {
        until_savepoint = u.substr(10);
      } else {
        auto t = ParseTimeArg(u);
        if (!t.ok()) return Error(res, 400, "parameter until: " + t.status().message());
        has_until = true;
        until = *t;
      }
    }
    // `file` names the job in messages; its relative paths resolve against the first
    // --data-root (of the coordinator, then of each worker), as for `segflow submit`.
    const std::string file =
        roots_.Absolute(params.count("file") ? Param(params, "file") : "job.yaml");
    ask(
        [&](wire::ControlMessage::Builder m) {
          auto s = m.initSubmit();
          s.setJobFile(file);
          s.setJobText(req.body);
          s.setBounded(bounded);
          s.setHasUntil(has_until);
          s.setUntil(until);
          s.setEndWithSavepoint(end_with_savepoint);
          s.setFrom(Param(params, "from"));
          s.setFromSavepoint(Param(params, "from_savepoint"));
          s.setUntilOffsets(until_offsets);
          s.setUntilSavepoint(until_savepoint);
        },
        [&](wire::ControlMessage::Reader r) {
          auto sr = r.getSubmitReply();
          if (!sr.getOk()) {
            json errors = json::array();
            std::stringstream lines(sr.getError().cStr());
            std::string line;
            while (std::getline(lines, line)) {
              if (!line.empty()) errors.push_back(line);
            }
            return Reply(res, 400, json{{"error", sr.getError().cStr()}, {"errors", errors}});
          }
          json body = {{"id", sr.getJobId().cStr()}};
          if (sr.getNotice().size() > 0) body["notice"] = sr.getNotice().cStr();
          if (sr.getUpgradeId().size() > 0) body["upgrade_id"] = sr.getUpgradeId().cStr();
          Reply(res, 201, body);
        });
  });

  srv.Post(R"(/v1/jobs/([^/]+)/cancel)",
           [this, ask](const httplib::Request& req, httplib::Response& res) {
             const httplib::Params params = QueryOf(req);
             if (!CheckParams(params, res, {})) return;
             const std::string id = req.matches[1];
             {
               std::lock_guard<std::mutex> lock(mu_);
               if (jobs_.count(id) == 0 && upgrades_.count(id) == 0) {
                 return Error(res, 404, "no job " + id + " (GET /v1/jobs lists them)");
               }
             }
             ask([&](wire::ControlMessage::Builder m) { m.initCancelJob().setJobId(id); },
                 [&](wire::ControlMessage::Reader r) {
                   auto cr = r.getCancelReply();
                   if (!cr.getOk()) return Error(res, 409, cr.getError().cStr());
                   Reply(res, 202, json{{"id", id}, {"cancel_requested", true}});
                 });
           });

  // Savepoints go to the job's default folder (<checkpoint dir>/savepoints/...): an HTTP
  // client names no path on the coordinator's machine.
  srv.Post(R"(/v1/jobs/([^/]+)/savepoints)",
           [this, ask](const httplib::Request& req, httplib::Response& res) {
             const httplib::Params params = QueryOf(req);
             if (!CheckParams(params, res, {"stop"})) return;
             bool stop = false;
             if (!BoolParam(params, res, "stop", &stop)) return;
             const std::string id = req.matches[1];
             {
               std::lock_guard<std::mutex> lock(mu_);
               if (jobs_.count(id) == 0)
                 return Error(res, 404, "no job " + id + " (GET /v1/jobs lists them)");
             }
             ask(
                 [&](wire::ControlMessage::Builder m) {
                   auto s = m.initSavepoint();
                   s.setJobId(id);
                   s.setStop(stop);
                 },
                 [&](wire::ControlMessage::Reader r) {
                   auto sr = r.getSavepointReply();
                   if (!sr.getOk()) return Error(res, 409, sr.getError().cStr());
                   Reply(res, 202, json{{"id", id}, {"savepoint_requested", true}, {"stop", stop}});
                 });
           });

  srv.Get(
      R"(/v1/jobs/([^/]+)/segments)", [this](const httplib::Request& req, httplib::Response& res) {
        const httplib::Params params = QueryOf(req);
        if (!CheckParams(params, res, {})) return;
        auto r = AskAudience(req.matches[1], [](wire::AudienceQuery::Builder q) {
          q.setKind(wire::AudienceQueryKind::SEGMENTS);
        });
        if (AudienceFailed(r, res)) return;
        auto a = AnswerOf(r);
        // The last `segflow diff` of this job's store (audience_diff.h), per segment.
        const json diff = a.getLastDiffJson().size() > 0
                              ? json::parse(std::string(a.getLastDiffJson().cStr()), nullptr, false)
                              : json();
        json out = json::array();
        for (auto s : a.getSegments()) {
          json last = nullptr;
          if (diff.is_object() && diff.contains("segments") && diff["segments"].is_array()) {
            for (const auto& d : diff["segments"]) {
              if (!d.is_object() || d.value("segment", "") != s.getSegment().cStr()) continue;
              const bool is_a = diff.value("side", "a") == "a";
              last = {{"at", diff.value("at", int64_t{0})},
                      {"compared_with", diff.value(is_a ? "b" : "a", "")},
                      {"divergence_pct", d.value("divergence_pct", 0.0)},
                      {"diverged", d.value("diverged", false)},
                      {"members", d.value(is_a ? "a" : "b", int64_t{0})},
                      {"other_members", d.value(is_a ? "b" : "a", int64_t{0})},
                      {"only_here", d.value(is_a ? "only_a_count" : "only_b_count", int64_t{0})},
                      {"only_there", d.value(is_a ? "only_b_count" : "only_a_count", int64_t{0})}};
            }
          }
          out.push_back(
              {{"segment", s.getSegment().cStr()},
               {"version", s.getVersion().size() > 0 ? json(s.getVersion().cStr()) : json(nullptr)},
               {"members", s.getMembers()},
               {"evaluated_through", Evaluated(a)},
               {"last_diff", std::move(last)}});
        }
        Reply(res, 200, out);
      });

  srv.Get(R"(/v1/jobs/([^/]+)/segments/([^/]+)/members)", [this](const httplib::Request& req,
                                                                 httplib::Response& res) {
    const httplib::Params params = QueryOf(req);
    if (!CheckParams(params, res, {"at", "limit", "after"})) return;
    bool has_at = false;
    int64_t at = 0;
    if (!AtParam(params, res, &has_at, &at)) return;
    uint32_t limit = kDefaultPage;
    if (params.count("limit")) {
      const std::string l = Param(params, "limit");
      char* end = nullptr;
      const unsigned long v = std::strtoul(l.c_str(), &end, 10);
      if (l.empty() || *end != '\0' || v == 0 || v > kMaxPage) {
        return Error(res, 400,
                     "parameter limit=\"" + l + "\": expected 1.." + std::to_string(kMaxPage));
      }
      limit = static_cast<uint32_t>(v);
    }
    const std::string segment = req.matches[2];
    const std::string after = Param(params, "after");
    auto r = AskAudience(req.matches[1], [&](wire::AudienceQuery::Builder q) {
      q.setKind(wire::AudienceQueryKind::MEMBERS);
      q.setSegment(segment);
      q.setHasAt(has_at);
      q.setAt(at);
      q.setLimit(limit);
      q.setAfter(after);
    });
    if (AudienceFailed(r, res)) return;
    auto a = AnswerOf(r);
    json members = json::array();
    for (auto m : a.getMembers()) members.push_back(m.cStr());
    Reply(res, 200,
          json{{"members", std::move(members)},
               {"next", a.getNext().size() > 0 ? json(a.getNext().cStr()) : json(nullptr)},
               {"evaluated_through", Evaluated(a)}});
  });

  srv.Get(R"(/v1/jobs/([^/]+)/users/([^/]+))",
          [this](const httplib::Request& req, httplib::Response& res) {
            const httplib::Params params = QueryOf(req);
            if (!CheckParams(params, res, {})) return;
            const std::string user = req.matches[2];
            auto r = AskAudience(req.matches[1], [&](wire::AudienceQuery::Builder q) {
              q.setKind(wire::AudienceQueryKind::USER);
              q.setUser(user);
            });
            if (AudienceFailed(r, res)) return;
            auto a = AnswerOf(r);
            json segments = json::array();
            for (auto m : a.getMemberships())
              segments.push_back({{"segment", m.getSegment().cStr()}, {"since", m.getSince()}});
            Reply(res, 200,
                  json{{"user_id", user},
                       {"segments", std::move(segments)},
                       {"evaluated_through", Evaluated(a)}});
          });

  srv.Get(R"(/v1/jobs/([^/]+)/users/([^/]+)/explain)", [this](const httplib::Request& req,
                                                              httplib::Response& res) {
    const httplib::Params params = QueryOf(req);
    if (!CheckParams(params, res, {"segment", "at"})) return;
    if (Param(params, "segment").empty()) return Error(res, 400, "explain needs segment=ID");
    bool has_at = false;
    int64_t at = 0;
    if (!AtParam(params, res, &has_at, &at)) return;
    const std::string user = req.matches[2];
    auto r = AskAudience(req.matches[1], [&](wire::AudienceQuery::Builder q) {
      q.setKind(wire::AudienceQueryKind::EXPLAIN);
      q.setUser(user);
      q.setSegment(Param(params, "segment"));
      q.setHasAt(has_at);
      q.setAt(at);
    });
    if (AudienceFailed(r, res)) return;
    json report = json::parse(std::string(AnswerOf(r).getExplainJson().cStr()), nullptr, false);
    if (report.is_discarded()) return Error(res, 409, "the worker's explanation is not JSON");
    Reply(res, 200, report);
  });

  // Not in §12's table: what `segflow health --json --hours N` prints, for the dashboard's
  // entries and exits per hour.
  srv.Get(
      R"(/v1/jobs/([^/]+)/health)", [this](const httplib::Request& req, httplib::Response& res) {
        const httplib::Params params = QueryOf(req);
        if (!CheckParams(params, res, {"hours"})) return;
        unsigned long hours = 24;
        if (params.count("hours")) {
          const std::string h = Param(params, "hours");
          char* end = nullptr;
          hours = std::strtoul(h.c_str(), &end, 10);
          if (h.empty() || *end != '\0' || hours == 0 || hours > 10000)
            return Error(res, 400, "parameter hours=\"" + h + "\": expected 1..10000");
        }
        auto r = AskAudience(req.matches[1], [&](wire::AudienceQuery::Builder q) {
          q.setKind(wire::AudienceQueryKind::HEALTH);
          q.setHours(static_cast<uint32_t>(hours));
        });
        if (AudienceFailed(r, res)) return;
        json report = json::parse(std::string(AnswerOf(r).getHealthJson().cStr()), nullptr, false);
        if (report.is_discarded()) return Error(res, 409, "the worker's health report is not JSON");
        Reply(res, 200, report);
      });

  int port = where.port;
  if (port == 0) {
    port = srv.bind_to_any_port(where.host);
    if (port < 0) port = 0;
  } else if (!srv.bind_to_port(where.host, port)) {
    port = 0;
  }
  if (port == 0) {
    return Status::IOError("--http " + where.ToString() +
                           ": cannot listen there (port in use or no such address)");
  }
  state->bound = {where.host, static_cast<uint16_t>(port)};
  state->thread = std::thread([s = state.get()] { s->server.listen_after_bind(); });
  http_ = std::move(state);
  return Status::OK();
}

void Coordinator::Impl::StopHttp() {
  if (!http_) return;
  http_->server.stop();
  if (http_->thread.joinable()) http_->thread.join();
}

}  // namespace segflow::coordinator
