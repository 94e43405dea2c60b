// The alerts of a run as the tab shows them: checked and cleaned from the
// server's JSON (a run's alerts may hold anything its writer put there),
// ordered (the active ones, then those resolved during the training), the
// onset markers of charts and heatmaps, and where each alert's evidence is
// on the page. Pure: no DOM, no fetch; node's test runner imports it.

export const SEVERITIES = ["critical", "warning", "info"];

/** A name from data as text: strings as they are, numbers written out;
 *  null for anything else (an object is no name). */
export function nameOf(value) {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  return null;
}

function stepOf(value) {
  return Number.isSafeInteger(value) ? value : null;
}

function textOf(value) {
  return typeof value === "string" ? value : "";
}

/** One consequence ({kind, layer, first_step, message}) or null. */
function cleanConsequence(raw) {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  return {
    kind: nameOf(raw.kind) ?? "finding",
    layer: nameOf(raw.layer),
    first_step: stepOf(raw.first_step),
    message: textOf(raw.message),
  };
}

/**
 * One alert, every field of the shape the tab draws (CONTRACTS.md A):
 * {kind, severity, layer, first_step, last_step, message, advice,
 * evidence, consequences, resolved_step, recovered}. Returns [alert, bad]
 * (bad: the names of the fields that could not be read), or [null, ...]
 * for what is no alert at all.
 */
export function cleanAlert(raw) {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    return [null, ["the whole alert"]];
  }
  const bad = [];
  const field = (name, clean, fallback) => {
    const value = raw[name];
    if (value === undefined || value === null) return fallback;
    const out = clean(value);
    if (out === null || out === undefined) {
      bad.push(name);
      return fallback;
    }
    return out;
  };
  const alert = {
    kind: field("kind", nameOf, "alert"),
    severity: field("severity",
        (v) => (SEVERITIES.includes(v) ? v : null), "info"),
    layer: field("layer", nameOf, null),
    first_step: field("first_step", stepOf, null),
    last_step: field("last_step", stepOf, null),
    message: field("message", (v) => (typeof v === "string" ? v : null), ""),
    advice: field("advice", (v) => (typeof v === "string" ? v : null), ""),
    evidence: raw.evidence && typeof raw.evidence === "object" ?
      raw.evidence : null,
    consequences: field("consequences",
        (v) => (Array.isArray(v) ? v.map(cleanConsequence) : null), []),
    resolved_step: field("resolved_step", stepOf, null),
    recovered: raw.recovered === true,
  };
  if (alert.consequences.includes(null)) {
    bad.push("consequences");
    alert.consequences = alert.consequences.filter(Boolean);
  }
  return [alert, bad];
}

/**
 * The run's alerts as shown: the active ones in the server's order, then
 * the resolved ones; and what could not be read, as problems to report.
 */
export function cleanAlerts(list) {
  const alerts = [];
  const problems = [];
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    return {alerts, problems: ["the run's alerts are not a list"]};
  }
  (list || []).forEach((raw, i) => {
    const [alert, bad] = cleanAlert(raw);
    if (!alert) {
      problems.push(`alert ${i + 1} is not an alert; not shown`);
      return;
    }
    alerts.push(alert);
    if (bad.length) {
      problems.push(`alert ${i + 1} (${alert.kind}): unreadable ` +
          `${bad.join(", ")}; shown without ${bad.length > 1 ? "them" : "it"}`);
    }
  });
  const active = alerts.filter((a) => !isResolved(a));
  return {alerts: active.concat(alerts.filter(isResolved)), problems};
}

/** Whether the alert's condition ended during the training. */
export function isResolved(alert) {
  return alert.resolved_step !== null && alert.resolved_step !== undefined;
}

/** A stable identity of an alert across refreshes. */
export function alertKey(alert) {
  return [alert.kind, alert.layer ?? "", alert.first_step ?? ""].join("|");
}

/** {critical, warning, info: counts of the active alerts, resolved}. */
export function alertCounts(alerts) {
  const counts = new Map(SEVERITIES.map((s) => [s, 0]));
  let resolved = 0;
  for (const alert of alerts) {
    if (isResolved(alert)) resolved++;
    else counts.set(alert.severity, (counts.get(alert.severity) || 0) + 1);
  }
  return {counts, resolved};
}

/** Names of the layers any alert points at. */
export function flaggedLayers(alerts) {
  const names = new Set();
  for (const alert of alerts || []) {
    if (alert.layer) names.add(alert.layer);
  }
  return names;
}

/** Onset markers for charts and heatmaps: [{step, end, severity, key,
 *  label, layer, resolved}]; a resolved alert's range ends where it did. */
export function alertMarkers(alerts) {
  const out = [];
  for (const alert of alerts || []) {
    if (alert.first_step === null) continue;
    const resolved = isResolved(alert);
    const end = resolved ? alert.resolved_step : alert.last_step;
    out.push({
      step: alert.first_step,
      end: end !== null && end >= alert.first_step ? end : alert.first_step,
      severity: alert.severity,
      key: alertKey(alert),
      label: alert.layer ? `${alert.kind} (${alert.layer})` : alert.kind,
      layer: alert.layer,
      resolved,
    });
  }
  return out;
}

/**
 * Where an alert's evidence is on the page:
 *   {type: "heatmap", signal, layer} | {type: "chart", chart} |
 *   {type: "facts"} | null.
 * The catalogue names the place of each kind (and, for a non_finite
 * alert, of the signal where NaN/Inf appeared first); then any heatmap
 * showing the alert's layer; then the run facts. `hasRow(signal, layer)`
 * says whether a heatmap shows that layer, `hasChart(id)` whether a chart
 * (or "facts") is on the page; the first place that exists wins.
 */
export function evidenceTarget(alert, catalogue, hasRow, hasChart) {
  const layer = alert.layer;
  const place = alert.kind === "non_finite" ?
    catalogue.nonFinite.get(nameOf(alert.evidence && alert.evidence.signal)) :
    catalogue.evidence.get(alert.kind);
  const candidates = [];
  if (place && place.heatmap && layer) {
    candidates.push({type: "heatmap", signal: place.heatmap, layer});
  }
  if (place && place.chart && place.chart !== "facts") {
    candidates.push({type: "chart", chart: place.chart});
  }
  if (layer && !(place && place.chart === "facts")) {
    for (const h of catalogue.heatmaps) {
      candidates.push({type: "heatmap", signal: h.key, layer});
    }
  }
  candidates.push({type: "facts"});
  for (const c of candidates) {
    if (c.type === "heatmap" && hasRow(c.signal, c.layer)) return c;
    if (c.type === "chart" && hasChart(c.chart)) return c;
    if (c.type === "facts" && hasChart("facts")) return c;
  }
  return null;
}
