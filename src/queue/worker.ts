/**
 * The consumer side: one BullMQ worker per cluster queue this process serves (a site's worker serves only
 * its own clusters). Jobs are dispatched by name after their payload is validated again.
 */
import { type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { errorCode, errorMessage } from "../errors";
import type { Logger } from "../log";
import { queueName, xenopsKeys } from "./names";
import { closeConnection, createRedisConnection } from "./redis";
import { retryCannotHelp, toQueueFailure } from "./retry";
import { isJobName, JOBS, type JobName, type JobPayloads, parseJobPayload, payloadCluster } from "./schema";

/**
 * Runs one job. Throwing retries it per its job's policy unless another attempt cannot help: a
 * XenopsError whose code is unrecoverable (src/errors.ts) or bullmq's `UnrecoverableError` fails it at
 * once. Honour `signal`: when it aborts (cancel), give up soon; the job then fails for good.
 */
export type JobProcessor<N extends JobName> = (
  job: Job<JobPayloads[N]>,
  token: string | undefined,
  signal: AbortSignal | undefined,
) => Promise<unknown>;

export type Processors = { [N in JobName]: JobProcessor<N> };

export interface WorkersOptions {
  redisUrl: string;
  prefix: string;
  /** The clusters this process serves; it never takes jobs of other clusters. */
  clusters: readonly string[];
  processors: Processors;
  /** Jobs run at once per cluster (default 1). */
  concurrency?: number;
  logger: Logger;
  /** Act on cancel requests from `JobQueues.cancel` in other processes (default true). */
  listenForCancel?: boolean;
  /**
   * How long a running job's lock lasts without renewal, and how often workers look for jobs whose
   * worker died (BullMQ's lockDuration and stalledInterval; defaults 30 s). Tests shorten them.
   */
  stall?: { lockDurationMs: number; checkIntervalMs: number };
}

export interface Workers {
  readonly clusters: readonly string[];
  /** Resolves once every worker (and the cancel listener) is connected. */
  ready(): Promise<void>;
  /**
   * Aborts the signal of a job running in this process. The job then fails for good (no retry) once its
   * processor gives up. False when the job is not running here.
   */
  cancel(jobId: string, reason?: string): boolean;
  /** Waits for running jobs unless `force`. */
  close(force?: boolean): Promise<void>;
}

type AnyProcessor = (
  job: Job,
  token: string | undefined,
  signal: AbortSignal | undefined,
) => Promise<unknown>;

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === "string" && reason) return reason;
  if (reason instanceof Error && reason.message) return reason.message;
  return "cancelled";
}

