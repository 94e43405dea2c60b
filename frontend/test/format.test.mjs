// Unit tests of format.js (node --test).
import assert from "node:assert/strict";
import test from "node:test";

import {
  compactValue, formatCount, formatNumber, formatPercent, formatSteps,
  formatValue, plural,
} from "../format.js";

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

test("recorded float32 values read as a person would write them", () => {
  // What float32 makes of 0.001, 0.1, 3e-4 and 0.9.
  assert.equal(formatValue(Math.fround(0.001)), "0.001");
  assert.equal(Math.fround(0.001), 0.0010000000474974513);
  assert.equal(formatValue(Math.fround(0.1)), "0.1");
  assert.equal(formatValue(Math.fround(3e-4)), "0.0003");
  assert.equal(formatValue(Math.fround(0.9)), "0.9");
  assert.equal(formatValue(Math.fround(1e-7)), "1e-7");
  assert.equal(formatValue(Math.fround(2.5e-5)), "2.5e-5");
  assert.equal(formatValue(123456789.5), "1.23457e+8");
  assert.equal(formatValue(3.14159265), "3.14159");
  assert.equal(formatValue(60000), "60000");
  assert.equal(formatValue(-0.5), "-0.5");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue("relu"), "relu");
  assert.equal(formatValue(true), "true");
  assert.equal(formatPercent(0.125), "12.5%");
  assert.equal(formatPercent(Math.fround(0.95)), "95%");
  assert.equal(formatCount(2000), "2,000");
  assert.equal(plural(1, "layer"), "1 layer");
  assert.equal(plural(2, "layer"), "2 layers");
});

test("compactValue writes any JSON in one short line", () => {
  assert.equal(compactValue({class: "Adam", learning_rate: Math.fround(0.001)}),
      "class Adam, learning_rate 0.001");
  assert.equal(compactValue([{a: 1}, {b: [1, 2]}]), "(a 1), (b (1, 2))");
  assert.equal(compactValue(Array.from({length: 20}, (_, i) => i)),
      "0, 1, 2, 3, 4, 5, 6, 7, … 12 more");
  assert.equal(compactValue([]), "none");
  assert.equal(compactValue(null), "–");
  // A thousand levels deep: cut after a few, no recursion to the bottom.
  let deep = "bottom";
  for (let i = 0; i < 1000; i++) deep = {deeper: deep};
  assert.equal(compactValue(deep), "deeper (deeper (deeper …))");
  assert.ok(compactValue("x".repeat(1000)).length <= 300);
  // Keys named like Object's methods are keys.
  assert.equal(compactValue(JSON.parse('{"__proto__": 1, "constructor": 2}')),
      "__proto__ 1, constructor 2");
});
