import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log";
import { createJobQueues } from "../../src/queue/queues";
import {
  closeConnection,
  createRedisConnection,
  openConnectionCount,
  parseRedisTarget,
  redactRedisUrl,
} from "../../src/queue/redis";
import type { StatusJob } from "../../src/queue/schema";
import { type Processors, startWorkers } from "../../src/queue/worker";
import { uniquePrefix } from "../support/redis";
import { type SentinelSetup, startSentinelSetup } from "../support/sentinel";

describe("Redis targets", () => {
  it("keeps plain URLs as they are", () => {
    expect(parseRedisTarget("redis://127.0.0.1:6379/2")).toEqual({
      kind: "url",
      url: "redis://127.0.0.1:6379/2",
    });
  });

  it("reads a Sentinel URL into the addresses and master name that ioredis takes", () => {
    expect(
      parseRedisTarget(
        "redis-sentinel://:s3cret@10.0.0.1:26379,[::1]:26380,sentinel3/mymaster?db=2&sentinelPassword=p",
      ),
    ).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "::1", port: 26380 },
        { host: "sentinel3", port: 26379 },
      ],
      name: "mymaster",
      db: 2,
      password: "s3cret",
      sentinelPassword: "p",
      tls: false,
    });
  });

  it("says what to fix in a bad Sentinel URL", () => {
    expect(() => parseRedisTarget("redis-sentinel://h1:26379")).toThrow(/no master name.*MASTER_NAME/);
    expect(() => parseRedisTarget("redis-sentinel:///m")).toThrow(/no sentinel address/);
    expect(() => parseRedisTarget("redis-sentinel://h1:99999/m")).toThrow(/bad port/);
    expect(() => parseRedisTarget("redis-sentinel://h1/m?db=x")).toThrow(/bad db/);
  });

  it("redacts passwords for logs", () => {
    expect(redactRedisUrl("redis://:pw@h:1/0")).toBe("redis://:[redacted]@h:1/0");
    expect(redactRedisUrl("redis-sentinel://u:pw@h1,h2/m")).toBe("redis-sentinel://u:[redacted]@h1,h2/m");
    expect(redactRedisUrl("redis://h:1")).toBe("redis://h:1");
  });
});

describe("Redis Sentinel (real redis-server and sentinel)", () => {
  let setup: SentinelSetup;
  beforeAll(async () => {
    setup = await startSentinelSetup();
  }, 60_000);
  afterAll(async () => {
    await setup?.stop();
  });

  it("queues and works jobs through a failover, each exactly once", async () => {
    const logger = silentLogger();
    const prefix = uniquePrefix("sentinel");
    const queues = createJobQueues({
      redisUrl: setup.url,
      prefix,
      clusters: ["lab"],
      logger,
      retryBackoffMs: 50,
    });
    const seen: string[] = [];
    const processors = {
      status: async (job: { data: StatusJob }) => {
        seen.push(job.data.deliveryId);
        return { ok: true };
      },
    } as unknown as Processors;
    const workers = startWorkers({
      redisUrl: setup.url,
      prefix,
      clusters: ["lab"],
      processors,
      concurrency: 2,
      logger,
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
      await workers.ready();
      const before = await queues.enqueue("lab", "status", payload("before"), { deliveryId: "before" });
      expect((await queues.waitForJob(before.jobId, 20_000)).state).toBe("completed");

      const { from, to } = await setup.failover();
      expect(to).not.toBe(from);

      // The same delivery again (Slack redelivers) is the same job, on the new master too.
      const after = await queues.enqueue("lab", "status", payload("after"), { deliveryId: "after" });
      const again = await queues.enqueue("lab", "status", payload("after"), { deliveryId: "after" });
      expect(again.jobId).toBe(after.jobId);
      expect(again.duplicate).toBe(true);
      expect((await queues.waitForJob(after.jobId, 30_000)).state).toBe("completed");
      expect(seen.sort()).toEqual(["after", "before"]);

      // A plain client follows the failover as well and writes to the new master.
      const client = createRedisConnection(setup.url, { role: "client" });
      try {
        await client.set(`${prefix}:probe`, "1");
        expect((await client.info("server")).includes(`tcp_port:${to}`)).toBe(true);
      } finally {
        await closeConnection(client);
      }
    } finally {
      await workers.close(true);
      await queues.close();
    }
    expect(openConnectionCount()).toBe(0);
  }, 90_000);
});
