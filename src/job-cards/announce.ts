/**
 * Posting a job's "queued" card as soon as it is enqueued (for jobs whose JobSpec says `card: true`). Runs
 * after the enqueue, off the ack path; failures are logged and the worker then posts the card itself.
 */
import type { Notifier } from "../chat/types";
import type { Logger } from "../log";
import { JOBS, type JobName } from "../queue/schema";
import { renderQueuedCard } from "./card";
import type { CardStore } from "./card-store";
import { describeJob } from "./describe";

export interface AnnounceDeps {
  notifier: Notifier;
  cards: CardStore;
  logger: Logger;
}

export interface QueuedJob {
  jobId: string;
  number: number;
  name: JobName;
  payload: unknown;
}

/** True for jobs that keep a JobCard. */
export function keepsCard(name: JobName): boolean {
  return (JOBS[name] as { card?: boolean }).card === true;
}

export async function announceQueuedJob(deps: AnnounceDeps, job: QueuedJob): Promise<void> {
  if (!keepsCard(job.name)) return;
  const data = job.payload as { channel?: unknown; requestedBy?: unknown };
  if (typeof data.channel !== "string" || typeof data.requestedBy !== "string") return;
  try {
    if (!(await deps.cards.claimForAnnounce(job.jobId))) return;
    const ref = await deps.notifier.post(
      data.channel,
      renderQueuedCard({
        jobId: job.jobId,
        jobNumber: job.number,
        title: describeJob(job.name, job.payload),
        requestedBy: data.requestedBy,
      }),
    );
    const kept = await deps.cards.announced(job.jobId, ref);
    if (!kept && ref) {
      // The worker waited too long and posted its own card: say where this one went.
      await deps.notifier.update(ref, {
        text: `Job ${job.number}: this card moved to a newer message below.`,
      });
    }
  } catch (err) {
    deps.logger.warn({ jobId: job.jobId, err }, "could not post the queued card");
  }
}
