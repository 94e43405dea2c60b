// Layer-by-step heatmaps of the Train Health tab, drawn on canvas: viridis
// colours with a legend, layers in model order (filtered and with healthy
// runs of layers folded), a tooltip with layer, step and value, alert
// onset markers, the highlighted layer, and the step axis shared with the
// charts (drag to zoom, double-click to reset).

import {
  formatNumber, formatSteps, layoutRows, pixelColumns, rowHeight, rowMatches,
  stepToX, xToStep,
} from "./chartdata.js";
import {
  NON_FINITE, NON_FINITE_RGB, colorIndices, heatmapDomain, legendTicks,
  viridis,
} from "./colors.js";
import {GUTTER, RIGHT} from "./charts.js";

const MARK_H = 10;  // strip above the rows for alert onset markers
const FOLD_H = 14;  // height of a folded run of healthy layers
const NAN_INDEX = 256;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Round-ish step ticks for an axis over [lo, hi]. */
export function stepTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
    if (Number.isInteger(Math.round(t * 1e6) / 1e6)) ticks.push(Math.round(t));
  }
  return ticks;
}

// viridis as a flat lookup, plus the non-finite colour at NAN_INDEX.
const LUT = (() => {
  const lut = new Uint8ClampedArray(257 * 3);
  for (let i = 0; i < 256; i++) lut.set(viridis(i / 255), i * 3);
  lut.set(NON_FINITE_RGB, NAN_INDEX * 3);
  return lut;
})();

/**
 * options: {signal, title, group, theme, tooltip, domain (fixed colour
 * domain or null), valueLabel, onToggleLayer(name), onToggleFold(key)}.
 */
export class HeatmapView {
  constructor(options) {
    this.options = options;
    this.signal = options.signal;
    this.group = options.group;
    this.theme = options.theme;
    this.tooltip = options.tooltip;
    this.width = options.width || 800;
    this.data = null;
    this.layout = {};
    this.markers = [];
    this.highlightKey = null;
    this.range = this.group.range;
    this.entries = [];
    this.tops = [];
    this.heights = [];
    this.rowColors = [];

    this.labels = el("div", "th-heatmap-labels");
    this.labels.style.width = `${GUTTER}px`;
    this.canvas = el("canvas", "th-heatmap-canvas");
    this.canvas.tabIndex = -1;
    this.selection = el("div", "th-selection");
    this.selection.hidden = true;
    const plot = el("div", "th-heatmap-plot");
    plot.append(this.canvas, this.selection);
    const body = el("div", "th-heatmap-body");
    body.append(this.labels, plot);
    this.axis = el("div", "th-heatmap-axis");
    this.legend = el("div", "th-heatmap-legend");
    this.element = el("div", "th-heatmap");
    this.element.dataset.signal = this.signal;
    this.element.append(body, this.axis, this.legend);
    this.bindPointer();
    this.group.add(this);
  }

  setData(data) {
    this.data = data;
    const scale = data.scale;
    const [lo, hi] = heatmapDomain(scale, data.range, this.options.domain);
    this.domain = [lo, hi];
    // Colour index (0..255, NAN_INDEX) of every cell, once per data.
    this.nonFiniteRows = new Uint8Array(data.rows.length);
    this.anyNonFinite = false;
    this.rowColors = data.rows.map((row, r) => {
      const out = new Uint16Array(data.steps.length);
      if (colorIndices(data.values[r] || [], scale, lo, hi, out, NAN_INDEX)) {
        this.nonFiniteRows[r] = 1;
        this.anyNonFinite = true;
      }
      return out;
    });
    this.drawLegend();
    this.relayout();
  }

  /** {filter, collapse, flagged, expanded, highlight} */
  setLayout(layout) {
    this.layout = layout;
    if (this.data) this.relayout();
  }

  /** Onset markers [{step, end, severity, key, layer}] of alerts shown
   *  here, and the highlighted alert's key. */
  setMarkers(markers, highlightKey) {
    this.markers = markers || [];
    this.highlightKey = highlightKey || null;
    this.draw();
  }

  applyRange(range) {
    this.range = range;
    this.element.dataset.xMin = String(Math.round(range[0]));
    this.element.dataset.xMax = String(Math.round(range[1]));
    this.drawAxis();
    this.draw();
  }

  setWidth(width) {
    this.width = width;
    this.relayout();
  }

