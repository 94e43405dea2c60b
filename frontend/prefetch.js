// The tab's first requests, the run list and the signal catalogue, asked
// for before the rest of the tab has loaded. This module imports nothing,
// so it runs as soon as it arrives (index.js asks for it first and calls
// start()); model.js takes the answers.

const FIRST = ["./runs", "./catalogue"];
const started = new Map();  // URL -> fetch promise

/** Asks for the tab's first requests now. */
export function start() {
  for (const route of FIRST) {
    const url = new URL(route, import.meta.url).href;
    if (started.has(url)) continue;
    const answer = fetch(url, {credentials: "same-origin"});
    // Reported by the request that takes it, not as an unhandled
    // rejection in the meantime.
    answer.catch(() => {});
    started.set(url, answer);
  }
}

/** The fetch started for `url`, once (null when there is none). */
export function take(url) {
  const answer = started.get(url) || null;
  started.delete(url);
  return answer;
}
