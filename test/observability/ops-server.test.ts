import { createServer } from "node:net";
import { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { Metrics } from "../../src/observability/metrics";
import {
  basicAuthorized,
  type HealthReport,
  type OpsServerOptions,
  redisPing,
  startOpsServer,
} from "../../src/observability/ops-server";
import { queueName } from "../../src/queue/names";
import { closeConnection, createRedisConnection, openConnectionCount } from "../../src/queue/redis";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  expect(openConnectionCount()).toBe(0);
});

function redisClient() {
  const client = createRedisConnection(testRedisUrl(), { role: "client" });
  cleanups.push(() => closeConnection(client));
  return client;
}

async function start(options: Partial<OpsServerOptions> = {}) {
  const server = await startOpsServer({
    port: 0,
    metrics: new Metrics({ defaultMetrics: false }),
    health: { redis: async () => true },
    ...options,
  });
  cleanups.push(() => server.close());
  return server;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

describe("/metrics", () => {
  it("serves the text exposition with the observed series", async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.jobFinished("status", "completed", 1.5);
    metrics.sshCommand("lab", "node1", 0.2, true);
    metrics.event("node_offline");
    metrics.observeSender(() => ({ queueDepth: 4, rateLimited: 1 }));
    const server = await start({ metrics });

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of [
      "xenops_jobs_total",
      "xenops_job_duration_seconds_bucket",
      "xenops_ssh_command_duration_seconds_bucket",
      "xenops_events_total",
      "xenops_slack_sender_queue_depth 4",
      "xenops_slack_rate_limited_total 1",
    ])
      expect(text).toContain(name);
  });

  it("answers 404 elsewhere and 405 to other methods", async () => {
    const server = await start();
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("/healthz", () => {
  it("is 200 with every check listed when Redis answers", async () => {
    const server = await start({
      health: {
        redis: redisPing(redisClient()),
        slack: () => true,
        workers: () => ({ running: true, clusters: ["lab"] }),
      },
    });
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ok",
      checks: {
        redis: { ok: true, ms: expect.any(Number) },
        slack: { ok: true },
        workers: { ok: true, clusters: ["lab"] },
      },
    });
  });

  it("is 503 naming the failed check when Redis is down or slow", async () => {
    // A client of a port where no Redis listens: the ping fails after its one retry.
    const down = createRedisConnection(`redis://127.0.0.1:${await freePort()}`, { role: "client" });
    cleanups.push(() => closeConnection(down));
    const server = await start({ health: { redis: redisPing(down), slack: () => true } });
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as HealthReport;
    expect(body).toMatchObject({ status: "fail", checks: { redis: { ok: false }, slack: { ok: true } } });
    expect(body.checks.redis?.error).toMatch(/retries|ECONNREFUSED/i);

    const slow = await start({ health: { redis: () => new Promise(() => {}) }, healthTimeoutMs: 50 });
    const late = await fetch(`${slow.url}/healthz`);
    expect(late.status).toBe(503);
    expect(((await late.json()) as HealthReport).checks.redis?.error).toBe("no answer within 50 ms");
  });

  it("is 503 when workers that should run do not", async () => {
    const server = await start({
      health: { redis: async () => true, workers: () => ({ running: false, clusters: [] }) },
    });
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as HealthReport).checks.workers).toEqual({
      ok: false,
      error: "workers are not running",
      clusters: [],
    });
  });
});

describe("/admin/queues", () => {
  async function withDashboard() {
    const prefix = uniquePrefix("dashboard");
    const connection = redisClient();
    const queue = new Queue(queueName("lab"), { connection, prefix });
    cleanups.push(() => queue.close());
    await queue.add("status", { cluster: "lab" }, { jobId: "status-1" });
    const server = await start({ dashboard: { queues: [queue], username: "ops", password: "s3cret pass" } });
    return { server, queue };
  }

  it("asks for credentials and refuses wrong ones", async () => {
    const { server } = await withDashboard();
    for (const authorization of [
      undefined,
      basic("ops", "wrong"),
      basic("root", "s3cret pass"),
      "Bearer x",
    ]) {
      const res = await fetch(
        `${server.url}/admin/queues`,
        authorization ? { headers: { authorization } } : {},
      );
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Basic realm="xenops", charset="UTF-8"');
    }
    expect((await fetch(`${server.url}/admin/queues/api/queues`)).status).toBe(401);
  });

  it("serves the board and its API with the right credentials, read-only", async () => {
    const { server, queue } = await withDashboard();
    const headers = { authorization: basic("ops", "s3cret pass") };
    const page = await fetch(`${server.url}/admin/queues`, { headers });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<base href="/admin/queues/" />');
    // Its assets resolve under the mount point, behind the same authentication.
    const css = /href="(static\/css\/[^"]+\.css)"/.exec(html)?.[1];
    expect(css).toBeDefined();
    expect((await fetch(`${server.url}/admin/queues/${css}`, { headers })).status).toBe(200);
    expect((await fetch(`${server.url}/admin/queues/${css}`)).status).toBe(401);

    const api = await fetch(`${server.url}/admin/queues/api/queues?activeQueue=${queueName("lab")}`, {
      headers,
    });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(body.queues).toEqual([expect.objectContaining({ name: queueName("lab"), readOnlyMode: true })]);

    // Adding a job from the browser would bypass Slack authorization and approvals.
    const add = await fetch(`${server.url}/admin/queues/api/queues/${queueName("lab")}/add`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ name: "fence", data: { cluster: "lab" } }),
    });
    expect(add.status).toBe(405);
    expect(await queue.count()).toBe(1);
  });

  it("refuses to start a dashboard without a password", async () => {
    await expect(
      startOpsServer({
        port: 0,
        metrics: new Metrics({ defaultMetrics: false }),
        health: { redis: async () => true },
        dashboard: { queues: [], username: "ops", password: "" },
      }),
    ).rejects.toThrow(/non-empty password/);
  });
});

describe("basicAuthorized", () => {
  it("accepts only the exact pair, with colons allowed in the password", () => {
    expect(basicAuthorized(basic("ops", "a:b"), "ops", "a:b")).toBe(true);
    expect(basicAuthorized(basic("ops", "a:b"), "ops", "a")).toBe(false);
    expect(basicAuthorized(basic("ops", ""), "ops", "")).toBe(true);
    expect(basicAuthorized(`Basic ${Buffer.from("ops").toString("base64")}`, "ops", "")).toBe(false);
    expect(basicAuthorized(undefined, "", "")).toBe(false);
  });
});
