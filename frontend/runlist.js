// The run list of the Train Health tab (the sidebar): the search box, the
// bounded page of matching runs with their colour, status and alert
// count, a checkbox per run for the comparison, "show more", and the
// keyboard (arrow keys between runs). The list is redrawn as runs arrive
// and the search changes; its frame is built once, so typing keeps its
// focus and caret. The picking logic is runfilter.js's.

import {button, debounce, el} from "./dom.js";
import {runStyle} from "./colors.js";
import {
  PAGE_SIZE, RunIndex, countText, hasPending, runPage,
} from "./runfilter.js";

const COMPARE_DEFAULT = 8;  // runs ticked for comparison by default

/**
 * The runs listed and what the list shows of them: the search and its
 * page, the runs ticked for comparison, the run shown. `state` is the
 * page's ({search, runs (ticked: null for the default), run}), changed
 * here and read by the rest of the page. handlers: {onShow(run),
 * onCompared() (the ticked runs changed), onSearch() (the search or the
 * page changed)}.
 */
export class RunList {
  constructor(element, state, handlers) {
    this.state = state;
    this.handlers = handlers;
    this.index = new RunIndex();
    this.shown = PAGE_SIZE;  // how many matching runs the list shows
    this.sidebar = new RunSidebar(element, state.search, {
      onSearch: (text) => this.setSearch(text),
      onMore: () => this.showMore(),
      onCompareAll: (on) => this.setCompareAll(on),
      onShow: (run) => handlers.onShow(run),
      onCompare: (run, on) => this.setCompared(run, on),
    });
  }

  /** The runs ticked for comparison, in the list's order. */
  compared() {
    const chosen = this.state.runs === null ?
      this.index.names().slice(0, COMPARE_DEFAULT) : this.state.runs;
    const set = new Set(chosen.filter((r) => this.index.has(r)));
    return this.index.names().filter((r) => set.has(r));
  }

  /** The entries the list shows: the first matches of the search. */
  visible() {
    return runPage(this.index.entries, this.state.search, this.shown).shown;
  }

  /** Whether a run the list shows waits for its diagnosis. */
  pendingShown() {
    return hasPending(this.visible());
  }

  draw() {
    const compared = new Set(this.compared());
    this.sidebar.draw({runs: this.index.entries, search: this.state.search,
      shown: this.shown, current: this.state.run, compared,
      colorIndex: (run) => this.index.index(run)});
  }

  setSearch(text) {
    if (text === this.state.search) return;
    this.state.search = text;
    this.shown = PAGE_SIZE;
    if (this.index.size) this.draw();
    this.handlers.onSearch();
  }

  /** "Show more": the next page of matches; focus on the first of it. */
  showMore() {
    const shown = this.visible().length;
    this.shown = shown + PAGE_SIZE;
    this.draw();
    this.sidebar.focusRun(shown);
    this.handlers.onSearch();
  }

  setTicked(set) {
    this.state.runs = this.index.names().filter((r) => set.has(r));
    this.handlers.onCompared();
  }

  setCompared(run, on) {
    const set = new Set(this.compared());
    if (on) set.add(run);
    else set.delete(run);
    this.setTicked(set);
  }

  /** "all" ticks every run the list shows (the search's matches, a page
   *  at a time), "none" unticks every run. */
  setCompareAll(on) {
    const set = on ? new Set(this.compared()) : new Set();
    if (on) for (const entry of this.visible()) set.add(entry.run);
    this.setTicked(set);
    this.draw();
  }
}

const STATUS_TITLES = new Map([
  ["pending", "Not diagnosed yet: the tab asks again in a moment"],
  ["unknown", "The run could not be read or diagnosed"],
]);

/**
 * The sidebar's DOM. handlers: {onSearch(text), onMore(), onCompareAll(bool),
 * onShow(run), onCompare(run, checked)}.
 */
class RunSidebar {
  constructor(element, search, handlers) {
    this.element = element;
    this.handlers = handlers;
    this.picker = runPicker(search, handlers);
    this.element.replaceChildren(this.picker);
  }

  /**
   * Shows `view`: {runs (all entries), search, shown (how many matches
   * to show), current (the detail run), compared (Set), colorIndex(run)}.
   * Keeps the scroll position and the focused run.
   */
  draw(view) {
    const focused = document.activeElement;
    const focusRun = focused && focused.closest ?
      focused.closest(".th-run-item") : null;
    const focusClass = focused && focused.classList.contains("th-compare") ?
      ".th-compare" : ".th-run-name";
    const scroll = this.element.scrollTop;
    const page = runPage(view.runs, view.search, view.shown);
    this.picker.setList(runList(page.shown, view, this.handlers));
    this.picker.setCount(countText(page.shown.length, page.matched,
        view.runs.length, view.search));
    this.picker.setMore(page.more);
    this.element.scrollTop = scroll;
    if (focusRun) {
      const item = [...this.element.querySelectorAll(".th-run-item")]
          .find((li) => li.dataset.run === focusRun.dataset.run);
      const target = item && item.querySelector(focusClass);
      if (target) target.focus();
    }
  }

