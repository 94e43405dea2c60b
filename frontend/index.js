// Entry point of the Train Health tab. TensorBoard loads this module in the
// plugin's iframe (data/plugin_entry.html?name=trainhealth) and calls
// render(). This file holds the page state and the refresh logic; model.js
// fetches, views.js builds the DOM.

import * as model from "./model.js";
import * as views from "./views.js";

const POLL_MS = 30000;

const HEATMAPS = [
  {
    signal: "dead_fraction",
    title: "Dead ReLU fraction",
    description: "Share of a ReLU-like layer's units that output zero for " +
        "every probe sample. 1 (yellow) means the layer is dead.",
    domain: [0, 1],
  },
  {
    signal: "saturation",
    title: "Saturation",
    description: "Share of a sigmoid/tanh-like layer's outputs in the flat " +
        "tails, where gradients vanish.",
    domain: [0, 1],
  },
  {
    signal: "grad_norm",
    title: "Gradient norm per layer",
    description: "Norm of each layer's gradient (all its variables), log " +
        "colour scale. Dark rows get almost no gradient (vanishing); " +
        "bright ones very large gradients (exploding).",
  },
  {
    signal: "update_ratio",
    title: "Update ratio per layer",
    description: "Size of each step's weight change relative to the " +
        "weights (||ΔW|| / ||W||), log colour scale; around 1e-3 is typical.",
  },
];

/** Links style.css next to this module; no inline styles or scripts are
 *  needed, so TensorBoard's content security policy is satisfied. */
