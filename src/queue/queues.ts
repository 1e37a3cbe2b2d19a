/**
 * The producer side: one BullMQ queue per cluster, idempotent enqueue keyed on the Slack delivery, human job
 * numbers, waiting for and cancelling jobs.
 */
import { type Job, type JobState, Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { EnqueueOutcomeUnknown } from "../chat/enqueuer";
import { errorMessage, XenopsError } from "../errors";
import type { Logger } from "../log";
import { deriveJobId, queueName, xenopsKeys } from "./names";
import { closeConnection, createRedisConnection, durableMark, waitReady } from "./redis";
import {
  isJobName,
  type JobName,
  type JobPayloads,
  parseJobPayload,
  payloadCluster,
  retryPolicy,
} from "./schema";

export interface JobQueuesOptions {
  redisUrl: string;
  /** BullMQ key prefix (one per deployment; unique per test). */
  prefix: string;
  clusters: readonly string[];
  logger: Logger;
  /** First retry delay of read-only jobs, doubled each retry (default 1000 ms). */
  retryBackoffMs?: number;
  /** How long a delivery and its job number are remembered (default 24 h). */
  dedupeTtlSeconds?: number;
  /**
   * `enqueue` gives up after this long, so an ack can still answer in time (default 2500 ms). Every wait
   * inside it is shorter, so a timeout means "the outcome is unknown", never "nothing was queued".
   */
  enqueueTimeoutMs?: number;
}

export interface EnqueueResult {
  jobId: string;
  /** Short number for humans: "queued as job 42". Increases per prefix, shared by all clusters. */
  number: number;
  /** The delivery had already been enqueued (Slack retry, double submit): nothing new was queued. */
  duplicate: boolean;
}

export interface JobRef {
  jobId: string;
  number: number;
  cluster: string;
  name: JobName;
}

export type JobOutcome =
  | { state: "completed"; jobId: string; returnValue: unknown }
  | { state: "failed"; jobId: string; failedReason: string }
  /** Still waiting, delayed (retry backoff) or running when the timeout passed. */
  | { state: "timeout"; jobId: string }
  /** No such job (never queued, removed after its retention, or cancelled while waiting). */
  | { state: "missing"; jobId: string };

export type CancelResult =
  /** It had not started: removed from the queue. */
  | "removed"
  /** It is running: its worker was asked to abort it (the processor must honour the signal). */
  | "signalled"
  | "finished"
  | "unknown";

export interface JobQueues {
  readonly prefix: string;
  readonly clusters: readonly string[];
  enqueue<N extends JobName>(
    cluster: string,
    name: N,
    payload: JobPayloads[N],
    options: { deliveryId: string },
  ): Promise<EnqueueResult>;
  /** By job id, or by job number (a number or a string of digits, as typed in "cancel 42"). */
  lookup(ref: string | number): Promise<JobRef | null>;
  getJob(jobId: string): Promise<Job | undefined>;
  /** Resolves when the job completes or finally fails (after its retries), or at the timeout. */
  waitForJob(jobId: string, timeoutMs: number): Promise<JobOutcome>;
  cancel(jobId: string, reason?: string): Promise<CancelResult>;
  /** The BullMQ queue of a cluster (console, tests). */
  queue(cluster: string): Queue;
  /** Started on first use; closed by `close()`. */
  queueEvents(cluster: string): Promise<QueueEvents>;
  close(): Promise<void>;
}

/** Job retention: long enough to outlive Slack retries and let people look at recent jobs. */
const REMOVE_ON_COMPLETE = { age: 24 * 3600, count: 1_000 };
const REMOVE_ON_FAIL = { age: 7 * 24 * 3600, count: 5_000 };

/**
 * Claims a job id for a delivery. KEYS[1] job hash, KEYS[2] sequence. ARGV: number key prefix, cluster, name,
 * job id, ttl seconds, now. Returns {created (0|1), number, state}.
 */
const CLAIM_SCRIPT = `
local existing = redis.call("HMGET", KEYS[1], "number", "state")
if existing[1] then
  return {0, tonumber(existing[1]), existing[2] or "added"}
end
local n = redis.call("INCR", KEYS[2])
redis.call("HSET", KEYS[1], "number", n, "cluster", ARGV[2], "name", ARGV[3], "state", "pending", "createdAt", ARGV[6])
redis.call("EXPIRE", KEYS[1], ARGV[5])
local numberKey = ARGV[1] .. n
redis.call("HSET", numberKey, "jobId", ARGV[4], "cluster", ARGV[2], "name", ARGV[3])
redis.call("EXPIRE", numberKey, ARGV[5])
return {1, n, "pending"}
`;

const WAITING_STATES: ReadonlySet<JobState | "unknown"> = new Set([
  "waiting",
  "delayed",
  "prioritized",
  "waiting-children",
]);

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new EnqueueOutcomeUnknown(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function createJobQueues(options: JobQueuesOptions): JobQueues {
  const { prefix, logger } = options;
  const log = logger.child({ component: "queue" });
  const keys = xenopsKeys(prefix);
  const backoffMs = options.retryBackoffMs ?? 1_000;
  const ttl = options.dedupeTtlSeconds ?? 24 * 3600;
  const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 2_500;
  const clusters = [...new Set(options.clusters)];

  // One fail-fast client shared by all cluster queues and the job-number bookkeeping.
  const client: Redis = createRedisConnection(options.redisUrl, { role: "queue", logger: log });
  const queues = new Map<string, Queue>();
  for (const cluster of clusters) {
    const queue = new Queue(queueName(cluster), { connection: client, prefix });
    queue.on("error", (err) => log.warn({ cluster, err }, "queue error"));
    queues.set(cluster, queue);
  }
  let eventsClient: Redis | undefined;
  const events = new Map<string, Promise<QueueEvents>>();
  let closed = false;

  const queueOf = (cluster: string): Queue => {
    const queue = queues.get(cluster);
    if (!queue)
      throw new XenopsError(
        "unknown_cluster",
        `no job queue for cluster "${cluster}"; queues exist for: ${clusters.join(", ") || "none"}`,
      );
    return queue;
  };

  // Waiting for the connection happens before anything is written, and ends well before the outer
  // timeout: a Redis that is not there yields "nothing was queued", truthfully.
  const readyTimeoutMs = Math.max(50, Math.min(enqueueTimeoutMs - 500, Math.floor(enqueueTimeoutMs * 0.6)));

  async function claim(cluster: string, name: JobName, jobId: string) {
    await waitReady(client, readyTimeoutMs);
    const reply = (await client.eval(
      CLAIM_SCRIPT,
      2,
      keys.job(jobId),
      keys.sequence,
      keys.numberPrefix,
      cluster,
      name,
      jobId,
      String(ttl),
      String(Date.now()),
    )) as [number, number, string];
    return { created: reply[0] === 1, number: Number(reply[1]), state: reply[2] };
  }

  async function enqueueNow<N extends JobName>(
    cluster: string,
    name: N,
    payload: unknown,
    deliveryId: string,
  ): Promise<EnqueueResult> {
    const queue = queueOf(cluster);
    if (!isJobName(name)) throw new XenopsError("invalid_argument", `unknown job "${String(name)}"`);
    const data = parseJobPayload(name, payload);
    const target = payloadCluster(data);
    if (target !== undefined && target !== cluster)
      throw new XenopsError(
        "invalid_argument",
        `job payload is for cluster "${target}" but was sent to the queue of "${cluster}"`,
      );
    if (!deliveryId) throw new XenopsError("invalid_argument", "enqueue needs a deliveryId");
    const jobId = deriveJobId(cluster, name, deliveryId);
    let claimed: Awaited<ReturnType<typeof claim>> | undefined;
    try {
      claimed = await claim(cluster, name, jobId);
      // "Queued as job N" only once the job is on a replica too (WAIT on the connection that wrote it),
      // else a failover could take the job away after the ack. BullMQ writes through `client` (shared,
      // behind its adapter proxy: same options object), so one WAIT covers the claim, the add and its
      // bookkeeping; a connection of its own would get its own WAIT.
      const marks = [durableMark(client)];
      const queueClient = (await queue.getBackend().client) as unknown as Redis;
      if (queueClient.options !== client.options) marks.push(durableMark(queueClient));
      // "pending": the claimant has not confirmed the add (still racing us, or it died before adding).
      // Adding again is safe: BullMQ keeps one job per id, so the job exists exactly once either way.
      if (claimed.created || claimed.state === "pending") {
        await queue.add(name, data, {
          jobId,
          ...retryPolicy(name, backoffMs),
          removeOnComplete: REMOVE_ON_COMPLETE,
          removeOnFail: REMOVE_ON_FAIL,
        });
        await client.hset(keys.job(jobId), "state", "added");
      }
      for (const mark of marks) await mark.confirm();
    } catch (err) {
      if (err instanceof XenopsError && err.code === "redis_not_durable" && claimed)
        throw new EnqueueOutcomeUnknown(`job ${claimed.number} may have been queued: ${err.message}`, {
          cause: err,
        });
      if (err instanceof XenopsError) throw err;
      // Once the id is claimed the add may have reached Redis with only its reply lost.
      if (claimed)
        throw new EnqueueOutcomeUnknown(`the job queue (Redis) failed while queueing job ${claimed.number}`, {
          cause: err,
        });
      throw new XenopsError("internal", `the job queue (Redis) failed: ${errorMessage(err)}`, { cause: err });
    }
    const { created, number } = claimed;
    // Debug, not info: this runs on the ack of every slash command, the command's audit record names the job,
    // and the worker logs it at info when it starts.
    log.debug({ cluster, name, jobId, jobNumber: number, deliveryId, duplicate: !created }, "job enqueued");
    return { jobId, number, duplicate: !created };
  }

  async function lookupById(jobId: string): Promise<JobRef | null> {
    await waitReady(client);
    const h = await client.hgetall(keys.job(jobId));
    if (!h.number || !h.cluster || !h.name || !isJobName(h.name)) return null;
    return { jobId, number: Number(h.number), cluster: h.cluster, name: h.name };
  }

  async function lookup(ref: string | number): Promise<JobRef | null> {
    if (typeof ref === "string" && !/^\d+$/.test(ref)) return lookupById(ref);
    await waitReady(client);
    const n = Number(ref);
    const h = await client.hgetall(keys.number(n));
    if (!h.jobId || !h.cluster || !h.name || !isJobName(h.name)) return null;
    return { jobId: h.jobId, number: n, cluster: h.cluster, name: h.name };
  }

  /** The queue holding a job: from its record, else by asking each queue. */
  async function locate(jobId: string): Promise<{ cluster: string; job: Job } | null> {
    const ref = await lookupById(jobId);
    const candidates = ref && queues.has(ref.cluster) ? [ref.cluster] : clusters;
    for (const cluster of candidates) {
      const job = await queueOf(cluster).getJob(jobId);
      if (job) return { cluster, job };
    }
    return null;
  }

  function queueEvents(cluster: string): Promise<QueueEvents> {
    queueOf(cluster);
    let pending = events.get(cluster);
    if (!pending) {
      eventsClient ??= createRedisConnection(options.redisUrl, { role: "events", logger: log });
      // BullMQ duplicates the client for the blocking XREAD and owns that duplicate.
      const qe = new QueueEvents(queueName(cluster), { connection: eventsClient, prefix });
      qe.on("error", (err) => log.warn({ cluster, err }, "queue events error"));
      pending = qe.waitUntilReady().then(() => qe);
      events.set(cluster, pending);
    }
    return pending;
  }

  async function outcomeOf(job: Job | undefined, jobId: string): Promise<JobOutcome | null> {
    if (!job) return { state: "missing", jobId };
    const state = await job.getState();
    if (state === "completed") return { state: "completed", jobId, returnValue: job.returnvalue };
    if (state === "failed") return { state: "failed", jobId, failedReason: job.failedReason };
    if (state === "unknown") return { state: "missing", jobId };
    return null;
  }

  async function waitForJob(jobId: string, timeoutMs: number): Promise<JobOutcome> {
    const found = await locate(jobId);
    if (!found) return { state: "missing", jobId };
    const { cluster } = found;
    const qe = await queueEvents(cluster);
    const queue = queueOf(cluster);
    return new Promise<JobOutcome>((resolve) => {
      let done = false;
      const finish = (outcome: JobOutcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poller);
        qe.off(`completed:${jobId}` as "completed", onCompleted);
        qe.off(`failed:${jobId}` as "failed", onFailed);
        resolve(outcome);
      };
      const onCompleted = (args: { returnvalue: unknown }) =>
        finish({ state: "completed", jobId, returnValue: args.returnvalue });
      const onFailed = (args: { failedReason: string }) =>
        finish({ state: "failed", jobId, failedReason: args.failedReason });
      qe.on(`completed:${jobId}` as "completed", onCompleted);
      qe.on(`failed:${jobId}` as "failed", onFailed);
      const timer = setTimeout(() => finish({ state: "timeout", jobId }), timeoutMs);
      // Events can be missed around the time QueueEvents starts reading: look at the job now and then too.
      const check = () => {
        if (done || closed) return;
        queue
          .getJob(jobId)
          .then((job) => outcomeOf(job, jobId))
          .then((outcome) => outcome && finish(outcome))
          .catch(() => {});
      };
      const poller = setInterval(check, 1_000);
      check();
    });
  }

  async function cancel(jobId: string, reason = "cancelled"): Promise<CancelResult> {
    const found = await locate(jobId);
    if (!found) return "unknown";
    const state = await found.job.getState();
    if (state === "completed" || state === "failed") return "finished";
    if (state === "unknown") return "unknown";
    if (WAITING_STATES.has(state)) {
      try {
        await found.job.remove();
        log.info({ cluster: found.cluster, jobId, reason }, "job cancelled before start");
        return "removed";
      } catch {
        // A worker took it meanwhile (it is locked): signal it like any running job.
      }
    }
    await client.publish(keys.cancelChannel, JSON.stringify({ jobId, reason }));
    log.info({ cluster: found.cluster, jobId, reason }, "job cancel requested");
    return "signalled";
  }

  return {
    prefix,
    clusters,
    enqueue(cluster, name, payload, { deliveryId }) {
      if (closed) return Promise.reject(new XenopsError("internal", "job queues are closed"));
      return withTimeout(
        enqueueNow(cluster, name, payload, deliveryId),
        enqueueTimeoutMs,
        `the job queue (Redis) did not answer within ${enqueueTimeoutMs} ms`,
      );
    },
    lookup,
    async getJob(jobId) {
      return (await locate(jobId))?.job;
    },
    waitForJob,
    cancel,
    queue: queueOf,
    queueEvents,
    async close() {
      if (closed) return;
      closed = true;
      const started = await Promise.allSettled(events.values());
      await Promise.allSettled(started.map((s) => (s.status === "fulfilled" ? s.value.close() : undefined)));
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      await closeConnection(client);
      if (eventsClient) await closeConnection(eventsClient);
    },
  };
}
