// Unit tests of alerts.js (node --test): cleaning, order, markers and
// where each alert's evidence is (on the server's own catalogue).
import assert from "node:assert/strict";
import test from "node:test";

import {
  alertCounts, alertKey, alertMarkers, cleanAlerts, evidenceTarget,
  flaggedLayers, nameOf,
} from "../alerts.js";
import {realCatalogue} from "./catalogue_fixture.mjs";

const base = {kind: "dead_relu", severity: "critical", layer: "d",
  first_step: 5, last_step: 50, message: "m", advice: "a", evidence: {}};

test("alerts of today's and of older servers read alike", () => {
  const {alerts, problems} = cleanAlerts([base]);
  assert.deepEqual(problems, []);
  assert.deepEqual(alerts[0], {...base, consequences: [], resolved_step: null,
    recovered: false});
});

test("resolved alerts come after the active ones, in order", () => {
  const list = [
    {...base, kind: "a", resolved_step: 20, recovered: true},
    {...base, kind: "b"},
    {...base, kind: "c", resolved_step: 30},
    {...base, kind: "d", resolved_step: null},
  ];
  const {alerts} = cleanAlerts(list);
  assert.deepEqual(alerts.map((a) => a.kind), ["b", "d", "a", "c"]);
  const {counts, resolved} = alertCounts(alerts);
  assert.equal(counts.get("critical"), 2);
  assert.equal(resolved, 2);
  const markers = alertMarkers(alerts);
  assert.deepEqual(markers.map((m) => [m.step, m.end, m.resolved]),
      [[5, 50, false], [5, 50, false], [5, 20, true], [5, 30, true]]);
});

test("junk in alerts is reported and the rest shown", () => {
  let deep = "x";
  for (let i = 0; i < 1000; i++) deep = {deeper: deep};
  const {alerts, problems} = cleanAlerts([
    "not an alert", null, [1, 2],
    {kind: "dead_relu", severity: "__proto__", layer: {name: deep},
      first_step: "soon", last_step: NaN, message: 5, evidence: deep,
      consequences: [{kind: "saturation", layer: 7, first_step: 3,
        message: "follows"}, "junk"]},
    {kind: 12, layer: 3, first_step: 4},
    {kind: "constructor"},
  ]);
  assert.equal(alerts.length, 3);
  const [junk, numbers, named] = alerts;
  assert.deepEqual([junk.kind, junk.severity, junk.layer, junk.first_step,
    junk.last_step, junk.message], ["dead_relu", "info", null, null, null, ""]);
  assert.deepEqual(junk.consequences, [{kind: "saturation", layer: "7",
    first_step: 3, message: "follows"}]);
  assert.deepEqual([numbers.kind, numbers.layer], ["12", "3"]);
  assert.equal(named.kind, "constructor");
  assert.deepEqual(problems.slice(0, 3), [
    "alert 1 is not an alert; not shown", "alert 2 is not an alert; not shown",
    "alert 3 is not an alert; not shown"]);
  assert.match(problems[3], /^alert 4 \(dead_relu\): unreadable .*severity, layer, first_step, last_step, message/);
  assert.match(problems[3], /consequences/);
  assert.equal(problems.length, 4);
  assert.deepEqual(cleanAlerts({length: 3}).problems,
      ["the run's alerts are not a list"]);
  assert.equal(nameOf({}), null);
  assert.equal(nameOf(0), "0");
});

test("evidenceTarget follows the catalogue, then any heatmap, then facts", () => {
  const catalogue = realCatalogue();
  const rows = {dead_fraction: ["dense_1"], grad_norm: ["dense", "dense_1"]};
  const hasRow = (signal, layer) => (rows[signal] || []).includes(layer);
  const charts = new Set(["grad_norm_global", "loss", "epoch_loss", "facts"]);
  const hasChart = (id) => charts.has(id);
  const t = (alert) => evidenceTarget({layer: null, ...alert}, catalogue,
      hasRow, hasChart);
  assert.deepEqual(t({kind: "dead_relu", layer: "dense_1"}),
      {type: "heatmap", signal: "dead_fraction", layer: "dense_1"});
  assert.deepEqual(t({kind: "vanishing_gradients", layer: "dense"}),
      {type: "heatmap", signal: "grad_norm", layer: "dense"});
  assert.deepEqual(t({kind: "exploding_gradients"}),
      {type: "chart", chart: "grad_norm_global"});
  assert.deepEqual(t({kind: "overfitting"}), {type: "chart", chart: "epoch_loss"});
  assert.deepEqual(t({kind: "stalled_loss"}), {type: "chart", chart: "loss"});
  assert.deepEqual(t({kind: "unscaled_inputs", layer: "dense"}), {type: "facts"});
  assert.deepEqual(t({kind: "non_finite", layer: "dense",
    evidence: {signal: "gradients"}}),
  {type: "heatmap", signal: "grad_norm", layer: "dense"});
  assert.deepEqual(t({kind: "non_finite", evidence: {signal: "loss"}}),
      {type: "chart", chart: "loss"});
  // A kind the catalogue does not know: its layer's heatmap, else facts.
  assert.deepEqual(t({kind: "some_future_kind", layer: "dense"}),
      {type: "heatmap", signal: "grad_norm", layer: "dense"});
  assert.deepEqual(t({kind: "collapsed_predictions", layer: "dense"}),
      {type: "chart", chart: "loss"});
  assert.deepEqual(t({kind: "constructor"}), {type: "facts"});
  // Saturation of a layer no heatmap shows falls back to the facts.
  assert.deepEqual(t({kind: "saturation", layer: "gate"}), {type: "facts"});
  assert.equal(evidenceTarget({kind: "stalled_loss", layer: null}, catalogue,
      hasRow, () => false), null);
});

test("alertKey and flaggedLayers", () => {
  const {alerts} = cleanAlerts([base, {...base, kind: "unscaled_inputs",
    layer: "x", first_step: null}]);
  assert.equal(alertKey(alerts[0]), "dead_relu|d|5");
  assert.notEqual(alertKey(alerts[0]), alertKey(alerts[1]));
  assert.equal(alertMarkers(alerts).length, 1);
  assert.deepEqual(alertMarkers(alerts)[0].label, "dead_relu (d)");
  assert.deepEqual([...flaggedLayers(alerts)], ["d", "x"]);
});
