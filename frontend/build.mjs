// Builds frontend/dist/: the charting library (uPlot, from npm) as the ES
// module and stylesheet the tab imports. Run after `npm ci`:
//
//     npm ci && npm run build        (in frontend/)
//
// setup.py runs this when dist/ is missing and copies dist/ next to the
// other assets into the package's static/ directory; an editable install
// serves dist/ directly (see plugin.py). dist/ is never committed.

import {copyFileSync, existsSync, mkdirSync, readFileSync} from "node:fs";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const uplot = join(here, "node_modules", "uplot");
const dist = join(here, "dist");

if (!existsSync(join(uplot, "dist", "uPlot.esm.js"))) {
  console.error("build.mjs: node_modules/uplot is missing: run `npm ci` " +
      "in frontend/ first.");
  process.exit(1);
}
const version = JSON.parse(readFileSync(join(uplot, "package.json"))).version;
mkdirSync(dist, {recursive: true});
const files = [
  ["dist/uPlot.esm.js", "uplot.js"],
  ["dist/uPlot.min.css", "uplot.css"],
  ["LICENSE", "uplot.LICENSE"],
];
for (const [from, to] of files) {
  copyFileSync(join(uplot, from), join(dist, to));
}
console.log(`built frontend/dist with uPlot ${version}: ` +
    files.map(([, to]) => to).join(", "));
