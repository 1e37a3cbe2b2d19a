import { type Job, UnrecoverableError } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { XenopsError } from "../../src/errors";
import { silentLogger } from "../../src/log";
import { createJobQueues, type JobQueues } from "../../src/queue/queues";
import { closeConnection, createRedisConnection, openConnectionCount } from "../../src/queue/redis";
import type { StatusJob } from "../../src/queue/schema";
import { type Processors, startWorkers, type Workers } from "../../src/queue/worker";
import { testRedisUrl, uniquePrefix } from "../support/redis";

/** These tests queue status jobs only. */
type TestProcessors = Pick<Processors, "status">;

const logger = silentLogger();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  expect(openConnectionCount()).toBe(0);
});

function payload(cluster: string, deliveryId: string, target: string | null = null): StatusJob {
  return {
    cluster,
    target,
    channel: "C0123ABC",
    requestedBy: "U0123ABC",
    deliveryId,
    requestText: `status ${cluster}`,
  };
}

function setup(name: string, clusters: string[] = ["lab"]) {
  const prefix = uniquePrefix(name);
  const redisUrl = testRedisUrl();
  const queues = createJobQueues({ redisUrl, prefix, clusters, logger, retryBackoffMs: 50 });
  cleanups.push(() => queues.close());
  const work = (processors: TestProcessors, serve: string[] = clusters, concurrency = 1): Workers => {
    const workers = startWorkers({
      redisUrl,
      prefix,
      clusters: serve,
      processors: processors as Processors,
      concurrency,
      logger,
    });
    cleanups.push(() => workers.close(true));
    return workers;
  };
  return { prefix, queues, work };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function jobOf(queues: JobQueues, jobId: string): Promise<Job> {
  const job = await queues.getJob(jobId);
  if (!job) throw new Error(`no job ${jobId}`);
  return job;
}

describe("enqueue and work", () => {
  it("runs a status job on a worker and reports its result", async () => {
    const { queues, work } = setup("roundtrip");
    const seen: Array<{ data: StatusJob; hasSignal: boolean }> = [];
    await work({
      status: async (job, _token, signal) => {
        seen.push({ data: job.data, hasSignal: signal instanceof AbortSignal });
        return { ok: true, cluster: job.data.cluster };
      },
    }).ready();

    const queued = await queues.enqueue("lab", "status", payload("lab", "d1", "ics1"), { deliveryId: "d1" });
    expect(queued.duplicate).toBe(false);
    expect(queued.number).toBeGreaterThan(0);
    const outcome = await queues.waitForJob(queued.jobId, 10_000);
    expect(outcome).toEqual({
      state: "completed",
      jobId: queued.jobId,
      returnValue: { ok: true, cluster: "lab" },
    });
    expect(seen).toEqual([{ data: payload("lab", "d1", "ics1"), hasSignal: true }]);

    const job = await jobOf(queues, queued.jobId);
    expect(job.name).toBe("status");
    expect(job.opts.attempts).toBe(3);
    expect(job.opts.backoff).toEqual({ type: "exponential", delay: 50 });
    expect(await queues.lookup(queued.number)).toEqual({
      jobId: queued.jobId,
      number: queued.number,
      cluster: "lab",
      name: "status",
    });
    expect(await queues.lookup(queued.jobId)).toEqual(await queues.lookup(queued.number));
  });

  it("rejects bad requests before queueing anything", async () => {
    const { queues } = setup("reject", ["lab", "prod"]);
    const bad = { ...payload("lab", "d1"), target: "no spaces allowed" };
    await expect(queues.enqueue("lab", "status", bad, { deliveryId: "d1" })).rejects.toMatchObject({
      code: "invalid_argument",
    });
    await expect(
      queues.enqueue("nowhere", "status", payload("nowhere", "d1"), { deliveryId: "d1" }),
    ).rejects.toMatchObject({ code: "unknown_cluster" });
    await expect(
      queues.enqueue("prod", "status", payload("lab", "d1"), { deliveryId: "d1" }),
    ).rejects.toThrow(/cluster "lab".*"prod"/);
    expect(await queues.queue("lab").count()).toBe(0);
    expect(await queues.queue("prod").count()).toBe(0);
  });

  it("numbers jobs in increasing order across clusters", async () => {
    const { queues } = setup("numbers", ["lab", "prod"]);
    const numbers: number[] = [];
    for (const [i, cluster] of ["lab", "prod", "lab", "prod"].entries()) {
      const r = await queues.enqueue(cluster, "status", payload(cluster, `n${i}`), { deliveryId: `n${i}` });
      numbers.push(r.number);
    }
    expect(numbers).toEqual([1, 2, 3, 4]);
    expect((await queues.lookup(3))?.cluster).toBe("lab");
    expect(await queues.lookup(99)).toBeNull();
    expect(await queues.lookup("status-unknown")).toBeNull();
  });
});

describe("duplicate deliveries", () => {
  it("maps a retried delivery to the same job", async () => {
    const { queues, work } = setup("dup");
    const first = await queues.enqueue("lab", "status", payload("lab", "T1"), { deliveryId: "T1" });
    const again = await queues.enqueue("lab", "status", payload("lab", "T1"), { deliveryId: "T1" });
    expect(again).toEqual({ ...first, duplicate: true });
    expect(first.duplicate).toBe(false);
    expect(await queues.queue("lab").getWaitingCount()).toBe(1);

    let runs = 0;
    await work({
      status: async () => {
        runs++;
        return runs;
      },
    }).ready();
    expect((await queues.waitForJob(first.jobId, 10_000)).state).toBe("completed");
    // A Slack retry after the job ran is still the same job, not a second run.
    const late = await queues.enqueue("lab", "status", payload("lab", "T1"), { deliveryId: "T1" });
    expect(late).toEqual({ ...first, duplicate: true });
    await new Promise((r) => setTimeout(r, 200));
    expect(runs).toBe(1);
    // Another delivery is another job.
    const other = await queues.enqueue("lab", "status", payload("lab", "T2"), { deliveryId: "T2" });
    expect(other.jobId).not.toBe(first.jobId);
    expect(other.number).toBe(first.number + 1);
  });

  it("keeps one job for 20 concurrent enqueues of one delivery", async () => {
    const { queues } = setup("dup20");
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        queues.enqueue("lab", "status", payload("lab", "X"), { deliveryId: "X" }),
      ),
    );
    expect(new Set(results.map((r) => r.jobId)).size).toBe(1);
    expect(new Set(results.map((r) => r.number)).size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await queues.queue("lab").getJobCounts()).toMatchObject({ waiting: 1, active: 0, delayed: 0 });
    // The counter moved once: the next delivery gets the next number.
    const next = await queues.enqueue("lab", "status", payload("lab", "Y"), { deliveryId: "Y" });
    expect(next.number).toBe((results[0]?.number ?? 0) + 1);
  });

  it("recovers a delivery whose first enqueue died after claiming its number", async () => {
    const { prefix, queues } = setup("dup-crash");
    const first = await queues.enqueue("lab", "status", payload("lab", "Z"), { deliveryId: "Z" });
    // Simulate a producer that claimed the delivery and died before BullMQ had the job.
    await (await jobOf(queues, first.jobId)).remove();
    const client = createRedisConnection(testRedisUrl(), { role: "client" });
    await client.hset(`${prefix}:xenops:job:${first.jobId}`, "state", "pending");
    await closeConnection(client);

    const retry = await queues.enqueue("lab", "status", payload("lab", "Z"), { deliveryId: "Z" });
    expect(retry).toEqual({ ...first, duplicate: true });
    expect(await queues.queue("lab").getWaitingCount()).toBe(1);
  });
});

