/* Traces: search, a waterfall of one trace (plotly bars + an accessible span table with
   attributes), the per-operation RED summary, and links to the trace's logs. */
(function () {
  "use strict";
  const v = window.vigie;
  const form = document.getElementById("trace-form");
  const FIELDS = ["service", "name", "status", "min_duration", "max_duration", "attr", "range", "limit"];

  function window_() {
    const rangeName = document.getElementById("t-range").value;
    const custom = v.state.get("start", "");
    const end = Math.floor(Date.now() / 1000);
    if (rangeName === "custom" && custom) return { start: custom, end: "" };
    return { start: String(end - v.rangeSeconds(rangeName)), end: "" };
  }

  function params() {
    const found = {};
    for (const name of FIELDS) {
      const input = form.elements[name];
      if (input && input.value.trim()) found[name] = input.value.trim();
    }
    return found;
  }

  async function search(event) {
    if (event) event.preventDefault();
    const p = params();
    v.state.set(Object.assign(Object.fromEntries(FIELDS.map((f) => [f, ""])), p));
    const errorBox = document.getElementById("trace-error");
    errorBox.textContent = "";
    const box = document.getElementById("trace-results");
    const w = window_();
    try {
      const query = Object.assign({}, p, { start: w.start, limit: p.limit || "50" });
      delete query.range;
      const traces = await v.prom("/api/v1/traces/search", query);
      box.textContent = "";
      document.getElementById("trace-status").textContent = traces.length + " traces";
      if (!traces.length) box.append(v.el("p", { class: "empty" }, "No trace matches."));
      else {
        const head = ["Trace", "Root service", "Root operation", "Start", "Duration", "Spans", "Errors"];
        const table = v.el("table", { class: "data", id: "trace-table" }, v.el("caption", { class: "visually-hidden" }, "Matching traces"),
          v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))));
        const tbody = v.el("tbody");
        for (const t of traces) {
          tbody.append(v.el("tr", { dataset: { trace: t.trace_id } },
            v.el("td", {}, v.el("a", { href: "?trace=" + t.trace_id, onclick: (e) => { e.preventDefault(); open(t.trace_id); } }, v.el("code", {}, t.trace_id.slice(0, 16) + "…"))),
            v.el("td", {}, t.root_service), v.el("td", {}, t.root_name), v.el("td", {}, v.fmtTime(t.start_ns / 1e9)),
            v.el("td", { class: "num" }, v.fmtDurationNs(t.duration_ns)), v.el("td", { class: "num" }, String(t.span_count)),
            v.el("td", {}, t.error_count ? v.el("span", { class: "badge bad" }, String(t.error_count) + " error" + (t.error_count > 1 ? "s" : "")) : "0")));
        }
        table.append(tbody);
        box.append(table);
      }
    } catch (error) {
      if (error.status === 400) { box.textContent = ""; errorBox.append(v.el("p", { class: "error-text" }, error.message)); }
      else v.notAvailable(box, "Trace search", error);
    }
    await red(p, w);
    document.documentElement.dataset.ready = "1";
  }

  function rate(perSecond) {
    if (perSecond >= 1) return v.fmtNumber(perSecond, 2) + "/s";
    if (perSecond * 60 >= 1) return v.fmtNumber(perSecond * 60, 2) + "/min";
    return v.fmtNumber(perSecond * 3600, 2) + "/h";
  }

  async function red(p, w) {
    const box = document.getElementById("red");
    try {
      const rows = await v.prom("/api/v1/traces/red", { service: p.service, start: w.start });
      box.textContent = "";
      if (!rows.length) { box.append(v.el("p", { class: "empty" }, "No span in this time range.")); return; }
      const head = ["Service", "Operation", "Calls", "Rate", "Errors", "Error ratio", "p50", "p90", "p99"];
      const table = v.el("table", { class: "data" }, v.el("caption", { class: "visually-hidden" }, "Operations"),
        v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))));
      const tbody = v.el("tbody");
      for (const r of rows) {
        tbody.append(v.el("tr", {}, v.el("td", {}, r.service),
          v.el("td", {}, v.el("a", { href: "?service=" + encodeURIComponent(r.service) + "&name=" + encodeURIComponent(r.name) }, r.name)),
          v.el("td", { class: "num" }, String(r.calls)), v.el("td", { class: "num" }, rate(r.rate_per_second)),
          v.el("td", { class: "num" }, String(r.errors)), v.el("td", { class: "num" }, v.fmtValue(r.error_ratio, "percentunit")),
          v.el("td", { class: "num" }, v.fmtDurationNs(r.p50_ns)), v.el("td", { class: "num" }, v.fmtDurationNs(r.p90_ns)),
          v.el("td", { class: "num" }, v.fmtDurationNs(r.p99_ns))));
      }
      table.append(tbody);
      box.append(table);
      const services = [...new Set(rows.map((r) => r.service))];
      document.getElementById("t-services").replaceChildren(...services.map((s) => v.el("option", { value: s })));
      document.getElementById("t-operations").replaceChildren(...[...new Set(rows.map((r) => r.name))].map((s) => v.el("option", { value: s })));
    } catch (error) {
      v.notAvailable(box, "The operations summary", error);
    }
  }

  function details(span) {
    const box = document.getElementById("span-details");
    box.textContent = "";
    const attrs = Object.entries(span.attributes || {});
    box.append(...[v.el("h3", {}, "Span " + span.name),
      v.el("p", {}, "Service ", v.el("strong", {}, span.service), " · kind " + span.kind + " · status " + span.status_code +
        (span.status_message ? " (" + span.status_message + ")" : "") + " · " + v.fmtDurationNs(span.duration_ns)),
      v.el("table", { class: "data" }, v.el("caption", {}, "Attributes"),
        v.el("thead", {}, v.el("tr", {}, v.el("th", { scope: "col" }, "Key"), v.el("th", { scope: "col" }, "Value"))),
        v.el("tbody", {}, attrs.length ? attrs.map(([k, value]) => v.el("tr", {}, v.el("td", {}, v.el("code", {}, k)), v.el("td", {}, typeof value === "object" ? JSON.stringify(value) : String(value))))
          : v.el("tr", {}, v.el("td", { colspan: "2" }, "No attribute.")))),
      (span.events || []).length ? v.el("div", {}, v.el("h4", {}, "Events"), v.el("ul", {}, span.events.map((e) => v.el("li", {}, e.name + " " + JSON.stringify(e.attributes || {}))))) : null,
    ].filter(Boolean));
  }

  async function open(traceId) {
    v.state.set({ trace: traceId });
    const section = document.getElementById("waterfall-section");
    section.hidden = false;
    const chart = document.getElementById("waterfall-chart");
    const tableBox = document.getElementById("waterfall-table");
    try {
      const trace = await v.prom("/api/v1/traces/" + encodeURIComponent(traceId));
      const spans = trace.spans;  // depth-first, each with depth, offset_ns and duration_ns
      document.getElementById("waterfall-title").textContent = "Trace " + traceId + " — " + v.fmtDurationNs(trace.duration_ns) + ", " + spans.length + " spans";
      document.getElementById("trace-links").replaceChildren(
        v.el("a", { href: "/ui/logs?trace_id=" + traceId + "&range=7d", id: "trace-logs-link" }, "Logs of this trace"));
      await v.plotlyReady();
      chart.textContent = "";
      const plot = v.el("div", { class: "chart", role: "img", "aria-label": "Waterfall of trace " + traceId });
      plot.style.height = Math.max(160, 28 * spans.length + 60) + "px";
      chart.append(plot);
      const labels = spans.map((s, i) => "\u2007".repeat(s.depth * 2) + s.name + " #" + (i + 1));
      const colours = spans.map((s) => (s.status_code === "ERROR" ? "#D55E00" : "#0072B2"));
      window.Plotly.newPlot(plot, [{
        type: "bar", orientation: "h", y: labels, x: spans.map((s) => s.duration_ns / 1e6), base: spans.map((s) => s.offset_ns / 1e6),
        marker: { color: colours }, hovertemplate: "%{y}: %{x:.2f} ms<extra></extra>",
      }], Object.assign(window.vigiePanels.baseLayout({ unit: "" }), {
        showlegend: false, xaxis: { title: { text: "ms since the trace started" }, rangemode: "tozero" },
        yaxis: { autorange: "reversed", automargin: true, type: "category" }, margin: { l: 8, r: 12, t: 8, b: 40 },
      }), window.vigiePanels.CONFIG);
      plot.on("plotly_click", (event) => details(spans[event.points[0].pointIndex]));
      const head = ["Span", "Service", "Start", "Duration", "Status"];
      const table = v.el("table", { class: "data", id: "span-table" }, v.el("caption", { class: "visually-hidden" }, "Spans of the trace"),
        v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))));
      const tbody = v.el("tbody");
      spans.forEach((s) => {
        const name = v.el("button", { type: "button", class: "span-name", onclick: () => details(s) }, s.name);
        name.style.marginLeft = (s.depth * 1.2) + "em";
        tbody.append(v.el("tr", {}, v.el("td", { class: "waterfall-name" }, name), v.el("td", {}, s.service),
          v.el("td", { class: "num" }, "+" + v.fmtDurationNs(s.offset_ns)), v.el("td", { class: "num" }, v.fmtDurationNs(s.duration_ns)),
          v.el("td", {}, s.status_code === "ERROR" ? v.el("span", { class: "badge bad" }, "ERROR") : s.status_code)));
      });
      table.append(tbody);
      tableBox.replaceChildren(table);
      details(spans[0]);
    } catch (error) {
      v.notAvailable(chart, "This trace", error);
    }
    document.documentElement.dataset.ready = "1";
  }

  v.rangeOptions(document.getElementById("t-range"), v.state.get("range", "1h"));
  if (v.state.get("range") === "custom") document.getElementById("t-range").append(v.el("option", { value: "custom", selected: true }, "Since " + v.fmtTime(v.state.get("start"))));
  for (const name of FIELDS) {
    const value = v.state.get(name, null);
    if (value !== null && form.elements[name] && name !== "range") form.elements[name].value = value;
  }
  form.addEventListener("submit", search);
  v.onRefresh(search);
  const trace = v.state.get("trace", "");
  search().then(() => { if (trace) open(trace); });
})();
