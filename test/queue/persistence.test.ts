/**
 * Redis persistence: a real redis-server WITHOUT AOF (started for this test) makes risky actions refused
 * (requesting, approving, planning, executing) with the fix named, and /healthz fail
 * `redis_persistence`; the test Redis (with AOF, like the lab's) passes; CONFIG renamed away falls back
 * to INFO persistence, and when neither answers the setting is unknown and refused too.
 */

import type { Job } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOperationPlanProcessor } from "../../jobs/operation-plan";
import type { ApprovalEngine } from "../../src/approval/engine";
import { Metrics } from "../../src/observability/metrics";
import { redisPing, startOpsServer } from "../../src/observability/ops-server";
import { executeApproved } from "../../src/operations/executor";
import { type EmbeddedRedis, startEmbeddedRedis } from "../../src/queue/embedded-redis";
import { RedisDurability, readRedisPersistence } from "../../src/queue/persistence";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { referenceLab } from "../../src/sim";
import { makeEngine, migratePlan } from "../approval/helpers";
import { harness } from "../operations/harness";
import { testRedisUrl } from "../support/redis";

let volatile: EmbeddedRedis;
let volatileClient: Redis;
let durableClient: Redis;

beforeAll(async () => {
  volatile = await startEmbeddedRedis({ appendonly: false });
  volatileClient = createRedisConnection(volatile.url, { role: "client" });
  durableClient = createRedisConnection(testRedisUrl(), { role: "client" });
});
afterAll(async () => {
  await closeConnection(volatileClient);
  await closeConnection(durableClient);
  await volatile.stop();
});

const POLICY = {
  requestRole: "operator",
  approveRole: "approver",
  approvals: 1,
  twoPerson: true,
  expiresInMs: 600_000,
} as const;

describe("reading Redis persistence", () => {
  it("sees AOF on the test Redis (the embedded one runs with appendonly yes, everysec)", async () => {
    const p = await readRedisPersistence(durableClient);
    expect(p).toMatchObject({ appendonly: true, appendfsync: "everysec", source: "config" });
    expect(p.runId).toMatch(/^[0-9a-f]{40}$/);
    expect(await new RedisDurability(durableClient).refusal()).toBeNull();
  });

  it("sees it off on a Redis without AOF, and names the fix", async () => {
    expect(await readRedisPersistence(volatileClient)).toMatchObject({ appendonly: false, source: "config" });
    const refusal = await new RedisDurability(volatileClient).refusal();
    expect(refusal).toContain("appendonly no");
    expect(refusal).toContain("`appendonly yes`");
    expect(refusal).toContain("redis.conf");
  });

  it("falls back to INFO persistence when CONFIG is renamed away, and says so", async () => {
    const noConfig = {
      info: (section: string) => durableClient.info(section),
      call: async () => {
        throw new Error("ERR unknown command 'CONFIG'");
      },
    } as unknown as Redis;
    const p = await readRedisPersistence(noConfig);
    expect(p).toMatchObject({ appendonly: true, appendfsync: null, source: "info" });
    expect(p.problem).toContain("unknown command 'CONFIG'");
  });

  it("treats a setting it cannot read as off (refused, with the reason)", async () => {
    const mute = {
      info: async () => {
        throw new Error("ERR unknown command 'INFO'");
      },
      call: async () => {
        throw new Error("ERR unknown command 'CONFIG'");
      },
    } as unknown as Redis;
    const durability = new RedisDurability(mute);
    const refusal = await durability.refusal();
    expect(refusal).toContain("cannot be read");
    expect(refusal).toContain("unknown command 'CONFIG'");
    expect(await durability.health()).toMatchObject({ ok: false, appendonly: "unknown", source: "none" });
  });

  it("XENOPS_ALLOW_VOLATILE_REDIS lets it through, with a warning on /healthz", async () => {
    const durability = new RedisDurability(volatileClient, { allowVolatile: true });
    expect(await durability.refusal()).toBeNull();
    expect(await durability.health()).toMatchObject({
      ok: true,
      appendonly: "no",
      warning: expect.stringContaining("development only"),
    });
  });
});

