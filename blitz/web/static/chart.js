// Blitz canvas charts, written for the console: time series as lines or min/max envelopes,
// axes with round ticks, wheel/drag/keyboard zoom and pan, and a small rolling sparkline.
(function () {
  "use strict";
  const Blitz = (window.Blitz = window.Blitz || {});
  const MARGIN = { left: 64, right: 12, top: 10, bottom: 26 };

  // Round tick positions covering [lo, hi], about `count` of them.
  function ticks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0) || !Number.isFinite(span)) return [lo];
    const raw = span / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }
  Blitz.ticks = ticks;

  function tickLabel(v, step) {
    const digits = Math.max(0, -Math.floor(Math.log10(step || 1)));
    if (Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(2);
    return v.toFixed(Math.min(digits, 6));
  }

  // Fit the canvas's backing store to its CSS size; returns the 2D context in CSS pixels.
  function fit(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(10, canvas.clientWidth), height = Math.max(10, canvas.clientHeight);
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return { ctx: ctx, width: width, height: height };
  }

  // y range of the layers' points inside [x0, x1].
  function valueRange(layers, x0, x1) {
    let lo = Infinity, hi = -Infinity;
    for (const layer of layers) {
      const x = layer.x, low = layer.lo || layer.y, high = layer.hi || layer.y;
      for (let i = 0; i < x.length; i++) {
        if (x[i] < x0 || x[i] > x1) continue;
        if (low[i] < lo) lo = low[i];
        if (high[i] > hi) hi = high[i];
      }
    }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) return [lo - 1, hi + 1];
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }

  class TimeChart {
    // opts: xLabel, onView(x0, x1) after the user zooms or pans, onReset().
    constructor(canvas, opts) {
      this.canvas = canvas;
      this.opts = opts || {};
      this.layers = [];
      this.view = { x0: 0, x1: 1 };
      this.drag = null;
      canvas.tabIndex = 0;
      canvas.addEventListener("wheel", (e) => this._wheel(e), { passive: false });
      canvas.addEventListener("mousedown", (e) => this._down(e));
      window.addEventListener("mousemove", (e) => this._move(e));
      window.addEventListener("mouseup", () => this._up());
      canvas.addEventListener("dblclick", () => this.opts.onReset && this.opts.onReset());
      canvas.addEventListener("keydown", (e) => this._key(e));
    }

    // layers: [{color, x: [...], y: [...]}] (lines) or [{color, x, lo: [...], hi: [...]}] (envelopes).
    setLayers(layers) { this.layers = layers; this.draw(); }

    setView(x0, x1) { this.view = { x0: x0, x1: x1 > x0 ? x1 : x0 + 1e-3 }; this.draw(); }

    plotWidth() { return Math.max(10, Math.round(this.canvas.clientWidth - MARGIN.left - MARGIN.right)); }

    draw() {
      const { ctx, width, height } = fit(this.canvas);
      const left = MARGIN.left, right = width - MARGIN.right, top = MARGIN.top, bottom = height - MARGIN.bottom;
      const { x0, x1 } = this.view;
      const [y0, y1] = valueRange(this.layers, x0, x1);
      const X = (x) => left + ((x - x0) / (x1 - x0)) * (right - left);
      const Y = (y) => bottom - ((y - y0) / (y1 - y0)) * (bottom - top);
      ctx.font = "11px system-ui, sans-serif";
      ctx.strokeStyle = "#e3e7ee";
      ctx.fillStyle = "#5b6576";
      ctx.lineWidth = 1;
      const xt = ticks(x0, x1, Math.max(2, Math.floor((right - left) / 90)));
      const yt = ticks(y0, y1, Math.max(2, Math.floor((bottom - top) / 40)));
      const xstep = xt.length > 1 ? xt[1] - xt[0] : x1 - x0, ystep = yt.length > 1 ? yt[1] - yt[0] : y1 - y0;
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      for (const v of xt) {
        const px = Math.round(X(v)) + 0.5;
        ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, bottom); ctx.stroke();
        ctx.fillText(tickLabel(v, xstep), px, bottom + 5);
      }
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      for (const v of yt) {
        const py = Math.round(Y(v)) + 0.5;
        ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(right, py); ctx.stroke();
        ctx.fillText(tickLabel(v, ystep), left - 6, py);
      }
      if (this.opts.xLabel) {
        ctx.textAlign = "right"; ctx.textBaseline = "bottom";
        ctx.fillText(this.opts.xLabel, right, height - 1);
      }
      ctx.strokeStyle = "#b9c1cd";
      ctx.strokeRect(left + 0.5, top + 0.5, right - left, bottom - top);
      ctx.save();
      ctx.beginPath(); ctx.rect(left, top, right - left, bottom - top); ctx.clip();
      for (const layer of this.layers) {
        ctx.strokeStyle = layer.color || "#1f6feb";
        ctx.lineWidth = layer.width || 1.25;
        ctx.beginPath();
        const x = layer.x;
        if (layer.lo) {
          for (let i = 0; i < x.length; i++) {
            const px = X(x[i]);
            if (i === 0) ctx.moveTo(px, Y(layer.lo[i])); else ctx.lineTo(px, Y(layer.lo[i]));
            ctx.lineTo(px, Y(layer.hi[i]));
          }
        } else {
          for (let i = 0; i < x.length; i++) {
            if (i === 0) ctx.moveTo(X(x[i]), Y(layer.y[i])); else ctx.lineTo(X(x[i]), Y(layer.y[i]));
          }
          if (x.length === 1) ctx.arc(X(x[0]), Y(layer.y[0]), 2, 0, 2 * Math.PI);
        }
        ctx.stroke();
      }
      ctx.restore();
      this.drawn = { x0: x0, x1: x1, y0: y0, y1: y1, layers: this.layers.length };
    }

    _changed() { this.draw(); if (this.opts.onView) this.opts.onView(this.view.x0, this.view.x1); }

    zoom(factor, anchorFraction) {
      const { x0, x1 } = this.view;
      const anchor = x0 + (x1 - x0) * (anchorFraction === undefined ? 0.5 : anchorFraction);
      const span = Math.max((x1 - x0) * factor, 1e-3);
      this.view = { x0: anchor - (anchor - x0) * (span / (x1 - x0)), x1: anchor + (x1 - anchor) * (span / (x1 - x0)) };
      this._changed();
    }

    pan(fraction) {
      const shift = (this.view.x1 - this.view.x0) * fraction;
      this.view = { x0: this.view.x0 + shift, x1: this.view.x1 + shift };
      this._changed();
    }

    _fraction(clientX) {
      const rect = this.canvas.getBoundingClientRect();
      const f = (clientX - rect.left - MARGIN.left) / Math.max(1, rect.width - MARGIN.left - MARGIN.right);
      return Math.min(1, Math.max(0, f));
    }

    _wheel(e) {
      e.preventDefault();
      this.zoom(Math.exp(Math.max(-5, Math.min(5, e.deltaY * 0.002))), this._fraction(e.clientX));
    }

    _down(e) {
      if (e.button !== 0) return;
      this.drag = { x: e.clientX, view: Object.assign({}, this.view) };
      this.canvas.style.cursor = "grabbing";
    }

    _move(e) {
      if (!this.drag) return;
      const width = Math.max(1, this.canvas.clientWidth - MARGIN.left - MARGIN.right);
      const shift = ((e.clientX - this.drag.x) / width) * (this.drag.view.x1 - this.drag.view.x0);
      this.view = { x0: this.drag.view.x0 - shift, x1: this.drag.view.x1 - shift };
      this.draw();
    }

    _up() {
      if (!this.drag) return;
      const moved = this.view.x0 !== this.drag.view.x0;
      this.drag = null;
      this.canvas.style.cursor = "";
      if (moved) this._changed();
    }

    _key(e) {
      const keys = { "+": () => this.zoom(0.5), "=": () => this.zoom(0.5), "-": () => this.zoom(2),
        ArrowLeft: () => this.pan(-0.2), ArrowRight: () => this.pan(0.2),
        "0": () => this.opts.onReset && this.opts.onReset(), Home: () => this.opts.onReset && this.opts.onReset() };
      if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
    }
  }
  Blitz.TimeChart = TimeChart;

  // A small rolling chart: the points of the last `windowMs` before the newest one
  // (stretched over the width while less than `windowMs` has been received).
  Blitz.drawSparkline = function (canvas, t, v, windowMs, color) {
    const { ctx, width, height } = fit(canvas);
    if (!t.length) return;
    const newest = t[t.length - 1];
    let start = 0;
    while (start < t.length - 1 && t[start] < newest - windowMs) start++;
    const oldest = Math.min(t[start], newest - 1);   // until the window fills, the data spans the width
    const span = newest - oldest;
    let lo = Infinity, hi = -Infinity;
    for (let i = start; i < t.length; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i]; }
    if (lo === hi) { lo -= 1; hi += 1; }
    const X = (x) => ((x - oldest) / span) * (width - 2) + 1;
    const Y = (y) => height - 3 - ((y - lo) / (hi - lo)) * (height - 6);
    ctx.strokeStyle = color || "#1f6feb";
    ctx.lineWidth = 1.25;
    ctx.beginPath();
    for (let i = start; i < t.length; i++) {
      if (i === start) ctx.moveTo(X(t[i]), Y(v[i])); else ctx.lineTo(X(t[i]), Y(v[i]));
    }
    ctx.stroke();
  };
})();
