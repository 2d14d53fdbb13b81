// Blitz web console: helpers every page uses (JSON API calls, formatting, the logger badge).
(function () {
  "use strict";
  const Blitz = (window.Blitz = window.Blitz || {});

  // GET or POST a JSON API path; rejects with the server's {"error": ...} text.
  Blitz.api = async function (path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.credentials = "same-origin";
    if (opts.body !== undefined && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["content-type"] = "application/json";
    }
    const response = await fetch(path, opts);
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
    }
    if (!response.ok) {
      const message = (data && data.error) || response.status + " " + response.statusText;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  };

  Blitz.post = function (path, body) {
    return Blitz.api(path, { method: "POST", body: body === undefined ? {} : body });
  };

  Blitz.el = function (tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  };

  Blitz.formatNumber = function (value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const d = digits === undefined ? 4 : digits;
    const abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(d - 1);
    return Number(value.toPrecision(d + 2)).toString();
  };

  Blitz.formatDuration = function (seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return h + " h " + m + " min";
    if (m) return m + " min " + r + " s";
    return (seconds < 10 ? seconds.toFixed(1) : String(r)) + " s";
  };

  Blitz.formatTime = function (ms) {
    if (ms === null || ms === undefined) return "–";
    const date = new Date(ms);
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  };

  // Show `message` in the page's error banner (or hide it with null).
  Blitz.showError = function (message) {
    const banner = document.getElementById("error");
    if (!banner) return;
    banner.textContent = message || "";
    banner.classList.toggle("hidden", !message);
  };

  // The header's logger badge and the offline banner, from a `logger` state object.
  Blitz.showLogger = function (logger) {
    const badge = document.getElementById("logger-badge");
    const banner = document.getElementById("offline");
    const ok = Boolean(logger && logger.connected);
    if (badge) {
      badge.textContent = "";
      badge.appendChild(Blitz.el("span", { class: "dot " + (ok ? "ok" : "bad") }));
      const address = (logger && logger.address) || "no logger";
      badge.appendChild(document.createTextNode((ok ? "logger " : "logger offline ") + address));
    }
    if (banner) {
      banner.classList.toggle("hidden", ok);
      if (!ok) {
        const why = logger && logger.error ? " (" + logger.error + ")" : "";
        banner.textContent = "The logger" + (logger && logger.address ? " at " + logger.address : "") +
          " is not reachable" + why + ". You can still browse, chart and export the sessions in the local database.";
      }
    }
  };

  Blitz.loadLoggerBadge = function () {
    return Blitz.api("/api/status").then(function (status) {
      Blitz.showLogger(status.logger);
      return status;
    }).catch(function (error) { Blitz.showError(error.message); });
  };

  Blitz.colors = ["#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#cf222e", "#57606a"];
})();
