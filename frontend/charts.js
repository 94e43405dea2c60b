// Line charts of the Train Health tab, drawn by uPlot (bundled from npm at
// build time, see build.mjs): hover read-out, log scales, drag to zoom,
// one zoom shared by every step chart and heatmap of a run (ZoomGroup),
// alert onset markers and the highlighted alert's step range.

import uPlot from "./uplot.js";
import {clampZoom, formatNumber, plotValues} from "./chartdata.js";
import {NON_FINITE, withAlpha} from "./colors.js";

// Every plot area starts GUTTER px from its section's left edge and ends
// RIGHT px before its right edge, so charts and heatmaps line up on one
// step axis. Heatmap layer labels live in the gutter.
export const GUTTER = 180;
export const RIGHT = 16;
const Y_AXIS = 60;

/**
 * One x range shared by the charts and heatmaps of a step axis. `domain`
 * is everything there is; `zoom` a part of it or null. Members get
 * applyRange([lo, hi]); `onChange(zoom)` hears user zooms.
 */
export class ZoomGroup {
  constructor(onChange) {
    this.domain = [0, 1];
    this.zoom = null;
    this.members = new Set();
    this.onChange = onChange || (() => {});
  }

  get range() {
    return this.zoom || this.domain;
  }

  add(member) {
    this.members.add(member);
    member.applyRange(this.range);
  }

  remove(member) {
    this.members.delete(member);
  }

  /** New data: the domain may have grown; a zoom is kept. */
  setDomain(domain, zoom = this.zoom) {
    this.domain = domain;
    this.zoom = clampZoom(zoom, domain);
    this.broadcast();
  }

  /** A user zoom ([lo, hi], or null to show everything). */
  setZoom(zoom) {
    const next = clampZoom(zoom, this.domain);
    const same = (next === null && this.zoom === null) ||
        (next && this.zoom && next[0] === this.zoom[0] &&
            next[1] === this.zoom[1]);
    this.zoom = next;
    this.broadcast();
    if (!same) this.onChange(this.zoom);
  }

  broadcast() {
    for (const member of this.members) member.applyRange(this.range);
  }
}

/** Ticks of a log axis: powers of ten, with 2x and 5x when the range
 *  spans less than two decades, thinned to at most 6. */
export function logSplits(min, max) {
  if (!(min > 0) || !(max > min)) return [min, max].filter((v) => v > 0);
  const a = Math.floor(Math.log10(min));
  const b = Math.ceil(Math.log10(max));
  const inside = (v) => v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9);
  let ticks = [];
  for (let k = a; k <= b; k++) ticks.push(10 ** k);
  ticks = ticks.filter(inside);
  if (ticks.length < 3) {
    ticks = [];
    for (let k = a; k <= b; k++) {
      for (const m of [1, 2, 5]) ticks.push(m * 10 ** k);
    }
    ticks = ticks.filter(inside);
  }
  const stride = Math.ceil(ticks.length / 6);
  return ticks.filter((_, i) => i % stride === 0);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A legend entry: a short line in the series' colour and dash. */
function legendItem(label, color, dash, className) {
  const swatch = el("span", "th-swatch");
  swatch.style.borderTopColor = color;
  if (dash && dash.length) swatch.style.borderTopStyle = "dashed";
  const item = el("span", `th-legend-item ${className || ""}`);
  item.append(swatch, el("span", "th-legend-label", label));
  return item;
}

/**
 * A step chart. options:
 *   id        what the chart shows (data-chart, evidence target)
 *   group     the ZoomGroup of its x axis
 *   theme     the page's theme colours (read at every draw)
 *   logY      log y axis
 *   height    CSS px of the plot
 *   xLabel    "step" or "epoch"
 *   formatX   x value -> read-out text (default `${xLabel} ${x}`)
 *   syncKey   charts with the same key share the hover cursor
 *   valueLabel  unit of the read-out (e.g. "gap")
 * Call setData({xs, series: [{label, color, dash, values, min, max}]}).
 */
export class StepChart {
  constructor(options) {
    this.options = options;
    this.group = options.group;
    this.theme = options.theme;
    this.width = options.width || 800;
    this.markers = [];
    this.highlight = null;
    this.plot = null;
    this.structure = null;
    this.nonFinite = [];
    this.data = null;
    this.programmatic = false;
    this.legend = el("div", "th-legend");
    this.body = el("div", "th-plot");
    this.readout = el("div", "th-readout", " ");
    this.readout.setAttribute("aria-live", "off");
    this.element = el("div", "th-chart");
    this.element.dataset.chart = options.id;
    this.element.append(this.legend, this.body, this.readout);
    this.empty = null;
  }

