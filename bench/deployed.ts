/**
 * How a deployment starts the bot and the worker, read from the systemd units
 * (contrib/systemd/xenops-{bot,worker}.service): node's own flags on ExecStart and the unit's
 * `Environment=` lines. The benchmark starts the build exactly so, so that what it measures is what the
 * units run (test/deploy/conventions.test.ts keeps the Dockerfile and compose file on the same flags).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface UnitLaunch {
  /** The arguments between `node` and the script, e.g. `--max-semi-space-size=1`. */
  nodeFlags: string[];
  /** The unit's `Environment=` assignments (not its EnvironmentFile, which holds the deployment's own). */
  env: Record<string, string>;
}

const ROOT = join(import.meta.dirname, "..");

export function unitLaunch(role: "bot" | "worker", root = ROOT): UnitLaunch {
  const file = join(root, "contrib", "systemd", `xenops-${role}.service`);
  const lines = readFileSync(file, "utf8").split("\n");
  const exec = lines.find((l) => l.startsWith("ExecStart="));
  if (!exec) throw new Error(`${file}: no ExecStart=`);
  const argv = exec.slice("ExecStart=".length).trim().split(/\s+/);
  const script = argv.findIndex((a) => a.endsWith("/xenops.js"));
  if (script < 1) throw new Error(`${file}: ExecStart does not run .../xenops.js: ${exec}`);
  const env: Record<string, string> = {};
  for (const line of lines.filter((l) => l.startsWith("Environment="))) {
    for (const assignment of line.slice("Environment=".length).trim().split(/\s+/)) {
      const eq = assignment.indexOf("=");
      if (eq > 0) env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
  }
  return { nodeFlags: argv.slice(1, script), env };
}
