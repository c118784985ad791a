// The dashboard page served at GET / (integrations §12): self-contained HTML, CSS and
// script with no request to any other host. It holds no data: it asks for the API token
// (kept in the tab's sessionStorage) and then polls /v1 with it.
#pragma once

#include <string_view>

namespace segflow::coordinator {

inline constexpr std::string_view kDashboardHtml = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Segflow</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em 2em;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:1.5em}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}tr.sel{background:#eef4ff}tr.job{cursor:pointer}
.err{color:#b00}.muted{color:#777}canvas{border:1px solid #ddd}
</style></head><body>
<h1>Segflow</h1>
<form id="auth">API token (empty if the server has none):
<input id="token" type="password" size="40"> <button>Use</button> <span id="status" class="muted"></span></form>
<h2>Jobs</h2><table id="jobs"><thead><tr><th>id</th><th>name</th><th>state</th><th>bounded</th><th>attempt</th><th>records in</th><th>reason</th></tr></thead><tbody></tbody></table>
<div id="detail" hidden>
<h2 id="dtitle"></h2><div id="dfacts"></div>
<h3>Tasks</h3><table id="tasks"><thead><tr><th>task</th><th>worker</th><th>records in</th><th>records out</th><th>late</th><th>watermark</th><th>backpressure</th></tr></thead><tbody></tbody></table>
<h3>Records in over time</h3><canvas id="chart" width="640" height="160"></canvas>
<h3>Checkpoints</h3><div id="chk"></div>
<canvas id="chkchart" width="640" height="100"></canvas>
<table id="chkhist"><thead><tr><th>checkpoint</th><th>triggered</th><th>duration</th><th>size</th><th>result</th></tr></thead><tbody></tbody></table>
<h3>Segments</h3><table id="segs"><thead><tr><th>segment</th><th>version</th><th>members</th><th>evaluated through</th><th>last diff</th></tr></thead><tbody></tbody></table>
<h3>Population per event-time hour (last 24 h through the evaluated time)</h3>
<canvas id="segchart" width="640" height="160"></canvas><div id="segerr" class="muted"></div>
<table id="hourly"><thead><tr><th>segment</th><th>entries (24 h)</th><th>exits (24 h)</th><th>last hour</th><th>change latency p50 / p99</th></tr></thead><tbody></tbody></table>
<h3>User lookup</h3>
<form id="user">user <input id="uid" size="20"> segment (for explain) <input id="useg" size="16"> <button>Look up</button></form>
<pre id="uout"></pre>
</div>
<script>
"use strict";
let token = sessionStorage.getItem("segflow-token") || "";
let selected = null; const history = {}; const segHistory = {}; const lastHealth = {};
document.getElementById("token").value = token;
const $ = (id) => document.getElementById(id);
async function api(path) {
  const headers = token ? {"Authorization": "Bearer " + token} : {};
  const r = await fetch(path, {headers});
  const body = await r.json().catch(() => ({error: "not JSON (" + r.status + ")"}));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}
function cell(tr, text) { const td = document.createElement("td"); td.textContent = text == null ? "" : String(text); tr.appendChild(td); }
function time(ms) { return ms == null ? "none" : new Date(ms).toISOString(); }
function dur(ms) { return ms == null ? "-" : "<= " + (ms >= 864e5 ? (ms / 864e5).toFixed(1) + " d" : ms >= 36e5 ? (ms / 36e5).toFixed(1) + " h" : ms >= 1e4 ? (ms / 1e3).toFixed(1) + " s" : ms + " ms"); }
function secs(ns) { return (ns / 1e9).toFixed(1) + " s"; }
function draw(canvas, series) {
  const c = canvas.getContext("2d"); c.clearRect(0, 0, canvas.width, canvas.height);
  let max = 1, n = 0;
  for (const s of Object.values(series)) { n = Math.max(n, s.length); for (const v of s) max = Math.max(max, v); }
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]; let i = 0;
  for (const [name, s] of Object.entries(series)) {
    c.strokeStyle = colors[i % colors.length]; c.fillStyle = c.strokeStyle; c.beginPath();
    s.forEach((v, k) => { const x = n < 2 ? 0 : k * (canvas.width - 4) / (n - 1) + 2; const y = canvas.height - 4 - v * (canvas.height - 20) / max;
      if (k === 0) c.moveTo(x, y); else c.lineTo(x, y); });
    c.stroke(); c.fillText(name + " " + (s.length ? s[s.length - 1] : ""), 6, 12 + 12 * i); i++;
  }
  canvas.dataset.series = Object.keys(series).join(","); canvas.dataset.points = String(n);
}
async function refresh() {
  try {
    const jobs = await api("/v1/jobs");
    $("status").textContent = "updated " + new Date().toLocaleTimeString(); $("status").className = "muted";
    const body = $("jobs").tBodies[0]; body.replaceChildren();
    for (const j of jobs) {
      const tr = document.createElement("tr"); tr.className = "job" + (j.id === selected ? " sel" : "");
      for (const k of ["id", "name", "state", "bounded", "attempt", "records_in", "reason"]) cell(tr, j[k]);
      tr.onclick = () => { selected = j.id; refresh(); }; body.appendChild(tr);
    }
    // The job named in the address (#job=ID), else the first: something to look at at once.
    const wanted = new URLSearchParams(location.hash.slice(1)).get("job");
    if (!selected && jobs.length) { selected = jobs.some((j) => j.id === wanted) ? wanted : jobs[0].id; return refresh(); }
    if (selected) await refreshJob(selected);
  } catch (e) { $("status").textContent = e.message; $("status").className = "err"; }
}
async function refreshJob(id) {
  const j = await api("/v1/jobs/" + encodeURIComponent(id));
  $("detail").hidden = false; $("dtitle").textContent = "Job " + j.id + " (" + j.name + "): " + (j.state || j.phase);
  $("dfacts").textContent = "attempt " + j.attempt + ", " + j.restarts + " restart(s), records in " + j.records_in +
    ", late " + j.late_records + ", evaluated through " + time(j.evaluated_through) + (j.last_failure ? ", last failure: " + j.last_failure : "");
  const body = $("tasks").tBodies[0]; body.replaceChildren();
  for (const t of j.tasks || []) {
    const tr = document.createElement("tr");
    [t.task, t.worker + " " + t.worker_address, t.records_in, t.records_out, t.late_records, time(t.watermark), secs(t.blocked_ns)].forEach((v) => cell(tr, v));
    body.appendChild(tr);
  }
  const h = history[id] || (history[id] = []); h.push(j.records_in); if (h.length > 120) h.shift();
  draw($("chart"), {"records in": h});
  const c = j.checkpoints || {};
  $("chk").textContent = c.enabled ? (c.completed + " completed, " + c.abandoned + " failed" +
    (c.last ? "; last " + c.last.id + " in " + c.last.duration_ms + " ms, " + c.last.bytes + " bytes" : "") +
    (c.last_savepoint ? "; last savepoint " + c.last_savepoint : "")) : "not enabled";
  // The coordinator's last 100 checkpoints: durations as a chart, the latest 10 as rows.
  const ch = c.history || [];
  draw($("chkchart"), {"checkpoint duration (ms)": ch.map((r) => r.duration_ms)});
  const cb = $("chkhist").tBodies[0]; cb.replaceChildren();
  for (const r of ch.slice(-10).reverse()) {
    const tr = document.createElement("tr"); tr.className = r.result === "failed" ? "err" : "";
    [r.id + (r.savepoint ? " (savepoint)" : ""), time(r.triggered_at), r.duration_ms + " ms", r.bytes + " bytes",
     r.result + (r.error ? ": " + r.error : "")].forEach((v) => cell(tr, v));
    cb.appendChild(tr);
  }
  try {
    const segs = await api("/v1/jobs/" + encodeURIComponent(id) + "/segments");
    const sb = $("segs").tBodies[0]; sb.replaceChildren(); const hs = segHistory[id] || (segHistory[id] = {});
    for (const s of segs) {
      // The last `segflow diff` that compared this job's store (kept in the store).
      const d = s.last_diff;
      const diff = d ? d.divergence_pct.toFixed(2) + "% vs " + d.compared_with + " (" + d.only_here + " only here, " + d.only_there + " only there) at " + time(d.at) + (d.diverged ? " DIVERGED" : "") : "none";
      const tr = document.createElement("tr"); [s.segment, s.version, s.members, time(s.evaluated_through), diff].forEach((v) => cell(tr, v)); sb.appendChild(tr);
    }
    // Health reads the changelog: asked every 10 s, not at every refresh.
    if (!lastHealth[id] || Date.now() - lastHealth[id].t > 10000) lastHealth[id] = {t: Date.now(), h: await api("/v1/jobs/" + encodeURIComponent(id) + "/health?hours=24")};
    const hb = $("hourly").tBodies[0]; hb.replaceChildren();
    for (const s of lastHealth[id].h.segments) {
      // Population at the end of each hour, walked back from the current one.
      const pop = new Array(s.hourly.length); let p = s.population;
      for (let k = s.hourly.length - 1; k >= 0; k--) { pop[k] = p; p -= s.hourly[k].entries - s.hourly[k].exits; }
      hs[s.segment] = pop;
      const e = s.hourly.reduce((n, x) => n + x.entries, 0), x = s.hourly.reduce((n, y) => n + y.exits, 0), last = s.hourly[s.hourly.length - 1] || {entries: 0, exits: 0};
      const tr = document.createElement("tr");
      [s.segment, e, x, "+" + last.entries + " / -" + last.exits, dur(s.latency_p50_ms) + " / " + dur(s.latency_p99_ms)].forEach((v) => cell(tr, v));
      hb.appendChild(tr);
    }
    draw($("segchart"), hs); $("segerr").textContent = "";
  } catch (e) { $("segerr").textContent = "segments: " + e.message; }
}
$("auth").onsubmit = (e) => { e.preventDefault(); token = $("token").value.trim(); sessionStorage.setItem("segflow-token", token); refresh(); };
$("user").onsubmit = async (e) => {
  e.preventDefault(); if (!selected) return;
  const base = "/v1/jobs/" + encodeURIComponent(selected) + "/users/" + encodeURIComponent($("uid").value.trim());
  try {
    const out = [await api(base)];
    if ($("useg").value.trim()) out.push(await api(base + "/explain?segment=" + encodeURIComponent($("useg").value.trim())));
    $("uout").textContent = out.map((o) => JSON.stringify(o, null, 2)).join("\n");
  } catch (err) { $("uout").textContent = err.message; }
};
refresh(); setInterval(refresh, 2000);
</script></body></html>
)HTML";

}  // namespace segflow::coordinator
