// DOM building for the Train Health tab. Data arrives already decoded by
// model.js; nothing here fetches. Every piece of recorded text (run names,
// layer names, advice) goes into the page through textContent, attributes
// or canvas text, never through HTML parsing.

import {alertKey, formatSteps} from "./chartdata.js";
import {runStyle} from "./colors.js";

/** createElement with a class and text; children appended in order. */
export function el(tag, className, text, children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const child of children || []) {
    if (child) node.appendChild(child);
  }
  return node;
}

// ---------------------------------------------------------------- page

export function header() {
  const live = el("span", "th-live", "");
  live.setAttribute("role", "status");
  return el("header", "th-header", null, [
    el("h1", "th-title", "Train Health"), live,
  ]);
}

export function message(text, className) {
  return el("p", `th-message ${className || ""}`, text);
}

/** An error with what to do about it, and a retry button. */
export function errorBanner(text, hint, onRetry) {
  const retry = el("button", "th-button", "Retry now");
  retry.type = "button";
  retry.addEventListener("click", onRetry);
  const box = el("div", "th-error-box", null, [
    el("p", "th-error", text),
    hint ? el("p", "th-message", hint) : null,
    retry,
  ]);
  box.setAttribute("role", "alert");
  return box;
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

/** A floating tooltip (one per page): show(lines, clientX, clientY). */
export function createTooltip() {
  const node = el("div", "th-tooltip");
  node.setAttribute("role", "tooltip");
  node.hidden = true;
  return {
    element: node,
    show(lines, x, y) {
      node.textContent = lines.join("\n");
      node.hidden = false;
      const pad = 14;
      const w = node.offsetWidth;
      const h = node.offsetHeight;
      const left = x + pad + w > window.innerWidth ? x - pad - w : x + pad;
      const top = y + pad + h > window.innerHeight ? y - pad - h : y + pad;
      node.style.left = `${Math.max(0, left)}px`;
      node.style.top = `${Math.max(0, top)}px`;
    },
    hide() {
      node.hidden = true;
    },
  };
}

// ---------------------------------------------------------------- runs

/**
 * The run picker's frame, built once: title, "compare all / none", the
 * search box, a count line, the slot for the list (setList) and a "show
 * more" button. Only the slot and the count change as runs arrive or the
 * search changes, so typing keeps its focus and caret.
 * handlers: {onSearch(text), onMore(), onCompareAll(bool)}.
 * The returned element has setList(listNode), setCount(text) and
 * setMore(n) (n: how many "show more" adds; 0 hides it).
 */
export function runPicker(query, handlers) {
  const all = el("button", "th-link", "all");
  all.type = "button";
  all.title = "Compare every run shown in the list";
  all.addEventListener("click", () => handlers.onCompareAll(true));
  const none = el("button", "th-link", "none");
  none.type = "button";
  none.addEventListener("click", () => handlers.onCompareAll(false));
  const search = el("input", "th-run-search");
  search.type = "search";
  search.id = "th-run-search";
  search.placeholder = "Part of a run's name";
  search.autocomplete = "off";
  search.spellcheck = false;
  search.value = query || "";
  const label = el("label", "th-run-search-label", "Search runs");
  label.htmlFor = search.id;
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => handlers.onSearch(search.value), 150);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      clearTimeout(timer);
      handlers.onSearch(search.value);
    }
    if (event.key === "ArrowDown") {
      // On to the list: the first run shown.
      const first = nav.querySelector(".th-run-name");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });
  const count = el("p", "th-run-count", "");
  count.setAttribute("role", "status");
  const slot = el("div", "th-run-slot");
  const more = el("button", "th-button th-more-runs", "");
  more.type = "button";
  more.hidden = true;
  more.addEventListener("click", () => handlers.onMore());
  const nav = el("nav", "th-runs", null, [
    el("h2", "th-runs-title", "Runs"),
    el("p", "th-hint", null, [
      el("span", null, "Tick runs to compare them; compare "),
      all, el("span", null, " / "), none,
    ]),
    el("div", "th-run-search-box", null, [label, search]),
    count,
    slot,
    more,
  ]);
  nav.setAttribute("aria-label", "Run picker");
  nav.searchInput = search;
  nav.setList = (list) => slot.replaceChildren(list);
  nav.setCount = (text) => {
    if (count.textContent !== text) count.textContent = text;
  };
  nav.setMore = (n) => {
    more.hidden = !n;
    more.textContent = n ? `Show ${n} more` : "";
  };
  return nav;
}

const STATUS_TITLES = {
  pending: "Not diagnosed yet: the tab asks again in a moment",
  unknown: "The run could not be read or diagnosed",
};

