// What a heatmap draws: its cells on canvas (viridis, NaN/Inf in their
// own colour), the folds of healthy layers, the highlighted layer's
// outline, the alert onset markers, the row labels, the step axis and the
// colour legend. heatmap.js holds the state and calls these.

import {rowMatches, pixelColumns, stepTicks, stepToX} from "./chartdata.js";
import {
  HEATMAP_LUT, NON_FINITE, hexToRgb, legendTicks, markerColor, viridis,
} from "./colors.js";
import {GUTTER} from "./charts.js";
import {button, el} from "./dom.js";
import {formatNumber} from "./format.js";

export const MARK_H = 10;  // strip above the rows for alert onset markers
const FOLD_H = 14;  // height of a folded run of healthy layers

/** The top and height (CSS px) of each entry of the layout, under the
 *  marker strip: {tops, heights, totalHeight}. */
export function rowPositions(entries, rowH) {
  const tops = [];
  const heights = [];
  let y = MARK_H;
  for (const entry of entries) {
    const h = entry.type === "row" ? rowH : FOLD_H;
    tops.push(y);
    heights.push(h);
    y += h;
  }
  return {tops, heights, totalHeight: y};
}

function foldLabel(rows, entry, onToggleFold) {
  const first = rows[entry.indices[0]].name;
  const last = rows[entry.indices[entry.indices.length - 1]].name;
  const n = entry.indices.length;
  const label = button("th-fold", entry.open ? `▴ fold ${n} healthy layers` :
    `▸ ${n} healthy layers`, () => onToggleFold(entry.key));
  label.title = `${first} … ${last}`;
  label.setAttribute("aria-expanded", String(Boolean(entry.open)));
  return label;
}

/** The label column: a spacer for the marker strip, then a name per row
 *  (too thin a row: its name in the hover title only) and a button per
 *  fold. */
export function rowLabels(rows, entries, heights, rowH, highlight,
    onToggleFold) {
  const spacer = el("div", "th-heatmap-spacer");
  spacer.style.height = `${MARK_H}px`;
  const labels = [spacer];
  entries.forEach((entry, k) => {
    let label;
    if (entry.type === "row") {
      const row = rows[entry.index];
      label = el("div", "th-heatmap-label", rowH >= 9 ? row.name : "");
      label.title = Array.isArray(row.variables) ?
        `${row.name} (${row.variables.join(", ")})` : row.name;
      label.dataset.layer = row.name;
      label.classList.toggle("th-highlight", rowMatches(row, highlight));
      if (rowH < 9) label.classList.add("th-label-tiny");
    } else {
      label = foldLabel(rows, entry, onToggleFold);
    }
    label.style.height = `${heights[k]}px`;
    label.style.lineHeight = `${heights[k]}px`;
    labels.push(label);
  });
  if (!entries.length) {
    labels.push(el("div", "th-heatmap-label th-muted",
        rows.length ? "no layer matches the filter" : "no layers"));
  }
  return labels;
}

/**
 * Paints the cells: each row's colours (rowColors: colour indices into
 * HEATMAP_LUT per data column) under the pixel columns of the range shown,
 * folds in the theme's fold colour. frame: {width, height (CSS px), range,
 * entries, tops, heights}. Returns the context, scaled to CSS px.
 */
