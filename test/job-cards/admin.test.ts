/** Cancel and listing against real Redis and BullMQ workers: running, queued, and past the point of no return. */
import type { Job } from "bullmq";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditEntryInput } from "../../src/audit/schema";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { renderConsole } from "../../src/console/render";
import { createCancelAction, createJobAdmin } from "../../src/job-cards/admin";
import { announceQueuedJob } from "../../src/job-cards/announce";
import { openJobCard } from "../../src/job-cards/card";
import { RedisCardStore } from "../../src/job-cards/card-store";
import { JobCancelled, JobControl } from "../../src/job-cards/control";
import { silentLogger } from "../../src/log";
import { createJobQueues } from "../../src/queue/queues";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import type { StatusJob } from "../../src/queue/schema";
import { type Processors, startWorkers } from "../../src/queue/worker";
import { labInventory, RecordingNotifier } from "../jobs/helpers";
import { expectNoSlackMarkup } from "../support/markup";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const logger = silentLogger();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(20);
  }
}

function status(deliveryId: string, requestedBy = "UOPER1"): StatusJob {
  return { cluster: "lab", target: null, channel: "C0LAB", requestedBy, deliveryId, requestText: "status" };
}

function setup(name: string) {
  const prefix = uniquePrefix(name);
  const redisUrl = testRedisUrl();
  const jobs = createJobQueues({ redisUrl, prefix, clusters: ["lab"], logger });
  const redis: Redis = createRedisConnection(redisUrl, { role: "client" });
  cleanups.push(
    () => jobs.close(),
    () => closeConnection(redis),
  );
  const notifier = new RecordingNotifier();
  const cards = new RedisCardStore(redis, prefix);
  const audit: AuditEntryInput[] = [];
  const admin = createJobAdmin({
    jobs,
    inventory: labInventory(),
    groups: new StaticGroupDirectory(),
    notifier,
    cards,
    audit: (e) => audit.push(e),
    logger,
  });
  const work = (
    processor: (job: Job, token: string | undefined, signal: AbortSignal | undefined) => Promise<unknown>,
  ) => {
    const workers = startWorkers({
      redisUrl,
      prefix,
      clusters: ["lab"],
      // Only status jobs are queued here.
      processors: { status: processor } as unknown as Processors,
      logger,
    });
    cleanups.push(() => workers.close(true));
    return workers;
  };
  return { jobs, notifier, cards, audit, admin, work };
}

const actor = (userId: string, via: "command" | "button" = "command") => ({
  userId,
  channelId: "C0LAB",
  via,
  deliveryId: `d-${userId}`,
});

