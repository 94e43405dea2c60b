// The Train Health tab itself: the page state, the refresh logic, the URL
// state and the theme. index.js (the entry TensorBoard loads) starts it;
// model.js fetches, views.js / dashboard.js build the DOM, charts.js and
// heatmap.js draw.

import * as model from "./model.js";
import * as views from "./views.js";
import * as urlstate from "./urlstate.js";
import {CompareView, DetailView, HEATMAPS, plotWidth} from "./dashboard.js";
import {alertKey} from "./chartdata.js";
import {runStyle, themeColors} from "./colors.js";
import {
  PAGE_SIZE, countText, hasPending, normalizeQuery, runPage, runsChanged,
} from "./runfilter.js";

const POLL_LIVE_MS = 5000;  // while a run's data keeps changing
const POLL_IDLE_MS = 30000;
const LIVE_FOR_MS = 120000;  // "live" this long after the last change
const COMPARE_DEFAULT = 8;  // runs ticked for comparison by default
const ZOOM_FETCH_MS = 200;
// While a run shown in the list waits for its diagnosis, the list is asked
// for again this long after each answer (the server diagnoses for a
// bounded time per request).
const POLL_PENDING_MS = 1000;
const MAX_RUNS_LIMIT = 10000;  // the /runs route's largest page

/**
 * Hooks into TensorBoard's reload. The host page's plugin library talks to
 * iframed plugins over a MessageChannel: the plugin posts the string
 * "experimental.bootstrap" with one port to its parent window, and the host
 * then sends JSON messages {type, id, payload, isReply} on that port,
 * among them "experimental.DataReloaded" after each reload (the reload
 * button or the auto-reload timer). Each message expects a reply.
 * Returns the channel: the caller must keep it, or the browser may collect
 * the port and the messages stop.
 */
function listenForReloads(onReload) {
  if (window.parent === window) return null;
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (!msg || msg.isReply) return;
    if (msg.type === "experimental.DataReloaded") onReload();
    channel.port1.postMessage(JSON.stringify({
      type: msg.type, id: msg.id, payload: null, error: null, isReply: true,
    }));
  };
  window.parent.postMessage("experimental.bootstrap", window.location.origin,
      [channel.port2]);
  return channel;
}

/**
 * The window whose URL hash holds the view state: TensorBoard's page when
 * the tab runs in its (same-origin) iframe, else this page. TensorBoard
 * hands plugins their "p.<plugin>." keys over its plugin channel
 * (experimental.GetURLPluginData) but has no message to change them, so
 * the tab reads and rewrites the parent's hash directly, with
 * history.replaceState (no history entry per zoom) and keeping every key
 * it does not own (see urlstate.js).
 */
function hashWindow() {
  try {
    if (window.parent !== window && window.parent.location.href) {
      return window.parent;
    }
  } catch (e) {
    // a cross-origin parent: keep the state in our own URL
  }
  return window;
}

/**
 * Follows TensorBoard's dark mode (it toggles `dark-mode` on its body,
 * from its settings or the system's preference), or the system's
 * preference when the tab runs on its own. Calls onChange(dark).
 */
function watchTheme(onChange) {
  let body = null;
  try {
    const doc = window.parent !== window ? window.parent.document : null;
    if (doc && doc.querySelector("tb-webapp")) body = doc.body;
  } catch (e) {
    body = null;
  }
  const media = window.matchMedia ?
    window.matchMedia("(prefers-color-scheme: dark)") : null;
  const current = () => (body ? body.classList.contains("dark-mode") :
    Boolean(media && media.matches));
  if (body) {
    new MutationObserver(() => onChange(current()))
        .observe(body, {attributes: true, attributeFilter: ["class"]});
  } else if (media && media.addEventListener) {
    media.addEventListener("change", () => onChange(current()));
  }
  return current();
}

function sameRange(a, b) {
  return (!a && !b) || (a && b && a[0] === b[0] && a[1] === b[1]);
}

