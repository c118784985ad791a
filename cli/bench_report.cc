#include "cli/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace segflow::cli {
namespace {

std::string Fixed(double v, int digits) {
  if (!std::isfinite(v)) v = 0;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string XmlText(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> RatesOf(const ScalingResult& s, int workers, bool wall) {
  std::vector<double> v;
  for (const ScalingRun& r : s.runs) {
    if (r.workers == workers) v.push_back(wall ? r.wall_seconds : r.events_per_second());
  }
  return v;
}

std::string PointJson(const LatencyPoint& p) {
  std::ostringstream j;
  j << "{\"target_rate\":" << Fixed(p.target_rate, 0)
    << ",\"actual_rate\":" << Fixed(p.actual_rate, 0) << ",\"seconds\":" << Fixed(p.seconds, 3)
    << ",\"events\":" << p.events << ",\"job_records_in\":" << p.job_records_in
    << ",\"probes\":" << p.probes << ",\"seen\":" << p.seen << ",\"p50_ms\":" << Fixed(p.p50_ms, 2)
    << ",\"p90_ms\":" << Fixed(p.p90_ms, 2) << ",\"p99_ms\":" << Fixed(p.p99_ms, 2)
    << ",\"max_ms\":" << Fixed(p.max_ms, 2) << "}";
  return j.str();
}

std::string WorkersLabel(int w) {
  return w == 0 ? std::string("0 (in-process)") : std::to_string(w);
}

// --- SVG ------------------------------------------------------------------------------

struct Series {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;  // (x, y)
  std::vector<bool> hollow;                       // per point: drawn hollow (e.g. not sustained)
};

// 0, then 1/2/5 × 10^k steps: about `n` ticks from 0 to at least `max`.
double NiceStep(double max, int n) {
  if (!(max > 0)) return 1;
  const double raw = max / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10 * mag;
}

std::string Short(double v) {
  const double a = std::fabs(v);
  if (a >= 1e6) return Fixed(v / 1e6, a >= 1e7 ? 0 : 1) + "M";
  if (a >= 1e3) return Fixed(v / 1e3, a >= 1e4 ? 0 : 1) + "k";
  if (a == std::floor(a)) return Fixed(v, 0);
  return Fixed(v, 1);
}

constexpr int kPanelW = 460, kPanelH = 300;

// One chart at (ox, oy): linear axes from 0 (whole x ticks with `integer_x`), polylines
// with point markers, a legend.
void Panel(std::ostringstream& s, int ox, int oy, const std::string& title,
           const std::string& x_label, const std::string& y_label,
           const std::vector<Series>& series, bool integer_x = false) {
  const int left = 64, right = 16, top = 34, bottom = 46;
  const int w = kPanelW - left - right, h = kPanelH - top - bottom;
  double xmax = 0, ymax = 0;
  for (const Series& se : series) {
    for (auto [x, y] : se.points) {
      xmax = std::max(xmax, x);
      ymax = std::max(ymax, y);
    }
  }
  const double xstep = integer_x ? std::max(1.0, NiceStep(xmax, 5)) : NiceStep(xmax, 5),
               ystep = NiceStep(ymax, 5);
  const double xtop = std::max(xstep, std::ceil(xmax / xstep) * xstep);
  const double ytop = std::max(ystep, std::ceil(ymax / ystep) * ystep);
  auto px = [&](double x) { return ox + left + x / xtop * w; };
  auto py = [&](double y) { return oy + top + h - y / ytop * h; };
  s << "<g>\n<text x=\"" << ox + kPanelW / 2 << "\" y=\"" << oy + 20
    << "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" << XmlText(title)
    << "</text>\n";
  s << "<rect x=\"" << ox + left << "\" y=\"" << oy + top << "\" width=\"" << w << "\" height=\""
    << h << "\" fill=\"none\" stroke=\"#999\"/>\n";
  for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
    s << "<line x1=\"" << ox + left << "\" y1=\"" << Fixed(py(y), 1) << "\" x2=\"" << ox + left + w
      << "\" y2=\"" << Fixed(py(y), 1) << "\" stroke=\"#eee\"/>\n<text x=\"" << ox + left - 6
      << "\" y=\"" << Fixed(py(y) + 4, 1) << "\" text-anchor=\"end\" font-size=\"11\">" << Short(y)
      << "</text>\n";
  }
  for (double x = 0; x <= xtop + xstep / 2; x += xstep) {
    s << "<text x=\"" << Fixed(px(x), 1) << "\" y=\"" << oy + top + h + 16
      << "\" text-anchor=\"middle\" font-size=\"11\">" << Short(x) << "</text>\n";
  }
  s << "<text x=\"" << ox + left + w / 2 << "\" y=\"" << oy + kPanelH - 8
    << "\" text-anchor=\"middle\" font-size=\"12\">" << XmlText(x_label) << "</text>\n";
  s << "<text x=\"" << ox + 14 << "\" y=\"" << oy + top + h / 2
    << "\" text-anchor=\"middle\" font-size=\"12\""
    << " transform=\"rotate(-90 " << ox + 14 << " " << oy + top + h / 2 << ")\">"
    << XmlText(y_label) << "</text>\n";
  int legend_y = oy + top + 14;
  for (const Series& se : series) {
    if (se.points.empty()) continue;
    s << "<polyline fill=\"none\" stroke=\"" << se.color << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < se.points.size(); ++i) {
      s << (i ? " " : "") << Fixed(px(se.points[i].first), 1) << ","
        << Fixed(py(se.points[i].second), 1);
    }
    s << "\"/>\n";
    for (size_t i = 0; i < se.points.size(); ++i) {
      const bool hollow = i < se.hollow.size() && se.hollow[i];
      s << "<circle cx=\"" << Fixed(px(se.points[i].first), 1) << "\" cy=\""
        << Fixed(py(se.points[i].second), 1) << "\" r=\"3.5\" fill=\""
        << (hollow ? "white" : se.color) << "\" stroke=\"" << se.color << "\"/>\n";
    }
    s << "<text x=\"" << ox + left + 10 << "\" y=\"" << legend_y << "\" font-size=\"11\" fill=\""
      << se.color << "\">" << XmlText(se.name) << "</text>\n";
    legend_y += 14;
  }
  s << "</g>\n";
}

}  // namespace

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[(v.size() - 1) / 2];
}

