// Data shaping for the Train Health tab's charts and heatmaps: series
// alignment for overlays, the epoch charts and the comparison's series,
// the step axis of a run and the zoom its charts share, log-axis ticks,
// the step-to-pixel layout of heatmaps, and the filtering and folding of
// their rows. Pure: no DOM, no fetch, so node's test runner imports it
// (frontend/test/).

import {layerFilter} from "./layerfilter.js";

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
 * The step axis of a run: from its first record to its last step, which
 * is where the last epoch ended when the records stop before the end of
 * the fit.
 */
export function runDomain(runData) {
  const ends = runData.epochEndStep.values.filter(Number.isFinite);
  const extent = runData.extent;
  if (!extent && !ends.length) return stepDomain(null);
  const lo = extent ? extent[0] : Math.min(0, ...ends);
  const hi = Math.max(extent ? extent[1] : lo, ...ends);
  return stepDomain([lo, hi]);
}

/** The epoch axis of a run: from epoch 0 (or its first) to its last. */
export function epochDomain(runData, xs) {
  const epochs = [...xs, ...runData.epochEndStep.steps]
      .filter(Number.isFinite);
  if (!epochs.length) return stepDomain(null);
  return stepDomain([Math.min(0, ...epochs), Math.max(...epochs)]);
}

/** The metrics with an epoch chart: every epoch series but the
 *  validation ones (drawn with theirs), the loss first. */
export function epochKeys(runData) {
  return [...runData.epochs.keys()]
      .filter((k) => !k.startsWith("val_"))
      .sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 :
        a.localeCompare(b)));
}

/**
 * The epoch chart of metric `key`: the training series, its validation
 * counterpart and the gap, at the steps their epochs ended when every
 * epoch of them has one (one axis with the step charts), else at their
 * epochs. Returns {axis: "step" | "epoch", xs, series: [{role ("train",
 * "val", "gap"), label, values}], epochAt: Map x -> epoch}.
 */
export function epochChartData(runData, key) {
  const parts = [{role: "train", label: key, s: runData.epochs.get(key)}];
  const val = runData.epochs.get(`val_${key}`);
  if (val) parts.push({role: "val", label: `val_${key}`, s: val});
  const gap = runData.gaps.get(key);
  if (gap) parts.push({role: "gap", label: "gap", s: gap});
  const steps = parts.map((p) => epochSteps(p.s.steps, runData.epochEndStep));
  const axis = steps.every(Boolean) ? "step" : "epoch";
  const xsOf = (p, i) => (axis === "step" ? steps[i] : p.s.steps);
  const epochAt = new Map();
  parts.forEach((p, i) => xsOf(p, i).forEach((x, j) => {
    epochAt.set(x, p.s.steps[j]);
  }));
  const aligned = alignSeries(parts.map((p, i) => ({xs: xsOf(p, i),
    ys: p.s.values})));
  return {
    axis,
    xs: aligned.xs,
    series: parts.map((p, i) => ({role: p.role, label: p.label,
      values: aligned.ys[i]})),
    epochAt,
  };
}

/**
 * One run's series for the comparison on `entry` (a catalogue compare
 * entry): {values, steps (or null), epochs (or null)}, or null when the
 * run has none. A per-epoch series (the gap) has steps when every epoch
 * has its end step.
 */
export function compareSeries(data, entry) {
  if (!data || !entry) return null;
  if (entry.source === "gaps") {
    const key = data.gaps.has("loss") ? "loss" : data.gaps.keys().next().value;
    const gap = key === undefined ? null : data.gaps.get(key);
    if (!gap || !gap.steps.length) return null;
    return {values: gap.values, epochs: gap.steps,
      steps: epochSteps(gap.steps, data.epochEndStep)};
  }
  const s = data.stepSeries.get(entry.key);
  return s && s.steps.length ? {values: s.values, steps: s.steps, epochs: null} :
    null;
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

/** Whether a heatmap row is the layer (or holds the variable) `name`. */
export function rowMatches(row, name) {
  if (name === null || name === undefined) return false;
  return row.name === name ||
      (Array.isArray(row.variables) && row.variables.includes(name));
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

// ---------------------------------------------------------------- axes

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


/** Round-ish step ticks for an axis over [lo, hi], about `count` of
 *  them. */
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
