import { pickCluster, pickNode } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { enqueuePlan, type OperationArgs } from "../src/operations/command";
import { haOverride, OVERRIDE_HA_FLAG } from "../src/operations/ha-manager";

export const evacuateCommand: CommandSpec<OperationArgs> = {
  verb: "evacuate",
  summary: "live-migrate every guest off a node, one at a time (one approval; --dry-run)",
  usage: "evacuate [cluster] NODE [--dry-run] [--override-ha]",
  role: "operator",
  flags: ["--dry-run", OVERRIDE_HA_FLAG],
  parse({ positionals, flags }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    if (rest.length !== 1) throw new UsageError("name the one node to evacuate");
    const node = pickNode(cluster, rest[0] as string);
    return {
      cluster: cluster.name,
      operation: { action: "evacuate", node, ...haOverride(flags) },
      dryRun: flags.has("--dry-run"),
    };
  },
  run: (ctx, args) => enqueuePlan(ctx, args),
};
