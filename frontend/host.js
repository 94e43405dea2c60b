// The tab's integration with its host page: TensorBoard's reload channel,
// the view state in TensorBoard's URL hash, the theme (TensorBoard's dark
// mode, or the system's outside TensorBoard), and the mark of the first
// complete render that tests and benchmarks wait for.

import * as urlstate from "./urlstate.js";

/**
 * Hooks into TensorBoard's reload. The host page's plugin library talks to
 * iframed plugins over a MessageChannel: the plugin posts the string
 * "experimental.bootstrap" with one port to its parent window, and the host
 * then sends JSON messages {type, id, payload, isReply} on that port,
 * among them "experimental.DataReloaded" after each reload (the reload
 * button or the auto-reload timer). Each message expects a reply.
 * Returns the channel: the caller must keep it, or the browser may collect
 * the port and the messages stop.
 */
export function listenForReloads(onReload) {
  if (window.parent === window) return null;
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (!msg || msg.isReply) return;
    if (msg.type === "experimental.DataReloaded") onReload();
    channel.port1.postMessage(JSON.stringify({
      type: msg.type, id: msg.id, payload: null, error: null, isReply: true,
    }));
  };
  window.parent.postMessage("experimental.bootstrap", window.location.origin,
      [channel.port2]);
  return channel;
}

/**
 * The window whose URL hash holds the view state: TensorBoard's page when
 * the tab runs in its (same-origin) iframe, else this page. TensorBoard
 * hands plugins their "p.<plugin>." keys over its plugin channel
 * (experimental.GetURLPluginData) but has no message to change them, so
 * the tab reads and rewrites the parent's hash directly, with
 * history.replaceState (no history entry per zoom) and keeping every key
 * it does not own (see urlstate.js).
 */
function hashWindow() {
  try {
    if (window.parent !== window && window.parent.location.href) {
      return window.parent;
    }
  } catch (e) {
    // a cross-origin parent: keep the state in our own URL
  }
  return window;
}

/** The view state in the host's URL (see urlstate.stateFromParams). */
export function readUrlState() {
  return urlstate.stateFromParams(
      urlstate.readParams(hashWindow().location.hash));
}

/** Puts the view state into the host's URL, without a history entry. */
export function writeUrlState(state) {
  const host = hashWindow();
  const hash = urlstate.writeParams(host.location.hash,
      urlstate.paramsFromState(state));
  if (hash.replace(/^#/, "") === host.location.hash.replace(/^#/, "")) return;
  try {
    const url = new URL(host.location.href);
    url.hash = hash;
    host.history.replaceState(host.history.state, "", url.href);
  } catch (e) {
    // a sandboxed or cross-origin host: the state just is not linked
  }
}

/**
 * Follows TensorBoard's dark mode (it toggles `dark-mode` on its body,
 * from its settings or the system's preference), or the system's
 * preference when the tab runs on its own. Calls onChange(dark) on every
 * change and returns whether it is dark now.
 */
export function watchTheme(onChange) {
  let body = null;
  try {
    const doc = window.parent !== window ? window.parent.document : null;
    if (doc && doc.querySelector("tb-webapp")) body = doc.body;
  } catch (e) {
    body = null;
  }
  const media = window.matchMedia ?
    window.matchMedia("(prefers-color-scheme: dark)") : null;
  const current = () => (body ? body.classList.contains("dark-mode") :
    Boolean(media && media.matches));
  if (body) {
    new MutationObserver(() => onChange(current()))
        .observe(body, {attributes: true, attributeFilter: ["class"]});
  } else if (media && media.addEventListener) {
    media.addEventListener("change", () => onChange(current()));
  }
  return current();
}

/** Marks the page dark or light (the stylesheet follows the class). */
export function applyTheme(dark) {
  document.documentElement.classList.toggle("th-dark", dark);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

/** Marks the first complete render (once): data-rendered on the page's
 *  root, and its time in window.__thFirstRender. */
export function markRendered() {
  const root = document.documentElement;
  if (root.dataset.rendered === "true") return;
  window.__thFirstRender = performance.now();
  root.dataset.rendered = "true";
}
