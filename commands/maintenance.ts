import { pickCluster, pickNode } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { MAX_MAINTENANCE_MS, parseDuration } from "../src/events/maintenance";
import { formatDurationMinutes } from "../src/message/text";

interface MaintenanceArgs {
  cluster: string;
  node: string;
  /** null: end the window. */
  durationMs: number | null;
  reason: string;
}

export const maintenanceCommand: CommandSpec<MaintenanceArgs> = {
  verb: "maintenance",
  summary: "silence a node's events and block risky actions on it for a while (`off` ends it)",
  usage: "maintenance [cluster] NODE DURATION|off [reason]",
  role: "operator",
  parse({ positionals }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    const [nodeArg, durationArg, ...reason] = rest;
    if (nodeArg === undefined || durationArg === undefined)
      throw new UsageError("name the node and a duration (e.g. 2h, 90m) or `off`");
    const node = pickNode(cluster, nodeArg);
    let durationMs: number | null = null;
    if (durationArg.toLowerCase() !== "off") {
      durationMs = parseDuration(durationArg);
      if (durationMs === null)
        throw new UsageError(`"${durationArg.slice(0, 20)}" is not a duration; use e.g. 45m, 2h, 1h30m, 1d`);
      if (durationMs > MAX_MAINTENANCE_MS)
        throw new UsageError(`at most ${formatDurationMinutes(MAX_MAINTENANCE_MS)}`);
    }
    return { cluster: cluster.name, node, durationMs, reason: reason.join(" ").slice(0, 200) };
  },
  async run(ctx, args) {
    const job = await ctx.jobs.enqueue(
      args.cluster,
      "maintenance",
      {
        cluster: args.cluster,
        channel: ctx.request.channelId,
        requestedBy: ctx.request.userId,
        deliveryId: ctx.request.deliveryId,
        requestText: ctx.request.text,
        node: args.node,
        durationMs: args.durationMs,
        reason: args.reason,
      },
      { deliveryId: ctx.request.deliveryId },
    );
    const what =
      args.durationMs === null
        ? `end the maintenance of ${args.node}`
        : `put ${args.node} in maintenance for ${formatDurationMinutes(args.durationMs)}`;
    return {
      text: job.duplicate
        ? `Already queued as job ${job.number}: ${what}.`
        : `Queued as job ${job.number}: ${what}.`,
    };
  },
};
