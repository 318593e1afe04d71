/* A dashboard page (Overview, Infrastructure): the panels of a dashboard definition (the one the
   Grafana export draws), all their data in ONE request (/ui/api/dashboard/<name>/data), with time
   range, auto-refresh, per-panel CSV, a shareable URL and an HTML snapshot export.

   Speed: the data request starts before plotly.js is parsed; figures and tables are drawn at
   once, charts as soon as plotly.js is there, with no forced re-layout between them (the charts'
   CSS `contain: strict`). Performance marks: vigie:<page>-first-data, vigie:<page>-data; each
   panel's section gets data-filled-ms (time since navigation when it was drawn). */
(function () {
  "use strict";
  const v = window.vigie;
  const P = window.vigiePanels;
  const REFRESH = { off: 0, "10s": 10, "30s": 30, "1m": 60, "5m": 300 };
  /* The end of the window is rounded to this many seconds: views opened within it share the
     server's cached answer. */
  const ALIGN_S = 5;

  function mount(options) {
    const page = document.documentElement.dataset.page;
    const extraPanels = options.extraPanels || [];
    let dashboard = null;
    let entries = [];
    let timer = null;
    let firstDone = false;
    let firstShown = false;
    let generation = 0;

    function range() {
      const seconds = v.rangeSeconds(v.state.get("range", "1h"));
      const end = Math.floor(Date.now() / 1000 / ALIGN_S) * ALIGN_S;
      return { start: end - seconds, end, seconds };
    }

    function status(text) {
      const node = document.getElementById("dashboard-status");
      if (node) node.textContent = text;
    }

    function csvOf(entry) {
      if (entry.extra && entry.extra.csv) return entry.extra.csv(entry.data);
      return P.rows(entry.panel, entry.data);
    }

    function build() {
      const grid = document.getElementById("dashboard");
      grid.textContent = "";
      entries = [];
      const add = (panel, extra) => {
        const id = "panel-" + entries.length;
        const body = v.el("div", { class: "panel-body", id: id + "-body", "aria-live": "off" }, v.el("p", { class: "empty" }, "Loading…"));
        const csv = v.el("button", { type: "button", class: "csv", "aria-label": "Download CSV: " + panel.title }, "CSV");
        const section = v.el("section", { class: "panel", id, "aria-labelledby": id + "-title", dataset: { kind: panel.kind, title: panel.title } },
          v.el("div", { class: "panel-head" },
            v.el("div", {}, v.el("h3", { id: id + "-title" }, panel.title), panel.description ? v.el("p", {}, panel.description) : null),
            csv),
          body);
        section.style.gridColumn = "span " + Math.min(24, Math.max(4, panel.width || 8));
        const entry = { panel, section, body, data: null, extra: extra || null };
        csv.addEventListener("click", () => {
          if (!entry.data) return;
          v.download(v.slug(panel.title) + ".csv", v.toCsv(csvOf(entry)));
        });
        entries.push(entry);
        grid.append(section);
      };
      extraPanels.forEach((extra) => add(extra.panel, extra));
      for (const row of dashboard.rows) {
        grid.append(v.el("h2", { class: "row-title" }, row.title));
        row.panels.forEach((panel) => add(panel, null));
      }
    }

    function filled(entry) {
      entry.section.dataset.filledMs = String(Math.round(performance.now()));
      if (!firstShown && entry.body.querySelector(".chart, .stat, table")) {
        firstShown = true;
        performance.mark("vigie:" + page + "-first-data");
      }
    }

    function sentence(text) {
      return text.charAt(0).toUpperCase() + text.slice(1) + (/[.?!)]$/.test(text) ? "" : ".");
    }

    function draw(entry, answer) {
      if (answer.empty) {
        P.clear(entry.body);
        entry.body.append(v.el("p", { class: "empty empty-why" }, sentence(answer.empty)));
        entry.section.dataset.empty = "1";
      } else {
        delete entry.section.dataset.empty;
        P.render(entry.body, entry.panel, entry.data);
      }
      filled(entry);
    }

    async function refresh(fresh) {
      const mine = ++generation;
      const r = range();
      status("Loading…");
      const started = performance.now();
      const alongside = options.alongside ? options.alongside(r) : null; // e.g. the active alerts
      const width = document.getElementById("dashboard").clientWidth || window.innerWidth;
      const extras = extraPanels.flatMap((extra) => extra.queries || []);
      const dashboardEntries = entries.filter((entry) => !entry.extra);
      // Charts wait for plotly.js; figures, tables, empty panels and the extra panels do not.
      let plotly = Boolean(window.Plotly);
      const waiting = [];
      const ready = v.plotlyReady().then(() => {
        plotly = true;
        if (mine === generation) waiting.splice(0).forEach(([entry, part]) => draw(entry, part));
      });
      let meta = {};
      const onPart = (part) => {
        if (mine !== generation) return; // a newer refresh is under way
        if (part.extra) {
          let offset = 0;
          for (const entry of entries) {
            if (!entry.extra) continue;
            const own = (entry.extra.queries || []).length;
            entry.data = entry.extra.data(part.extra.slice(offset, offset + own), r);
            offset += own;
            P.render(entry.body, entry.panel, entry.data);
            filled(entry);
          }
        } else if (part.panel !== undefined) {
          const entry = dashboardEntries[part.panel];
          if (!entry) return;
          entry.data = part.results;
          entry.step = part.step;
          if (plotly || part.empty || ["stat", "table"].includes(entry.panel.kind)) draw(entry, part);
          else waiting.push([entry, part]);
        } else if (part.done) {
          meta = part;
        }
      };
      let data;
      try {
        const params = { end: r.end, range: r.seconds, width: Math.round(width), extra: extras, fresh: fresh === true ? "1" : "" };
        data = (await v.api("/ui/api/dashboard/" + encodeURIComponent(options.name) + "/data", params)).data;
      } catch (error) {
        if (mine === generation) {
          entries.forEach((entry) => { if (!entry.data) v.notAvailable(entry.body, "this panel", error); });
        }
        status("Could not load the dashboard's data: " + error.message);
        await alongside;
        done();
        return;
      }
      onPart({ extra: data.extra });
      data.panels.forEach((answer, index) => onPart(Object.assign({ panel: index }, answer)));
      onPart({ done: true, cached: data.cached });
      await ready;
      if (mine !== generation) return;
      await alongside;
      const took = Math.round(performance.now() - started);
      status("Updated " + new Date().toLocaleTimeString() + " (" + took + " ms" + (meta.cached ? ", from the server's cache" : "") + ")");
      done();
    }

    function done() {
      if (firstDone) return;
      firstDone = true;
      performance.mark("vigie:" + page + "-data");
      document.documentElement.dataset.ready = "1";
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
          panels: entries.map((entry) => ({ panel: entry.panel, data: entry.data })),
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
        v.download("vigie-" + page + "-" + new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-") + ".html", html, "text/html;charset=utf-8");
        status("Snapshot exported.");
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
      document.getElementById("refresh-now").addEventListener("click", () => refresh(true));
      document.getElementById("export-snapshot").addEventListener("click", snapshot);
      document.getElementById("copy-link").addEventListener("click", async () => {
        v.state.set({ range: rangeSelect.value, refresh: refreshSelect.value });
        try { await navigator.clipboard.writeText(location.href); status("Link copied: " + location.href); }
        catch (e) { status("Link to this view: " + location.href); }
      });
      document.addEventListener("vigie:theme", () => entries.forEach((e) => e.data && !e.section.dataset.empty && P.render(e.body, e.panel, e.data)));
      v.onRefresh(() => refresh(true));
      try {
        const inline = document.getElementById("dashboard-data");
        dashboard = inline ? JSON.parse(inline.textContent) : await v.api("/ui/api/dashboard/" + encodeURIComponent(options.name));
      } catch (error) {
        v.notAvailable(document.getElementById("dashboard"), "the dashboard definition", error);
        done();
        return;
      }
      const name = dashboard.title.replace(/^vigie \/ /, "");
      document.getElementById("dashboard-title").textContent = name === options.title ? name : options.title + " — " + name;
      const description = document.getElementById("dashboard-description");
      if (description) description.textContent = dashboard.description || "";
      build();
      schedule();
      await refresh();
    }

    start();
  }

  window.vigieDashboard = { mount };
})();
