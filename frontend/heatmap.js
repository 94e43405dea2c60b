// Layer-by-step heatmaps of the Train Health tab: layers in model order
// (filtered, healthy runs of layers folded), a tooltip with layer, step
// and value, and the step axis shared with the charts (drag to zoom,
// double-click to reset). What is drawn (cells, markers, labels, axis,
// legend) is heatmapdraw.js's; this class holds the state and the pointer.

import {
  layoutRows, pixelColumns, rowHeight, rowMatches, xToStep,
} from "./chartdata.js";
import {NAN_INDEX, colorIndices, heatmapDomain} from "./colors.js";
import {GUTTER, plotWidth} from "./charts.js";
import {el} from "./dom.js";
import {formatNumber, formatSteps} from "./format.js";
import {
  MARK_H, axisNodes, legendNodes, paintCells, paintOverlays, rowLabels,
  rowPositions,
} from "./heatmapdraw.js";

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
    return plotWidth(this.width);
  }

  /** Which rows show, their heights, and the label column. */
  relayout() {
    if (!this.data) return;
    const layout = this.layout;
    this.entries = layoutRows(this.data.rows, {
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
    this.rowH = rowHeight(shown);
    Object.assign(this, rowPositions(this.entries, this.rowH));
    this.element.dataset.rows = String(shown);
    this.element.dataset.folded = String(folded);
    this.labels.replaceChildren(...rowLabels(this.data.rows, this.entries,
        this.heights, this.rowH, layout.highlight ?? null,
        (key) => this.options.onToggleFold && this.options.onToggleFold(key)));
    this.drawAxis();
    this.draw();
  }

  draw() {
    if (!this.data || !this.rowH) return;
    const frame = {width: this.plotWidth, range: this.range,
      entries: this.entries, tops: this.tops, heights: this.heights,
      height: Math.max(this.totalHeight, MARK_H + 4)};
    const ctx = paintCells(this.canvas, frame, this.data, this.rowColors,
        this.theme);
    paintOverlays(ctx, frame, this.data.rows, {theme: this.theme,
      highlight: this.layout.highlight ?? null, markers: this.markers,
      highlightKey: this.highlightKey});
  }

  drawAxis() {
    if (!this.data) return;
    this.axis.replaceChildren(...axisNodes(this.range, this.plotWidth));
  }

  drawLegend() {
    this.legend.replaceChildren(...legendNodes(this.data, this.domain,
        this.anyNonFinite));
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
  /** The label of `layer`'s row, or null when the row is not shown. */
  labelOf(layer) {
    const k = this.entries.findIndex((e) => e.type === "row" &&
        rowMatches(this.data.rows[e.index], layer));
    return k < 0 ? null : this.labels.children[k + 1] || null;
  }

  hasRow(layer) {
    return Boolean(this.data) &&
        this.data.rows.some((row) => rowMatches(row, layer));
  }
}