describe("cancel", () => {
  it("stops a running job through its abort signal, for the requester; refuses another operator", async () => {
    const { jobs, notifier, cards, audit, admin, work } = setup("cancel-running");
    let sawAbort = false;
    await work(async (job, _t, signal) => {
      const card = openJobCard(
        job as Job<StatusJob>,
        { notifier, cards },
        { title: "Status of lab", settleMs: 0 },
      );
      card.start("working");
      const control = new JobControl(job, signal, card);
      try {
        await new Promise<void>((_, reject) =>
          control.signal.addEventListener("abort", () => {
            sawAbort = true;
            reject(new JobCancelled(control.cancelRequest?.by ?? null, "cancelled"));
          }),
        );
      } catch (err) {
        await card.cancelled(control.cancelRequest?.by ?? null);
        throw err;
      }
    }).ready();
    const queued = await jobs.enqueue("lab", "status", status("r1"), { deliveryId: "r1" });
    const ts = await until(async () => (await cards.ref(queued.jobId))?.ts);

    const refused = await admin.cancel(String(queued.number), actor("UOPER2"));
    expect(refused.text).toMatch(/Only the requester \(<@UOPER1>\), approvers and admins may cancel job 1/);
    // The console prints the reply's document: the person as @ID, no Slack markup.
    const printed = renderConsole(refused.document!);
    expect(printed).toBe("Only the requester (@UOPER1), approvers and admins may cancel job 1.");
    expectNoSlackMarkup(printed);
    const reply = await admin.cancel(String(queued.number), actor("UOPER1"));
    expect(reply.text).toMatch(/Cancelling job 1 \(Status of lab\): its worker was told to stop/);
    const outcome = await jobs.waitForJob(queued.jobId, 5_000);
    expect(outcome).toMatchObject({ state: "failed", failedReason: "cancelled: by UOPER1" });
    expect(sawAbort).toBe(true);
    expect(notifier.latest(ts)).toMatch(/Cancelled by @UOPER1 after/);
    expect(audit.map((a) => [a.kind, a.actor, a.outcome])).toEqual([
      ["refusal", "UOPER2", "refused"],
      ["action", "UOPER1", "ok"],
    ]);
    expect((await admin.cancel("1", actor("UOPER1"))).text).toMatch(/already finished/);
    expect((await admin.cancel("99", actor("UOPER1"))).text).toMatch(/There is no job 99/);
  });

  it("removes a queued job, for an approver, and marks its queued card cancelled", async () => {
    const { jobs, notifier, cards, audit, admin } = setup("cancel-queued");
    const queued = await jobs.enqueue("lab", "status", status("q1"), { deliveryId: "q1" });
    await announceQueuedJob(
      { notifier, cards, logger },
      { jobId: queued.jobId, number: queued.number, name: "status", payload: status("q1") },
    );
    const ts = notifier.posts()[0]!.ts;
    expect(notifier.latest(ts)).toMatch(/Queued/);

    const reply = await createCancelAction(admin).handle({
      source: "slack",
      deliveryId: "click-1",
      channelId: "C0LAB",
      userId: "UAPPROVER1",
      messageTs: ts,
      actionId: "xenops:job:cancel",
      value: queued.jobId,
    });
    expect(reply?.text).toBe("Cancelled job 1 (Status of lab) before it started.");
    expect(await jobs.getJob(queued.jobId)).toBeUndefined();
    expect(notifier.latest(ts)).toMatch(/Cancelled by @UAPPROVER1 before it started/);
    expect(audit.map((a) => a.kind)).toEqual(["action", "job_cancelled"]);
    expect(audit[1]).toMatchObject({
      outcome: "cancelled",
      jobNumber: 1,
      parameters: { cancelledBy: "UAPPROVER1" },
    });
  });

  it("lets a job past its point of no return finish and verify, and the card says so", async () => {
    const { jobs, notifier, cards, admin, work } = setup("cancel-ponr");
    const passed = deferred();
    await work(async (job, _t, signal) => {
      const card = openJobCard(
        job as Job<StatusJob>,
        { notifier, cards },
        {
          title: "Fence ics1",
          settleMs: 0,
          minEditIntervalMs: 20,
        },
      );
      card.start();
      const control = new JobControl(job, signal, card);
      card.step(1, 2, "Fencing ics1");
      await control.pointOfNoReturn("ics1 is being powered off");
      passed.resolve();
      // The destructive step goes on through the cancel (the worker's signal fires); then verify.
      if (!signal) throw new Error("the worker hands every job its cancel signal");
      if (!signal.aborted) await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
      card.step(2, 2, "Verifying ics1 is off");
      control.throwIfCancelled();
      await card.done("ics1 is off (verified)");
      return { outcome: "ok" };
    }).ready();
    const queued = await jobs.enqueue("lab", "status", status("p1"), { deliveryId: "p1" });
    await passed.promise;

    const reply = await admin.cancel(String(queued.number), actor("UADMIN1"));
    expect(reply.text).toMatch(
      /Job 1 \(Status of lab\) is past its point of no return \(ics1 is being powered off\): it will finish and verify/,
    );
    expect(await jobs.waitForJob(queued.jobId, 5_000)).toMatchObject({ state: "completed" });
    const ts = (await cards.ref(queued.jobId))!.ts;
    const final = notifier.latest(ts);
    expect(final).toMatch(/Done in .*ics1 is off \(verified\)/);
    expect(final).toContain("Past the point of no return (ics1 is being powered off)");
    expect(final).toContain(
      "Cancel requested by @UADMIN1 after the point of no return: finishing and verifying.",
    );
  });
});

describe("list", () => {
  it("shows running, queued and recent jobs with numbers, titles, requesters and progress", async () => {
    const { jobs, notifier, cards, admin, work } = setup("list");
    const release = deferred();
    await work(async (job) => {
      const card = openJobCard(
        job as Job<StatusJob>,
        { notifier, cards },
        { title: "Status of lab", settleMs: 0 },
      );
      card.start();
      card.step(2, 5, "reading ics2");
      if ((job.data as StatusJob).deliveryId === "l1") return { outcome: "ok", summary: "2 nodes" };
      await release.promise;
      return null;
    }).ready();
    const first = await jobs.enqueue("lab", "status", status("l1"), { deliveryId: "l1" });
    await jobs.waitForJob(first.jobId, 5_000);
    await jobs.enqueue("lab", "status", status("l2", "UOPER2"), { deliveryId: "l2" });
    await jobs.enqueue("lab", "status", status("l3"), { deliveryId: "l3" });

    const list = await until(async () => {
      const l = await admin.list(["lab"]);
      return l.find((j) => j.state === "running" && j.progress) ? l : undefined;
    });
    expect(list.map((j) => [j.number, j.state, j.title, j.requestedBy])).toEqual([
      [2, "running", "Status of lab", "UOPER2"],
      [3, "queued", "Status of lab", "UOPER1"],
      [1, "completed", "Status of lab", "UOPER1"],
    ]);
    expect(list[0]!.progress).toBe("step 2 of 5: reading ics2");
    expect(list[2]!.detail).toBe("2 nodes");
    release.resolve();
  });
});
