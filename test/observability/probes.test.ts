/**
 * /livez and /readyz (with /healthz as readyz's older name): liveness says only that the process answers;
 * readiness fails on Redis or workers and is merely degraded (still 200) when Slack cannot be reached.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Metrics } from "../../src/observability/metrics";
import {
  type HealthChecks,
  type HealthReport,
  redisPing,
  startOpsServer,
} from "../../src/observability/ops-server";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { testRedisUrl } from "../support/redis";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(health: HealthChecks) {
  const server = await startOpsServer({ port: 0, metrics: new Metrics({ defaultMetrics: false }), health });
  cleanups.push(() => server.close());
  return server;
}

async function get(url: string): Promise<{ status: number; body: HealthReport }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as HealthReport };
}

describe("ops probes", () => {
  it("/livez is 200 even when every readiness check fails", async () => {
    const server = await start({
      redis: async () => false,
      workers: () => ({ running: false, clusters: [] }),
    });
    expect(await get(`${server.url}/livez`)).toEqual({ status: 200, body: { status: "ok" } });
    const ready = await get(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe("fail");
  });

  it("/readyz is ok with a real Redis, running workers and Slack answering; /healthz is the same report", async () => {
    const client = createRedisConnection(testRedisUrl(), { role: "client" });
    cleanups.push(() => closeConnection(client));
    const server = await start({
      redis: redisPing(client),
      slack: () => true,
      workers: () => ({ running: true, clusters: ["lab"] }),
    });
    for (const path of ["/readyz", "/healthz"]) {
      const { status, body } = await get(`${server.url}${path}`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        status: "ok",
        checks: { redis: { ok: true }, slack: { ok: true }, workers: { ok: true, clusters: ["lab"] } },
      });
    }
  });

  it("a Slack outage makes /readyz degraded (200), not failed", async () => {
    const server = await start({
      redis: async () => true,
      slack: () => {
        throw new Error("auth.test failed: request_ECONNREFUSED");
      },
      workers: () => ({ running: true, clusters: ["lab"] }),
    });
    const { status, body } = await get(`${server.url}/readyz`);
    expect(status).toBe(200);
    expect(body.status).toBe("degraded");
    expect(body.checks.slack).toEqual({ ok: false, error: "auth.test failed: request_ECONNREFUSED" });
  });

  it("Slack down and Redis down together is a failure (503)", async () => {
    const server = await start({ redis: async () => false, slack: () => false });
    const { status, body } = await get(`${server.url}/healthz`);
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: "fail", checks: { redis: { ok: false }, slack: { ok: false } } });
  });
});
