/** Shared by the risky verbs' handlers (commands/migrate.ts, create.ts, fence.ts, evacuate.ts): queue the planning job, ack. */

import type { CommandContext } from "../chat/spec";
import type { Reply } from "../chat/types";
import type { OperationSpec } from "../queue/schema";
import { describeRequest } from "./preflight";

export interface OperationArgs {
  cluster: string;
  operation: OperationSpec;
  dryRun: boolean;
}

export async function enqueuePlan(ctx: CommandContext, args: OperationArgs): Promise<Reply> {
  const job = await ctx.jobs.enqueue(
    args.cluster,
    "operation-plan",
    {
      cluster: args.cluster,
      channel: ctx.request.channelId,
      requestedBy: ctx.request.userId,
      deliveryId: ctx.request.deliveryId,
      requestText: ctx.request.text,
      operation: args.operation,
      dryRun: args.dryRun,
    },
    { deliveryId: ctx.request.deliveryId },
  );
  const what = `${describeRequest({ ...args.operation, cluster: args.cluster })} in ${args.cluster}`;
  if (job.duplicate) return { text: `Already queued as job ${job.number}: ${what}.` };
  return {
    text: args.dryRun
      ? `Queued as job ${job.number}: dry run of ${what}. The plan and its checks will appear in this channel; nothing will run.`
      : `Queued as job ${job.number}: planning ${what}. The checks run first; if they pass, an approval request with the exact plan appears in this channel.`,
  };
}
