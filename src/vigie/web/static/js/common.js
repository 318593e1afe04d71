/* vigie UI: what every page shares — API calls (credentials sent, 401 handled), URL state,
   formatting, DOM building, CSV download, theme and keyboard shortcuts. No inline script anywhere:
   the pages' Content-Security-Policy forbids it. */
(function () {
  "use strict";

  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];
  const PALETTE_CONTRAST = ["#56B4E9", "#E69F00", "#009E73", "#F0E442", "#CC79A7", "#D55E00", "#FFFFFF", "#0072B2"];
  const RANGES = { "5m": 300, "15m": 900, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200, "24h": 86400, "7d": 604800 };

  class ApiError extends Error {
    constructor(message, status, kind) {
      super(message);
      this.status = status;
      this.kind = kind || "";
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function banner(message) {
    const node = document.getElementById("banner");
    if (!node) return;
    node.textContent = "";
    if (!message) { node.hidden = true; return; }
    node.append(message);
    node.hidden = false;
  }

  function loginRequired() {
    const link = el("a", { href: "/login?next=" + encodeURIComponent(location.pathname + location.search) }, "Log in");
    banner(el("span", {}, "Login required: this vigie server asks for authentication. ", link, " and come back."));
    document.documentElement.dataset.auth = "required";
  }

  /* GET (or other method) on the server's API. Sends the session cookie; 401 shows the
     login-required state; the Prometheus envelope's errors become ApiError. */
  async function api(path, params, options) {
    const url = new URL(path, location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value === null || value === undefined || value === "") continue;
      if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(key, v));
      else url.searchParams.set(key, value);
    }
    const init = Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options || {});
    const response = await fetch(url, init);
    if (response.status === 401) {
      loginRequired();
      throw new ApiError("login required", 401, "unauthorized");
    }
    const type = response.headers.get("content-type") || "";
    let body = null;
    if (type.includes("json")) body = await response.json();
    else body = await response.text();
    if (!response.ok) {
      let message = typeof body === "string" ? body.trim() : (body && (body.error || JSON.stringify(body)));
      if (response.status === 404 && !message) message = "not available";
      throw new ApiError(message || response.statusText, response.status, body && body.errorType);
    }
    if (body && typeof body === "object" && body.status === "error") {
      throw new ApiError(body.error, response.status, body.errorType);
    }
    return body;
  }

  /* Prometheus API: data of the envelope. */
  async function prom(path, params) {
    const body = await api(path, params);
    return body.data;
  }

  function notAvailable(container, what, error) {
    container.textContent = "";
    if (error && error.status === 401) {
      container.append(el("p", { class: "empty" }, "Login required to see " + what + "."));
    } else if (error && error.status === 404) {
      container.append(el("p", { class: "empty" }, what + " is not available on this server (" + error.message + ")."));
    } else {
      container.append(el("p", { class: "error-text" }, "Could not load " + what + ": " + (error ? error.message : "unknown error")));
    }
  }

  /* URL query string as the page's state: shareable, restored on load. */
  const state = {
    get(name, fallback) {
      const value = new URLSearchParams(location.search).get(name);
      return value === null ? fallback : value;
    },
    all(name) { return new URLSearchParams(location.search).getAll(name); },
    set(values) {
      const params = new URLSearchParams(location.search);
      for (const [key, value] of Object.entries(values)) {
        params.delete(key);
        if (Array.isArray(value)) value.forEach((v) => v !== "" && params.append(key, v));
        else if (value !== null && value !== undefined && value !== "") params.set(key, value);
      }
      const query = params.toString();
      history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
    },
  };

  function rangeSeconds(name) {
    return RANGES[name] || 3600;
  }

  function autoStep(seconds) {
    return Math.max(5, Math.ceil(seconds / 180));
  }

  function fmtNumber(value, digits) {
    if (!isFinite(value)) return String(value);
    const abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(2);
    return value.toLocaleString("en", { maximumFractionDigits: digits === undefined ? 3 : digits });
  }

  function fmtValue(raw, unit) {
    const value = typeof raw === "string" ? parseFloat(raw) : raw;
    if (raw === null || raw === undefined || isNaN(value)) return "–";
    switch (unit) {
      case "percentunit": return fmtNumber(value * 100, 1) + " %";
      case "s": return value < 1 ? fmtNumber(value * 1000, 0) + " ms" : fmtNumber(value, 2) + " s";
      case "reqps": return fmtNumber(value, 2) + " req/s";
      case "currencyEUR": return "€" + fmtNumber(value, 2);
      case "currencyUSD": return "$" + fmtNumber(value, 2);
      case "bytes": return fmtNumber(value / 1048576, 1) + " MiB";
      default: return fmtNumber(value, 3);
    }
  }

  function fmtTime(seconds) {
    if (seconds === null || seconds === undefined || seconds === "") return "–";
    const date = typeof seconds === "string" && !/^[0-9.]+$/.test(seconds) ? new Date(seconds) : new Date(Number(seconds) * 1000);
    if (isNaN(date.getTime()) || date.getFullYear() < 1971) return "–";
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function fmtDurationNs(ns) {
    const ms = ns / 1e6;
    if (ms < 1) return fmtNumber(ns / 1e3, 1) + " µs";
    if (ms < 1000) return fmtNumber(ms, 1) + " ms";
    return fmtNumber(ms / 1000, 2) + " s";
  }

  function since(seconds) {
    const delta = Date.now() / 1000 - seconds;
    if (!isFinite(delta)) return "";
    if (delta < 90) return Math.round(delta) + " s ago";
    if (delta < 5400) return Math.round(delta / 60) + " min ago";
    if (delta < 172800) return Math.round(delta / 3600) + " h ago";
    return Math.round(delta / 86400) + " d ago";
  }

  function labelChips(labels, skip) {
    const list = el("span", { class: "labels" });
    for (const [key, value] of Object.entries(labels || {})) {
      if (skip && skip.includes(key)) continue;
      list.append(el("span", { class: "label" }, key + "=" + value));
    }
    return list;
  }

  function seriesName(metric) {
    const labels = Object.entries(metric || {}).filter(([k]) => k !== "__name__").map(([k, v]) => k + '="' + v + '"');
    return (metric && metric.__name__ ? metric.__name__ : "") + "{" + labels.join(", ") + "}";
  }

  function csvCell(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function toCsv(rows) {
    return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
  }

  function download(filename, text, type) {
    const blob = new Blob([text], { type: type || "text/csv;charset=utf-8" });
    const link = el("a", { href: URL.createObjectURL(blob), download: filename });
    document.body.append(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  function slug(text) {
    return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "data";
  }

  function theme() {
    return document.documentElement.dataset.theme === "contrast" ? "contrast" : "light";
  }

  function palette() {
    return theme() === "contrast" ? PALETTE_CONTRAST : PALETTE;
  }

  function setTheme(name) {
    if (name === "contrast") document.documentElement.dataset.theme = "contrast";
    else delete document.documentElement.dataset.theme;
    try { localStorage.setItem("vigie-theme", name); } catch (e) { /* private mode */ }
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", String(name === "contrast"));
    document.dispatchEvent(new CustomEvent("vigie:theme"));
  }

  function rangeOptions(select, current) {
    for (const name of Object.keys(RANGES)) {
      select.append(el("option", { value: name, selected: name === current }, "Last " + name));
    }
  }

  /* Resolves once plotly.js has run (it is the last deferred script of a page). */
  function plotlyReady() {
    return new Promise((resolve) => {
      if (window.Plotly || document.readyState === "complete") resolve();
      else document.addEventListener("DOMContentLoaded", () => resolve());
    });
  }

  let refreshHandler = null;
  function onRefresh(handler) { refreshHandler = handler; }

  function init() {
    let saved = "light";
    try { saved = localStorage.getItem("vigie-theme") || "light"; } catch (e) { /* private mode */ }
    setTheme(saved);
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", () => setTheme(theme() === "contrast" ? "light" : "contrast"));
    const help = document.getElementById("help-dialog");
    const helpButton = document.getElementById("help-toggle");
    if (help && helpButton) helpButton.addEventListener("click", () => help.showModal());
    let pendingG = false;
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      const typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      if (pendingG) {
        pendingG = false;
        const link = document.querySelector('.nav a[data-key="' + event.key + '"]');
        if (link) { event.preventDefault(); location.href = link.href; }
        return;
      }
      if (event.key === "g") { pendingG = true; setTimeout(() => { pendingG = false; }, 1500); }
      else if (event.key === "?" && help) { event.preventDefault(); help.showModal(); }
      else if (event.key === "/") {
        const field = document.querySelector("main input, main textarea");
        if (field) { event.preventDefault(); field.focus(); }
      } else if (event.key === "r" && refreshHandler) { event.preventDefault(); refreshHandler(); }
      else if (event.key === "c") setTheme(theme() === "contrast" ? "light" : "contrast");
    });
  }

  window.vigie = {
    ApiError, api, prom, el, banner, notAvailable, state, rangeSeconds, autoStep, RANGES, rangeOptions,
    fmtValue, fmtNumber, fmtTime, fmtDurationNs, since, labelChips, seriesName, toCsv, download, slug,
    theme, palette, setTheme, onRefresh, loginRequired, plotlyReady,
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