  /** xs: steps; series: [{label, color, dash, values, min?, max?}]. */
  setData(data) {
    this.data = data;
    const logY = Boolean(this.options.logY);
    const columns = [Array.from(data.xs)];
    const specs = [];
    this.nonFinite = [];
    let drawable = 0;
    for (const s of data.series) {
      const {ys, nonFinite} = plotValues(s.values, logY);
      drawable += ys.filter((v) => v !== null && v !== undefined).length;
      this.nonFinite.push(...nonFinite.map((i) => data.xs[i]));
      columns.push(ys);
      specs.push({kind: "line", s});
      if (s.min && s.max) {
        columns.push(plotValues(s.min, logY).ys, plotValues(s.max, logY).ys);
        specs.push({kind: "min", s}, {kind: "max", s});
      }
    }
    this.element.dataset.points = String(data.xs.length);
    this.element.dataset.lastStep = data.xs.length ?
      String(data.xs[data.xs.length - 1]) : "";
    this.drawLegend(data.series);
    if (!drawable) {
      this.destroyPlot();
      if (!this.empty) {
        this.empty = el("p", "th-message th-chart-empty",
            this.nonFinite.length ? "Every recorded value is NaN or infinite." :
            "Nothing recorded yet.");
        this.body.replaceChildren(this.empty);
      }
      this.group.add(this);
      return;
    }
    if (this.empty) {
      this.empty.remove();
      this.empty = null;
    }
    const structure = JSON.stringify(specs.map(({kind, s}) =>
      [kind, s.label, s.color, s.dash || []]));
    if (this.plot && structure === this.structure) {
      this.programmatic = true;
      this.plot.setData(columns, false);
      this.programmatic = false;
      this.applyRange(this.group.range);
    } else {
      this.destroyPlot();
      this.structure = structure;
      this.plot = new uPlot(this.plotOptions(specs), columns, this.body);
      this.group.add(this);
    }
  }

  drawLegend(series) {
    const items = series.map((s) => legendItem(s.label, s.color, s.dash));
    if (series.some((s) => s.min && s.max &&
        s.min.some((v, i) => v !== s.max[i] && Number.isFinite(v)))) {
      const band = el("span", "th-legend-item th-legend-note",
          "band: min–max of the records averaged into each point");
      items.push(band);
    }
    if (this.nonFinite.length) {
      items.push(legendItem("▼ NaN/Inf", NON_FINITE, null,
          "th-legend-nonfinite"));
    }
    if (this.markers.length) {
      items.push(el("span", "th-legend-item th-legend-note",
          "┆ alert onset"));
    }
    this.legend.replaceChildren(...items);
  }

  plotOptions(specs) {
    const theme = this.theme;
    const logY = Boolean(this.options.logY);
    const series = [{label: this.options.xLabel || "step"}];
    const bands = [];
    specs.forEach(({kind, s}, i) => {
      if (kind === "line") {
        series.push({
          label: s.label,
          stroke: s.color,
          width: 1.6,
          dash: s.dash && s.dash.length ? s.dash : undefined,
          spanGaps: false,
          points: {show: (u, si) => u.data[0].length <= 80, size: 5,
            fill: s.color},
        });
      } else {
        series.push({label: `${s.label} ${kind}`, stroke: "transparent",
          width: 0, points: {show: false}});
        if (kind === "max") {
          bands.push({series: [i + 1, i], fill: withAlpha(s.color, 0.18)});
        }
      }
    });
    const axisColor = () => theme.text;
    const gridColor = () => theme.grid;
    const chart = this;
    const sync = this.options.syncKey ? {
      key: this.options.syncKey,
      setSeries: false,
      scales: ["x", null],
      // Only the hover position travels; each chart zooms through the
      // ZoomGroup, not through its neighbours' drags.
      filters: {pub: (type) => type === "mousemove" || type === "mouseleave" ||
        type === "mouseenter"},
    } : undefined;
    return {
      width: this.width,
      height: this.options.height || 180,
      padding: [10, RIGHT, 0, GUTTER - Y_AXIS],
      legend: {show: false},
      series,
      bands,
      scales: {
        x: {time: false, auto: false},
        y: logY ? {distr: 3, log: 10} : {auto: true},
      },
      axes: [
        {stroke: axisColor, grid: {stroke: gridColor, width: 1},
          ticks: {stroke: gridColor, width: 1, size: 4},
          values: (u, splits) => splits.map((v) =>
            (Number.isInteger(v) ? String(v) : "")),
          font: "11px sans-serif", size: 28},
        {stroke: axisColor, grid: {stroke: gridColor, width: 1},
          ticks: {stroke: gridColor, width: 1, size: 4},
          splits: logY ? (u, axisIdx, min, max) => logSplits(min, max) :
            undefined,
          filter: logY ? (u, splits) => splits : undefined,
          values: (u, splits) => splits.map((v) =>
            (v === null || v === undefined ? "" : formatNumber(v))),
          font: "11px sans-serif", size: Y_AXIS},
      ],
      cursor: {
        drag: {x: true, y: false, setScale: false, dist: 4},
        points: {size: 7},
        sync,
        bind: {
          dblclick: () => () => {
            chart.group.setZoom(null);
            return null;
          },
        },
      },
      hooks: {
        setSelect: [(u) => this.onSelect(u)],
        setCursor: [(u) => this.onCursor(u)],
        setScale: [(u, key) => {
          if (key === "x") this.onScale(u);
        }],
        draw: [(u) => this.drawOverlay(u)],
      },
    };
  }

