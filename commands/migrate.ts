import { pickCluster, pickGuest, pickNode } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { enqueuePlan, type OperationArgs } from "../src/operations/command";
import { haOverride, OVERRIDE_HA_FLAG } from "../src/operations/ha-manager";

export const migrateCommand: CommandSpec<OperationArgs> = {
  verb: "migrate",
  summary:
    "live-migrate a guest to another node (plan, checks, approval; --dry-run only shows the plan; --override-ha bypasses the cluster manager)",
  usage: "migrate [cluster] GUEST [to] NODE [--dry-run] [--override-ha]",
  role: "operator",
  flags: ["--dry-run", OVERRIDE_HA_FLAG],
  parse({ positionals, flags }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    const words = rest.length === 3 && rest[1] === "to" ? [rest[0], rest[2]] : rest;
    if (words.length !== 2) throw new UsageError("name the guest and the node to move it to");
    const guest = pickGuest(cluster, words[0] as string);
    const target = pickNode(cluster, words[1] as string);
    return {
      cluster: cluster.name,
      operation: { action: "migrate", guest, target, ...haOverride(flags) },
      dryRun: flags.has("--dry-run"),
    };
  },
  run: (ctx, args) => enqueuePlan(ctx, args),
};
