// The run facts panel: what the callback recorded about the model, its
// losses, outputs, targets, inputs, the probe and the training setup, as a
// person would write it ("learning_rate 0.001", "0–255, mean 33.3"). The
// known facts get a line each, lists a line per entry; anything else is
// written compactly. Facts may hold anything (a writer of its own, a newer
// version): what does not have the expected shape is written as it is, and
// nothing in it stops the rest of the run from being shown.

import {el} from "./dom.js";
import {
  compactValue, formatNumber, formatPercent, formatValue, plural,
} from "./format.js";

/** `key` of a recorded object, only if it is its own (a fact named like
 *  an Object method is just a fact). */
export function own(object, key) {
  return object && typeof object === "object" && Object.hasOwn(object, key) ?
    object[key] : undefined;
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** "a, b, c" of the parts that are there. */
function joined(parts, separator = ", ") {
  return parts.filter((p) => p !== null && p !== undefined && p !== "")
      .join(separator);
}

/** A per-sample shape: "[28, 28]", or "scalar". */
function shapeText(shape) {
  if (!Array.isArray(shape)) return null;
  return shape.length ? `[${shape.map(formatValue).join(", ")}]` : "scalar";
}

/** A statistic of recorded values, to 4 significant digits. */
function stat(value) {
  return typeof value === "number" ? formatNumber(value) : null;
}

/** "min–max, mean m, std s" of a statistics object. */
function rangeText(stats) {
  const min = stat(own(stats, "min"));
  const max = stat(own(stats, "max"));
  const mean = stat(own(stats, "mean"));
  const std = stat(own(stats, "std"));
  return joined([
    min !== null && max !== null ? `${min}–${max}` : null,
    mean !== null ? `mean ${mean}` : null,
    std !== null ? `std ${std}` : null,
  ]);
}

/** The name an entry of a per-output or per-input list goes by. */
function entryName(entry) {
  const name = own(entry, "output") ?? own(entry, "name") ?? own(entry, "layer");
  return typeof name === "string" ? name : null;
}

function named(entry, text) {
  const name = entryName(entry);
  return name ? `${name}: ${text}` : text;
}

function lossText(loss) {
  const weight = own(loss, "weight");
  return joined([
    own(loss, "name") ?? "no loss",
    own(loss, "from_logits") === true ? "from logits" : null,
    typeof weight === "number" && weight !== 1 ?
      `weight ${formatValue(weight)}` : null,
  ]);
}

function measuredText(m) {
  if (!isObject(m)) return null;
  const flags = [
    own(m, "in_unit_interval") === true ? "within [0, 1]" : null,
    own(m, "rows_sum_to_one") === true ? "rows sum to 1" : null,
  ];
  return joined([
    rangeText(m),
    stat(own(m, "prediction_std")) !== null ?
      `spread across samples ${stat(own(m, "prediction_std"))}` : null,
    typeof own(m, "top_class_share") === "number" ?
      `top class ${formatPercent(own(m, "top_class_share"))}` : null,
    ...flags,
  ]);
}

function outputText(out) {
  const units = own(out, "units");
  const declared = joined([
    own(out, "class"), own(out, "activation"),
    typeof units === "number" ? plural(units, "unit") : null,
  ]);
  const layer = own(out, "layer");
  const measured = measuredText(own(out, "measured"));
  return joined([
    joined([typeof layer === "string" ? layer : null,
      declared ? `(${declared})` : null], " "),
    measured ? `measured on the probe: ${measured}` : null,
  ], " · ");
}

function classesText(classes) {
  if (!isObject(classes)) return null;
  const entries = Object.entries(classes);
  const shown = entries.slice(0, 10).map(([c, n]) => `${c}: ${formatValue(n)}`);
  if (entries.length > 10) shown.push(`… ${entries.length - 10} more`);
  return `classes ${shown.join(", ")}`;
}

function targetText(t) {
  const kinds = [
    own(t, "integer_valued") === true ? "integer" : null,
    own(t, "one_hot") === true ? "one-hot" : null,
    own(t, "multi_hot") === true ? "multi-hot" : null,
  ];
  const distinct = own(t, "distinct");
  return joined([
    joined([own(t, "dtype"), shapeText(own(t, "shape"))], " "),
    joined([...kinds, rangeText(t),
      typeof distinct === "number" ? `${formatValue(distinct)} distinct` :
        null]),
    classesText(own(t, "classes")),
  ], " · ");
}

function inputText(input) {
  const nonFinite = own(input, "nonfinite_fraction");
  return joined([
    joined([own(input, "dtype"), shapeText(own(input, "shape"))], " "),
    joined([rangeText(input), typeof nonFinite === "number" && nonFinite > 0 ?
      `NaN/Inf ${formatPercent(nonFinite)}` : null]),
  ], " · ");
}

/** A row of a list of entries, one line each ("2 outputs" and the lines;
 *  a single entry is its line). */
function listRow(label, list, lineOf, noun, nouns) {
  if (!Array.isArray(list) || !list.length) return null;
  const lines = list.map((entry) => (isObject(entry) ?
    named(entry, lineOf(entry) || compactValue(entry)) : compactValue(entry)));
  if (lines.length === 1) return {label, text: lines[0]};
  return {label, text: plural(lines.length, noun, nouns), items: lines};
}

function probeRow(probe) {
  if (!isObject(probe)) return null;
  const samples = own(probe, "samples");
  const requested = own(probe, "requested");
  const inspected = own(probe, "inspected");
  const skipped = own(probe, "not_inspected");
  const items = (Array.isArray(skipped) ? skipped : []).map((s) =>
    (isObject(s) ? joined([own(s, "layer"), own(s, "reason")], ": ") :
      compactValue(s)));
  return {
    label: "probe",
    text: joined([
      typeof samples === "number" ? plural(samples, "sample") +
        (typeof requested === "number" && requested !== samples ?
          ` (of ${formatValue(requested)} asked for)` : "") : null,
      Array.isArray(inspected) ?
        `${plural(inspected.length, "layer")} inspected` : null,
      items.length ? `not inspected: ${plural(items.length, "layer")}` :
        null,
    ], " · "),
    items: items.length ? items : null,
  };
}

function modelRow(model) {
  if (!isObject(model)) return null;
  const layers = own(model, "layers");
  return {
    label: "model",
    text: joined([
      joined([own(model, "name"), own(model, "class") ?
        `(${own(model, "class")})` : null], " "),
      Array.isArray(layers) ? plural(layers.length, "layer") : null,
    ]),
    items: Array.isArray(layers) ? layers.map(compactValue) : null,
    fold: true,
  };
}

/** "Adam, learning_rate 0.001": the class, then its settings. */
function optimizerRow(optimizer) {
  if (!isObject(optimizer)) return null;
  const rest = Object.entries(optimizer).filter(([k]) => k !== "class");
  return {label: "optimizer", text: joined([
    typeof own(optimizer, "class") === "string" ? own(optimizer, "class") :
      null,
    ...rest.map(([k, v]) => `${k} ${compactValue(v)}`)])};
}

function writerRow(writer) {
  if (!isObject(writer)) return null;
  return {label: "writer", text: joined([
    own(writer, "pid") !== undefined ? `process ${own(writer, "pid")}` : null,
    own(writer, "host") ? `on ${own(writer, "host")}` : null,
    own(writer, "id") ? `(id ${own(writer, "id")})` : null,
  ], " ")};
}

// The facts with a line of their own, in the order shown; `columns` (the
// heatmaps' rows) is plumbing the heatmaps already show.
const ROWS = new Map([
  ["model", modelRow],
  ["optimizer", optimizerRow],
  ["losses", (v) => listRow("losses", v, lossText, "loss", "losses")],
  ["loss", (v) => (isObject(v) ? {label: "loss", text: lossText(v)} : null)],
  ["outputs", (v) => listRow("outputs", v, outputText, "output")],
  ["targets", (v) => listRow("targets", v, targetText, "target")],
  ["inputs", (v) => listRow("inputs", v, inputText, "input")],
  ["probe", probeRow],
  ["writer", writerRow],
  ["columns", () => ({skip: true})],
]);

/**
 * The panel's rows: [{label, text, items (lines, or null), fold (the
 * lines folded away whatever their number)}]. The known
 * facts first, in ROWS's order; `loss` only for old runs without
 * `losses`; anything else after them, as recorded.
 */
export function factRows(facts) {
  const keys = Object.keys(isObject(facts) ? facts : {});
  const ordered = [...ROWS.keys()].filter((k) => keys.includes(k))
      .concat(keys.filter((k) => !ROWS.has(k)));
  const rows = [];
  for (const key of ordered) {
    if (key === "loss" && keys.includes("losses")) continue;
    const value = facts[key];
    let row = null;
    try {
      row = ROWS.has(key) ? ROWS.get(key)(value) : null;
    } catch (e) {
      row = null;  // written as recorded, below
    }
    if (row && row.skip) continue;
    rows.push(row && row.text ? row : {label: key, text: compactValue(value)});
  }
  return rows;
}

const INLINE_ITEMS = 6;  // longer lists of a row are folded

function rowItems(row) {
  const list = el("ul", "th-fact-items", null,
      row.items.map((line) => el("li", null, line)));
  if (row.items.length <= INLINE_ITEMS && !row.fold) return list;
  return el("details", "th-fact-more", null, [
    el("summary", null, `show all ${row.items.length}`), list,
  ]);
}

/** The run facts, folded under a summary. */
export function factsPanel(facts) {
  const table = el("table", "th-facts");
  for (const row of factRows(facts)) {
    table.appendChild(el("tr", null, null, [
      el("th", null, row.label),
      el("td", null, null, [
        el("span", "th-fact-text", row.text),
        row.items && row.items.length ? rowItems(row) : null,
      ]),
    ]));
  }
  const box = el("details", "th-facts-box", null, [
    el("summary", null,
        "Run facts (model, losses, outputs, targets, inputs, probe)"),
    table,
  ]);
  box.dataset.chart = "facts";
  return box;
}
