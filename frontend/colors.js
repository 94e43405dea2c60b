// Colours of the Train Health tab: the heatmap scale, run colours, severity
// and theme colours. Pure: no DOM, so node's test runner imports it.
//
// Heatmaps use viridis: perceptually uniform, ordered in lightness (so it
// reads in grey too) and distinguishable with the common colour-vision
// deficiencies. Lines use the Okabe-Ito palette, designed for the same.

// Viridis, 17 stops from 0 to 1 (entries 0, 16, ..., 255 of the 256-colour
// table of matplotlib and d3), interpolated linearly in between.
const VIRIDIS_STOPS = [
  [68, 1, 84], [72, 24, 106], [71, 45, 123], [66, 64, 134], [59, 82, 139],
  [51, 99, 141], [44, 114, 142], [38, 130, 142], [33, 145, 140],
  [31, 159, 136], [39, 173, 129], [61, 188, 116], [92, 200, 99],
  [129, 211, 77], [170, 220, 50], [213, 226, 26], [253, 231, 37],
];

// Okabe-Ito vermillion: not on the viridis ramp, so NaN/Inf cells and
// markers stand out from every value.
export const NON_FINITE = "#D55E00";

/** The colour index of NaN/Inf (and missing) cells in HEATMAP_LUT. */
export const NAN_INDEX = 256;

/**
 * The heatmap colours as one flat table of [r, g, b] triples: 256 steps
 * of viridis (index i for t = i / 255), then NON_FINITE at NAN_INDEX.
 */
export const HEATMAP_LUT = (() => {
  const lut = new Uint8ClampedArray((NAN_INDEX + 1) * 3);
  const n = VIRIDIS_STOPS.length - 1;
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * n;
    const k = Math.min(n - 1, Math.floor(x));
    const f = x - k;
    for (let c = 0; c < 3; c++) {
      const a = VIRIDIS_STOPS[k][c];
      const b = VIRIDIS_STOPS[k + 1][c];
      lut[i * 3 + c] = Math.round(a + (b - a) * f);
    }
  }
  lut.set(hexToRgb(NON_FINITE), NAN_INDEX * 3);
  return lut;
})();

/** Viridis at t in [0, 1] (clamped; NaN reads as 0) as [r, g, b]. */
export function viridis(t) {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const i = Math.round(x * 255) * 3;
  return [HEATMAP_LUT[i], HEATMAP_LUT[i + 1], HEATMAP_LUT[i + 2]];
}

/**
 * The colour domain [lo, hi] of a heatmap: `fixed` when given, else the
 * value range the server sent, widened when it is a single value. Log
 * scales need a positive domain.
 */
export function heatmapDomain(scale, range, fixed) {
  if (fixed) return [fixed[0], fixed[1]];
  const ok = Array.isArray(range) || ArrayBuffer.isView(range);
  let lo = ok ? range[0] : NaN;
  let hi = ok ? range[1] : NaN;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) ||
      (scale === "log" && !(lo > 0 && hi > 0))) {
    return scale === "log" ? [1e-3, 1] : [0, 1];
  }
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    if (scale === "log") return [lo / 10, hi * 10];
    const d = Math.abs(lo) * 0.1 || 0.5;
    return [lo - d, hi + d];
  }
  return [lo, hi];
}

/** Where v falls in [lo, hi] on the scale, as t in [0, 1] (clamped);
 *  NaN for non-finite v. On a log scale values <= 0 map to 0. */
export function normalize(v, scale, lo, hi) {
  const {log, from, span} = scaleSpan(scale, lo, hi);
  return position(v, log, from, span);
}

/**
 * Writes the colour index of each of `values` into `out` (0..255:
 * round(255 * normalize(v, scale, lo, hi)); `nanIndex` for a non-finite
 * value, and for a missing one) and returns whether any was non-finite.
 * The scale's ends are worked out once, not per cell: a 200-layer heatmap
 * has a few hundred thousand cells to colour.
 */
export function colorIndices(values, scale, lo, hi, out, nanIndex) {
  const {log, from, span} = scaleSpan(scale, lo, hi);
  let nonFinite = false;
  for (let c = 0; c < out.length; c++) {
    const t = position(values[c], log, from, span);
    if (Number.isNaN(t)) {
      out[c] = nanIndex;
      nonFinite = true;
    } else {
      out[c] = Math.round(t * 255);
    }
  }
  return nonFinite;
}

