// Data access for the Train Health tab: fetches the plugin's JSON routes
// and turns the server's non-finite markers back into numbers. No DOM here.
//
// URLs are resolved against this module's own URL, so the tab works under
// any TensorBoard path prefix or /experiment/<id>/ route.

/** Decodes one number sent by the plugin ("NaN", "Infinity", "-Infinity"
 *  are how the server writes non-finite floats; null means "no value"). */
export function decodeNumber(value) {
  if (typeof value === "number") return value;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return NaN;
}

/** Decodes an array of numbers into a Float64Array. */
export function decodeNumbers(values) {
  const out = new Float64Array(Array.isArray(values) ? values.length : 0);
  for (let i = 0; i < out.length; i++) out[i] = decodeNumber(values[i]);
  return out;
}

/** Thrown for an HTTP error; `status` is the HTTP status code. */
export class FetchError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** A short fingerprint of a response body, to skip redrawing unchanged
 *  data on the periodic refresh (FNV-1a over the text). */
function fingerprint(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return `${text.length}:${(hash >>> 0).toString(16)}`;
}

async function getJson(route, params) {
  const url = new URL(route, import.meta.url);
  for (const [key, value] of Object.entries(params || {})) {
    url.searchParams.set(key, String(value));
  }
  const response = await fetch(url.href, {credentials: "same-origin"});
  const text = await response.text();
  if (!response.ok) {
    throw new FetchError(`${response.status}: ${text}`, response.status);
  }
  return {body: JSON.parse(text), signature: fingerprint(text)};
}

function decodeSeries(entry) {
  return {
    steps: Array.isArray(entry.steps) ? entry.steps : [],
    stepEnds: Array.isArray(entry.step_ends) ? entry.step_ends : entry.steps || [],
    values: decodeNumbers(entry.values),
  };
}

function decodeSeriesMap(map) {
  const out = {};
  for (const [key, entry] of Object.entries(map || {})) {
    out[key] = decodeSeries(entry);
  }
  return out;
}

/** Runs with trainhealth data: [{run, status, alert_count, problems}]. */
export async function fetchRuns() {
  const {body, signature} = await getJson("./runs");
  return {
    signature,
    runs: Array.isArray(body.runs) ? body.runs : [],
    problems: Array.isArray(body.problems) ? body.problems : [],
  };
}

/** One run: status, alerts, facts, step series, epoch metrics and gaps. */
export async function fetchRun(run) {
  const {body, signature} = await getJson("./run", {run});
  const gaps = {};
  for (const [key, entry] of Object.entries(body.gaps || {})) {
    gaps[key] = {...decodeSeries(entry), ratio: decodeNumbers(entry.ratio)};
  }
  return {
    signature,
    run: body.run,
    status: body.status,
    alerts: Array.isArray(body.alerts) ? body.alerts : [],
    problems: Array.isArray(body.problems) ? body.problems : [],
    facts: body.facts || {},
    stepSeries: decodeSeriesMap(body.step_series),
    downsampled: Boolean(body.downsampled),
    epochs: decodeSeriesMap(body.epochs),
    gaps,
    layers: Array.isArray(body.layers) ? body.layers : [],
    variables: Array.isArray(body.variables) ? body.variables : [],
    signals: body.signals || {},
  };
}

/** One layer-by-step matrix; `values[i]` is a Float64Array for rows[i]. */
export async function fetchHeatmap(run, signal, maxSteps) {
  const params = {run, signal};
  if (maxSteps) params.max_steps = maxSteps;
  const {body, signature} = await getJson("./heatmap", params);
  const range = Array.isArray(body.range) ? decodeNumbers(body.range) : null;
  return {
    signature,
    signal: body.signal,
    scale: body.scale === "log" ? "log" : "linear",
    available: Boolean(body.available),
    rows: Array.isArray(body.rows) ? body.rows : [],
    steps: Array.isArray(body.steps) ? body.steps : [],
    stepEnds: Array.isArray(body.step_ends) ? body.step_ends : [],
    values: (body.values || []).map(decodeNumbers),
    range,
    totalSteps: body.total_steps || 0,
    downsampled: Boolean(body.downsampled),
    problems: Array.isArray(body.problems) ? body.problems : [],
  };
}
