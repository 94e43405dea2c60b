// The two halves of the Train Health tab's main column: the selected run's
// details (DetailView: alerts, step charts, heatmaps, epoch charts, facts)
// and the comparison of several runs (CompareView). Both are built once
// and then fed new data in place, so a refresh keeps zoom, folds, focus
// and scroll position.

import {GUTTER, RIGHT, StepChart, ZoomGroup} from "./charts.js";
import {HeatmapView} from "./heatmap.js";
import {
  alertKey, alertMarkers, alignSeries, epochSteps, evidenceTarget,
  flaggedLayers, layerFilter, stepDomain,
} from "./chartdata.js";
import {runStyle} from "./colors.js";
import * as views from "./views.js";

export const HEATMAPS = [
  {
    signal: "dead_fraction",
    title: "Dead ReLU fraction",
    description: "Share of a ReLU-like layer's units that output zero for " +
        "every probe sample. 1 (yellow) means the layer is dead.",
    valueLabel: "dead fraction",
    domain: [0, 1],
  },
  {
    signal: "saturation",
    title: "Saturation",
    description: "Share of a sigmoid/tanh-like layer's outputs in the flat " +
        "tails, where gradients vanish.",
    valueLabel: "saturation",
    domain: [0, 1],
  },
  {
    signal: "grad_norm",
    title: "Gradient norm per layer",
    description: "Norm of each layer's gradient (all its variables), log " +
        "colour scale. Dark rows get almost no gradient (vanishing); " +
        "bright ones very large gradients (exploding).",
    valueLabel: "gradient norm",
  },
  {
    signal: "update_ratio",
    title: "Update ratio per layer",
    description: "Size of each step's weight change relative to the " +
        "weights (||ΔW|| / ||W||), log colour scale; around 1e-3 is typical.",
    valueLabel: "update ratio",
  },
];

export const STEP_CHARTS = [
  {
    id: "grad_norm_global", key: "grad_norm_global", logY: true,
    title: "Global gradient norm", label: "gradient norm",
    description: "Norm of the whole gradient at each recorded step (log " +
        "scale).",
  },
  {
    id: "loss", key: "loss", logY: false, title: "Training loss per step",
    label: "loss", description: "The running training loss at each " +
        "recorded step.",
  },
  {
    id: "learning_rate", key: "learning_rate", logY: true,
    title: "Learning rate", label: "learning rate",
    description: "The optimizer's learning rate (log scale).",
  },
];

const FOLD_AUTO = 24;  // fold healthy layers by default above this many

/** The plot width (CSS px) a section of `width` gives a chart. */
export function plotWidth(width) {
  return Math.max(80, width - GUTTER - RIGHT);
}

/**
 * The selected run. app supplies: theme, tooltip, state ({filter,
 * collapse}), expanded (Set of open folds), selection ({key, layer}), and
 * the callbacks onZoom(zoom), onSelectAlert(alert), onToggleLayer(name),
 * onToggleFold(key), onFilter(text), onCollapse(bool), onResetZoom().
 */
export class DetailView {
  constructor(run, app, width) {
    this.run = run;
    this.app = app;
    this.width = width;
    this.group = new ZoomGroup((zoom) => app.onZoom(zoom));
    this.charts = new Map();
    this.heatmaps = new Map();
    this.sections = new Map();
    this.structure = null;
    this.data = null;
    this.element = views.el("div", "th-detail");
    this.element.dataset.run = run;
    this.element.appendChild(views.message(`Loading ${run}…`, "th-loading"));
  }

  /** Whether the layer filter and folding apply to this run. */
  layerCount() {
    return this.data ? this.data.layers.length : 0;
  }

  collapseOn() {
    const c = this.app.state.collapse;
    return c === null || c === undefined ? this.layerCount() > FOLD_AUTO : c;
  }

  /** Shows an error in place of the run (keeping nothing stale). */
  showError(text) {
    this.destroyComponents();
    this.structure = null;
    this.element.replaceChildren(views.errorBanner(text,
        "The run may have been removed, or TensorBoard is still loading " +
        "it. The tab retries on its own.", () => this.app.refresh()));
  }