double SustainResult::max_sustained_rate() const {
  double best = 0;
  for (const SustainStep& s : steps) {
    if (s.sustained) best = std::max(best, s.point.target_rate);
  }
  return best;
}

bool SustainResult::limit_found() const {
  return std::any_of(steps.begin(), steps.end(), [](const SustainStep& s) { return !s.sustained; });
}

std::string BenchJson(const BenchResults& r) {
  std::ostringstream j;
  j << "{\"cluster\":" << JsonString(r.cluster) << ",\"live_workers\":" << r.live_workers
    << ",\"machine\":{\"cpus\":" << r.cpus << ",\"cpu_model\":" << JsonString(r.cpu_model) << "}";
  if (r.scaling) {
    const ScalingResult& s = *r.scaling;
    j << ",\"scaling\":{\"job\":" << JsonString(s.job)
      << ",\"measure\":\"bounded replay\",\"runs\":[";
    for (size_t i = 0; i < s.runs.size(); ++i) {
      const ScalingRun& x = s.runs[i];
      j << (i ? "," : "") << "{\"workers\":" << x.workers << ",\"run\":" << x.run
        << ",\"records\":" << x.records << ",\"late\":" << x.late << ",\"entered\":" << x.entered
        << ",\"exited\":" << x.exited << ",\"seconds\":" << Fixed(x.seconds, 3)
        << ",\"wall_seconds\":" << Fixed(x.wall_seconds, 3)
        << ",\"events_per_second\":" << Fixed(x.events_per_second(), 0) << "}";
    }
    j << "],\"summary\":[";
    const double base = s.workers.empty() ? 0 : Median(RatesOf(s, s.workers.front(), false));
    for (size_t i = 0; i < s.workers.size(); ++i) {
      const double m = Median(RatesOf(s, s.workers[i], false));
      j << (i ? "," : "") << "{\"workers\":" << s.workers[i]
        << ",\"median_events_per_second\":" << Fixed(m, 0)
        << ",\"median_wall_seconds\":" << Fixed(Median(RatesOf(s, s.workers[i], true)), 3)
        << ",\"ratio_to_first\":" << Fixed(base > 0 ? m / base : 0, 3) << "}";
    }
    j << "]}";
  }
  if (r.latency) {
    j << ",\"latency\":{\"seconds_per_rate\":" << Fixed(r.live_seconds, 1) << ",\"points\":[";
    for (size_t i = 0; i < r.latency->size(); ++i)
      j << (i ? "," : "") << PointJson((*r.latency)[i]);
    j << "]}";
  }
  if (r.sustain) {
    j << ",\"sustain\":{\"max_latency_ms\":" << Fixed(r.sustain->max_latency_ms, 0)
      << ",\"max_sustained_rate\":" << Fixed(r.sustain->max_sustained_rate(), 0)
      << ",\"limit_found\":" << (r.sustain->limit_found() ? "true" : "false") << ",\"steps\":[";
    for (size_t i = 0; i < r.sustain->steps.size(); ++i) {
      const SustainStep& s = r.sustain->steps[i];
      j << (i ? "," : "") << "{\"sustained\":" << (s.sustained ? "true" : "false")
        << ",\"why_not\":" << JsonString(s.why_not) << ",\"point\":" << PointJson(s.point) << "}";
    }
    j << "]}";
  }
  if (r.checkpoint) {
    const CheckpointResult& c = *r.checkpoint;
    std::vector<double> d, b;
    for (const CheckpointSample& x : c.samples) {
      d.push_back(static_cast<double>(x.duration_ms));
      b.push_back(static_cast<double>(x.bytes));
    }
    j << ",\"checkpoint\":{\"interval_ms\":" << c.interval_ms
      << ",\"background_users\":" << c.background_users << ",\"completed\":" << c.completed
      << ",\"abandoned\":" << c.abandoned << ",\"median_duration_ms\":" << Fixed(Median(d), 0)
      << ",\"max_duration_ms\":" << Fixed(d.empty() ? 0 : *std::max_element(d.begin(), d.end()), 0)
      << ",\"median_bytes\":" << Fixed(Median(b), 0) << ",\"checkpoints\":[";
    for (size_t i = 0; i < c.samples.size(); ++i) {
      j << (i ? "," : "") << "{\"id\":" << c.samples[i].id
        << ",\"duration_ms\":" << c.samples[i].duration_ms << ",\"bytes\":" << c.samples[i].bytes
        << "}";
    }
    j << "],\"committed_latency\":" << PointJson(c.committed_latency) << "}";
  }
  if (r.recovery) {
    const RecoveryResult& x = *r.recovery;
    j << ",\"recovery\":{\"interval_ms\":" << x.interval_ms
      << ",\"kill_after_seconds\":" << Fixed(x.kill_after_seconds, 1)
      << ",\"killed_worker\":" << x.killed_worker
      << ",\"restart_seconds\":" << Fixed(x.restart_seconds, 3)
      << ",\"caught_up_seconds\":" << Fixed(x.caught_up_seconds, 3) << ",\"attempt\":" << x.attempt
      << ",\"restored_from\":" << JsonString(x.restored_from)
      << ",\"latency\":" << PointJson(x.latency) << "}";
  }
  j << "}\n";
  return j.str();
}

