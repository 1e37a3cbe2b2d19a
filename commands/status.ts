import { pickCluster, pickNodeOrGuest } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";

interface StatusArgs {
  cluster: string;
  target: { kind: "node" | "guest"; name: string } | null;
}

export const statusCommand: CommandSpec<StatusArgs> = {
  verb: "status",
  summary: "show nodes, guests, DRBD and HA state of a cluster (warnings first)",
  usage: "status [cluster] [node|guest]",
  role: "viewer",
  parse({ positionals }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    if (rest.length > 1) throw new UsageError(`too many arguments: ${rest.slice(1).join(" ").slice(0, 60)}`);
    return {
      cluster: cluster.name,
      target: rest[0] === undefined ? null : pickNodeOrGuest(cluster, rest[0]),
    };
  },
  async run(ctx, args) {
    const job = await ctx.jobs.enqueue(
      args.cluster,
      "status",
      {
        cluster: args.cluster,
        target: args.target?.name ?? null,
        channel: ctx.request.channelId,
        requestedBy: ctx.request.userId,
        deliveryId: ctx.request.deliveryId,
        requestText: ctx.request.text,
      },
      { deliveryId: ctx.request.deliveryId },
    );
    const what = args.target ? `${args.target.kind} ${args.target.name} in ${args.cluster}` : args.cluster;
    return {
      text: job.duplicate
        ? `Already queued as job ${job.number}: status of ${what}.`
        : `Queued as job ${job.number}: status of ${what}. The card will appear in this channel.`,
    };
  },
};
