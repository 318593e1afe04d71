/* Overview: the built-in AI service dashboard (see dashboard.js), with a per-service summary
   and the alerts firing or pending. */
(function () {
  "use strict";
  const v = window.vigie;
  const SERVICE_QUERIES = [
    "up",
    "max by (job, instance, status) (vigie_health_status) == 1",
    "sum by (job) (rate(http_server_request_duration_seconds_count[5m]))",
    'sum by (job) (rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[5m])) / sum by (job) (rate(http_server_request_duration_seconds_count[5m]))',
    "histogram_quantile(0.95, sum by (job, le) (rate(http_server_request_duration_seconds_bucket[5m])))",
    "sum by (job) (http_server_active_requests)",
  ];

  /* The service table's rows from the six instant queries above (answered with the panels). */
  function servicesData(results) {
    const list = (i) => (results[i] && results[i].result) || [];
    const byJob = (i) => Object.fromEntries(list(i).map((item) => [item.metric.job, parseFloat(item.value[1])]));
    const rates = byJob(2), errs = byJob(3), p95s = byJob(4), flights = byJob(5);
    const healthOf = Object.fromEntries(list(1).map((item) => [item.metric.job + "|" + item.metric.instance, item.metric.status]));
    const rows = list(0).map((item) => ({
      job: item.metric.job, instance: item.metric.instance, up: item.value[1] === "1",
      health: healthOf[item.metric.job + "|" + item.metric.instance] || null,
      rate: rates[item.metric.job], errors: errs[item.metric.job], p95: p95s[item.metric.job], inflight: flights[item.metric.job],
    })).sort((a, b) => (a.job + a.instance).localeCompare(b.job + b.instance));
    return { rows };
  }

  const SERVICES = {
    panel: {
      kind: "services", title: "Services", unit: "", width: 24, queries: [],
      description: "Each scraped service: up or down, its health checks, traffic, errors and latency now.",
    },
    queries: SERVICE_QUERIES,
    data: servicesData,
    csv: (data) => [["job", "instance", "up", "health", "request_rate", "error_ratio", "latency_p95_seconds", "in_flight"]]
      .concat(data.rows.map((r) => [r.job, r.instance, r.up ? 1 : 0, r.health || "", r.rate ?? "", r.errors ?? "", r.p95 ?? "", r.inflight ?? ""])),
  };

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

  window.vigieDashboard.mount({ name: "overview", title: "Overview", extraPanels: [SERVICES], alongside: loadAlerts });
})();
