/**
 * Drivers own their differences: above src/drivers, code asks a driver for a capability (a fence
 * method's power read-back and exit statuses, an HA stack's fence history, log, name or commands) and
 * never compares a stack's or a fence method's name. A new stack or method is then a driver and a
 * registry entry (CONTRIBUTING.md), not a hunt through the operations for every `=== "pacemaker"`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The code that plans, runs, approves and watches: it must not know the stacks or methods by name. */
const ABOVE_DRIVERS = ["src/operations", "src/approval", "src/events", "src/cluster", "jobs", "commands"];

const NAME_TESTS: { what: string; pattern: RegExp }[] = [
  {
    what: "an HA stack's name compared",
    pattern: /[!=]==\s*"(heartbeat|pacemaker)"|"(heartbeat|pacemaker)"\s*[!=]==/,
  },
  { what: "a switch on an HA stack's name", pattern: /case\s+"(heartbeat|pacemaker)"\s*:/ },
  { what: "a fence method's name compared", pattern: /[!=]==\s*"(stonith|fence-agent|stonith_admin)"/ },
  { what: "a fence method read to branch on", pattern: /\bfence\??\.method\b/ },
  { what: "a switch on a fence method's name", pattern: /case\s+"(stonith|fence-agent|stonith_admin)"\s*:/ },
];

function sources(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  return readdirSync(abs).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) return sources(rel);
    return rel.endsWith(".ts") ? [rel] : [];
  });
}

it("code above the drivers never tests an HA stack's or a fence method's name", () => {
  const files = ABOVE_DRIVERS.flatMap(sources);
  // A scanner that read nothing would pass.
  expect(files).toContain("src/operations/preflight.ts");
  expect(files).toContain("src/operations/verify.ts");
  const found: string[] = [];
  for (const file of files) {
    const lines = readFileSync(path.join(ROOT, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      for (const t of NAME_TESTS)
        if (t.pattern.test(line)) found.push(`${file}:${i + 1}: ${t.what}: ${line.trim()}`);
    });
  }
  expect(found).toEqual([]);
});

it("the patterns catch what they are meant to catch", () => {
  const caught = (line: string) => NAME_TESTS.some((t) => t.pattern.test(line));
  expect(caught(`if (cluster.toolstack.ha === "pacemaker") x();`)).toBe(true);
  expect(caught(`ha?.stack !== "pacemaker" || !ha.running`)).toBe(true);
  expect(caught(`return stack === "heartbeat" ? "heartbeat" : "Pacemaker";`)).toBe(true);
  expect(caught(`if (fence.method === "stonith") y();`)).toBe(true);
  expect(caught(`const m = deps.mutationsFor(c).fence?.method;`)).toBe(true);
  expect(caught(`if (cluster.toolstack.ha === "none") return;`)).toBe(false);
  expect(caught(`if (req.method === "POST") z();`)).toBe(false);
});
