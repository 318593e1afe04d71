/* Explore: a PromQL editor with autocompletion (metric names, label names and values from the
   API), errors shown at their position, graph and table views, range/step and CSV export. */
(function () {
  "use strict";
  const v = window.vigie;
  const P = () => window.vigiePanels;
  const FUNCTIONS = ["abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "count_over_time", "delta", "deriv", "exp", "floor", "histogram_quantile", "holt_winters", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "log2", "log10", "max_over_time", "min_over_time", "predict_linear",
    "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt", "stddev_over_time", "sum_over_time",
    "time", "timestamp", "vector", "sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev", "count_values", "group"];
  const editor = document.getElementById("query");
  const list = document.getElementById("suggestions");
  let metricNames = [];
  let result = null;
  let view = v.state.get("tab", "graph");
  let active = -1;
  let items = [];
  const cache = new Map();

  async function cached(path, params) {
    const key = path + JSON.stringify(params || {});
    if (!cache.has(key)) cache.set(key, v.prom(path, params).catch(() => []));
    return cache.get(key);
  }

  /* What is being typed at the cursor: a metric/function name, a label name or a label value. */
  function context() {
    const text = editor.value.slice(0, editor.selectionStart);
    const open = text.lastIndexOf("{"), close = text.lastIndexOf("}");
    if (open > close) {
      const metric = (text.slice(0, open).match(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/) || [])[1] || "";
      const inside = text.slice(open + 1);
      const value = inside.match(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/);
      if (value) return { kind: "value", metric, label: value[1], prefix: value[3] };
      const name = inside.match(/(?:^|,)\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/);
      if (name) return { kind: "label", metric, prefix: name[1] || "" };
      return null;
    }
    const word = text.match(/([a-zA-Z_:][a-zA-Z0-9_:]*)$/);
    if (word && !/\[[^\]]*$/.test(text)) return { kind: "metric", prefix: word[1] };
    return null;
  }

  async function suggest() {
    const where = context();
    if (!where) { close(); return; }
    const match = where.metric ? { "match[]": where.metric } : {};
    let options = [];
    if (where.kind === "metric") {
      if (where.prefix.length < 1) { close(); return; }
      options = metricNames.concat(FUNCTIONS).filter((name) => name.startsWith(where.prefix) && name !== where.prefix);
    } else if (where.kind === "label") {
      options = (await cached("/api/v1/labels", match)).filter((n) => n !== "__name__" && n.startsWith(where.prefix));
    } else {
      options = (await cached("/api/v1/label/" + encodeURIComponent(where.label) + "/values", match)).filter((n) => n.startsWith(where.prefix));
    }
    show([...new Set(options)].slice(0, 50), where);
  }

  function show(options, where) {
    items = options.map((text) => ({ text, where }));
    list.textContent = "";
    active = -1;
    if (!items.length) { close(); return; }
    items.forEach((item, index) => {
      list.append(v.el("li", { id: "suggestion-" + index, role: "option", "aria-selected": "false",
        onmousedown: (event) => { event.preventDefault(); accept(index); } }, item.text));
    });
    list.hidden = false;
    move(0);
  }

  function close() {
    list.hidden = true;
    items = [];
    editor.removeAttribute("aria-activedescendant");
  }

  function move(index) {
    if (!items.length) return;
    active = (index + items.length) % items.length;
    Array.from(list.children).forEach((node, i) => node.setAttribute("aria-selected", String(i === active)));
    editor.setAttribute("aria-activedescendant", "suggestion-" + active);
    list.children[active].scrollIntoView({ block: "nearest" });
  }

  function accept(index) {
    const item = items[index];
    const cursor = editor.selectionStart;
    const before = editor.value.slice(0, cursor - item.where.prefix.length);
    const after = editor.value.slice(cursor);
    editor.value = before + item.text + after;
    const position = before.length + item.text.length;
    editor.setSelectionRange(position, position);
    close();
    editor.focus();
  }

  /* Prometheus errors start with "line:column:"; show the message under a caret at that spot. */
  function showError(message) {
    const box = document.getElementById("query-error");
    box.textContent = "";
    editor.removeAttribute("aria-invalid");
    if (!message) return;
    editor.setAttribute("aria-invalid", "true");
    const position = message.match(/^(\d+):(\d+):/);
    box.append(v.el("p", { class: "error-text", id: "query-error-message" }, message));
    if (position) {
      const line = parseInt(position[1], 10), column = parseInt(position[2], 10);
      const text = editor.value.split("\n")[line - 1] || "";
      box.append(v.el("pre", { class: "caret-line", "aria-label": "Error position: line " + line + ", column " + column },
        text + "\n" + " ".repeat(Math.max(0, column - 1)) + "^"));
      let offset = 0;
      editor.value.split("\n").slice(0, line - 1).forEach((l) => { offset += l.length + 1; });
      const at = Math.min(editor.value.length, offset + column - 1);
      editor.setSelectionRange(at, at);
    }
  }

  function range() {
    const seconds = v.rangeSeconds(document.getElementById("explore-range").value);
    const endText = document.getElementById("explore-end").value;
    const end = endText ? Math.floor(new Date(endText + "Z").getTime() / 1000) : Math.floor(Date.now() / 1000);
    const stepText = document.getElementById("explore-step").value.trim();
    const step = stepText ? parseFloat(stepText) : v.autoStep(seconds);
    return { start: end - seconds, end, step };
  }

  function renderTable() {
    const box = document.getElementById("result-table");
    box.textContent = "";
    if (!result) return;
    const table = v.el("table", { class: "data", id: "result-data" }, v.el("caption", { class: "visually-hidden" }, "Query result"),
      v.el("thead", {}, v.el("tr", {}, v.el("th", { scope: "col" }, "Series"), v.el("th", { scope: "col" }, "Last value"), v.el("th", { scope: "col" }, "Time"))));
    const tbody = v.el("tbody");
    for (const item of result.result) {
      const last = item.values ? item.values[item.values.length - 1] : item.value;
      tbody.append(v.el("tr", {}, v.el("td", {}, v.el("code", {}, v.seriesName(item.metric))), v.el("td", { class: "num" }, last[1]), v.el("td", {}, v.fmtTime(last[0]))));
    }
    table.append(tbody);
    box.append(table);
  }

  async function render() {
    document.getElementById("tab-graph").setAttribute("aria-pressed", String(view === "graph"));
    document.getElementById("tab-table").setAttribute("aria-pressed", String(view === "table"));
    document.getElementById("result-graph").hidden = view !== "graph";
    document.getElementById("result-table").hidden = view !== "table";
    if (!result) return;
    if (view === "graph") {
      await v.plotlyReady();
      const panel = { title: "Query result", kind: "timeseries", unit: "", queries: [{ expr: editor.value, legend: "" }] };
      P().render(document.getElementById("result-graph"), panel, [result]);
    } else renderTable();
  }

  async function run(event) {
    if (event) event.preventDefault();
    close();
    const query = editor.value.trim();
    const r = range();
    v.state.set({ q: query, range: document.getElementById("explore-range").value, end: document.getElementById("explore-end").value,
      step: document.getElementById("explore-step").value, tab: view });
    showError("");
    const status = document.getElementById("explore-status");
    if (!query) { status.textContent = "Type a query."; document.documentElement.dataset.ready = "1"; return; }
    status.textContent = "Running…";
    const started = performance.now();
    try {
      result = await v.prom("/api/v1/query_range", { query, start: r.start, end: r.end, step: r.step });
      result.window = [r.start, r.end];
      const points = result.result.reduce((n, s) => n + (s.values ? s.values.length : 1), 0);
      status.textContent = result.result.length + " series, " + points + " points in " + Math.round(performance.now() - started) + " ms";
      await render();
    } catch (error) {
      result = null;
      status.textContent = "";
      document.getElementById("result-graph").textContent = "";
      document.getElementById("result-table").textContent = "";
      showError(error.message);
    }
    document.documentElement.dataset.ready = "1";
  }

  editor.addEventListener("input", () => { suggest(); });
  editor.addEventListener("blur", () => setTimeout(close, 150));
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); return; }
    if (list.hidden) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); run(); }
      return;
    }
    if (event.key === "ArrowDown") { event.preventDefault(); move(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); move(active - 1); }
    else if (event.key === "Enter" || event.key === "Tab") { event.preventDefault(); accept(active); }
    else if (event.key === "Escape") { event.preventDefault(); close(); }
  });
  document.getElementById("explore-form").addEventListener("submit", run);
  document.getElementById("tab-graph").addEventListener("click", () => { view = "graph"; v.state.set({ tab: view }); render(); });
  document.getElementById("tab-table").addEventListener("click", () => { view = "table"; v.state.set({ tab: view }); render(); });
  document.getElementById("explore-csv").addEventListener("click", () => {
    if (!result) return;
    const panel = { title: "query", queries: [{ expr: editor.value, legend: "" }] };
    v.download("vigie-query.csv", v.toCsv(P().rows(panel, [result])));
  });
  v.onRefresh(run);
  v.rangeOptions(document.getElementById("explore-range"), v.state.get("range", "1h"));
  editor.value = v.state.get("q", "");
  document.getElementById("explore-end").value = v.state.get("end", "");
  document.getElementById("explore-step").value = v.state.get("step", "");
  cached("/api/v1/label/__name__/values").then((names) => { metricNames = names; });
  run();
})();
