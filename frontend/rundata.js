// The data of the run the detail view shows: its whole-run read (the run
// and each of its heatmaps, at the screen's resolution) and, while zoomed
// into a run with more records than the screen shows, the zoomed range at
// full resolution. No DOM; the fetches are passed in, so node's test
// runner drives it.

import {fetchHeatmap, fetchRun} from "./model.js";

function sameRange(a, b) {
  return (!a && !b) || Boolean(a && b && a[0] === b[0] && a[1] === b[1]);
}

/**
 * One run's data. signals: the catalogue's heatmap signals. fetchers:
 * {fetchRun(run, options), fetchHeatmap(run, signal, options)}.
 */
export class RunData {
  constructor(run, signals, fetchers = {fetchRun, fetchHeatmap}) {
    this.run = run;
    this.signals = signals;
    this.fetchers = fetchers;
    this.full = null;  // {run, heatmaps, signature}
    this.zoomed = null;  // {range, run, heatmaps}
  }

  /** The run and its heatmaps (Map signal -> heatmap or {error}); a
   *  heatmap that cannot be had is an error in its place, a run that
   *  is gone (404) throws. */
  async fetchView(options) {
    const [run, ...maps] = await Promise.all([
      this.fetchers.fetchRun(this.run, options),
      ...this.signals.map((signal) =>
        this.fetchers.fetchHeatmap(this.run, signal, options).catch((e) => {
          if (e.status === 404 && !e.message.includes("signal")) throw e;
          return {error: e.message, signature: e.message};
        })),
    ]);
    return {run, heatmaps: new Map(this.signals.map((s, i) => [s, maps[i]]))};
  }

  /** Reads the whole run again. Returns whether its data changed. */
  async load(maxSteps) {
    const view = await this.fetchView({maxSteps});
    const signature = [view.run.signature,
      ...this.signals.map((s) => view.heatmaps.get(s).signature)].join("|");
    const changed = !this.full || this.full.signature !== signature;
    this.full = {...view, signature};
    if (changed) this.zoomed = null;
    return changed;
  }

  /** Whether the server is still reading newer data than it answered. */
  get stale() {
    if (!this.full) return false;
    return this.full.run.stale ||
        [...this.full.heatmaps.values()].some((h) => h.stale);
  }

  /** Whether `zoom` needs its own read: the whole run was averaged to the
   *  screen, and that range is not read yet. */
  needsZoom(zoom) {
    if (!zoom || !this.full) return false;
    if (this.zoomed && sameRange(this.zoomed.range, zoom)) return false;
    return this.full.run.downsampled ||
        [...this.full.heatmaps.values()].some((h) => h.downsampled);
  }

  /** Reads `zoom` at full resolution. Returns whether it was kept: not
   *  when the whole run was read again meanwhile (the zoom is then read
   *  again for the new data). */
  async loadZoom(zoom, maxSteps) {
    const full = this.full;
    const view = await this.fetchView({maxSteps, range: zoom});
    if (full !== this.full) return false;
    this.zoomed = {range: zoom, ...view};
    return true;
  }

  dropZoom() {
    const had = Boolean(this.zoomed);
    this.zoomed = null;
    return had;
  }

  /** The best data there is for `zoom`: {run, heatmaps} or null. */
  best(zoom) {
    if (this.zoomed && sameRange(this.zoomed.range, zoom)) return this.zoomed;
    return this.full;
  }
}
