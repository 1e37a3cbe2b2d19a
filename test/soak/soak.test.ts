/**
 * Short scale-out soaks in every test run: two bot processes and three worker processes, migrations
 * with duplicate deliveries and double clicks, SIGKILL/SIGSTOP of bots and workers, and either a Redis
 * restart (one redis-server, AOF) or a Sentinel failover (a real master, replica and sentinel). `npm run
 * soak` runs the long ones (`--sentinel` for the failover).
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

  it("holds through a Sentinel failover: nothing twice, nothing lost, every card final", async () => {
    const report = await runSoak({
      operations: 8,
      seed: 20261205,
      bots: 2,
      workers: 3,
      nodes: 6,
      concurrency: 3,
      chaos: true,
      redisRestarts: 1,
      redis: "sentinel",
      operationTimeoutMs: 150_000,
    });
    const text = formatSoakReport(report);
    expect(report.requested, text).toBe(8);
    expect(report.approved, text).toBeGreaterThan(0);
    expect(report.executedTwice, text).toBe(0);
    expect(report.lost, text).toBe(0);
    expect(report.notFinal, text).toBe(0);
    expect(report.problems, text).toEqual([]);
    expect(report.chaos.redisRestarts, text).toBe(1);
  }, 600_000);
});
