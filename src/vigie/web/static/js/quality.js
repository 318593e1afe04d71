/* Quality: the drift report per model and feature, reference vs current distributions, drift
   score over time, and feedback trends (satisfaction, ratings). */
(function () {
  "use strict";
  const v = window.vigie;
  const P = () => window.vigiePanels;
  let selected = null;

  function range() {
    const seconds = v.rangeSeconds(document.getElementById("q-range").value);
    const end = Math.floor(Date.now() / 1000);
    return { start: end - seconds, end, step: v.autoStep(seconds) };
  }

  async function chart(id, panel) {
    const box = document.getElementById(id);
    try {
      const data = await P().fetchPanel(panel, range());
      await v.plotlyReady();
      P().render(box, panel, data);
    } catch (error) { v.notAvailable(box, panel.title, error); }
  }

  async function distribution(model, feature) {
    selected = { model, feature };
    v.state.set({ model, feature });
    document.querySelectorAll(".feature-button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.model === model && b.dataset.feature === feature)));
    document.getElementById("dist-title").textContent = "Reference vs current: " + model + " / " + feature;
    const box = document.getElementById("distribution");
    try {
      const data = await v.prom("/api/v1/quality/distributions", { model, feature, bins: 20 });
      await v.plotlyReady();
      box.textContent = "";
      if (data.kind === "embedding") { box.append(v.el("p", {}, "Embedding: centroid distance " + v.fmtNumber(data.centroid_distance))); return; }
      if (data.kind === "missing") { box.append(v.el("p", { class: "empty" }, "Not enough data in one of the two windows.")); return; }
      const x = data.kind === "numeric"
        ? data.edges.slice(0, -1).map((low, i) => v.fmtNumber((low + data.edges[i + 1]) / 2, 3)) : data.categories;
      const plot = v.el("div", { class: "chart", role: "img", "aria-label": "Distribution of " + feature + ", reference and current" });
      box.append(plot);
      const layout = P().baseLayout({ unit: "percentunit" });
      Object.assign(layout, { barmode: "group", xaxis: { type: "category", title: { text: feature } } });
      window.Plotly.newPlot(plot, [
        { type: "bar", name: "reference", x, y: data.reference, marker: { color: "#0072B2" } },
        { type: "bar", name: "current", x, y: data.current, marker: { color: "#E69F00", pattern: { shape: "/" } } },
      ], layout, P().CONFIG);
      box.dataset.plotted = "1";
    } catch (error) { v.notAvailable(box, "The distributions", error); }
  }

  function report(data) {
    const box = document.getElementById("drift");
    box.textContent = "";
    if (!data.models.length) { box.append(v.el("p", { class: "empty" }, "No model has sent quality samples yet (see docs/quality.md).")); return null; }
    box.append(v.el("p", { class: "status-line" }, "Last check " + v.fmtTime(data.time)));
    for (const model of data.models) {
      const head = ["Feature", "Kind", "Method", "Score", "Threshold", "Drift", "Rows (ref / cur)", ""];
      const tbody = v.el("tbody");
      for (const f of model.features) {
        tbody.append(v.el("tr", {}, v.el("td", {}, v.el("code", {}, f.feature)), v.el("td", {}, f.kind), v.el("td", {}, f.method || ""),
          v.el("td", { class: "num" }, f.score === null ? "–" : v.fmtNumber(f.score, 4)), v.el("td", { class: "num" }, f.threshold === null ? "–" : v.fmtNumber(f.threshold, 3)),
          v.el("td", {}, v.el("span", { class: "badge " + (f.drifted ? "bad" : "ok") }, f.drifted ? "drift" : "no drift")),
          v.el("td", { class: "num" }, f.reference_rows + " / " + f.current_rows),
          v.el("td", {}, v.el("button", { type: "button", class: "feature-button", "aria-pressed": "false", dataset: { model: model.model, feature: f.feature },
            onclick: () => distribution(model.model, f.feature) }, "Distributions"))));
      }
      const ratios = Object.entries(model.ratios || {});
      box.append(v.el("article", { class: "panel model", dataset: { model: model.model } },
        v.el("h3", {}, "Model ", v.el("code", {}, model.model), " ",
          v.el("span", { class: "badge " + (model.drifted ? "bad" : "ok") }, model.drifted ? "drifting" : "stable")),
        v.el("p", {}, v.fmtValue(model.drift_share, "percentunit") + " of features drifted (threshold " + v.fmtValue(model.drift_share_threshold, "percentunit") +
          "); reference " + model.reference_samples + " samples, current " + model.current_samples + " samples."),
        ratios.length ? v.el("p", {}, ratios.map(([k, value]) => k + " " + v.fmtValue(value, "percentunit")).join(" · ")) : null,
        v.el("table", { class: "data" }, v.el("caption", { class: "visually-hidden" }, "Features of " + model.model),
          v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h || v.el("span", { class: "visually-hidden" }, "Actions"))))), tbody)));
    }
    return data.models;
  }

  async function load() {
    let models = null;
    try {
      models = report(await v.prom("/api/v1/quality/report"));
    } catch (error) {
      v.notAvailable(document.getElementById("drift"), "Quality monitoring", error);
    }
    const model = v.state.get("model", "");
    const feature = v.state.get("feature", "");
    const jobs = [
      chart("score", { title: "Drift score", kind: "timeseries", unit: "", queries: [{ expr: model ? 'vigie_drift_score{model="' + model.replace(/"/g, "") + '"}' : "vigie_drift_score", legend: "{{model}} {{feature}}" }] }),
      chart("feedback", { title: "Satisfaction", kind: "timeseries", unit: "percentunit", queries: [{ expr: 'sum(rate(user_feedback_total{rating=~"up|4|5"}[15m])) / sum(rate(user_feedback_total[15m]))', legend: "satisfied" }, { expr: "vigie_quality_feedback_satisfaction_ratio", legend: "{{model}} (quality samples)" }] }),
      chart("confidence", { title: "Low-confidence share", kind: "timeseries", unit: "percentunit", queries: [{ expr: "vigie_quality_low_confidence_ratio", legend: "{{model}}" }, { expr: "vigie_drift_share", legend: "{{model}} drifted features" }] }),
      chart("ratings", { title: "Ratings", kind: "timeseries", unit: "", queries: [{ expr: "60 * sum by (rating) (rate(user_feedback_total[5m]))", legend: "{{rating}}" }] }),
    ];
    if (models && models.length) {
      const chosen = models.find((m) => m.model === model && m.features.some((f) => f.feature === feature));
      const first = chosen ? { model, feature } : (models[0].features[0] ? { model: models[0].model, feature: models[0].features[0].feature } : null);
      if (first) jobs.push(distribution(first.model, first.feature));
    }
    await Promise.all(jobs);
    document.getElementById("quality-status").textContent = "Updated " + new Date().toLocaleTimeString();
    document.documentElement.dataset.ready = "1";
  }

  v.rangeOptions(document.getElementById("q-range"), v.state.get("range", "6h"));
  document.getElementById("q-range").addEventListener("change", () => { v.state.set({ range: document.getElementById("q-range").value }); load(); });
  document.getElementById("q-refresh").addEventListener("click", load);
  v.onRefresh(load);
  load();
})();
