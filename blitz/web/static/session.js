// Session: one chart per chosen variable on a shared time axis, zoom and pan that fetch the
// new window, per-chart transforms, the statistics table and export links.
(function () {
  "use strict";
  const Blitz = window.Blitz;
  const REFETCH_MS = 120;
  const session = Number(location.pathname.split("/").filter(Boolean).pop());
  const state = {
    session: session, overview: null, origin: 0, full: { x0: 0, x1: 1 }, view: { x0: 0, x1: 1 },
    charts: {}, series: {}, generation: {}, timer: null,
  };
  window.blitzSession = state;         // read by the browser tests
  window.blitzSeries = state.series;   // variable -> the last series JSON the chart received

  function $(id) { return document.getElementById(id); }

  function chosenFromUrl(names) {
    const asked = new URLSearchParams(location.search).getAll("variable").join(",").split(",").filter(Boolean);
    const valid = asked.filter((name) => names.includes(name));
    return valid.length ? valid : names.slice(0, Math.min(2, names.length));
  }

  function setView(x0, x1, fetchNow) {
    state.view = { x0: x0, x1: x1 };
    for (const entry of Object.values(state.charts)) entry.chart.setView(x0, x1);
    $("window-info").textContent = x0.toFixed(3) + " s – " + x1.toFixed(3) + " s";
    clearTimeout(state.timer);
    if (fetchNow) fetchAll(); else state.timer = setTimeout(fetchAll, REFETCH_MS);
  }

  function fetchAll() {
    for (const name of Object.keys(state.charts)) fetchOne(name);
  }

  async function fetchOne(name) {
    const entry = state.charts[name];
    if (!entry) return;
    const generation = (state.generation[name] = (state.generation[name] || 0) + 1);
    const start = state.origin + state.view.x0 * 1000, end = state.origin + state.view.x1 * 1000;
    try {
      const data = await Blitz.fetchSeries(session, name, start, Math.max(start, end), entry.chart.plotWidth());
      if (generation !== state.generation[name] || !state.charts[name]) return;   // a newer window was asked for
      state.series[name] = data;
      entry.info.textContent = data.points + " points" + (data.mode === "envelope" ? " (min/max of " + data.bucket_ms + " ms buckets)" : "") + " · " + data.elapsed_ms + " ms";
      draw(name);
    } catch (error) {
      Blitz.showError(error.message);
    }
  }

  function draw(name) {
    const entry = state.charts[name], data = state.series[name];
    if (!entry || !data) return;
    entry.chart.setLayers([Blitz.seriesLayer(data, state.origin, entry.transform.read(), entry.color)]);
  }

  function addChart(name, index) {
    const canvas = Blitz.el("canvas", { class: "plot", "aria-label": "chart of " + name, "data-variable": name });
    const info = Blitz.el("span", { class: "muted" });
    const transform = Blitz.transformInputs("t-" + name, () => draw(name));
    const node = Blitz.el("div", { class: "chart", "data-variable": name }, [
      Blitz.el("div", { class: "chart-head" }, [Blitz.el("span", { class: "title", text: name }), ...transform.nodes, info]),
      canvas,
    ]);
    $("charts").appendChild(node);
    const chart = new Blitz.TimeChart(canvas, {
      xLabel: "s since the session's first reading",
      onView: (x0, x1) => setView(x0, x1, false),
      onReset: () => setView(state.full.x0, state.full.x1, true),
    });
    chart.setView(state.view.x0, state.view.x1);
    state.charts[name] = { chart: chart, node: node, info: info, transform: transform, color: Blitz.colors[index % Blitz.colors.length] };
    return fetchOne(name);
  }

  function choose(names) {
    for (const name of Object.keys(state.charts)) {
      if (!names.includes(name)) { state.charts[name].node.remove(); delete state.charts[name]; delete state.series[name]; }
    }
    const all = state.overview.variables;
    const fetching = names.filter((name) => !state.charts[name]).map((name) => addChart(name, all.indexOf(name)));
    const query = new URLSearchParams();
    for (const name of names) query.append("variable", name);
    history.replaceState(null, "", location.pathname + "?" + query.toString());
    return Promise.all(fetching);
  }

  function showVariables(names, chosen) {
    const box = $("variables");
    box.textContent = "";
    for (const name of names) {
      const input = Blitz.el("input", { type: "checkbox", value: name, id: "var-" + name, checked: chosen.includes(name) });
      input.addEventListener("change", () => {
        choose(Array.from(box.querySelectorAll("input:checked")).map((i) => i.value));
      });
      box.appendChild(Blitz.el("label", {}, [input, " " + name]));
    }
  }

  async function loadStats() {
    const body = $("stats");
    try {
      const stats = await Blitz.api("/api/sessions/" + session + "/stats");
      body.textContent = "";
      for (const v of stats.variables) {
        body.appendChild(Blitz.el("tr", { "data-variable": v.name }, [
          Blitz.el("td", { text: v.name }),
          Blitz.el("td", { class: "num", text: String(v.count) }),
          Blitz.el("td", { class: "num", text: Blitz.formatNumber(v.min, 6) }),
          Blitz.el("td", { class: "num", text: Blitz.formatNumber(v.max, 6) }),
          Blitz.el("td", { class: "num", text: Blitz.formatNumber(v.mean, 6) }),
          Blitz.el("td", { class: "num", text: Blitz.formatNumber(v.std, 6) }),
          Blitz.el("td", { class: "num", text: Blitz.formatDuration(v.last_s - v.first_s) }),
        ]));
      }
      state.stats = stats;
    } catch (error) {
      body.textContent = "";
      body.appendChild(Blitz.el("tr", {}, [Blitz.el("td", { colspan: "7", class: "state-bad", text: error.message })]));
    }
  }

  async function load() {
    $("title").textContent = "Session " + session;
    document.title = "Blitz · Session " + session;
    for (const fmt of ["csv", "csv-long", "json"]) $("export-" + fmt).href = "/api/sessions/" + session + "/export?format=" + fmt;
    try {
      const overview = await Blitz.api("/api/sessions/" + session);
      state.overview = overview;
      state.origin = overview.first_time_logged;
      state.full = { x0: 0, x1: Math.max(1e-3, (overview.last_time_logged - overview.first_time_logged) / 1000) };
      state.view = Object.assign({}, state.full);
      $("summary").textContent = Blitz.formatTime(overview.time_started) + " · " + Blitz.formatDuration(overview.duration_s) +
        " · " + overview.variables.length + " variables" + (overview.complete ? "" : " · partly downloaded");
      const chosen = chosenFromUrl(overview.variables);
      showVariables(overview.variables, chosen);
      $("window-info").textContent = state.full.x0.toFixed(3) + " s – " + state.full.x1.toFixed(3) + " s";
      await choose(chosen);   // the charts first: statistics scan every reading and can wait
      state.firstChartMs = performance.now();
    } catch (error) {
      Blitz.showError(error.message);
    }
    loadStats();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const first = () => Object.values(state.charts)[0];
    $("zoom-in").addEventListener("click", () => first() && first().chart.zoom(0.5));
    $("zoom-out").addEventListener("click", () => first() && first().chart.zoom(2));
    $("pan-left").addEventListener("click", () => first() && first().chart.pan(-0.2));
    $("pan-right").addEventListener("click", () => first() && first().chart.pan(0.2));
    $("reset").addEventListener("click", () => setView(state.full.x0, state.full.x1, true));
    window.addEventListener("resize", () => { for (const e of Object.values(state.charts)) e.chart.draw(); });
    Blitz.loadLoggerBadge();
    load();
  });
})();
