// Unit tests of chartdata.js (node --test).
import assert from "node:assert/strict";
import test from "node:test";

import {
  alertKey, alertMarkers, alignSeries, clampZoom, decimate, epochSteps,
  evidenceTarget, flaggedLayers, formatNumber, formatSteps, layerFilter,
  layoutRows, pixelColumns, plotValues, rangeIndices, rowHeight, rowMatches,
  stepDomain, stepToX, xToStep,
} from "../chartdata.js";

test("formatNumber and formatSteps", () => {
  assert.equal(formatNumber(0.123456), "0.1235");
  assert.equal(formatNumber(1234567), "1.23e+6");
  assert.equal(formatNumber(0.00001234), "1.23e-5");
  assert.equal(formatNumber(NaN), "NaN");
  assert.equal(formatNumber(-Infinity), "-Inf");
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(null), "–");
  assert.equal(formatSteps(3, 3), "step 3");
  assert.equal(formatSteps(3, 9), "steps 3–9");
  assert.equal(formatSteps(null, 9), "");
});

test("plotValues: gaps for non-finite and non-positive-on-log values", () => {
  const {ys, nonFinite} = plotValues([1, NaN, 0, -1, Infinity, null], true);
  // null breaks the line; undefined ("no point here") is joined over.
  assert.deepEqual(ys, [1, null, null, null, null, undefined]);
  assert.deepEqual(nonFinite, [1, 4]);  // null is "no value", not NaN
  assert.deepEqual(plotValues([0, -1], false).ys, [0, -1]);
});

test("alignSeries puts runs on one x axis", () => {
  const {xs, ys} = alignSeries([
    {xs: [0, 10, 20], ys: [1, 2, 3]},
    {xs: [5, 10], ys: [7, NaN]},
  ]);
  assert.deepEqual(xs, [0, 5, 10, 20]);
  assert.deepEqual(ys[0], [1, null, 2, 3]);
  assert.deepEqual(ys[1].slice(0, 2), [null, 7]);
  assert.ok(Number.isNaN(ys[1][2]));
  assert.equal(ys[1][3], null);
});

test("decimate keeps spikes, dips and NaNs", () => {
  const n = 10000;
  const xs = Array.from({length: n}, (_, i) => i);
  const ys = xs.map((i) => Math.sin(i / 100));
  ys[1234] = 50;
  ys[4321] = -50;
  ys[7777] = NaN;
  const out = decimate(xs, ys, 200);
  assert.ok(out.xs.length <= 600);
  assert.ok(out.ys.includes(50));
  assert.ok(out.ys.includes(-50));
  assert.ok(out.ys.some(Number.isNaN));
  assert.deepEqual(out.index.slice().sort((a, b) => a - b), out.index);
  for (let i = 0; i < out.xs.length; i++) {
    assert.equal(out.xs[i], xs[out.index[i]]);
  }
  const small = decimate([1, 2], [3, 4], 200);
  assert.deepEqual(small.ys, [3, 4]);
});

test("rangeIndices and epochSteps", () => {
  assert.deepEqual(rangeIndices([0, 10, 20, 30], 5, 20), [1, 3]);
  assert.deepEqual(rangeIndices([0, 10, 20, 30], 31, 40), [4, 4]);
  const end = {steps: [0, 1, 2], values: [9, 19, 29]};
  assert.deepEqual(epochSteps([0, 1, 2], end), [9, 19, 29]);
  assert.deepEqual(epochSteps([1], end), [19]);
  assert.equal(epochSteps([3], end), null);
  assert.equal(epochSteps([0], {steps: [0], values: [NaN]}), null);
});

test("stepDomain and clampZoom", () => {
  assert.deepEqual(stepDomain([0, 29]), [0, 29]);
  assert.deepEqual(stepDomain([5, 5]), [4.5, 5.5]);
  assert.deepEqual(stepDomain(null), [0, 1]);
  assert.deepEqual(clampZoom([10.2, 20.7], [0, 100]), [10, 21]);
  assert.deepEqual(clampZoom([20, 10], [0, 100]), [10, 20]);
  assert.deepEqual(clampZoom([-50, 40], [0, 100]), [0, 40]);
  assert.equal(clampZoom([-5, 500], [0, 100]), null);  // everything
  assert.equal(clampZoom(null, [0, 100]), null);
  assert.deepEqual(clampZoom([10.1, 10.2], [0, 100]), [10, 11]);
});

test("pixelColumns maps pixels to heatmap columns", () => {
  // Columns at steps 0, 10, 20 (each 10 wide); screen shows 0..30.
  const cols = pixelColumns([0, 10, 20], [9, 19, 29], 0, 30, 6);
  assert.deepEqual(Array.from(cols), [0, 0, 1, 1, 2, 2]);
  // Zoomed into 10..20: only column 1.
  assert.deepEqual(Array.from(pixelColumns([0, 10, 20], [9, 19, 29], 10, 20, 4)),
      [1, 1, 1, 1]);
  // Past the last record's cell (as wide as the spacing before it): none.
  assert.deepEqual(Array.from(pixelColumns([0, 1], [0, 1], 0, 10, 5)),
      [1, -1, -1, -1, -1]);
  assert.deepEqual(Array.from(pixelColumns([0, 1], [0, 1], 0, 2, 4)),
      [0, 0, 1, 1]);
  assert.equal(pixelColumns([], [], 0, 1, 3)[0], -1);
  assert.equal(stepToX(15, 10, 20, 100), 50);
  assert.equal(xToStep(50, 10, 20, 100), 15);
});

const ROWS = ["input_dense", "block_1/dense", "block_1/gate", "block_2/dense",
  "block_2/gate", "block_3/dense", "output"].map((name) => ({name}));

