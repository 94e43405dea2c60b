// The comparison of runs: one signal of the catalogue's compare list,
// overlaid for the runs ticked in the run list, each in its colour, on a
// log or linear scale. A per-epoch signal (the validation gap) is drawn
// at the steps its epochs ended, on the same axis as the others, when
// every run shown has them; else on an epoch axis, labelled so.

import {StepChart} from "./charts.js";
import {
  ZoomGroup, alignSeries, compareSeries, stepDomain,
} from "./chartdata.js";
import {compareEntry} from "./catalogue.js";
import {runStyle} from "./colors.js";
import {el, message, section} from "./dom.js";
import {signalPicker} from "./panels.js";

/** The x axis the compared series share: "step" when each has steps. */
function sharedAxis(found) {
  return found.every(({s}) => s.steps) ? "step" : "epoch";
}

/**
 * options: {catalogue, width, theme, signal (a compare key), onSignal(key),
 * runIndex(run) (the run's place in the run list, for its colour)}.
 */
export class CompareView {
  constructor(options) {
    this.options = options;
    this.catalogue = options.catalogue;
    this.width = options.width;
    this.group = new ZoomGroup();
    this.chart = null;
    this.chartKey = null;
    this.entry = compareEntry(this.catalogue, options.signal);
    this.entries = null;
    this.body = el("div", "th-compare-body");
    this.picker = signalPicker(this.catalogue.compare,
        this.entry && this.entry.key, (key) => options.onSignal(key));
    // Losses of runs that diverge span decades: log scales by default,
    // except where values can be negative (the gap, on an epoch axis).
    this.log = new Map(this.catalogue.compare.map((c) =>
      [c.key, c.source !== "gaps"]));
    this.logBox = el("input", "th-compare-log");
    this.logBox.type = "checkbox";
    this.logBox.addEventListener("change", () => {
      this.log.set(this.entry.key, this.logBox.checked);
      this.dropChart();
      if (this.entries) this.show(this.entries, this.entry.key);
    });
    const controls = el("div", "th-compare-controls", null, [
      this.picker,
      el("label", "th-check", null, [
        this.logBox, el("span", null, " Log scale"),
      ]),
    ]);
    this.element = section("Compare runs",
        "The runs ticked in the list, one colour each. Drag to zoom, " +
        "double-click to zoom out.", [controls, this.body], "compare");
  }

  dropChart() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
    this.chartKey = null;
  }

  /** entries: [{run, data (decoded /run)}], in run-list order; signal: a
   *  compare key (an unknown one shows the first). */
  show(entries, signal) {
    const entry = compareEntry(this.catalogue, signal);
    this.entries = entries;
    if (!entry) {
      this.body.replaceChildren(message("This server compares no signals."));
      return;
    }
    if (!this.entry || entry.key !== this.entry.key) {
      this.dropChart();
      this.group = new ZoomGroup();
    }
    this.entry = entry;
    this.logBox.checked = Boolean(this.log.get(entry.key));
    this.logBox.disabled = entry.source === "gaps";
    for (const input of this.picker.querySelectorAll("input")) {
      input.checked = input.value === entry.key;
    }
    const found = entries.map(({run, data}) =>
      ({run, s: compareSeries(data, entry)})).filter(({s}) => s);
    if (!found.length) {
      this.dropChart();
      this.body.replaceChildren(message(entries.length ?
        "None of the ticked runs recorded this signal yet." :
        "Tick runs in the list to overlay them here."));
      return;
    }
    this.draw(entry, found);
  }

  draw(entry, found) {
    const axis = sharedAxis(found);
    const aligned = alignSeries(found.map(({s}) => ({
      xs: axis === "step" ? s.steps : s.epochs, ys: Array.from(s.values),
    })));
    const chartKey = `${entry.key}|${axis}`;
    if (chartKey !== this.chartKey) {
      this.dropChart();
      this.chart = new StepChart({
        id: `compare_${entry.key}`, group: this.group,
        theme: this.options.theme, logY: Boolean(this.log.get(entry.key)),
        height: 200, width: this.width, xLabel: axis,
      });
      this.chartKey = chartKey;
      this.body.replaceChildren(this.chart.element);
    }
    const xs = aligned.xs;
    this.group.setDomain(stepDomain(xs.length ? [xs[0], xs[xs.length - 1]] :
      null));
    this.chart.setData({xs, series: found.map(({run}, i) => {
      const style = runStyle(this.options.runIndex(run));
      return {label: run, color: style.color, dash: style.dash,
        values: aligned.ys[i]};
    })});
    this.element.dataset.runs = String(found.length);
    this.element.dataset.axis = axis;
  }

  setWidth(width) {
    this.width = width;
    if (this.chart) this.chart.setWidth(width);
  }

  redraw() {
    if (this.chart) this.chart.redraw();
  }
}
