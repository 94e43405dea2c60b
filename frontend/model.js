// Data access for the Train Health tab: fetches the plugin's JSON routes
// and decodes them (the server's non-finite markers back into numbers,
// base64 float32 heatmaps into typed arrays, names from the data into Map
// keys, never into a plain object's properties, where "constructor" or
// "__proto__" would mean something else). No DOM here; node's test runner
// imports the decoders.
//
// URLs are resolved against this module's own URL, so the tab works under
// any TensorBoard path prefix or /experiment/<id>/ route.

import {cleanAlerts, nameOf} from "./alerts.js";
import {decodeCatalogue} from "./catalogue.js";
import {take} from "./prefetch.js";

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

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes a heatmap sent with format=f32: base64 of little-endian float32,
 * row-major. Returns `rows` Float32Arrays of `cols` values (views of one
 * buffer). Throws if the size does not match.
 */
export function decodeF32Matrix(base64, rows, cols) {
  const bytes = base64Bytes(base64 || "");
  if (bytes.length !== rows * cols * 4) {
    throw new Error(`heatmap of ${bytes.length} bytes for ${rows} x ${cols}`);
  }
  let all;
  if (LITTLE_ENDIAN) {
    all = new Float32Array(bytes.buffer);
  } else {
    const view = new DataView(bytes.buffer);
    all = new Float32Array(rows * cols);
    for (let i = 0; i < all.length; i++) all[i] = view.getFloat32(i * 4, true);
  }
  const out = [];
  for (let r = 0; r < rows; r++) out.push(all.subarray(r * cols, (r + 1) * cols));
  return out;
}

/** The bytes of a base64 string: natively where the browser can (a
 *  200-layer heatmap is most of a megabyte), else through atob. */
export function base64Bytes(base64, native = Uint8Array.fromBase64) {
  if (typeof native === "function") return native.call(Uint8Array, base64);
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
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
export function fingerprint(text) {
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
    if (value !== null && value !== undefined) {
      url.searchParams.set(key, String(value));
    }
  }
  let response;
  try {
    // The entry asked for the tab's first requests already (prefetch.js).
    response = await (take(url.href) ||
        fetch(url.href, {credentials: "same-origin"}));
  } catch (e) {
    throw new FetchError(`TensorBoard did not answer (${e.message})`, 0);
  }
  const text = await response.text();
  if (!response.ok) {
    throw new FetchError(`${response.status}: ${text}`, response.status);
  }
  // The server signs the answers it caches (a hash of the text, as ETag):
  // hashing a heatmap's megabyte here again would cost ~10 ms.
  return {body: JSON.parse(text),
    signature: response.headers.get("ETag") || fingerprint(text)};
}

function rangeParams(params, options) {
  if (options && options.maxSteps) params.max_steps = Math.round(options.maxSteps);
  if (options && options.range) {
    params.start_step = Math.floor(options.range[0]);
    params.end_step = Math.ceil(options.range[1]);
  }
  return params;
}

/** A step series from JSON: {steps, stepEnds, values, min?, max?}. */
export function decodeSeries(entry) {
  const steps = Array.isArray(entry.steps) ? entry.steps : [];
  const out = {
    steps,
    stepEnds: Array.isArray(entry.step_ends) ? entry.step_ends : steps,
    values: decodeNumbers(entry.values),
  };
  if (Array.isArray(entry.min) && Array.isArray(entry.max)) {
    out.min = decodeNumbers(entry.min);
    out.max = decodeNumbers(entry.max);
  }
  return out;
}

/** The entries of a JSON object (none for anything else). */
function entriesOf(value) {
  return value && typeof value === "object" && !Array.isArray(value) ?
    Object.entries(value) : [];
}

function decodeSeriesMap(map, decode = decodeSeries) {
  const out = new Map();
  for (const [key, entry] of entriesOf(map)) {
    if (entry && typeof entry === "object") out.set(key, decode(entry));
  }
  return out;
}

function extentOf(value) {
  return Array.isArray(value) && value.length === 2 &&
      value.every(Number.isFinite) ? value : null;
}

/** Decodes the /runs route's body. */
export function decodeRuns(body, signature) {
  const runs = Array.isArray(body.runs) ? body.runs : [];
  return {
    signature,
    runs,
    problems: Array.isArray(body.problems) ? body.problems : [],
    total: Number.isInteger(body.total) ? body.total : runs.length,
    pending: Number.isInteger(body.pending) ? body.pending :
      runs.filter((r) => r.status === "pending").length,
  };
}

/** The signal catalogue (see catalogue.js). */
export async function fetchCatalogue() {
  const {body} = await getJson("./catalogue", {});
  return decodeCatalogue(body);
}

/**
 * Runs with trainhealth data: {runs: [{run, status, stale, alert_count,
 * problems}], problems, total, pending}. A status is "pending" while the
 * server has not diagnosed the run yet (it diagnoses for a bounded time
 * per request, the runs it answers in order); stale while it comes from a
 * preliminary or older read. options: {search, offset,
 * limit} pick a page of the runs whose name contains `search`; without
 * them every run is listed.
 */