std::string BenchMarkdown(const BenchResults& r) {
  std::ostringstream m;
  m << "# segflow bench\n\nCluster: " << r.cluster;
  if (r.live_workers > 0) m << " (" << r.live_workers << " worker processes for the live modes)";
  m << "; machine: " << r.cpus << " CPUs, " << (r.cpu_model.empty() ? "unknown CPU" : r.cpu_model)
    << "\n";
  auto latency_row = [&](const LatencyPoint& p) {
    m << "| " << Fixed(p.target_rate, 0) << " | " << Fixed(p.actual_rate, 0) << " | " << p.seen
      << "/" << p.probes << " | " << Fixed(p.p50_ms, 1) << " | " << Fixed(p.p90_ms, 1) << " | "
      << Fixed(p.p99_ms, 1) << " | " << Fixed(p.max_ms, 1) << " |";
  };
  const char* latency_head =
      "| target events/s | achieved events/s | probes seen | p50 ms | p90 ms | p99 ms | max ms |";
  if (r.scaling && !r.scaling->runs.empty()) {
    const ScalingResult& s = *r.scaling;
    const ScalingRun& f = s.runs.front();
    m << "\n## Scaling: bounded replay of job " << s.job << "\n\n"
      << f.records << " records, " << f.late << " late; changelog " << f.entered << " entered, "
      << f.exited << " exited (the same in every run)\n\n"
      << "| workers | events/s per run | median events/s | ratio to first | median wall s "
         "|\n|---|---|---|---|---|\n";
    const double base = Median(RatesOf(s, s.workers.front(), false));
    for (int w : s.workers) {
      std::string per_run;
      for (double v : RatesOf(s, w, false)) per_run += (per_run.empty() ? "" : ", ") + Fixed(v, 0);
      const double med = Median(RatesOf(s, w, false));
      m << "| " << WorkersLabel(w) << " | " << per_run << " | " << Fixed(med, 0) << " | "
        << Fixed(base > 0 ? med / base : 0, 2) << " | " << Fixed(Median(RatesOf(s, w, true)), 2)
        << " |\n";
    }
  }
  if (r.sustain) {
    m << "\n## Sustainable throughput (p99 append → committed record ≤ "
      << Fixed(r.sustain->max_latency_ms, 0) << " ms, every probe seen, rate achieved)\n\n";
    const double best = r.sustain->max_sustained_rate();
    m << "Maximum sustained: "
      << (best > 0 ? Fixed(best, 0) + " events/s" : std::string("none of the rates tried"))
      << (best > 0 && !r.sustain->limit_found()
              ? " (every rate tried was sustained: a lower bound; raise --sustain-steps)"
              : "")
      << "\n\n"
      << latency_head << " sustained |\n|---|---|---|---|---|---|---|---|\n";
    for (const SustainStep& s : r.sustain->steps) {
      latency_row(s.point);
      m << " " << (s.sustained ? "yes" : "no: " + s.why_not) << " |\n";
    }
  }
  if (r.latency) {
    m << "\n## Latency: append → committed changelog record (" << Short(r.live_seconds)
      << " s per rate)\n\n"
      << latency_head << "\n|---|---|---|---|---|---|---|\n";
    for (const LatencyPoint& p : *r.latency) {
      latency_row(p);
      m << "\n";
    }
  }
  if (r.checkpoint) {
    const CheckpointResult& c = *r.checkpoint;
    std::vector<double> d, b;
    for (const CheckpointSample& x : c.samples) {
      d.push_back(static_cast<double>(x.duration_ms));
      b.push_back(static_cast<double>(x.bytes));
    }
    m << "\n## Checkpoints (interval " << c.interval_ms << " ms, live at "
      << Fixed(c.committed_latency.target_rate, 0) << " events/s over " << c.background_users
      << " users)\n\n"
      << "| completed | abandoned | median duration ms | max duration ms | median size bytes | "
         "committed p50 ms | "
         "committed p99 ms |\n|---|---|---|---|---|---|---|\n"
      << "| " << c.completed << " | " << c.abandoned << " | " << Fixed(Median(d), 0) << " | "
      << Fixed(d.empty() ? 0 : *std::max_element(d.begin(), d.end()), 0) << " | "
      << Fixed(Median(b), 0) << " | " << Fixed(c.committed_latency.p50_ms, 1) << " | "
      << Fixed(c.committed_latency.p99_ms, 1) << " |\n";
  }
  if (r.recovery) {
    const RecoveryResult& x = *r.recovery;
    m << "\n## Recovery after SIGKILL of worker " << x.killed_worker << " (checkpoint interval "
      << x.interval_ms << " ms, live at " << Fixed(x.latency.target_rate, 0)
      << " events/s, killed after " << Fixed(x.kill_after_seconds, 1) << " s)\n\n"
      << "| running again s | committed output caught up s | attempt | max latency ms (outage "
         "included) |\n"
      << "|---|---|---|---|\n| " << Fixed(x.restart_seconds, 2) << " | "
      << Fixed(x.caught_up_seconds, 2) << " | " << x.attempt << " | " << Fixed(x.latency.max_ms, 0)
      << " |\n";
  }
  return m.str();
}

