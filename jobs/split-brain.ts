/**
 * `split-brain-plan` and `split-brain-recover` jobs: the split-brain recovery (src/events/recovery.ts).
 * Planning is read-only (retried like any read-only job); the recovery runs at most once: the approval
 * engine's claim makes a second delivery a no-op.
 */
import { type Job, UnrecoverableError } from "bullmq";
import {
  executeSplitBrainRecovery,
  type RecoveryDeps,
  requestSplitBrainRecovery,
} from "../src/events/recovery";
import type { SplitBrainPlanJob, SplitBrainRecoverJob } from "../src/queue/schema";

export function createSplitBrainPlanProcessor(deps: RecoveryDeps) {
  return async function splitBrainPlan(job: Job<SplitBrainPlanJob>, _token?: string, signal?: AbortSignal) {
    const d = job.data;
    return requestSplitBrainRecovery(
      deps,
      {
        cluster: d.cluster,
        resource: d.resource,
        survivor: d.survivor,
        victim: d.victim,
        requestedBy: d.requestedBy,
        channel: d.channel,
        threadTs: d.threadTs,
      },
      signal,
    );
  };
}

export function createSplitBrainRecoverProcessor(deps: RecoveryDeps) {
  return async function splitBrainRecover(
    job: Job<SplitBrainRecoverJob>,
    _token?: string,
    signal?: AbortSignal,
  ) {
    if (!job.id) throw new UnrecoverableError("a recovery job needs an id");
    return executeSplitBrainRecovery(deps, job.data.approvalId, job.id, signal);
  };
}
