#!/usr/bin/env node
// `npm run build`: bundles the CLI (bot, worker, console, audit, config check, doctor) with esbuild into
// dist/xenops.js, one ESM file that carries its npm dependencies, so a deployment copies dist/ and
// needs no node_modules and no `npm install` (the container image relies on that).
//
// What cannot live inside the bundle, and what happens to it:
// - ssh2's native helpers are optional and loaded inside try/catch: `cpu-features` stays external
//   (absent at run time, ssh2 then orders ciphers without CPU hints) and its `sshcrypto.node` binding is
//   copied beside the bundle when this machine built one (else ssh2 uses its pure-JS/WASM fallback).
// - bull-board reads its UI (templates, static files) from a package directory at run time: the UI's
//   dist/ is copied to dist/bull-board-ui/ and src/observability/ops-server.ts points bull-board there.
// BullMQ 6 ships its Lua commands as generated JS modules, so they are bundled like any code.
//
// Memory (each bot and worker process pays for what it loads):
// - Code splitting: what only one role needs is imported dynamically (Bolt by the bot, ssh2 by the
//   workers and the doctor, bull-board by the dashboard) and lands in chunks of its own beside
//   xenops.js, loaded only by the process that needs it.
// - ASCII only: V8 keeps a script's source in memory for lazy compilation, and one non-ASCII character
//   anywhere (a dependency's comment) makes the whole source two bytes per character. esbuild escapes
//   strings and identifiers (charset "ascii"); what remains is in kept comments, replaced below.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// `--outdir DIR` (tests build into a temporary directory); default dist/.
const outArg = process.argv.indexOf("--outdir");
const out = outArg > 0 && process.argv[outArg + 1] ? resolve(process.argv[outArg + 1]) : join(root, "dist");
const require = createRequire(join(root, "package.json"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { xenops: "src/cli/main.ts" },
  outdir: out,
  bundle: true,
  format: "esm",
  splitting: true,
  // In dist/ itself: ssh2's binding and the dashboard's UI are found relative to the chunk's own path.
  chunkNames: "xenops-[name]-[hash]",
  charset: "ascii",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // Keeps stack traces readable without a source map consumer too.
  minify: false,
  legalComments: "linked",
  external: ["cpu-features", "*.node"],
  // CommonJS dependencies call require() for Node built-ins (and ssh2 for its optional binding) and
  // read __dirname/__filename; in the bundle those are dist/'s.
  banner: {
    js: [
      'import { createRequire as __xenopsCreateRequire } from "node:module";',
      'import { dirname as __xenopsDirname } from "node:path";',
      'import { fileURLToPath as __xenopsFileURLToPath } from "node:url";',
      "const require = __xenopsCreateRequire(import.meta.url);",
      "const __filename = __xenopsFileURLToPath(import.meta.url);",
      "const __dirname = __xenopsDirname(__filename);",
    ].join("\n"),
  },
  // src/cli/version.ts reads package.json when not bundled.
  define: { __XENOPS_VERSION__: JSON.stringify(pkg.version) },
  metafile: true,
  logLevel: "warning",
});

// With charset "ascii" only the comments esbuild keeps may hold non-ASCII characters: one "?" per UTF-16
// unit keeps every column (and so the source map) where it was.
for (const file of Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js"))) {
  const path = join(root, file);
  const text = readFileSync(path, "utf8");
  if (!/\P{ASCII}/u.test(text)) continue;
  const ascii = text.replace(/\P{ASCII}/gu, (c) => "?".repeat(c.length));
  writeFileSync(path, ascii);
}

// ssh2 requires its binding relative to lib/protocol/crypto.js: `./crypto/build/Release/sshcrypto.node`,
// which in the bundle resolves relative to dist/xenops.js.
const ssh2Dir = dirname(require.resolve("ssh2/package.json"));
const binding = join(ssh2Dir, "lib", "protocol", "crypto", "build", "Release", "sshcrypto.node");
if (existsSync(binding)) {
  mkdirSync(join(out, "crypto", "build", "Release"), { recursive: true });
  cpSync(binding, join(out, "crypto", "build", "Release", "sshcrypto.node"));
}

const uiDir = dirname(require.resolve("@bull-board/ui/package.json"));
cpSync(join(uiDir, "dist"), join(out, "bull-board-ui", "dist"), { recursive: true });

// Marks dist/ as an ES module scope of its own, whatever package.json sits above it on the host.
writeFileSync(
  join(out, "package.json"),
  `${JSON.stringify({ name: "xenops-dist", version: pkg.version, private: true, type: "module" }, null, 2)}\n`,
);

const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
const chunks = Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js")).length - 1;
process.stdout.write(
  `${relative(process.cwd(), join(out, "xenops.js"))} and ${chunks} chunk(s): ${(bytes / 1e6).toFixed(1)} MB (with source maps), xenops ${pkg.version}\n`,
);
