// Data shaping for the Train Health tab's charts and heatmaps: number
// formatting, series alignment for overlays, downsampling to the screen,
// the step-to-pixel layout of heatmaps, layer filtering and folding, and
// where an alert's evidence is shown. Pure: no DOM, no fetch, so node's
// test runner imports it (frontend/test/).

// ---------------------------------------------------------------- numbers

/** A short, exact-enough label for a value: 4 significant digits. */
export function formatNumber(v) {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(4)));
}

/** "step 12", or "steps 10–19" for a bucket of records. */
export function formatSteps(first, last) {
  if (first === null || first === undefined) return "";
  if (last === null || last === undefined || last === first) {
    return `step ${first}`;
  }
  return `steps ${first}–${last}`;
}

// ---------------------------------------------------------------- series

/**
 * Values as uPlot draws them: an Array with null where the line must break
 * (non-finite, or <= 0 on a log axis) and undefined where a series simply
 * has no point (another run's step, in an overlay), which uPlot joins
 * over; and the indices of the non-finite values (NaN, +-Inf), which get
 * their own markers.
 */
export function plotValues(values, logY) {
  const ys = new Array(values.length);
  const nonFinite = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      ys[i] = undefined;
    } else if (!Number.isFinite(v)) {
      ys[i] = null;
      nonFinite.push(i);
    } else {
      ys[i] = logY && v <= 0 ? null : v;
    }
  }
  return {ys, nonFinite};
}

/**
 * Puts several series ({xs, ys}) on one x axis, for an overlay chart:
 * returns {xs: the sorted union of their x values, ys: [one Array per
 * series, null where that series has no point]}.
 */
export function alignSeries(list) {
  const all = new Set();
  for (const s of list) for (const x of s.xs) all.add(x);
  const xs = Array.from(all).sort((a, b) => a - b);
  const where = new Map(xs.map((x, i) => [x, i]));
  const ys = list.map((s) => {
    const out = new Array(xs.length).fill(null);
    for (let i = 0; i < s.xs.length; i++) {
      const v = s.ys[i];
      out[where.get(s.xs[i])] = v === undefined ? null : v;
    }
    return out;
  });
  return {xs, ys};
}

/**
 * Downsamples a series for a screen `maxPoints` wide: per bucket of
 * consecutive points it keeps the smallest and the largest finite value
 * (in their order) and the first non-finite one, so neither a spike nor a
 * NaN disappears. Series that fit are returned as they are.
 * Returns {xs, ys, index} (index: positions in the input).
 */
export function decimate(xs, ys, maxPoints) {
  const n = xs.length;
  if (n <= maxPoints * 2 || maxPoints < 1) {
    return {xs: Array.from(xs), ys: Array.from(ys),
      index: Array.from({length: n}, (_, i) => i)};
  }
  const out = [];
  for (let b = 0; b < maxPoints; b++) {
    const start = Math.floor((b * n) / maxPoints);
    const end = Math.floor(((b + 1) * n) / maxPoints);
    let lo = -1;
    let hi = -1;
    let bad = -1;
    for (let i = start; i < end; i++) {
      const v = ys[i];
      if (v === null || v === undefined) continue;
      if (!Number.isFinite(v)) {
        if (bad < 0) bad = i;
        continue;
      }
      if (lo < 0 || v < ys[lo]) lo = i;
      if (hi < 0 || v > ys[hi]) hi = i;
    }
    const keep = [lo, hi, bad].filter((i) => i >= 0);
    if (!keep.length) keep.push(start);
    for (const i of Array.from(new Set(keep)).sort((a, b) => a - b)) {
      out.push(i);
    }
  }
  return {xs: out.map((i) => xs[i]), ys: out.map((i) => ys[i]), index: out};
}

/** First index with xs[i] >= x (xs ascending). */
export function lowerBound(xs, x) {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** [i0, i1): the indices of xs (ascending) within [lo, hi]. */
export function rangeIndices(xs, lo, hi) {
  const i0 = lowerBound(xs, lo);
  let i1 = lowerBound(xs, hi);
  while (i1 < xs.length && xs[i1] <= hi) i1++;
  return [i0, Math.max(i0, i1)];
}

/**
 * The global step of each epoch of `epochs` ({steps: [epoch]}), from the
 * run's epoch_end_step series; null unless every epoch has one.
 */
export function epochSteps(epochs, epochEndStep) {
  if (!epochEndStep || !epochEndStep.steps) return null;
  const at = new Map();
  epochEndStep.steps.forEach((epoch, i) => {
    const step = epochEndStep.values[i];
    if (Number.isFinite(step)) at.set(epoch, step);
  });
  const out = [];
  for (const epoch of epochs) {
    if (!at.has(epoch)) return null;
    out.push(at.get(epoch));
  }
  for (let i = 1; i < out.length; i++) {
    if (!(out[i] > out[i - 1])) return null;
  }
  return out;
}

/** The x domain of a step axis from a run's extent: [lo, hi] with lo < hi. */
export function stepDomain(extent) {
  if (!extent || !Number.isFinite(extent[0]) || !Number.isFinite(extent[1])) {
    return [0, 1];
  }
  const [lo, hi] = extent;
  return hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5];
}

