// Entry point of the Train Health tab. TensorBoard imports this module in
// the plugin's iframe (data/plugin_entry.html?name=trainhealth) and calls
// render(); app.js is the tab itself.
//
// This file has no static imports on purpose. A static import graph is
// fetched one level at a time (this file, then what it imports, then what
// those import, ...), and nothing runs before the deepest level arrives:
// the tab's levels cost ~70 ms before its first request. Here every
// module, both stylesheets, the run list and the signal catalogue are
// asked for at once.

/** Every module of the tab: the one list of them (the server serves every
 *  .js and .css file of frontend/). One missing here still loads, through
 *  the imports of another, only later; test/entry.test.mjs keeps it
 *  complete. */
export const MODULES = [
  "./prefetch.js", "./app.js", "./uplot.js", "./host.js", "./refresh.js",
  "./model.js", "./runview.js", "./rundata.js", "./catalogue.js",
  "./alerts.js", "./runlist.js", "./detail.js", "./compare.js",
  "./panels.js", "./facts.js", "./dom.js", "./charts.js", "./heatmap.js",
  "./heatmapdraw.js", "./chartdata.js", "./colors.js", "./format.js",
  "./layerfilter.js", "./urlstate.js", "./runfilter.js",
];

export const STYLESHEETS = ["uplot.css", "style.css"];

/** Links a stylesheet next to this module (no inline styles or scripts
 *  are needed, so TensorBoard's content security policy is satisfied). */
function addStylesheet(name) {
  const href = new URL(`./${name}`, import.meta.url).href;
  if ([...document.querySelectorAll("link")].some((l) => l.href === href)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.appendChild(link);
}

/** Called by TensorBoard's plugin host once the module is imported. */
export async function render() {
  STYLESHEETS.forEach(addStylesheet);
  const modules = MODULES.map((name) => import(name));
  // The run list and the catalogue are the tab's first requests: asked
  // for as soon as prefetch.js is here, while the other modules load.
  modules[MODULES.indexOf("./prefetch.js")].then((p) => p.start())
      .catch(() => {});  // a module that fails to load is reported below
  const root = document.createElement("div");
  root.className = "th-root";
  document.body.appendChild(root);
  try {
    const loaded = await Promise.all(modules);
    const app = loaded[MODULES.indexOf("./app.js")];
    return app.start(root);
  } catch (e) {
    root.textContent = `The Train Health tab failed to load: ${e.message}`;
    throw e;
  }
}
