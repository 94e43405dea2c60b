// The detail view: the selected run's status and alerts, its step charts,
// heatmaps and epoch charts (every one on the run's step axis, zoomed
// together), the run facts and what the run did not record. Built from
// the catalogue (which charts and heatmaps there are) once per shape of
// the data, then fed new data in place, so a refresh keeps zoom, folds,
// focus and scroll position.
//
// A new kind of chart or panel goes here: build it in build() (its
// section registered in `sections` under the id alert evidence names),
// feed it in feed().

import {
  alertKey, alertMarkers, evidenceTarget, flaggedLayers,
} from "./alerts.js";
import {StepChart} from "./charts.js";
import {
  ZoomGroup, epochChartData, epochDomain, epochKeys, runDomain,
} from "./chartdata.js";
import {EPOCH_SERIES} from "./colors.js";
import {
  el, errorBanner, message, problemList, scrollIntoRoom, section,
} from "./dom.js";
import {factsPanel} from "./facts.js";
import {HeatmapView} from "./heatmap.js";
import {layerFilter} from "./layerfilter.js";
import {
  alertList, markSelectedAlerts, missingSignals, statusLine, toolbar,
} from "./panels.js";

const FOLD_AUTO = 24;  // fold healthy layers by default above this many
const STEP_CHART_HEIGHT = 160;
const EPOCH_CHART_HEIGHT = 150;

/** What the page shows of a run's data: rebuilt when this changes. */
function shapeOf(runData, heatmaps, catalogue) {
  return JSON.stringify([
    catalogue.stepCharts.map((c) => runData.stepSeries.has(c.key)),
    catalogue.heatmaps.map((h) => {
      const hm = heatmaps.get(h.key);
      return !hm ? "none" : hm.error ? "error" :
        hm.available ? (hm.rows.length ? "rows" : "empty") : "none";
    }),
    epochKeys(runData).map((k) => [k, epochChartData(runData, k).axis]),
    Object.keys(runData.facts).length > 0,
    runData.problems,
    [...runData.signals].map(([k, v]) => [k, v.available]),
  ]);
}

/** The read-out of epoch chart `key` at x: "epoch 2 (step 29)". */
function epochReadout(runData, key, x) {
  if (!runData || !runData.epochs.has(key)) return `step ${x}`;
  const data = epochChartData(runData, key);
  if (data.axis === "epoch") return `epoch ${x}`;
  return `epoch ${data.epochAt.get(x)} (step ${x})`;
}

/**
 * The selected run. options: {run, catalogue, width, theme, tooltip,
 * color (the run's), view (the page's {filter, collapse, expanded,
 * selection: {key, layer}}, read at every layout), handlers: {onZoom(zoom),
 * onSelectAlert(alert), onToggleLayer(name), onToggleFold(key),
 * onFilter(text), onCollapse(bool), onRetry()}}.
 */
export class DetailView {
  constructor(options) {
    this.options = options;
    this.run = options.run;
    this.catalogue = options.catalogue;
    this.view = options.view;
    this.handlers = options.handlers;
    this.width = options.width;
    this.group = new ZoomGroup((zoom) => this.handlers.onZoom(zoom));
    this.charts = new Map();
    this.heatmaps = new Map();
    this.sections = new Map();
    this.shape = null;
    this.data = null;
    this.alertSignature = null;
    this.element = el("div", "th-detail");
    this.element.dataset.run = this.run;
    this.element.appendChild(message(`Loading ${this.run}…`, "th-loading"));
  }

  /** Whether healthy layers are folded (by default: for big models). */
  collapseOn() {
    const c = this.view.collapse;
    const layers = this.data ? this.data.layers.length : 0;
    return c === null || c === undefined ? layers > FOLD_AUTO : c;
  }

  /** Shows an error in place of the run (keeping nothing stale). */
  showError(text) {
    this.destroyComponents();
    this.shape = null;
    this.element.replaceChildren(errorBanner(text,
        "The run may have been removed, or TensorBoard is still loading " +
        "it. The tab retries on its own.", this.handlers.onRetry));
  }

  /**
   * New data: runData (decoded /run) and heatmaps (Map signal -> decoded
   * /heatmap or {error}), for the whole run or the zoomed range.
   * Rebuilds only when what is shown changes shape.
   */
  show(runData, heatmaps, zoom) {
    this.data = runData;
    const shape = shapeOf(runData, heatmaps, this.catalogue);
    if (shape !== this.shape) {
      this.build(runData, heatmaps);
      this.shape = shape;
    }
    const domain = runDomain(runData);
    this.group.setDomain(domain, zoom === undefined ? this.group.zoom : zoom);
    this.updateHeader(runData);
    this.feed(runData, heatmaps);
    this.applySelection();
    this.toolbar.setZoom(this.group.zoom, domain);
    this.toolbar.setCollapse(this.collapseOn());
  }

