/* Logs: search (full text, level, service, ids, fields, time range), live tail over Server-Sent
   Events, and a jump to the trace of a line. */
(function () {
  "use strict";
  const v = window.vigie;
  const form = document.getElementById("log-form");
  const FIELDS = ["text", "service", "min_level", "trace_id", "request_id", "field", "range", "limit"];
  let source = null;
  let tbody = null;

  function params() {
    const found = {};
    for (const name of FIELDS) {
      const input = form.elements[name];
      if (input && input.value.trim()) found[name] = input.value.trim();
    }
    return found;
  }

  function row(line) {
    const level = line.level || "";
    return v.el("tr", { dataset: { id: String(line.id) } },
      v.el("td", {}, v.el("time", { datetime: new Date(line.time_ns / 1e6).toISOString() }, v.fmtTime(line.time_ns / 1e9))),
      v.el("td", { class: "level-" + level }, level),
      v.el("td", {}, line.service || ""),
      v.el("td", {}, line.body),
      v.el("td", {}, line.trace_id ? v.el("a", { href: "/ui/traces?trace=" + line.trace_id + "&range=7d", class: "trace-link", "aria-label": "Trace " + line.trace_id }, "Trace") : ""));
  }

  function table(lines) {
    const box = document.getElementById("log-results");
    box.textContent = "";
    const head = ["Time", "Level", "Service", "Message", "Trace"];
    const t = v.el("table", { class: "data", id: "log-table" }, v.el("caption", { class: "visually-hidden" }, "Log lines, newest first"),
      v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))));
    tbody = v.el("tbody");
    lines.forEach((line) => tbody.append(row(line)));
    t.append(tbody);
    box.append(t);
    if (!lines.length) box.append(v.el("p", { class: "empty", id: "log-empty" }, "No log line matches."));
  }

  async function search(event) {
    if (event) event.preventDefault();
    const p = params();
    v.state.set(Object.assign(Object.fromEntries(FIELDS.map((f) => [f, ""])), p, { start: v.state.get("start", "") }));
    const errorBox = document.getElementById("log-error");
    errorBox.textContent = "";
    const query = Object.assign({}, p);
    delete query.range;
    const rangeName = document.getElementById("l-range").value;
    query.start = rangeName === "custom" ? v.state.get("start", "") : String(Math.floor(Date.now() / 1000) - v.rangeSeconds(rangeName));
    try {
      const lines = await v.prom("/api/v1/logs/search", query);
      table(lines);
      document.getElementById("log-status").textContent = lines.length + " lines";
    } catch (error) {
      if (error.status === 400) errorBox.append(v.el("p", { class: "error-text" }, error.message));
      else v.notAvailable(document.getElementById("log-results"), "Log search", error);
    }
    document.documentElement.dataset.ready = "1";
  }

  function stopTail() {
    if (source) { source.close(); source = null; }
    const button = document.getElementById("tail-toggle");
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Live tail";
    button.classList.remove("tail-on");
  }

  function startTail() {
    const p = params();
    delete p.range; delete p.limit;
    const url = new URL("/api/v1/logs/tail", location.origin);
    Object.entries(p).forEach(([k, value]) => url.searchParams.set(k, value));
    if (!tbody) table([]);
    source = new EventSource(url, { withCredentials: true });
    const status = document.getElementById("log-status");
    const button = document.getElementById("tail-toggle");
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Stop live tail";
    button.classList.add("tail-on");
    source.addEventListener("open", () => { status.textContent = "Live tail: waiting for new lines…"; });
    source.addEventListener("log", (event) => {
      const line = JSON.parse(event.data);
      const empty = document.getElementById("log-empty");
      if (empty) empty.remove();
      tbody.prepend(row(line));
      while (tbody.children.length > 1000) tbody.lastChild.remove();
      status.textContent = "Live tail: last line at " + v.fmtTime(line.time_ns / 1e9);
    });
    source.addEventListener("error", () => {
      if (source && source.readyState === EventSource.CLOSED) { status.textContent = "Live tail stopped (the server closed the stream)."; stopTail(); }
    });
  }

  v.rangeOptions(document.getElementById("l-range"), v.state.get("range", "1h"));
  if (v.state.get("range") === "custom") document.getElementById("l-range").append(v.el("option", { value: "custom", selected: true }, "Since " + v.fmtTime(v.state.get("start"))));
  for (const name of FIELDS) {
    const value = v.state.get(name, null);
    if (value !== null && form.elements[name] && name !== "range") form.elements[name].value = value;
  }
  form.addEventListener("submit", search);
  document.getElementById("tail-toggle").addEventListener("click", () => (source ? stopTail() : startTail()));
  window.addEventListener("pagehide", stopTail);
  v.onRefresh(search);
  search();
})();
