/* Infrastructure: the host, PostgreSQL, the app's database pools and Redis — the dashboard the
   Grafana export also ships (see dashboard.js). An empty panel says which collector or
   instrumentation would fill it. */
(function () {
  "use strict";
  window.vigieDashboard.mount({ name: "infrastructure", title: "Infrastructure" });
})();