function addStylesheet() {
  const href = new URL("./style.css", import.meta.url).href;
  if ([...document.querySelectorAll("link")].some((l) => l.href === href)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.appendChild(link);
}

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

class App {
  constructor(root) {
    this.root = root;
    this.runs = null;
    this.runsProblems = [];
    this.runsSignature = "";
    this.selected = null;
    this.runData = null;
    this.heatmaps = {};
    this.highlight = null;
    this.heatmapViews = [];
    this.error = null;
    this.generation = 0;
    this.tensorBoardChannel = null;
    this.drawnSignature = null;
  }

  start() {
    this.refresh();
    this.tensorBoardChannel = listenForReloads(() => this.refresh());
    setInterval(() => {
      if (document.visibilityState !== "hidden") this.refresh();
    }, POLL_MS);
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => this.draw(), 200);
    });
  }

  /** Reloads the run list and the selected run, keeping the selection. */
  async refresh() {
    const generation = ++this.generation;
    try {
      const runs = await model.fetchRuns();
      if (generation !== this.generation) return;
      this.runs = runs.runs;
      this.runsProblems = runs.problems;
      this.runsSignature = runs.signature;
      const names = this.runs.map((r) => r.run);
      if (!names.includes(this.selected)) {
        this.selected = names.length ? names[0] : null;
        this.highlight = null;
      }
      await this.loadRun(generation);
    } catch (e) {
      if (generation !== this.generation) return;
      this.error = `Could not load data: ${e.message}`;
      this.draw();
    }
  }

  async select(run) {
    this.selected = run;
    this.highlight = null;
    this.runData = null;
    this.heatmaps = {};
    this.draw();
    const generation = ++this.generation;
    try {
      await this.loadRun(generation);
    } catch (e) {
      if (generation !== this.generation) return;
      this.error = `Could not load run: ${e.message}`;
      this.draw();
    }
  }

  async loadRun(generation) {
    if (this.selected === null) {
      this.runData = null;
      this.heatmaps = {};
      this.error = null;
      this.draw();
      return;
    }
    const run = this.selected;
    const maxSteps = this.maxSteps();
    const [runData, ...heatmaps] = await Promise.all([
      model.fetchRun(run),
      ...HEATMAPS.map((h) => model.fetchHeatmap(run, h.signal, maxSteps)
          .catch((e) => ({error: e.message, signature: e.message}))),
    ]);
    if (generation !== this.generation) return;
    const signature = [this.runsSignature, run, runData.signature,
      ...heatmaps.map((h) => h.signature)].join("|");
    if (signature === this.drawnSignature && this.error === null) {
      return;  // nothing changed: keep the page as the user left it
    }
    this.runData = runData;
    this.heatmaps = {};
    HEATMAPS.forEach((h, i) => {
      this.heatmaps[h.signal] = heatmaps[i];
    });
    this.error = null;
    this.draw();
    this.drawnSignature = signature;
  }

  /** Heatmap columns worth fetching: about one per CSS pixel. */
  maxSteps() {
    const width = this.contentWidth() - 200;
    return Math.max(100, Math.min(2000, Math.round(width)));
  }

  contentWidth() {
    return Math.max(360, Math.min(1400, this.root.clientWidth || 900) - 32);
  }

  /** Highlights a layer's heatmap rows; the same layer again clears. */
  toggleHighlight(layer) {
    this.highlight = this.highlight === layer ? null : layer;
    for (const view of this.heatmapViews) view.setHighlight(this.highlight);
    const box = this.root.querySelector(".th-alert-box");
    if (box) views.markSelectedAlerts(box, this.highlight);
    const row = this.root.querySelector(".th-heatmap-label.th-highlight");
    if (row) row.scrollIntoView({block: "nearest", behavior: "smooth"});
  }

  draw() {
    this.drawnSignature = null;
    const width = this.contentWidth();
    // Folded sections the user opened stay open across redraws.
    const open = new Set([...this.root.querySelectorAll("details[open]")]
        .map((d) => d.className));
    const parts = [views.header()];
    if (this.error) parts.push(views.message(this.error, "th-error"));
    if (this.runs === null) {
      parts.push(views.message("Loading…"));
    } else if (this.runs.length === 0) {
      parts.push(views.howTo());
      if (this.runsProblems.length) parts.push(views.problemList(this.runsProblems));
    } else {
      parts[0].appendChild(views.runPicker(this.runs, this.selected,
          (run) => this.select(run)));
      parts.push(...this.drawRun(width));
    }
    this.root.replaceChildren(...parts);
    for (const details of this.root.querySelectorAll("details")) {
      if (open.has(details.className)) details.open = true;
    }
  }

  drawRun(width) {
    const data = this.runData;
    this.heatmapViews = [];
    if (!data) return [views.message("Loading run…")];
    const parts = [views.statusLine(data)];
    if (data.alerts.length) {
      parts.push(views.alertList(data.alerts, this.highlight,
          (layer) => this.toggleHighlight(layer)));
    }
    if (data.problems.length) parts.push(views.problemList(data.problems));

    const gradNorm = data.stepSeries.grad_norm_global;
    if (gradNorm) {
      parts.push(views.section("Global gradient norm",
          "Norm of the whole gradient at each recorded step (log scale).",
          [views.lineChart([{
            label: "gradient norm", xs: gradNorm.steps, values: gradNorm.values,
            color: views.COLORS.blue,
          }], {width, height: 200, logY: true, xLabel: "step"})]));
    }

    for (const spec of HEATMAPS) {
      const hm = this.heatmaps[spec.signal];
      if (!hm || (!hm.error && !hm.available)) continue;
      let body;
      if (hm.error) {
        body = [views.message(hm.error, "th-error")];
      } else if (!hm.rows.length) {
        body = [views.message("No layers recorded for this signal.")];
      } else {
        const view = views.heatmap(hm, {width, domain: spec.domain});
        view.setHighlight(this.highlight);
        this.heatmapViews.push(view);
        body = [view.element];
      }
      parts.push(views.section(spec.title, spec.description, body));
    }

    const lossCharts = this.epochCharts(width);
    if (lossCharts.length) {
      parts.push(views.section("Training vs. validation",
          "Per-epoch metrics and their gap (validation minus training).",
          lossCharts));
    }
    const loss = data.stepSeries.loss;
    if (loss) {
      parts.push(views.section("Loss per step", null, [views.lineChart([{
        label: "loss", xs: loss.steps, values: loss.values,
        color: views.COLORS.blue,
      }], {width, height: 160, xLabel: "step"})]));
    }
    if (Object.keys(data.facts).length) parts.push(views.factsTable(data.facts));
    return parts;
  }

  epochCharts(width) {
    const data = this.runData;
    const keys = Object.keys(data.epochs).filter((k) => !k.startsWith("val_"));
    keys.sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)));
    const charts = [];
    for (const key of keys) {
      const train = data.epochs[key];
      const val = data.epochs[`val_${key}`];
      const gap = data.gaps[key];
      const series = [{label: key, xs: train.steps, values: train.values,
        color: views.COLORS.blue}];
      if (val) {
        series.push({label: `val_${key}`, xs: val.steps, values: val.values,
          color: views.COLORS.orange, dash: [6, 3]});
      }
      if (gap) {
        series.push({label: "gap", xs: gap.steps, values: gap.values,
          color: views.COLORS.green, dash: [2, 3]});
      }
      charts.push(views.el("h3", "th-chart-title", key));
      charts.push(views.lineChart(series, {width, height: 180, xLabel: "epoch"}));
    }
    return charts;
  }
}

/** Called by TensorBoard's plugin host once the module is imported. */
export function render() {
  addStylesheet();
  const root = document.createElement("div");
  root.className = "th-root";
  document.body.appendChild(root);
  const app = new App(root);
  app.draw();
  app.start();
  return app;
}
