/**
 * The events module inside the runtime (createDeps, real BullMQ workers, in-process simulator runner):
 * the monitor's job scheduler, `/xen maintenance`, and the buttons on incidents (roles, maintenance,
 * the planning jobs they queue).
 */
import { afterEach, describe, expect, it } from "vitest";
import { StaticGroupDirectory } from "../../src/chat/authz";
import type { OperationRequests } from "../../src/events/actions";
import { silentLogger } from "../../src/log";
import type { JobName } from "../../src/queue/schema";
import { createDeps, type Deps } from "../../src/runtime/deps";
import { referenceLab, Simulation } from "../../src/sim";
import { RecordingNotifier } from "../approval/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { simInventory, simRunner, snapshotOf } from "./helpers";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(
  sim: Simulation,
  opts: { workers?: boolean; monitor?: Record<string, unknown>; operations?: OperationRequests } = {},
) {
  const inventory = simInventory(sim, { monitor: { intervalMs: 1_000, ...opts.monitor } });
  const notifier = new RecordingNotifier();
  const queued: { name: JobName; payload?: unknown; jobId: string }[] = [];
  const deps: Deps = await createDeps({
    inventory,
    logger: silentLogger(),
    redisUrl: testRedisUrl(),
    queuePrefix: uniquePrefix("ev-runtime"),
    secretEnv: {},
    notifier,
    groups: new StaticGroupDirectory(),
    runnerFor: (_c, n) => simRunner(sim, n),
    onEnqueued: (job) => queued.push({ name: job.name, jobId: job.jobId }),
    events: { removeSchedulersOnStop: true, ...(opts.operations ? { operations: opts.operations } : {}) },
  });
  cleanups.push(() => deps.close());
  if (opts.workers !== false) await deps.startWorkers().ready();
  return { deps, notifier, queued, inventory };
}

async function until(predicate: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

let seq = 0;
const command = (deps: Deps, userId: string, text: string) =>
  deps.core.command({
    source: "console",
    deliveryId: `t-${++seq}`,
    teamId: null,
    channelId: "C0LAB",
    userId,
    text,
  });

describe("the monitor job", () => {
  it("runs on start and on its schedule, and turns faults into incidents", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const { deps, notifier } = await start(sim);
    expect(await deps.jobs.queue("lab").getJobSchedulers()).toHaveLength(1);
    await until(async () => (await deps.events.pipeline.load("lab")).facts !== null);
    sim.splitBrain("internet");
    await until(() =>
      notifier.posts.some((p) => JSON.stringify(p.message).includes("SPLIT-BRAIN on internet")),
    );
  });
});

describe("/xen maintenance", () => {
  it("sets and ends a window; risky buttons on the node are refused meanwhile", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const { deps, notifier, queued } = await start(sim);
    expect((await command(deps, "UVIEWER1", "maintenance ics2 2h")).text).toMatch(
      /needs the \*operator\* role/,
    );
    expect((await command(deps, "UOPER1", "maintenance ics2 soon")).text).toMatch(/is not a duration/);
    expect((await command(deps, "UOPER1", "maintenance ics2 2h kernel update")).text).toMatch(
      /^Queued as job \d+: put ics2 in maintenance for 2h/,
    );
    await until(() => notifier.posts.some((p) => p.message.text.includes("is in maintenance for 2h")));
    expect(await deps.events.isInMaintenance("lab", "ics2")).toMatchObject({
      node: "ics2",
      by: "UOPER1",
      reason: "kernel update",
    });
    expect(await deps.events.isInMaintenance("lab", "ics1")).toBeNull();

    const value = JSON.stringify({
      v: 1,
      i: "abcdefgh12345678",
      c: "lab",
      a: { kind: "fence", node: "ics2" },
    });
    const click = await deps.core.action({
      source: "console",
      deliveryId: "c1",
      channelId: "C0LAB",
      userId: "UOPER1",
      messageTs: "1.1",
      actionId: "xenops:event:fence:0",
      value,
    });
    expect(click?.text).toMatch(/ics2 is in maintenance until .* risky actions on it are blocked/);
    expect(queued.filter((q) => q.name === "operation-plan")).toHaveLength(0);

    await command(deps, "UOPER1", "maintenance ics2 off");
    await until(() => notifier.posts.some((p) => p.message.text.includes("ended early")));
    expect(await deps.events.isInMaintenance("lab", "ics2")).toBeNull();
  });
});

