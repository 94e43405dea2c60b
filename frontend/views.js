// DOM building for the Train Health tab. Data arrives already decoded by
// model.js; nothing here fetches. Every piece of recorded text (run names,
// layer names, advice) goes into the page through textContent, attributes
// or canvas text, never through HTML parsing.

const VIRIDIS = [
  [68, 1, 84], [72, 36, 117], [65, 68, 135], [53, 95, 141], [42, 120, 142],
  [33, 145, 140], [34, 168, 132], [68, 191, 112], [122, 209, 81],
  [189, 223, 38], [253, 231, 37],
];
// Okabe-Ito colours: distinguishable with the common colour-vision
// deficiencies, and none of them is on the viridis ramp.
export const COLORS = {
  blue: "#0072B2",
  orange: "#E69F00",
  green: "#009E73",
  purple: "#CC79A7",
  nonFinite: "#D55E00",
};
const NON_FINITE_RGB = [213, 94, 0];

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

export function formatNumber(v) {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(4)));
}

function formatSteps(first, last) {
  if (first === null || first === undefined) return "";
  if (last === null || last === undefined || last === first) {
    return `step ${first}`;
  }
  return `steps ${first}–${last}`;
}

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement)
      .getPropertyValue(name).trim();
  return value || fallback;
}

/** A canvas sized for CSS pixels, drawn at device resolution. */
function hiDpiCanvas(width, height, className) {
  const canvas = el("canvas", className);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  return {canvas, ctx};
}

export function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f));
}

// ---------------------------------------------------------------- header

export function header() {
  return el("header", "th-header", null, [
    el("h1", "th-title", "Train Health"),
  ]);
}

/** The run picker: one option per run, labelled with its status. */
export function runPicker(runs, selected, onChange) {
  const select = el("select", "th-run-picker");
  select.id = "th-run-picker";
  select.setAttribute("aria-label", "Run");
  for (const entry of runs) {
    const alerts = entry.alert_count ? `, ${entry.alert_count} alerts` : "";
    const option = el("option", null, `${entry.run} — ${entry.status}${alerts}`);
    option.value = entry.run;
    option.dataset.status = entry.status;
    option.selected = entry.run === selected;
    select.appendChild(option);
  }
  select.addEventListener("change", () => onChange(select.value));
  const label = el("label", "th-run-label", "Run ");
  label.htmlFor = select.id;
  return el("div", "th-picker", null, [label, select]);
}

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
    el("p", null, "Add the callback to model.fit and point TensorBoard at " +
        "the same directory:"),
    el("pre", "th-code", code),
    el("p", null, "The tab updates as the training writes."),
  ]);
}

export function message(text, className) {
  return el("p", `th-message ${className || ""}`, text);
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
  const line = el("p", `th-status th-status-${runData.status}`, null, [
    el("span", "th-badge", runData.status),
    el("span", "th-status-text", ` ${runData.run}: ${detail}`),
  ]);
  line.setAttribute("role", "status");
  return line;
}

const ALERTS_SHOWN = 5;

/** The alert list. Activating an alert with a layer calls
 *  onToggle(layer); the first few alerts are shown, the rest folded. */
export function alertList(alerts, highlighted, onToggle) {
  const list = el("ul", "th-alerts");
  const more = el("ul", "th-alerts");
  alerts.forEach((alert, i) => {
    const item = el("li", `th-alert th-severity-${alert.severity}`, null, [
      el("div", "th-alert-head", null, [
        el("span", "th-badge", alert.severity),
        el("span", "th-alert-kind", alert.kind),
        alert.layer ? el("span", "th-alert-layer", alert.layer) : null,
        el("span", "th-alert-steps",
            formatSteps(alert.first_step, alert.last_step)),
      ]),
      alert.message ? el("p", "th-alert-message", alert.message) : null,
      alert.advice ? el("p", "th-alert-advice", alert.advice) : null,
    ]);
    if (alert.layer) {
      item.dataset.layer = alert.layer;
      item.tabIndex = 0;
      item.setAttribute("role", "button");
      item.title = "Highlight this layer in the heatmaps";
      item.addEventListener("click", () => onToggle(alert.layer));
      item.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          onToggle(alert.layer);
        }
      });
    }
    (i < ALERTS_SHOWN ? list : more).appendChild(item);
  });
  const box = el("div", "th-alert-box", null, [list]);
  if (more.children.length) {
    box.appendChild(el("details", "th-more-alerts", null, [
      el("summary", null, `${more.children.length} more alerts`), more,
    ]));
  }
  markSelectedAlerts(box, highlighted);
  return box;
}

