/**
 * Honest enqueue replies: a timed-out enqueue says the job may have been queued (it was, here), a retry
 * of the same delivery finds the same job, a Redis that is not there says nothing was queued; and an
 * incident button files one request per click however often the click arrives.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { commands } from "../../commands";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { EnqueueOutcomeUnknown } from "../../src/chat/enqueuer";
import { createCommandCore } from "../../src/chat/router";
import { XenopsError } from "../../src/errors";
import { silentLogger } from "../../src/log";
import { type EmbeddedRedis, startEmbeddedRedis } from "../../src/queue/embedded-redis";
import { createJobQueues, type JobQueues } from "../../src/queue/queues";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { createDeps, type Deps } from "../../src/runtime/deps";
import { referenceLab, Simulation } from "../../src/sim";
import { RecordingNotifier } from "../approval/helpers";
import { simInventory, simRunner } from "../events/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const cleanups: (() => Promise<void>)[] = [];

async function until(predicate: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("an enqueue that times out", () => {
  // A Redis of its own: CLIENT PAUSE stops every writer of a server.
  let server: EmbeddedRedis;
  let admin: Redis;
  beforeAll(async () => {
    server = await startEmbeddedRedis();
    admin = createRedisConnection(server.url, { role: "client" });
  });
  afterAll(async () => {
    await closeConnection(admin);
    await server.stop();
  });

  function queues(): JobQueues {
    const q = createJobQueues({
      redisUrl: server.url,
      prefix: uniquePrefix("enqueue-timeout"),
      clusters: ["lab"],
      logger: silentLogger(),
      enqueueTimeoutMs: 300,
    });
    cleanups.push(() => q.close());
    return q;
  }

  const payload = {
    cluster: "lab",
    target: null,
    channel: "C0LAB",
    requestedBy: "UVIEWER1",
    deliveryId: "d",
    requestText: "status",
  };

  it("says the job may have been queued, and a retry of the same delivery returns that job", async () => {
    const q = queues();
    // Connections up first (a paused server still accepts connections, not writes). A 300 ms budget
    // waits only 50 ms for a new connection, which a loaded machine can miss: a lookup waits longer.
    expect(await q.lookup(1_000_000)).toBeNull();
    await q.enqueue("lab", "status", { ...payload, deliveryId: "warm" }, { deliveryId: "warm" });
    await admin.call("CLIENT", "PAUSE", "800", "WRITE");
    const err = await q
      .enqueue("lab", "status", { ...payload, deliveryId: "slow" }, { deliveryId: "slow" })
      .catch((e) => e);
    expect(err).toBeInstanceOf(EnqueueOutcomeUnknown);
    expect((err as Error).message).toMatch(/did not answer within 300 ms/);
    // The write goes through once the server resumes: the job is there.
    await until(async () => (await q.queue("lab").count()) === 2);
    const retry = await q.enqueue(
      "lab",
      "status",
      { ...payload, deliveryId: "slow" },
      { deliveryId: "slow" },
    );
    expect(retry.duplicate).toBe(true);
    expect(await q.getJob(retry.jobId)).toBeDefined();
    expect(await q.queue("lab").count()).toBe(2);
  });

  it("the reply says so, and `/xen jobs`; the same request again is the same job", async () => {
    const q = queues();
    const sim = new Simulation(referenceLab());
    const inventory = simInventory(sim);
    const core = createCommandCore({
      inventory,
      commands,
      jobs: q,
      groups: new StaticGroupDirectory(),
      logger: silentLogger(),
    });
    const request = (deliveryId: string) =>
      core.command({
        source: "slack",
        deliveryId,
        teamId: null,
        channelId: "C0LAB",
        userId: "UVIEWER1",
        text: "status",
      });
    // The connection up first: a 300 ms budget waits only 50 ms for it, which a loaded machine can miss.
    expect(await q.lookup(1_000_000)).toBeNull();
    expect((await request("warm-core")).text).toMatch(/^Queued as job \d+/);
    await admin.call("CLIENT", "PAUSE", "800", "WRITE");
    const late = await request("trigger-1");
    expect(late.text).toMatch(/may have been queued: the job queue \(Redis\) did not answer within 300 ms/);
    expect(late.text).toContain("See `/xen jobs`");
    expect(late.text).not.toMatch(/Nothing was queued/);
    await until(async () => (await q.queue("lab").count()) === 2);
    const again = await request("trigger-1");
    expect(again.text).toMatch(/^Already queued as job \d+/);
    expect(await q.queue("lab").count()).toBe(2);
  });

  it("a Redis that is not there: nothing was written, and the reply says nothing was queued", async () => {
    const gone = await startEmbeddedRedis();
    await gone.stop();
    const q = createJobQueues({
      redisUrl: gone.url,
      prefix: uniquePrefix("enqueue-down"),
      clusters: ["lab"],
      logger: silentLogger(),
      enqueueTimeoutMs: 300,
    });
    cleanups.push(() => q.close());
    const err = await q.enqueue("lab", "status", payload, { deliveryId: "x" }).catch((e) => e);
    expect(err).toBeInstanceOf(XenopsError);
    expect(err).not.toBeInstanceOf(EnqueueOutcomeUnknown);
    const core = createCommandCore({
      inventory: simInventory(new Simulation(referenceLab())),
      commands,
      jobs: q,
      groups: new StaticGroupDirectory(),
      logger: silentLogger(),
    });
    const reply = await core.command({
      source: "slack",
      deliveryId: "y",
      teamId: null,
      channelId: "C0LAB",
      userId: "UVIEWER1",
      text: "status",
    });
    expect(reply.text).toMatch(/Nothing was queued; try again\.$/);
  });
});

describe("incident buttons", () => {
  let deps: Deps;
  let clock = Date.parse("2030-01-01T12:00:10Z");
  beforeAll(async () => {
    const sim = new Simulation(referenceLab());
    deps = await createDeps({
      inventory: simInventory(sim),
      logger: silentLogger(),
      redisUrl: testRedisUrl(),
      queuePrefix: uniquePrefix("buttons"),
      secretEnv: {},
      notifier: new RecordingNotifier(),
      groups: new StaticGroupDirectory(),
      runnerFor: (_c, n) => simRunner(sim, n),
      events: { removeSchedulersOnStop: true, now: () => clock },
    });
  });
  afterAll(async () => {
    await deps.close();
  });

  const click = (deliveryId: string, actionTs?: string) =>
    deps.core.action({
      source: "slack",
      deliveryId,
      channelId: "C0LAB",
      userId: "UOPER1",
      messageTs: "1.1",
      actionId: "xenops:event:fence:0",
      value: JSON.stringify({ v: 1, i: "abcdefgh12345678", c: "lab", a: { kind: "fence", node: "ics2" } }),
      ...(actionTs ? { actionTs } : {}),
    });

  it("file one request per click, however often and however late the click arrives", async () => {
    const first = await click("trig-1", "1893499210.000100");
    expect(first?.text).toMatch(/^Queued as job (\d+): planning to fence ics2/);
    const number = /job (\d+)/.exec(first?.text ?? "")?.[1];
    // The same click delivered again minutes later (another delivery id, the same signed action_ts).
    clock += 3 * 60_000;
    const replayed = await click("trig-1-again", "1893499210.000100");
    expect(replayed?.text).toBe(`Already queued (job ${number}): planning to fence ics2.`);
    // Another click, in another minute: a request of its own.
    const other = await click("trig-2", "1893499390.000200");
    expect(other?.text).toMatch(/^Queued as job \d+/);
    expect(other?.text).not.toContain(`job ${number}:`);
  });

  it("without action_ts a Slack click is keyed by its trigger", async () => {
    const first = await click("trig-no-ts");
    expect(first?.text).toMatch(/^Queued as job \d+/);
    clock += 5 * 60_000;
    expect((await click("trig-no-ts"))?.text).toMatch(/^Already queued/);
  });
});