  /**
   * New data: runData (decoded /run) and heatmaps ({signal: decoded
   * /heatmap or {error}}), either for the whole run or for the zoomed
   * range. Rebuilds only when what is shown changes shape.
   */
  show(runData, heatmaps, zoom) {
    this.data = runData;
    const structure = JSON.stringify([
      STEP_CHARTS.map((c) => Boolean(runData.stepSeries[c.key])),
      HEATMAPS.map((h) => {
        const hm = heatmaps[h.signal];
        return !hm ? "none" : hm.error ? "error" :
          hm.available ? (hm.rows.length ? "rows" : "empty") : "none";
      }),
      Object.keys(runData.epochs).sort(),
      Object.keys(runData.facts).length > 0,
      runData.problems,
      Object.entries(runData.signals).map(([k, v]) => [k, v.available]),
    ]);
    const domain = stepDomain(runData.extent);
    if (structure !== this.structure) {
      this.build(runData, heatmaps);
      this.structure = structure;
    }
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
    const app = this.app;
    const width = this.width;
    const parts = [];
    this.statusSlot = views.el("div", "th-status-slot");
    this.alertSlot = views.el("div", "th-alert-slot");
    parts.push(this.statusSlot, this.alertSlot);
    if (runData.problems.length) parts.push(views.problemList(runData.problems));
    this.toolbar = views.toolbar({
      filter: app.state.filter, collapse: this.collapseOn(),
    }, {
      onFilter: (text) => app.onFilter(text),
      onCollapse: (on) => app.onCollapse(on),
      onResetZoom: () => this.group.setZoom(null),
    });
    parts.push(this.toolbar);
    const missing = views.missingSignals(runData);

    const chart = (spec, options) => {
      const c = new StepChart({
        id: spec.id, group: options.group || this.group, theme: app.theme,
        logY: spec.logY, height: options.height || 170, width,
        xLabel: options.xLabel || "step", syncKey: `th-${this.run}`,
        formatX: options.formatX,
      });
      this.charts.set(spec.id, c);
      return c;
    };
    for (const spec of STEP_CHARTS) {
      if (!runData.stepSeries[spec.key]) continue;
      const c = chart(spec, {height: spec.id === "learning_rate" ? 120 : 170});
      const node = views.section(spec.title, spec.description, [c.element],
          spec.id);
      this.sections.set(spec.id, node);
      parts.push(node);
    }
    for (const spec of HEATMAPS) {
      const hm = heatmaps[spec.signal];
      if (!hm || (!hm.error && !hm.available)) continue;
      let body;
      if (hm.error) {
        body = [views.message(`Could not load this heatmap: ${hm.error}`,
            "th-error")];
      } else if (!hm.rows.length) {
        body = [views.message("No layers recorded for this signal.")];
      } else {
        const view = new HeatmapView({
          signal: spec.signal, group: this.group, theme: app.theme,
          tooltip: app.tooltip, domain: spec.domain, width,
          valueLabel: spec.valueLabel,
          onToggleLayer: (name) => app.onToggleLayer(name),
          onToggleFold: (key) => app.onToggleFold(key),
        });
        this.heatmaps.set(spec.signal, view);
        body = [view.element];
      }
      const node = views.section(spec.title, spec.description, body,
          `heatmap:${spec.signal}`);
      this.sections.set(`heatmap:${spec.signal}`, node);
      parts.push(node);
    }
    const epochKeys = Object.keys(runData.epochs)
        .filter((k) => !k.startsWith("val_"))
        .sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 :
          a.localeCompare(b)));
    if (epochKeys.length) {
      const charts = [];
      for (const key of epochKeys) {
        const steps = epochSteps(runData.epochs[key].steps,
            runData.epochEndStep);
        const id = `epoch_${key}`;
        const c = chart({id, logY: false}, {
          height: 150,
          group: steps ? this.group : new ZoomGroup(),
          xLabel: steps ? "step" : "epoch",
          formatX: (x, i) => this.epochLabel(key, x, i),
        });
        charts.push(views.el("h3", "th-chart-title", key), c.element);
        this.sections.set(id, c.element);
      }
      const node = views.section("Training vs. validation",
          "Per-epoch metrics, their validation counterparts and the gap " +
          "(validation minus training), placed at the step each epoch " +
          "ended.", charts, "epochs");
      parts.push(node);
    }
    if (Object.keys(runData.facts).length) {
      const facts = views.factsTable(runData.facts);
      this.sections.set("facts", facts);
      parts.push(facts);
    }
    if (missing) parts.push(missing);
    this.element.replaceChildren(...parts);
  }

  epochLabel(key, x, i) {
    const series = this.data && this.data.epochs[key];
    if (!series) return `step ${x}`;
    const steps = epochSteps(series.steps, this.data.epochEndStep);
    const epoch = steps ? series.steps[steps.indexOf(x)] : x;
    return steps ? `epoch ${epoch} (step ${x})` : `epoch ${x}`;
  }

  updateHeader(runData) {
    this.statusSlot.replaceChildren(views.statusLine(runData));
    // Rebuilt when any alert changes (a live run's alert grows its step
    // range and message), not only when alerts come or go.
    const signature = JSON.stringify(runData.alerts);
    if (signature !== this.alertSignature) {
      this.alertSignature = signature;
      this.alertSlot.replaceChildren(runData.alerts.length ?
        views.alertList(runData.alerts, this.app.selection.key,
            (alert) => this.app.onSelectAlert(alert)) :
        views.message("No alerts: nothing in the recorded signals " +
            "looks wrong.", "th-no-alerts"));
    }
  }

  feed(runData, heatmaps) {
    const run = this.run;
    const color = this.app.runColor(run);
    for (const spec of STEP_CHARTS) {
      const chart = this.charts.get(spec.id);
      const s = runData.stepSeries[spec.key];
      if (!chart || !s) continue;
      chart.setData({xs: s.steps, series: [{
        label: spec.label, color, values: s.values, min: s.min, max: s.max,
      }]});
    }
    for (const [key, train] of Object.entries(runData.epochs)) {
      const chart = this.charts.get(`epoch_${key}`);
      if (!chart) continue;
      const steps = epochSteps(train.steps, runData.epochEndStep);
      const xs = steps || train.steps;
      const toX = (epochs) => (steps ? epochSteps(epochs,
          runData.epochEndStep) : epochs) || epochs;
      const parts = [{xs, ys: train.values}];
      const series = [{label: key, color: "#0072B2"}];
      const val = runData.epochs[`val_${key}`];
      if (val) {
        parts.push({xs: toX(val.steps), ys: val.values});
        series.push({label: `val_${key}`, color: "#E69F00", dash: [6, 3]});
      }
      const gap = runData.gaps[key];
      if (gap) {
        parts.push({xs: toX(gap.steps), ys: gap.values});
        series.push({label: "gap", color: "#009E73", dash: [2, 3]});
      }
      const aligned = alignSeries(parts);
      chart.setData({xs: aligned.xs, series: series.map((s, i) => ({
        ...s, values: aligned.ys[i],
      }))});
    }
    for (const [signal, view] of this.heatmaps) {
      const hm = heatmaps[signal];
      if (hm && !hm.error && hm.available) view.setData(hm);
    }
    this.applyLayout();
  }

  /** Filter, folding and the highlighted layer, to every heatmap. */
  applyLayout() {
    const app = this.app;
    const layout = {
      filter: app.state.filter,
      collapse: this.collapseOn(),
      flagged: flaggedLayers(this.data ? this.data.alerts : []),
      expanded: app.expanded,
      highlight: app.selection.layer,
    };
    for (const view of this.heatmaps.values()) view.setLayout(layout);
  }

  /** Where an alert's evidence is shown. */
  targetOf(alert) {
    return evidenceTarget(alert,
        (signal, layer) => Boolean(this.heatmaps.get(signal) &&
            this.heatmaps.get(signal).hasRow(layer)),
        (id) => this.sections.has(id));
  }

  /** Markers on charts and heatmaps; the selected alert and layer. */
  applySelection() {
    const app = this.app;
    const alerts = this.data ? this.data.alerts : [];
    const markers = alertMarkers(alerts);
    for (const chart of this.charts.values()) {
      chart.setMarkers(markers, app.selection.key);
    }
    for (const [signal, view] of this.heatmaps) {
      const mine = [];
      alerts.forEach((alert, i) => {
        const target = this.targetOf(alert);
        if (target && target.type === "heatmap" && target.signal === signal) {
          const marker = markers.find((m) => m.key === alertKey(alert));
          if (marker) mine.push({...marker, layer: alert.layer});
        }
      });
      view.setMarkers(mine, app.selection.key);
    }
    if (this.alertSlot) views.markSelectedAlerts(this.alertSlot, app.selection.key);
  }

  /** Scrolls to an alert's evidence and flashes it. */
  reveal(alert) {
    const target = this.targetOf(alert);
    if (!target) return null;
    let node;
    if (target.type === "heatmap") {
      const view = this.heatmaps.get(target.signal);
      node = this.sections.get(`heatmap:${target.signal}`);
      node.scrollIntoView({block: "start"});
      view.revealLayer(target.layer);
    } else {
      node = this.sections.get(target.type === "facts" ? "facts" : target.chart);
      if (node.tagName === "DETAILS") node.open = true;
      node.scrollIntoView({block: "center"});
    }
    node.classList.remove("th-evidence");
    void node.offsetWidth;  // restart the flash
    node.classList.add("th-evidence");
    node.dataset.evidence = alertKey(alert);
    return target;
  }

  /** The layer filter hides `layer`? */
  filtered(layer) {
    return !layerFilter(this.app.state.filter)(layer);
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

export const COMPARE_SIGNALS = [
  ["loss", "Training loss"],
  ["gap", "Validation gap"],
  ["grad_norm", "Global gradient norm"],
];

/** Overlays one global signal of several runs, each in its colour. */
export class CompareView {
  constructor(app, width) {
    this.app = app;
    this.width = width;
    this.group = new ZoomGroup();
    this.chart = null;
    this.signal = null;
    this.body = views.el("div", "th-compare-body");
    this.picker = views.signalPicker(COMPARE_SIGNALS, app.state.signal,
        (signal) => app.onSignal(signal));
    // Losses of runs that diverge span decades: log scales by default,
    // except for the gap, which can be negative.
    this.log = {loss: true, grad_norm: true, gap: false};
    this.logBox = views.el("input", "th-compare-log");
    this.logBox.type = "checkbox";
    this.logBox.addEventListener("change", () => {
      this.log[this.signal] = this.logBox.checked;
      if (this.chart) this.chart.destroy();
      this.chart = null;
      if (this.entries) this.show(this.entries, this.signal);
    });
    const controls = views.el("div", "th-compare-controls", null, [
      this.picker,
      views.el("label", "th-check", null, [
        this.logBox, views.el("span", null, " Log scale"),
      ]),
    ]);
    this.element = views.section("Compare runs",
        "The runs ticked in the list, one colour each. Drag to zoom, " +
        "double-click to zoom out.", [controls, this.body], "compare");
  }

  /** entries: [{run, data (decoded /run)}], in run-list order. */
  show(entries, signal) {
    if (signal !== this.signal && this.chart) {
      this.chart.destroy();
      this.chart = null;
      this.group = new ZoomGroup();
    }
    this.signal = signal;
    this.entries = entries;
    this.logBox.checked = Boolean(this.log[signal]);
    this.logBox.disabled = signal === "gap";
    for (const input of this.picker.querySelectorAll("input")) {
      input.checked = input.value === signal;
    }
    const parts = [];
    const series = [];
    for (const {run, data} of entries) {
      const s = compareSeries(data, signal);
      if (!s) continue;
      parts.push({xs: s.xs, ys: Array.from(s.values)});
      const style = runStyle(this.app.runIndex(run));
      series.push({label: run, color: style.color, dash: style.dash});
    }
    if (!entries.length || !series.length) {
      if (this.chart) {
        this.chart.destroy();
        this.chart = null;
      }
      this.body.replaceChildren(views.message(entries.length ?
        "None of the ticked runs recorded this signal yet." :
        "Tick runs in the list to overlay them here."));
      return;
    }
    const aligned = alignSeries(parts);
    const epochs = signal === "gap";
    if (!this.chart) {
      this.chart = new StepChart({
        id: `compare_${signal}`, group: this.group, theme: this.app.theme,
        logY: Boolean(this.log[signal]), height: 200, width: this.width,
        xLabel: epochs ? "epoch" : "step",
      });
      this.body.replaceChildren(this.chart.element);
    }
    const xs = aligned.xs;
    this.group.setDomain(stepDomain(xs.length ? [xs[0], xs[xs.length - 1]] :
      null));
    this.chart.setData({xs, series: series.map((s, i) => ({
      ...s, values: aligned.ys[i],
    }))});
    this.element.dataset.runs = String(series.length);
  }

  setWidth(width) {
    this.width = width;
    if (this.chart) this.chart.setWidth(width);
  }

  redraw() {
    if (this.chart) this.chart.redraw();
  }
}

/** One run's series for the comparison: {xs, values} or null. */
export function compareSeries(data, signal) {
  if (!data) return null;
  if (signal === "gap") {
    const key = data.gaps.loss ? "loss" : Object.keys(data.gaps)[0];
    const gap = key ? data.gaps[key] : null;
    return gap && gap.steps.length ? {xs: gap.steps, values: gap.values} : null;
  }
  const key = signal === "grad_norm" ? "grad_norm_global" : "loss";
  const s = data.stepSeries[key];
  return s && s.steps.length ? {xs: s.steps, values: s.values} : null;
}
