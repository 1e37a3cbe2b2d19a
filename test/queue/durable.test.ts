import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ApprovalEngine } from "../../src/approval/engine";
import { policyFor } from "../../src/approval/policy";
import { EnqueueOutcomeUnknown } from "../../src/core/enqueuer";
import { XenopsError } from "../../src/errors";
import { silentLogger } from "../../src/log";
import { createJobQueues } from "../../src/queue/queues";
import {
  closeConnection,
  createRedisConnection,
  durabilityOf,
  durably,
  parseRedisTarget,
  writeDurability,
} from "../../src/queue/redis";
import type { StatusJob } from "../../src/queue/schema";
import { makeEngine, migratePlan } from "../approval/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { type SentinelSetup, startSentinelSetup } from "../support/sentinel";

const notDurable = (err: unknown) => err instanceof XenopsError && err.code === "redis_not_durable";

describe("write durability settings", () => {
  it("waits for one replica on Sentinel and for none on a plain URL, unless the URL says otherwise", () => {
    expect(writeDurability("redis://127.0.0.1:6379/0")).toEqual({ replicas: 0, timeoutMs: 2_000 });
    expect(writeDurability("redis-sentinel://h1:26379/m")).toEqual({ replicas: 1, timeoutMs: 2_000 });
    expect(writeDurability("redis://h:1/0?wait=2&waitTimeoutMs=500")).toEqual({
      replicas: 2,
      timeoutMs: 500,
    });
    expect(writeDurability("redis-sentinel://h1/m?db=1&wait=0")).toEqual({ replicas: 0, timeoutMs: 2_000 });
    expect(() => writeDurability("redis://h:1?wait=x")).toThrow(/wait="x"/);
  });

  it("keeps its parameters away from ioredis", () => {
    expect(parseRedisTarget("redis://h:1/0?wait=1&family=6")).toEqual({
      kind: "url",
      url: "redis://h:1/0?family=6",
    });
    expect(parseRedisTarget("redis://h:1/0?wait=1")).toEqual({ kind: "url", url: "redis://h:1/0" });
    const target = parseRedisTarget("redis-sentinel://h1/m?db=3&wait=1&waitTimeoutMs=9");
    expect(target.kind === "sentinel" && target.db).toBe(3);
  });
});

describe("durable writes on a single Redis", () => {
  it("send no WAIT at all", async () => {
    const client = createRedisConnection(testRedisUrl(), { role: "client" });
    try {
      expect(durabilityOf(client).replicas).toBe(0);
      const waits = async () =>
        /cmdstat_wait:calls=(\d+)/.exec(await client.info("commandstats"))?.[1] ?? "0";
      const before = await waits();
      expect(await durably(client, () => client.set(`${uniquePrefix("durable")}:k`, "1", "EX", 60))).toBe(
        "OK",
      );
      expect(await waits()).toBe(before);
    } finally {
      await closeConnection(client);
    }
  });
});

describe("durable writes on Sentinel (real redis-server, replica and sentinel)", () => {
  let setup: SentinelSetup;
  let frozen: number | null = null;
  const engines: ApprovalEngine[] = [];
  beforeAll(async () => {
    setup = await startSentinelSetup();
  }, 60_000);
  afterEach(async () => {
    if (frozen !== null) setup.thaw(frozen);
    frozen = null;
    await Promise.all(engines.splice(0).map((e) => e.close()));
  });
  afterAll(async () => {
    await setup?.stop();
  });

  // A short WAIT, so that the frozen-replica cases end quickly.
  const url = () => `${setup.url}?waitTimeoutMs=300`;
  const replicaPort = async () => {
    const master = (await setup.currentMaster()).port;
    return master === setup.ports.master ? setup.ports.replica : setup.ports.master;
  };
  const freezeReplica = async () => {
    frozen = await replicaPort();
    setup.freeze(frozen);
  };

  it("is acknowledged by the replica while it is up, and raises redis_not_durable while it is frozen", async () => {
    const client = createRedisConnection(url(), { role: "client" });
    const key = `${uniquePrefix("durable")}:k`;
    try {
      expect(durabilityOf(client)).toEqual({ replicas: 1, timeoutMs: 300 });
      expect(await durably(client, () => client.set(key, "1"))).toBe("OK");

      await freezeReplica();
      // The master still takes the write (the replica's lag is under min-replicas-max-lag), but no
      // replica acknowledges it: it is not durable, and says so with a stable, retryable code.
      const err = await durably(client, () => client.set(key, "2")).catch((e: unknown) => e);
      expect(notDurable(err)).toBe(true);
      expect((err as Error).message).toMatch(/0 of 1 replicas acknowledged within 300 ms/);

      setup.thaw(frozen as number);
      frozen = null;
      expect(await durably(client, () => client.set(key, "3"))).toBe("OK");
    } finally {
      await closeConnection(client);
    }
  }, 30_000);

  it("stores no approval request it cannot keep: no card is posted", async () => {
    const h = makeEngine({ redisUrl: url() }, (e) => engines.push(e));
    const request = () =>
      h.engine.request(migratePlan(), {
        requestedBy: "UOPER1",
        channel: "C0OPS",
        policy: policyFor("migrate", { approvals: undefined }),
      });
    const kept = await request();
    expect(kept.messageTs).not.toBeNull();
    expect(h.notifier.posts).toHaveLength(1);

    await freezeReplica();
    expect(notDurable(await request().catch((e: unknown) => e))).toBe(true);
    expect(h.notifier.posts).toHaveLength(1);
  }, 30_000);

  it('says "may have been queued" rather than "queued as job N" for a job no replica has', async () => {
    const queues = createJobQueues({
      redisUrl: url(),
      prefix: uniquePrefix("durable-q"),
      clusters: ["lab"],
      logger: silentLogger(),
    });
    const payload = (deliveryId: string): StatusJob => ({
      cluster: "lab",
      target: null,
      channel: "C0123ABC",
      requestedBy: "U0123ABC",
      deliveryId,
      requestText: "status",
    });
    try {
      const queued = await queues.enqueue("lab", "status", payload("d1"), { deliveryId: "d1" });
      expect(queued.duplicate).toBe(false);

      await freezeReplica();
      const err = await queues
        .enqueue("lab", "status", payload("d2"), { deliveryId: "d2" })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnqueueOutcomeUnknown);
      expect(notDurable((err as Error).cause)).toBe(true);
    } finally {
      await queues.close();
    }
  }, 30_000);
});