/**
 * A zoom range clamped to the domain; null when it covers (nearly) all of
 * it or is empty. Steps are integers: the range is widened to whole steps.
 */
export function clampZoom(zoom, domain) {
  if (!zoom) return null;
  let lo = Math.max(domain[0], Math.floor(Math.min(zoom[0], zoom[1])));
  let hi = Math.min(domain[1], Math.ceil(Math.max(zoom[0], zoom[1])));
  if (!(hi > lo)) {
    hi = Math.min(domain[1], lo + 1);
    lo = Math.max(domain[0], hi - 1);
    if (!(hi > lo)) return null;
  }
  if (lo <= domain[0] && hi >= domain[1]) return null;
  return [lo, hi];
}

// ---------------------------------------------------------------- heatmaps

/**
 * For each of `width` pixel columns showing steps [lo, hi], the heatmap
 * column whose cell is under the pixel's centre, or -1. Column c's cell
 * spans [steps[c], steps[c+1]); the last one as far past its last step as
 * the spacing before it.
 */
export function pixelColumns(steps, stepEnds, lo, hi, width) {
  const out = new Int32Array(Math.max(0, width)).fill(-1);
  const n = steps.length;
  if (!n || !(hi > lo)) return out;
  const last = n - 1;
  const gap = n > 1 ? Math.max(1, steps[last] - steps[last - 1]) : 1;
  const lastEnd = Math.max(stepEnds[last] ?? steps[last], steps[last]) + gap;
  let c = 0;
  for (let p = 0; p < width; p++) {
    const s = lo + ((p + 0.5) * (hi - lo)) / width;
    if (s < steps[0] || s >= lastEnd) continue;
    while (c < last && steps[c + 1] <= s) c++;
    out[p] = c;
  }
  return out;
}

/** The x (in [0, width]) of step s on an axis showing [lo, hi]. */
export function stepToX(s, lo, hi, width) {
  return ((s - lo) / (hi - lo)) * width;
}

/** The step at x (in [0, width]) on an axis showing [lo, hi]. */
export function xToStep(x, lo, hi, width) {
  return lo + (x / width) * (hi - lo);
}

/**
 * A layer-name filter: a case-insensitive regular expression, like
 * TensorBoard's tag filter; text that is not a valid expression matches
 * as plain text. Returns a predicate on names.
 */
export function layerFilter(text) {
  const query = String(text || "").trim();
  if (!query) return () => true;
  try {
    const re = new RegExp(query, "i");
    return (name) => re.test(name);
  } catch (e) {
    const needle = query.toLowerCase();
    return (name) => name.toLowerCase().includes(needle);
  }
}

/** Whether a heatmap row is the layer (or holds the variable) `name`. */
export function rowMatches(row, name) {
  if (name === null || name === undefined) return false;
  return row.name === name ||
      (Array.isArray(row.variables) && row.variables.includes(name));
}

/** Names of the layers any alert points at. */
export function flaggedLayers(alerts) {
  const names = new Set();
  for (const alert of alerts || []) {
    if (typeof alert.layer === "string" && alert.layer) names.add(alert.layer);
  }
  return names;
}

/**
 * The rows a heatmap shows, in model order: rows the filter keeps, with
 * runs of consecutive healthy rows folded into one entry when `collapse`
 * is on. A row is healthy unless an alert names it (`flagged`, a Set of
 * names), it holds a non-finite value (`hasNonFinite(i)`) or it is the
 * highlighted layer. Folds in `expanded` (by key) stay open.
 *
 * Returns [{type: "row", index} | {type: "fold", key, indices}].
 */
