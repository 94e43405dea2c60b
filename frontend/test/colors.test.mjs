// Unit tests of colors.js (node --test).
import assert from "node:assert/strict";
import test from "node:test";

import {
  EPOCH_SERIES, HEATMAP_LUT, NAN_INDEX, NON_FINITE, colorIndices, hexToRgb,
  heatmapDomain, legendTicks, markerColor, normalize, runStyle, themeColors,
  viridis, withAlpha,
} from "../colors.js";

const luminance = ([r, g, b]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

test("viridis has matplotlib's ends and middle", () => {
  assert.deepEqual(viridis(0), [68, 1, 84]);
  assert.deepEqual(viridis(1), [253, 231, 37]);
  assert.deepEqual(viridis(0.5), [33, 145, 140]);
  assert.deepEqual(viridis(-3), viridis(0));  // clamped
  assert.deepEqual(viridis(7), viridis(1));
  assert.deepEqual(viridis(NaN), viridis(0));
});

test("viridis gets lighter monotonically (readable in grey)", () => {
  let last = -1;
  for (let i = 0; i <= 100; i++) {
    const l = luminance(viridis(i / 100));
    assert.ok(l >= last - 1e-9, `luminance drops at ${i / 100}`);
    last = l;
  }
});

test("colorIndices matches normalize cell by cell", () => {
  const values = new Float32Array([0, 1e-6, 1e-4, 3e-3, 0.5, 1, 2, -1,
    NaN, Infinity, -Infinity, 7e-2]);
  for (const [scale, lo, hi] of [["linear", 0, 1], ["linear", -2, 0.25],
    ["log", 1e-4, 1], ["log", 1e-3, 1e-3], ["linear", 0.5, 0.5]]) {
    const out = new Uint16Array(values.length + 2);  // two cells missing
    const nonFinite = colorIndices(values, scale, lo, hi, out, 256);
    assert.equal(nonFinite, true);
    out.forEach((index, c) => {
      const t = normalize(values[c], scale, lo, hi);
      assert.equal(index, Number.isNaN(t) ? 256 : Math.round(t * 255),
          `${scale} [${lo}, ${hi}] cell ${c}`);
    });
  }
  const finite = new Uint16Array(3);
  assert.equal(colorIndices([0, 0.5, 1], "linear", 0, 1, finite, 256), false);
  assert.deepEqual(Array.from(finite), [0, 128, 255]);
});

test("normalize on linear and log scales", () => {
  assert.equal(normalize(0.5, "linear", 0, 1), 0.5);
  assert.equal(normalize(2, "linear", 0, 1), 1);
  assert.equal(normalize(-1, "linear", 0, 1), 0);
  assert.equal(normalize(1e-2, "log", 1e-4, 1), 0.5);
  assert.equal(normalize(0, "log", 1e-4, 1), 0);  // <= 0 on a log scale
  assert.ok(Number.isNaN(normalize(NaN, "linear", 0, 1)));
  assert.ok(Number.isNaN(normalize(Infinity, "log", 1e-4, 1)));
});

test("the heatmap table: viridis, then the NaN colour off the ramp", () => {
  assert.equal(HEATMAP_LUT.length, (NAN_INDEX + 1) * 3);
  const nan = Array.from(HEATMAP_LUT.slice(NAN_INDEX * 3));
  assert.deepEqual(nan, hexToRgb(NON_FINITE));
  for (let i = 0; i < 256; i++) {
    assert.deepEqual(Array.from(HEATMAP_LUT.slice(i * 3, i * 3 + 3)),
        viridis(i / 255));
    assert.notDeepEqual(viridis(i / 255), nan);
  }
});

test("heatmapDomain widens single values and guards log scales", () => {
  assert.deepEqual(heatmapDomain("linear", [0.2, 0.8], [0, 1]), [0, 1]);
  assert.deepEqual(heatmapDomain("log", [1e-3, 10]), [1e-3, 10]);
  assert.deepEqual(heatmapDomain("log", [5, 5]), [0.5, 50]);
  assert.deepEqual(heatmapDomain("linear", [2, 2]), [1.8, 2.2]);
  assert.deepEqual(heatmapDomain("linear", [0, 0]), [-0.5, 0.5]);
  assert.deepEqual(heatmapDomain("log", null), [1e-3, 1]);
  assert.deepEqual(heatmapDomain("log", [0, 1]), [1e-3, 1]);
  assert.deepEqual(heatmapDomain("linear", new Float64Array([1, NaN])), [0, 1]);
});

test("legendTicks: ends, and powers of ten on log scales", () => {
  assert.deepEqual(legendTicks("linear", 0, 1, 3), [0, 0.5, 1]);
  assert.deepEqual(legendTicks("log", 1e-4, 1, 6), [1e-4, 1e-3, 1e-2, 0.1, 1]);
  const ticks = legendTicks("log", 0.002, 500, 4);
  assert.equal(ticks[0], 0.002);
  assert.equal(ticks[ticks.length - 1], 500);
  assert.ok(ticks.length <= 5);
});

test("runStyle: stable, distinct colours, then dashes", () => {
  const colours = new Set();
  for (let i = 0; i < 7; i++) colours.add(runStyle(i).color);
  assert.equal(colours.size, 7);
  assert.deepEqual(runStyle(0), runStyle(0));
  assert.equal(runStyle(7).color, runStyle(0).color);
  assert.notDeepEqual(runStyle(7).dash, runStyle(0).dash);
});

test("withAlpha, themes and markers", () => {
  assert.equal(withAlpha("#0072B2", 0.5), "rgba(0,114,178,0.5)");
  assert.equal(withAlpha("red", 0.5), "red");
  assert.equal(hexToRgb("red"), null);
  assert.notEqual(themeColors(true).text, themeColors(false).text);
  const theme = themeColors(false);
  assert.equal(markerColor(theme, {severity: "critical"}),
      theme.severity.get("critical"));
  // Resolved alerts are muted; a severity from data that is none of ours
  // (or an Object method's name) gets the muted colour too.
  assert.equal(markerColor(theme, {severity: "critical", resolved: true}),
      theme.muted);
  assert.equal(markerColor(theme, {severity: "constructor"}), theme.muted);
  assert.deepEqual([...EPOCH_SERIES.keys()], ["train", "val", "gap"]);
});
