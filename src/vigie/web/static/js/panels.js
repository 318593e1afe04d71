/* Dashboard panels: fetch a panel's PromQL queries and draw them with plotly.js (time series,
   heatmap, gauge) or as a figure/table. Used by the Overview, Explore, Quality pages and by the
   static HTML snapshot, which calls render() on inlined data with no server behind it. */
(function () {
  "use strict";
  const v = window.vigie;

  function legendOf(template, metric, fallback) {
    if (!template) return fallback;
    return template.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, name) => (metric && metric[name]) || "");
  }

  /* The data of one panel: for each query, its Prometheus result. */
  async function fetchPanel(panel, range) {
    const results = await Promise.all(panel.queries.map((query) => {
      if (query.instant || panel.kind === "stat" || panel.kind === "gauge" || panel.kind === "table") {
        return v.prom("/api/v1/query", { query: query.expr, time: range.end });
      }
      return v.prom("/api/v1/query_range", { query: query.expr, start: range.start, end: range.end, step: range.step });
    }));
    // Remember the asked window: the x axis spans it even when a series has a single point.
    results.forEach((result) => { if (result) result.window = [range.start, range.end]; });
    return results;
  }

  function thresholdClass(panel, value) {
    let chosen = null;
    for (const threshold of panel.thresholds || []) {
      if (threshold.value === null || value >= threshold.value) chosen = threshold.color;
    }
    return { green: "ok", orange: "warn", red: "bad" }[chosen] || "";
  }

  /* Flattened rows of a panel's data (CSV export and tables): [series, time, value]. */
  function rows(panel, results) {
    const out = [["series", "time", "value"]];
    results.forEach((result, index) => {
      const query = panel.queries[index] || {};
      for (const item of (result && result.result) || []) {
        const name = legendOf(query.legend, item.metric, v.seriesName(item.metric)) || v.seriesName(item.metric);
        if (item.values) item.values.forEach(([t, value]) => out.push([name, new Date(t * 1000).toISOString(), value]));
        else if (item.value) out.push([name, new Date(item.value[0] * 1000).toISOString(), item.value[1]]);
      }
    });
    return out;
  }

  function windowed(layout, results) {
    const found = (results || []).find((r) => r && r.window);
    if (found) layout.xaxis.range = [new Date(found.window[0] * 1000), new Date(found.window[1] * 1000)];
    return layout;
  }

  function baseLayout(panel) {
    const dark = v.theme() === "contrast";
    const fg = dark ? "#ffffff" : "#1b1b1b";
    const grid = dark ? "#555555" : "#dde1e6";
    const layout = {
      // r: room for the last time label, drawn as is (ticklabeloverflow "allow": measuring every
      // label to hide the overflowing ones cost a forced layout per label).
      margin: { l: 56, r: 24, t: 8, b: 36 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: fg, size: 12 }, colorway: v.palette(),
      showlegend: true, legend: { orientation: "h", y: -0.22 },
      xaxis: { type: "date", gridcolor: grid, linecolor: grid, ticklabeloverflow: "allow" },
      yaxis: { gridcolor: grid, linecolor: grid, rangemode: "tozero", ticklabeloverflow: "allow" },
    };
    if (panel.unit === "percentunit") layout.yaxis.tickformat = ".2~%";
    else if (panel.unit === "s") layout.yaxis.ticksuffix = " s";
    else if (panel.unit === "reqps") layout.yaxis.ticksuffix = "/s";
    return layout;
  }

  const CONFIG = { displayModeBar: false, responsive: true, displaylogo: false };

  function timeseriesTraces(panel, results) {
    const traces = [];
    results.forEach((result, index) => {
      const query = panel.queries[index] || {};
      for (const item of (result && result.result) || []) {
        const values = item.values || (item.value ? [item.value] : []);
        traces.push({
          type: "scatter", mode: values.length > 1 ? "lines" : "markers",
          name: legendOf(query.legend, item.metric, v.seriesName(item.metric)) || "value",
          x: values.map(([t]) => new Date(t * 1000)),
          y: values.map(([, value]) => parseFloat(value)),
          hovertemplate: "%{y}<extra>%{fullData.name}</extra>",
        });
      }
    });
    return traces;
  }

  function heatmapTrace(results) {
    const result = (results[0] && results[0].result) || [];
    const buckets = result.map((item) => ({ le: item.metric.le, bound: item.metric.le === "+Inf" ? Infinity : parseFloat(item.metric.le), values: item.values || [] }))
      .sort((a, b) => a.bound - b.bound);
    if (!buckets.length) return null;
    const times = [...new Set(buckets.flatMap((b) => b.values.map(([t]) => t)))].sort((a, b) => a - b);
    const lookup = buckets.map((b) => new Map(b.values.map(([t, value]) => [t, parseFloat(value)])));
    const z = buckets.map((bucket, i) => times.map((t) => {
      const here = lookup[i].get(t) || 0;
      const below = i > 0 ? (lookup[i - 1].get(t) || 0) : 0;
      return Math.max(0, here - below);
    }));
    return {
      type: "heatmap", x: times.map((t) => new Date(t * 1000)), y: buckets.map((b) => "≤ " + b.le), z,
      colorscale: "Viridis", hovertemplate: "%{y}: %{z:.3g}/s<extra></extra>", colorbar: { thickness: 10 },
    };
  }

  function empty(container, text) {
    container.append(v.el("p", { class: "empty" }, text || "No data in this time range."));
  }

  function drawStat(body, panel, results) {
    let any = false;
    results.forEach((result, index) => {
      const query = panel.queries[index] || {};
      for (const item of (result && result.result) || []) {
        any = true;
        const value = parseFloat(item.value ? item.value[1] : item.values[item.values.length - 1][1]);
        const css = thresholdClass(panel, value);
        body.append(v.el("div", { class: "stat" + (css ? " stat-" + css : "") },
          v.fmtValue(value, panel.unit),
          results.length > 1 || ((result.result || []).length > 1) ? v.el("span", { class: "status-line" }, " " + legendOf(query.legend, item.metric, "")) : null));
      }
    });
    if (!any) body.append(v.el("div", { class: "stat" }, v.fmtValue(0, panel.unit)), v.el("p", { class: "status-line" }, "No matching series (nothing spent or counted yet)."));
  }

  function drawTable(body, panel, results) {
    const isUp = panel.queries.length === 1 && /^\s*up\s*$/.test(panel.queries[0].expr);
    const table = v.el("table", { class: "data" }, v.el("caption", { class: "visually-hidden" }, panel.title),
      v.el("thead", {}, v.el("tr", {}, v.el("th", { scope: "col" }, "Series"), v.el("th", { scope: "col" }, "Value"))));
    const tbody = v.el("tbody");
    results.forEach((result, index) => {
      const query = panel.queries[index] || {};
      for (const item of (result && result.result) || []) {
        const value = parseFloat(item.value[1]);
        const css = thresholdClass(panel, value);
        const text = isUp ? (value === 1 ? "up" : "down") : v.fmtValue(value, panel.unit);
        tbody.append(v.el("tr", {}, v.el("td", {}, legendOf(query.legend, item.metric, v.seriesName(item.metric))),
          v.el("td", {}, css ? v.el("span", { class: "badge " + css }, text) : text)));
      }
    });
    if (!tbody.children.length) { empty(body); return; }
    table.append(tbody);
    body.append(table);
  }

  function drawServices(body, panel, data) {
    if (!data.rows.length) { empty(body, "No service is scraped yet."); return; }
    const head = ["Service", "Instance", "Up", "Health", "Requests", "Error ratio", "Latency p95", "In flight"];
    const table = v.el("table", { class: "data" }, v.el("caption", { class: "visually-hidden" }, "Services"),
      v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))));
    const tbody = v.el("tbody");
    for (const row of data.rows) {
      const health = row.health ? v.el("span", { class: "badge " + ({ ok: "ok", degraded: "warn", down: "bad" }[row.health] || "muted") }, row.health) : "–";
      tbody.append(v.el("tr", {},
        v.el("td", {}, row.job), v.el("td", {}, row.instance),
        v.el("td", {}, v.el("span", { class: "badge " + (row.up ? "ok" : "bad") }, row.up ? "up" : "down")),
        v.el("td", {}, health),
        v.el("td", { class: "num" }, v.fmtValue(row.rate, "reqps")),
        v.el("td", { class: "num" }, v.fmtValue(row.errors, "percentunit")),
        v.el("td", { class: "num" }, v.fmtValue(row.p95, "s")),
        v.el("td", { class: "num" }, v.fmtValue(row.inflight))));
    }
    table.append(tbody);
    body.append(table);
  }

  /* Empty ``body``, releasing a plot drawn in it (plotly's resize listener). */
  function clear(body) {
    if (body.dataset.plotted) { try { window.Plotly.purge(body.querySelector(".chart")); } catch (e) { /* not a plot */ } }
    body.textContent = "";
    delete body.dataset.plotted;
  }

  /* Draw ``panel`` with ``results`` into ``body`` (emptied first). */
  function render(body, panel, results) {
    const previous = body.dataset.plotted === "line" && panel.kind === "timeseries" ? body.querySelector(".chart") : null;
    if (previous) {
      // A refresh of a drawn time series: Plotly.react updates in place, far cheaper than a new plot.
      const traces = timeseriesTraces(panel, results);
      if (traces.length) {
        window.Plotly.react(previous, traces, windowed(baseLayout(panel), results), CONFIG);
        body.dataset.series = traces.map((t) => t.name).join("\n");
        return;
      }
    }
    clear(body);
    if (panel.kind === "services") { drawServices(body, panel, results); return; }
    if (panel.kind === "stat") { drawStat(body, panel, results); return; }
    if (panel.kind === "table") { drawTable(body, panel, results); return; }
    const chart = v.el("div", { class: "chart", role: "img", "aria-label": panel.title + " chart" });
    if (panel.kind === "gauge") {
      const item = results[0] && results[0].result && results[0].result[0];
      if (!item) { empty(body); return; }
      body.append(chart);
      const value = parseFloat(item.value[1]);
      const percent = panel.unit === "percentunit";
      const steps = [];
      const thresholds = panel.thresholds || [];
      thresholds.forEach((t, i) => {
        const colour = { green: "#009E73", orange: "#E69F00", red: "#D55E00" }[t.color] || "#56B4E9";
        const from = t.value === null ? 0 : t.value;
        const to = i + 1 < thresholds.length ? thresholds[i + 1].value : (percent ? 1 : from * 2 || 1);
        steps.push({ range: [from, to], color: colour });
      });
      window.Plotly.newPlot(chart, [{
        type: "indicator", mode: "gauge+number", value,
        number: percent ? { valueformat: ".1%" } : {},
        gauge: { axis: { range: percent ? [0, 1] : [0, Math.max(1, value * 1.5)], tickformat: percent ? ".0%" : "" }, steps, bar: { color: v.theme() === "contrast" ? "#ffffff" : "#1b1b1b", thickness: 0.3 } },
      }], Object.assign(baseLayout(panel), { margin: { l: 36, r: 36, t: 24, b: 8 } }), CONFIG);
      body.dataset.plotted = "1";
      return;
    }
    if (panel.kind === "heatmap") {
      const trace = heatmapTrace(results);
      if (!trace) { empty(body); return; }
      body.append(chart);
      const layout = windowed(baseLayout(panel), results);
      layout.showlegend = false;
      layout.yaxis = { type: "category", gridcolor: layout.yaxis.gridcolor };
      window.Plotly.newPlot(chart, [trace], layout, CONFIG);
      body.dataset.plotted = "1";
      body.dataset.series = String(trace.y.length);
      return;
    }
    const traces = timeseriesTraces(panel, results);
    if (!traces.length) { empty(body); return; }
    body.append(chart);
    window.Plotly.newPlot(chart, traces, windowed(baseLayout(panel), results), CONFIG);
    body.dataset.plotted = "line";
    body.dataset.series = traces.map((t) => t.name).join("\n");
  }

  window.vigiePanels = { fetchPanel, render, clear, rows, legendOf, baseLayout, CONFIG, timeseriesTraces };
})();
