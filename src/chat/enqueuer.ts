/** The narrow view of the queue that command handlers get. */
import { XenopsError } from "../errors";
import type { JobName, JobPayloads } from "../queue/schema";

export interface EnqueuedJob {
  jobId: string;
  /** Short number for humans ("job 42"). */
  number: number;
  /** True when this delivery had already been queued (Slack retry, double submit). */
  duplicate: boolean;
}

export interface JobEnqueuer {
  enqueue<N extends JobName>(
    cluster: string,
    name: N,
    payload: JobPayloads[N],
    options: { deliveryId: string },
  ): Promise<EnqueuedJob>;
}

/**
 * The queue could not confirm the enqueue in time, or failed after claiming the job id: the job may or
 * may not be queued. Say so (never "nothing was queued"); a retry with the same delivery id finds the
 * same job, or queues it exactly once.
 */
export class EnqueueOutcomeUnknown extends XenopsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("internal", message, options);
    this.name = "EnqueueOutcomeUnknown";
  }
}
