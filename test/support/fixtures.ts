/** Locating test fixtures: the repo's own (test/fixtures) and the optional shared corpus beside the repo. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Absolute path of a file under test/fixtures, e.g. fixturePath("xen", "xm-info-4.0.1.txt"). */
export function fixturePath(...segments: string[]): string {
  return path.join(repoRoot, "test", "fixtures", ...segments);
}

/** A fixture's text, byte-for-byte (NUL bytes and missing final newlines kept). */
export function readFixture(...segments: string[]): string {
  return readFileSync(fixturePath(...segments), "utf8");
}

/** The shared fixture corpus (../shared/fixtures from the repo root), or null when it is not there. */
export function sharedFixturesDir(): string | null {
  const dir = path.resolve(repoRoot, "../shared/fixtures");
  return existsSync(dir) ? dir : null;
}
