import { pickCluster } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";

interface ApproveArgs {
  cluster: string;
  approvalId: string;
  typed: string;
}

const ID = /^[A-Za-z0-9_-]{8,64}$/;

export const approveCommand: CommandSpec<ApproveArgs> = {
  verb: "approve",
  summary: "approve a request by its id, typing the confirmation its card asks for",
  usage: "approve ID [CONFIRMATION]",
  role: "approver",
  parse({ positionals }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    const [id, ...typed] = rest;
    if (id === undefined) throw new UsageError("give the request id shown on the approval card");
    if (!ID.test(id))
      throw new UsageError(`"${id.slice(0, 40)}" is not a request id (8-64 letters, digits, '-' or '_')`);
    const text = typed.join(" ");
    if (text.length > 200) throw new UsageError("the confirmation is too long");
    return { cluster: cluster.name, approvalId: id, typed: text };
  },
  async run(ctx, args) {
    const job = await ctx.jobs.enqueue(
      args.cluster,
      "approve",
      {
        cluster: args.cluster,
        channel: ctx.request.channelId,
        requestedBy: ctx.request.userId,
        deliveryId: ctx.request.deliveryId,
        requestText: ctx.request.text,
        approvalId: args.approvalId,
        typed: args.typed,
      },
      { deliveryId: ctx.request.deliveryId },
    );
    return {
      text: job.duplicate
        ? `Already received (job ${job.number}).`
        : `Checking your approval of request \`${args.approvalId}\`; the answer comes only to you.`,
    };
  },
};
