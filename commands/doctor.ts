import { pickCluster } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";

interface DoctorArgs {
  cluster: string;
}

export const doctorCommand: CommandSpec<DoctorArgs> = {
  verb: "doctor",
  summary: "check the cluster's configuration on every node (DRBD, Xen, start-up, HA, fencing, nodes)",
  usage: "doctor [cluster]",
  role: "viewer",
  parse({ positionals }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    if (rest.length > 0) throw new UsageError(`too many arguments: ${rest.join(" ").slice(0, 60)}`);
    return { cluster: cluster.name };
  },
  async run(ctx, args) {
    const job = await ctx.jobs.enqueue(
      args.cluster,
      "doctor",
      {
        cluster: args.cluster,
        channel: ctx.request.channelId,
        requestedBy: ctx.request.userId,
        deliveryId: ctx.request.deliveryId,
        requestText: ctx.request.text,
      },
      { deliveryId: ctx.request.deliveryId },
    );
    return {
      text: job.duplicate
        ? `Already queued as job ${job.number}: doctor of ${args.cluster}.`
        : `Queued as job ${job.number}: doctor of ${args.cluster} (reads every node's configuration). The card will appear in this channel.`,
    };
  },
};