  redraw() {
    this.draw();
  }

  destroy() {
    this.group.remove(this);
  }

  get plotWidth() {
    return Math.max(80, this.width - GUTTER - RIGHT);
  }

  /** Which rows show, their heights, and the label column. */
  relayout() {
    if (!this.data) return;
    const rows = this.data.rows;
    const layout = this.layout;
    this.entries = layoutRows(rows, {
      filter: layout.filter,
      collapse: layout.collapse,
      flagged: layout.flagged,
      expanded: layout.expanded,
      highlight: layout.highlight,
      hasNonFinite: (i) => this.nonFiniteRows[i] === 1,
    });
    const shown = this.entries.filter((e) => e.type === "row").length;
    const folded = this.entries.filter((e) => e.type === "fold" && !e.open)
        .reduce((n, e) => n + e.indices.length, 0);
    const rh = rowHeight(shown);
    this.rowH = rh;
    this.tops = [];
    this.heights = [];
    let y = MARK_H;
    for (const entry of this.entries) {
      const h = entry.type === "row" ? rh : FOLD_H;
      this.tops.push(y);
      this.heights.push(h);
      y += h;
    }
    this.totalHeight = y;
    this.element.dataset.rows = String(shown);
    this.element.dataset.folded = String(folded);

    const spacer = el("div", "th-heatmap-spacer");
    spacer.style.height = `${MARK_H}px`;
    const labels = [spacer];
    this.entries.forEach((entry, k) => {
      let label;
      if (entry.type === "row") {
        const row = rows[entry.index];
        label = el("div", "th-heatmap-label", rh >= 9 ? row.name : "");
        label.title = Array.isArray(row.variables) ?
          `${row.name} (${row.variables.join(", ")})` : row.name;
        label.dataset.layer = row.name;
        label.classList.toggle("th-highlight",
            rowMatches(row, layout.highlight ?? null));
        if (rh < 9) label.classList.add("th-label-tiny");
      } else {
        const first = rows[entry.indices[0]].name;
        const last = rows[entry.indices[entry.indices.length - 1]].name;
        const n = entry.indices.length;
        label = el("button", "th-fold",
            entry.open ? `▴ fold ${n} healthy layers` :
              `▸ ${n} healthy layers`);
        label.type = "button";
        label.title = `${first} … ${last}`;
        label.setAttribute("aria-expanded", String(Boolean(entry.open)));
        label.addEventListener("click", () => {
          if (this.options.onToggleFold) this.options.onToggleFold(entry.key);
        });
      }
      label.style.height = `${this.heights[k]}px`;
      label.style.lineHeight = `${this.heights[k]}px`;
      labels.push(label);
    });
    if (!this.entries.length) {
      labels.push(el("div", "th-heatmap-label th-muted",
          rows.length ? "no layer matches the filter" : "no layers"));
    }
    this.labels.replaceChildren(...labels);
    this.drawAxis();
    this.draw();
  }

  draw() {
    if (!this.data || !this.rowH) return;
    const width = this.plotWidth;
    const height = Math.max(this.totalHeight, MARK_H + 4);
    const ratio = window.devicePixelRatio || 1;
    const canvas = this.canvas;
    const pw = Math.round(width * ratio);
    const ph = Math.round(height * ratio);
    if (canvas.width !== pw || canvas.height !== ph) {
      canvas.width = pw;
      canvas.height = ph;
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, pw, ph);
    const [lo, hi] = this.range;
    const cols = pixelColumns(this.data.steps, this.data.stepEnds, lo, hi, pw);
    const image = ctx.createImageData(pw, ph);
    const pixels = image.data;
    const fold = hexToRgb(this.theme.fold);
    for (let k = 0; k < this.entries.length; k++) {
      const entry = this.entries[k];
      const y0 = Math.round(this.tops[k] * ratio);
      const y1 = Math.round((this.tops[k] + this.heights[k]) * ratio);
      const line = new Uint8ClampedArray(pw * 4);
      if (entry.type === "row") {
        const colors = this.rowColors[entry.index];
        for (let p = 0; p < pw; p++) {
          const c = cols[p];
          if (c < 0) continue;
          const i = colors[c] * 3;
          line[p * 4] = LUT[i];
          line[p * 4 + 1] = LUT[i + 1];
          line[p * 4 + 2] = LUT[i + 2];
          line[p * 4 + 3] = 255;
        }
      } else {
        for (let p = 0; p < pw; p++) {
          line.set([fold[0], fold[1], fold[2], 255], p * 4);
        }
      }
      // A one-pixel gap under folds keeps them apart from the rows.
      const last = entry.type === "fold" ? y1 - Math.max(1, Math.round(ratio)) : y1;
      for (let y = y0; y < last; y++) pixels.set(line, y * pw * 4);
    }
    ctx.putImageData(image, 0, 0);
    ctx.scale(ratio, ratio);
    this.drawOverlays(ctx, width, lo, hi);
  }

