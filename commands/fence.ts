import { pickCluster, pickNode } from "../src/core/resolve";
import { type CommandSpec, UsageError } from "../src/core/spec";
import { enqueuePlan, type OperationArgs } from "../src/operations/command";

export const fenceCommand: CommandSpec<OperationArgs> = {
  verb: "fence",
  summary: "power-cycle a node from a surviving peer (two approvers besides you; --dry-run)",
  usage: "fence [cluster] NODE [--dry-run]",
  role: "operator",
  flags: ["--dry-run"],
  parse({ positionals, flags }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    if (rest.length !== 1) throw new UsageError("name the one node to fence");
    const node = pickNode(cluster, rest[0] as string);
    return { cluster: cluster.name, operation: { action: "fence", node }, dryRun: flags.has("--dry-run") };
  },
  run: (ctx, args) => enqueuePlan(ctx, args),
};
