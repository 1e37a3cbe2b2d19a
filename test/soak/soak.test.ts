/**
 * A short scale-out soak in every test run: two bot processes and three worker processes on one
 * Redis, migrations with duplicate deliveries and double clicks, SIGKILL/SIGSTOP of bots and
 * workers and a Redis restart (AOF). `npm run soak` runs the long one (`--sentinel`: the same
 * through Sentinel failovers, which does not hold yet: see README).
 */
import { describe, expect, it } from "vitest";
import { formatSoakReport, runSoak } from "./engine";

describe("scale-out soak (separate bot and worker processes, real Redis, chaos)", () => {
  it("executes nothing twice, loses nothing and leaves every card final", async () => {
    const report = await runSoak({
      operations: 10,
      seed: 20261204,
      bots: 2,
      workers: 3,
      nodes: 6,
      concurrency: 3,
      chaos: true,
      redisRestarts: 1,
      operationTimeoutMs: 150_000,
    });
    const text = formatSoakReport(report);
    expect(report.requested, text).toBe(10);
    expect(report.approved, text).toBeGreaterThan(0);
    expect(report.executedTwice, text).toBe(0);
    expect(report.lost, text).toBe(0);
    expect(report.notFinal, text).toBe(0);
    expect(report.problems, text).toEqual([]);
    expect(report.chaos.redisRestarts, text).toBe(1);
  }, 600_000);
});
