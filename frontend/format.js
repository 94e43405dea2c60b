// How the Train Health tab writes numbers, steps and recorded values as
// text. Pure: no DOM, so node's test runner imports it.

/** A short label for a chart value: 4 significant digits. */
export function formatNumber(v) {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(4)));
}

/**
 * A recorded value as a person would write it. The callback records
 * float32 numbers (a learning rate of 0.001 reads back as
 * 0.0010000000474974513): 6 significant digits say everything float32
 * holds that matters, with trailing zeros trimmed. Integers are written
 * whole.
 */
export function formatValue(v) {
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) {
    return v.toExponential(5).replace(/\.?0+e/, "e");
  }
  return String(Number(v.toPrecision(6)));
}

/** "step 12", or "steps 10–19" for a bucket of records. */
export function formatSteps(first, last) {
  if (first === null || first === undefined) return "";
  if (last === null || last === undefined || last === first) {
    return `step ${first}`;
  }
  return `steps ${first}–${last}`;
}

/** 2000 -> "2,000". */
export function formatCount(n) {
  return Number(n).toLocaleString("en-US");
}

/** "1 layer", "3 layers" (`many` for words that do not just add "s"). */
export function plural(n, word, many = `${word}s`) {
  return `${formatCount(n)} ${n === 1 ? word : many}`;
}

/** A share in [0, 1] as a percentage ("12.5%"). */
export function formatPercent(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return formatValue(v);
  return `${Number((v * 100).toPrecision(3))}%`;
}

const COMPACT_DEPTH = 3;  // nesting shown; deeper parts read "…"
const COMPACT_ITEMS = 8;  // entries shown per list or object
const COMPACT_LENGTH = 300;  // characters, at most

/**
 * Any recorded JSON value as one short line of text: numbers through
 * formatValue, objects as "key value, ...", lists as "a, b, ...", cut
 * at a few levels of nesting, a few entries each and a few hundred
 * characters (a run's facts may hold anything, nested a thousand deep).
 */
export function compactValue(value) {
  const text = compactPart(value, 0);
  return text.length > COMPACT_LENGTH ?
    `${text.slice(0, COMPACT_LENGTH - 1)}…` : text;
}

function compactPart(value, depth) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "object") return formatValue(value);
  if (depth >= COMPACT_DEPTH) return "…";
  const list = Array.isArray(value);
  const entries = list ? value.map((v) => [null, v]) : Object.entries(value);
  const shown = entries.slice(0, COMPACT_ITEMS).map(([key, v]) => {
    let part = compactPart(v, depth + 1);
    if (v !== null && typeof v === "object" && part !== "…") part = `(${part})`;
    return key === null ? part : `${key} ${part}`;
  });
  if (entries.length > COMPACT_ITEMS) {
    shown.push(`… ${entries.length - COMPACT_ITEMS} more`);
  }
  return shown.length ? shown.join(", ") : list ? "none" : "–";
}
