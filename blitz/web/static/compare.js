// Compare: two sessions overlaid on one relative-seconds axis, their statistics side by side.
(function () {
  "use strict";
  const Blitz = window.Blitz;
  const REFETCH_MS = 120;
  const state = { a: null, b: null, variable: null, overviews: {}, series: {}, view: { x0: 0, x1: 1 }, full: { x0: 0, x1: 1 }, generation: 0, timer: null };
  window.blitzCompare = state;   // read by the browser tests

  function $(id) { return document.getElementById(id); }

  let chart = null, transform = null;

  function option(value, label, selected) {
    return Blitz.el("option", { value: String(value), selected: selected, text: label });
  }

  async function refetch() {
    const generation = ++state.generation;
    const { a, b, variable } = state;
    if (a === null || b === null || !variable) return;
    const width = chart.plotWidth();
    const want = [["a", a], ["b", b]].filter(([, id]) => state.overviews[id].variables.includes(variable));
    try {
      const results = await Promise.all(want.map(([, id]) => {
        const origin = state.overviews[id].first_time_logged;
        return Blitz.fetchSeries(id, variable, origin + state.view.x0 * 1000, origin + Math.max(state.view.x0, state.view.x1) * 1000, width);
      }));
      if (generation !== state.generation) return;
      state.series = {};
      want.forEach(([key], i) => { state.series[key] = results[i]; });
      draw();
    } catch (error) {
      Blitz.showError(error.message);
    }
  }

  function draw() {
    const layers = [];
    for (const [key, index] of [["a", 0], ["b", 1]]) {
      const data = state.series[key];
      if (!data) continue;
      const origin = state.overviews[state[key]].first_time_logged;
      layers.push(Blitz.seriesLayer(data, origin, transform.read(), Blitz.colors[index]));
    }
    chart.setLayers(layers);
  }

  function setView(x0, x1, now) {
    state.view = { x0: x0, x1: x1 };
    chart.setView(x0, x1);
    clearTimeout(state.timer);
    if (now) refetch(); else state.timer = setTimeout(refetch, REFETCH_MS);
  }

  async function loadStats() {
    const body = $("stats");
    try {
      const result = await Blitz.api("/api/compare?a=" + state.a + "&b=" + state.b);
      state.comparison = result;
      body.textContent = "";
      const byName = (list) => Object.fromEntries(list.map((v) => [v.name, v]));
      const va = byName(result.a.variables), vb = byName(result.b.variables);
      const names = Array.from(new Set(Object.keys(va).concat(Object.keys(vb)))).sort();
      const f = (v, key) => (v ? Blitz.formatNumber(v[key], 6) : "–");
      for (const name of names) {
        const x = va[name], y = vb[name];
        const diff = result.differences.variables[name];
        body.appendChild(Blitz.el("tr", { "data-variable": name }, [
          Blitz.el("td", { text: name }),
          Blitz.el("td", { class: "num", text: x ? String(x.count) : "–" }), Blitz.el("td", { class: "num", text: y ? String(y.count) : "–" }),
          Blitz.el("td", { class: "num", text: f(x, "min") }), Blitz.el("td", { class: "num", text: f(y, "min") }),
          Blitz.el("td", { class: "num", text: f(x, "max") }), Blitz.el("td", { class: "num", text: f(y, "max") }),
          Blitz.el("td", { class: "num", text: f(x, "mean") }), Blitz.el("td", { class: "num", text: f(y, "mean") }),
          Blitz.el("td", { class: "num", text: f(x, "std") }), Blitz.el("td", { class: "num", text: f(y, "std") }),
          Blitz.el("td", { class: "num", text: diff ? Blitz.formatNumber(diff.mean, 6) : "–" }),
        ]));
      }
    } catch (error) {
      body.textContent = "";
      body.appendChild(Blitz.el("tr", {}, [Blitz.el("td", { colspan: "12", class: "state-bad", text: error.message })]));
    }
  }

  async function choose() {
    state.a = Number($("a").value);
    state.b = Number($("b").value);
    try {
      for (const id of [state.a, state.b]) {
        if (!state.overviews[id]) state.overviews[id] = await Blitz.api("/api/sessions/" + id);
      }
    } catch (error) {
      Blitz.showError(error.message);
      return;
    }
    const oa = state.overviews[state.a], ob = state.overviews[state.b];
    const names = Array.from(new Set(oa.variables.concat(ob.variables))).sort();
    const common = names.filter((n) => oa.variables.includes(n) && ob.variables.includes(n));
    const asked = new URLSearchParams(location.search).get("variable");
    const keep = [state.variable, asked].find((n) => n && names.includes(n));
    state.variable = keep || common[0] || names[0];
    const select = $("variable");
    select.textContent = "";
    for (const name of names) select.appendChild(option(name, name + (common.includes(name) ? "" : " (one session only)"), name === state.variable));
    const duration = (o) => (o.last_time_logged - o.first_time_logged) / 1000;
    state.full = { x0: 0, x1: Math.max(1e-3, duration(oa), duration(ob)) };
    $("legend").textContent = "";
    [state.a, state.b].forEach((id, index) => {
      const swatch = Blitz.el("i");
      swatch.style.background = Blitz.colors[index];   // CSSOM, allowed by the page's CSP
      $("legend").append(Blitz.el("span", {}, [swatch, "session " + id]));
    });
    history.replaceState(null, "", "/compare?a=" + state.a + "&b=" + state.b + "&variable=" + encodeURIComponent(state.variable));
    setView(state.full.x0, state.full.x1, true);
    loadStats();
  }

  async function load() {
    try {
      const list = await Blitz.api("/api/sessions");
      Blitz.showLogger(list.logger);
      const stored = list.sessions.filter((s) => s.stored_messages > 0);
      if (stored.length < 1) {
        Blitz.showError("No downloaded sessions yet: download two on the Sessions page to compare them.");
        return;
      }
      const params = new URLSearchParams(location.search);
      const ids = stored.map((s) => s.id);
      const a = ids.includes(Number(params.get("a"))) ? Number(params.get("a")) : ids[Math.min(1, ids.length - 1)];
      const b = ids.includes(Number(params.get("b"))) ? Number(params.get("b")) : ids[0];
      for (const s of stored) {
        const label = "session " + s.id + " · " + Blitz.formatTime(s.time_started);
        $("a").appendChild(option(s.id, label, s.id === a));
        $("b").appendChild(option(s.id, label, s.id === b));
      }
      await choose();
    } catch (error) {
      Blitz.showError(error.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    transform = Blitz.transformInputs("compare", draw);
    $("transform").append(Blitz.el("span", { class: "title", text: "Transform both:" }), ...transform.nodes);
    chart = new Blitz.TimeChart($("plot"), {
      xLabel: "s since each session's first reading",
      onView: (x0, x1) => setView(x0, x1, false),
      onReset: () => setView(state.full.x0, state.full.x1, true),
    });
    $("a").addEventListener("change", choose);
    $("b").addEventListener("change", choose);
    $("variable").addEventListener("change", (e) => { state.variable = e.target.value; choose(); });
    $("reset").addEventListener("click", () => setView(state.full.x0, state.full.x1, true));
    load();
  });
})();
