// The panels of the Train Health tab around its charts: the page header,
// the empty state, the run's status line and alert list, the toolbar
// (layer filter, folding, zoom), the comparison's signal picker and the
// list of what a run did not record. Each takes data and handler
// functions; none fetches or keeps state.

import {alertCounts, alertKey, isResolved} from "./alerts.js";
import {button, debounce, el} from "./dom.js";
import {formatSteps, plural} from "./format.js";

export function header() {
  const live = el("span", "th-live", "");
  live.setAttribute("role", "status");
  return el("header", "th-header", null, [
    el("h1", "th-title", "Train Health"), live,
  ]);
}

/** The empty state: the three lines that add training-health data. */
export function howTo() {
  const code = [
    "pip install tensorboard-plugin-trainhealth",
    "",
    "from tensorboard_plugin_trainhealth import TrainHealthCallback",
    "model.fit(x, y, validation_data=(x_val, y_val), epochs=20,",
    "          callbacks=[TrainHealthCallback(\"logs/run1\")])",
    "",
    "tensorboard --logdir logs",
  ].join("\n");
  return el("section", "th-howto", null, [
    el("h2", null, "No training-health data in this logdir yet"),
    el("p", null, "Install the plugin, add its callback to model.fit and " +
        "point TensorBoard at the same directory:"),
    el("pre", "th-code", code),
    el("p", null, "The tab picks the runs up on TensorBoard's next reload " +
        "and updates while they train."),
  ]);
}

/** "ok  run: 1 critical, 2 warning · 1 resolved" (· preliminary). */
export function statusLine(runData) {
  const {counts, resolved} = alertCounts(runData.alerts);
  const parts = [...counts].filter(([, n]) => n).map(([s, n]) => `${n} ${s}`);
  let detail = parts.length ? parts.join(", ") : "no active alerts";
  if (!runData.alerts.length) detail = "no alerts";
  if (resolved) detail += ` · ${resolved} resolved`;
  const status = String(runData.status);
  const children = [
    el("span", "th-badge", status),
    el("span", "th-status-text", ` ${runData.run}: ${detail}`),
  ];
  if (runData.preliminary) {
    children.push(el("span", "th-preliminary",
        " · preliminary: from a sample of the records while the whole " +
        "run is read"));
  }
  return el("p", `th-status th-status-${status}`, null, children);
}

const ALERTS_SHOWN = 6;

/** "resolved at step 40 · recovered", or null for an active alert. */
function resolvedText(alert) {
  if (!isResolved(alert)) return null;
  return `resolved at step ${alert.resolved_step}` +
      (alert.recovered ? " · recovered" : "");
}

/** What a primary alert explains, folded inside it: each consequence's
 *  message (their advice is the primary alert's). */
function consequenceList(alert) {
  if (!alert.consequences.length) return null;
  const items = alert.consequences.map((c) => el("li", "th-consequence",
      null, [
        el("span", "th-alert-kind", c.kind),
        c.layer ? el("span", "th-alert-layer", c.layer) : null,
        c.first_step !== null ?
          el("span", "th-alert-steps", formatSteps(c.first_step)) : null,
        c.message ? el("span", "th-consequence-message", c.message) : null,
      ]));
  const details = el("details", "th-consequences", null, [
    el("summary", null, `Explains ${plural(items.length, "further finding")}`),
    el("ul", null, null, items),
  ]);
  // Opening the fold is not choosing the alert.
  const keep = (event) => event.stopPropagation();
  details.addEventListener("click", keep);
  details.addEventListener("keydown", keep);
  return details;
}

function alertItem(alert, onSelect) {
  const steps = formatSteps(alert.first_step, alert.last_step);
  const resolved = resolvedText(alert);
  const item = el("li", `th-alert th-severity-${alert.severity}` +
      (resolved ? " th-resolved" : ""), null, [
    el("div", "th-alert-head", null, [
      el("span", "th-badge", alert.severity),
      el("span", "th-alert-kind", alert.kind),
      alert.layer ? el("span", "th-alert-layer", alert.layer) : null,
      steps ? el("span", "th-alert-steps", steps) : null,
      resolved ? el("span", "th-alert-resolved", resolved) : null,
    ]),
    alert.message ? el("p", "th-alert-message", alert.message) : null,
    alert.advice ? el("p", "th-alert-advice", alert.advice) : null,
    consequenceList(alert),
  ]);
  item.dataset.key = alertKey(alert);
  if (alert.layer) item.dataset.layer = alert.layer;
  item.tabIndex = 0;
  item.setAttribute("role", "button");
  item.title = "Show the evidence";
  item.addEventListener("click", () => onSelect(alert));
  item.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(alert);
    }
  });
  return item;
}

