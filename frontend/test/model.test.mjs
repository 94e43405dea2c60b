// Unit tests of model.js's decoders (node --test): no fetch involved.
import assert from "node:assert/strict";
import test from "node:test";

import {
  base64Bytes, decodeF32Matrix, decodeHeatmap, decodeNumber, decodeNumbers, decodeRun,
  decodeRuns, fingerprint,
} from "../model.js";

function f32Base64(rows) {
  const flat = new Float32Array(rows.flat());
  return Buffer.from(flat.buffer).toString("base64");
}

test("decodeNumber turns the server's markers back into numbers", () => {
  assert.equal(decodeNumber(1.5), 1.5);
  assert.ok(Number.isNaN(decodeNumber("NaN")));
  assert.equal(decodeNumber("Infinity"), Infinity);
  assert.equal(decodeNumber("-Infinity"), -Infinity);
  assert.ok(Number.isNaN(decodeNumber(null)));
  assert.deepEqual(Array.from(decodeNumbers([1, "Infinity"])), [1, Infinity]);
  assert.equal(decodeNumbers(undefined).length, 0);
});

test("base64Bytes decodes natively where it can, else through atob", () => {
  const text = Buffer.from([0, 1, 127, 128, 255]).toString("base64");
  assert.deepEqual(Array.from(base64Bytes(text, null)), [0, 1, 127, 128, 255]);
  const native = (s) => new Uint8Array(Buffer.from(s, "base64"));
  assert.deepEqual(Array.from(base64Bytes(text, native)),
      [0, 1, 127, 128, 255]);
  assert.throws(() => base64Bytes("not base64!", null));
});

test("decodeF32Matrix reads row-major float32 with NaN and Inf", () => {
  const rows = decodeF32Matrix(f32Base64([[1, 2, NaN], [0.5, Infinity, -3]]), 2, 3);
  assert.equal(rows.length, 2);
  assert.deepEqual(Array.from(rows[0]).slice(0, 2), [1, 2]);
  assert.ok(Number.isNaN(rows[0][2]));
  assert.deepEqual(Array.from(rows[1]), [0.5, Infinity, -3]);
  assert.throws(() => decodeF32Matrix(f32Base64([[1, 2]]), 2, 3));
  assert.deepEqual(decodeF32Matrix("", 0, 5), []);
});

test("decodeHeatmap handles both formats alike", () => {
  const common = {signal: "grad_norm", scale: "log", available: true,
    rows: [{name: "a"}, {name: "b"}], steps: [0, 10], step_ends: [9, 19],
    range: [0.5, "Infinity"], total_steps: 20, downsampled: true,
    extent: [0, 19]};
  const json = decodeHeatmap({...common, values: [[1, "NaN"], [2, 3]]}, "s");
  const f32 = decodeHeatmap({...common, encoding: "f32",
    values_f32: f32Base64([[1, NaN], [2, 3]])}, "s");
  for (const hm of [json, f32]) {
    assert.equal(hm.scale, "log");
    assert.deepEqual(hm.stepEnds, [9, 19]);
    assert.equal(hm.values[0][0], 1);
    assert.ok(Number.isNaN(hm.values[0][1]));
    assert.equal(hm.values[1][1], 3);
    assert.equal(hm.range[1], Infinity);
    assert.deepEqual(hm.extent, [0, 19]);
  }
});