/** Marks the alerts of `layer` as selected (null clears). */
export function markSelectedAlerts(container, layer) {
  for (const item of container.querySelectorAll(".th-alert[role=button]")) {
    const on = layer !== null && item.dataset.layer === layer;
    item.classList.toggle("th-selected", on);
    item.setAttribute("aria-pressed", String(on));
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
  return el("details", "th-facts-box", null, [
    el("summary", null, "Run facts"), table,
  ]);
}

export function section(title, description, children) {
  return el("section", "th-section", null, [
    el("h2", null, title),
    description ? el("p", "th-description", description) : null,
    ...children,
  ]);
}

// ---------------------------------------------------------------- charts

function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

function logTicks(lo, hi) {
  const inRange = (multipliers) => {
    const ticks = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of multipliers) {
        const t = m * 10 ** k;
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
      }
    }
    return ticks;
  };
  for (const multipliers of [[1], [1, 2, 5], [1, 1.5, 2, 3, 5, 7]]) {
    const ticks = inRange(multipliers);
    if (ticks.length >= 2) return ticks;
  }
  return [lo, hi];
}

function nearestIndex(xs, x) {
  let best = -1;
  let bestDistance = Infinity;
  for (let i = 0; i < xs.length; i++) {
    const d = Math.abs(xs[i] - x);
    if (d < bestDistance) {
      best = i;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * A line chart on a canvas. series: [{label, xs, values (Float64Array),
 * color, dash}]. Non-finite values break the line and are marked with a
 * downward triangle on the top edge. options: {width, height, logY, xLabel}.
 */
export function lineChart(series, options) {
  const width = options.width;
  const height = options.height || 200;
  const pad = {left: 64, right: 16, top: 16, bottom: 30};
  const logY = Boolean(options.logY);
  const {canvas, ctx} = hiDpiCanvas(width, height, "th-chart-canvas");
  const readout = el("div", "th-readout", " ");
  const legend = el("div", "th-legend");
  for (const s of series) {
    const swatch = el("span", "th-swatch");
    swatch.style.background = s.color;
    legend.appendChild(el("span", "th-legend-item", null, [
      swatch, el("span", null, s.label),
    ]));
  }
  const wrapper = el("div", "th-chart", null, [legend, canvas, readout]);

  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  let anyNonFinite = false;
  for (const s of series) {
    for (let i = 0; i < s.xs.length; i++) {
      xMin = Math.min(xMin, s.xs[i]);
      xMax = Math.max(xMax, s.xs[i]);
      const v = s.values[i];
      if (!Number.isFinite(v)) {
        anyNonFinite = true;
      } else if (!logY || v > 0) {
        yMin = Math.min(yMin, v);
        yMax = Math.max(yMax, v);
      }
    }
  }
  if (anyNonFinite) {
    const swatch = el("span", "th-swatch th-swatch-nonfinite");
    swatch.style.background = COLORS.nonFinite;
    legend.appendChild(el("span", "th-legend-item", null, [
      swatch, el("span", null, "▼ non-finite (NaN/Inf)"),
    ]));
  }
  const textColor = cssVar("--th-text", "#222");
  const gridColor = cssVar("--th-grid", "#ddd");
  ctx.font = "11px sans-serif";
  ctx.fillStyle = textColor;
  if (!Number.isFinite(xMin)) {
    ctx.fillText("No data recorded", pad.left, height / 2);
    return wrapper;
  }
  if (!Number.isFinite(yMin)) {
    yMin = logY ? 1 : 0;
    yMax = logY ? 10 : 1;
  }
  if (yMin === yMax) {
    if (logY) {
      yMin /= 10;
      yMax *= 10;
    } else {
      const d = Math.abs(yMin) * 0.1 || 1;
      yMin -= d;
      yMax += d;
    }
  }
  if (xMin === xMax) {
    xMin -= 1;
    xMax += 1;
  }
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const fy = logY ? Math.log10 : (v) => v;
  const y0 = fy(yMin);
  const y1 = fy(yMax);
  const px = (x) => pad.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (v) => pad.top + (1 - (fy(v) - y0) / (y1 - y0)) * plotH;

  ctx.strokeStyle = gridColor;
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const yTicks = logY ? logTicks(yMin, yMax) : niceTicks(yMin, yMax, 4);
  for (const t of yTicks) {
    const y = py(t);
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(width - pad.right, y);
    ctx.stroke();
    ctx.fillText(formatNumber(t), pad.left - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of niceTicks(xMin, xMax, 6)) {
    if (Number.isInteger(t)) ctx.fillText(String(t), px(t), height - pad.bottom + 6);
  }
  if (options.xLabel) {
    ctx.textAlign = "right";
    ctx.fillText(options.xLabel, width - pad.right, height - 12);
  }

  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 1.75;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let drawing = false;
    const sparse = s.xs.length <= 60;
    for (let i = 0; i < s.xs.length; i++) {
      const v = s.values[i];
      if (!Number.isFinite(v) || (logY && v <= 0)) {
        drawing = false;
        continue;
      }
      const x = px(s.xs[i]);
      const y = py(v);
      if (drawing) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      drawing = true;
    }
    ctx.stroke();
    ctx.setLineDash([]);
    if (sparse) {
      for (let i = 0; i < s.xs.length; i++) {
        const v = s.values[i];
        if (Number.isFinite(v) && !(logY && v <= 0)) {
          ctx.beginPath();
          ctx.arc(px(s.xs[i]), py(v), 2.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    ctx.fillStyle = COLORS.nonFinite;
    for (let i = 0; i < s.xs.length; i++) {
      if (!Number.isFinite(s.values[i])) {
        const x = px(s.xs[i]);
        ctx.beginPath();
        ctx.moveTo(x, pad.top + 9);
        ctx.lineTo(x - 5, pad.top);
        ctx.lineTo(x + 5, pad.top);
        ctx.closePath();
        ctx.fill();
      }
    }
  }

  canvas.addEventListener("mousemove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const x = xMin + ((event.clientX - rect.left - pad.left) / plotW) * (xMax - xMin);
    const parts = [];
    let at = null;
    for (const s of series) {
      const i = nearestIndex(s.xs, x);
      if (i < 0) continue;
      at = at === null ? s.xs[i] : at;
      parts.push(`${s.label} ${formatNumber(s.values[i])}`);
    }
    readout.textContent = at === null ? " " :
        `${options.xLabel || "x"} ${at}: ${parts.join(" · ")}`;
  });
  canvas.addEventListener("mouseleave", () => {
    readout.textContent = " ";
  });
  return wrapper;
}

// ---------------------------------------------------------------- heatmaps

function heatmapColor(v, scale, lo, hi) {
  if (!Number.isFinite(v)) return NON_FINITE_RGB;
  let t;
  if (scale === "log") {
    t = v <= 0 ? 0 :
        (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  } else {
    t = (v - lo) / (hi - lo);
  }
  return viridis(t);
}

/** The colour domain [lo, hi] of a heatmap. */
function heatmapDomain(heatmap, fixedDomain) {
  if (fixedDomain) return fixedDomain;
  const range = heatmap.range;
  if (!range || !Number.isFinite(range[0]) || !Number.isFinite(range[1])) {
    return heatmap.scale === "log" ? [1e-3, 1] : [0, 1];
  }
  let [lo, hi] = range;
  if (heatmap.scale === "log") {
    if (lo === hi) {
      lo /= 10;
      hi *= 10;
    }
  } else if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return [lo, hi];
}

function legendBar(scale, lo, hi, hasNonFinite) {
  const {canvas, ctx} = hiDpiCanvas(160, 10, "th-legend-bar");
  for (let x = 0; x < 160; x++) {
    const [r, g, b] = viridis(x / 159);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(x, 0, 1, 10);
  }
  const items = [
    el("span", "th-legend-lo", formatNumber(lo)),
    canvas,
    el("span", "th-legend-hi", formatNumber(hi)),
    el("span", "th-legend-scale", scale === "log" ? "(log scale)" : ""),
  ];
  if (hasNonFinite) {
    const swatch = el("span", "th-swatch");
    swatch.style.background = COLORS.nonFinite;
    items.push(el("span", "th-legend-item", null, [
      swatch, el("span", null, "non-finite"),
    ]));
  }
  return el("div", "th-heatmap-legend", null, items);
}

/**
 * A layer-by-step heatmap: layer names as text labels on the left, one
 * canvas row per layer, viridis colours, a legend and a hover read-out.
 * Returns {element, setHighlight(layerName)}.
 */
export function heatmap(data, options) {
  const rows = data.rows;
  const cols = data.steps.length;
  const labelWidth = 180;
  const width = Math.max(120, options.width - labelWidth - 12);
  const rowHeight = Math.max(12, Math.min(22, Math.floor(260 / Math.max(rows.length, 1))));
  const height = rowHeight * rows.length;
  const [lo, hi] = heatmapDomain(data, options.domain);
  let hasNonFinite = false;

  // One pixel per cell, then scaled up without smoothing.
  const cells = document.createElement("canvas");
  cells.width = Math.max(1, cols);
  cells.height = Math.max(1, rows.length);
  const cellCtx = cells.getContext("2d");
  const image = cellCtx.createImageData(cells.width, cells.height);
  for (let r = 0; r < rows.length; r++) {
    const values = data.values[r] || new Float64Array(0);
    for (let c = 0; c < cols; c++) {
      const v = c < values.length ? values[c] : NaN;
      if (!Number.isFinite(v)) hasNonFinite = true;
      const [red, green, blue] = heatmapColor(v, data.scale, lo, hi);
      const k = 4 * (r * cells.width + c);
      image.data[k] = red;
      image.data[k + 1] = green;
      image.data[k + 2] = blue;
      image.data[k + 3] = 255;
    }
  }
  cellCtx.putImageData(image, 0, 0);

  const {canvas, ctx} = hiDpiCanvas(width, height, "th-heatmap-canvas");
  const labels = el("div", "th-heatmap-labels");
  labels.style.width = `${labelWidth}px`;
  const labelNodes = rows.map((row) => {
    const label = el("div", "th-heatmap-label", row.name);
    label.title = row.variables ?
        `${row.name} (${row.variables.join(", ")})` : row.name;
    label.style.height = `${rowHeight}px`;
    label.style.lineHeight = `${rowHeight}px`;
    labels.appendChild(label);
    return label;
  });
  let highlighted = null;

  function matches(row, layer) {
    return layer !== null && (row.name === layer ||
        (Array.isArray(row.variables) && row.variables.includes(layer)));
  }

  function draw() {
    ctx.clearRect(0, 0, width, height);
    ctx.imageSmoothingEnabled = false;
    if (cols > 0 && rows.length > 0) ctx.drawImage(cells, 0, 0, width, height);
    ctx.strokeStyle = cssVar("--th-highlight", "#ff0080");
    ctx.lineWidth = 2;
    rows.forEach((row, r) => {
      const on = matches(row, highlighted);
      labelNodes[r].classList.toggle("th-highlight", on);
      if (on) ctx.strokeRect(1, r * rowHeight + 1, width - 2, rowHeight - 2);
    });
  }

  const readout = el("div", "th-readout", " ");
  canvas.addEventListener("mousemove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const c = Math.floor(((event.clientX - rect.left) / rect.width) * cols);
    const r = Math.floor(((event.clientY - rect.top) / rect.height) * rows.length);
    if (c < 0 || c >= cols || r < 0 || r >= rows.length) return;
    const v = data.values[r] ? data.values[r][c] : NaN;
    readout.textContent = `${rows[r].name} · ` +
        `${formatSteps(data.steps[c], data.stepEnds[c])}: ${formatNumber(v)}`;
  });
  canvas.addEventListener("mouseleave", () => {
    readout.textContent = " ";
  });

  const first = cols ? data.steps[0] : "";
  const last = cols ? data.stepEnds[cols - 1] : "";
  const axis = el("div", "th-heatmap-axis", null, [
    el("span", null, cols ? `step ${first}` : ""),
    el("span", null, data.downsampled ?
        `${data.totalSteps} records averaged into ${cols} columns` : ""),
    el("span", null, cols ? `step ${last}` : ""),
  ]);
  axis.style.marginLeft = `${labelWidth}px`;
  axis.style.width = `${width}px`;
  draw();
  const element = el("div", "th-heatmap", null, [
    el("div", "th-heatmap-body", null, [labels, canvas]),
    axis,
    legendBar(data.scale, lo, hi, hasNonFinite),
    readout,
  ]);
  element.dataset.signal = data.signal || "";
  return {
    element,
    setHighlight(layer) {
      highlighted = layer;
      draw();
    },
  };
}