describe("/healthz redis_persistence", () => {
  async function healthz(client: Redis) {
    const server = await startOpsServer({
      port: 0,
      metrics: new Metrics({ defaultMetrics: false }),
      health: { redis: redisPing(client), persistence: () => new RedisDurability(client).health() },
    });
    try {
      const res = await fetch(`${server.url}/healthz`);
      return {
        status: res.status,
        body: (await res.json()) as { status: string; checks: Record<string, Record<string, unknown>> },
      };
    } finally {
      await server.close();
    }
  }

  it("fails, saying why and how to fix it, on a Redis without AOF", async () => {
    const { status, body } = await healthz(volatileClient);
    expect(status).toBe(503);
    expect(body.status).toBe("fail");
    expect(body.checks.redis).toMatchObject({ ok: true });
    expect(body.checks.redis_persistence).toMatchObject({ ok: false, appendonly: "no" });
    expect(String(body.checks.redis_persistence?.error)).toContain("`appendonly yes`");
  });

  it("passes on a Redis with AOF", async () => {
    const { status, body } = await healthz(durableClient);
    expect(status).toBe(200);
    expect(body.checks.redis_persistence).toMatchObject({
      ok: true,
      appendonly: "yes",
      appendfsync: "everysec",
    });
  });
});

describe("risky actions on a Redis without AOF", () => {
  const engines: ApprovalEngine[] = [];
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
  });

  it("requesting and approving are refused with the fix named", async () => {
    const durability = new RedisDurability(volatileClient, { refreshMs: 0 });
    const h = makeEngine({ durability }, (e) => engines.push(e));
    await expect(
      h.engine.request(migratePlan(), { requestedBy: "UOPER1", channel: "C0LAB", policy: POLICY }),
    ).rejects.toMatchObject({ code: "approval_refused", message: expect.stringContaining("appendonly yes") });

    // A request made while Redis was durable, approved after AOF was lost: refused too.
    let refusal: string | null = null;
    const late = makeEngine({ durability: { refusal: async () => refusal } }, (e) => engines.push(e));
    const record = await late.engine.request(migratePlan(), {
      requestedBy: "UOPER1",
      channel: "C0LAB",
      policy: POLICY,
    });
    refusal = await durability.refusal();
    const decision = await late.engine.decide(record.id, "UAPPROVER1", "approve");
    expect(decision).toMatchObject({ outcome: "refused", reason: expect.stringContaining("appendonly yes") });
    expect((await late.engine.get(record.id))?.status).toBe("pending");
  });

  it("planning is refused before the cluster is even read", async () => {
    const h = await harness(referenceLab(), { durability: new RedisDurability(volatileClient) });
    try {
      const plan = createOperationPlanProcessor(h.deps);
      const job = {
        id: "plan-1",
        data: {
          cluster: h.cluster.name,
          channel: "C0LAB",
          requestedBy: "UOPER1",
          deliveryId: "d-1",
          requestText: "/xen migrate internet ics1",
          operation: { action: "migrate", guest: "internet", target: "ics1" },
          dryRun: false,
        },
        updateData: async () => {},
      } as unknown as Parameters<typeof plan>[0] & Job;
      const result = await plan(job);
      expect(result).toMatchObject({ result: "refused", failed: ["redis_persistence"] });
      expect(h.calls).toEqual([]);
      expect(h.notifier.posts.map((p) => p.message.text)).toEqual([
        expect.stringMatching(/^⛔ Refused: .*internet.*appendonly no.*`appendonly yes`/s),
      ]);
    } finally {
      await h.close();
    }
  });

  it("an approved execution is refused before anything runs, and the card says why", async () => {
    let refusal: string | null = null;
    const h = await harness(referenceLab(), { durability: { refusal: async () => refusal } });
    try {
      const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
      // Redis lost its AOF between approval and execution.
      refusal = await new RedisDurability(volatileClient).refusal();
      const before = h.calls.length;
      const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
      expect(outcome).toMatchObject({
        status: "refused",
        summary: expect.stringContaining("nothing ran"),
        reason: expect.stringContaining("appendonly yes"),
      });
      expect(h.calls.slice(before)).toEqual([]);
      expect((await h.deps.approvals.journal(id))?.finished?.outcome).toBe("cancelled");
      const card = h.notifier.current(h.notifier.posts[0]?.ref.ts ?? "");
      expect(JSON.stringify(card)).toContain("appendonly yes");
    } finally {
      await h.close();
    }
  });
});
