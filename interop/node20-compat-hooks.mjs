// Module resolution hook registered by node20-compat.mjs: `fs` imported by the conformance package resolves to
// fs-with-globsync.mjs. Everything else resolves as usual.
const SHIM = new URL("./fs-with-globsync.mjs", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  const fromSuite = context.parentURL?.includes("/node_modules/@modelcontextprotocol/conformance/");
  if (fromSuite && (specifier === "fs" || specifier === "node:fs")) {
    return { url: SHIM, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