export async function fetchRuns(options) {
  const params = {};
  if (options && options.search) params.search = options.search;
  if (options && options.offset) params.offset = Math.floor(options.offset);
  if (options && options.limit) params.limit = Math.floor(options.limit);
  const {body, signature} = await getJson("./runs", params);
  return decodeRuns(body, signature);
}

function decodeGap(entry) {
  return {...decodeSeries(entry), ratio: decodeNumbers(entry.ratio)};
}

function decodeSignal(entry) {
  return {available: entry.available === true,
    records: Number.isFinite(entry.records) ? entry.records : 0};
}

/** A list from JSON, or [] for anything else. */
function listOf(value) {
  return Array.isArray(value) ? value : [];
}

/** Decodes the /run route's body. Alerts the tab cannot read are left out
 *  and reported in `problems`, with the rest of the run shown. */
export function decodeRun(body, signature) {
  const epochEnd = body.epoch_end_step || {};
  const alerts = cleanAlerts(body.alerts);
  return {
    signature,
    run: body.run,
    // Served from the run's previous read while its new data is read.
    stale: Boolean(body.stale),
    // Read from a sample of the records while the whole run is read.
    preliminary: Boolean(body.preliminary),
    status: nameOf(body.status) ?? "unknown",
    alerts: alerts.alerts,
    problems: listOf(body.problems).map(String).concat(alerts.problems),
    facts: body.facts && typeof body.facts === "object" &&
        !Array.isArray(body.facts) ? body.facts : {},
    stepSeries: decodeSeriesMap(body.step_series),
    downsampled: Boolean(body.downsampled),
    extent: extentOf(body.extent),
    stepRange: Array.isArray(body.step_range) ? body.step_range : null,
    epochs: decodeSeriesMap(body.epochs),
    gaps: decodeSeriesMap(body.gaps, decodeGap),
    epochEndStep: {
      steps: listOf(epochEnd.steps),
      values: listOf(epochEnd.values)
          .map((v) => (typeof v === "number" ? v : NaN)),
    },
    layers: listOf(body.layers),
    variables: listOf(body.variables),
    signals: decodeSeriesMap(body.signals, decodeSignal),
  };
}

const runsUnderWay = new Map();  // request key -> promise

/**
 * One run: status, alerts, facts, step series, epoch metrics and gaps.
 * options: {maxSteps, range: [lo, hi]} (the range restricts the step
 * series, at up to maxSteps points each). A request already under way
 * for the same run and options is shared (the detail and the comparison
 * ask together).
 */
export function fetchRun(run, options) {
  const key = JSON.stringify([run, options || null]);
  let promise = runsUnderWay.get(key);
  if (!promise) {
    promise = getJson("./run", rangeParams({run}, options))
        .then(({body, signature}) => decodeRun(body, signature));
    runsUnderWay.set(key, promise);
    const forget = () => runsUnderWay.delete(key);
    promise.then(forget, forget);
  }
  return promise;
}

/** A heatmap's rows with a name each: a name that is no text (a number
 *  is written out) is reported, and the row named by its place. */
function decodeRows(rows, problems) {
  return listOf(rows).map((raw, i) => {
    const row = raw && typeof raw === "object" ? raw : {};
    const name = nameOf(row.name);
    if (name === null) problems.push(`row ${i + 1} has no readable name`);
    return {...row, name: name ?? `(row ${i + 1})`,
      variables: Array.isArray(row.variables) ?
        row.variables.map((v) => nameOf(v) ?? "?") : undefined};
  });
}

/** Decodes the /heatmap route's body (either format). */
export function decodeHeatmap(body, signature) {
  const problems = listOf(body.problems).map(String);
  const rows = decodeRows(body.rows, problems);
  const steps = Array.isArray(body.steps) ? body.steps : [];
  let values;
  if (body.encoding === "f32") {
    values = decodeF32Matrix(body.values_f32, rows.length, steps.length);
  } else {
    values = (body.values || []).map(decodeNumbers);
  }
  return {
    signature,
    // Served from the run's previous read while its new data is read.
    stale: Boolean(body.stale),
    preliminary: Boolean(body.preliminary),
    signal: body.signal,
    scale: body.scale === "log" ? "log" : "linear",
    available: Boolean(body.available),
    rows,
    steps,
    stepEnds: Array.isArray(body.step_ends) ? body.step_ends : steps,
    values,
    range: Array.isArray(body.range) ? decodeNumbers(body.range) : null,
    totalSteps: body.total_steps || 0,
    downsampled: Boolean(body.downsampled),
    extent: extentOf(body.extent),
    stepRange: Array.isArray(body.step_range) ? body.step_range : null,
    problems,
  };
}

/** One layer-by-step matrix; `values[i]` is a typed array for rows[i].
 *  options: {maxSteps, range}. */
export async function fetchHeatmap(run, signal, options) {
  const params = rangeParams({run, signal, format: "f32"}, options);
  const {body, signature} = await getJson("./heatmap", params);
  return decodeHeatmap(body, signature);
}