export function paintCells(canvas, frame, data, rowColors, theme) {
  const ratio = window.devicePixelRatio || 1;
  const pw = Math.round(frame.width * ratio);
  const ph = Math.round(frame.height * ratio);
  if (canvas.width !== pw || canvas.height !== ph) {
    canvas.width = pw;
    canvas.height = ph;
    canvas.style.width = `${frame.width}px`;
    canvas.style.height = `${frame.height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, pw, ph);
  const [lo, hi] = frame.range;
  const cols = pixelColumns(data.steps, data.stepEnds, lo, hi, pw);
  const image = ctx.createImageData(pw, ph);
  const fold = hexToRgb(theme.fold) || [200, 200, 200];
  frame.entries.forEach((entry, k) => {
    const y0 = Math.round(frame.tops[k] * ratio);
    const y1 = Math.round((frame.tops[k] + frame.heights[k]) * ratio);
    const line = new Uint8ClampedArray(pw * 4);
    const colors = entry.type === "row" ? rowColors[entry.index] : null;
    for (let p = 0; p < pw; p++) {
      const c = cols[p];
      if (colors && c < 0) continue;
      const i = colors ? colors[c] * 3 : -1;
      line[p * 4] = colors ? HEATMAP_LUT[i] : fold[0];
      line[p * 4 + 1] = colors ? HEATMAP_LUT[i + 1] : fold[1];
      line[p * 4 + 2] = colors ? HEATMAP_LUT[i + 2] : fold[2];
      line[p * 4 + 3] = 255;
    }
    // A one-pixel gap under folds keeps them apart from the rows.
    const last = colors ? y1 : y1 - Math.max(1, Math.round(ratio));
    for (let y = y0; y < last; y++) image.data.set(line, y * pw * 4);
  });
  ctx.putImageData(image, 0, 0);
  ctx.scale(ratio, ratio);
  return ctx;
}

/**
 * Over the cells: the folds' text, the highlighted layer's outline, and
 * per alert onset a flag in the strip, a tick on the alert's row and,
 * for the highlighted alert, its step range under the strip.
 * marks: {theme, highlight (layer), markers, highlightKey}.
 */
export function paintOverlays(ctx, frame, rows, marks) {
  const {theme, highlight} = marks;
  const {width, entries, tops, heights} = frame;
  const [lo, hi] = frame.range;
  ctx.font = "10px sans-serif";
  ctx.textBaseline = "middle";
  ctx.strokeStyle = theme.highlight;
  ctx.lineWidth = 2;
  entries.forEach((entry, k) => {
    if (entry.type === "fold") {
      const n = entry.indices.length;
      ctx.fillStyle = theme.muted;
      ctx.fillText(entry.open ? `${n} healthy layers above` :
        `${n} healthy layers folded: ${rows[entry.indices[0]].name} … ` +
        `${rows[entry.indices[n - 1]].name}`, 6, tops[k] + heights[k] / 2);
    } else if (rowMatches(rows[entry.index], highlight)) {
      ctx.strokeRect(1, tops[k] + 1, width - 2, Math.max(2, heights[k] - 2));
    }
  });
  for (const m of marks.markers) {
    const x = stepToX(m.step, lo, hi, width);
    if (x < -1 || x > width + 1) continue;
    const color = markerColor(theme, m);
    const on = m.key === marks.highlightKey;
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
    const k = entries.findIndex((e) => e.type === "row" &&
        rowMatches(rows[e.index], m.layer));
    if (k >= 0) {
      ctx.fillStyle = on ? theme.highlight : color;
      ctx.fillRect(x - 1, tops[k], 3, heights[k]);
    }
  }
}

/** The step axis under the plot: round ticks and its label. */
export function axisNodes([lo, hi], width) {
  const ticks = stepTicks(lo, hi, Math.max(2, Math.floor(width / 110)));
  const nodes = ticks.map((t) => {
    const tick = el("span", "th-axis-tick", String(t));
    tick.style.left = `${GUTTER + stepToX(t, lo, hi, width)}px`;
    return tick;
  });
  const label = el("span", "th-axis-label", "step");
  label.style.left = `${GUTTER + width}px`;
  nodes.push(label);
  return nodes;
}

/** The colour legend: the scale's ends and ramp, its kind, NaN/Inf when
 *  there are any, and how many records were averaged into a column. */
export function legendNodes(data, [lo, hi], anyNonFinite) {
  const bar = el("canvas", "th-legend-bar");
  bar.width = 160;
  bar.height = 10;
  const ctx = bar.getContext("2d");
  for (let x = 0; x < 160; x++) {
    const [r, g, b] = viridis(x / 159);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(x, 0, 1, 10);
  }
  const ticks = legendTicks(data.scale, lo, hi, 4).map(formatNumber);
  const items = [
    el("span", "th-legend-lo", formatNumber(lo)), bar,
    el("span", "th-legend-hi", formatNumber(hi)),
    el("span", "th-legend-scale", data.scale === "log" ?
      `log scale (${ticks.join(", ")})` : "linear scale"),
  ];
  if (anyNonFinite) {
    const swatch = el("span", "th-swatch-box");
    swatch.style.background = NON_FINITE;
    items.push(el("span", "th-legend-item", null,
        [swatch, el("span", null, "NaN/Inf")]));
  }
  if (data.downsampled) {
    items.push(el("span", "th-legend-note",
        `${data.totalSteps} records averaged into ${data.steps.length} ` +
        "columns; zoom in for more"));
  }
  return items;
}
