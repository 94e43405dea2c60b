// Line charts of the Train Health tab, drawn by uPlot (bundled from npm at
// build time, see build.mjs): hover read-out, log scales, drag to zoom,
// one zoom shared by every step chart and heatmap of a run (ZoomGroup),
// alert onset markers and the highlighted alert's step range.

import uPlot from "./uplot.js";
import {logSplits, plotValues} from "./chartdata.js";
import {NON_FINITE, markerColor, withAlpha} from "./colors.js";
import {el} from "./dom.js";
import {formatNumber} from "./format.js";

// Every plot area starts GUTTER px from its section's left edge and ends
// RIGHT px before its right edge, so charts and heatmaps line up on one
// step axis. Heatmap layer labels live in the gutter.
export const GUTTER = 180;
export const RIGHT = 16;
const Y_AXIS = 60;

/** The plot width (CSS px) a section of `width` gives a chart or heatmap. */
export function plotWidth(width) {
  return Math.max(80, width - GUTTER - RIGHT);
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

/** uPlot's series (a line per series, two invisible ones holding each
 *  min-max band) and bands, for `specs` [{kind, s}]. */
function seriesOptions(specs, xLabel) {
  const series = [{label: xLabel}];
  const bands = [];
  specs.forEach(({kind, s}, i) => {
    if (kind === "line") {
      series.push({
        label: s.label,
        stroke: s.color,
        width: 1.6,
        dash: s.dash && s.dash.length ? s.dash : undefined,
        spanGaps: false,
        points: {show: (u) => u.data[0].length <= 80, size: 5, fill: s.color},
      });
    } else {
      series.push({label: `${s.label} ${kind}`, stroke: "transparent",
        width: 0, points: {show: false}});
      if (kind === "max") {
        bands.push({series: [i + 1, i], fill: withAlpha(s.color, 0.18)});
      }
    }
  });
  return {series, bands};
}

/** The x axis (labelled with what it counts) and the y axis (log ticks
 *  on a log scale), in the theme's colours at every draw. */
function axesOptions(theme, xLabel, logY) {
  const axisColor = () => theme.text;
  const gridColor = () => theme.grid;
  const common = {stroke: axisColor, grid: {stroke: gridColor, width: 1},
    ticks: {stroke: gridColor, width: 1, size: 4}, font: "11px sans-serif"};
  return [
    {...common, size: 24,
      values: (u, splits) => splits.map((v) =>
        (Number.isInteger(v) ? String(v) : "")),
      label: xLabel, labelSize: 14, labelFont: "11px sans-serif",
      labelGap: 0},
    {...common, size: Y_AXIS,
      splits: logY ? (u, axisIdx, min, max) => logSplits(min, max) :
        undefined,
      filter: logY ? (u, splits) => splits : undefined,
      values: (u, splits) => splits.map((v) =>
        (v === null || v === undefined ? "" : formatNumber(v)))},
  ];
}

/** The shared hover cursor of the charts with `key`. Only the hover
 *  position travels; each chart zooms through its ZoomGroup, not through
 *  its neighbours' drags. */
function syncOptions(key) {
  if (!key) return undefined;
  return {
    key,
    setSeries: false,
    scales: ["x", null],
    filters: {pub: (type) => type === "mousemove" ||
      type === "mouseleave" || type === "mouseenter"},
  };
}

/** A down-pointing flag at x of the plot's top (or, `up`, an up-pointing
 *  one at its bottom). */
function flag(ctx, x, y, ratio, up) {
  ctx.beginPath();
  ctx.moveTo(x - 5 * ratio, y);
  ctx.lineTo(x + 5 * ratio, y);
  ctx.lineTo(x, y + (up ? -9 : 8) * ratio);
  ctx.closePath();
  ctx.fill();
}

/** Draws over the plot: the highlighted alert's step range, the alert
 *  onset markers, and a flag under each non-finite value. */
function drawOverlay(u, theme, highlight, markers, highlightKey, nonFinite) {
  const ctx = u.ctx;
  const {left, top, width, height} = u.bbox;
  const ratio = uPlot.pxRatio || 1;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  if (highlight) {
    const x0 = u.valToPos(highlight[0], "x", true);
    const x1 = u.valToPos(highlight[1], "x", true);
    ctx.fillStyle = withAlpha(theme.highlight, 0.14);
    ctx.fillRect(Math.min(x0, x1) - ratio, top,
        Math.abs(x1 - x0) + 2 * ratio, height);
  }
  for (const m of markers) {
    const x = Math.round(u.valToPos(m.step, "x", true)) + 0.5;
    if (x < left - 1 || x > left + width + 1) continue;
    const on = highlightKey === m.key;
    ctx.strokeStyle = ctx.fillStyle = markerColor(theme, m);
    ctx.lineWidth = (on ? 2 : 1) * ratio;
    ctx.setLineDash(on ? [] : [4 * ratio, 3 * ratio]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.setLineDash([]);
    flag(ctx, x, top, ratio, false);
  }
  ctx.fillStyle = NON_FINITE;
  for (const step of nonFinite) {
    const x = u.valToPos(step, "x", true);
    if (x >= left && x <= left + width) flag(ctx, x, top + height, ratio, true);
  }
  ctx.restore();
}

/**
 * A step chart. options:
 *   id        what the chart shows (data-chart, evidence target)
 *   group     the ZoomGroup of its x axis
 *   theme     the page's theme colours (read at every draw)
 *   logY      log y axis
 *   height    CSS px of the plot
 *   xLabel    what the x axis counts, "step" or "epoch" (its label)
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
    this.element.dataset.xLabel = options.xLabel || "step";
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
    const logY = Boolean(this.options.logY);
    const xLabel = this.options.xLabel || "step";
    return {
      width: this.width,
      height: this.options.height || 180,
      padding: [10, RIGHT, 0, GUTTER - Y_AXIS],
      legend: {show: false},
      ...seriesOptions(specs, xLabel),
      scales: {
        x: {time: false, auto: false},
        y: logY ? {distr: 3, log: 10} : {auto: true},
      },
      axes: axesOptions(this.theme, xLabel, logY),
      cursor: {
        drag: {x: true, y: false, setScale: false, dist: 4},
        points: {size: 7},
        sync: syncOptions(this.options.syncKey),
        bind: {
          dblclick: () => () => {
            this.group.setZoom(null);
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
        draw: [(u) => drawOverlay(u, this.theme, this.highlight,
            this.markers, this.highlightKey, this.nonFinite)],
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

  /** Alert onsets ([{step, end, severity, key, resolved}]) and the
   *  highlighted one. */
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
