/**
 * `approve` job: `/xen approve ID TEXT`, an approval typed instead of clicked (the only way to approve
 * an action whose policy needs a typed confirmation). The decision itself is the engine's atomic
 * script, exactly as for a click; the answer goes to the approver only.
 */
import type { Job } from "bullmq";
import type { ApprovalEngine } from "../src/approval/engine";
import type { Notifier } from "../src/chat/types";
import type { ApproveJob } from "../src/queue/schema";

export interface ApproveJobDeps {
  approvals: ApprovalEngine;
  notifier: Notifier;
}

export function createApproveProcessor(deps: ApproveJobDeps) {
  return async function approve(job: Job<ApproveJob>): Promise<{ outcome: string }> {
    const d = job.data;
    const record = await deps.approvals.get(d.approvalId);
    if (record && record.plan.cluster !== d.cluster) {
      await deps.notifier.postEphemeral(d.channel, d.requestedBy, {
        text: `Not recorded: request \`${d.approvalId}\` belongs to cluster ${record.plan.cluster}; approve it in its channel.`,
      });
      return { outcome: "refused" };
    }
    const result = await deps.approvals.decide(
      d.approvalId,
      d.requestedBy,
      "approve",
      d.typed ? { typed: d.typed } : {},
    );
    const text =
      result.outcome === "refused"
        ? `Not recorded: ${result.reason ?? "refused"}`
        : result.outcome === "recorded"
          ? (result.reason ?? "Your approval is recorded.")
          : result.outcome === "approved"
            ? (result.reason ??
              `Approved: ${record?.plan.summary ?? d.approvalId}. The execution is queued; the card shows its progress.`)
            : "Recorded.";
    await deps.notifier.postEphemeral(d.channel, d.requestedBy, { text });
    return { outcome: result.outcome };
  };
}
