#include "gateway/app/status_page.hpp"

namespace gw::app {

namespace {

constexpr std::string_view page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mqtt-coap-gateway</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em 0; }
#summary { margin-bottom: 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #ddd; font-size: .9em; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: 600; padding: .1em .5em; border-radius: .3em; }
.s-ready, .s-renewing { background: #c8f0c8; color: #135c13; }
.s-connecting, .s-handshaking, .s-authenticating, .s-idle { background: #fff2b3; color: #6b5400; }
.s-backing_off { background: #ffd9a8; color: #7a3e00; }
.s-failed, .s-stopped { background: #f7c1c1; color: #8a1010; }
.bad { color: #8a1010; }
#error { color: #8a1010; }
</style>
</head>
<body>
<h1>mqtt-coap-gateway</h1>
<div id="summary">loading&hellip;</div>
<div id="error"></div>
<table>
<thead><tr><th>device</th><th>mode</th><th>state</th><th>queue</th><th>oldest</th><th>sent</th><th>acked</th>
<th>failed</th><th>token age</th><th>last error</th></tr></thead>
<tbody id="rows"></tbody>
</table>
<script>
"use strict";
function age(s) {
  if (s === null || s === undefined) return "\u2013";
  if (s < 90) return s.toFixed(0) + " s";
  if (s < 5400) return (s / 60).toFixed(0) + " min";
  if (s < 172800) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}
function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}
function render(data) {
  const g = data.gateway;
  document.getElementById("summary").textContent =
    (g.ready ? "ready" : "not ready") + " \u2014 broker " + (g.mqtt_connected ? "connected" : "disconnected") +
    ", devices ready " + g.devices_ready + "/" + g.devices_total + ", queued " + g.queue.depth +
    ", delivered " + g.delivered + ", dead-lettered " + g.dead_lettered + ", version " + g.version;
  const body = document.getElementById("rows");
  const rows = [];
  for (const d of data.devices) {
    const tr = document.createElement("tr");
    tr.dataset.device = d.id;
    tr.dataset.state = d.state;
    cell(tr, d.id);
    cell(tr, d.mode);
    const st = cell(tr, "");
    const span = document.createElement("span");
    span.className = "state s-" + d.state;
    span.textContent = d.state;
    st.appendChild(span);
    cell(tr, String(d.queue.depth), "num");
    cell(tr, age(d.queue.oldest_age_s), "num");
    cell(tr, String(d.messages.sent), "num");
    cell(tr, String(d.messages.acked), "num");
    cell(tr, String(d.messages.failed), "num" + (d.messages.failed > 0 ? " bad" : ""));
    cell(tr, age(d.token_age_s), "num");
    const e = d.last_error;
    cell(tr, e && e.text ? e.text + " (" + age(e.age_s) + " ago)" : "", e && e.text ? "bad" : "");
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  document.body.dataset.loaded = "1";
}
async function refresh() {
  try {
    const r = await fetch("devices", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot read /devices: " + e.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace

std::string_view status_page_html() noexcept {
  return page;
}

}  // namespace gw::app
