// DOM helpers shared by every part of the Train Health tab. Every piece
// of recorded text (run names, layer names, advice) goes into the page
// through textContent, attributes or canvas text, never through HTML
// parsing.

/** createElement with a class and text; children appended in order
 *  (null children are skipped). */
export function el(tag, className, text, children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const child of children || []) {
    if (child) node.appendChild(child);
  }
  return node;
}

/** A button of `className` that calls onClick. */
export function button(className, text, onClick) {
  const node = el("button", className, text);
  node.type = "button";
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

export function message(text, className) {
  return el("p", `th-message ${className || ""}`, text);
}

/** A section of the page: heading, description, content; `id` is its
 *  data-section (where an alert's evidence may be revealed). */
export function section(title, description, children, id) {
  const node = el("section", "th-section", null, [
    el("h2", null, title),
    description ? el("p", "th-description", description) : null,
    ...children,
  ]);
  if (id) node.dataset.section = id;
  return node;
}

/** An error with what to do about it, and a retry button. */
export function errorBanner(text, hint, onRetry) {
  const box = el("div", "th-error-box", null, [
    el("p", "th-error", text),
    hint ? el("p", "th-message", hint) : null,
    button("th-button", "Retry now", onRetry),
  ]);
  box.setAttribute("role", "alert");
  return box;
}

/** Problems reading a run (or a part of it), folded. */
export function problemList(problems, what = "this run") {
  const list = el("ul", "th-problems", null,
      problems.map((problem) => el("li", null, problem)));
  return el("details", "th-problems-box", null, [
    el("summary", null, `${problems.length} problem(s) reading ${what}`),
    list,
  ]);
}

/** A floating tooltip (one per page): show(lines, clientX, clientY). */
export function createTooltip() {
  const node = el("div", "th-tooltip");
  node.setAttribute("role", "tooltip");
  node.hidden = true;
  return {
    element: node,
    show(lines, x, y) {
      node.textContent = lines.join("\n");
      node.hidden = false;
      const pad = 14;
      const w = node.offsetWidth;
      const h = node.offsetHeight;
      const left = x + pad + w > window.innerWidth ? x - pad - w : x + pad;
      const top = y + pad + h > window.innerHeight ? y - pad - h : y + pad;
      node.style.left = `${Math.max(0, left)}px`;
      node.style.top = `${Math.max(0, top)}px`;
    },
    hide() {
      node.hidden = true;
    },
  };
}

/**
 * Scrolls the page so that `block` shows in the viewport below the first
 * `top` px (what a sticky bar covers): all of it, centred, when it fits;
 * else `focus` (a part of it) centred in the room there is.
 */
export function scrollIntoRoom(block, focus, top) {
  const scroller = document.scrollingElement || document.documentElement;
  const room = window.innerHeight - top;
  const b = block.getBoundingClientRect();
  const f = focus.getBoundingClientRect();
  const want = b.height <= room ?
    top + (room - b.height) / 2 + (f.top - b.top) :
    top + Math.max(0, (room - f.height) / 2);
  scroller.scrollTop += f.top - want;
}

/** Calls `fn` `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  const call = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  call.now = (...args) => {
    clearTimeout(timer);
    fn(...args);
  };
  return call;
}