std::string BenchSvg(const BenchResults& r) {
  std::vector<std::string> titles;
  std::ostringstream body;
  int panels = 0;
  auto origin = [&](int i) {
    return std::pair<int, int>{(i % 2) * kPanelW, (i / 2) * kPanelH + 30};
  };
  if (r.scaling && !r.scaling->runs.empty()) {
    Series s{"median events/s", "#1f77b4", {}, {}};
    for (int w : r.scaling->workers) s.points.push_back({w, Median(RatesOf(*r.scaling, w, false))});
    auto [x, y] = origin(panels++);
    Panel(body, x, y, "Replay throughput vs workers", "workers (0: in-process)", "events/s", {s},
          true);
  }
  if (r.latency && !r.latency->empty()) {
    Series p50{"p50", "#2ca02c", {}, {}}, p90{"p90", "#ff7f0e", {}, {}},
        p99{"p99", "#d62728", {}, {}};
    for (const LatencyPoint& p : *r.latency) {
      p50.points.push_back({p.target_rate, p.p50_ms});
      p90.points.push_back({p.target_rate, p.p90_ms});
      p99.points.push_back({p.target_rate, p.p99_ms});
    }
    auto [x, y] = origin(panels++);
    Panel(body, x, y, "Latency percentiles vs rate", "events/s", "ms, append → committed",
          {p50, p90, p99});
  }
  if (r.sustain && !r.sustain->steps.empty()) {
    std::vector<SustainStep> steps = r.sustain->steps;
    std::sort(steps.begin(), steps.end(), [](const SustainStep& a, const SustainStep& b) {
      return a.point.target_rate < b.point.target_rate;
    });
    Series s{"p99 (hollow: not sustained)", "#9467bd", {}, {}};
    for (const SustainStep& st : steps) {
      s.points.push_back({st.point.target_rate, st.point.p99_ms});
      s.hollow.push_back(!st.sustained);
    }
    auto [x, y] = origin(panels++);
    Panel(body, x, y, "Sustainable throughput search", "target events/s", "p99 ms", {s});
  }
  if (r.checkpoint && !r.checkpoint->samples.empty()) {
    Series s{"duration ms", "#8c564b", {}, {}};
    for (const CheckpointSample& c : r.checkpoint->samples) {
      s.points.push_back({static_cast<double>(c.id), static_cast<double>(c.duration_ms)});
    }
    auto [x, y] = origin(panels++);
    Panel(body, x, y, "Checkpoint duration", "checkpoint id", "ms", {s}, true);
  }
  std::string caption = "segflow bench, cluster " + r.cluster;
  if (r.recovery) {
    caption += "; recovery after SIGKILL: running again in " +
               Fixed(r.recovery->restart_seconds, 2) + " s, committed output caught up in " +
               Fixed(r.recovery->caught_up_seconds, 2) + " s";
  }
  const int cols = panels >= 2 ? 2 : 1;
  const int rows = std::max(1, (panels + 1) / 2);
  const int width = cols * kPanelW, height = rows * kPanelH + 30;
  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
       "width=\""
    << width << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height
    << "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" "
       "fill=\"white\"/>\n<text x=\"10\" y=\"20\" "
       "font-size=\"12\">"
    << XmlText(caption) << "</text>\n";
  if (panels == 0) {
    s << "<text x=\"10\" y=\"60\" font-size=\"12\">no mode with a curve was run</text>\n";
  }
  s << body.str() << "</svg>\n";
  return s.str();
}

}  // namespace segflow::cli
