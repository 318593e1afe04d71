/* Overview: the built-in AI service dashboard, a per-service summary and the active alerts,
   with time range, auto-refresh, per-panel CSV, a shareable URL and an HTML snapshot export. */
(function () {
  "use strict";
  const v = window.vigie;
  const P = window.vigiePanels;
  const REFRESH = { off: 0, "10s": 10, "30s": 30, "1m": 60, "5m": 300 };
  const SERVICES = {
    kind: "services", title: "Services", unit: "", width: 24,
    description: "Each scraped service: up or down, its health checks, traffic, errors and latency now.",
    queries: [],
  };
  let panels = [];
  let dashboard = null;
  let timer = null;
  let firstDone = false;
  let firstShown = false;

  function range() {
    const seconds = v.rangeSeconds(v.state.get("range", "1h"));
    const end = Math.floor(Date.now() / 1000);
    return { start: end - seconds, end, step: v.autoStep(seconds) };
  }

  async function servicesData(r) {
    const q = (expr) => v.prom("/api/v1/query", { query: expr, time: r.end }).then((d) => d.result).catch(() => []);
    const [up, health, rate, errors, p95, inflight] = await Promise.all([
      q("up"),
      q("max by (job, instance, status) (vigie_health_status) == 1"),
      q("sum by (job) (rate(http_server_request_duration_seconds_count[5m]))"),
      q('sum by (job) (rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[5m])) / sum by (job) (rate(http_server_request_duration_seconds_count[5m]))'),
      q("histogram_quantile(0.95, sum by (job, le) (rate(http_server_request_duration_seconds_bucket[5m])))"),
      q("sum by (job) (http_server_active_requests)"),
    ]);
    const byJob = (list) => Object.fromEntries(list.map((item) => [item.metric.job, parseFloat(item.value[1])]));
    const rates = byJob(rate), errs = byJob(errors), p95s = byJob(p95), flights = byJob(inflight);
    const healthOf = Object.fromEntries(health.map((item) => [item.metric.job + "|" + item.metric.instance, item.metric.status]));
    const rows = up.map((item) => ({
      job: item.metric.job, instance: item.metric.instance, up: item.value[1] === "1",
      health: healthOf[item.metric.job + "|" + item.metric.instance] || null,
      rate: rates[item.metric.job], errors: errs[item.metric.job], p95: p95s[item.metric.job], inflight: flights[item.metric.job],
    })).sort((a, b) => (a.job + a.instance).localeCompare(b.job + b.instance));
    return { rows };
  }

  function csvOf(panel, data) {
    if (panel.kind === "services") {
      return [["job", "instance", "up", "health", "request_rate", "error_ratio", "latency_p95_seconds", "in_flight"]]
        .concat(data.rows.map((r) => [r.job, r.instance, r.up ? 1 : 0, r.health || "", r.rate ?? "", r.errors ?? "", r.p95 ?? "", r.inflight ?? ""]));
    }
    return P.rows(panel, data);
  }

  function build() {
    const grid = document.getElementById("dashboard");
    grid.textContent = "";
    panels = [];
    const add = (panel) => {
      const id = "panel-" + panels.length;
      const body = v.el("div", { class: "panel-body", id: id + "-body", "aria-live": "off" }, v.el("p", { class: "empty" }, "Loading…"));
      const csv = v.el("button", { type: "button", class: "csv", "aria-label": "Download CSV: " + panel.title }, "CSV");
      const section = v.el("section", { class: "panel", id, "aria-labelledby": id + "-title", dataset: { kind: panel.kind, title: panel.title } },
        v.el("div", { class: "panel-head" },
          v.el("div", {}, v.el("h3", { id: id + "-title" }, panel.title), panel.description ? v.el("p", {}, panel.description) : null),
          csv),
        body);
      section.style.gridColumn = "span " + Math.min(24, Math.max(4, panel.width || 8));
      const entry = { panel, section, body, data: null };
      csv.addEventListener("click", () => {
        if (!entry.data) return;
        v.download(v.slug(panel.title) + ".csv", v.toCsv(csvOf(panel, entry.data)));
      });
      panels.push(entry);
      grid.append(section);
    };
    add(SERVICES);
    for (const row of dashboard.rows) {
      grid.append(v.el("h2", { class: "row-title" }, row.title));
      row.panels.forEach(add);
    }
  }

  async function loadAlerts() {
    const box = document.getElementById("active-alerts");
    try {
      const data = await v.prom("/api/v1/alerts");
      const firing = data.alerts.filter((a) => a.state === "firing" || a.state === "pending");
      box.textContent = "";
      if (!firing.length) { box.append(v.el("p", { class: "empty" }, "No alert is firing.")); return; }
      const list = v.el("ul", { class: "alert-list" });
      for (const alert of firing) {
        list.append(v.el("li", {},
          v.el("span", { class: "badge " + alert.state }, alert.state), " ",
          v.el("a", { href: "/ui/alerts#" + encodeURIComponent(alert.labels.alertname) }, alert.labels.alertname), " ",
          alert.annotations && alert.annotations.summary ? alert.annotations.summary + " " : "",
          v.labelChips(alert.labels, ["alertname"])));
      }
      box.append(list);
    } catch (error) {
      v.notAvailable(box, "the alerts", error);
    }
  }

  async function refresh() {
    const r = range();
    const status = document.getElementById("overview-status");
    status.textContent = "Loading…";
    const started = performance.now();
    const jobs = panels.map(async (entry) => {
      try {
        entry.data = entry.panel.kind === "services" ? await servicesData(r) : await P.fetchPanel(entry.panel, r);
        await v.plotlyReady();
        P.render(entry.body, entry.panel, entry.data);
        if (!firstShown && entry.body.querySelector(".chart, .stat, table")) {
          firstShown = true;
          performance.mark("vigie:overview-first-data");
        }
      } catch (error) {
        entry.data = null;
        v.notAvailable(entry.body, "this panel", error);
      }
    });
    await Promise.all([...jobs, loadAlerts()]);
    status.textContent = "Updated " + new Date().toLocaleTimeString() + " (" + Math.round(performance.now() - started) + " ms)";
    if (!firstDone) {
      firstDone = true;
      performance.mark("vigie:overview-data");
      document.documentElement.dataset.ready = "1";
    }
  }

  function schedule() {
    if (timer) clearInterval(timer);
    const seconds = REFRESH[v.state.get("refresh", "30s")] || 0;
    if (seconds) timer = setInterval(refresh, seconds * 1000);
  }

  async function snapshot() {
    const button = document.getElementById("export-snapshot");
    button.disabled = true;
    try {
      const texts = await Promise.all(["/ui/static/css/vigie.css", "/ui/static/vendor/plotly.min.js", "/ui/static/js/common.js",
        "/ui/static/js/panels.js", "/ui/static/js/snapshot.js"].map((path) => fetch(path, { credentials: "same-origin" }).then((r) => r.text())));
      const [css, ...scripts] = texts;
      const r = range();
      const data = {
        title: dashboard.title, generatedAt: new Date().toISOString(), range: v.state.get("range", "1h"), start: r.start, end: r.end,
        panels: panels.map((entry) => ({ panel: entry.panel, data: entry.data })),
      };
      const json = JSON.stringify(data).replace(/</g, "\\u003c");
      const safe = (text) => text.replace(/<\/script/gi, "<\\/script");
      const html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" +
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" +
        "<title>" + dashboard.title.replace(/</g, "&lt;") + " — snapshot</title><style>" + css.replace(/<\/style/gi, "") + "</style>" +
        "<script type=\"application/json\" id=\"snapshot-data\">" + json + "</script>" +
        scripts.map((s) => "<script>" + safe(s) + "</script>").join("\n") +
        "</head><body><main id=\"main\"><h1 id=\"snapshot-title\"></h1><p id=\"snapshot-meta\" class=\"status-line\"></p>" +
        "<div id=\"dashboard\" class=\"grid\"></div></main></body></html>\n";
      v.download("vigie-overview-" + new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-") + ".html", html, "text/html;charset=utf-8");
      document.getElementById("overview-status").textContent = "Snapshot exported.";
    } finally {
      button.disabled = false;
    }
  }

  async function start() {
    const rangeSelect = document.getElementById("range");
    v.rangeOptions(rangeSelect, v.state.get("range", "1h"));
    const refreshSelect = document.getElementById("refresh");
    refreshSelect.value = v.state.get("refresh", "30s");
    rangeSelect.addEventListener("change", () => { v.state.set({ range: rangeSelect.value }); refresh(); });
    refreshSelect.addEventListener("change", () => { v.state.set({ refresh: refreshSelect.value }); schedule(); });
    document.getElementById("refresh-now").addEventListener("click", refresh);
    document.getElementById("export-snapshot").addEventListener("click", snapshot);
    document.getElementById("copy-link").addEventListener("click", async () => {
      v.state.set({ range: rangeSelect.value, refresh: refreshSelect.value });
      const status = document.getElementById("overview-status");
      try { await navigator.clipboard.writeText(location.href); status.textContent = "Link copied: " + location.href; }
      catch (e) { status.textContent = "Link to this view: " + location.href; }
    });
    document.addEventListener("vigie:theme", () => panels.forEach((e) => e.data && P.render(e.body, e.panel, e.data)));
    v.onRefresh(refresh);
    try {
      const inline = document.getElementById("dashboard-data");
      dashboard = inline ? JSON.parse(inline.textContent) : await v.api("/ui/api/dashboard");
    } catch (error) {
      v.notAvailable(document.getElementById("dashboard"), "the dashboard definition", error);
      return;
    }
    document.getElementById("dashboard-title").textContent = "Overview — " + dashboard.title.replace(/^vigie \/ /, "");
    build();
    schedule();
    await refresh();
  }

  start();
})();