  /** Focus on the run name at `index` of the list (after "show more"). */
  focusRun(index) {
    const names = this.picker.querySelectorAll(".th-run-name");
    if (names[index]) names[index].focus();
  }
}

/**
 * The run picker's frame: title, "compare all / none", the search box, a
 * count line, the slot for the list (setList) and a "show more" button
 * (setMore(n): n is how many it adds; 0 hides it).
 */
function runPicker(query, handlers) {
  const search = el("input", "th-run-search");
  search.type = "search";
  search.id = "th-run-search";
  search.placeholder = "Part of a run's name";
  search.autocomplete = "off";
  search.spellcheck = false;
  search.value = query || "";
  const label = el("label", "th-run-search-label", "Search runs");
  label.htmlFor = search.id;
  const onSearch = debounce(() => handlers.onSearch(search.value), 150);
  search.addEventListener("input", () => onSearch());
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") onSearch.now();
    if (event.key === "ArrowDown") {
      // On to the list: the first run shown.
      const first = nav.querySelector(".th-run-name");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });
  const all = button("th-link", "all", () => handlers.onCompareAll(true));
  all.title = "Compare every run shown in the list";
  const count = el("p", "th-run-count", "");
  count.setAttribute("role", "status");
  const slot = el("div", "th-run-slot");
  const more = button("th-button th-more-runs", "", () => handlers.onMore());
  more.hidden = true;
  const nav = el("nav", "th-runs", null, [
    el("h2", "th-runs-title", "Runs"),
    el("p", "th-hint", null, [
      el("span", null, "Tick runs to compare them; compare "),
      all, el("span", null, " / "),
      button("th-link", "none", () => handlers.onCompareAll(false)),
    ]),
    el("div", "th-run-search-box", null, [label, search]),
    count, slot, more,
  ]);
  nav.setAttribute("aria-label", "Run picker");
  nav.setList = (list) => slot.replaceChildren(list);
  nav.setCount = (text) => {
    if (count.textContent !== text) count.textContent = text;
  };
  nav.setMore = (n) => {
    more.hidden = !n;
    more.textContent = n ? `Show ${n} more` : "";
  };
  return nav;
}

/** One run of the list: checkbox, colour, name button, status, alerts. */
function runItem(entry, view, handlers) {
  const style = runStyle(view.colorIndex(entry.run));
  const check = el("input", "th-compare");
  check.type = "checkbox";
  check.checked = view.compared.has(entry.run);
  check.setAttribute("aria-label", `Compare ${entry.run}`);
  check.style.accentColor = style.color;
  check.addEventListener("change", () =>
    handlers.onCompare(entry.run, check.checked));
  const swatch = el("span", "th-run-swatch");
  swatch.style.borderTopColor = style.color;
  if (style.dash.length) swatch.style.borderTopStyle = "dashed";
  const name = button("th-run-name", entry.run,
      () => handlers.onShow(entry.run));
  name.title = `Show the details of ${entry.run}`;
  name.setAttribute("aria-pressed", String(entry.run === view.current));
  const count = Number.isInteger(entry.alert_count) ? entry.alert_count : 0;
  const alerts = count ? `${count} alert${count === 1 ? "" : "s"}` : "";
  const status = String(entry.status);
  const badge = el("span", `th-badge th-badge-${status}`, status);
  if (STATUS_TITLES.has(status)) badge.title = STATUS_TITLES.get(status);
  const item = el("li", `th-run-item th-run-${status}`, null, [
    check, swatch, name,
    el("span", "th-run-meta", null, [
      badge, alerts ? el("span", "th-run-alerts", alerts) : null,
    ]),
  ]);
  item.dataset.run = entry.run;
  if (entry.run === view.current) item.classList.add("th-current");
  return item;
}

/** The list of the runs shown; arrow keys move between runs, Home/End to
 *  the ends. */
function runList(runs, view, handlers) {
  const list = el("ul", "th-run-list", null,
      runs.map((entry) => runItem(entry, view, handlers)));
  list.setAttribute("aria-label", "Runs");
  list.addEventListener("keydown", (event) => {
    const keys = ["ArrowDown", "ArrowUp", "Home", "End"];
    if (!keys.includes(event.key)) return;
    const target = event.target;
    const cls = target.classList.contains("th-compare") ? ".th-compare" :
      target.classList.contains("th-run-name") ? ".th-run-name" : null;
    if (!cls) return;
    const all = [...list.querySelectorAll(cls)];
    const at = all.indexOf(target);
    let next = at;
    if (event.key === "ArrowDown") next = Math.min(all.length - 1, at + 1);
    if (event.key === "ArrowUp") next = Math.max(0, at - 1);
    if (event.key === "Home") next = 0;
    if (event.key === "End") next = all.length - 1;
    event.preventDefault();
    all[next].focus();
  });
  return list;
}
