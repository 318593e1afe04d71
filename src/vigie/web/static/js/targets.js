/* Targets and rules: scrape status with the last error per target; rule groups with their last
   evaluation, duration, health and errors. */
(function () {
  "use strict";
  const v = window.vigie;

  function targets(data) {
    const box = document.getElementById("targets");
    box.textContent = "";
    const pools = {};
    for (const t of data.activeTargets) (pools[t.scrapePool] = pools[t.scrapePool] || []).push(t);
    if (!data.activeTargets.length) { box.append(v.el("p", { class: "empty" }, "No scrape target configured.")); return; }
    for (const [pool, list] of Object.entries(pools).sort()) {
      const up = list.filter((t) => t.health === "up").length;
      const head = ["Endpoint", "State", "Labels", "Last scrape", "Duration", "Last error"];
      box.append(v.el("article", { class: "panel", dataset: { pool } },
        v.el("h3", {}, pool + " (" + up + "/" + list.length + " up)"),
        v.el("table", { class: "data" }, v.el("caption", { class: "visually-hidden" }, "Targets of " + pool),
          v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))),
          v.el("tbody", {}, list.map((t) => v.el("tr", { dataset: { health: t.health } },
            v.el("td", {}, v.el("code", {}, t.scrapeUrl)),
            v.el("td", {}, v.el("span", { class: "badge " + (t.health === "up" ? "ok" : t.health === "down" ? "bad" : "muted") }, t.health)),
            v.el("td", {}, v.labelChips(t.labels)),
            v.el("td", {}, v.fmtTime(t.lastScrape) + " (" + v.since(new Date(t.lastScrape).getTime() / 1000) + ")"),
            v.el("td", { class: "num" }, v.fmtValue(t.lastScrapeDuration, "s")),
            v.el("td", {}, t.lastError ? v.el("span", { class: "error-text" }, t.lastError) : "")))))));
    }
  }

  function rules(data) {
    const box = document.getElementById("rules");
    box.textContent = "";
    if (!data.groups.length) { box.append(v.el("p", { class: "empty" }, "No rule file loaded.")); return; }
    for (const group of data.groups) {
      const head = ["Rule", "Type", "Health", "State", "Last evaluation", "Duration", "Last error"];
      box.append(v.el("article", { class: "panel", dataset: { group: group.name } },
        v.el("h3", {}, group.name),
        v.el("p", { class: "status-line" }, group.file + " · every " + group.interval + " s · last evaluation " + v.fmtTime(group.lastEvaluation) +
          " took " + v.fmtValue(group.evaluationTime, "s")),
        v.el("table", { class: "data" }, v.el("caption", { class: "visually-hidden" }, "Rules of " + group.name),
          v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))),
          v.el("tbody", {}, group.rules.map((r) => v.el("tr", {},
            v.el("td", {}, v.el("strong", {}, r.name), v.el("br"), v.el("code", {}, r.query)),
            v.el("td", {}, r.type), v.el("td", {}, v.el("span", { class: "badge " + (r.health === "ok" ? "ok" : r.health === "err" ? "bad" : "muted") }, r.health)),
            v.el("td", {}, r.state ? v.el("span", { class: "badge " + (r.state === "inactive" ? "muted" : r.state) }, r.state) : ""),
            v.el("td", {}, v.fmtTime(r.lastEvaluation)), v.el("td", { class: "num" }, v.fmtValue(r.evaluationTime, "s")),
            v.el("td", {}, r.lastError ? v.el("span", { class: "error-text" }, r.lastError) : "")))))));
    }
  }

  async function load() {
    try { targets(await v.prom("/api/v1/targets")); } catch (error) { v.notAvailable(document.getElementById("targets"), "Targets", error); }
    try { rules(await v.prom("/api/v1/rules")); } catch (error) { v.notAvailable(document.getElementById("rules"), "Rules", error); }
    document.getElementById("targets-status").textContent = "Updated " + new Date().toLocaleTimeString();
    document.documentElement.dataset.ready = "1";
  }

  document.getElementById("targets-refresh").addEventListener("click", load);
  v.onRefresh(load);
  load();
  setInterval(load, 15000);
})();
