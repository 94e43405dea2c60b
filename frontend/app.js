// The Train Health tab: its state and the wiring between its parts.
// index.js (the entry TensorBoard loads) starts it; App keeps the page
// state and hands every part the handler functions it calls.
//
//   host.js      TensorBoard's reload channel, the URL hash, the theme
//   refresh.js   when to ask again; the one staleness token
//   model.js     fetching and decoding
//   runlist.js   the run list (the sidebar)
//   runview.js   the run shown: its data (rundata.js) in its view
//                (detail.js, with panels.js and facts.js)
//   compare.js   the comparison of runs
//   charts.js, heatmap.js draw; dom.js builds elements
//   catalogue.js, alerts.js, chartdata.js, format.js, colors.js,
//   layerfilter.js, runfilter.js, urlstate.js: pure logic, unit-tested

import {plotWidth} from "./charts.js";
import {CompareView} from "./compare.js";
import {runStyle, themeColors} from "./colors.js";
import {createTooltip, el, errorBanner, message, problemList} from "./dom.js";
import * as host from "./host.js";
import * as model from "./model.js";
import {header, howTo} from "./panels.js";
import {POLL_SOON_MS, Refresher} from "./refresh.js";
import {RunList} from "./runlist.js";
import {ShownRun} from "./runview.js";
import {normalizeQuery} from "./runfilter.js";

const RESIZE_MS = 150;
const MAX_RUNS_LIMIT = 10000;  // the /runs route's largest page

class App {
  constructor(root) {
    this.root = root;
    // The URL's state, and what the run shown reads at every layout.
    this.state = {...host.readUrlState(), expanded: new Set(),
      selection: {key: null, layer: null}};
    this.theme = themeColors(false);
    this.tooltip = createTooltip();
    this.catalogue = null;
    this.shown = null;  // ShownRun
    this.compare = null;  // CompareView
    this.refresher = new Refresher({refresh: () => this.refresh(),
      pollRuns: () => this.pollRuns()});
    this.channel = null;
  }

