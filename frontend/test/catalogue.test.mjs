// Unit tests of catalogue.js (node --test), on the server's own catalogue
// and on malformed ones.
import assert from "node:assert/strict";
import test from "node:test";

import {compareEntry, decodeCatalogue} from "../catalogue.js";
import {catalogueBody, realCatalogue} from "./catalogue_fixture.mjs";

test("the server's catalogue decodes entry for entry", () => {
  const body = catalogueBody();
  const catalogue = realCatalogue();
  assert.deepEqual(catalogue.heatmaps.map((h) => h.key),
      body.heatmaps.map((h) => h.signal));
  assert.deepEqual(catalogue.stepCharts.map((c) => c.key),
      body.step_charts.map((c) => c.key));
  assert.deepEqual(catalogue.compare.map((c) => c.key),
      body.compare.map((c) => c.key));
  assert.deepEqual([...catalogue.evidence.keys()], Object.keys(body.evidence));
  const first = body.heatmaps[0];
  assert.equal(catalogue.heatmaps[0].valueLabel, first.value_label);
  assert.equal(catalogue.heatmaps[0].missing, first.missing);
  assert.equal(catalogue.stepCharts[0].logY, body.step_charts[0].log_y);
  // Linear heatmaps keep their fixed colour domain, log ones take the data's.
  for (const [h, raw] of catalogue.heatmaps.map((h, i) => [h, body.heatmaps[i]])) {
    assert.deepEqual(h.domain, raw.domain ?? null);
  }
});

test("malformed catalogues give what can be read", () => {
  const empty = decodeCatalogue(null);
  assert.deepEqual([empty.heatmaps, empty.stepCharts, empty.compare],
      [[], [], []]);
  assert.equal(empty.evidence.size, 0);
  const odd = decodeCatalogue({
    heatmaps: [null, 3, {title: "no signal"}, {signal: "x", domain: [0]}],
    step_charts: "no list",
    compare: [{key: "gap", source: "gaps", axis: "epoch"},
      {key: "loss", source: "bogus", axis: 7}],
    evidence: {constructor: {heatmap: "x", chart: 5}, bad: "place"},
  });
  assert.deepEqual(odd.heatmaps.map((h) => [h.key, h.domain, h.title]),
      [["x", null, "x"]]);
  assert.deepEqual(odd.stepCharts, []);
  assert.deepEqual(odd.compare.map((c) => [c.source, c.axis]),
      [["gaps", "epoch"], ["step_series", "step"]]);
  // A kind named like an Object method is just a kind.
  assert.deepEqual(odd.evidence.get("constructor"), {heatmap: "x", chart: null});
  assert.equal(odd.evidence.has("bad"), false);
  assert.equal(compareEntry(odd, "loss").key, "loss");
  assert.equal(compareEntry(odd, "unknown").key, "gap");
  assert.equal(compareEntry(empty, "loss"), null);
});