  onSelect(u) {
    const {left, width} = u.select;
    if (width < 4) return;
    const lo = u.posToVal(left, "x");
    const hi = u.posToVal(left + width, "x");
    u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
    this.group.setZoom([lo, hi]);
  }

  onScale(u) {
    const {min, max} = u.scales.x;
    this.element.dataset.xMin = String(Math.round(min));
    this.element.dataset.xMax = String(Math.round(max));
  }

  onCursor(u) {
    const idx = u.cursor.idx;
    if (idx === null || idx === undefined || !this.data) {
      this.readout.textContent = " ";
      return;
    }
    const x = this.data.xs[idx];
    const formatX = this.options.formatX ||
        ((v) => `${this.options.xLabel || "step"} ${v}`);
    const parts = [];
    for (const s of this.data.series) {
      const v = s.values[idx];
      if (v === null || v === undefined) {
        if (this.data.series.length === 1) parts.push(`${s.label} –`);
        continue;
      }
      let text = `${s.label} ${formatNumber(v)}`;
      if (s.min && s.max && Number.isFinite(s.min[idx]) &&
          s.min[idx] !== s.max[idx]) {
        text += ` (${formatNumber(s.min[idx])}–${formatNumber(s.max[idx])})`;
      }
      parts.push(text);
    }
    this.readout.textContent = `${formatX(x, idx)}: ${parts.join(" · ")}`;
  }

  drawOverlay(u) {
    const ctx = u.ctx;
    const {left, top, width, height} = u.bbox;
    const ratio = uPlot.pxRatio || 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    if (this.highlight) {
      const x0 = u.valToPos(this.highlight[0], "x", true);
      const x1 = u.valToPos(this.highlight[1], "x", true);
      ctx.fillStyle = withAlpha(this.theme.highlight, 0.14);
      ctx.fillRect(Math.min(x0, x1) - ratio, top,
          Math.abs(x1 - x0) + 2 * ratio, height);
    }
    for (const m of this.markers) {
      const x = Math.round(u.valToPos(m.step, "x", true)) + 0.5;
      if (x < left - 1 || x > left + width + 1) continue;
      const color = this.theme.severity[m.severity] || this.theme.muted;
      const on = this.highlightKey === m.key;
      ctx.strokeStyle = color;
      ctx.lineWidth = (on ? 2 : 1) * ratio;
      ctx.setLineDash(on ? [] : [4 * ratio, 3 * ratio]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(x - 5 * ratio, top);
      ctx.lineTo(x + 5 * ratio, top);
      ctx.lineTo(x, top + 8 * ratio);
      ctx.closePath();
      ctx.fill();
    }
    ctx.fillStyle = NON_FINITE;
    for (const step of this.nonFinite) {
      const x = u.valToPos(step, "x", true);
      if (x < left || x > left + width) continue;
      ctx.beginPath();
      ctx.moveTo(x - 5 * ratio, top + height);
      ctx.lineTo(x + 5 * ratio, top + height);
      ctx.lineTo(x, top + height - 9 * ratio);
      ctx.closePath();
      ctx.fill();
    }
    ctx.restore();
  }

  /** Alert onsets ([{step, end, severity, key}]) and the highlighted one. */
  setMarkers(markers, highlightKey) {
    this.markers = markers || [];
    this.highlightKey = highlightKey || null;
    const on = this.markers.find((m) => m.key === this.highlightKey);
    this.highlight = on ? [on.step, on.end] : null;
    this.element.dataset.highlight = on ? `${on.step}-${on.end}` : "";
    if (this.data) this.drawLegend(this.data.series);
    if (this.plot) this.plot.redraw(false, false);
  }

  applyRange([lo, hi]) {
    this.element.dataset.xMin = String(Math.round(lo));
    this.element.dataset.xMax = String(Math.round(hi));
    if (!this.plot) return;
    this.programmatic = true;
    this.plot.setScale("x", {min: lo, max: hi});
    this.programmatic = false;
  }

  setWidth(width) {
    this.width = width;
    if (this.plot) {
      this.plot.setSize({width, height: this.options.height || 180});
    }
  }

  redraw() {
    if (this.plot) this.plot.redraw(false, true);
  }

  destroyPlot() {
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
      this.structure = null;
    }
  }

  destroy() {
    this.group.remove(this);
    this.destroyPlot();
  }
}
