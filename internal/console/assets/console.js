// herd console. Every value from the server may be attacker-written (an
// address, a scenario name, a log line): it reaches the page only as text
// (textContent, createTextNode, attribute values set through the DOM),
// never as HTML. The page's Content-Security-Policy allows no inline
// script, so nothing injected could run anyway.
"use strict";
(function () {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  // el builds an element: attrs are set with setAttribute (or as
  // properties for "class" and "text"), children are nodes or strings
  // (inserted as text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = String(v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function when(t) {
    if (!t) return "";
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }
  function flash(msg, bad) {
    const f = $("flash");
    f.textContent = msg;
    f.className = bad ? "error" : "ok";
  }

  async function api(path, opts) {
    const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (o.method && o.method !== "GET") {
      o.headers["X-CSRF-Token"] = token;
      o.headers["Content-Type"] = "application/json";
    }
    const res = await fetch(path, o);
    if (res.status === 401) {
      window.location.assign("/login");
      throw new Error("logged out");
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) throw new Error((body && body.error) || ("HTTP " + res.status));
    return body;
  }
  function failed(e) { if (e && e.message !== "logged out") flash(e.message, true); }

  // ---- pages -------------------------------------------------------
  const pages = ["overview", "decisions", "alerts", "alert", "community", "health"];
  function route() {
    const h = window.location.hash.replace(/^#/, "") || "overview";
    const [name, arg] = h.split("/");
    const page = pages.includes(name) ? name : "overview";
    $("flash").textContent = "";
    $("flash").className = "";
    for (const p of pages) $("page-" + p).hidden = p !== page;
    for (const a of document.querySelectorAll("nav a")) {
      a.classList.toggle("active", a.dataset.page === page || (page === "alert" && a.dataset.page === "alerts"));
    }
    ({
      overview: loadOverview, decisions: loadDecisions, alerts: () => loadAlerts(false),
      alert: () => loadAlert(arg), community: loadCommunity, health: loadHealth,
    })[page]();
  }
  window.addEventListener("hashchange", route);

  // ---- overview: charts, tops, map ---------------------------------
  let chart = null;
  function fillTop(id, rows, link) {
    const t = $(id);
    clear(t);
    if (!rows || rows.length === 0) {
      t.appendChild(el("tr", {}, el("td", { class: "empty", text: "nothing in this period" })));
      return;
    }
    for (const r of rows) {
      const key = r.key === "" ? "unknown" : r.key;
      const cell = link ? el("a", { href: "#decisions", onclick: () => { $("decision-search").value = key; } }, key) : key;
      t.appendChild(el("tr", {}, el("td", {}, cell), el("td", { class: "n", text: r.n })));
    }
  }
  function drawChart(series) {
    const box = $("chart");
    const data = [series.time, series.alerts, series.sources];
    const width = Math.max(300, box.clientWidth || 600);
    if (chart) {
      chart.setData(data);
      return;
    }
    chart = new uPlot({
      width: width, height: 220,
      series: [{}, { label: "alerts", stroke: "#c0392b", fill: "rgba(192,57,43,0.1)" }, { label: "distinct sources", stroke: "#1f6f5c" }],
      axes: [{}, { label: "per interval" }],
    }, data, box);
  }
  async function loadOverview() {
    try {
      const o = await api("/api/overview?period=" + encodeURIComponent($("period").value));
      $("overview-total").textContent = o.alerts + " alerts" + (o.cut ? " (the newest " + o.alerts + " counted)" : "");
      drawChart(o.series);
      fillTop("top-sources", o.sources, true);
      fillTop("top-scenarios", o.scenarios, false);
      fillTop("top-services", o.services, false);
      fillTop("top-countries", o.countries, false);
      fillTop("top-asns", o.asns, false);
      drawMap(o.map || []);
    } catch (e) { failed(e); }
  }
  $("period").addEventListener("change", loadOverview);

  // The world map: world-atlas TopoJSON (countries, 1:110m), decoded here
  // and drawn as SVG paths in an equirectangular projection.
  let atlas = null;
  async function loadAtlas() {
    if (atlas) return atlas;
    const res = await fetch("/static/vendor/world-atlas/countries-110m.json", { credentials: "same-origin" });
    atlas = await res.json();
    return atlas;
  }
  function decodeArcs(topo) {
    const [sx, sy] = topo.transform ? topo.transform.scale : [1, 1];
    const [tx, ty] = topo.transform ? topo.transform.translate : [0, 0];
    return topo.arcs.map((arc) => {
      let x = 0, y = 0;
      return arc.map((p) => { x += p[0]; y += p[1]; return [x * sx + tx, y * sy + ty]; });
    });
  }
  function ringPath(arcs, ring, W, H) {
    let pts = [];
    for (const i of ring) {
      let a = i >= 0 ? arcs[i] : arcs[~i].slice().reverse();
      pts = pts.concat(pts.length ? a.slice(1) : a);
    }
    // A ring that crosses the antimeridian jumps across the map: the jump
    // starts a new subpath instead of a line across the world.
    let d = "", prev = null;
    for (const p of pts) {
      const jump = prev === null || Math.abs(p[0] - prev[0]) > 180;
      d += (jump ? "M" : "L") + ((p[0] + 180) / 360 * W).toFixed(1) + "," + ((90 - p[1]) / 180 * H).toFixed(1);
      prev = p;
    }
    return d + "Z";
  }
  // ISO 3166 alpha-2 to the numeric codes world-atlas uses as ids.
  const numeric = ("US840 CN156 RU643 DE276 FR250 GB826 NL528 IN356 BR076 JP392 KR410 VN704 ID360 TW158 UA804 PL616 IT380 " +
    "ES724 CA124 AU036 MX484 AR032 TR792 IR364 PK586 BD050 TH764 MY458 PH608 ZA710 EG818 NG566 KE404 SE752 NO578 FI246 " +
    "DK208 CH756 AT040 BE056 CZ203 RO642 BG100 HU348 GR300 PT620 IE372 IL376 SA682 AE784 KZ398 BY112 LT440 LV428 EE233 " +
    "MD498 RS688 HR191 SK703 SI705 CL152 CO170 PE604 VE862 EC218 NZ554 MA504 DZ012 TN788 IS352 UZ860 GE268 AM051 AZ031 " +
    "MN496 KP408 NP524 LK144 MM104 KH116 LA418 IQ368 SY760 JO400 LB422 QA634 KW414 OM512 YE887 ET231 TZ834 UG800 GH288 " +
    "CI384 SN686 CM120 AO024 MZ508 ZW716 ZM894 BO068 PY600 UY858 CU192 DO214 GT320 HN340 NI558 CR188 PA591 PR630 AF004 " +
    "AL008 BA070 MK807 ME499 LU442 CY196 KG417 TJ762 TM795 LY434 SD729 SS728 CD180 CG178 GA266 MG450 NA516 BW072 ML466 " +
    "NE562 TD148 MR478 BF854").split(" ").reduce((m, s) => { m[s.slice(0, 2)] = s.slice(2); return m; }, {});
  async function drawMap(counts) {
    const box = $("map");
    let topo;
    try { topo = await loadAtlas(); } catch (e) { $("map-note").textContent = "map data unavailable"; return; }
    const byId = {}, byName = {};
    let unknown = 0, max = 0;
    for (const c of counts) {
      if (c.key === "unknown" || c.key === "") { unknown += c.n; continue; }
      const id = numeric[c.key.toUpperCase()];
      if (id) byId[id] = (byId[id] || 0) + c.n; else byName[c.key] = (byName[c.key] || 0) + c.n;
      max = Math.max(max, c.n);
    }
    const W = 720, H = 360, NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("class", "world");
    const arcs = decodeArcs(topo);
    for (const g of topo.objects.countries.geometries) {
      const polys = g.type === "Polygon" ? [g.arcs] : g.type === "MultiPolygon" ? g.arcs : [];
      let d = "";
      for (const poly of polys) for (const ring of poly) d += ringPath(arcs, ring, W, H);
      if (!d) continue;
      const name = (g.properties && g.properties.name) || "";
      const n = byId[g.id] || byName[name] || 0;
      const p = document.createElementNS(NS, "path");
      p.setAttribute("d", d);
      p.setAttribute("class", n ? "hit" : "land");
      if (n) p.setAttribute("fill-opacity", (0.25 + 0.75 * n / max).toFixed(2));
      const title = document.createElementNS(NS, "title");
      title.textContent = name + (n ? ": " + n + " alerts" : "");
      p.appendChild(title);
      svg.appendChild(p);
    }
    clear(box);
    box.appendChild(svg);
    $("map-note").textContent = unknown ? unknown + " alerts from sources of unknown country (no GeoIP data)" : "";
  }

  // ---- live timeline (Server-Sent Events) --------------------------
  function timelineItem(a) {
    return el("li", { "data-alert-id": a.id },
      el("time", { text: when(a.created) }), " ",
      el("a", { href: "#alert/" + a.id, class: "scenario" }, a.scenario), " from ",
      el("span", { class: "addr" }, a.source), " ",
      el("span", { class: "geo" }, a.country || "unknown"), " ",
      el("span", { class: "n" }, a.events + " events"));
  }
  async function loadTimeline() {
    try {
      const r = await api("/api/alerts");
      const t = $("timeline");
      clear(t);
      for (const a of r.alerts.slice(0, 30)) t.appendChild(timelineItem(a));
    } catch (e) { failed(e); }
  }
  let refresh = null;
  function soon(f) {
    clearTimeout(refresh);
    refresh = setTimeout(f, 1500);
  }
  function stream() {
    const es = new EventSource("/api/events");
    es.addEventListener("open", () => { $("live").className = "live on"; });
    es.addEventListener("error", () => { $("live").className = "live off"; });
    es.addEventListener("alert", (ev) => {
      const a = JSON.parse(ev.data);
      const t = $("timeline");
      if (t.querySelector('li[data-alert-id="' + Number(a.id) + '"]')) return;
      t.insertBefore(timelineItem(a), t.firstChild);
      while (t.children.length > 50) t.removeChild(t.lastChild);
      if (!$("page-overview").hidden) soon(loadOverview);
    });
    es.addEventListener("decisions", () => {
      if (!$("page-decisions").hidden) soon(loadDecisions);
    });
  }

  // ---- decisions ---------------------------------------------------
  async function loadDecisions() {
    const q = $("decision-search").value.trim();
    const origin = $("decision-origin").value;
    try {
      const r = await api("/api/decisions?q=" + encodeURIComponent(q) + "&origin=" + encodeURIComponent(origin));
      $("decision-count").textContent = r.matched + " of " + r.live + " live";
      const body = $("decisions").tBodies[0];
      clear(body);
      r.decisions = r.decisions || [];
      if (r.decisions.length === 0) {
        body.appendChild(el("tr", {}, el("td", { colspan: 6, class: "empty", text: "no live decision matches" })));
      }
      for (const d of r.decisions) {
        body.appendChild(el("tr", { "data-scope": d.scope },
          el("td", { class: "addr" }, d.scope),
          el("td", {}, d.origin),
          el("td", {}, d.scenario),
          el("td", {}, when(d.until)),
          el("td", {}, d.alert_id ? el("a", { href: "#alert/" + d.alert_id }, "#" + d.alert_id) : ""),
          el("td", {}, el("button", { type: "button", class: "unban", onclick: () => unban(d.scope) }, "Unban"))));
      }
    } catch (e) { failed(e); }
  }
  async function unban(scope) {
    try {
      const r = await api("/api/decisions/unban", { method: "POST", body: JSON.stringify({ scope: scope }) });
      flash("Unbanned " + r.scope + " (" + r.deleted + " decision" + (r.deleted === 1 ? "" : "s") + "); the firewall follows within a second.");
      loadDecisions();
    } catch (e) { failed(e); }
  }
  let searchTimer = null;
  $("decision-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadDecisions, 250); });
  $("decision-origin").addEventListener("change", loadDecisions);
  $("ban-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("/api/decisions/ban", { method: "POST", body: JSON.stringify({
        scope: $("ban-scope").value, duration: $("ban-duration").value, reason: $("ban-reason").value }) });
      flash("Banned " + r.scope + " for " + r.duration + ".");
      $("ban-scope").value = "";
      loadDecisions();
    } catch (e) { failed(e); }
  });

  // ---- alerts ------------------------------------------------------
  let oldest = 0;
  async function loadAlerts(more) {
    try {
      const r = await api("/api/alerts" + (more && oldest ? "?before=" + oldest : ""));
      const body = $("alerts").tBodies[0];
      if (!more) clear(body);
      for (const a of r.alerts) {
        oldest = a.id;
        body.appendChild(el("tr", { "data-alert-id": a.id },
          el("td", {}, el("a", { href: "#alert/" + a.id }, String(a.id))),
          el("td", {}, when(a.created)),
          el("td", {}, a.scenario),
          el("td", { class: "addr" }, a.source),
          el("td", {}, a.country || "unknown"),
          el("td", {}, a.asn ? "AS" + a.asn + (a.as_org ? " " + a.as_org : "") : "unknown"),
          el("td", { class: "n" }, String(a.events))));
      }
      $("alerts-more").hidden = r.alerts.length < 100;
    } catch (e) { failed(e); }
  }
  $("alerts-more").addEventListener("click", () => loadAlerts(true));

  async function loadAlert(id) {
    clear($("alert-facts")); clear($("alert-lines")); clear($("alert-decisions"));
    $("alert-title").textContent = "";
    try {
      const a = await api("/api/alerts/" + encodeURIComponent(id));
      $("alert-title").textContent = "Alert " + a.id + ": " + a.scenario;
      facts($("alert-facts"), [
        ["source", a.source], ["scope", a.scope], ["service", a.service], ["events", a.events],
        ["first", when(a.first)], ["last", when(a.last)], ["created", when(a.created)],
        ["country", a.country || "unknown"], ["ASN", a.asn ? "AS" + a.asn + (a.as_org ? " " + a.as_org : "") : "unknown"],
        ["machine", a.machine || "this host"]]);
      for (const d of a.decisions || []) {
        $("alert-decisions").appendChild(el("li", {}, d.type + " " + d.scope + " for " + d.duration + " until " + when(d.until) +
          " (" + d.origin + ", " + (d.deleted ? "ended " + when(d.deleted) : "live") + ")"));
      }
      if (!a.decisions || a.decisions.length === 0) $("alert-decisions").appendChild(el("li", { text: "none" }));
      for (const l of a.lines || []) $("alert-lines").appendChild(el("li", {}, el("code", { text: l })));
      if (!a.lines || a.lines.length === 0) $("alert-lines").appendChild(el("li", { text: "no lines kept" }));
    } catch (e) { failed(e); }
  }
  function facts(dl, rows) {
    clear(dl);
    for (const [k, v] of rows) { dl.appendChild(el("dt", { text: k })); dl.appendChild(el("dd", { text: v === undefined || v === null ? "" : v })); }
  }

  // ---- community and health ----------------------------------------
  async function loadCommunity() {
    try {
      const c = await api("/api/community");
      facts($("community-facts"), [
        ["community list version", c.community.version || "none held"],
        ["last in step with the hub", c.community.synced ? when(c.community.synced) : "never"],
        ["community entries live", c.community_live],
        ["predictions version", c.predicted.version || "none held"],
        ["predicted entries live", c.predicted_live],
        ["this host's attackers (7 days)", c.attackers_week],
        ["of them already listed", (c.held || []).length]]);
      const body = $("community-held").tBodies[0];
      clear(body);
      for (const h of c.held || []) body.appendChild(el("tr", {}, el("td", { class: "addr" }, h.source), el("td", {}, h.scope), el("td", {}, h.list), el("td", { class: "n" }, String(h.alerts))));
      if (!c.held || c.held.length === 0) body.appendChild(el("tr", {}, el("td", { colspan: 4, class: "empty", text: "none" })));
    } catch (e) { failed(e); }
  }
  const pct = (x) => (100 * x).toFixed(1) + "%";
  async function loadHealth() {
    try {
      const h = await api("/api/health");
      const fw = h.firewall || {};
      facts($("firewall-facts"), [["backend", fw.backend || "unknown"], ["in step", fw.in_step ? "yes" : "no"],
        ["applies", fw.applies], ["failures", fw.failures], ["last error", fw.last_error || "none"], ["since", when(fw.since)]]);
      let body = $("health-files").tBodies[0];
      clear(body);
      for (const f of h.files) body.appendChild(el("tr", {}, el("td", {}, f.source), el("td", { class: "n" }, String(f.offset || 0)),
        el("td", { class: "n" }, String(f.size || 0)), el("td", { class: "n" }, f.behind < 0 ? "unknown" : String(f.behind)), el("td", {}, f.note || "")));
      if (h.files.length === 0) body.appendChild(el("tr", {}, el("td", { colspan: 5, class: "empty", text: "no file offsets saved yet" })));
      body = $("health-sources").tBodies[0];
      clear(body);
      for (const s of h.sources) body.appendChild(el("tr", {}, el("td", {}, s.source), el("td", { class: "n" }, String(s.read)),
        el("td", { class: "n" }, String(s.parsed)), el("td", { class: "n" }, String(s.unparsed)),
        el("td", { class: "n" }, pct(s.unparsed_share)), el("td", { class: "n" }, String(s.dropped))));
      if (h.sources.length === 0) body.appendChild(el("tr", {}, el("td", { colspan: 6, class: "empty", text: h.metrics_error || "no line read yet" })));
      const ag = h.agent || {};
      facts($("agent-facts"), [["started", ag.start ? when(ag.start * 1000) : "unknown"], ["live decisions", ag.live_decisions],
        ["live buckets", ag.live_buckets], ["alerts since start", ag.alerts], ["decisions since start", ag.decisions],
        ["firewall errors", ag.firewall_errors], ["buckets evicted", ag.evictions]]);
    } catch (e) { failed(e); }
  }

  $("logout").addEventListener("click", async () => {
    try { await api("/logout", { method: "POST" }); } catch (e) { /* going anyway */ }
    window.location.assign("/login");
  });

  loadTimeline();
  stream();
  route();
})();
