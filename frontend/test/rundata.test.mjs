// Unit tests of rundata.js (node --test), with fetches that answer what
// the test says: the whole run, a zoomed range, what changed, and stale
// zoomed answers.
import assert from "node:assert/strict";
import test from "node:test";

import {RunData} from "../rundata.js";
import {FetchError} from "../model.js";

function fetchers(state) {
  const asked = [];
  return {
    asked,
    fetchRun: async (run, options) => {
      asked.push(["run", options]);
      if (options.range) await state.zoomGate;
      return {signature: `r${state.version}`, stale: state.stale,
        downsampled: state.downsampled, range: options.range || null};
    },
    fetchHeatmap: async (run, signal, options) => {
      asked.push([signal, options]);
      if (signal === "missing") throw new FetchError("404: no such signal", 404);
      if (state.gone) throw new FetchError("404: no such run", 404);
      return {signature: `${signal}${state.version}`, downsampled: false,
        stale: false};
    },
  };
}

test("the whole run: changed only when a signature changed", async () => {
  const state = {version: 1, stale: false, downsampled: false};
  const f = fetchers(state);
  const data = new RunData("r", ["dead_fraction", "missing"], f);
  assert.equal(await data.load(800), true);
  assert.equal(await data.load(800), false);
  assert.deepEqual(data.full.heatmaps.get("missing").error,
      "404: no such signal");
  state.version = 2;
  assert.equal(await data.load(800), true);
  assert.equal(data.stale, false);
  state.stale = true;
  await data.load(800);
  assert.equal(data.stale, true);
  state.gone = true;
  await assert.rejects(data.load(800), /no such run/);
});

test("zoomed reads: only for downsampled runs, dropped when stale", async () => {
  const state = {version: 1, stale: false, downsampled: false};
  const f = fetchers(state);
  const data = new RunData("r", ["dead_fraction"], f);
  await data.load(800);
  assert.equal(data.needsZoom([10, 20]), false);  // every record is shown
  state.downsampled = true;
  state.version = 2;
  await data.load(800);
  assert.equal(data.needsZoom(null), false);
  assert.equal(data.needsZoom([10, 20]), true);
  assert.equal(await data.loadZoom([10, 20], 800), true);
  assert.equal(data.needsZoom([10, 20]), false);
  assert.deepEqual(data.best([10, 20]).run.range, [10, 20]);
  assert.equal(data.best([10, 21]), data.full);
  assert.deepEqual(f.asked.at(-1), ["dead_fraction",
    {maxSteps: 800, range: [10, 20]}]);

  // The whole run is read again while a zoomed read is under way: the
  // zoomed answer is of the old data, and not kept.
  let open;
  state.zoomGate = new Promise((resolve) => {
    open = resolve;
  });
  const zoomed = data.loadZoom([30, 40], 800);
  state.version = 3;
  assert.equal(await data.load(800), true);
  open();
  assert.equal(await zoomed, false);
  assert.equal(data.zoomed, null);
  assert.equal(data.dropZoom(), false);
});
