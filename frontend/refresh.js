// When the tab asks the server again, and which answers still count.
//
// The tab refreshes everything it shows every 5 s while a run's data keeps
// changing (for 2 minutes after the last change), every 30 s otherwise,
// and soon after an answer the server marked stale (it is reading newer
// data) or while a run in the list waits for its diagnosis; a hidden page
// waits until it is shown again.
//
// One staleness token says which answers still count. It changes when the
// tab starts a refresh or shows another run: an answer is applied only
// while the token it was asked under is current. Requests that must not
// cancel others (the run list's statuses, a comparison's new runs, a
// zoomed range) are asked under the current token; a zoomed range is
// also checked against the zoom shown when it arrives.
//
// Time comes from an injectable clock, so the decisions are tested
// without waiting.

export const POLL_LIVE_MS = 5000;  // while a run's data keeps changing
export const POLL_IDLE_MS = 30000;
export const LIVE_FOR_MS = 120000;  // "live" this long after the last change
// Asked again this soon while the server reads newer data, or while a
// run the list shows waits for its diagnosis (the server diagnoses for a
// bounded time per request).
export const POLL_SOON_MS = 1000;

const BROWSER_CLOCK = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  hidden: () => document.visibilityState === "hidden",
};

/**
 * handlers: {refresh() (everything), pollRuns() (only the run list)};
 * clock: {now(), setTimeout(fn, ms), clearTimeout(id), hidden()}.
 */
export class Refresher {
  constructor(handlers, clock = BROWSER_CLOCK) {
    this.handlers = handlers;
    this.clock = clock;
    this.current = 0;
    this.lastChange = -Infinity;
    this.pollTimer = null;
    this.runsTimer = null;
  }

  /** A new token: answers asked for under older ones no longer count. */
  next() {
    this.current += 1;
    return this.current;
  }

  /** The current token (a request that must not invalidate others). */
  token() {
    return this.current;
  }

  isCurrent(token) {
    return token === this.current;
  }

  /** The data shown changed now: refresh often for a while. */
  noteChange() {
    this.lastChange = this.clock.now();
  }

  get live() {
    return this.clock.now() - this.lastChange < LIVE_FOR_MS;
  }

  /** How long until the next refresh: `soon` when the server said its
   *  answer was stale. */
  delay(soon) {
    if (soon) return POLL_SOON_MS;
    return this.live ? POLL_LIVE_MS : POLL_IDLE_MS;
  }

  /** (Re)arms the next refresh: after `delay` ms, or the usual wait. A
   *  hidden page does not refresh; it waits another round. */
  schedule(delay) {
    this.clock.clearTimeout(this.pollTimer);
    this.pollTimer = this.clock.setTimeout(() => {
      this.pollTimer = null;
      if (this.clock.hidden()) this.schedule();
      else this.handlers.refresh();
    }, delay ?? this.delay(false));
  }

  /** Asks for the run list again soon while `pending` (a run the list
   *  shows waits for its diagnosis); otherwise cancels that. */
  schedulePending(pending) {
    this.clock.clearTimeout(this.runsTimer);
    this.runsTimer = null;
    if (!pending) return;
    this.runsTimer = this.clock.setTimeout(() => {
      this.runsTimer = null;
      // A hidden page waits: becoming visible refreshes everything.
      if (!this.clock.hidden()) this.handlers.pollRuns();
    }, POLL_SOON_MS);
  }

  /** The header's line after a refresh. */
  statusText(date) {
    return `Updated ${date.toLocaleTimeString()}` +
        (this.live ? " · live, refreshing every 5 s" : "");
  }
}
