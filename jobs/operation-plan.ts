/**
 * `operation-plan` job (migrate, create, fence, evacuate): read-only. Snapshot the cluster, run the
 * preflight and build the plan, then post exactly one of: the refusal card (every check, failed ones
 * first), the dry-run card (plan and checks, no buttons), or the approval request (the engine's card
 * with Approve/Deny). Retried like any read-only job; the approval id is remembered in the job data so
 * a retry never asks twice.
 */
import type { Job } from "bullmq";
import { policyFor } from "../src/approval/policy";
import { pickRelevantState, summarizeRelevantState } from "../src/approval/state-hash";
import { errorCode, errorMessage, XenopsError } from "../src/errors";
import { previewOf } from "../src/forms/preview";
import { auditSafely, type OperationDeps } from "../src/operations/context";
import { planOperation, requestOfSpec } from "../src/operations/plan";
import { describeRequest } from "../src/operations/preflight";
import { renderDryRun, renderRefusal } from "../src/operations/render";
import { attachRawOutput, unreadableForRefusal } from "../src/operations/unreadable";
import type { OperationPlanJob } from "../src/queue/schema";

export interface OperationPlanResult {
  /** The job itself did its work (the label the job instrumentation reads). */
  outcome: "ok";
  /** What it posted. */
  result: "refused" | "dry-run" | "requested" | "forbidden";
  summary: string;
  approvalId?: string;
  failed?: string[];
  /** The posted refusal or dry run as text (the `/xen` modal shows it as its preflight). */
  preview?: string;
}

type PlanJobData = OperationPlanJob & { approvalId?: string };

export function createOperationPlanProcessor(deps: OperationDeps) {
  return async function operationPlan(
    job: Job<PlanJobData>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<OperationPlanResult> {
    const d = job.data;
    if (d.approvalId)
      return { outcome: "ok", result: "requested", summary: "approval requested", approvalId: d.approvalId };
    return planAndRequest(deps, d, {
      ...(job.id ? { jobId: job.id } : {}),
      remember: (approvalId) => job.updateData({ ...d, approvalId }),
      ...(signal ? { signal } : {}),
    });
  };
}

/**
 * The planning job's body, for every action (also the split-brain card's `split-brain-plan`): plan,
 * then post the refusal, the dry run or the approval request (in `threadTs` when given).
 */
export async function planAndRequest(
  deps: OperationDeps,
  d: OperationPlanJob,
  options: { jobId?: string; remember(approvalId: string): Promise<unknown>; signal?: AbortSignal },
): Promise<OperationPlanResult> {
  const { signal } = options;
  const job = { id: options.jobId };
  const thread = d.threadTs ? { threadTs: d.threadTs } : {};
  const request = requestOfSpec(d.cluster, d.operation);
  const what = describeRequest(request);
  // Redis without AOF would forget the approval and the journal on a restart: refused before planning.
  const volatile = await deps.approvals.durabilityRefusal();
  if (volatile) {
    await deps.notifier.post(d.channel, { text: `⛔ Refused: ${what}: ${volatile}`, ...thread });
    await auditSafely(deps, {
      kind: "refusal",
      actor: d.requestedBy,
      cluster: d.cluster,
      command: d.requestText,
      parameters: { ...d.operation, dryRun: d.dryRun },
      outcome: "refused",
      error: { code: "approval_refused", message: volatile },
      ...(job.id ? { jobId: job.id } : {}),
    });
    return { outcome: "ok", result: "refused", summary: volatile, failed: ["redis_persistence"] };
  }
  const outcome = await planOperation(deps, request, signal ? { signal } : {});

  if (!outcome.ok) {
    const failed = outcome.checks.filter((c) => !c.ok);
    const focus = {
      guests: "guest" in request ? [request.guest] : [],
      nodes: "node" in request && request.node ? [request.node] : [],
      resources: request.action === "split_brain_recover" ? [request.resource] : [],
    };
    // Refused on output that could not be read: show it (first lines on the card, all attached).
    const unreadable = unreadableForRefusal(outcome.state, outcome.checks, focus.nodes);
    const refusal = renderRefusal({
      what,
      requestedBy: d.requestedBy,
      checks: outcome.checks,
      stateSummary: summarizeRelevantState(pickRelevantState(outcome.state, focus)),
      unreadable,
    });
    const ref = await deps.notifier.post(d.channel, { ...refusal, ...thread });
    await attachRawOutput(deps.notifier, ref, unreadable, `Refused: ${what}`).catch((err: unknown) =>
      deps.logger.warn({ err, jobId: job.id }, "refusal raw output upload failed"),
    );
    await auditSafely(deps, {
      kind: "refusal",
      actor: d.requestedBy,
      cluster: d.cluster,
      command: d.requestText,
      parameters: { ...d.operation, dryRun: d.dryRun, failed: failed.map((c) => `${c.name}: ${c.detail}`) },
      outcome: "refused",
      error: {
        code: "preflight_failed",
        message: `preflight failed: ${failed.map((c) => c.name).join(", ")}`,
      },
      ...(job.id ? { jobId: job.id } : {}),
    });
    return {
      outcome: "ok",
      result: "refused",
      summary: `refused: ${failed.map((c) => c.name).join(", ")}`,
      failed: failed.map((c) => c.name),
      preview: previewOf(refusal),
    };
  }

  const policy = policyFor(outcome.plan.action, deps.inventory, outcome.plan);
  if (d.dryRun) {
    const dryRun = renderDryRun(outcome.plan, policy, d.requestedBy);
    await deps.notifier.post(d.channel, { ...dryRun, ...thread });
    return { outcome: "ok", result: "dry-run", summary: "dry run posted", preview: previewOf(dryRun) };
  }
  try {
    const record = await deps.approvals.request(outcome.plan, {
      requestedBy: d.requestedBy,
      channel: d.channel,
      policy,
      ...thread,
      // The planning job's id: a re-run of the same job (its worker died, Redis failed it) files no second card.
      ...(options.jobId ? { requestKey: options.jobId } : {}),
    });
    await options.remember(record.id);
    return { outcome: "ok", result: "requested", summary: "approval requested", approvalId: record.id };
  } catch (err) {
    if (err instanceof XenopsError && err.code === "forbidden") {
      await deps.notifier.postEphemeral(d.channel, d.requestedBy, {
        text: `Not requested: ${errorMessage(err)}. ${what} was not asked of the approvers.`,
      });
      await auditSafely(deps, {
        kind: "refusal",
        actor: d.requestedBy,
        cluster: d.cluster,
        command: d.requestText,
        parameters: { ...d.operation },
        outcome: "refused",
        error: { code: errorCode(err), message: errorMessage(err) },
      });
      return { outcome: "ok", result: "forbidden", summary: errorMessage(err) };
    }
    throw err;
  }
}