describe("failures", () => {
  it("retries a status job with exponential backoff", async () => {
    const { queues, work } = setup("retry");
    const attempts: number[] = [];
    await work({
      status: async (job) => {
        attempts.push(Date.now());
        // A processor may remember things across attempts (the status job keeps its placeholder message).
        if (attempts.length === 1)
          await (job as Job<StatusJob & { messageTs?: string }>).updateData({
            ...job.data,
            messageTs: "1700000000.000100",
          });
        else expect((job.data as StatusJob & { messageTs?: string }).messageTs).toBe("1700000000.000100");
        if (attempts.length < 3) throw new Error(`flaky ${attempts.length}`);
        return "third time lucky";
      },
    }).ready();
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "r1"), { deliveryId: "r1" });
    expect(await queues.waitForJob(jobId, 10_000)).toMatchObject({
      state: "completed",
      returnValue: "third time lucky",
    });
    expect(attempts).toHaveLength(3);
    const [a = 0, b = 0, c = 0] = attempts;
    expect(b - a).toBeGreaterThanOrEqual(45); // 50 ms
    expect(c - b).toBeGreaterThanOrEqual(95); // 100 ms: exponential
    expect((await jobOf(queues, jobId)).attemptsMade).toBe(3);
  });

  it("fails a status job for good after 3 attempts", async () => {
    const { queues, work } = setup("retry-fail");
    let calls = 0;
    await work({
      status: async () => {
        calls++;
        throw new Error("node unreachable");
      },
    }).ready();
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "f1"), { deliveryId: "f1" });
    expect(await queues.waitForJob(jobId, 10_000)).toEqual({
      state: "failed",
      jobId,
      failedReason: "node unreachable",
    });
    expect(calls).toBe(3);
  });

  it("does not retry a job whose processor says another attempt cannot help", async () => {
    const { queues, work } = setup("final");
    let calls = 0;
    await work({
      status: async () => {
        calls++;
        throw new UnrecoverableError('no guest "web9" in cluster lab');
      },
    }).ready();
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "g1"), { deliveryId: "g1" });
    expect(await queues.waitForJob(jobId, 10_000)).toMatchObject({
      state: "failed",
      failedReason: 'no guest "web9" in cluster lab',
    });
    expect(calls).toBe(1);
  });

  it("fails a job at once when its error code says a retry cannot help, keeping code and message", async () => {
    const { queues, work } = setup("code-final");
    let calls = 0;
    await work({
      status: async () => {
        calls++;
        throw new XenopsError("config_invalid", "cluster lab has no channel");
      },
    }).ready();
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "c1"), { deliveryId: "c1" });
    expect(await queues.waitForJob(jobId, 10_000)).toEqual({
      state: "failed",
      jobId,
      failedReason: "cluster lab has no channel",
    });
    expect(calls).toBe(1);
    const job = await jobOf(queues, jobId);
    expect(job.opts.attempts).toBe(3);
    expect(job.attemptsMade).toBe(1);
    expect((job.stacktrace ?? []).join("\n")).toMatch(
      /^UnrecoverableError: config_invalid: cluster lab has no channel/,
    );
  });

  it("retries a job whose error code is transient, per its attempts", async () => {
    const { queues, work } = setup("code-transient");
    let calls = 0;
    await work({
      status: async () => {
        calls++;
        throw new XenopsError("ssh_timeout", "ics1: no answer within 10 s");
      },
    }).ready();
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "t1"), { deliveryId: "t1" });
    expect(await queues.waitForJob(jobId, 10_000)).toEqual({
      state: "failed",
      jobId,
      failedReason: "ics1: no answer within 10 s",
    });
    expect(calls).toBe(3);
    const job = await jobOf(queues, jobId);
    expect(job.attemptsMade).toBe(3);
    expect((job.stacktrace ?? []).join("\n")).not.toMatch(/UnrecoverableError/);
  });

  it("never retries a mutating job, even when its error code is transient", async () => {
    const { queues, work } = setup("code-mutating");
    let calls = 0;
    await work({
      "operation-execute": async () => {
        calls++;
        throw new XenopsError("ssh_timeout", "ics1: no answer within 10 s");
      },
    } as unknown as TestProcessors).ready();
    const { jobId } = await queues.enqueue(
      "lab",
      "operation-execute",
      {
        cluster: "lab",
        channel: "C0123ABC",
        requestedBy: "U0123ABC",
        deliveryId: "m1",
        requestText: "approve",
        approvalId: "A1b2C3d4E5f6G7h8",
      },
      { deliveryId: "m1" },
    );
    expect(await queues.waitForJob(jobId, 10_000)).toMatchObject({ state: "failed" });
    expect(calls).toBe(1);
    const job = await jobOf(queues, jobId);
    expect(job.opts.attempts).toBe(1);
    expect(job.attemptsMade).toBe(1);
  });

  it("fails an invalid payload at once without calling the processor", async () => {
    const { queues, work } = setup("invalid");
    let calls = 0;
    await work({
      status: async () => {
        calls++;
        return null;
      },
    }).ready();
    // Straight into BullMQ, bypassing enqueue's validation (another version, a hand-made job).
    const raw = queues.queue("lab");
    const bad = await raw.add(
      "status",
      { cluster: "lab", target: 42 },
      { jobId: "bad-payload", attempts: 3 },
    );
    const unknown = await raw.add("reboot", payload("lab", "u1"), { jobId: "bad-name", attempts: 3 });
    const elsewhere = await raw.add("status", payload("prod", "p1"), { jobId: "bad-cluster", attempts: 3 });
    for (const job of [bad, unknown, elsewhere]) {
      const outcome = await queues.waitForJob(job.id ?? "", 10_000);
      expect(outcome.state).toBe("failed");
      const failed = await jobOf(queues, job.id ?? "");
      expect(failed.attemptsMade).toBe(1);
      expect((failed.stacktrace ?? []).join("\n")).toMatch(/UnrecoverableError/);
    }
    expect((await jobOf(queues, "bad-payload")).failedReason).toMatch(/invalid status job payload/);
    expect((await jobOf(queues, "bad-name")).failedReason).toMatch(/unknown job "reboot"/);
    expect((await jobOf(queues, "bad-cluster")).failedReason).toMatch(/cluster "prod"/);
    expect(calls).toBe(0);
  });
});

