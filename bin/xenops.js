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
  let register;
  try {
    ({ register } = await import("tsx/esm/api"));
  } catch {
    process.stderr.write(
      "xenops: no dist/ here (run `npm run build`) and tsx, a development dependency, is not installed\n",
    );
    process.exit(1);
  }
  register();
  await import(pathToFileURL(join(root, "src", "cli", "main.ts")).href);
}
