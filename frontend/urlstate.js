// The tab's view state in the URL hash, the way TensorBoard keeps plugin
// state: keys "p.trainhealth.<name>" beside TensorBoard's own keys. Pure:
// strings in, strings out; host.js reads and writes the location.
//
// TensorBoard's hash is "#<tab>&key=value&...", keys and values
// URI-encoded (tf_storage's getUrlHashDict / setString). TensorBoard hands
// plugins their "p.<plugin>." keys (experimental.GetURLPluginData) but
// offers no message to write them, so the tab rewrites the parent page's
// hash itself: every segment it does not own is kept byte for byte, in
// place, so TensorBoard's own state (tab, run filter, ...) survives.

export const PREFIX = "p.trainhealth.";

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch (e) {
    return null;
  }
}

/** Splits a hash ("#a&k=v" or "a&k=v") into segments
 *  [{raw, key, value}]; key is null for a segment without "=". */
export function parseHash(hash) {
  const body = String(hash || "").replace(/^#/, "");
  if (!body) return [];
  return body.split("&").map((raw) => {
    const parts = raw.split("=");
    if (parts.length !== 2) return {raw, key: null, value: null};
    return {raw, key: decode(parts[0]), value: decode(parts[1])};
  });
}

/** The values of this plugin's keys, without the prefix (a Map: the
 *  names come from a link, whatever it says). */
export function readParams(hash, prefix = PREFIX) {
  const params = new Map();
  for (const {key, value} of parseHash(hash)) {
    if (key !== null && value !== null && key.startsWith(prefix)) {
      params.set(key.slice(prefix.length), value);
    }
  }
  return params;
}

/**
 * The hash with this plugin's keys replaced by `params` ({name: string});
 * names whose value is null/undefined/"" are dropped. Segments of other
 * keys keep their exact text and order; ours go at the end, sorted.
 * Returns it with a leading "#".
 */
export function writeParams(hash, params, prefix = PREFIX) {
  const kept = parseHash(hash)
      .filter(({key}) => key === null || !key.startsWith(prefix))
      .map(({raw}) => raw)
      .filter((raw) => raw !== "");
  const ours = Object.keys(params).sort()
      .filter((name) => params[name] !== null && params[name] !== undefined &&
          params[name] !== "")
      .map((name) => `${encodeURIComponent(prefix + name)}=` +
          encodeURIComponent(String(params[name])));
  return `#${kept.concat(ours).join("&")}`;
}

/**
 * The view state from the plugin's params (a Map):
 *   {run: string|null, runs: string[]|null, signal: string|null,
 *    zoom: [lo, hi]|null, filter: string, collapse: boolean|null,
 *    search: string}
 * (`filter` is the layer filter, `search` the run picker's search,
 * `signal` the comparison's: a key of the catalogue, checked where the
 * catalogue is known). Anything malformed reads as its default (null:
 * "not chosen").
 */
export function stateFromParams(params) {
  const state = {run: null, runs: null, signal: null, zoom: null,
    filter: "", collapse: null, search: ""};
  const get = (name) => params.get(name);
  if (get("run")) state.run = get("run");
  if (get("runs") !== undefined) {
    try {
      const runs = JSON.parse(get("runs"));
      if (Array.isArray(runs) && runs.every((r) => typeof r === "string")) {
        state.runs = runs;
      }
    } catch (e) {
      // malformed: keep the default
    }
  }
  if (get("signal")) state.signal = get("signal");
  if (get("zoom") !== undefined) {
    const m = /^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(get("zoom"));
    if (m) {
      const lo = Number(m[1]);
      const hi = Number(m[2]);
      if (Number.isFinite(lo) && Number.isFinite(hi) && lo < hi) {
        state.zoom = [lo, hi];
      }
    }
  }
  if (get("filter") !== undefined) state.filter = get("filter");
  if (get("search") !== undefined) state.search = get("search");
  if (get("collapse") === "1") state.collapse = true;
  if (get("collapse") === "0") state.collapse = false;
  return state;
}

/** The params of a view state (defaults left out). */
export function paramsFromState(state) {
  const params = {};
  if (state.run) params.run = state.run;
  if (Array.isArray(state.runs)) params.runs = JSON.stringify(state.runs);
  if (state.signal) params.signal = state.signal;
  if (state.zoom) {
    params.zoom = `${Math.floor(state.zoom[0])},${Math.ceil(state.zoom[1])}`;
  }
  if (state.filter) params.filter = state.filter;
  if (state.search) params.search = state.search;
  if (state.collapse === true) params.collapse = "1";
  if (state.collapse === false) params.collapse = "0";
  return params;
}