test("decodeRun decodes series, bounds and epochs", () => {
  const run = decodeRun({
    run: "r", status: "ok", alerts: [], problems: [], facts: {},
    step_series: {loss: {steps: [0, 5], step_ends: [4, 9], values: [1, "NaN"],
      min: [0.5, "NaN"], max: [2, "NaN"]}},
    downsampled: true, extent: [0, 9], step_range: null,
    epochs: {loss: {steps: [0], values: [0.5]}},
    gaps: {loss: {steps: [0], values: [0.1], ratio: [1.2]}},
    epoch_end_step: {steps: [0], values: [9]},
    layers: [{name: "a"}], variables: [], signals: {},
  }, "sig");
  assert.equal(run.signature, "sig");
  assert.deepEqual(Array.from(run.stepSeries.get("loss").max).slice(0, 1), [2]);
  assert.ok(Number.isNaN(run.stepSeries.get("loss").values[1]));
  assert.deepEqual(run.extent, [0, 9]);
  assert.deepEqual(run.epochEndStep, {steps: [0], values: [9]});
  assert.equal(run.gaps.get("loss").ratio[0], 1.2);
  const bare = decodeRun({run: "r"}, "x");
  assert.deepEqual(bare.alerts, []);
  assert.equal(bare.epochs.size, 0);
  assert.equal(bare.extent, null);
  assert.equal(bare.stale, false);
  assert.equal(run.stale, false);
  assert.equal(decodeRun({run: "r", stale: true}, "y").stale, true);
  assert.equal(decodeHeatmap({signal: "s", stale: true}, "z").stale, true);
  assert.equal(run.preliminary, false);
  assert.equal(decodeRun({run: "r", preliminary: true}, "y").preliminary,
      true);
  assert.equal(decodeHeatmap({signal: "s", preliminary: true}, "z")
      .preliminary, true);
});

test("fingerprint tells bodies apart", () => {
  assert.equal(fingerprint("abc"), fingerprint("abc"));
  assert.notEqual(fingerprint("abc"), fingerprint("abd"));
});

test("decodeRuns keeps the page's counts, or derives them", () => {
  const runs = [{run: "a", status: "ok", alert_count: 0, problems: []},
    {run: "b", status: "pending", alert_count: 0, problems: []}];
  assert.deepEqual(decodeRuns({runs, problems: [], total: 2000, pending: 1},
      "s"), {signature: "s", runs, problems: [], total: 2000, pending: 1});
  const bare = decodeRuns({runs}, "t");
  assert.equal(bare.total, 2);
  assert.equal(bare.pending, 1);
  assert.deepEqual(decodeRuns({}, "u"), {signature: "u", runs: [],
    problems: [], total: 0, pending: 0});
});

test("names from the data are Map keys, whatever they are", () => {
  // As JSON.parse reads them: "__proto__" an own key like any other.
  const body = JSON.parse(`{"run": "r",
    "epochs": {"constructor": {"steps": [0], "values": [1]},
               "__proto__": {"steps": [0, 1], "values": [2, 3]},
               "toString": "not a series"},
    "gaps": {"__proto__": {"steps": [0], "values": [0.5], "ratio": [2]}},
    "step_series": {"hasOwnProperty": {"steps": [3], "values": [4]}},
    "signals": {"__proto__": {"available": true, "records": 3}},
    "epoch_end_step": {"steps": [0, 1], "values": [4, null]}}`);
  const run = decodeRun(body, "s");
  assert.deepEqual([...run.epochs.keys()], ["constructor", "__proto__"]);
  assert.deepEqual(Array.from(run.epochs.get("__proto__").values), [2, 3]);
  assert.equal(run.gaps.has("constructor"), false);
  assert.equal(run.gaps.get("__proto__").ratio[0], 2);
  assert.deepEqual(run.stepSeries.get("hasOwnProperty").steps, [3]);
  assert.deepEqual(run.signals.get("__proto__"), {available: true, records: 3});
  assert.ok(Number.isNaN(run.epochEndStep.values[1]));
});

test("alerts and rows the tab cannot read are reported, the rest kept", () => {
  const run = decodeRun({run: "r", problems: ["diagnosis failed: x"],
    alerts: [{kind: "dead_relu", severity: "warning", layer: "d",
      first_step: 1}, "junk"], facts: [1, 2]}, "s");
  assert.equal(run.alerts.length, 1);
  assert.deepEqual(run.problems, ["diagnosis failed: x",
    "alert 2 is not an alert; not shown"]);
  assert.deepEqual(run.facts, {});
  const hm = decodeHeatmap({signal: "s", rows: [{name: 5}, {name: {x: 1}},
    "junk", {name: "ok", variables: ["ok/kernel", 3]}], steps: [0],
  values: [[1], [2], [3], [4]]}, "z");
  assert.deepEqual(hm.rows.map((r) => r.name), ["5", "(row 2)", "(row 3)",
    "ok"]);
  assert.deepEqual(hm.rows[3].variables, ["ok/kernel", "3"]);
  assert.deepEqual(hm.problems, ["row 2 has no readable name",
    "row 3 has no readable name"]);
});
