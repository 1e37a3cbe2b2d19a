import { pickCluster, validName } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";

interface DrbdArgs {
  sub: "watch";
  cluster: string;
  resource: string;
}

const SUBCOMMANDS = ["watch"] as const;

export const drbdCommand: CommandSpec<DrbdArgs> = {
  verb: "drbd",
  summary:
    "`watch`: follow a DRBD resync in one live message (progress, speed, ETA, out of sync per node) until UpToDate/UpToDate",
  usage: "drbd watch RESOURCE [cluster]",
  role: "viewer",
  parse({ positionals }, ctx) {
    const [sub, ...rest] = positionals;
    if (sub === undefined) throw new UsageError(`say what to do: ${SUBCOMMANDS.join(", ")}`);
    if (sub.toLowerCase() !== "watch")
      throw new UsageError(
        `unknown drbd subcommand "${sub.slice(0, 20)}"; subcommands: ${SUBCOMMANDS.join(", ")}`,
      );
    if (rest.length === 0) throw new UsageError("name the DRBD resource to watch");
    if (rest.length > 2) throw new UsageError(`too many arguments: ${rest.slice(2).join(" ").slice(0, 60)}`);
    // The cluster may come after the resource (`watch internet lab`) or before it (`watch lab internet`).
    const last = rest[rest.length - 1];
    const clusterLast = rest.length === 2 && ctx.clustersHere.some((c) => c.name === last);
    const { cluster, rest: left } = clusterLast
      ? pickCluster([last as string, ...rest.slice(0, -1)], ctx.clustersHere)
      : pickCluster(rest, ctx.clustersHere);
    if (left.length !== 1) throw new UsageError("name one DRBD resource (and optionally the cluster)");
    const resource = validName(left[0] as string, "DRBD resource");
    if (!cluster.drbd.some((r) => r.name === resource))
      throw new UsageError(
        `unknown DRBD resource "${resource}" in ${cluster.name}; resources: ${cluster.drbd.map((r) => r.name).join(", ") || "(none configured)"}`,
      );
    return { sub: "watch", cluster: cluster.name, resource };
  },
  async run(ctx, args) {
    const job = await ctx.jobs.enqueue(
      args.cluster,
      "drbd-watch",
      {
        cluster: args.cluster,
        resource: args.resource,
        channel: ctx.request.channelId,
        requestedBy: ctx.request.userId,
        deliveryId: ctx.request.deliveryId,
        requestText: ctx.request.text,
      },
      { deliveryId: ctx.request.deliveryId },
    );
    const what = `DRBD ${args.resource} in ${args.cluster}`;
    return {
      text: job.duplicate
        ? `Already queued as job ${job.number}: watch of ${what}.`
        : `Queued as job ${job.number}: watching ${what}. One message in this channel follows the resync until UpToDate/UpToDate; \`/xen cancel ${job.number}\` stops it.`,
    };
  },
};
