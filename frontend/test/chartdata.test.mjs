// Unit tests of chartdata.js (node --test).
import assert from "node:assert/strict";
import test from "node:test";

import {
  ZoomGroup, alignSeries, clampZoom, compareSeries, epochChartData,
  epochDomain, epochKeys, epochSteps, layoutRows, logSplits, pixelColumns,
  plotValues, rowHeight, rowMatches, runDomain, stepDomain, stepTicks,
  stepToX, xToStep,
} from "../chartdata.js";
import {decodeRun} from "../model.js";

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

test("epochSteps", () => {
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

test("rowMatches", () => {
  assert.ok(rowMatches({name: "d", variables: ["d/kernel"]}, "d/kernel"));
  assert.ok(rowMatches({name: "d"}, "d"));
  assert.ok(!rowMatches({name: "d"}, null));
});

/** A decoded /run body with these epochs, gaps and epoch end steps. */
function run({extent = [0, 20], epochs = {}, gaps = {}, ends = null,
  stepSeries = {}} = {}) {
  const series = (map) => Object.fromEntries(Object.entries(map).map(
      ([k, values]) => [k, {steps: values.map((_, i) => i), values}]));
  return decodeRun({run: "r", extent, epochs: series(epochs),
    gaps: series(gaps), step_series: stepSeries,
    epoch_end_step: ends ? {steps: ends.map((_, i) => i), values: ends} :
      undefined}, "s");
}

test("a run's step axis reaches its last step and its last epoch's end", () => {
  // Records stop at step 20; the fit ran on to 29, where epoch 2 ended.
  assert.deepEqual(runDomain(run({ends: [9, 19, 29]})), [0, 29]);
  assert.deepEqual(runDomain(run({ends: [9, "NaN", 19]})), [0, 20]);
  assert.deepEqual(runDomain(run({})), [0, 20]);
  assert.deepEqual(runDomain(run({extent: null, ends: [4, 9]})), [0, 9]);
  assert.deepEqual(runDomain(run({extent: null})), [0, 1]);
});

test("epoch charts: at the steps epochs ended, else on an epoch axis", () => {
  const r = run({epochs: {loss: [1, 0.5, 0.25], val_loss: [1, 0.75, 0.75],
    acc: [0.1, 0.2, 0.3], constructor: [3, 2, 1]},
  gaps: {loss: [0, 0.25, 0.5]}, ends: [9, 19, 29]});
  assert.deepEqual(epochKeys(r), ["loss", "acc", "constructor"]);
  const loss = epochChartData(r, "loss");
  assert.equal(loss.axis, "step");
  assert.deepEqual(loss.xs, [9, 19, 29]);
  assert.deepEqual(loss.series.map((s) => [s.role, s.label]),
      [["train", "loss"], ["val", "val_loss"], ["gap", "gap"]]);
  assert.deepEqual(loss.series[1].values, [1, 0.75, 0.75]);
  assert.equal(loss.epochAt.get(19), 1);
  // A metric named like an Object method has no val_ or gap of its own.
  const odd = epochChartData(r, "constructor");
  assert.deepEqual(odd.series.map((s) => s.role), ["train"]);
  // An old run without epoch end steps (or with a NaN one): epochs.
  const old = run({epochs: {loss: [1, 0.5, 0.25]}, ends: [9, NaN, 29]});
  const byEpoch = epochChartData(old, "loss");
  assert.equal(byEpoch.axis, "epoch");
  assert.deepEqual(byEpoch.xs, [0, 1, 2]);
  assert.deepEqual(epochDomain(old, byEpoch.xs), [0, 2]);
  assert.deepEqual(epochDomain(run({epochs: {loss: [1]}}), [0]), [-0.5, 0.5]);
});

test("compareSeries: step series, and the gap at steps or epochs", () => {
  const loss = {key: "loss", source: "step_series", axis: "step"};
  const gap = {key: "gap", source: "gaps", axis: "epoch"};
  const r = run({gaps: {acc: [0.1, 0.2], loss: [0.3, 0.4]}, ends: [9, 19],
    stepSeries: {loss: {steps: [0, 10], values: [2, 1]}}});
  assert.deepEqual(compareSeries(r, loss).steps, [0, 10]);
  assert.deepEqual(compareSeries(r, gap), {values: r.gaps.get("loss").values,
    epochs: [0, 1], steps: [9, 19]});
  const noEnds = run({gaps: {acc: [0.1, 0.2]}});
  assert.deepEqual(compareSeries(noEnds, gap).steps, null);
  assert.deepEqual(compareSeries(noEnds, gap).epochs, [0, 1]);
  assert.equal(compareSeries(noEnds, loss), null);
  assert.equal(compareSeries(null, loss), null);
});

test("ZoomGroup: one range for its members, user zooms reported", () => {
  const heard = [];
  const group = new ZoomGroup((zoom) => heard.push(zoom));
  const applied = [];
  group.add({applyRange: (range) => applied.push(range)});
  group.setDomain([0, 100]);
  group.setZoom([10.4, 20.2]);
  assert.deepEqual(group.range, [10, 21]);
  assert.deepEqual(applied.at(-1), [10, 21]);
  group.setZoom([10, 21]);  // the same zoom again: not reported twice
  assert.deepEqual(heard, [[10, 21]]);
  // New data keeps the zoom, clamped to what there is.
  group.setDomain([0, 15]);
  assert.deepEqual(group.range, [10, 15]);
  group.setZoom(null);
  assert.deepEqual(heard.at(-1), null);
  assert.deepEqual(applied.at(-1), [0, 15]);
});

test("axis ticks: round steps, powers of ten on log axes", () => {
  assert.deepEqual(stepTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(stepTicks(3, 29, 4), [10, 20]);
  assert.deepEqual(stepTicks(5, 5, 4), [5]);
  const round = (ticks) => ticks.map((v) => Number(v.toPrecision(12)));
  assert.deepEqual(round(logSplits(1e-4, 1)), [1e-4, 1e-3, 1e-2, 0.1, 1]);
  assert.deepEqual(round(logSplits(1, 10)), [1, 2, 5, 10]);
  assert.ok(logSplits(1e-12, 1e12).length <= 6);
  assert.deepEqual(logSplits(-1, 1), [1]);
});
