/**
 * The skeleton the read-only card jobs (`status`, `doctor`) share: find the cluster, open the job's
 * card (the "queued" card becomes the progress card), remember the card's ts in the job data so that a
 * retry edits the same message, honour cancel, and on the last failed attempt mark the card failed.
 * Each job only says what to read and how to post the result.
 */
import type { Job } from "bullmq";
import type { ClusterConfig } from "../src/config/schema";
import { XenopsError } from "../src/errors";
import { openJobCard } from "../src/job-cards/card";
import { JobCancelled, JobControl } from "../src/job-cards/control";
import { describeJob } from "../src/job-cards/describe";
import type { Logger } from "../src/log";
import { isFinalFailure } from "../src/queue/retry";
import type { JobDeps } from "./types";

type CardJobData = { cluster: string; channel: string; requestedBy: string; messageTs?: string };

export type CardJobDeps = Pick<JobDeps, "inventory" | "notifier" | "logger"> &
  Partial<Pick<JobDeps, "cards">>;

export interface CardJobRun {
  cluster: ClusterConfig;
  log: Logger;
  /** Aborted on cancel (pass it to whatever reads the nodes). */
  signal: AbortSignal;
  throwIfCancelled(): void;
  card: ReturnType<typeof openJobCard>;
}

export interface CardJobSpec<R> {
  /** The job's name, for the card's title. */
  name: "status" | "doctor";
  /** The first line of the card while the job reads. */
  starting(cluster: ClusterConfig): string;
  /** Reads, renders and posts the result (`card.done`); what it returns is the job's result. */
  run(ctx: CardJobRun): Promise<R>;
}

export async function runCardJob<D extends CardJobData, R>(
  deps: CardJobDeps,
  job: Job<D>,
  signal: AbortSignal | undefined,
  spec: CardJobSpec<R>,
): Promise<R> {
  const { data } = job;
  const log = deps.logger.child({ jobId: job.id, user: data.requestedBy, cluster: data.cluster });
  const cluster = deps.inventory.clusters.find((c) => c.name === data.cluster);
  if (!cluster) throw new XenopsError("unknown_cluster", `unknown cluster "${data.cluster}"`);

  const card = openJobCard(job, deps, {
    title: describeJob(spec.name, data),
    logger: log,
    // These jobs usually take a second or two: edit the card once, with the result, unless it is slow.
    settleMs: 4_000,
    ...(data.messageTs ? { existing: { channel: data.channel, ts: data.messageTs } } : {}),
  });
  card.start(spec.starting(cluster));
  const control = new JobControl(job, signal, card);
  if (!data.messageTs)
    void card.ref().then(async (ref) => {
      if (ref?.ts) await job.updateData({ ...data, messageTs: ref.ts }).catch(() => {});
    });

  try {
    return await spec.run({
      cluster,
      log,
      signal: control.signal,
      throwIfCancelled: () => control.throwIfCancelled(),
      card,
    });
  } catch (err) {
    if (err instanceof JobCancelled || control.cancelled) {
      await card.cancelled(control.cancelRequest?.by ?? null);
      throw err;
    }
    if (isFinalFailure(job, err, signal)) await card.failed(err);
    throw err;
  } finally {
    control.dispose();
  }
}
