/* Alerts: firing, pending and recently resolved alerts with their runbook, correlated logs and
   traces; silences (create from an alert, list, expire); notification history. */
(function () {
  "use strict";
  const v = window.vigie;
  const SERVICE_LABELS = ["service", "service_name", "job", "app"];
  let silenceAlert = null;
  let usedIds = new Set();  // one element id per alert name (the #name anchor of the overview)

  function serviceOf(labels) {
    for (const name of SERVICE_LABELS) if (labels[name]) return labels[name];
    return "";
  }

  function correlationLinks(labels, activeAt) {
    const start = Math.floor(new Date(activeAt).getTime() / 1000) - 300;
    const service = serviceOf(labels);
    const params = new URLSearchParams({ range: "custom", start: String(start) });
    if (service) params.set("service", service);
    const logs = new URLSearchParams(params); logs.set("min_level", "warn");
    const traces = new URLSearchParams(params);
    return v.el("span", {},
      v.el("a", { href: "/ui/logs?" + logs.toString() }, "Logs" + (service ? " of " + service : "")), " · ",
      v.el("a", { href: "/ui/traces?" + traces.toString() }, "Traces" + (service ? " of " + service : "")));
  }

  /* Traces and log lines of the alert's service in its active window, asked when opened. */
  function correlated(alert) {
    const details = v.el("details", { class: "correlated-details" }, v.el("summary", {}, "Correlated traces and logs"));
    const body = v.el("div", { class: "correlated" }, v.el("p", { class: "empty" }, "Loading…"));
    details.append(body);
    let loaded = false;
    details.addEventListener("toggle", async () => {
      if (!details.open || loaded) return;
      loaded = true;
      try {
        const labels = Object.entries(alert.labels).map(([k, value]) => k + "=" + value);
        const start = new Date(alert.activeAt).getTime() / 1000;
        const found = await v.prom("/api/v1/alerts/telemetry", { label: labels, start: String(start), limit: 10 });
        body.textContent = "";
        body.append(v.el("p", {}, "Service " + (found.service || "unknown") + ", " + v.fmtTime(found.start_ns / 1e9) + " to " + v.fmtTime(found.end_ns / 1e9) + "."));
        body.append(v.el("h4", {}, "Traces (errors first)"));
        body.append(found.traces.length ? v.el("ul", { class: "correlated-traces" }, found.traces.map((t) => v.el("li", {},
          v.el("a", { href: "/ui/traces?trace=" + t.trace_id + "&range=7d" }, t.root_name), " " + v.fmtDurationNs(t.duration_ns) + ", " +
          t.span_count + " spans" + (t.error_count ? ", " + t.error_count + " errors" : "")))) : v.el("p", { class: "empty" }, "No trace."));
        body.append(v.el("h4", {}, "Log lines"));
        body.append(found.logs.length ? v.el("ul", { class: "correlated-logs" }, found.logs.map((line) => v.el("li", {},
          v.fmtTime(line.time_ns / 1e9) + " " + (line.level || "") + " " + line.body)) ) : v.el("p", { class: "empty" }, "No log line."));
      } catch (error) {
        v.notAvailable(body, "Traces and logs", error);
      }
    });
    return details;
  }

  function runbook(alertname) {
    const details = v.el("details", { class: "runbook-details" }, v.el("summary", {}, "Runbook"));
    const body = v.el("div", { class: "runbook" }, v.el("p", { class: "empty" }, "Loading…"));
    details.append(body);
    let loaded = false;
    details.addEventListener("toggle", async () => {
      if (!details.open || loaded) return;
      loaded = true;
      try {
        const response = await fetch("/runbooks/" + encodeURIComponent(alertname), { credentials: "same-origin" });
        if (response.status === 401) { v.loginRequired(); throw new v.ApiError("login required", 401); }
        if (response.status === 404) { body.textContent = ""; body.append(v.el("p", { class: "empty" }, "No runbook for " + alertname + ".")); return; }
        if (!response.ok) throw new v.ApiError(response.statusText, response.status);
        const doc = new DOMParser().parseFromString(await response.text(), "text/html");
        doc.querySelectorAll("script, style, link, meta, title").forEach((node) => node.remove());
        // Runbook headings sit under this page's h2/h3: shift them so the outline stays ordered.
        doc.body.querySelectorAll("h1, h2, h3, h4").forEach((heading) => {
          const level = Math.min(6, parseInt(heading.tagName[1], 10) + 3);
          const replacement = doc.createElement("h" + level);
          replacement.append(...heading.childNodes);
          heading.replaceWith(replacement);
        });
        body.textContent = "";
        body.append(...Array.from(doc.body.childNodes).map((node) => document.importNode(node, true)));
      } catch (error) {
        v.notAvailable(body, "the runbook", error);
      }
    });
    return details;
  }

  function notifierAlert(alert, notifierAlerts) {
    return notifierAlerts.find((other) => Object.entries(alert.labels).every(([k, value]) => other.labels[k] === value)) || null;
  }

  function silencedBy(alert, notifierAlerts) {
    const match = notifierAlert(alert, notifierAlerts);
    return match && match.status && match.status.silencedBy && match.status.silencedBy.length ? match.status.silencedBy : null;
  }

  function alertCard(alert, notifierAlerts) {
    const name = alert.labels.alertname;
    const silenced = silencedBy(alert, notifierAlerts);
    const known = notifierAlert(alert, notifierAlerts);
    const anchor = usedIds.has(name) ? null : name;
    usedIds.add(name);
    const card = v.el("article", { class: "panel alert-card", id: anchor, "data-fingerprint": known ? known.fingerprint : null, "aria-labelledby": "alert-" + v.slug(name + JSON.stringify(alert.labels)), dataset: { alertname: name, state: alert.state } });
    card.style.marginBottom = ".8em";
    const activeAt = new Date(alert.activeAt).getTime() / 1000;
    const parts = [
      v.el("h3", { id: "alert-" + v.slug(name + JSON.stringify(alert.labels)) },
        v.el("span", { class: "badge " + alert.state }, alert.state), " ", name,
        silenced ? v.el("span", { class: "badge muted silenced" }, " silenced") : null),
      alert.annotations && alert.annotations.summary ? v.el("p", {}, alert.annotations.summary) : null,
      alert.annotations && alert.annotations.description ? v.el("p", { class: "status-line" }, alert.annotations.description) : null,
      v.el("p", {}, "Value ", v.el("strong", {}, v.fmtNumber(parseFloat(alert.value))), " · since ",
        v.el("time", { datetime: alert.activeAt }, v.fmtTime(activeAt)), " (" + v.since(activeAt) + ")"),
      v.labelChips(alert.labels, ["alertname"]),
      v.el("p", {}, correlationLinks(alert.labels, alert.activeAt), " · ",
        silenced ? v.el("span", {}, "Silenced by " + silenced.join(", ")) :
          v.el("button", { type: "button", class: "silence-button", onclick: () => openSilence(alert) }, "Silence…")),
      correlated(alert),
      runbook(name)];
    card.append(...parts.filter(Boolean));
    return card;
  }

  function matcherRow(matcher, index) {
    const id = "m" + index + "-" + Math.random().toString(36).slice(2, 7);
    const op = v.el("select", { id: id + "-op", class: "matcher-op" },
      ["=", "!=", "=~", "!~"].map((o) => v.el("option", { value: o, selected: o === (matcher.op || "=") }, o)));
    const row = v.el("div", { class: "controls matcher" },
      v.el("div", { class: "field" }, v.el("label", { for: id + "-name" }, "Label"), v.el("input", { id: id + "-name", class: "matcher-name", value: matcher.name || "", required: true })),
      v.el("div", { class: "field" }, v.el("label", { for: id + "-op" }, "Operator"), op),
      v.el("div", { class: "field" }, v.el("label", { for: id + "-value" }, "Value"), v.el("input", { id: id + "-value", class: "matcher-value", value: matcher.value || "" })),
      v.el("button", { type: "button", "aria-label": "Remove matcher " + (matcher.name || index + 1), onclick: () => row.remove() }, "Remove"));
    return row;
  }

  function openSilence(alert) {
    silenceAlert = alert;
    const box = document.getElementById("matchers");
    box.textContent = "";
    Object.entries(alert ? alert.labels : { alertname: "" }).forEach(([name, value], i) => box.append(matcherRow({ name, value }, i)));
    const author = document.getElementById("silence-author");
    try { author.value = author.value || localStorage.getItem("vigie-silence-author") || ""; } catch (e) { /* private mode */ }
    document.getElementById("silence-comment").value = alert ? "Silenced from the vigie UI: " + alert.labels.alertname : "";
    document.getElementById("silence-error").hidden = true;
    document.getElementById("silence-dialog").showModal();
    (author.value ? document.getElementById("silence-comment") : author).focus();
  }

  async function createSilence(event) {
    event.preventDefault();
    const errorBox = document.getElementById("silence-error");
    const matchers = Array.from(document.querySelectorAll("#matchers .matcher")).map((row) => {
      const op = row.querySelector(".matcher-op").value;
      return { name: row.querySelector(".matcher-name").value.trim(), value: row.querySelector(".matcher-value").value,
        isRegex: op.includes("~"), isEqual: !op.startsWith("!") };
    }).filter((m) => m.name);
    if (!matchers.length) { errorBox.textContent = "Add at least one matcher."; errorBox.hidden = false; return; }
    const now = new Date();
    const seconds = parseInt(document.getElementById("silence-duration").value, 10);
    const author = document.getElementById("silence-author").value.trim();
    try { localStorage.setItem("vigie-silence-author", author); } catch (e) { /* private mode */ }
    const body = { matchers, startsAt: now.toISOString(), endsAt: new Date(now.getTime() + seconds * 1000).toISOString(),
      createdBy: author, comment: document.getElementById("silence-comment").value.trim() };
    try {
      const answer = await v.api("/api/v2/silences", null, { method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/json" } });
      document.getElementById("silence-dialog").close();
      document.getElementById("alerts-status").textContent = "Silence " + answer.silenceID + " created.";
      silenceAlert = null;
      await load();
    } catch (error) {
      errorBox.textContent = "The silence was not created: " + error.message;
      errorBox.hidden = false;
    }
  }

  function matcherText(m) {
    return m.name + (m.isEqual === false ? (m.isRegex ? "!~" : "!=") : (m.isRegex ? "=~" : "=")) + '"' + m.value + '"';
  }

  function silencesTable(silences) {
    const box = document.getElementById("silences");
    box.textContent = "";
    box.append(v.el("p", {}, v.el("button", { type: "button", id: "new-silence", onclick: () => openSilence(null) }, "New silence…")));
    if (!silences.length) { box.append(v.el("p", { class: "empty" }, "No silence.")); return; }
    const head = ["State", "Matchers", "Starts", "Ends", "Created by", "Comment", ""];
    const table = v.el("table", { class: "data", id: "silences-table" }, v.el("caption", { class: "visually-hidden" }, "Silences"),
      v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h || v.el("span", { class: "visually-hidden" }, "Actions"))))));
    const tbody = v.el("tbody");
    for (const silence of silences) {
      const state = silence.status.state;
      tbody.append(v.el("tr", { dataset: { id: silence.id, state } },
        v.el("td", {}, v.el("span", { class: "badge " + (state === "active" ? "ok" : state === "pending" ? "warn" : "muted") }, state)),
        v.el("td", {}, v.el("span", { class: "labels" }, silence.matchers.map((m) => v.el("span", { class: "label" }, matcherText(m))))),
        v.el("td", {}, v.fmtTime(silence.startsAt)), v.el("td", {}, v.fmtTime(silence.endsAt)),
        v.el("td", {}, silence.createdBy), v.el("td", {}, silence.comment),
        v.el("td", {}, state === "expired" ? "" : v.el("button", { type: "button", "aria-label": "Expire silence " + silence.id,
          onclick: async () => {
            try {
              await v.api("/api/v2/silence/" + encodeURIComponent(silence.id), null, { method: "DELETE" });
              document.getElementById("alerts-status").textContent = "Silence " + silence.id + " expired.";
            } catch (error) { document.getElementById("alerts-status").textContent = "Could not expire: " + error.message; }
            await load();
          } }, "Expire"))));
    }
    table.append(tbody);
    box.append(table);
  }

  function notificationsTable(records) {
    const box = document.getElementById("notifications");
    box.textContent = "";
    if (!records.length) { box.append(v.el("p", { class: "empty" }, "No notification sent yet.")); return; }
    const head = ["Created", "Receiver", "Integration", "Alert status", "Title", "Delivery", "Attempts", "Delivered", "Last error"];
    const table = v.el("table", { class: "data" }, v.el("caption", { class: "visually-hidden" }, "Notification history"),
      v.el("thead", {}, v.el("tr", {}, head.map((h) => v.el("th", { scope: "col" }, h)))));
    const tbody = v.el("tbody");
    for (const r of records) {
      tbody.append(v.el("tr", {},
        v.el("td", {}, v.fmtTime(r.createdAt)), v.el("td", {}, r.receiver), v.el("td", {}, r.integration),
        v.el("td", {}, r.status || ""), v.el("td", {}, r.title || ""),
        v.el("td", {}, v.el("span", { class: "badge " + ({ delivered: "ok", failed: "bad", pending: "warn" }[r.state] || "muted") }, r.state)),
        v.el("td", { class: "num" }, String(r.attempts)), v.el("td", {}, v.fmtTime(r.deliveredAt)), v.el("td", {}, r.lastError || "")));
    }
    table.append(tbody);
    box.append(table);
  }

  async function resolvedAlerts(current) {
    const end = Math.floor(Date.now() / 1000);
    const data = await v.prom("/api/v1/query_range", { query: 'ALERTS{alertstate="firing"}', start: end - 3600, end, step: 15 });
    const firingNow = new Set(current.map((a) => JSON.stringify(Object.entries(a.labels).sort())));
    return data.result.map((series) => {
      const labels = Object.assign({}, series.metric);
      delete labels.__name__; delete labels.alertstate;
      return { labels, last: series.values[series.values.length - 1][0], first: series.values[0][0] };
    }).filter((a) => !firingNow.has(JSON.stringify(Object.entries(a.labels).sort())) && a.last < end - 30);
  }

  async function load() {
    const status = document.getElementById("alerts-status");
    let rules = [];
    try {
      rules = (await v.prom("/api/v1/alerts")).alerts;
    } catch (error) {
      ["firing", "pending", "resolved"].forEach((id) => v.notAvailable(document.getElementById(id), "the alerts", error));
    }
    let notifierAlerts = [];
    try { notifierAlerts = await v.api("/api/v2/alerts"); } catch (error) { /* silences unavailable: shown below */ }
    usedIds = new Set();
    for (const state of ["firing", "pending"]) {
      const box = document.getElementById(state);
      box.textContent = "";
      const chosen = rules.filter((a) => a.state === state);
      if (!chosen.length) box.append(v.el("p", { class: "empty" }, "No " + state + " alert."));
      chosen.forEach((alert) => box.append(alertCard(alert, notifierAlerts)));
    }
    const resolvedBox = document.getElementById("resolved");
    try {
      const resolved = await resolvedAlerts(rules);
      resolvedBox.textContent = "";
      if (!resolved.length) resolvedBox.append(v.el("p", { class: "empty" }, "No alert resolved in the last hour."));
      else {
        const list = v.el("ul");
        resolved.forEach((a) => list.append(v.el("li", {}, v.el("strong", {}, a.labels.alertname), " firing from " + v.fmtTime(a.first) + " to about " + v.fmtTime(a.last) + " ", v.labelChips(a.labels, ["alertname"]))));
        resolvedBox.append(list);
      }
    } catch (error) { v.notAvailable(resolvedBox, "resolved alerts", error); }
    try { silencesTable(await v.api("/api/v2/silences")); } catch (error) { v.notAvailable(document.getElementById("silences"), "Silences", error); }
    try { notificationsTable((await v.api("/api/v1/notifications", { limit: 100 })).data); } catch (error) { v.notAvailable(document.getElementById("notifications"), "Notification history", error); }
    if (!status.textContent.startsWith("Silence")) status.textContent = "Updated " + new Date().toLocaleTimeString();
    document.documentElement.dataset.ready = "1";
    const wanted = v.state.get("alert", "");
    const linked = wanted && document.querySelector('article.alert-card[data-fingerprint="' + wanted.replace(/[^0-9a-f]/g, "") + '"]');
    if (linked && !linked.dataset.scrolled) {
      linked.dataset.scrolled = "1";
      linked.classList.add("linked");
      linked.setAttribute("tabindex", "-1");
      linked.scrollIntoView();
      linked.focus();
    } else if (location.hash) {
      const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target && !target.dataset.scrolled) { target.dataset.scrolled = "1"; target.scrollIntoView(); }
    }
  }

  document.getElementById("alerts-refresh").addEventListener("click", load);
  document.getElementById("silence-form").addEventListener("submit", createSilence);
  document.getElementById("silence-cancel").addEventListener("click", () => document.getElementById("silence-dialog").close());
  document.getElementById("add-matcher").addEventListener("click", () => {
    const box = document.getElementById("matchers");
    box.append(matcherRow({}, box.children.length));
  });
  v.onRefresh(load);
  load();
  setInterval(load, 30000);
})();
