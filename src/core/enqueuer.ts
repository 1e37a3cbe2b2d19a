/** The narrow view of the queue that command handlers get. */
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
