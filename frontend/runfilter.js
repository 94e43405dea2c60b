// The run picker's logic for logdirs of thousands of runs: the search
// (a case-insensitive substring of the run's name, as the /runs route's
// `search` parameter matches), the bounded page of matches the list shows,
// its count line, and the comparison of two run lists. Pure: no DOM, no
// fetch; node's test runner imports it.

import {formatCount, plural} from "./format.js";

/** How many matching runs the list shows at first, and adds per "more". */
export const PAGE_SIZE = 100;

/** The status /runs gives a run it has not diagnosed yet. */
export const PENDING = "pending";

/** The search as matched: trimmed, lower case ("" matches every run). */
export function normalizeQuery(text) {
  return String(text ?? "").trim().toLowerCase();
}

/** The entries ({run, ...}) whose name contains the search, in order. */
export function filterRuns(runs, query) {
  const needle = normalizeQuery(query);
  const all = Array.isArray(runs) ? runs : [];
  if (!needle) return all;
  return all.filter((entry) => String(entry.run).toLowerCase().includes(needle));
}

/** How many of `matched` matches to show when `shown` were asked for:
 *  at least one page, never more than there are. */
export function shownCount(shown, matched) {
  const asked = Number.isFinite(shown) && shown > 0 ? Math.floor(shown) : PAGE_SIZE;
  return Math.max(0, Math.min(matched, Math.max(PAGE_SIZE, asked)));
}

/** What the list shows: {shown: entries, matched: count, more: how many
 *  the "show more" control would add (0: none left)}. */
export function runPage(runs, query, shown) {
  const matches = filterRuns(runs, query);
  const count = shownCount(shown, matches.length);
  return {
    shown: matches.slice(0, count),
    matched: matches.length,
    more: Math.min(PAGE_SIZE, matches.length - count),
  };
}

/**
 * The count line above the list, e.g. "Showing 100 of 2,000 runs" or
 * "Showing 12 of 12 runs matching “g03” (2,000 in all)".
 */
export function countText(shown, matched, total, query) {
  const q = String(query ?? "").trim();
  if (!q) {
    return shown === total ? plural(total, "run") :
      `Showing ${formatCount(shown)} of ${plural(total, "run")}`;
  }
  if (!matched) return `No run matches “${q}” (${formatCount(total)} in all)`;
  return `Showing ${formatCount(shown)} of ${plural(matched, "run")} ` +
      `matching “${q}” (${formatCount(total)} in all)`;
}

/** Whether any of the entries is still waiting for its diagnosis. */
export function hasPending(entries) {
  return (entries || []).some((entry) => entry.status === PENDING);
}

/**
 * Whether the runs' data changed between two listings: runs came or went,
 * or a run diagnosed before has another status or alert count now (or is
 * pending again: its data changed). A pending run getting its diagnosis
 * is not a change of its data.
 */
export function runsChanged(before, after) {
  const old = new Map((before || []).map((entry) => [entry.run, entry]));
  if (old.size !== (after || []).length) return true;
  for (const entry of after) {
    const was = old.get(entry.run);
    if (!was) return true;
    if (was.status === PENDING) continue;
    // Known, then pending again: the run's data changed since.
    if (was.status !== entry.status || was.alert_count !== entry.alert_count) {
      return true;
    }
  }
  return false;
}

/**
 * The runs of the latest listing, in its order (the order of their
 * colours): their entries, each run's place, the listing's signature and
 * problems, and whether the last update changed the runs' data.
 */
export class RunIndex {
  constructor() {
    this.entries = [];
    this.positions = new Map();  // run -> its place in entries
    this.signature = null;
    this.problems = [];
    this.changed = false;
  }

  get size() {
    return this.entries.length;
  }

  /** Takes a decoded /runs listing; returns whether it differs from the
   *  one before (`changed` then says whether the runs' data did). */
  update(listing) {
    if (listing.signature === this.signature) return false;
    this.changed = this.signature !== null &&
        runsChanged(this.entries, listing.runs);
    this.signature = listing.signature;
    this.entries = listing.runs;
    this.positions = new Map(this.entries.map((r, i) => [r.run, i]));
    this.problems = listing.problems;
    return true;
  }

  has(run) {
    return this.positions.has(run);
  }

  /** The run's place in the list (0 for one not listed). */
  index(run) {
    return this.positions.get(run) ?? 0;
  }

  names() {
    return this.entries.map((r) => r.run);
  }

  /** Whether `entries` list exactly the runs known (in any order). */
  sameRuns(entries) {
    return entries.length === this.positions.size &&
        entries.every((r) => this.positions.has(r.run));
  }
}
