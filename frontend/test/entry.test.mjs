// The entry (index.js) asks for every module of the tab at once: its list
// must name every module some module imports, and nothing else.
import assert from "node:assert/strict";
import {readdirSync, readFileSync} from "node:fs";
import {dirname, join} from "node:path";
import test from "node:test";
import {fileURLToPath} from "node:url";

import {MODULES, STYLESHEETS} from "../index.js";

const frontend = join(dirname(fileURLToPath(import.meta.url)), "..");

function importsOf(file) {
  const text = readFileSync(join(frontend, file), "utf8");
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"(\.\/[^"]+)"/gms)]
      .map((m) => m[1]);
}

test("the entry fetches every module the tab imports", () => {
  const sources = readdirSync(frontend).filter(
      (n) => n.endsWith(".js") && n !== "index.js");
  const imported = new Set(["./app.js"]);
  for (const file of sources) importsOf(file).forEach((m) => imported.add(m));
  assert.ok(imported.has("./uplot.js"), "the import scan found nothing");
  assert.deepEqual([...MODULES].sort(), [...imported].sort());
});

test("the entry's modules and stylesheets exist in frontend/", () => {
  const present = new Set([...readdirSync(frontend),
    "uplot.js", "uplot.css"]);  // built into dist/ by build.mjs
  for (const name of [...MODULES, ...STYLESHEETS]) {
    assert.ok(present.has(name.replace("./", "")), name);
  }
});

test("index.js has no static imports (they would load level by level)", () => {
  assert.deepEqual(importsOf("index.js"), []);
});

test("the first requests go out before anything else loads", () => {
  // prefetch.js imports nothing (it runs as soon as it arrives) and is
  // asked for first.
  assert.equal(MODULES[0], "./prefetch.js");
  assert.deepEqual(importsOf("prefetch.js"), []);
});
