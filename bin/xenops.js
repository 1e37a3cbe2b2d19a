#!/usr/bin/env node
// Runs the bundle (`npm run build` → dist/xenops.js) when there is one; otherwise, in a development
// checkout, the TypeScript CLI through tsx (a devDependency: a production install has dist/ instead).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bundle = join(root, "dist", "xenops.js");

if (existsSync(bundle)) {
  // Stack traces point at src/ through the bundle's source map.
  process.setSourceMapsEnabled(true);
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(join(root, "src", "cli", "main.ts")).href);
}
