// The run the tab shows: its data (rundata.js) fed into its view
// (detail.js), with what the user does to it: zoom (a zoomed range of a
// long run is read at full resolution), the layer filter and folding, a
// highlighted layer, a chosen alert and its evidence.

import {alertKey} from "./alerts.js";
import {DetailView} from "./detail.js";
import {markRendered} from "./host.js";
import {RunData} from "./rundata.js";

const ZOOM_FETCH_MS = 200;

/**
 * options: {run, catalogue, width, theme, tooltip, color, state (the
 * page's: {zoom (of the URL, applied once), filter, collapse, expanded,
 * selection}), tokens (refresh.js's Refresher: which answers still
 * count), maxSteps(), handlers: {onUrl() (the view state changed),
 * onError(e), onRetry(), onChange() (the run's data changed)}}.
 */
export class ShownRun {
  constructor(options) {
    this.options = options;
    this.run = options.run;
    this.state = options.state;
    this.tokens = options.tokens;
    this.handlers = options.handlers;
    this.rendered = false;
    this.zoomTimer = null;
    this.data = new RunData(this.run,
        options.catalogue.heatmaps.map((h) => h.key));
    this.view = new DetailView({...options, view: options.state, handlers: {
      onZoom: (zoom) => this.onZoom(zoom),
      onSelectAlert: (alert) => this.selectAlert(alert),
      onToggleLayer: (name) => this.toggleLayer(name),
      onToggleFold: (key) => this.toggleFold(key),
      onFilter: (text) => this.setFilter(text),
      onCollapse: (on) => this.setCollapse(on),
      onRetry: this.handlers.onRetry,
    }});
  }

  get element() {
    return this.view.element;
  }

  /** The zoom shown ([lo, hi] or null). */
  get zoom() {
    return this.view.group.zoom;
  }

  /** Whether the server is still reading newer data than it answered. */
  get stale() {
    return this.data.stale;
  }

  /** Reads the run (and the zoomed range, when it needs its own read)
   *  and shows it, unless `token` is no longer current. */
  async load(token) {
    let changed;
    try {
      changed = await this.data.load(this.options.maxSteps());
    } catch (e) {
      if (!this.tokens.isCurrent(token)) return;
      if (e.status !== 404) throw e;
      this.view.showError(
          `Run ${this.run} has no training-health data (any more).`);
      return;
    }
    if (!this.tokens.isCurrent(token)) return;
    if (changed && this.rendered) this.handlers.onChange();
    if (changed || !this.rendered) this.feed(this.firstZoom());
    this.rendered = true;
    markRendered();
    if (this.data.needsZoom(this.zoom)) await this.loadZoomed(this.zoom);
  }

  /** The zoom of the URL, applied once, with the first data. */
  firstZoom() {
    const zoom = this.state.zoom ?? undefined;
    this.state.zoom = null;
    return zoom;
  }

  /** Shows the best data there is for the zoom, keeping the scroll
   *  position. */
  feed(zoom) {
    const scroller = document.scrollingElement;
    const scroll = scroller ? scroller.scrollTop : 0;
    const best = this.data.best(zoom === undefined ? this.zoom : zoom);
    if (!best) return;
    this.view.show(best.run, best.heatmaps, zoom);
    if (scroller && scroller.scrollTop !== scroll) scroller.scrollTop = scroll;
    this.handlers.onUrl();
  }

  async loadZoomed(zoom) {
    const token = this.tokens.token();
    const kept = await this.data.loadZoom(zoom, this.options.maxSteps());
    const shown = this.zoom;
    if (kept && this.tokens.isCurrent(token) && shown &&
        shown[0] === zoom[0] && shown[1] === zoom[1]) {
      this.feed();
    }
  }

  onZoom(zoom) {
    this.handlers.onUrl();
    this.view.toolbar.setZoom(zoom, this.view.group.domain);
    clearTimeout(this.zoomTimer);
    if (!zoom) {
      if (this.data.dropZoom()) this.feed();
      return;
    }
    if (this.data.needsZoom(zoom)) {
      this.zoomTimer = setTimeout(() => {
        this.loadZoomed(zoom).catch((e) => this.handlers.onError(e));
      }, ZOOM_FETCH_MS);
    }
  }

  setFilter(text) {
    this.state.filter = text;
    this.handlers.onUrl();
    this.view.applyLayout();
  }

  setCollapse(on) {
    this.state.collapse = on;
    this.handlers.onUrl();
    this.view.applyLayout();
  }

  toggleFold(key) {
    const expanded = this.state.expanded;
    if (expanded.has(key)) expanded.delete(key);
    else expanded.add(key);
    this.view.applyLayout();
  }

  /** A heatmap row was clicked: highlight that layer (again: clear). */
  toggleLayer(name) {
    const {key, layer} = this.state.selection;
    this.select(key === null && layer === name ? null :
      {key: null, layer: name});
  }

  /** An alert was chosen: highlight its layer and steps, scroll to its
   *  evidence. The same alert again clears the highlight. */
  selectAlert(alert) {
    const key = alertKey(alert);
    if (this.state.selection.key === key) {
      this.select(null);
      return;
    }
    if (alert.layer && this.view.filtered(alert.layer)) {
      this.state.filter = "";
      this.view.setFilterText("");
      this.handlers.onUrl();
    }
    this.select({key, layer: alert.layer || null});
    this.view.reveal(alert);
  }

  select(selection) {
    this.state.selection = selection || {key: null, layer: null};
    this.view.applyLayout();
    this.view.applySelection();
  }

  setWidth(width) {
    this.view.setWidth(width);
  }

  redraw() {
    this.view.redraw();
  }

  destroy() {
    clearTimeout(this.zoomTimer);
    this.view.destroy();
  }
}
