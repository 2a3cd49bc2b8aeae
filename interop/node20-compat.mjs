// Lets the conformance suite run on Node 20 (the CI machine's Node).
//
// @modelcontextprotocol/conformance imports `globSync` from `fs`, which Node added in 22; on Node 20 the import
// fails at link time, before any scenario runs. The suite only calls it in `tier-check` (not used here), so
// on Node 20 the import is answered by a module that re-exports `node:fs` plus a `globSync` that says why it
// is missing. On Node 22 or newer this hook does nothing. Loaded with `node --import ./node20-compat.mjs`.
import { register } from "node:module";

const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  register("./node20-compat-hooks.mjs", import.meta.url);
}
