// `node:fs` plus `globSync` (Node 22+). See node20-compat.mjs.
import fs from "node:fs";

export * from "node:fs";
export default fs;

export const globSync =
  fs.globSync ??
  function globSync() {
    throw new Error("fs.globSync needs Node 22 or newer (used only by `conformance tier-check`)");
  };
