/**
 * `operation-execute` job: runs an approved plan exactly once (src/operations/executor.ts). Mutating:
 * never retried, never re-run after a worker crash (crash recovery looks at the journal instead).
 */
import { type Job, UnrecoverableError } from "bullmq";
import type { OperationDeps } from "../src/operations/context";
import { executeApproved } from "../src/operations/executor";
import type { ExecutionOutcome } from "../src/operations/types";
import type { OperationExecuteJob } from "../src/queue/schema";

/** The outcome, plus the label the job instrumentation reads (metrics, the job's audit record). */
export type OperationExecuteResult = ExecutionOutcome & { outcome: "ok" | "failed" | "cancelled" };

export function createOperationExecuteProcessor(deps: OperationDeps) {
  return async function operationExecute(
    job: Job<OperationExecuteJob>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<OperationExecuteResult> {
    if (!job.id) throw new UnrecoverableError("an execution job needs an id");
    const result = await executeApproved(deps, job.data.approvalId, {
      jobId: job.id,
      ...(signal ? { signal } : {}),
    });
    const outcome =
      result.status === "succeeded" ? "ok" : result.status === "refused" ? "cancelled" : "failed";
    return { ...result, outcome };
  };
}
