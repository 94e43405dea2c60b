// Unit tests of urlstate.js (node --test).
import assert from "node:assert/strict";
import test from "node:test";

import {
  paramsFromState, parseHash, readParams, stateFromParams, writeParams,
} from "../urlstate.js";

test("parseHash splits TensorBoard's hash", () => {
  assert.deepEqual(parseHash("#trainhealth&a=b%20c"), [
    {raw: "trainhealth", key: null, value: null},
    {raw: "a=b%20c", key: "a", value: "b c"},
  ]);
  assert.deepEqual(parseHash(""), []);
  assert.deepEqual(parseHash("#"), []);
});

test("readParams takes only the plugin's keys", () => {
  const hash = "#trainhealth&runFilter=x&p.trainhealth.run=a%26b" +
      "&p.other.run=z&p.trainhealth.zoom=10%2C20";
  assert.deepEqual(readParams(hash),
      new Map([["run", "a&b"], ["zoom", "10,20"]]));
  // A key from a link named like an Object method is only a key.
  assert.deepEqual(readParams("#p.trainhealth.__proto__=x&p.trainhealth.constructor=y"),
      new Map([["__proto__", "x"], ["constructor", "y"]]));
});

test("writeParams keeps TensorBoard's keys byte for byte", () => {
  const hash = "#trainhealth&runFilter=a%2Fb&p.trainhealth.run=old&smoothing=0.6";
  const out = writeParams(hash, {run: "new run", zoom: "1,2"});
  assert.equal(out, "#trainhealth&runFilter=a%2Fb&smoothing=0.6" +
      "&p.trainhealth.run=new%20run&p.trainhealth.zoom=1%2C2");
  assert.deepEqual(readParams(out),
      new Map([["run", "new run"], ["zoom", "1,2"]]));
  // Dropping our keys leaves the rest untouched.
  assert.equal(writeParams(out, {}), "#trainhealth&runFilter=a%2Fb&smoothing=0.6");
  assert.equal(writeParams("", {run: "a"}), "#p.trainhealth.run=a");
  assert.equal(writeParams("#scalars", {run: "", zoom: null}), "#scalars");
});

test("state round-trips through params and the hash", () => {
  const state = {run: "<b>&run", runs: ["a", "b,c"], signal: "gap",
    zoom: [10, 200], filter: "dense_\\d+", collapse: false,
    search: "exp/1 & <b>"};
  const hash = writeParams("#trainhealth&x=1", paramsFromState(state));
  assert.deepEqual(stateFromParams(readParams(hash)), state);
});

const params = (object) => new Map(Object.entries(object));

test("malformed params read as defaults", () => {
  const state = stateFromParams(params({runs: "[1,2", signal: "",
    zoom: "20,10", collapse: "maybe", run: ""}));
  assert.deepEqual(state, {run: null, runs: null, signal: null, zoom: null,
    filter: "", collapse: null, search: ""});
  assert.deepEqual(stateFromParams(params({zoom: "abc"})).zoom, null);
  assert.deepEqual(stateFromParams(params({runs: "{\"a\":1}"})).runs, null);
  assert.deepEqual(stateFromParams(params({runs: "[]"})).runs, []);
  // The signal is checked against the catalogue where it is known.
  assert.equal(stateFromParams(params({signal: "bogus"})).signal, "bogus");
  assert.deepEqual(stateFromParams(new Map()), {run: null, runs: null,
    signal: null, zoom: null, filter: "", collapse: null, search: ""});
});

test("paramsFromState leaves defaults out and rounds the zoom outwards", () => {
  assert.deepEqual(paramsFromState({run: null, runs: null, signal: null,
    zoom: null, filter: "", collapse: null, search: ""}), {});
  assert.deepEqual(paramsFromState({zoom: [10.7, 19.2]}), {zoom: "10,20"});
});