  start() {
    this.setDark(host.watchTheme((dark) => this.setDark(dark)));
    this.header = header();
    this.banner = el("div", "th-banner");
    this.sidebar = el("aside", "th-sidebar");
    this.runs = new RunList(this.sidebar, this.state, {
      onShow: (run) => this.showRun(run),
      onCompared: () => {
        this.writeUrl();
        this.loadCompare(this.refresher.token()).catch((e) => this.showError(e));
      },
      onSearch: () => {
        this.writeUrl();
        this.refresher.schedulePending(this.runs.pendingShown());
      },
    });
    this.main = el("main", "th-main", null,
        [message("Loading runs…", "th-loading")]);
    this.root.replaceChildren(this.header, this.banner,
        el("div", "th-layout", null, [this.sidebar, this.main]),
        this.tooltip.element);
    this.channel = host.listenForReloads(() => this.refresh());
    let resizeTimer = null;
    new ResizeObserver(() => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => this.resize(), RESIZE_MS);
    }).observe(this.main);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.refresher.schedule(0);
    });
    this.refresh();
  }

  width() {
    return Math.max(360, Math.min(1600, this.main.clientWidth || 900));
  }

  maxSteps() {
    return Math.max(100, Math.min(4000, Math.round(plotWidth(this.width()))));
  }

  writeUrl() {
    const zoom = this.shown ? this.shown.zoom : this.state.zoom;
    host.writeUrlState({...this.state, zoom});
  }

  setDark(dark) {
    host.applyTheme(dark);
    Object.assign(this.theme, themeColors(dark));
    if (this.shown) this.shown.redraw();
    if (this.compare) this.compare.redraw();
  }

  // ------------------------------------------------------------ refresh

  /** Reloads the run list and what is shown, keeping the view state. */
  async refresh() {
    const token = this.refresher.next();
    let soon = false;
    try {
      const [listing] = await Promise.all([this.fetchRunsList(),
        this.loadCatalogue()]);
      if (!this.refresher.isCurrent(token)) return;
      this.banner.replaceChildren();
      this.applyRuns(listing);
      await Promise.all([this.loadShown(token), this.loadCompare(token)]);
      if (!this.refresher.isCurrent(token)) return;
      soon = Boolean(this.shown && this.shown.stale);
      this.header.querySelector(".th-live").textContent =
          this.refresher.statusText(new Date());
    } catch (e) {
      if (this.refresher.isCurrent(token)) this.showError(e);
    } finally {
      // Newer data is being read on the server: ask again soon.
      if (this.refresher.isCurrent(token)) {
        this.refresher.schedule(soon ? POLL_SOON_MS : undefined);
      }
    }
  }

  async loadCatalogue() {
    if (!this.catalogue) this.catalogue = await model.fetchCatalogue();
  }

  /**
   * The whole run list. While a search is on and runs it shows are
   * pending, the matching runs are asked for first: the server spends its
   * diagnosis time on the runs it answers, in order, so the ones the list
   * shows get theirs first.
   */
  async fetchRunsList() {
    const query = normalizeQuery(this.state.search);
    if (query && this.runs.pendingShown()) {
      try {
        await model.fetchRuns({search: query,
          limit: Math.min(this.runs.shown, MAX_RUNS_LIMIT)});
      } catch (e) {
        // the full listing below reports any error
      }
    }
    return model.fetchRuns();
  }

  /** A new listing of the runs: the sidebar, the shown run, the polls. */
  applyRuns(listing) {
    if (this.runs.index.update(listing)) {
      if (this.runs.index.changed) this.refresher.noteChange();
      this.updateRuns();
    }
    this.refresher.schedulePending(this.runs.pendingShown());
  }

  /** Only the run list (the statuses of pending runs), not the run shown. */
  async pollRuns() {
    const token = this.refresher.token();
    let listing;
    try {
      listing = await this.fetchRunsList();
    } catch (e) {
      return;  // the regular refresh shows the error and retries
    }
    if (!this.refresher.isCurrent(token)) return;
    if (!this.runs.index.sameRuns(listing.runs)) {
      this.refresh();  // runs came or went: the full refresh
      return;
    }
    this.banner.replaceChildren();
    this.applyRuns(listing);
  }

  showError(e) {
    const status = e && e.status;
    const hint = status === 0 || status === undefined ?
      "Is TensorBoard still running? The tab retries every 30 s." :
      "TensorBoard answered with an error; its console log may say more. " +
      "The tab retries every 30 s.";
    const listed = this.runs.index.signature !== null;
    const shown = listed ?
      " (showing the data from the last successful refresh)" : "";
    this.banner.replaceChildren(errorBanner(
        `Could not load training-health data: ${e.message}${shown}`, hint,
        () => this.refresh()));
    if (!listed) this.main.replaceChildren();
  }

  /** The run list changed: sidebar, shown run, comparison. */
  updateRuns() {
    const index = this.runs.index;
    this.sidebar.hidden = !index.size;
    if (!index.size) {
      this.destroyViews();
      this.main.replaceChildren(howTo(), index.problems.length ?
        problemList(index.problems, "the logdir") : "");
      host.markRendered();
      return;
    }
    if (!index.has(this.state.run)) {
      if (this.state.run !== null && this.shown) this.state.zoom = null;
      this.state.run = index.names()[0];
    }
    this.runs.draw();
    if (!this.compare || !this.shown || this.shown.run !== this.state.run) {
      this.buildMain();
    }
    this.writeUrl();
  }

  destroyViews() {
    if (this.shown) this.shown.destroy();
    this.shown = null;
    this.compare = null;
  }

  buildMain() {
    const width = this.width();
    if (this.shown) this.shown.destroy();
    const run = this.state.run;
    this.shown = new ShownRun({run, catalogue: this.catalogue, width,
      theme: this.theme, tooltip: this.tooltip, state: this.state,
      color: runStyle(this.runs.index.index(run)).color,
      tokens: this.refresher, maxSteps: () => this.maxSteps(),
      handlers: {
        onUrl: () => this.writeUrl(),
        onError: (e) => this.showError(e),
        onRetry: () => this.refresh(),
        onChange: () => this.refresher.noteChange(),
      }});
    if (!this.compare) {
      this.compare = new CompareView({catalogue: this.catalogue, width,
        theme: this.theme, signal: this.state.signal,
        onSignal: (key) => this.setSignal(key),
        runIndex: (r) => this.runs.index.index(r)});
    }
    this.main.replaceChildren(this.shown.element, this.compare.element);
  }

  async loadShown(token) {
    if (this.shown) await this.shown.load(token);
  }

  async loadCompare(token) {
    if (!this.compare || !this.runs.index.size) return;
    const maxSteps = this.maxSteps();
    const shown = this.shown;
    const entries = await Promise.all(this.runs.compared().map(async (run) => {
      if (shown && run === shown.run && shown.data.full) {
        return {run, data: shown.data.full.run};
      }
      try {
        return {run, data: await model.fetchRun(run, {maxSteps})};
      } catch (e) {
        return {run, data: null};
      }
    }));
    if (!this.refresher.isCurrent(token) || !this.compare) return;
    this.compare.show(entries.filter((e) => e.data), this.state.signal);
  }

  resize() {
    const width = this.width();
    if (this.shown) this.shown.setWidth(width);
    if (this.compare) this.compare.setWidth(width);
  }

  // ------------------------------------------------------------ user

  async showRun(run) {
    if (run === this.state.run) return;
    Object.assign(this.state, {run, zoom: null,
      selection: {key: null, layer: null}});
    this.state.expanded.clear();
    this.runs.draw();
    this.buildMain();
    this.writeUrl();
    const token = this.refresher.next();
    try {
      await Promise.all([this.loadShown(token), this.loadCompare(token)]);
    } catch (e) {
      if (this.refresher.isCurrent(token)) this.showError(e);
    }
    if (this.refresher.isCurrent(token)) this.refresher.schedule();
  }

  setSignal(key) {
    this.state.signal = key;
    this.writeUrl();
    this.loadCompare(this.refresher.token()).catch((e) => this.showError(e));
  }
}

/** Builds the tab in `root` and starts loading what it shows. */
export function start(root) {
  const app = new App(root);
  app.start();
  return app;
}