  drawOverlays(ctx, width, lo, hi) {
    const theme = this.theme;
    const rows = this.data.rows;
    ctx.font = "10px sans-serif";
    ctx.textBaseline = "middle";
    this.entries.forEach((entry, k) => {
      if (entry.type !== "fold") return;
      ctx.fillStyle = theme.muted;
      const n = entry.indices.length;
      const first = rows[entry.indices[0]].name;
      const last = rows[entry.indices[entry.indices.length - 1]].name;
      ctx.fillText(entry.open ? `${n} healthy layers above` :
        `${n} healthy layers folded: ${first} … ${last}`, 6,
      this.tops[k] + this.heights[k] / 2);
    });
    // The highlighted layer: an outline around its row.
    const highlight = this.layout.highlight ?? null;
    ctx.strokeStyle = theme.highlight;
    ctx.lineWidth = 2;
    this.entries.forEach((entry, k) => {
      if (entry.type === "row" && rowMatches(rows[entry.index], highlight)) {
        ctx.strokeRect(1, this.tops[k] + 1, width - 2,
            Math.max(2, this.heights[k] - 2));
      }
    });
    // Alert onsets: a flag in the strip, a tick on the alert's row, and
    // the highlighted alert's step range under the strip.
    for (const m of this.markers) {
      const x = stepToX(m.step, lo, hi, width);
      if (x < -1 || x > width + 1) continue;
      const color = theme.severity[m.severity] || theme.muted;
      const on = m.key === this.highlightKey;
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(x - 5, 0);
      ctx.lineTo(x + 5, 0);
      ctx.lineTo(x, MARK_H - 1);
      ctx.closePath();
      ctx.fill();
      if (on) {
        const x1 = stepToX(m.end, lo, hi, width);
        ctx.fillRect(Math.max(0, x), MARK_H - 3,
            Math.max(2, Math.min(width, x1) - Math.max(0, x)), 3);
      }
      const k = this.entries.findIndex((e) => e.type === "row" &&
          rowMatches(rows[e.index], m.layer));
      if (k >= 0) {
        ctx.fillStyle = on ? theme.highlight : color;
        ctx.fillRect(x - 1, this.tops[k], 3, this.heights[k]);
      }
    }
  }

  drawAxis() {
    if (!this.data) return;
    const [lo, hi] = this.range;
    const width = this.plotWidth;
    const ticks = stepTicks(lo, hi, Math.max(2, Math.floor(width / 110)));
    const nodes = ticks.map((t) => {
      const tick = el("span", "th-axis-tick", String(t));
      tick.style.left = `${GUTTER + stepToX(t, lo, hi, width)}px`;
      return tick;
    });
    const label = el("span", "th-axis-label", "step");
    label.style.left = `${GUTTER + width}px`;
    nodes.push(label);
    this.axis.replaceChildren(...nodes);
  }

  drawLegend() {
    const data = this.data;
    const [lo, hi] = this.domain;
    const bar = el("canvas", "th-legend-bar");
    bar.width = 160;
    bar.height = 10;
    const ctx = bar.getContext("2d");
    for (let x = 0; x < 160; x++) {
      const [r, g, b] = viridis(x / 159);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(x, 0, 1, 10);
    }
    const scale = el("span", "th-legend-scale");
    const ticks = legendTicks(data.scale, lo, hi, 4).map(formatNumber);
    const items = [
      el("span", "th-legend-lo", formatNumber(lo)), bar,
      el("span", "th-legend-hi", formatNumber(hi)),
    ];
    scale.textContent = data.scale === "log" ?
      `log scale (${ticks.join(", ")})` : "linear scale";
    items.push(scale);
    if (this.anyNonFinite) {
      const swatch = el("span", "th-swatch-box");
      swatch.style.background = NON_FINITE;
      const item = el("span", "th-legend-item");
      item.append(swatch, el("span", null, "NaN/Inf"));
      items.push(item);
    }
    if (data.downsampled) {
      items.push(el("span", "th-legend-note",
          `${data.totalSteps} records averaged into ${data.steps.length} ` +
          "columns; zoom in for more"));
    }
    this.legend.replaceChildren(...items);
  }