/**
 * The alert list (alerts in the order shown: active, then resolved). Each
 * alert is a button (click, Enter or Space): onSelect(alert) shows its
 * evidence; the first few are shown, the rest folded.
 */
export function alertList(alerts, selectedKey, onSelect) {
  const items = alerts.map((alert) => alertItem(alert, onSelect));
  const list = el("ul", "th-alerts", null, items.slice(0, ALERTS_SHOWN));
  list.setAttribute("aria-label", "Alerts");
  const box = el("div", "th-alert-box", null, [list]);
  if (items.length > ALERTS_SHOWN) {
    box.appendChild(el("details", "th-more-alerts", null, [
      el("summary", null, `${items.length - ALERTS_SHOWN} more alerts`),
      el("ul", "th-alerts", null, items.slice(ALERTS_SHOWN)),
    ]));
  }
  markSelectedAlerts(box, selectedKey);
  return box;
}

/** Marks the alert with `key` as selected (null clears). */
export function markSelectedAlerts(container, key) {
  for (const item of container.querySelectorAll(".th-alert[role=button]")) {
    const on = key !== null && item.dataset.key === key;
    item.classList.toggle("th-selected", on);
    item.setAttribute("aria-pressed", String(on));
    if (on) {
      const details = item.closest("details");
      if (details) details.open = true;
    }
  }
}

/**
 * Layer filter, folding of healthy layers, and the zoom with its reset.
 * handlers: {onFilter(text), onCollapse(bool), onResetZoom()}. The
 * returned element has setZoom(range, domain) and setCollapse(on).
 */
export function toolbar(state, handlers) {
  const filter = el("input", "th-filter");
  filter.type = "search";
  filter.placeholder = "Filter layers (regex)";
  filter.setAttribute("aria-label", "Filter layers by name");
  filter.value = state.filter || "";
  const onFilter = debounce(() => handlers.onFilter(filter.value), 150);
  filter.addEventListener("input", () => onFilter());
  const collapse = el("input", "th-collapse");
  collapse.type = "checkbox";
  collapse.id = "th-collapse";
  collapse.checked = Boolean(state.collapse);
  collapse.addEventListener("change",
      () => handlers.onCollapse(collapse.checked));
  const zoom = el("span", "th-zoom-label", "");
  const reset = button("th-button th-reset-zoom", "Reset zoom",
      handlers.onResetZoom);
  const bar = el("div", "th-toolbar", null, [
    filter,
    el("label", "th-check", null, [
      collapse, el("span", null, " Fold healthy layers"),
    ]),
    el("span", "th-zoom", null, [zoom, reset]),
    el("span", "th-hint", "Drag across a chart or heatmap to zoom; " +
        "double-click to zoom out."),
  ]);
  bar.setZoom = (range, domain) => {
    zoom.textContent = range ? `steps ${Math.round(range[0])}–` +
      `${Math.round(range[1])} of ${domain[0]}–${domain[1]}` : "all steps";
    reset.disabled = !range;
  };
  bar.setCollapse = (on) => {
    collapse.checked = Boolean(on);
  };
  bar.setFilter = (text) => {
    filter.value = text;
  };
  return bar;
}

/** Radio buttons choosing the comparison's signal: options [{key,
 *  title}]. */
export function signalPicker(options, selected, onChange) {
  const group = el("div", "th-signal-picker");
  group.setAttribute("role", "radiogroup");
  group.setAttribute("aria-label", "Signal to compare");
  for (const {key, title} of options) {
    const input = el("input");
    input.type = "radio";
    input.name = "th-signal";
    input.value = key;
    input.checked = key === selected;
    input.addEventListener("change", () => {
      if (input.checked) onChange(key);
    });
    group.appendChild(el("label", "th-radio", null, [
      input, el("span", null, ` ${title}`),
    ]));
  }
  return group;
}

/** What a partial run lacks, and why it may be so; null when nothing. */
export function missingSignals(runData, catalogue) {
  const why = new Map(catalogue.heatmaps.map((h) => [h.key, h.missing]));
  const missing = [...runData.signals]
      .filter(([, info]) => !info.available)
      .map(([signal]) => why.get(signal) || signal);
  if (!runData.stepSeries.size) {
    missing.push("step series (no records yet: the first one comes at " +
        "the first cadence step)");
  }
  if (!runData.epochs.size) {
    missing.push("epoch metrics (written when an epoch ends)");
  }
  if (!missing.length) return null;
  return el("div", "th-missing", null, [
    el("p", "th-message", "Not recorded in this run (yet):"),
    el("ul", null, null, missing.map((text) => el("li", null, text))),
  ]);
}
