/**
 * What each role loads from the build: the modules every process runs (the entry's static imports) hold
 * neither ssh2 nor Bolt, which come in chunks of their own that only a worker (ssh2) or a bot (Bolt)
 * imports, and that are never one chunk together. The memory target of the bot and the worker depends
 * on it (npm run bench measures it).
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle } from "./helpers";

/** Text only these libraries contain (ssh2's identification string, Bolt's HTTP receiver class). */
const MARKERS = { ssh2: "SSH-2.0-ssh2js", bolt: "HTTPReceiver" } as const;

let dir: string;
const files = new Map<string, string>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "xenops-roles-"));
  await buildBundle(dir);
  for (const f of (await readdir(dir)).filter((f) => f.endsWith(".js")))
    files.set(f, await readFile(join(dir, f), "utf8"));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const staticImports = (text: string) =>
  [...text.matchAll(/^import\s*(?:[^"]*?from\s*)?"\.\/([^"]+)"/gm)].map((m) => m[1] as string);
const dynamicImports = (text: string) =>
  [...text.matchAll(/\bimport\("\.\/([^"]+)"\)/g)].map((m) => m[1] as string);

function closure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const f of staticImports(files.get(file) ?? "")) closure(f, seen);
  return seen;
}

const holding = (marker: string) => [...files].filter(([, text]) => text.includes(marker)).map(([f]) => f);

describe("the build's chunks per role", () => {
  it("loads neither ssh2 nor Bolt at start; each comes in a chunk of its own, imported on demand", () => {
    const always = closure("xenops.js");
    const ssh2 = holding(MARKERS.ssh2);
    const bolt = holding(MARKERS.bolt);
    expect(ssh2).toHaveLength(1);
    expect(bolt).toHaveLength(1);
    expect(ssh2[0]).not.toBe(bolt[0]);
    for (const f of [...ssh2, ...bolt]) {
      expect(always.has(f), f).toBe(false);
      // Reached through a dynamic import, not left out of the build.
      expect(
        [...files.values()].some((text) => dynamicImports(text).includes(f)),
        f,
      ).toBe(true);
    }
  });

  it("is ASCII only, so V8 keeps each chunk's source at one byte per character", () => {
    for (const [f, text] of files) expect(/\P{ASCII}/u.test(text), f).toBe(false);
  });
});
