/**
 * Short scale-out soaks in every test run: two bot processes and three worker processes, migrations
 * with duplicate deliveries and double clicks, SIGKILL/SIGSTOP of bots and workers, and either a Redis
 * restart (one redis-server, AOF) or a Sentinel failover (a real master, replica and sentinel). `npm run
 * soak` runs the long ones (`--sentinel` for the failover).
 */
import { describe, expect, it } from "vitest";
import { formatSoakReport, runSoak, type SoakOptions } from "./engine";

/** Two bots and three workers over six nodes, three operations at a time, with chaos and one Redis restart. */
const SHORT: Omit<SoakOptions, "operations" | "seed" | "redis"> = {
  bots: 2,
  workers: 3,
  nodes: 6,
  concurrency: 3,
  chaos: true,
  redisRestarts: 1,
  operationTimeoutMs: 150_000,
};

/** Runs a short soak and checks its promises: every operation requested, nothing twice, nothing lost. */
async function soakHolds(operations: number, seed: number, redis: SoakOptions["redis"]): Promise<void> {
  const report = await runSoak({ ...SHORT, operations, seed, redis });
  const text = formatSoakReport(report);
  expect(report.requested, text).toBe(operations);
  expect(report.approved, text).toBeGreaterThan(0);
  expect(report.executedTwice, text).toBe(0);
  expect(report.lost, text).toBe(0);
  expect(report.notFinal, text).toBe(0);
  expect(report.problems, text).toEqual([]);
  expect(report.chaos.redisRestarts, text).toBe(1);
}

describe("scale-out soak (separate bot and worker processes, real Redis, chaos)", () => {
  it("executes nothing twice, loses nothing and leaves every card final", async () => {
    await soakHolds(10, 20261204, "single");
  }, 600_000);

  it("holds through a Sentinel failover: nothing twice, nothing lost, every card final", async () => {
    await soakHolds(8, 20261205, "sentinel");
  }, 600_000);
});