test("layerFilter is a case-insensitive regex, else plain text", () => {
  assert.ok(layerFilter("GATE")("block_1/gate"));
  assert.ok(layerFilter("block_[12]/")("block_2/dense"));
  assert.ok(!layerFilter("block_[12]/")("block_3/dense"));
  assert.ok(layerFilter("dense(")("dense(1)"));  // invalid regex: text
  assert.ok(layerFilter("")("anything"));
});

test("layoutRows filters and folds healthy runs, in model order", () => {
  assert.deepEqual(layoutRows(ROWS).map((e) => e.index), [0, 1, 2, 3, 4, 5, 6]);
  const filtered = layoutRows(ROWS, {filter: "gate"});
  assert.deepEqual(filtered.map((e) => e.index), [2, 4]);

  const flagged = new Set(["block_2/dense"]);
  const folded = layoutRows(ROWS, {collapse: true, flagged});
  assert.deepEqual(folded.map((e) => e.type), ["fold", "row", "fold"]);
  assert.deepEqual(folded[0].indices, [0, 1, 2]);
  assert.equal(folded[1].index, 3);
  assert.deepEqual(folded[2].indices, [4, 5, 6]);

  // A lone healthy row between flagged rows is not folded.
  const lone = layoutRows(ROWS, {collapse: true,
    flagged: new Set(["block_1/gate", "output"]),
    hasNonFinite: (i) => i === 0 || i === 4 || i === 5});
  assert.deepEqual(lone.map((e) => [e.type, e.index ?? e.indices.length]), [
    ["row", 0], ["row", 1], ["row", 2], ["row", 3], ["row", 4], ["row", 5],
    ["row", 6]]);

  // An expanded fold shows its rows, then a fold entry to close it.
  const key = folded[0].key;
  const open = layoutRows(ROWS, {collapse: true, flagged,
    expanded: new Set([key])});
  assert.deepEqual(open.slice(0, 4).map((e) => e.index), [0, 1, 2, undefined]);
  assert.equal(open[3].open, true);

  // The highlighted layer is never folded away.
  const hl = layoutRows(ROWS, {collapse: true, flagged, highlight: "output"});
  assert.equal(hl[hl.length - 1].index, 6);
});

test("layoutRows keeps a 200-layer model readable", () => {
  const rows = Array.from({length: 200}, (_, i) => ({name: `layer_${i}`}));
  const flagged = new Set(["layer_37", "layer_150"]);
  const entries = layoutRows(rows, {collapse: true, flagged});
  assert.equal(entries.length, 5);  // fold, 37, fold, 150, fold
  assert.ok(rowHeight(entries.length) >= 10);
  assert.ok(rowHeight(200) >= 2 && rowHeight(200) <= 4);
});

test("rowMatches and flaggedLayers", () => {
  assert.ok(rowMatches({name: "d", variables: ["d/kernel"]}, "d/kernel"));
  assert.ok(rowMatches({name: "d"}, "d"));
  assert.ok(!rowMatches({name: "d"}, null));
  assert.deepEqual([...flaggedLayers([{layer: "a"}, {layer: null}, {}])], ["a"]);
});

test("evidenceTarget finds where an alert's evidence is", () => {
  const rows = {dead_fraction: ["dense_1"], grad_norm: ["dense", "dense_1"]};
  const hasRow = (signal, layer) => (rows[signal] || []).includes(layer);
  const charts = new Set(["grad_norm_global", "loss", "epoch_loss", "facts"]);
  const hasChart = (id) => charts.has(id);
  const t = (alert) => evidenceTarget(alert, hasRow, hasChart);
  assert.deepEqual(t({kind: "dead_relu", layer: "dense_1"}),
      {type: "heatmap", signal: "dead_fraction", layer: "dense_1"});
  assert.deepEqual(t({kind: "vanishing_gradients", layer: "dense"}),
      {type: "heatmap", signal: "grad_norm", layer: "dense"});
  assert.deepEqual(t({kind: "exploding_gradients", layer: null}),
      {type: "chart", chart: "grad_norm_global"});
  assert.deepEqual(t({kind: "overfitting", layer: null}),
      {type: "chart", chart: "epoch_loss"});
  assert.deepEqual(t({kind: "stalled_loss"}), {type: "chart", chart: "loss"});
  assert.deepEqual(t({kind: "unscaled_inputs", layer: "input"}), {type: "facts"});
  assert.deepEqual(t({kind: "non_finite", layer: "dense",
    evidence: {signal: "gradients"}}),
  {type: "heatmap", signal: "grad_norm", layer: "dense"});
  assert.deepEqual(t({kind: "non_finite", layer: null,
    evidence: {signal: "loss"}}), {type: "chart", chart: "loss"});
  // Saturation of a layer no heatmap shows falls back to the facts.
  assert.deepEqual(t({kind: "saturation", layer: "gate"}), {type: "facts"});
  assert.equal(evidenceTarget({kind: "stalled_loss"}, hasRow, () => false), null);
});

test("alertMarkers and alertKey", () => {
  const alerts = [
    {kind: "dead_relu", severity: "critical", layer: "d", first_step: 5,
      last_step: 50},
    {kind: "unscaled_inputs", severity: "warning", layer: "x",
      first_step: null, last_step: null},
  ];
  const markers = alertMarkers(alerts);
  assert.equal(markers.length, 1);
  assert.deepEqual(markers[0], {step: 5, end: 50, severity: "critical",
    key: "dead_relu|d|5", label: "dead_relu (d)"});
  assert.notEqual(alertKey(alerts[0]), alertKey(alerts[1]));
});
