// The status page: asks /graphql every 5 s with the read token (from #token=... once,
// then this tab's sessionStorage) and renders what it gets; a field whose source did
// not answer shows the gateway's error instead.
"use strict";

const QUERY = `{
  cluster { leader source members { name role state timeline lagBytes replayLagSeconds status } }
  alerts { name severity instance summary startsAt }
  stats { received uniqueProcessed duplicateDropped topics }
  ingestRate
  frontDoor { vip balancers { name up holdsVip primaryServers } }
  lastFailover { timeline at reason newLeader }
  backups { archivingStatus lastArchivedAgeSeconds backupStatus newestFullAgeSeconds newestAgeSeconds }
}`;
const CLASS = { LEADER: "ok", HEALTHY: "ok", OK: "ok", WARNING: "warn", CRITICAL: "bad", "NOT STREAMING": "bad", OFF: "warn" };

function token() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("pgha-read-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
  return sessionStorage.getItem("pgha-read-token");
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? "–"));
  return node;
}

function badge(status) {
  return el("span", { class: `status ${CLASS[status] || "warn"}` }, status);
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

function list(id, pairs) {
  document.getElementById(id).replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function unavailable(errors, field) {
  const e = (errors || []).find((x) => x.path && x.path[0] === field);
  return e ? `unavailable: ${e.message}` : null;
}

function render({ data, errors }) {
  data = data || {};
  const rows = document.querySelector("#members tbody");
  const cluster = data.cluster;
  rows.replaceChildren(...(cluster ? cluster.members : []).map((m) =>
    el("tr", { "data-member": m.name, "data-role": m.role, "data-status": m.status },
      el("td", {}, m.name), el("td", {}, m.role), el("td", {}, m.state), el("td", {}, m.timeline),
      el("td", {}, m.role === "leader" ? "–" : bytes(m.lagBytes)),
      el("td", {}, m.replayLagSeconds === null ? "–" : `${m.replayLagSeconds.toFixed(2)} s`),
      el("td", {}, badge(m.status)))));
  if (!cluster) rows.append(el("tr", {}, el("td", { colspan: 7, class: "bad" }, unavailable(errors, "cluster"))));
  document.body.dataset.leader = cluster ? cluster.leader || "" : "";

  const alerts = document.getElementById("alerts");
  if (data.alerts) {
    alerts.replaceChildren(...(data.alerts.length ? data.alerts.map((a) =>
      el("li", { "data-alert": a.name }, badge(a.severity === "critical" ? "CRITICAL" : "WARNING"), " ",
        `${a.name}: ${a.summary || ""} (since ${new Date(a.startsAt).toLocaleTimeString()})`))
      : [el("li", {}, badge("OK"), " nothing firing")]));
  } else {
    alerts.replaceChildren(el("li", { class: "bad" }, unavailable(errors, "alerts")));
  }

  const s = data.stats;
  list("ingest", [
    ["rate", data.ingestRate === null || data.ingestRate === undefined ? unavailable(errors, "ingestRate") : `${data.ingestRate} events/s`],
    ["received", s ? s.received : unavailable(errors, "stats")],
    ["stored", s ? s.uniqueProcessed : "–"],
    ["duplicates dropped", s ? s.duplicateDropped : "–"],
    ["topics", s ? s.topics.length : "–"],
  ]);

  const door = data.frontDoor;
  list("front-door", door ? [["VIP", door.vip || "none"], ...door.balancers.map((b) =>
    [b.name, `${b.up ? "HAProxy up" : "HAProxy DOWN"}, ${b.primaryServers ?? "?"} primary${b.holdsVip ? ", holds the VIP" : ""}`])]
    : [["state", unavailable(errors, "frontDoor")]]);

  const f = data.lastFailover;
  list("failover", f ? [["when", new Date(f.at).toLocaleString()], ["new leader", f.newLeader], ["reason", f.reason], ["timeline ended", f.timeline]]
    : [["", unavailable(errors, "lastFailover") || "none yet"]]);

  const b = data.backups;
  list("backups", b ? [["WAL archiving", badge(b.archivingStatus)], ["last archived", age(b.lastArchivedAgeSeconds)],
    ["backups", b.backupStatus ? badge(b.backupStatus) : "no repository"], ["newest", age(b.newestAgeSeconds)], ["newest full", age(b.newestFullAgeSeconds)]]
    : [["state", unavailable(errors, "backups")]]);

  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.loaded = "1";
}

async function refresh() {
  const error = document.getElementById("error");
  const t = token();
  if (!t) { document.getElementById("token-form").hidden = false; return; }
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${t}` },
      body: JSON.stringify({ query: QUERY }),
    });
    const body = await response.json();
    if (response.status === 401) {  // a wrong or rotated token: ask again
      sessionStorage.removeItem("pgha-read-token");
      document.getElementById("token-form").hidden = false;
    }
    if (!response.ok) throw new Error(body.message || response.statusText);
    error.hidden = true;
    render(body);
  } catch (exc) {
    error.textContent = `cannot read /graphql: ${exc.message}`;
    error.hidden = false;
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("pgha-read-token", document.getElementById("token").value);
  document.getElementById("token-form").hidden = true;
  refresh();
});
refresh();
setInterval(refresh, 5000);
