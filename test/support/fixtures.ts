/** Locating test fixtures: the repo's own (test/fixtures) and the optional shared corpus beside the repo. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Absolute path of a file under test/fixtures, e.g. fixturePath("xen", "xm-info-4.0.1.txt"). */
export function fixturePath(...segments: string[]): string {
  return path.join(repoRoot, "test", "fixtures", ...segments);
}

/** A fixture's text, byte-for-byte (NUL bytes and missing final newlines kept). */
export function readFixture(...segments: string[]): string {
  return readFileSync(fixturePath(...segments), "utf8");
}

/** The directory of one kind in the shared corpus, e.g. sharedCorpusDir("drbd9"); it may be absent. */
export function sharedCorpusDir(kind: string): string {
  return path.resolve(repoRoot, "../shared/fixtures", kind);
}

/**
 * `describe` for the tests of one kind of the shared corpus: the plain one when its directory is
 * there. When it is missing, CI (CI=true) must not pass without it: the suite is one failing test
 * saying so; elsewhere (a clone without shared/ beside it) the suite is skipped with the reason printed.
 */
export function describeSharedCorpus(kind: string): (title: string, body: () => void) => void {
  const dir = sharedCorpusDir(kind);
  if (existsSync(dir)) return (title, body) => describe(title, body);
  const why = `the shared fixture corpus ${dir} is missing`;
  const ci = process.env.CI !== undefined && !["", "0", "false"].includes(process.env.CI);
  if (ci)
    return (title) =>
      describe(title, () => {
        it("has its fixtures", () => {
          throw new Error(`${why}; under CI every corpus test runs: lay shared/ beside the clone`);
        });
      });
  return (title, body) => {
    console.warn(`skipped "${title}": ${why} (under CI=true this fails)`);
    describe.skip(title, body);
  };
}
