// Unit tests of runfilter.js (node --test).
import assert from "node:assert/strict";
import test from "node:test";

import {
  PAGE_SIZE, RunIndex, countText, filterRuns, hasPending, normalizeQuery,
  runPage, runsChanged, shownCount,
} from "../runfilter.js";

function runs(n, prefix = "g") {
  return Array.from({length: n}, (_, i) =>
    ({run: `${prefix}${String(i).padStart(4, "0")}`, status: "ok",
      alert_count: 0}));
}

test("filterRuns matches a case-insensitive substring, keeping order", () => {
  const list = [{run: "exp_A/trial_1"}, {run: "exp_b/Trial_2"},
    {run: "other"}, {run: "<img src=x>"}];
  assert.deepEqual(filterRuns(list, "TRIAL").map((e) => e.run),
      ["exp_A/trial_1", "exp_b/Trial_2"]);
  assert.deepEqual(filterRuns(list, "  exp_a ").map((e) => e.run),
      ["exp_A/trial_1"]);
  assert.equal(filterRuns(list, "").length, 4);
  assert.equal(filterRuns(list, null).length, 4);
  assert.deepEqual(filterRuns(list, "<img").map((e) => e.run), ["<img src=x>"]);
  // Not a regular expression: "." is a dot.
  assert.deepEqual(filterRuns(list, ".").map((e) => e.run), []);
  assert.deepEqual(filterRuns(undefined, "a"), []);
  assert.equal(normalizeQuery("  Ab C "), "ab c");
});

test("runPage shows a bounded page and says how many more there are", () => {
  const all = runs(2000);
  const first = runPage(all, "", PAGE_SIZE);
  assert.equal(first.shown.length, PAGE_SIZE);
  assert.equal(first.shown[0].run, "g0000");
  assert.equal(first.matched, 2000);
  assert.equal(first.more, PAGE_SIZE);
  const later = runPage(all, "", 1950);
  assert.equal(later.shown.length, 1950);
  assert.equal(later.more, 50);
  assert.equal(runPage(all, "", 5000).more, 0);
  const few = runPage(all, "g000", PAGE_SIZE);  // g0000..g0009
  assert.equal(few.matched, 10);
  assert.equal(few.shown.length, 10);
  assert.equal(few.more, 0);
  assert.deepEqual(runPage([], "x", 100), {shown: [], matched: 0, more: 0});
});

test("shownCount is at least a page and at most the matches", () => {
  assert.equal(shownCount(0, 500), PAGE_SIZE);
  assert.equal(shownCount(NaN, 500), PAGE_SIZE);
  assert.equal(shownCount(250, 500), 250);
  assert.equal(shownCount(250, 40), 40);
  assert.equal(shownCount(250.7, 1000), 250);
});

test("countText says what the list shows", () => {
  assert.equal(countText(100, 2000, 2000, ""), "Showing 100 of 2,000 runs");
  assert.equal(countText(6, 6, 6, ""), "6 runs");
  assert.equal(countText(1, 1, 1, ""), "1 run");
  assert.equal(countText(12, 12, 2000, " g03 "),
      "Showing 12 of 12 runs matching “g03” (2,000 in all)");
  assert.equal(countText(100, 1200, 2000, "trial"),
      "Showing 100 of 1,200 runs matching “trial” (2,000 in all)");
  assert.equal(countText(0, 0, 2000, "zzz"),
      "No run matches “zzz” (2,000 in all)");
});

test("hasPending looks for runs not diagnosed yet", () => {
  assert.equal(hasPending([{status: "ok"}, {status: "pending"}]), true);
  assert.equal(hasPending([{status: "ok"}, {status: "unknown"}]), false);
  assert.equal(hasPending([]), false);
  assert.equal(hasPending(undefined), false);
});

test("runsChanged ignores diagnoses arriving, not changes of data", () => {
  const before = [{run: "a", status: "pending", alert_count: 0},
    {run: "b", status: "ok", alert_count: 0}];
  const diagnosed = [{run: "a", status: "critical", alert_count: 2},
    {run: "b", status: "ok", alert_count: 0}];
  assert.equal(runsChanged(before, diagnosed), false);
  assert.equal(runsChanged(diagnosed, diagnosed.map((e) => ({...e}))), false);
  // A known run's verdict changed, or it waits for a new diagnosis.
  assert.equal(runsChanged(diagnosed, [diagnosed[0],
    {run: "b", status: "warning", alert_count: 1}]), true);
  assert.equal(runsChanged(diagnosed, [diagnosed[0],
    {run: "b", status: "pending", alert_count: 0}]), true);
  // Runs came or went.
  assert.equal(runsChanged(diagnosed, diagnosed.slice(0, 1)), true);
  assert.equal(runsChanged(diagnosed, [diagnosed[0],
    {run: "c", status: "ok", alert_count: 0}]), true);
  assert.equal(runsChanged(null, []), false);
});

test("RunIndex keeps the latest listing and says what changed", () => {
  const index = new RunIndex();
  assert.equal(index.size, 0);
  assert.equal(index.index("a"), 0);
  const first = [{run: "a", status: "pending", alert_count: 0},
    {run: "constructor", status: "ok", alert_count: 0}];
  assert.equal(index.update({signature: "1", runs: first, problems: []}), true);
  assert.equal(index.changed, false);  // the first listing changes nothing
  assert.deepEqual(index.names(), ["a", "constructor"]);
  assert.equal(index.index("constructor"), 1);
  assert.equal(index.has("toString"), false);
  assert.equal(index.update({signature: "1", runs: first, problems: []}), false);
  const diagnosed = [{run: "a", status: "ok", alert_count: 0}, first[1]];
  assert.equal(index.update({signature: "2", runs: diagnosed, problems: []}),
      true);
  assert.equal(index.changed, false);  // a diagnosis arrived: no new data
  const grown = [...diagnosed, {run: "b", status: "ok", alert_count: 0}];
  index.update({signature: "3", runs: grown, problems: ["p"]});
  assert.equal(index.changed, true);
  assert.deepEqual(index.problems, ["p"]);
  assert.ok(index.sameRuns([grown[2], grown[0], grown[1]]));
  assert.ok(!index.sameRuns(grown.slice(1)));
});
