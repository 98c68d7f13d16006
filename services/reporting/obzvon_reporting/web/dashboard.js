// Obzvon dashboard: reads the reporting service's JSON with the tenant's API key; draws SVG by hand.
"use strict";

const KEY = "obzvon-api-key";
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const num = (v) => Number(v || 0);
let current = null;
let timer = null;
let nextToken = "";

function el(tag, attrs = {}, text = "") {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== "") e.textContent = text;
  return e;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

async function api(path) {
  const response = await fetch(path, { headers: { "x-api-key": sessionStorage.getItem(KEY) || "" } });
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(KEY);
    showLoggedIn();
    throw new Error("The API key was refused: " + (await response.text()));
  }
  if (!response.ok) throw new Error(path + ": " + response.status + " " + (await response.text()));
  return response.json();
}

function showLoggedIn() {
  const has = !!sessionStorage.getItem(KEY);
  $("login").hidden = has;
  $("logout").hidden = !has;
}

async function loadCampaigns() {
  const nav = $("campaigns");
  nav.replaceChildren();
  const { campaigns } = await api("/api/campaigns");
  for (const c of campaigns) {
    const a = el("a", { href: "#" + encodeURIComponent(c.id), "data-campaign": c.id }, c.displayName || c.id);
    nav.append(a);
  }
  if (!campaigns.length) nav.append(el("p", {}, "No campaigns yet."));
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted) openCampaign(wanted);
}

function openCampaign(id) {
  current = id;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.dataset.campaign === id);
  $("campaign").hidden = false;
  $("campaign-title").textContent = id;
  $("call").hidden = true;
  clearInterval(timer);
  refresh();
  timer = setInterval(refresh, 2000); // the report view changes with every counted event
  loadCalls(true);
}

async function refresh() {
  if (!current) return;
  try {
    renderReport(await api("/api/campaigns/" + encodeURIComponent(current) + "/report"));
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

const TILES = [
  ["contacts", "contacts"], ["attempts", "attempts"], ["answered", "answered"], ["completed", "completed"],
  ["failed", "failed"], ["blocked", "blocked"], ["optedOut", "opted out"], ["yes", "yes"], ["no", "no"],
  ["programErrors", "program errors"],
];

function renderReport(r) {
  const contacts = num(r.contacts);
  const done = Math.max(contacts - num(r.contactsWaiting), 0);
  const share = contacts ? done / contacts : 0;
  $("progress-bar").style.width = (share * 100).toFixed(1) + "%";
  $("progress-text").textContent = `${done} of ${contacts} contacts called or in progress (${Math.round(share * 100)}%)`;
  const tiles = $("totals");
  tiles.replaceChildren();
  for (const [field, label] of TILES) {
    const t = el("div", { class: "tile", "data-metric": field });
    t.append(el("b", {}, String(num(r[field]))), el("span", {}, label));
    tiles.append(t);
  }
  const outcomes = Object.entries(r.outcomeCounts || {}).map(([k, v]) => ({
    label: k.replace("CALL_OUTCOME_", "").toLowerCase().replaceAll("_", " "), value: num(v), key: k,
  }));
  bars($("chart-outcomes"), outcomes, "#2d6cdf");
  bars($("chart-tags"), Object.entries(r.tags || {}).map(([k, v]) => ({ label: k, value: num(v) })), "#1c9c6b");
  funnel($("chart-funnel"), r.funnel || []);
  durations($("chart-durations"), r.ring || {}, r.talk || {});
  const select = $("f-outcome");
  for (const o of outcomes) {
    if (![...select.options].some((opt) => opt.value === o.key)) select.append(el("option", { value: o.key }, o.label));
  }
}

function bars(svg, rows, color) {
  const width = 420, row = 22, left = 130;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(rows.length, 1) * row + 6}`);
  if (!rows.length) { svg.append(el("svg:text", { x: 4, y: 16 }, "nothing yet")); return; }
  const max = Math.max(...rows.map((r) => r.value), 1);
  rows.forEach((r, i) => {
    const y = i * row + 4;
    svg.append(el("svg:text", { x: 0, y: y + 13 }, r.label));
    const w = ((width - left - 40) * r.value) / max;
    const bar = el("svg:rect", { x: left, y, width: Math.max(w, 1), height: row - 6, fill: color, "data-label": r.label });
    bar.append(el("svg:title", {}, `${r.label}: ${r.value}`));
    svg.append(bar, el("svg:text", { x: left + w + 4, y: y + 13, "data-value": r.label }, String(r.value)));
  });
}

const FUNNEL_PARTS = [["answered", "#1c9c6b"], ["noInput", "#e0a100"], ["noMatch", "#8a63d2"], ["hungUp", "#d64545"]];

function funnel(svg, nodes) {
  const width = 420, row = 30, left = 110;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(nodes.length, 1) * row + 24}`);
  if (!nodes.length) { svg.append(el("svg:text", { x: 4, y: 16 }, "nothing yet")); return; }
  const max = Math.max(...nodes.map((n) => num(n.entered) + num(n.hungUp)), 1);
  const scale = (width - left - 50) / max;
  nodes.forEach((n, i) => {
    const y = i * row + 4;
    const parts = { answered: Object.values(n.answers || {}).reduce((a, b) => a + num(b), 0),
      noInput: num(n.noInput), noMatch: num(n.noMatch), hungUp: num(n.hungUp) };
    svg.append(el("svg:text", { x: 0, y: y + 12 }, n.node || "(opening)"));
    svg.append(el("svg:rect", { x: left, y, width: Math.max(num(n.entered) * scale, 1), height: 10, fill: "#9aa5b8" }));
    svg.append(el("svg:text", { x: left + num(n.entered) * scale + 4, y: y + 9, "data-entered": n.node }, `${num(n.entered)} entered`));
    let x = left;
    for (const [part, color] of FUNNEL_PARTS) {
      if (!parts[part]) continue;
      const rect = el("svg:rect", { x, y: y + 12, width: parts[part] * scale, height: 10, fill: color });
      rect.append(el("svg:title", {}, `${part}: ${parts[part]}`));
      svg.append(rect);
      x += parts[part] * scale;
    }
  });
  let x = 0;
  const y = nodes.length * row + 16;
  for (const [part, color] of FUNNEL_PARTS) {
    svg.append(el("svg:rect", { x, y: y - 9, width: 10, height: 10, fill: color }), el("svg:text", { x: x + 13, y }, part));
    x += 90;
  }
}