  destroyComponents() {
    for (const chart of this.charts.values()) chart.destroy();
    for (const heatmap of this.heatmaps.values()) heatmap.destroy();
    this.charts.clear();
    this.heatmaps.clear();
    this.sections.clear();
  }

  build(runData, heatmaps) {
    this.destroyComponents();
    this.statusSlot = el("div", "th-status-slot");
    this.alertSlot = el("div", "th-alert-slot");
    this.alertSignature = null;
    this.toolbar = toolbar({filter: this.view.filter,
      collapse: this.collapseOn()}, {
      onFilter: this.handlers.onFilter,
      onCollapse: this.handlers.onCollapse,
      onResetZoom: () => this.group.setZoom(null),
    });
    const facts = Object.keys(runData.facts).length ?
      factsPanel(runData.facts) : null;
    if (facts) this.sections.set("facts", facts);
    this.element.replaceChildren(...[
      this.statusSlot, this.alertSlot,
      runData.problems.length ? problemList(runData.problems) : null,
      this.toolbar,
      ...this.buildStepCharts(runData),
      ...this.buildHeatmaps(heatmaps),
      this.buildEpochCharts(runData),
      facts,
      missingSignals(runData, this.catalogue),
    ].filter(Boolean));
  }

  chart(id, options) {
    const c = new StepChart({
      id, group: options.group || this.group, theme: this.options.theme,
      logY: Boolean(options.logY), height: options.height, width: this.width,
      xLabel: options.xLabel || "step", syncKey: `th-${this.run}`,
      formatX: options.formatX,
    });
    this.charts.set(id, c);
    return c;
  }

  buildStepCharts(runData) {
    return this.catalogue.stepCharts
        .filter((spec) => runData.stepSeries.has(spec.key))
        .map((spec) => {
          const c = this.chart(spec.key, {logY: spec.logY,
            height: STEP_CHART_HEIGHT});
          const node = section(spec.title, spec.description, [c.element],
              spec.key);
          this.sections.set(spec.key, node);
          return node;
        });
  }

  buildHeatmaps(heatmaps) {
    const out = [];
    for (const spec of this.catalogue.heatmaps) {
      const hm = heatmaps.get(spec.key);
      if (!hm || (!hm.error && !hm.available)) continue;
      let body;
      if (hm.error) {
        body = [message(`Could not load this heatmap: ${hm.error}`,
            "th-error")];
      } else if (!hm.rows.length) {
        body = [message("No layers recorded for this signal.")];
      } else {
        const view = new HeatmapView({
          signal: spec.key, group: this.group, theme: this.options.theme,
          tooltip: this.options.tooltip, domain: spec.domain,
          width: this.width, valueLabel: spec.valueLabel,
          onToggleLayer: this.handlers.onToggleLayer,
          onToggleFold: this.handlers.onToggleFold,
        });
        this.heatmaps.set(spec.key, view);
        body = [view.element];
      }
      if (hm.problems && hm.problems.length) {
        body.push(problemList(hm.problems, "this heatmap"));
      }
      const id = `heatmap:${spec.key}`;
      const node = section(spec.title, spec.description, body, id);
      this.sections.set(id, node);
      out.push(node);
    }
    return out;
  }

  buildEpochCharts(runData) {
    const keys = epochKeys(runData);
    if (!keys.length) return null;
    const charts = [];
    for (const key of keys) {
      const data = epochChartData(runData, key);
      const id = `epoch_${key}`;
      const c = this.chart(id, {
        height: EPOCH_CHART_HEIGHT,
        group: data.axis === "step" ? this.group : new ZoomGroup(),
        xLabel: data.axis,
        formatX: (x) => epochReadout(this.data, key, x),
      });
      charts.push(el("h3", "th-chart-title", key), c.element);
      this.sections.set(id, c.element);
    }
    return section("Training vs. validation",
        "Per-epoch metrics, their validation counterparts and the gap " +
        "(validation minus training), placed at the step each epoch " +
        "ended.", charts, "epochs");
  }