describe("clusters", () => {
  it("gives a worker only the jobs of the clusters it serves", async () => {
    const { queues, work } = setup("isolation", ["siteA", "siteB"]);
    const ran: string[] = [];
    const processors: TestProcessors = {
      status: async (job) => {
        ran.push(job.data.cluster);
        return job.data.cluster;
      },
    };
    await work(processors, ["siteA"]).ready();
    const b = await queues.enqueue("siteB", "status", payload("siteB", "b1"), { deliveryId: "b1" });
    const a = await queues.enqueue("siteA", "status", payload("siteA", "a1"), { deliveryId: "a1" });
    expect((await queues.waitForJob(a.jobId, 10_000)).state).toBe("completed");
    expect(await queues.waitForJob(b.jobId, 300)).toEqual({ state: "timeout", jobId: b.jobId });
    expect(await (await jobOf(queues, b.jobId)).getState()).toBe("waiting");
    expect(ran).toEqual(["siteA"]);

    await work(processors, ["siteB"]).ready();
    expect(await queues.waitForJob(b.jobId, 10_000)).toMatchObject({
      state: "completed",
      returnValue: "siteB",
    });
    expect(ran).toEqual(["siteA", "siteB"]);
  });
});

describe("cancellation", () => {
  function hangingProcessor() {
    const started = deferred<string>();
    const processors: TestProcessors = {
      status: (job, _token, signal) =>
        new Promise((_resolve, reject) => {
          if (!signal) return reject(new Error("no abort signal"));
          signal.addEventListener("abort", () => reject(new Error(`aborted: ${String(signal.reason)}`)), {
            once: true,
          });
          started.resolve(job.id ?? "");
        }),
    };
    return { started: started.promise, processors };
  }

  it("aborts a running job from its own worker, without retries", async () => {
    const { queues, work } = setup("cancel-local");
    const { started, processors } = hangingProcessor();
    const workers = work(processors);
    await workers.ready();
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "c1"), { deliveryId: "c1" });
    expect(await started).toBe(jobId);
    expect(workers.cancel("status-not-running")).toBe(false);
    expect(workers.cancel(jobId, "user asked")).toBe(true);
    expect(await queues.waitForJob(jobId, 10_000)).toEqual({
      state: "failed",
      jobId,
      failedReason: "cancelled: user asked",
    });
    expect((await jobOf(queues, jobId)).attemptsMade).toBe(1);
  });

  it("aborts a running job from another process through Redis", async () => {
    const { queues, work } = setup("cancel-remote");
    const { started, processors } = hangingProcessor();
    await work(processors).ready();
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "c2"), { deliveryId: "c2" });
    await started;
    expect(await queues.cancel(jobId, "from slack")).toBe("signalled");
    expect(await queues.waitForJob(jobId, 10_000)).toMatchObject({
      state: "failed",
      failedReason: "cancelled: from slack",
    });
    expect(await queues.cancel(jobId)).toBe("finished");
    expect(await queues.cancel("status-0000")).toBe("unknown");
  });

  it("removes a job that has not started", async () => {
    const { queues } = setup("cancel-waiting");
    const { jobId } = await queues.enqueue("lab", "status", payload("lab", "c3"), { deliveryId: "c3" });
    expect(await queues.cancel(jobId)).toBe("removed");
    expect(await queues.queue("lab").count()).toBe(0);
    expect(await queues.waitForJob(jobId, 1_000)).toEqual({ state: "missing", jobId });
    // The delivery stays answered: a Slack retry does not bring the job back.
    expect(
      (await queues.enqueue("lab", "status", payload("lab", "c3"), { deliveryId: "c3" })).duplicate,
    ).toBe(true);
    expect(await queues.queue("lab").count()).toBe(0);
  });
});

