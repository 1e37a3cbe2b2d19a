import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ApprovalEngine } from "../../src/approval/engine";
import { policyFor } from "../../src/approval/policy";
import { EnqueueOutcomeUnknown } from "../../src/chat/enqueuer";
import { XenopsError } from "../../src/errors";
import { RedisCardStore } from "../../src/job-cards/card-store";
import { silentLogger } from "../../src/log";
import { xenopsKeys } from "../../src/queue/names";
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
    expect(writeDurability("redis://127.0.0.1:6379/0")).toEqual({
      replicas: 0,
      timeoutMs: 2_000,
      retryMs: 30_000,
    });
    expect(writeDurability("redis-sentinel://h1:26379/m")).toEqual({
      replicas: 1,
      timeoutMs: 2_000,
      retryMs: 30_000,
    });
    expect(writeDurability("redis://h:1/0?wait=2&waitTimeoutMs=500&waitRetryMs=0")).toEqual({
      replicas: 2,
      timeoutMs: 500,
      retryMs: 0,
    });
    expect(writeDurability("redis-sentinel://h1/m?db=1&wait=0")).toEqual({
      replicas: 0,
      timeoutMs: 2_000,
      retryMs: 30_000,
    });
    expect(() => writeDurability("redis://h:1?wait=x")).toThrow(/wait="x"/);
  });

  it("keeps its parameters away from ioredis", () => {
    expect(parseRedisTarget("redis://h:1/0?wait=1&family=6")).toEqual({
      kind: "url",
      url: "redis://h:1/0?family=6",
    });
    expect(parseRedisTarget("redis://h:1/0?wait=1&waitRetryMs=5")).toEqual({
      kind: "url",
      url: "redis://h:1/0",
    });
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

  // A short WAIT, so that the frozen-replica cases end quickly; writes that may be sent again are, for
  // as long as it takes, only where a test asks for it.
  const url = (resend = false) => `${setup.url}?waitTimeoutMs=300${resend ? "" : "&waitRetryMs=0"}`;
  const replicaPort = async () => {
    const master = (await setup.currentMaster()).port;
    return master === setup.ports.master ? setup.ports.replica : setup.ports.master;
  };
  const freezeReplica = async () => {
    frozen = await replicaPort();
    setup.freeze(frozen);
  };
  const thaw = () => {
    if (frozen !== null) setup.thaw(frozen);
    frozen = null;
  };

  it("is acknowledged by the replica while it is up, and raises redis_not_durable while it is frozen", async () => {
    const client = createRedisConnection(url(), { role: "client" });
    const key = `${uniquePrefix("durable")}:k`;
    try {
      expect(durabilityOf(client)).toEqual({ replicas: 1, timeoutMs: 300, retryMs: 0 });
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

  /** A plain connection to the current master (not through xenops' code). */
  const onMaster = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    const r = new Redis({ port: (await setup.currentMaster()).port, host: "127.0.0.1", lazyConnect: true });
    r.on("error", () => {});
    try {
      await r.connect();
      return await fn(r);
    } finally {
      r.disconnect();
    }
  };
  /** Polls (bounded by attempts) until `probe` holds. */
  const until = async (what: string, probe: () => Promise<boolean> | boolean) => {
    for (let i = 0; i < 400; i++) {
      if (await probe()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${what} did not happen`);
  };
  /** An engine whose warnings are kept (to see that a write was sent again). */
  const engineWithLog = () => {
    const warnings: string[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => warnings.push(String(JSON.parse(line).msg)) },
    );
    const h = makeEngine({ redisUrl: url(true), logger }, (e) => engines.push(e));
    return { ...h, warnings };
  };
  const approved = async (h: ReturnType<typeof makeEngine>) => {
    const record = await h.engine.request(migratePlan(), {
      requestedBy: "UOPER1",
      channel: "C0OPS",
      policy: policyFor("migrate", { approvals: undefined }),
    });
    expect((await h.engine.decide(record.id, "UAPPROVER1", "approve")).outcome).toBe("approved");
    return record.id;
  };

  it("sends an execution claim no replica confirmed again, and it stands as this claim's, once", async () => {
    const h = engineWithLog();
    const id = await approved(h);
    await freezeReplica();
    let settled = false;
    const claim = h.engine
      .claimExecution(id, `exec-${id}`, { owner: "exec-job-1#first", ttlMs: 60_000 })
      .finally(() => {
        settled = true;
      });
    // On the master, not confirmed, sent again at least once: the claim is not given yet.
    await until(
      "the claim on the master",
      async () => (await onMaster((r) => r.exists(`${h.prefix}:exec:${id}`))) === 1,
    );
    await until("a resend", () => h.warnings.some((w) => /sending it again/.test(w)));
    expect(settled).toBe(false);
    thaw();
    expect(await claim).toBe("claimed");
    expect(await onMaster((r) => r.hget(`${h.prefix}:exec:${id}`, "leaseOwner"))).toBe("exec-job-1#first");
    // Another run (another delivery of the same job, or another job) is not this claim.
    expect(await h.engine.claimExecution(id, "job-1", { owner: "exec-job-1#second" })).toBe(
      "already_claimed",
    );
    expect(await h.engine.claimExecution(id, "job-2")).toBe("already_claimed");
  }, 30_000);

  it("sends journal steps and the finish again until a replica has them; its own finish is not another's", async () => {
    const h = engineWithLog();
    const id = await approved(h);
    expect(await h.engine.claimExecution(id, `exec-${id}`, { owner: "exec-job-1#a", ttlMs: 60_000 })).toBe(
      "claimed",
    );
    const fenced = h.engine.fenced({ approvalId: id, owner: "exec-job-1#a", token: 1 });

    await freezeReplica();
    let stepSettled = false;
    const step = fenced.stepStarted(id, 0).finally(() => {
      stepSettled = true;
    });
    await until("a resend of the step", () => h.warnings.some((w) => /sending it again/.test(w)));
    expect(stepSettled).toBe(false);
    thaw();
    await step;
    expect((await h.engine.journal(id))?.steps).toEqual([
      expect.objectContaining({ index: 0, status: "started" }),
    ]);

    h.warnings.length = 0;
    await freezeReplica();
    const finish = fenced.settle(id, "ok", "internet runs on ics1 (verified)", { cardStatus: "succeeded" });
    await until("the finish on the master", async () =>
      Boolean(await onMaster((r) => r.hget(`${h.prefix}:exec:${id}`, "finishedAtMs"))),
    );
    await until("a resend of the finish", () => h.warnings.some((w) => /sending it again/.test(w)));
    thaw();
    // The resend found the execution finished by itself (same token, same outcome): "ok", not "finished".
    expect(await finish).toBe("ok");
    expect((await h.engine.journal(id))?.finished).toMatchObject({ outcome: "ok" });
    // A different outcome after that is another's, and does not replace it.
    expect(await fenced.settle(id, "failed", "something else")).toBe("finished");
  }, 30_000);

  it("keeps a queued card's message until a replica has it, so the worker updates that card", async () => {
    const client = createRedisConnection(url(true), { role: "client" });
    const prefix = uniquePrefix("durable-cards");
    const cards = new RedisCardStore(client, prefix);
    const key = `${xenopsKeys(prefix).job("job-1")}:card`;
    try {
      expect(await cards.claimForAnnounce("job-1")).toBe(true);
      await freezeReplica();
      let settled = false;
      const kept = cards.announced("job-1", { channel: "C0OPS", ts: "1700000000.000001" }).finally(() => {
        settled = true;
      });
      await until(
        "the ref on the master",
        async () => (await onMaster((r) => r.hget(key, "ts"))) === "1700000000.000001",
      );
      expect(settled).toBe(false);
      thaw();
      expect(await kept).toBe(true);
      expect(await cards.claimForWorker("job-1")).toEqual({
        kind: "adopt",
        ref: { channel: "C0OPS", ts: "1700000000.000001" },
      });
    } finally {
      await closeConnection(client);
    }
  }, 30_000);
});
