/**
 * `npm run soak -- [--operations N] [--seed S] [--bots N] [--workers N] [--nodes N] [--no-chaos]
 * [--redis-restarts N] [--sentinel]`: the scale-out soak (engine.ts) with its counts; exit 1 when a promise broke.
 */
import { parseArgs } from "node:util";
import { DEFAULT_SOAK, formatSoakReport, runSoak, soakPassed } from "./engine";

const { values } = parseArgs({
  options: {
    operations: { type: "string" },
    seed: { type: "string" },
    bots: { type: "string" },
    workers: { type: "string" },
    nodes: { type: "string" },
    concurrency: { type: "string" },
    "redis-restarts": { type: "string" },
    "no-chaos": { type: "boolean" },
    sentinel: { type: "boolean" },
    quiet: { type: "boolean" },
  },
});
const int = (v: string | undefined, fallback: number, name: string): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`soak: --${name} needs a whole number, got "${v}"\n`);
    process.exit(2);
  }
  return n;
};
const report = await runSoak({
  operations: int(values.operations, DEFAULT_SOAK.operations, "operations"),
  seed: int(values.seed, Math.floor(Date.now() % 100_000), "seed"),
  bots: int(values.bots, DEFAULT_SOAK.bots, "bots"),
  workers: int(values.workers, DEFAULT_SOAK.workers, "workers"),
  nodes: int(values.nodes, DEFAULT_SOAK.nodes, "nodes"),
  concurrency: int(values.concurrency, DEFAULT_SOAK.concurrency, "concurrency"),
  redisRestarts: int(values["redis-restarts"], DEFAULT_SOAK.redisRestarts, "redis-restarts"),
  chaos: values["no-chaos"] !== true,
  redis: values.sentinel ? "sentinel" : "single",
  ...(values.quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
});
process.stdout.write(`${formatSoakReport(report)}\n`);
process.exit(soakPassed(report) ? 0 : 1);