export function startWorkers(options: WorkersOptions): Workers {
  const { prefix, processors } = options;
  const log = options.logger.child({ component: "worker" });
  const keys = xenopsKeys(prefix);
  const clusters = [...new Set(options.clusters)];
  const concurrency = options.concurrency ?? 1;

  // Shared by the workers for their regular commands; BullMQ adds one blocking duplicate per worker.
  const client: Redis = createRedisConnection(options.redisUrl, { role: "worker", logger: log });

  const jobNumber = async (jobId: string | undefined): Promise<number | undefined> => {
    if (!jobId) return undefined;
    try {
      const n = await client.hget(keys.job(jobId), "number");
      return n ? Number(n) : undefined;
    } catch {
      return undefined;
    }
  };

  const dispatcher =
    (cluster: string) =>
    // Three declared parameters: BullMQ only creates abort signals for processors of length >= 3.
    async (job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<unknown> => {
      const attempts = job.opts.attempts ?? 1;
      const fields = {
        cluster,
        jobId: job.id,
        jobNumber: await jobNumber(job.id),
        name: job.name,
        attempt: job.attemptsMade + 1,
        attempts,
      };
      if (!isJobName(job.name)) {
        log.error(fields, "job rejected: unknown job name");
        throw new UnrecoverableError(`unknown job "${job.name}"`);
      }
      const name: JobName = job.name;
      // A job whose worker died mid-run comes back once (maxStalledCount 1), so a read-only job (a
      // plan, a status card) still answers the user who was told "queued". A mutating job is never
      // run again by the queue: crash recovery takes its execution over from the journal.
      if (JOBS[name].mutating && job.stalledCounter > 0) {
        log.error(fields, "job rejected: its worker stopped while it ran; a mutating job is not restarted");
        throw new UnrecoverableError(
          "its worker stopped while it ran: not run again (crash recovery takes the execution over)",
        );
      }
      let data: JobPayloads[JobName];
      try {
        data = parseJobPayload(name, job.data);
      } catch (err) {
        log.error({ ...fields, err }, "job rejected: invalid payload");
        throw new UnrecoverableError(errorMessage(err));
      }
      const target = payloadCluster(data);
      if (target !== undefined && target !== cluster) {
        log.error({ ...fields, payloadCluster: target }, "job rejected: wrong cluster");
        throw new UnrecoverableError(`job for cluster "${target}" found in the queue of "${cluster}"`);
      }
      // Processors see the validated payload; fields they added themselves (job.updateData) are kept.
      job.data = { ...(job.data as object), ...data };

      const started = Date.now();
      log.info(fields, "job started");
      try {
        const result = await (processors[name] as AnyProcessor)(job, token, signal);
        log.info({ ...fields, durationMs: Date.now() - started }, "job completed");
        return result;
      } catch (err) {
        const cancelled = signal?.aborted === true;
        const final = cancelled || retryCannotHelp(err);
        const willRetry = !final && fields.attempt < attempts;
        log[willRetry ? "warn" : "error"](
          {
            ...fields,
            durationMs: Date.now() - started,
            code: errorCode(err),
            err,
            cancelled,
            willRetry,
          },
          "job failed",
        );
        if (cancelled && signal) throw new UnrecoverableError(`cancelled: ${abortReason(signal)}`);
        // The code decides: a failure a retry cannot help ends the job now, with its message.
        throw toQueueFailure(err);
      }
    };

  const workers = clusters.map((cluster) => {
    const worker = new Worker(queueName(cluster), dispatcher(cluster), {
      connection: client,
      prefix,
      concurrency,
      // A job whose worker died is delivered once more: read-only jobs run again, mutating ones are
      // refused above (a half-done migration must not restart by itself).
      maxStalledCount: 1,
      ...(options.stall
        ? { lockDuration: options.stall.lockDurationMs, stalledInterval: options.stall.checkIntervalMs }
        : {}),
    });
    worker.on("error", (err) => log.error({ cluster, err }, "worker error"));
    worker.on("stalled", (jobId) => log.error({ cluster, jobId }, "job stalled: its worker stopped"));
    return worker;
  });

  const cancel = (jobId: string, reason?: string): boolean => {
    let found = false;
    for (const worker of workers) found = worker.cancelJob(jobId, reason ?? "cancelled") || found;
    if (found) log.info({ jobId, reason }, "job cancel signalled");
    return found;
  };

  let subscriber: Redis | undefined;
  let subscribed: Promise<unknown> = Promise.resolve();
  if (options.listenForCancel ?? true) {
    const sub = createRedisConnection(options.redisUrl, {
      role: "events",
      name: "xenops:cancel",
      logger: log,
    });
    subscriber = sub;
    sub.on("message", (channel: string, message: string) => {
      if (channel !== keys.cancelChannel) return;
      try {
        const request = JSON.parse(message) as { jobId?: unknown; reason?: unknown };
        if (typeof request.jobId !== "string") return;
        cancel(request.jobId, typeof request.reason === "string" ? request.reason : undefined);
      } catch {
        log.warn({ channel }, "ignored malformed cancel request");
      }
    });
    subscribed = sub.subscribe(keys.cancelChannel);
    subscribed.catch((err: unknown) => log.error({ err }, "cannot listen for cancel requests"));
  }

  log.info({ clusters, concurrency }, "workers started");
  let closing: Promise<void> | undefined;
  return {
    clusters,
    async ready() {
      await Promise.all([...workers.map((w) => w.waitUntilReady()), subscribed]);
    },
    cancel,
    close(force = false) {
      closing ??= (async () => {
        await Promise.allSettled(workers.map((w) => w.close(force)));
        if (subscriber) await closeConnection(subscriber);
        await closeConnection(client);
        log.info({ clusters }, "workers stopped");
      })();
      return closing;
    },
  };
}
