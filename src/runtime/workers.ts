/**
 * The workers of this process: BullMQ workers around instrumented processors, the approval sweeps and crash
 * recovery that run with them, the cluster event sources, and a shutdown that lets running jobs finish.
 */
import type { ApprovalEngine } from "../approval/engine";
import type { AuditRecorder } from "../audit/recorder";
import type { InventoryConfig } from "../config/schema";
import type { Events } from "../events";
import type { CardStore } from "../job-cards/card-store";
import type { Logger } from "../log";
import { instrumentProcessors } from "../observability/instrument";
import type { Metrics } from "../observability/metrics";
import type { OperationDeps } from "../operations/context";
import { startRecovery } from "../operations/crash-recovery";
import type { JobQueues } from "../queue/queues";
import { type Processors, startWorkers, type Workers } from "../queue/worker";

export interface WorkerHostOptions {
  inventory: InventoryConfig;
  logger: Logger;
  redisUrl: string;
  prefix: string;
  /** Jobs run at once per cluster. */
  concurrency: number;
  /** The processors, built afresh for each start (the root builds them from its JobDeps). */
  processors: () => Processors;
  metrics: Metrics;
  audit: AuditRecorder;
  cards: CardStore;
  queues: JobQueues;
  approvals: ApprovalEngine;
  operations: OperationDeps;
  events: Events;
  /** Start the event sources (monitor schedulers, events2 streams, webhook) with the workers. */
  eventSources: boolean;
  /** At close, how long running jobs may take to finish. */
  shutdownGraceMs: number;
}

export interface WorkerHost {
  /** Starts workers for these clusters in this process. */
  start(clusters: readonly string[]): Workers;
  /** For /healthz: whether this process runs workers, and for which clusters. */
  health(): { running: boolean; clusters: readonly string[] };
  /** Stops recovery, the event sources and the workers, then waits (up to the grace) for running jobs. */
  close(): Promise<void>;
}

/** Wraps each processor so that its runs in progress are in `inFlight`. */
function trackRunning<P extends object>(inFlight: Set<Promise<unknown>>, processors: P): P {
  const out: Record<string, unknown> = {};
  for (const [name, processor] of Object.entries(processors)) {
    const run = processor as (job: unknown, token: unknown, signal: unknown) => Promise<unknown>;
    // Three declared parameters: BullMQ only creates abort signals for processors of length >= 3.
    out[name] = (job: unknown, token: unknown, signal: unknown) => {
      const p = run(job, token, signal);
      inFlight.add(p);
      void p.then(
        () => inFlight.delete(p),
        () => inFlight.delete(p),
      );
      return p;
    };
  }
  return out as P;
}

/** Waits up to `graceMs` for the jobs still running; the ones left are the next worker's to recover. */
async function settleRunning(
  inFlight: Set<Promise<unknown>>,
  graceMs: number,
  logger: Logger,
): Promise<void> {
  if (inFlight.size === 0) return;
  logger.info({ jobs: inFlight.size, graceMs }, "shutdown: waiting for running jobs");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), graceMs);
  });
  const outcome = await Promise.race([Promise.allSettled([...inFlight]).then(() => "done" as const), late]);
  clearTimeout(timer);
  if (outcome === "late")
    logger.warn({ jobs: inFlight.size }, "shutdown: jobs still running; the next worker recovers them");
}

export function createWorkerHost(options: WorkerHostOptions): WorkerHost {
  const { inventory, logger, metrics, audit, cards, queues, approvals, events } = options;
  const running: Workers[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const recoveries: { stop(): Promise<void> }[] = [];
  let closing = false;
  return {
    health() {
      return {
        running: running.length > 0 && !closing,
        clusters: [...new Set(running.flatMap((w) => w.clusters))],
      };
    },
    start(clusters) {
      const workers = startWorkers({
        redisUrl: options.redisUrl,
        prefix: options.prefix,
        clusters,
        concurrency: options.concurrency,
        logger: logger.child({ component: "worker" }),
        // Instrumented: job context in the logs, metrics by job and outcome, the outcome's audit record;
        // tracked, so close() lets running jobs write their outcome before the audit log closes.
        processors: trackRunning(
          inFlight,
          instrumentProcessors(options.processors(), {
            inventory,
            metrics,
            audit: (entry) => audit.record(entry),
            jobNumber: (jobId) => cards.jobNumber(jobId),
            logger,
          }),
        ),
      });
      running.push(workers);
      // Approval expiry and stalled enqueues; then executions whose worker died (at start and periodically).
      approvals.start();
      recoveries.push(
        startRecovery(options.operations, {
          clusters,
          owner: `${process.pid}-${Date.now().toString(36)}`,
          // The orphan sweep: an approved execution whose job is gone and whose journal Redis lost.
          jobState: async (jobId) => (await (await queues.getJob(jobId))?.getState()) ?? "unknown",
        }),
      );
      if (!options.eventSources) return workers;
      // The event sources (monitor schedulers, events2 streams, webhook) run where the workers run.
      const sources = events.start(clusters).catch((err: unknown) => {
        logger.error({ err }, "cluster event sources did not start");
        return null;
      });
      return { ...workers, ready: async () => void (await Promise.all([workers.ready(), sources])) };
    },
    async close() {
      closing = true;
      await Promise.allSettled(recoveries.map((r) => r.stop()));
      await events.stopSources();
      await Promise.allSettled(running.map((w) => w.close(true)));
      // The workers take no more jobs; the running ones still use the queues, SSH and the audit log.
      await settleRunning(inFlight, options.shutdownGraceMs, logger);
    },
  };
}