/**
 * The list of runs shown: per run a checkbox (overlay it in the
 * comparison) and a button (show its details), with its colour, status and
 * alert count. Arrow keys move between runs, Home/End to the ends.
 * handlers: {onShow(run), onCompare(run, checked), colorIndex(run)} (the
 * colour is the run's place among all runs, not among those shown).
 */
export function runList(runs, detailRun, compared, handlers) {
  const list = el("ul", "th-run-list");
  list.setAttribute("aria-label", "Runs");
  runs.forEach((entry, index) => {
    const style = runStyle(handlers.colorIndex ?
      handlers.colorIndex(entry.run) : index);
    const check = el("input", "th-compare");
    check.type = "checkbox";
    check.checked = compared.has(entry.run);
    check.setAttribute("aria-label", `Compare ${entry.run}`);
    check.style.accentColor = style.color;
    check.addEventListener("change", () =>
      handlers.onCompare(entry.run, check.checked));
    const swatch = el("span", "th-run-swatch");
    swatch.style.borderTopColor = style.color;
    if (style.dash.length) swatch.style.borderTopStyle = "dashed";
    const name = el("button", "th-run-name", entry.run);
    name.type = "button";
    name.title = `Show the details of ${entry.run}`;
    name.setAttribute("aria-pressed", String(entry.run === detailRun));
    name.addEventListener("click", () => handlers.onShow(entry.run));
    const alerts = entry.alert_count ?
      `${entry.alert_count} alert${entry.alert_count === 1 ? "" : "s"}` : "";
    const badge = el("span", `th-badge th-badge-${entry.status}`,
        entry.status);
    if (STATUS_TITLES[entry.status]) badge.title = STATUS_TITLES[entry.status];
    const item = el("li", `th-run-item th-run-${entry.status}`, null, [
      check, swatch, name,
      el("span", "th-run-meta", null, [
        badge,
        alerts ? el("span", "th-run-alerts", alerts) : null,
      ]),
    ]);
    item.dataset.run = entry.run;
    if (entry.run === detailRun) item.classList.add("th-current");
    list.appendChild(item);
  });
  list.addEventListener("keydown", (event) => {
    const keys = ["ArrowDown", "ArrowUp", "Home", "End"];
    if (!keys.includes(event.key)) return;
    const target = event.target;
    const cls = target.classList.contains("th-compare") ? ".th-compare" :
      target.classList.contains("th-run-name") ? ".th-run-name" : null;
    if (!cls) return;
    const all = [...list.querySelectorAll(cls)];
    const at = all.indexOf(target);
    let next = at;
    if (event.key === "ArrowDown") next = Math.min(all.length - 1, at + 1);
    if (event.key === "ArrowUp") next = Math.max(0, at - 1);
    if (event.key === "Home") next = 0;
    if (event.key === "End") next = all.length - 1;
    event.preventDefault();
    all[next].focus();
  });
  return list;
}

// ---------------------------------------------------------------- alerts

export function statusLine(runData) {
  const counts = {};
  for (const alert of runData.alerts) {
    counts[alert.severity] = (counts[alert.severity] || 0) + 1;
  }
  const parts = ["critical", "warning", "info"]
      .filter((s) => counts[s])
      .map((s) => `${counts[s]} ${s}`);
  const detail = parts.length ? parts.join(", ") : "no alerts";
  const children = [
    el("span", "th-badge", runData.status),
    el("span", "th-status-text", ` ${runData.run}: ${detail}`),
  ];
  if (runData.preliminary) {
    children.push(el("span", "th-preliminary",
        " · preliminary: from a sample of the records while the whole " +
        "run is read"));
  }
  return el("p", `th-status th-status-${runData.status}`, null, children);
}

const ALERTS_SHOWN = 6;

/**
 * The alert list. Each alert is a button (click, Enter or Space):
 * onSelect(alert) shows its evidence; the first few are shown, the rest
 * folded.
 */
