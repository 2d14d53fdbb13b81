// Dashboard: logger state, boards, Start/Stop, notifications and live tiles fed by server-sent events.
// Events only fill buffers; drawing happens at most once per animation frame.
(function () {
  "use strict";
  const Blitz = window.Blitz;
  const KEEP_MS = 300000;      // the longest window offered
  const KEEP_POINTS = 30000;   // per variable
  const live = {
    session: null, events: 0, frames: 0, values: {}, counts: {},
    buffers: {}, tiles: {}, windowMs: 30000, logger: null, pending: false,
  };
  window.blitzLive = live;     // read by the browser tests

  function $(id) { return document.getElementById(id); }

  function showState(logger) {
    live.logger = logger;
    Blitz.showLogger(logger);
    const status = logger && logger.status;
    const logging = Boolean(status && status.logging);
    $("state").textContent = !logger || !logger.connected ? "not reachable" : logging ? "logging" : "idle";
    $("state").className = !logger || !logger.connected ? "state-bad" : logging ? "state-ok" : "";
    $("session").textContent = status && status.session !== null && status.session !== undefined && status.session >= 0 ? String(status.session) : "–";
    $("session-messages").textContent = status && status.session_messages !== undefined ? String(status.session_messages) : "–";
    $("uptime").textContent = status ? Blitz.formatDuration(status.uptime_s) : "–";
    const redis = status && status.redis;
    $("redis").textContent = redis ? (redis.ok ? "ok" : "unavailable") : "–";
    $("redis").className = redis ? (redis.ok ? "state-ok" : "state-bad") : "";
    $("buffered").textContent = redis ? redis.buffered + (redis.dropped ? " (" + redis.dropped + " dropped)" : "") : "–";
    $("start").disabled = !logger || !logger.connected || logging;
    $("stop").disabled = !logger || !logger.connected || !logging;
    showBoards(logger ? logger.boards : []);
  }

  function showBoards(boards) {
    const body = $("boards");
    body.textContent = "";
    if (!boards || !boards.length) {
      body.appendChild(Blitz.el("tr", {}, [Blitz.el("td", { colspan: "5", class: "muted", text: "no boards reported" })]));
      return;
    }
    for (const board of boards) {
      const id = Number(board.id).toString(16).padStart(2, "0");
      const stateClass = board.state === "ok" ? "state-ok" : board.state === "lost" ? "state-bad" : "state-warn";
      body.appendChild(Blitz.el("tr", { "data-board": id }, [
        Blitz.el("td", { title: board.description || "" }, [id + " ", Blitz.el("span", { class: "muted description", text: board.description || "" })]),
        Blitz.el("td", { class: stateClass, text: board.state }),
        Blitz.el("td", { class: "num", text: String(board.messages) }),
        Blitz.el("td", { class: "num", text: board.rate_per_s === null || board.rate_per_s === undefined ? "–" : board.rate_per_s.toFixed(1) }),
        Blitz.el("td", { class: "muted", text: board.port || "" }),
      ]));
    }
  }

  function addNote(note, atTop) {
    const list = $("notes");
    const placeholder = list.querySelector(".muted");
    if (placeholder) placeholder.remove();
    const item = Blitz.el("li", { class: "sev-" + note.severity }, [
      Blitz.el("span", { class: "muted", text: new Date(note.time_ms).toLocaleTimeString() + " " }),
      note.text,
    ]);
    if (atTop) list.insertBefore(item, list.firstChild); else list.appendChild(item);
  }

  function tile(name, unit) {
    if (live.tiles[name]) return live.tiles[name];
    const value = Blitz.el("div", { class: "value", text: "–" });
    const canvas = Blitz.el("canvas", { "aria-label": "last values of " + name });
    const count = Blitz.el("span", { class: "muted" });
    const node = Blitz.el("div", { class: "tile", "data-variable": name }, [
      Blitz.el("div", { class: "name", title: name, text: name + (unit ? " (" + unit + ")" : "") }), value, canvas, count,
    ]);
    const keys = Object.keys(live.tiles).concat([name]).sort();
    const before = live.tiles[keys[keys.indexOf(name) + 1]];
    $("tiles").insertBefore(node, before ? before.node : null);
    live.tiles[name] = { node: node, value: value, canvas: canvas, count: count, color: Blitz.colors[keys.length % Blitz.colors.length] };
    return live.tiles[name];
  }

  function onLive(batch) {
    live.events += 1;
    if (batch.session !== live.session) {
      live.session = batch.session;
      live.buffers = {};
      live.counts = {};
    }
    for (const [name, data] of Object.entries(batch.variables)) {
      const buffer = live.buffers[name] || (live.buffers[name] = { t: [], v: [], unit: data.unit });
      for (let i = 0; i < data.t.length; i++) { buffer.t.push(data.t[i]); buffer.v.push(data.v[i]); }
      const newest = buffer.t[buffer.t.length - 1];
      let drop = 0;
      while (drop < buffer.t.length && buffer.t[drop] < newest - KEEP_MS) drop++;
      drop = Math.max(drop, buffer.t.length - KEEP_POINTS);
      if (drop > 0) { buffer.t.splice(0, drop); buffer.v.splice(0, drop); }
      live.values[name] = buffer.v[buffer.v.length - 1];
      live.counts[name] = (live.counts[name] || 0) + data.t.length;
    }
    if (!live.pending) {
      live.pending = true;
      window.requestAnimationFrame(render);
    }
  }

  function render() {
    live.pending = false;
    live.frames += 1;
    for (const [name, buffer] of Object.entries(live.buffers)) {
      const t = tile(name, buffer.unit);
      t.value.textContent = Blitz.formatNumber(live.values[name], 5);
      t.count.textContent = live.counts[name] + " readings";
      Blitz.drawSparkline(t.canvas, buffer.t, buffer.v, live.windowMs, t.color);
    }
    $("live-info").textContent = "session " + live.session + " · " + Object.keys(live.buffers).length + " variables";
  }

  async function control(action) {
    const result = $("control-result");
    $("start").disabled = true;
    $("stop").disabled = true;
    result.textContent = action === "start" ? "starting…" : "stopping…";
    try {
      const answer = await Blitz.post("/api/logger/" + action);
      result.textContent = action === "start"
        ? (answer.new ? "started session " : "already logging session ") + answer.session
        : "stopped session " + answer.session;
      Blitz.showError(null);
    } catch (error) {
      result.textContent = "";
      Blitz.showError(error.message);
      showState(live.logger);
    }
  }

  function connect() {
    const source = new EventSource("/api/events");
    source.addEventListener("logger", (e) => showState(JSON.parse(e.data)));
    source.addEventListener("live", (e) => onLive(JSON.parse(e.data)));
    source.addEventListener("note", (e) => addNote(JSON.parse(e.data), true));
    source.addEventListener("notes", (e) => {
      $("notes").textContent = "";
      const notes = JSON.parse(e.data);
      if (!notes.length) $("notes").appendChild(Blitz.el("li", { class: "muted", text: "none" }));
      for (const note of notes.slice().reverse()) addNote(note, false);
    });
    source.onerror = () => Blitz.showLogger({ connected: false, address: live.logger && live.logger.address, error: "the console itself is not answering" });
    live.source = source;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("start").addEventListener("click", () => control("start"));
    $("stop").addEventListener("click", () => control("stop"));
    $("window").addEventListener("change", (e) => { live.windowMs = Number(e.target.value) * 1000; render(); });
    connect();
  });
})();
