// Series helpers shared by the session and compare pages: fetch one window of a variable,
// turn the API's raw points or min/max envelope into a chart layer, apply the user's transforms.
(function () {
  "use strict";
  const Blitz = (window.Blitz = window.Blitz || {});
  const fetchLog = (window.blitzFetchLog = window.blitzFetchLog || []);   // every series request, for tests

  // GET one variable's points in [startMs, endMs] for a chart `width` pixels wide.
  Blitz.fetchSeries = async function (session, variable, startMs, endMs, width) {
    const query = new URLSearchParams({
      variable: variable, start: String(Math.floor(startMs)), end: String(Math.ceil(endMs)),
      width: String(Math.max(10, Math.min(8000, Math.round(width)))),
    });
    const data = await Blitz.api("/api/sessions/" + session + "/series?" + query.toString());
    fetchLog.push({ session: session, variable: variable, start: data.start, end: data.end,
      width: data.width, mode: data.mode, points: data.points, elapsed_ms: data.elapsed_ms });
    return data;
  };

  // Moving average of `values` over `n` points (centred where possible); n <= 1 returns them as they are.
  function movingAverage(values, n) {
    if (!(n > 1) || values.length === 0) return values;
    const out = new Array(values.length);
    const half = Math.floor(n / 2);
    let sum = 0, lo = 0, hi = -1;
    for (let i = 0; i < values.length; i++) {
      const want = Math.min(values.length - 1, i + n - 1 - half), from = Math.max(0, want - n + 1);
      while (hi < want) sum += values[++hi];
      while (lo < from) sum -= values[lo++];
      out[i] = sum / (hi - lo + 1);
    }
    return out;
  }
  Blitz.movingAverage = movingAverage;

  // transform: {scale, offset, average}; x in seconds from originMs.
  Blitz.seriesLayer = function (data, originMs, transform, color) {
    const scale = transform && Number.isFinite(transform.scale) ? transform.scale : 1;
    const offset = transform && Number.isFinite(transform.offset) ? transform.offset : 0;
    const average = transform && transform.average > 1 ? Math.floor(transform.average) : 1;
    const f = (v) => v * scale + offset;
    if (data.mode === "raw") {
      const x = data.t.map((t) => (t - originMs) / 1000);
      return { color: color, x: x, y: movingAverage(data.v.map(f), average) };
    }
    const x = data.t_first.map((t, i) => ((t + data.t_last[i]) / 2 - originMs) / 1000);
    let lo = data.min.map(f), hi = data.max.map(f);
    if (scale < 0) { const swap = lo; lo = hi; hi = swap; }
    if (average > 1) {   // averaging an envelope: smooth the bucket midpoints into one line
      return { color: color, x: x, y: movingAverage(lo.map((v, i) => (v + hi[i]) / 2), average) };
    }
    return { color: color, x: x, lo: lo, hi: hi };
  };

  // Transform inputs (scale, offset, moving average) that call `onChange` with the new values.
  Blitz.transformInputs = function (prefix, onChange) {
    const scale = Blitz.el("input", { type: "number", step: "any", value: "1", id: prefix + "-scale", "aria-label": "scale" });
    const offset = Blitz.el("input", { type: "number", step: "any", value: "0", id: prefix + "-offset", "aria-label": "offset" });
    const average = Blitz.el("input", { type: "number", min: "1", max: "10000", step: "1", value: "1", id: prefix + "-average", "aria-label": "moving average points" });
    const read = () => ({ scale: parseFloat(scale.value), offset: parseFloat(offset.value), average: parseInt(average.value, 10) });
    for (const input of [scale, offset, average]) input.addEventListener("input", () => onChange(read()));
    return {
      read: read,
      nodes: [Blitz.el("label", {}, ["× ", scale]), Blitz.el("label", {}, ["+ ", offset]), Blitz.el("label", {}, ["avg ", average, " pts"])],
    };
  };
})();
