#!/usr/bin/env node
// Runs the bundle (`npm run build` → dist/xenops.js) when there is one; otherwise, in a development
// checkout, the TypeScript CLI through tsx (a devDependency: a production install has dist/ instead).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bundle = join(root, "dist", "xenops.js");

// The long-running roles start without source maps, as the systemd units and the image start them:
// Node parses a chunk's map when it loads the chunk and keeps it (about 60 MB per process). The bundle
// is not minified, so their traces keep function names and dist/ lines; NODE_OPTIONS=--enable-source-maps
// maps them to src/ while debugging.
const LONG_RUNNING = new Set(["bot", "worker"]);

if (existsSync(bundle)) {
  // One-off commands (config check, doctor, audit, console): stack traces point at src/.
  if (!LONG_RUNNING.has(process.argv[2] ?? "")) process.setSourceMapsEnabled(true);
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
