/**
 * The enqueuer every command, action, approval and event source queues through: the queues' own, plus the
 * console's tracking hook, the job each delivery queued (for the command's audit record) and the "queued"
 * card of jobs that keep one.
 */
import { DeliveryJobs } from "../audit/command-entry";
import type { EnqueuedJob, JobEnqueuer } from "../chat/enqueuer";
import type { Notifier } from "../chat/types";
import { announceQueuedJob } from "../job-cards/announce";
import type { CardStore } from "../job-cards/card-store";
import type { Logger } from "../log";
import type { JobQueues } from "../queue/queues";
import type { JobName } from "../queue/schema";

export interface EnqueuerOptions {
  queues: JobQueues;
  notifier: Notifier;
  cards: CardStore;
  logger: Logger;
  /** Called for every job queued (the console waits for them). */
  onEnqueued?: ((job: EnqueuedJob & { cluster: string; name: JobName }) => void) | undefined;
}

export function observedEnqueuer(options: EnqueuerOptions): { jobs: JobEnqueuer; queuedBy: DeliveryJobs } {
  const { queues, notifier, cards, logger } = options;
  const queuedBy = new DeliveryJobs();
  const jobs: JobEnqueuer = {
    async enqueue(cluster, name, payload, enqueueOptions) {
      const job = await queues.enqueue(cluster, name, payload, enqueueOptions);
      options.onEnqueued?.({ ...job, cluster, name });
      queuedBy.remember(enqueueOptions.deliveryId, { jobId: job.jobId, number: job.number, cluster });
      // The "queued" card, off the ack path (jobs whose JobSpec has `card: true`).
      if (!job.duplicate)
        void announceQueuedJob(
          { notifier, cards, logger },
          { jobId: job.jobId, number: job.number, name, payload },
        );
      return job;
    },
  };
  return { jobs, queuedBy };
}