export function layoutRows(rows, options = {}) {
  const keep = layerFilter(options.filter);
  const flagged = options.flagged || new Set();
  const expanded = options.expanded || new Set();
  const hasNonFinite = options.hasNonFinite || (() => false);
  const highlight = options.highlight ?? null;
  const healthy = (row, i) => {
    if (hasNonFinite(i) || rowMatches(row, highlight)) return false;
    for (const name of flagged) if (rowMatches(row, name)) return false;
    return true;
  };
  const entries = [];
  let pending = [];
  const flush = () => {
    if (pending.length >= 2) {
      const key = `${rows[pending[0]].name}\u2026${
        rows[pending[pending.length - 1]].name}`;
      if (expanded.has(key)) {
        for (const index of pending) entries.push({type: "row", index});
        entries.push({type: "fold", key, indices: pending, open: true});
      } else {
        entries.push({type: "fold", key, indices: pending, open: false});
      }
    } else {
      for (const index of pending) entries.push({type: "row", index});
    }
    pending = [];
  };
  rows.forEach((row, index) => {
    if (!keep(String(row.name))) return;
    if (options.collapse && healthy(row, index)) {
      pending.push(index);
      return;
    }
    flush();
    entries.push({type: "row", index});
  });
  flush();
  return entries;
}

/** Row height (CSS px) for a heatmap of `count` visible rows. */
export function rowHeight(count) {
  if (count <= 0) return 16;
  return Math.max(4, Math.min(18, Math.floor(420 / count)));
}

// ---------------------------------------------------------------- alerts

/** A stable identity of an alert across refreshes. */
export function alertKey(alert) {
  return [alert.kind, alert.layer ?? "", alert.first_step ?? ""].join("|");
}

const LAYER_SIGNALS = {
  dead_relu: "dead_fraction",
  saturation: "saturation",
  vanishing_gradients: "grad_norm",
  exploding_gradients: "grad_norm",
  learning_rate: "update_ratio",
};

const CHARTS = {
  vanishing_gradients: "grad_norm_global",
  exploding_gradients: "grad_norm_global",
  learning_rate: "learning_rate",
  stalled_loss: "loss",
  overfitting: "epoch_loss",
};

const NON_FINITE_SIGNALS = {
  gradients: ["grad_norm", "grad_norm_global"],
  weights: ["update_ratio", "grad_norm_global"],
  activations: ["dead_fraction", "loss"],
  loss: [null, "loss"],
};

/**
 * Where an alert's evidence is on the page:
 *   {type: "heatmap", signal, layer} | {type: "chart", chart} |
 *   {type: "facts"} | null.
 * `hasRow(signal, layer)` says whether a heatmap shows that layer,
 * `hasChart(id)` whether a chart is on the page; the first place that
 * exists wins.
 */
export function evidenceTarget(alert, hasRow, hasChart) {
  const kind = alert.kind;
  const layer = typeof alert.layer === "string" ? alert.layer : null;
  const candidates = [];
  if (kind === "unscaled_inputs" || kind === "loss_activation_mismatch") {
    candidates.push({type: "facts"});
  } else if (kind === "non_finite") {
    const signal = alert.evidence && alert.evidence.signal;
    const [heatmap, chart] = NON_FINITE_SIGNALS[signal] ||
        ["grad_norm", "grad_norm_global"];
    if (heatmap && layer) candidates.push({type: "heatmap", signal: heatmap, layer});
    candidates.push({type: "chart", chart});
    candidates.push({type: "chart", chart: "grad_norm_global"});
  } else {
    if (layer && LAYER_SIGNALS[kind]) {
      candidates.push({type: "heatmap", signal: LAYER_SIGNALS[kind], layer});
    }
    if (layer) {
      for (const signal of ["dead_fraction", "saturation", "grad_norm",
        "update_ratio"]) {
        candidates.push({type: "heatmap", signal, layer});
      }
    }
    if (CHARTS[kind]) candidates.push({type: "chart", chart: CHARTS[kind]});
    if (kind === "learning_rate") {
      candidates.push({type: "chart", chart: "grad_norm_global"});
    }
    if (kind === "overfitting") candidates.push({type: "chart", chart: "epoch_loss"});
  }
  candidates.push({type: "facts"});
  for (const c of candidates) {
    if (c.type === "heatmap" && hasRow(c.signal, c.layer)) return c;
    if (c.type === "chart" && hasChart(c.chart)) return c;
    if (c.type === "facts" && hasChart("facts")) return c;
  }
  return null;
}

/** Onset markers for step charts: [{step, severity, key, label}]. */
export function alertMarkers(alerts) {
  const out = [];
  for (const alert of alerts || []) {
    if (!Number.isFinite(alert.first_step)) continue;
    out.push({
      step: alert.first_step,
      end: Number.isFinite(alert.last_step) ? alert.last_step : alert.first_step,
      severity: alert.severity,
      key: alertKey(alert),
      label: alert.layer ? `${alert.kind} (${alert.layer})` : alert.kind,
    });
  }
  return out;
}