describe("buttons on incidents", () => {
  it("queue the operations' planning jobs after checking roles and names", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const { deps, queued } = await start(sim, { workers: false });
    const click = (userId: string, a: unknown, deliveryId: string) =>
      deps.core.action({
        source: "console",
        deliveryId,
        channelId: "C0LAB",
        userId,
        messageTs: "1.1",
        actionId: "xenops:event:x:0",
        value: JSON.stringify({ v: 1, i: "abcdefgh12345678", c: "lab", a }),
      });
    expect((await click("UVIEWER1", { kind: "fence", node: "ics2" }, "d1"))?.text).toMatch(
      /needs the \*operator\* role/,
    );
    expect((await click("UOPER1", { kind: "fence", node: "ics9" }, "d2"))?.text).toMatch(
      /unknown node "ics9"/,
    );
    expect((await click("UOPER1", { kind: "fence", node: "-rf" }, "d3"))?.text).toMatch(/not valid/);
    expect((await click("UOPER1", { kind: "fence", node: "ics2" }, "d4"))?.text).toMatch(
      /^Queued as job \d+: planning to fence ics2/,
    );
    // A second click within the minute is the same request.
    expect((await click("UOPER2", { kind: "fence", node: "ics2" }, "d5"))?.text).toMatch(/^Already queued/);
    expect(
      (
        await click(
          "UOPER1",
          { kind: "start_guests", node: "ics2", survivor: "ics1", guests: ["internet"] },
          "d6",
        )
      )?.text,
    ).toMatch(/planning to start internet on ics1/);
    expect(
      (await click("UOPER1", { kind: "failback", node: "ics2", guests: ["internet"] }, "d7"))?.text,
    ).toMatch(/planning to fail internet back to ics2/);
    // Split-brain recovery: only approvers may ask.
    const keep = { kind: "keep_data", resource: "internet", survivor: "ics1", victim: "ics2" };
    expect((await click("UOPER1", keep, "d8"))?.text).toMatch(/needs the \*approver\* role/);
    expect((await click("UAPPROVER1", keep, "d9"))?.text).toMatch(
      /planning to recover internet keeping ics1's data/,
    );
    expect(queued.map((q) => q.name)).toEqual([
      "operation-plan",
      "operation-plan",
      "operation-plan",
      "operation-plan",
      "split-brain-plan",
    ]);
    const plans = await Promise.all(queued.map((q) => deps.jobs.getJob(q.jobId)));
    expect(
      plans.map(
        (j) =>
          (j?.data as { operation?: unknown } | undefined)?.operation ??
          (j?.data as { victim?: string } | undefined)?.victim,
      ),
    ).toEqual([
      { action: "fence", node: "ics2" },
      { action: "fence", node: "ics2" },
      { action: "create", guest: "internet", node: "ics1" },
      { action: "migrate", guest: "internet", target: "ics2" },
      "ics2",
    ]);
  });
});

describe("automatic failback", () => {
  it("files the failback request itself (as failbackAs) once the node is back and in sync", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const asked: unknown[] = [];
    const operations: OperationRequests = {
      fence: async () => [],
      start: async () => [],
      migrate: async (r) => {
        asked.push({ requestedBy: r.requestedBy, guests: r.guests, target: r.target, failback: r.failback });
        return [];
      },
    };
    const { deps, inventory } = await start(sim, {
      workers: false,
      monitor: { failback: "auto", failbackAs: "UOPER2" },
      operations,
    });
    const cluster = inventory.clusters[0];
    if (!cluster) throw new Error("no cluster");
    const poll = async () => deps.events.pipeline.observe(await snapshotOf(sim, cluster));
    await poll();
    sim.nodeDown("ics2");
    sim.tick(31_000);
    await poll();
    sim.heartbeatTakeover("ics2");
    sim.tick(6_000);
    await poll();
    expect(asked).toEqual([]);
    sim.nodeUp("ics2", 0);
    sim.tick(1_000);
    const r = await poll();
    expect(r.opened.map((c) => c.kind)).toContain("failback_ready");
    expect(asked).toEqual([{ requestedBy: "UOPER2", guests: ["internet"], target: "ics2", failback: true }]);
  });
});