class App {
  constructor(root) {
    this.root = root;
    this.state = urlstate.stateFromParams(
        urlstate.readParams(hashWindow().location.hash));
    this.theme = themeColors(false);
    this.tooltip = views.createTooltip();
    this.expanded = new Set();
    this.selection = {key: null, layer: null};
    this.runs = null;
    this.runPositions = new Map();  // run -> its place in this.runs
    this.runsProblems = [];
    this.runsSignature = null;
    this.runsToken = 0;  // the latest /runs listing asked for
    this.runShown = PAGE_SIZE;  // how many matching runs the list shows
    this.picker = null;
    this.pendingTimer = null;
    this.error = null;
    this.detail = null;
    this.compare = null;
    this.full = null;  // {run, heatmaps, signature} of the whole run
    this.zoomed = null;  // {range, run, heatmaps} at full resolution
    this.inflight = new Map();  // request key -> promise
    this.generation = 0;
    this.zoomGeneration = 0;
    this.lastChange = 0;
    this.pollTimer = null;
    this.staleDetail = false;
    this.zoomTimer = null;
    this.rendered = false;
    this.channel = null;
  }

  start() {
    this.setDark(watchTheme((dark) => this.setDark(dark)));
    this.header = views.header();
    this.banner = views.el("div", "th-banner");
    this.sidebar = views.el("aside", "th-sidebar");
    this.main = views.el("main", "th-main");
    this.main.appendChild(views.message("Loading runs…", "th-loading"));
    this.root.replaceChildren(this.header, this.banner,
        views.el("div", "th-layout", null, [this.sidebar, this.main]),
        this.tooltip.element);
    this.channel = listenForReloads(() => this.refresh());
    let resizeTimer = null;
    new ResizeObserver(() => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => this.resize(), 150);
    }).observe(this.main);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.schedule(0);
    });
    this.refresh();
  }

  // ------------------------------------------------------------ state

  width() {
    return Math.max(360, Math.min(1600, this.main.clientWidth || 900));
  }

  maxSteps() {
    return Math.max(100, Math.min(4000, Math.round(plotWidth(this.width()))));
  }

  runIndex(run) {
    return this.runPositions.get(run) ?? 0;
  }

  runColor(run) {
    return runStyle(this.runIndex(run)).color;
  }

  compared() {
    const chosen = this.state.runs === null ?
      (this.runs || []).slice(0, COMPARE_DEFAULT).map((r) => r.run) :
      this.state.runs;
    return new Set(chosen.filter((r) => this.runPositions.has(r)));
  }

  /** The entries the run list shows: the first matches of the search. */
  visibleRuns() {
    return runPage(this.runs || [], this.state.search, this.runShown).shown;
  }

  writeUrl() {
    const host = hashWindow();
    const zoom = this.detail ? this.detail.group.zoom : this.state.zoom;
    const params = urlstate.paramsFromState({...this.state, zoom});
    const hash = urlstate.writeParams(host.location.hash, params);
    if (hash.replace(/^#/, "") === host.location.hash.replace(/^#/, "")) return;
    try {
      const url = new URL(host.location.href);
      url.hash = hash;
      host.history.replaceState(host.history.state, "", url.href);
    } catch (e) {
      // a sandboxed or cross-origin host: the state just is not linked
    }
  }

  setDark(dark) {
    document.documentElement.classList.toggle("th-dark", dark);
    document.documentElement.dataset.theme = dark ? "dark" : "light";
    Object.assign(this.theme, themeColors(dark));
    if (this.detail) this.detail.redraw();
    if (this.compare) this.compare.redraw();
  }

  // ------------------------------------------------------------ refresh

  schedule(delay) {
    clearTimeout(this.pollTimer);
    const live = Date.now() - this.lastChange < LIVE_FOR_MS;
    const wait = delay ?? (live ? POLL_LIVE_MS : POLL_IDLE_MS);
    this.pollTimer = setTimeout(() => {
      if (document.visibilityState === "hidden") {
        this.schedule();
        return;
      }
      this.refresh();
    }, wait);
  }

  setLive(text) {
    const node = this.header.querySelector(".th-live");
    if (node) node.textContent = text;
  }

  /** Reloads the run list and what is shown, keeping the view state. */
  async refresh() {
    const generation = ++this.generation;
    try {
      const runs = await this.fetchRunsList();
      if (generation !== this.generation) return;
      this.error = null;
      this.banner.replaceChildren();
      if (runs) this.applyRuns(runs);
      await Promise.all([this.loadDetail(generation), this.loadCompare(generation)]);
      if (generation !== this.generation) return;
      const live = Date.now() - this.lastChange < LIVE_FOR_MS;
      this.setLive(`Updated ${new Date().toLocaleTimeString()}` +
          (live ? " · live, refreshing every 5 s" : ""));
    } catch (e) {
      if (generation !== this.generation) return;
      this.showError(e);
    } finally {
      // Newer data is being read on the server: ask again soon.
      if (generation === this.generation) {
        this.schedule(this.staleDetail ? POLL_PENDING_MS : undefined);
      }
    }
  }

  /**
   * The whole run list, or null when a newer listing was asked for in the
   * meantime. While a search is on and runs it shows are pending, the
   * matching runs are asked for first: the server spends its diagnosis
   * time on the runs it answers, in order, so the ones the list shows
   * get theirs first.
   */
  async fetchRunsList() {
    const token = ++this.runsToken;
    const query = normalizeQuery(this.state.search);
    if (query && this.runs && hasPending(this.visibleRuns())) {
      try {
        await model.fetchRuns({search: query,
          limit: Math.min(this.runShown, MAX_RUNS_LIMIT)});
      } catch (e) {
        // the full listing below reports any error
      }
    }
    const runs = await model.fetchRuns();
    return token === this.runsToken ? runs : null;
  }

  /** A new listing of the runs: the sidebar, the shown run, the polls. */
  applyRuns(runs) {
    if (runs.signature !== this.runsSignature) {
      if (this.runs !== null && runsChanged(this.runs, runs.runs)) {
        this.lastChange = Date.now();
      }
      this.runsSignature = runs.signature;
      this.runs = runs.runs;
      this.runPositions = new Map(this.runs.map((r, i) => [r.run, i]));
      this.runsProblems = runs.problems;
      this.updateRuns();
    }
    this.schedulePending();
  }

  /** Asks for the run list again soon while a run it shows is pending. */
  schedulePending() {
    clearTimeout(this.pendingTimer);
    this.pendingTimer = null;
    if (!this.runs || !hasPending(this.visibleRuns())) return;
    this.pendingTimer = setTimeout(() => this.pollRuns(), POLL_PENDING_MS);
  }

  /** Only the run list (the statuses of pending runs), not the run shown. */
  async pollRuns() {
    this.pendingTimer = null;
    // A hidden page waits: becoming visible refreshes everything.
    if (document.visibilityState === "hidden") return;
    let runs;
    try {
      runs = await this.fetchRunsList();
    } catch (e) {
      return;  // the regular refresh shows the error and retries
    }
    if (!runs) return;  // a newer listing is under way
    const known = this.runPositions;
    if (runs.runs.length !== known.size ||
        !runs.runs.every((r) => known.has(r.run))) {
      this.refresh();  // runs came or went: the full refresh
      return;
    }
    this.error = null;
    this.banner.replaceChildren();
    this.applyRuns(runs);
  }

  showError(e) {
    const status = e && e.status;
    const hint = status === 0 || status === undefined ?
      "Is TensorBoard still running? The tab retries every 30 s." :
      "TensorBoard answered with an error; its console log may say more. " +
      "The tab retries every 30 s.";
    const shown = this.runs !== null ?
      " (showing the data from the last successful refresh)" : "";
    this.banner.replaceChildren(views.errorBanner(
        `Could not load training-health data: ${e.message}${shown}`, hint,
        () => this.refresh()));
    if (this.runs === null) this.main.replaceChildren();
  }

  /** The run list changed: sidebar, detail run, comparison. */
  updateRuns() {
    if (!this.runs.length) {
      this.sidebar.replaceChildren();
      this.sidebar.hidden = true;
      this.destroyViews();
      this.main.replaceChildren(views.howTo());
      if (this.runsProblems.length) {
        this.main.appendChild(views.problemList(this.runsProblems));
      }
      this.markRendered();
      return;
    }
    this.sidebar.hidden = false;
    if (!this.runPositions.has(this.state.run)) {
      if (this.state.run !== null && this.detail) this.state.zoom = null;
      this.state.run = this.runs[0].run;
    }
    this.drawSidebar();
    if (!this.compare || !this.detail || this.detail.run !== this.state.run) {
      this.buildMain();
    }
    this.writeUrl();
  }

  /** The run picker: its frame is built once (the search box keeps its
   *  focus), the list of the runs shown is redrawn. A selected or ticked
   *  run the search hides stays selected or ticked. */
  drawSidebar() {
    if (!this.picker) {
      this.picker = views.runPicker(this.state.search, {
        onSearch: (text) => this.setSearch(text),
        onMore: () => this.showMoreRuns(),
        onCompareAll: (on) => this.setCompareAll(on),
      });
    }
    if (this.picker.parentNode !== this.sidebar) {
      this.sidebar.replaceChildren(this.picker);
    }
    const focused = document.activeElement;
    const focusRun = focused && focused.closest ?
      focused.closest(".th-run-item") : null;
    const focusClass = focused && focused.classList.contains("th-compare") ?
      ".th-compare" : ".th-run-name";
    const scroll = this.sidebar.scrollTop;
    const page = runPage(this.runs, this.state.search, this.runShown);
    this.picker.setList(views.runList(page.shown, this.state.run,
        this.compared(), {
          onShow: (run) => this.showRun(run),
          onCompare: (run, on) => this.setCompared(run, on),
          colorIndex: (run) => this.runIndex(run),
        }));
    this.picker.setCount(countText(page.shown.length, page.matched,
        this.runs.length, this.state.search));
    this.picker.setMore(page.more);
    this.sidebar.scrollTop = scroll;
    if (focusRun) {
      const item = [...this.sidebar.querySelectorAll(".th-run-item")]
          .find((li) => li.dataset.run === focusRun.dataset.run);
      const target = item && item.querySelector(focusClass);
      if (target) target.focus();
    }
  }

  /** The run search changed: the first page of its matches. */
  setSearch(text) {
    if (text === this.state.search) return;
    this.state.search = text;
    this.runShown = PAGE_SIZE;
    this.writeUrl();
    if (!this.runs) return;
    this.drawSidebar();
    this.schedulePending();
  }

  /** "Show more": the next page of matches; focus on the first of it. */
  showMoreRuns() {
    const shown = this.visibleRuns().length;
    this.runShown = shown + PAGE_SIZE;
    this.drawSidebar();
    const names = this.picker.querySelectorAll(".th-run-name");
    if (names[shown]) names[shown].focus();
    this.schedulePending();
  }

  destroyViews() {
    if (this.detail) this.detail.destroy();
    this.detail = null;
    this.compare = null;
  }

  buildMain() {
    const width = this.width();
    if (this.detail) this.detail.destroy();
    this.detail = new DetailView(this.state.run, this, width);
    this.full = null;
    this.zoomed = null;
    if (!this.compare) this.compare = new CompareView(this, width);
    this.main.replaceChildren(this.detail.element, this.compare.element);
  }

  async showRun(run) {
    if (run === this.state.run) return;
    this.state.run = run;
    this.state.zoom = null;
    this.selection = {key: null, layer: null};
    this.expanded.clear();
    this.drawSidebar();
    this.buildMain();
    this.writeUrl();
    const generation = ++this.generation;
    try {
      await Promise.all([this.loadDetail(generation), this.loadCompare(generation)]);
    } catch (e) {
      if (generation === this.generation) this.showError(e);
    }
  }

  setCompared(run, on) {
    const set = this.compared();
    if (on) set.add(run);
    else set.delete(run);
    this.state.runs = this.runs.map((r) => r.run).filter((r) => set.has(r));
    this.writeUrl();
    this.loadCompare(this.generation).catch((e) => this.showError(e));
  }

  /** "all" ticks every run the list shows (the search's matches, a page
   *  at a time), "none" unticks every run. */
  setCompareAll(on) {
    const set = on ? this.compared() : new Set();
    if (on) {
      for (const entry of this.visibleRuns()) set.add(entry.run);
    }
    this.state.runs = this.runs.map((r) => r.run).filter((r) => set.has(r));
    this.drawSidebar();
    this.writeUrl();
    this.loadCompare(this.generation).catch((e) => this.showError(e));
  }

  /** Fetches the detail run (at the zoomed range too when it has more
   *  records than the screen shows) and feeds the view. */
  async loadDetail(generation) {
    const detail = this.detail;
    if (!detail) return;
    const run = detail.run;
    const maxSteps = this.maxSteps();
    let runData;
    let heatmaps;
    try {
      [runData, heatmaps] = await this.fetchRunView(run, {maxSteps});
    } catch (e) {
      if (generation !== this.generation || detail !== this.detail) return;
      if (e.status === 404) {
        detail.showError(`Run ${run} has no training-health data (any more).`);
        return;
      }
      throw e;
    }
    if (generation !== this.generation || detail !== this.detail) return;
    this.staleDetail = runData.stale ||
        HEATMAPS.some((h) => heatmaps[h.signal].stale);
    const signature = [runData.signature,
      ...HEATMAPS.map((h) => heatmaps[h.signal].signature)].join("|");
    const changed = !this.full || this.full.signature !== signature;
    if (this.full && changed) this.lastChange = Date.now();
    this.full = {run: runData, heatmaps, signature};
    if (this.zoomed && changed) this.zoomed = null;
    const zoom = this.firstZoom();
    if (changed || !this.rendered) {
      this.feedDetail(zoom);
    }
    this.markRendered();
    if (this.needsZoomFetch(detail.group.zoom)) {
      await this.loadZoomed(detail.group.zoom);
    }
  }

  /** The zoom of the URL, applied once, with the first data. */
  firstZoom() {
    if (this.state.zoom === null) return undefined;
    const zoom = this.state.zoom;
    this.state.zoom = null;
    return zoom;
  }

  /** model.fetchRun, sharing a request already under way for the same
   *  run and options (the detail and the comparison ask together). */
  fetchRun(run, options) {
    const key = JSON.stringify([run, options]);
    let promise = this.inflight.get(key);
    if (!promise) {
      promise = model.fetchRun(run, options);
      this.inflight.set(key, promise);
      const forget = () => this.inflight.delete(key);
      promise.then(forget, forget);
    }
    return promise;
  }

  async fetchRunView(run, options) {
    const [runData, ...maps] = await Promise.all([
      this.fetchRun(run, options),
      ...HEATMAPS.map((h) => model.fetchHeatmap(run, h.signal, options)
          .catch((e) => {
            if (e.status === 404 && !e.message.includes("signal")) throw e;
            return {error: e.message, signature: e.message};
          })),
    ]);
    const heatmaps = {};
    HEATMAPS.forEach((h, i) => {
      heatmaps[h.signal] = maps[i];
    });
    return [runData, heatmaps];
  }

  /** Shows the best data there is for the current zoom. */
  feedDetail(zoom) {
    if (!this.full || !this.detail) return;
    const scroll = document.scrollingElement ?
      document.scrollingElement.scrollTop : 0;
    const z = zoom === undefined ? this.detail.group.zoom : zoom;
    const use = this.zoomed && sameRange(this.zoomed.range, z) ?
      this.zoomed : this.full;
    this.detail.show(use.run, use.heatmaps, zoom);
    if (document.scrollingElement &&
        document.scrollingElement.scrollTop !== scroll) {
      document.scrollingElement.scrollTop = scroll;
    }
    this.writeUrl();
  }

  needsZoomFetch(zoom) {
    if (!zoom || !this.full) return false;
    if (this.zoomed && sameRange(this.zoomed.range, zoom)) return false;
    const full = this.full;
    return full.run.downsampled || Object.values(full.heatmaps)
        .some((h) => h && h.downsampled);
  }

  async loadZoomed(zoom) {
    const generation = ++this.zoomGeneration;
    const detail = this.detail;
    const [runData, heatmaps] = await this.fetchRunView(detail.run,
        {maxSteps: this.maxSteps(), range: zoom});
    if (generation !== this.zoomGeneration || detail !== this.detail) return;
    if (!sameRange(detail.group.zoom, zoom)) return;
    this.zoomed = {range: zoom, run: runData, heatmaps};
    this.feedDetail();
  }

  async loadCompare(generation) {
    if (!this.compare || !this.runs) return;
    const compared = this.compared();
    const runs = this.runs.map((r) => r.run).filter((r) => compared.has(r));
    const maxSteps = this.maxSteps();
    const entries = await Promise.all(runs.map(async (run) => {
      if (this.detail && run === this.detail.run && this.full) {
        return {run, data: this.full.run};
      }
      try {
        return {run, data: await this.fetchRun(run, {maxSteps})};
      } catch (e) {
        return {run, data: null};
      }
    }));
    if (generation !== this.generation || !this.compare) return;
    this.compare.show(entries.filter((e) => e.data), this.state.signal);
  }

  markRendered() {
    if (this.rendered) return;
    this.rendered = true;
    window.__thFirstRender = performance.now();
    document.documentElement.dataset.rendered = "true";
  }

  resize() {
    const width = this.width();
    if (this.detail) this.detail.setWidth(width);
    if (this.compare) this.compare.setWidth(width);
  }

  // ------------------------------------------------------------ user

  onZoom(zoom) {
    this.writeUrl();
    if (this.detail) {
      this.detail.toolbar.setZoom(zoom, this.detail.group.domain);
    }
    clearTimeout(this.zoomTimer);
    if (!zoom) {
      if (this.zoomed) {
        this.zoomed = null;
        this.feedDetail();
      }
      return;
    }
    if (this.needsZoomFetch(zoom)) {
      this.zoomTimer = setTimeout(() => {
        this.loadZoomed(zoom).catch((e) => this.showError(e));
      }, ZOOM_FETCH_MS);
    }
  }

  onSignal(signal) {
    this.state.signal = signal;
    this.writeUrl();
    this.loadCompare(this.generation).catch((e) => this.showError(e));
  }

  onFilter(text) {
    this.state.filter = text;
    this.writeUrl();
    if (this.detail) this.detail.applyLayout();
  }

  onCollapse(on) {
    this.state.collapse = on;
    this.writeUrl();
    if (this.detail) this.detail.applyLayout();
  }

  onToggleFold(key) {
    if (this.expanded.has(key)) this.expanded.delete(key);
    else this.expanded.add(key);
    if (this.detail) this.detail.applyLayout();
  }

  /** A heatmap row was clicked: highlight that layer (again: clear). */
  onToggleLayer(name) {
    const same = this.selection.key === null && this.selection.layer === name;
    this.selection = same ? {key: null, layer: null} : {key: null, layer: name};
    if (this.detail) {
      this.detail.applyLayout();
      this.detail.applySelection();
    }
  }

  /** An alert was chosen: highlight its layer and steps, scroll to its
   *  evidence. The same alert again clears the highlight. */
  onSelectAlert(alert) {
    const key = alertKey(alert);
    if (this.selection.key === key) {
      this.selection = {key: null, layer: null};
    } else {
      this.selection = {key, layer: alert.layer || null};
      if (alert.layer && this.detail && this.detail.filtered(alert.layer)) {
        this.state.filter = "";
        const input = this.root.querySelector(".th-filter");
        if (input) input.value = "";
        this.writeUrl();
      }
    }
    if (!this.detail) return;
    this.detail.applyLayout();
    this.detail.applySelection();
    if (this.selection.key) this.detail.reveal(alert);
  }
}

/** Builds the tab in `root` and starts loading what it shows. */
export function start(root) {
  const app = new App(root);
  app.start();
  return app;
}
