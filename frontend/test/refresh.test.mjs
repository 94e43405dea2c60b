// Unit tests of refresh.js (node --test): when the tab asks again, on a
// clock the test moves by hand, and the one staleness token.
import assert from "node:assert/strict";
import test from "node:test";

import {
  LIVE_FOR_MS, POLL_IDLE_MS, POLL_LIVE_MS, POLL_SOON_MS, Refresher,
} from "../refresh.js";

/** A clock whose time moves only when told; timers fire in order. */
function fakeClock() {
  const clock = {
    time: 1e6, timers: new Map(), nextId: 1, hiddenPage: false,
    now: () => clock.time,
    setTimeout(fn, ms) {
      const id = clock.nextId++;
      clock.timers.set(id, {fn, at: clock.time + ms});
      return id;
    },
    clearTimeout(id) {
      clock.timers.delete(id);
    },
    hidden: () => clock.hiddenPage,
    /** Moves time on by `ms`, firing the timers due. */
    advance(ms) {
      const end = clock.time + ms;
      for (;;) {
        const due = [...clock.timers].filter(([, t]) => t.at <= end)
            .sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        clock.timers.delete(due[0]);
        clock.time = due[1].at;
        due[1].fn();
      }
      clock.time = end;
    },
    waits: () => [...clock.timers.values()].map((t) => t.at - clock.time),
  };
  return clock;
}

function refresher() {
  const clock = fakeClock();
  const calls = [];
  const r = new Refresher({refresh: () => calls.push("refresh"),
    pollRuns: () => calls.push("runs")}, clock);
  return {clock, calls, r};
}

test("live every 5 s after a change, then every 30 s", () => {
  const {clock, calls, r} = refresher();
  r.schedule();
  assert.deepEqual(clock.waits(), [POLL_IDLE_MS]);
  r.noteChange();
  r.schedule();
  assert.deepEqual(clock.waits(), [POLL_LIVE_MS]);  // re-armed, not added
  clock.advance(POLL_LIVE_MS);
  assert.deepEqual(calls, ["refresh"]);
  assert.ok(r.live);
  assert.match(r.statusText(new Date(0)), /live, refreshing every 5 s$/);
  clock.advance(LIVE_FOR_MS);
  assert.ok(!r.live);
  assert.equal(r.delay(false), POLL_IDLE_MS);
  assert.equal(r.delay(true), POLL_SOON_MS);
  assert.doesNotMatch(r.statusText(new Date(0)), /live/);
});

test("a hidden page waits; the run list is polled only while pending", () => {
  const {clock, calls, r} = refresher();
  clock.hiddenPage = true;
  r.schedule(0);
  clock.advance(POLL_IDLE_MS * 3);
  assert.deepEqual(calls, []);
  assert.equal(clock.timers.size, 1);  // still waiting, one timer
  clock.hiddenPage = false;
  clock.advance(POLL_IDLE_MS);
  assert.deepEqual(calls, ["refresh"]);

  r.schedulePending(true);
  r.schedulePending(true);
  clock.advance(POLL_SOON_MS);
  assert.deepEqual(calls, ["refresh", "runs"]);
  r.schedulePending(true);
  r.schedulePending(false);
  clock.advance(POLL_SOON_MS);
  assert.deepEqual(calls, ["refresh", "runs"]);
});

test("one token: an answer counts while no newer refresh began", () => {
  const {r} = refresher();
  const first = r.next();
  assert.ok(r.isCurrent(first));
  const listing = r.token();  // asked without cancelling anything
  assert.ok(r.isCurrent(listing));
  const second = r.next();
  assert.ok(!r.isCurrent(first) && !r.isCurrent(listing));
  assert.ok(r.isCurrent(second));
});