  /** The entry and data column under a point of the canvas. */
  hit(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    let k = -1;
    for (let i = 0; i < this.entries.length; i++) {
      if (y >= this.tops[i] && y < this.tops[i] + this.heights[i]) {
        k = i;
        break;
      }
    }
    const [lo, hi] = this.range;
    const width = rect.width || this.plotWidth;
    const cols = pixelColumns(this.data.steps, this.data.stepEnds, lo, hi,
        Math.max(1, Math.round(width)));
    const p = Math.min(cols.length - 1, Math.max(0, Math.floor(x)));
    return {entry: k >= 0 ? this.entries[k] : null, column: cols[p], x, width};
  }

  describe(hit) {
    const data = this.data;
    const entry = hit.entry;
    if (!entry) return null;
    if (entry.type === "fold") {
      const first = data.rows[entry.indices[0]].name;
      const last = data.rows[entry.indices[entry.indices.length - 1]].name;
      return [`${entry.indices.length} healthy layers`, `${first} … ${last}`,
        entry.open ? "click to fold them" : "click to show them"];
    }
    const row = data.rows[entry.index];
    if (hit.column < 0) return [row.name, "no record here"];
    const v = data.values[entry.index][hit.column];
    return [
      row.name,
      formatSteps(data.steps[hit.column], data.stepEnds[hit.column]),
      `${this.options.valueLabel || this.signal}: ${formatNumber(v)}`,
    ];
  }

  bindPointer() {
    let dragFrom = null;
    const canvas = this.canvas;
    canvas.addEventListener("mousemove", (event) => {
      if (!this.data) return;
      const hit = this.hit(event);
      if (dragFrom !== null) {
        const x0 = Math.min(dragFrom, hit.x);
        const x1 = Math.max(dragFrom, hit.x);
        this.selection.hidden = false;
        this.selection.style.left = `${Math.max(0, x0)}px`;
        this.selection.style.width = `${Math.min(hit.width, x1) - Math.max(0, x0)}px`;
      }
      const lines = this.describe(hit);
      if (lines) this.tooltip.show(lines, event.clientX, event.clientY);
      else this.tooltip.hide();
    });
    canvas.addEventListener("mouseleave", () => this.tooltip.hide());
    canvas.addEventListener("mousedown", (event) => {
      if (event.button !== 0 || !this.data) return;
      event.preventDefault();
      dragFrom = this.hit(event).x;
      const up = (e) => {
        window.removeEventListener("mouseup", up);
        const from = dragFrom;
        dragFrom = null;
        this.selection.hidden = true;
        const hit = this.hit(e);
        const [lo, hi] = this.range;
        if (Math.abs(hit.x - from) >= 4) {
          this.group.setZoom([xToStep(Math.min(from, hit.x), lo, hi, hit.width),
            xToStep(Math.max(from, hit.x), lo, hi, hit.width)]);
        } else if (hit.entry && hit.entry.type === "row") {
          const row = this.data.rows[hit.entry.index];
          if (this.options.onToggleLayer) this.options.onToggleLayer(row.name);
        } else if (hit.entry && hit.entry.type === "fold") {
          if (this.options.onToggleFold) this.options.onToggleFold(hit.entry.key);
        }
      };
      window.addEventListener("mouseup", up);
    });
    canvas.addEventListener("dblclick", () => this.group.setZoom(null));
  }

  /** Scrolls the row of `layer` into view; returns whether it is shown. */
  revealLayer(layer) {
    const k = this.entries.findIndex((e) => e.type === "row" &&
        rowMatches(this.data.rows[e.index], layer));
    if (k < 0) return false;
    const label = this.labels.children[k + 1];
    if (label) label.scrollIntoView({block: "center", behavior: "auto"});
    return true;
  }

  hasRow(layer) {
    return Boolean(this.data) &&
        this.data.rows.some((row) => rowMatches(row, layer));
  }
}

function hexToRgb(hex) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
  return m ? [1, 2, 3].map((i) => parseInt(m[i], 16)) : [200, 200, 200];
}
