/**
 * `split-brain-plan` job: the split-brain card's "Keep X's data" buttons. A thin planner: the request
 * is planned like any `operation-plan` (src/operations/split-brain-plan.ts through buildPlan)
 * and its refusal or approval card goes in the incident's thread. Once approved, the recovery runs as
 * an `operation-execute` job like every other approved action (src/operations/executor.ts).
 */
import type { Job } from "bullmq";
import type { OperationDeps } from "../src/operations/context";
import type { SplitBrainPlanJob } from "../src/queue/schema";
import { type OperationPlanResult, planAndRequest } from "./operation-plan";

type PlanJobData = SplitBrainPlanJob & { approvalId?: string };

export function createSplitBrainPlanProcessor(deps: OperationDeps) {
  return async function splitBrainPlan(
    job: Job<PlanJobData>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<OperationPlanResult> {
    const d = job.data;
    // A retry after the request was filed does not ask twice.
    if (d.approvalId)
      return { outcome: "ok", result: "requested", summary: "approval requested", approvalId: d.approvalId };
    return planAndRequest(
      deps,
      {
        cluster: d.cluster,
        channel: d.channel,
        requestedBy: d.requestedBy,
        deliveryId: d.deliveryId,
        requestText: d.requestText,
        operation: {
          action: "split_brain_recover",
          resource: d.resource,
          survivor: d.survivor,
          victim: d.victim,
        },
        dryRun: false,
        threadTs: d.threadTs,
      },
      {
        ...(job.id ? { jobId: job.id } : {}),
        remember: (approvalId) => job.updateData({ ...d, approvalId }),
        ...(signal ? { signal } : {}),
      },
    );
  };
}