/** [lo, hi] on the scale: where it starts and how wide it is (log10
 *  units on a log scale). */
function scaleSpan(scale, lo, hi) {
  const log = scale === "log";
  const from = log ? Math.log10(lo) : lo;
  return {log, from, span: (log ? Math.log10(hi) : hi) - from};
}

function position(v, log, from, span) {
  if (!Number.isFinite(v)) return NaN;
  let t;
  if (log) {
    if (v <= 0) return 0;
    t = (Math.log10(v) - from) / span;
  } else {
    t = (v - from) / span;
  }
  if (!Number.isFinite(t)) return 0;
  return Math.min(1, Math.max(0, t));
}

/** Tick values for a colour legend: both ends, and for log scales the
 *  powers of ten in between (at most `max`). */
export function legendTicks(scale, lo, hi, max = 5) {
  if (!(hi > lo)) return [lo];
  if (scale !== "log") {
    const ticks = [];
    for (let i = 0; i < max; i++) ticks.push(lo + ((hi - lo) * i) / (max - 1));
    return ticks;
  }
  const ticks = [lo];
  const a = Math.ceil(Math.log10(lo) + 1e-9);
  const b = Math.floor(Math.log10(hi) - 1e-9);
  const stride = Math.max(1, Math.ceil((b - a + 1) / Math.max(1, max - 2)));
  for (let k = a; k <= b; k += stride) ticks.push(10 ** k);
  ticks.push(hi);
  return ticks;
}

// Okabe-Ito, without black (the text colour) and yellow (unreadable on
// white): runs take these in order, then again dashed.
const RUN_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
  "#D55E00", "#8C6D31"];

const RUN_DASHES = [[], [6, 3], [2, 3], [8, 3, 2, 3]];

/** The lines of an epoch chart: training, validation and the gap, in the
 *  first three run colours (a run's charts show one run). */
export const EPOCH_SERIES = new Map([
  ["train", {color: RUN_PALETTE[0], dash: []}],
  ["val", {color: RUN_PALETTE[1], dash: [6, 3]}],
  ["gap", {color: RUN_PALETTE[2], dash: [2, 3]}],
]);

/** The colour and dash of the run at `index` of the (sorted) run list:
 *  stable while runs are added after it. */
export function runStyle(index) {
  const i = Math.max(0, index | 0);
  return {
    color: RUN_PALETTE[i % RUN_PALETTE.length],
    dash: RUN_DASHES[Math.floor(i / RUN_PALETTE.length) % RUN_DASHES.length],
  };
}

/** [r, g, b] of "#rrggbb", or null for anything else. */
export function hexToRgb(hex) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
  return m ? [m[1], m[2], m[3]].map((h) => parseInt(h, 16)) : null;
}

/** A CSS colour with an alpha, from "#rrggbb". */
export function withAlpha(hex, alpha) {
  const rgb = hexToRgb(hex);
  return rgb ? `rgba(${rgb.join(",")},${alpha})` : hex;
}

/** The colour of an alert marker: its severity's, muted once resolved. */
export function markerColor(theme, marker) {
  if (marker.resolved) return theme.muted;
  return theme.severity.get(marker.severity) || theme.muted;
}

/** Colours the canvases need in each theme (the page's CSS has the rest). */
export function themeColors(dark) {
  return dark ? {
    text: "#e8e8e8",
    muted: "#a8a8a8",
    grid: "rgba(255,255,255,0.10)",
    axis: "#8a8a8a",
    background: "#1e1e1e",
    highlight: "#ff5fb0",
    fold: "#3a3a3a",
    severity: new Map([["critical", "#ff7a7a"], ["warning", "#f0b050"],
      ["info", "#7fb5ff"]]),
  } : {
    text: "#212121",
    muted: "#616161",
    grid: "rgba(0,0,0,0.08)",
    axis: "#9e9e9e",
    background: "#ffffff",
    highlight: "#e0007a",
    fold: "#e4e4e4",
    severity: new Map([["critical", "#c62828"], ["warning", "#a15c00"],
      ["info", "#1565c0"]]),
  };
}
