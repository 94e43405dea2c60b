// Unit tests of facts.js's rows (node --test): what the run facts panel
// says about the facts the callback records (CONTRACTS.md B), old runs'
// facts, and junk.
import assert from "node:assert/strict";
import test from "node:test";

import {factRows, own} from "../facts.js";

const f32 = Math.fround;

function row(rows, label) {
  return rows.find((r) => r.label === label);
}

test("today's facts: model, optimizer, losses, outputs, targets, probe", () => {
  const rows = factRows({
    model: {name: "mlp", class: "Functional", layers: ["in", "dense", "cls",
      "reg"]},
    optimizer: {class: "Adam", learning_rate: f32(0.001)},
    loss: {name: "binary_crossentropy", from_logits: false},
    losses: [
      {output: "cls", name: "binary_crossentropy", from_logits: false,
        weight: f32(0.5)},
      {output: "reg", name: "mse", from_logits: null, weight: null},
    ],
    outputs: [
      {output: "cls", layer: "cls", class: "Dense", activation: "sigmoid",
        units: 1, measured: {min: f32(0.02), max: f32(0.98), mean: f32(0.5),
          in_unit_interval: true, rows_sum_to_one: null,
          prediction_std: f32(0.12), top_class_share: f32(0.51)}},
      {output: "reg", layer: "reg", class: "Dense", activation: "linear",
        units: 3, measured: null},
    ],
    targets: [{output: "cls", dtype: "int64", shape: [1],
      integer_valued: true, min: 0, max: 1, mean: 0.5, std: 0.5,
      distinct: 2, one_hot: false, multi_hot: false,
      classes: {0: 30, 1: 34}}],
    probe: {samples: 44, requested: 64, inspected: ["dense", "cls"],
      not_inspected: [{layer: "block/ffn", reason: "inside a custom layer"}]},
    columns: {"layers/dead_fraction": [{name: "dense"}]},
    every_n_steps: 10,
    backend: "jax",
  });
  assert.deepEqual(rows.map((r) => r.label), ["model", "optimizer", "losses",
    "outputs", "targets", "probe", "every_n_steps", "backend"]);
  assert.equal(row(rows, "model").text, "mlp (Functional), 4 layers");
  assert.deepEqual(row(rows, "model").items, ["in", "dense", "cls", "reg"]);
  assert.equal(row(rows, "optimizer").text, "Adam, learning_rate 0.001");
  assert.equal(row(rows, "losses").text, "2 losses");
  assert.deepEqual(row(rows, "losses").items,
      ["cls: binary_crossentropy, weight 0.5", "reg: mse"]);
  assert.deepEqual(row(rows, "outputs").items, [
    "cls: cls (Dense, sigmoid, 1 unit) · measured on the probe: 0.02–0.98, " +
    "mean 0.5, spread across samples 0.12, top class 51%, within [0, 1]",
    "reg: reg (Dense, linear, 3 units)"]);
  assert.equal(row(rows, "targets").text, "cls: int64 [1] · integer, 0–1, " +
      "mean 0.5, std 0.5, 2 distinct · classes 0: 30, 1: 34");
  assert.equal(row(rows, "probe").text,
      "44 samples (of 64 asked for) · 2 layers inspected · not inspected: " +
      "1 layer");
  assert.deepEqual(row(rows, "probe").items,
      ["block/ffn: inside a custom layer"]);
  assert.equal(row(rows, "every_n_steps").text, "10");
});

test("old runs' facts: one loss, inputs, no probe", () => {
  const rows = factRows({
    loss: {name: "mse", from_logits: false},
    outputs: [{layer: "out", class: "Dense", activation: "linear", units: 1}],
    inputs: [{name: "x", samples: 64, shape: [28, 28], dtype: "uint8",
      nonfinite_fraction: 0, abs_max: 255, min: 0, max: 255,
      mean: f32(33.3), std: f32(78.6)}],
    targets: [{output: "y", dtype: "float32", shape: [], min: 0, max: 1}],
    probe_samples: 64,
  });
  assert.deepEqual(rows.map((r) => [r.label, r.text]), [
    ["loss", "mse"],
    ["outputs", "out: out (Dense, linear, 1 unit)"],
    ["targets", "y: float32 scalar · 0–1"],
    ["inputs", "x: uint8 [28, 28] · 0–255, mean 33.3, std 78.6"],
    ["probe_samples", "64"],
  ]);
});

test("junk facts are written as they are, never stop the panel", () => {
  let deep = "bottom";
  for (let i = 0; i < 800; i++) deep = {deeper: deep};
  const rows = factRows(JSON.parse(JSON.stringify({
    deep, losses: "not a list", outputs: [5, {measured: "odd"}],
    probe: {not_inspected: [7]}, model: [1, 2],
  })));
  assert.equal(row(rows, "deep").text, "deeper (deeper (deeper …))");
  assert.equal(row(rows, "losses").text, "not a list");
  assert.deepEqual(row(rows, "outputs").items, ["5", "measured odd"]);
  assert.deepEqual(row(rows, "probe").items, ["7"]);
  assert.equal(row(rows, "model").text, "1, 2");
  // Facts named like Object's methods are facts like any other.
  const named = factRows(JSON.parse('{"constructor": 1, "__proto__": {"a": 2}}'));
  assert.deepEqual(named.map((r) => [r.label, r.text]),
      [["constructor", "1"], ["__proto__", "a 2"]]);
  assert.equal(own({}, "constructor"), undefined);
  assert.deepEqual(factRows(null), []);
});
