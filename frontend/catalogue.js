// The signal catalogue as the tab uses it: what it shows (heatmaps, step
// charts, the signals runs are compared on) and where each alert kind's
// evidence is. The list itself is the server's (signals.py, served at
// /catalogue); this module only checks and reshapes its JSON, so that a
// new signal is added in one place, on the Python side. Pure: no DOM, no
// fetch; node's test runner imports it.

function text(value, fallback = "") {
  return typeof value === "string" ? value : fallback;
}

function evidenceMap(table) {
  const out = new Map();
  if (!table || typeof table !== "object") return out;
  for (const [key, place] of Object.entries(table)) {
    if (!place || typeof place !== "object") continue;
    out.set(key, {heatmap: text(place.heatmap, null) || null,
      chart: text(place.chart, null) || null});
  }
  return out;
}

function entries(list, decode) {
  return (Array.isArray(list) ? list : [])
      .filter((e) => e && typeof e === "object")
      .map(decode)
      .filter((e) => e.key);
}

/**
 * The catalogue from /catalogue's JSON:
 *   heatmaps:   [{key (the signal), title, description, valueLabel,
 *                 domain ([lo, hi] or null: from the data), missing}]
 *   stepCharts: [{key (of step_series), title, description, label, logY}]
 *   compare:    [{key, title, source ("step_series" | "gaps"),
 *                 axis ("step" | "epoch")}]
 *   evidence:   Map alert kind -> {heatmap, chart}
 *   nonFinite:  Map evidence["signal"] of a non_finite alert -> {heatmap,
 *               chart}
 * Malformed entries are left out; an empty body gives empty lists.
 */
export function decodeCatalogue(body) {
  const b = body && typeof body === "object" ? body : {};
  return {
    heatmaps: entries(b.heatmaps, (h) => ({
      key: text(h.signal),
      title: text(h.title, h.signal),
      description: text(h.description),
      valueLabel: text(h.value_label, h.signal),
      domain: Array.isArray(h.domain) && h.domain.length === 2 &&
          h.domain.every(Number.isFinite) ? h.domain : null,
      missing: text(h.missing, h.signal),
    })),
    stepCharts: entries(b.step_charts, (c) => ({
      key: text(c.key),
      title: text(c.title, c.key),
      description: text(c.description),
      label: text(c.label, c.key),
      logY: Boolean(c.log_y),
    })),
    compare: entries(b.compare, (c) => ({
      key: text(c.key),
      title: text(c.title, c.key),
      source: c.source === "gaps" ? "gaps" : "step_series",
      axis: c.axis === "epoch" ? "epoch" : "step",
    })),
    evidence: evidenceMap(b.evidence),
    nonFinite: evidenceMap(b.non_finite_evidence),
  };
}

/** The compare entry of `key`, else the first one (null: none). */
export function compareEntry(catalogue, key) {
  return catalogue.compare.find((c) => c.key === key) ||
      catalogue.compare[0] || null;
}