describe("without Redis", () => {
  it("fails an enqueue in time and still closes", async () => {
    const { startEmbeddedRedis } = await import("../../src/queue/embedded-redis");
    const gone = await startEmbeddedRedis();
    await gone.stop();
    const queues = createJobQueues({
      redisUrl: gone.url,
      prefix: uniquePrefix("down"),
      clusters: ["lab"],
      logger,
      enqueueTimeoutMs: 300,
    });
    const workers = startWorkers({
      redisUrl: gone.url,
      prefix: uniquePrefix("down"),
      clusters: ["lab"],
      processors: { status: async () => null } as TestProcessors as Processors,
      logger,
    });
    const started = Date.now();
    const err = await queues
      .enqueue("lab", "status", payload("lab", "x"), { deliveryId: "x" })
      .catch((e) => e);
    expect(err).toBeInstanceOf(XenopsError);
    expect((err as XenopsError).code).toBe("internal");
    // Nothing was written (the connection never came up): a plain failure, not "may have been queued".
    expect((err as XenopsError).message).toMatch(/^the job queue \(Redis\) failed: redis not ready/);
    expect(Date.now() - started).toBeLessThan(2_000);
    await Promise.all([queues.close(), workers.close(true)]);
  });
});

describe("a job whose worker died", () => {
  const stall = { lockDurationMs: 600, checkIntervalMs: 200 };

  /** A worker that takes the job and then vanishes without finishing it (its lock is never renewed). */
  async function dieWhileRunning(
    queues: JobQueues,
    prefix: string,
    name: "status" | "operation-execute",
    data: unknown,
  ): Promise<{ jobId: string }> {
    const taken = deferred<void>();
    const doomed = startWorkers({
      redisUrl: testRedisUrl(),
      prefix,
      clusters: ["lab"],
      processors: {
        [name]: async () => {
          taken.resolve();
          return new Promise(() => {});
        },
      } as unknown as Processors,
      logger,
      stall,
    });
    await doomed.ready();
    const queued = await queues.enqueue("lab", name as "status", data as StatusJob, {
      deliveryId: `die-${name}`,
    });
    await taken.promise;
    // Force-close: the job stays active with nobody renewing its lock, as after a SIGKILL.
    await doomed.close(true);
    return { jobId: queued.jobId };
  }

  it("runs a read-only job again, so the user who was told 'queued' still gets an answer", async () => {
    const { queues, prefix } = setup("stall-readonly");
    const { jobId } = await dieWhileRunning(queues, prefix, "status", payload("lab", "die-status"));
    const rerun = startWorkers({
      redisUrl: testRedisUrl(),
      prefix,
      clusters: ["lab"],
      processors: { status: async () => ({ ok: true, rerun: true }) } as unknown as Processors,
      logger,
      stall,
    });
    cleanups.push(() => rerun.close(true));
    await rerun.ready();
    expect(await queues.waitForJob(jobId, 20_000)).toMatchObject({
      state: "completed",
      returnValue: { ok: true, rerun: true },
    });
  });

  it("never runs a mutating job again: it fails, and crash recovery takes the execution over", async () => {
    const { queues, prefix } = setup("stall-mutating");
    const { jobId } = await dieWhileRunning(queues, prefix, "operation-execute", {
      cluster: "lab",
      channel: "C0123ABC",
      requestedBy: "U0123ABC",
      deliveryId: "die-exec",
      requestText: "approve",
      approvalId: "A1b2C3d4E5f6G7h8",
    });
    let ran = 0;
    const rerun = startWorkers({
      redisUrl: testRedisUrl(),
      prefix,
      clusters: ["lab"],
      processors: {
        "operation-execute": async () => {
          ran += 1;
          return { ok: true };
        },
      } as unknown as Processors,
      logger,
      stall,
    });
    cleanups.push(() => rerun.close(true));
    await rerun.ready();
    const outcome = await queues.waitForJob(jobId, 20_000);
    expect(outcome.state).toBe("failed");
    expect(outcome).toMatchObject({ failedReason: expect.stringMatching(/not run again|stalled/) });
    expect(ran).toBe(0);
  });
});
