/* Boot of an exported HTML snapshot: draws the inlined panel data with the inlined plotly.js.
   Opens from a file with no network and no vigie server. */
(function () {
  "use strict";
  function boot() {
    const v = window.vigie;
    const data = JSON.parse(document.getElementById("snapshot-data").textContent);
    document.title = data.title + " — snapshot";
    document.getElementById("snapshot-title").textContent = data.title;
    document.getElementById("snapshot-meta").textContent = "Snapshot of the last " + data.range + " (" +
      v.fmtTime(data.start) + " to " + v.fmtTime(data.end) + "), exported " + data.generatedAt + " from vigie.";
    const grid = document.getElementById("dashboard");
    data.panels.forEach((entry, index) => {
      const body = v.el("div", { class: "panel-body" });
      const section = v.el("section", { class: "panel", "aria-labelledby": "p" + index, dataset: { kind: entry.panel.kind } },
        v.el("h3", { id: "p" + index }, entry.panel.title),
        entry.panel.description ? v.el("p", { class: "status-line" }, entry.panel.description) : null, body);
      section.style.gridColumn = "span " + Math.min(24, Math.max(4, entry.panel.width || 8));
      grid.append(section);
      if (entry.data) window.vigiePanels.render(body, entry.panel, entry.data);
      else body.append(v.el("p", { class: "empty" }, "No data."));
    });
    document.documentElement.dataset.ready = "1";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
