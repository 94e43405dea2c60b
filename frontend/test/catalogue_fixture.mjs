// The real signal catalogue (tensorboard_plugin_trainhealth/signals.py,
// pure stdlib), as the server sends it, for the frontend's unit tests.
import {execFileSync} from "node:child_process";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";

import {decodeCatalogue} from "../catalogue.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The catalogue's JSON body, read from signals.py by python3. */
export function catalogueBody() {
  const text = execFileSync("python3", ["-c",
    "import json, sys; sys.path.insert(0, sys.argv[1]); " +
    "from tensorboard_plugin_trainhealth import signals; " +
    "print(json.dumps(signals.CATALOGUE))", repo], {encoding: "utf8"});
  return JSON.parse(text);
}

/** The decoded catalogue (see catalogue.js). */
export function realCatalogue() {
  return decodeCatalogue(catalogueBody());
}