  updateHeader(runData) {
    this.statusSlot.replaceChildren(statusLine(runData));
    // Rebuilt when any alert changes (a live run's alert grows its step
    // range and message), not only when alerts come or go.
    const signature = JSON.stringify(runData.alerts);
    if (signature === this.alertSignature) return;
    this.alertSignature = signature;
    this.alertSlot.replaceChildren(runData.alerts.length ?
      alertList(runData.alerts, this.view.selection.key,
          this.handlers.onSelectAlert) :
      message("No alerts: nothing in the recorded signals looks wrong.",
          "th-no-alerts"));
  }

  feed(runData, heatmaps) {
    for (const spec of this.catalogue.stepCharts) {
      const chart = this.charts.get(spec.key);
      const s = runData.stepSeries.get(spec.key);
      if (!chart || !s) continue;
      chart.setData({xs: s.steps, series: [{label: spec.label,
        color: this.options.color, values: s.values, min: s.min,
        max: s.max}]});
    }
    for (const key of epochKeys(runData)) {
      const chart = this.charts.get(`epoch_${key}`);
      if (!chart) continue;
      const data = epochChartData(runData, key);
      if (data.axis === "epoch") {
        chart.group.setDomain(epochDomain(runData, data.xs));
      }
      chart.setData({xs: data.xs, series: data.series.map((s) => ({
        ...EPOCH_SERIES.get(s.role), label: s.label, values: s.values,
      }))});
    }
    for (const [signal, view] of this.heatmaps) {
      const hm = heatmaps.get(signal);
      if (hm && !hm.error && hm.available) view.setData(hm);
    }
    this.applyLayout();
  }

  /** Filter, folding and the highlighted layer, to every heatmap. */
  applyLayout() {
    const layout = {
      filter: this.view.filter,
      collapse: this.collapseOn(),
      flagged: flaggedLayers(this.data ? this.data.alerts : []),
      expanded: this.view.expanded,
      highlight: this.view.selection.layer,
    };
    for (const view of this.heatmaps.values()) view.setLayout(layout);
  }

  /** Where an alert's evidence is shown. */
  targetOf(alert) {
    return evidenceTarget(alert, this.catalogue,
        (signal, layer) => Boolean(this.heatmaps.get(signal) &&
            this.heatmaps.get(signal).hasRow(layer)),
        (id) => this.sections.has(id));
  }

  /** Markers on charts and heatmaps; the selected alert and layer. */
  applySelection() {
    const key = this.view.selection.key;
    const alerts = this.data ? this.data.alerts : [];
    const markers = alertMarkers(alerts);
    for (const chart of this.charts.values()) chart.setMarkers(markers, key);
    const byKey = new Map(markers.map((m) => [m.key, m]));
    for (const [signal, view] of this.heatmaps) {
      const mine = alerts.filter((alert) => {
        const target = this.targetOf(alert);
        return target && target.type === "heatmap" && target.signal === signal;
      }).map((alert) => byKey.get(alertKey(alert))).filter(Boolean);
      view.setMarkers(mine, key);
    }
    if (this.alertSlot) markSelectedAlerts(this.alertSlot, key);
  }

  /** Scrolls to an alert's evidence, below the sticky toolbar, and
   *  flashes it. */
  reveal(alert) {
    const target = this.targetOf(alert);
    if (!target) return null;
    let node;
    let focus;
    if (target.type === "heatmap") {
      node = this.sections.get(`heatmap:${target.signal}`);
      focus = this.heatmaps.get(target.signal).labelOf(target.layer) || node;
    } else {
      node = this.sections.get(target.type === "facts" ? "facts" :
        target.chart);
      if (node.tagName === "DETAILS") node.open = true;
      focus = node.querySelector(".th-chart") || node;
    }
    scrollIntoRoom(node, focus, this.toolbar.offsetHeight + 8);
    node.classList.remove("th-evidence");
    void node.offsetWidth;  // restart the flash
    node.classList.add("th-evidence");
    node.dataset.evidence = alertKey(alert);
    return target;
  }

  /** The layer filter hides `layer`? */
  filtered(layer) {
    return !layerFilter(this.view.filter)(layer);
  }

  setFilterText(text) {
    if (this.toolbar) this.toolbar.setFilter(text);
  }

  setWidth(width) {
    this.width = width;
    for (const chart of this.charts.values()) chart.setWidth(width);
    for (const view of this.heatmaps.values()) view.setWidth(width);
  }

  redraw() {
    for (const chart of this.charts.values()) chart.redraw();
    for (const view of this.heatmaps.values()) view.redraw();
  }

  destroy() {
    this.destroyComponents();
    this.element.remove();
  }
}