function durations(svg, ring, talk) {
  const width = 420, height = 150;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const bounds = (ring.bucketBoundsMs || talk.bucketBoundsMs || []).map(num);
  const series = [[ring, "#2d6cdf", "ring"], [talk, "#1c9c6b", "talk"]];
  const n = bounds.length + 1;
  const max = Math.max(1, ...series.flatMap(([s]) => (s.bucketCounts || []).map(num)));
  const slot = (width - 10) / n;
  series.forEach(([s, color], k) => {
    (s.bucketCounts || []).forEach((c, i) => {
      const h = (num(c) / max) * (height - 40);
      svg.append(el("svg:rect", { x: 5 + i * slot + k * slot / 2, y: height - 25 - h, width: slot / 2 - 1, height: h, fill: color }));
    });
  });
  bounds.forEach((b, i) => {
    if (i % 4 === 0) svg.append(el("svg:text", { x: 5 + i * slot, y: height - 10 }, b >= 1000 ? `${b / 1000}s` : `${b}ms`));
  });
  svg.append(el("svg:text", { x: 5, y: 12 },
    `ring p50 ${(num(ring.p50Ms) / 1000).toFixed(1)}s p95 ${(num(ring.p95Ms) / 1000).toFixed(1)}s · ` +
    `talk p50 ${(num(talk.p50Ms) / 1000).toFixed(1)}s p95 ${(num(talk.p95Ms) / 1000).toFixed(1)}s`));
}

async function loadCalls(fresh) {
  if (fresh) { nextToken = ""; $("calls").tBodies[0].replaceChildren(); }
  const q = new URLSearchParams({ page_size: "50", page_token: nextToken });
  if ($("f-outcome").value) q.set("outcome", $("f-outcome").value);
  if ($("f-node").value) q.set("node", $("f-node").value);
  if ($("f-tag").value) q.set("tag", $("f-tag").value);
  try {
    const page = await api(`/api/campaigns/${encodeURIComponent(current)}/calls?${q}`);
    for (const r of page.callRecords) {
      const tr = el("tr", { "data-attempt": r.attemptId });
      for (const text of [
        (r.startTime || "").replace("T", " ").slice(0, 19), r.contactId || "", (r.outcome || "").replace("CALL_OUTCOME_", "").toLowerCase(),
        (r.path || []).join(" → "), (r.tags || []).join(", "), r.talkMs ? (num(r.talkMs) / 1000).toFixed(1) + " s" : "",
      ]) tr.append(el("td", {}, text));
      tr.addEventListener("click", () => openCall(r.attemptId));
      $("calls").tBodies[0].append(tr);
    }
    nextToken = page.nextPageToken || "";
    $("more").hidden = !nextToken;
  } catch (e) {
    showError(e.message);
  }
}

async function openCall(attemptId) {
  const { record, events } = await api(`/api/campaigns/${encodeURIComponent(current)}/calls/${encodeURIComponent(attemptId)}`);
  $("call").hidden = false;
  $("call-title").textContent = `Call ${attemptId}`;
  const facts = $("call-facts");
  facts.replaceChildren();
  const add = (k, v) => { if (v) facts.append(el("dt", {}, k), el("dd", {}, v)); };
  add("contact", record.contactId);
  add("outcome", record.outcomeText || record.outcome);
  add("path", (record.path || []).join(" → "));
  add("tags", (record.tags || []).join(", "));
  add("result fields", Object.entries(record.resultFields || {}).map(([k, v]) => `${k}=${v}`).join(", "));
  for (const r of record.replies || []) {
    add(`reply at ${r.node}`, `${r.intent}${r.digits ? " (keys " + r.digits + ")" : ""}${r.transcript ? ": «" + r.transcript + "»" : ""}`);
  }
  add("ring / talk", `${(num(record.ringMs) / 1000).toFixed(1)} s / ${(num(record.talkMs) / 1000).toFixed(1)} s`);
  const list = $("call-events");
  list.replaceChildren();
  for (const e of events) {
    const what = [e.type.replace("CALL_EVENT_TYPE_", "").toLowerCase(), e.node, e.intent, e.transcript].filter(Boolean).join(" · ");
    list.append(el("li", {}, `${(e.time || "").slice(11, 23)}  ${what}`));
  }
  $("call").scrollIntoView({ behavior: "smooth" });
}

window.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    showLoggedIn();
    loadCampaigns().catch((e) => showError(e.message));
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
  $("call-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadCalls(true); });
  $("more").addEventListener("click", () => loadCalls(false));
  window.addEventListener("hashchange", () => openCampaign(decodeURIComponent(location.hash.slice(1))));
  showLoggedIn();
  if (sessionStorage.getItem(KEY)) loadCampaigns().catch((e) => showError(e.message));
});