export function alertList(alerts, selectedKey, onSelect) {
  const list = el("ul", "th-alerts");
  list.setAttribute("aria-label", "Alerts");
  const more = el("ul", "th-alerts");
  alerts.forEach((alert, i) => {
    const steps = formatSteps(alert.first_step, alert.last_step);
    const item = el("li", `th-alert th-severity-${alert.severity}`, null, [
      el("div", "th-alert-head", null, [
        el("span", "th-badge", alert.severity),
        el("span", "th-alert-kind", alert.kind),
        alert.layer ? el("span", "th-alert-layer", alert.layer) : null,
        steps ? el("span", "th-alert-steps", steps) : null,
      ]),
      alert.message ? el("p", "th-alert-message", alert.message) : null,
      alert.advice ? el("p", "th-alert-advice", alert.advice) : null,
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
    (i < ALERTS_SHOWN ? list : more).appendChild(item);
  });
  const box = el("div", "th-alert-box", null, [list]);
  if (more.children.length) {
    box.appendChild(el("details", "th-more-alerts", null, [
      el("summary", null, `${more.children.length} more alerts`), more,
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

export function problemList(problems) {
  const list = el("ul", "th-problems");
  for (const problem of problems) list.appendChild(el("li", null, problem));
  return el("details", "th-problems-box", null, [
    el("summary", null, `${problems.length} problem(s) reading this run`),
    list,
  ]);
}

export function factsTable(facts) {
  const table = el("table", "th-facts");
  for (const [key, value] of Object.entries(facts)) {
    const shown = typeof value === "object" && value !== null ?
        JSON.stringify(value) : String(value);
    table.appendChild(el("tr", null, null, [
      el("th", null, key), el("td", null, shown),
    ]));
  }
  const box = el("details", "th-facts-box", null, [
    el("summary", null, "Run facts (model, loss, input statistics)"), table,
  ]);
  box.dataset.chart = "facts";
  return box;
}

export function section(title, description, children, id) {
  const node = el("section", "th-section", null, [
    el("h2", null, title),
    description ? el("p", "th-description", description) : null,
    ...children,
  ]);
  if (id) node.dataset.section = id;
  return node;
}

// ---------------------------------------------------------------- controls

/**
 * Layer filter, folding of healthy layers, and the zoom with its reset.
 * handlers: {onFilter(text), onCollapse(bool), onResetZoom()}.
 */
export function toolbar(state, handlers) {
  const filter = el("input", "th-filter");
  filter.type = "search";
  filter.placeholder = "Filter layers (regex)";
  filter.setAttribute("aria-label", "Filter layers by name");
  filter.value = state.filter || "";
  let timer = null;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => handlers.onFilter(filter.value), 150);
  });
  const collapse = el("input", "th-collapse");
  collapse.type = "checkbox";
  collapse.id = "th-collapse";
  collapse.checked = Boolean(state.collapse);
  collapse.addEventListener("change", () => handlers.onCollapse(collapse.checked));
  const collapseLabel = el("label", "th-check", null, [
    collapse, el("span", null, " Fold healthy layers"),
  ]);
  const zoom = el("span", "th-zoom-label", "");
  const reset = el("button", "th-button th-reset-zoom", "Reset zoom");
  reset.type = "button";
  reset.addEventListener("click", handlers.onResetZoom);
  const bar = el("div", "th-toolbar", null, [
    filter, collapseLabel,
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
  return bar;
}

/** Radio buttons choosing the comparison's signal. */
export function signalPicker(options, selected, onChange) {
  const group = el("div", "th-signal-picker");
  group.setAttribute("role", "radiogroup");
  group.setAttribute("aria-label", "Signal to compare");
  for (const [value, label] of options) {
    const input = el("input");
    input.type = "radio";
    input.name = "th-signal";
    input.value = value;
    input.checked = value === selected;
    input.addEventListener("change", () => {
      if (input.checked) onChange(value);
    });
    group.appendChild(el("label", "th-radio", null, [
      input, el("span", null, ` ${label}`),
    ]));
  }
  return group;
}

const SIGNAL_NAMES = {
  dead_fraction: "dead-ReLU fraction (no ReLU-family layers in the model)",
  saturation: "saturation (no sigmoid, tanh or softmax layers)",
  grad_norm: "gradient norms (the optimizer's step was not visible: see " +
      "the README on JAX and custom loops)",
  update_ratio: "update ratios",
};

/** What a partial run lacks, and why it may be so. */
export function missingSignals(runData) {
  const missing = Object.entries(runData.signals || {})
      .filter(([, info]) => !info.available)
      .map(([signal]) => SIGNAL_NAMES[signal] || signal);
  const noSteps = !Object.keys(runData.stepSeries).length;
  const noEpochs = !Object.keys(runData.epochs).length;
  if (noSteps) missing.push("step series (no records yet: the first one " +
      "comes at the first cadence step)");
  if (noEpochs) missing.push("epoch metrics (written when an epoch ends)");
  if (!missing.length) return null;
  return el("div", "th-missing", null, [
    el("p", "th-message", "Not recorded in this run (yet):"),
    el("ul", null, null, missing.map((text) => el("li", null, text))),
  ]);
}
