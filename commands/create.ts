import { pickCluster, pickGuest, pickNode } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { enqueuePlan, type OperationArgs } from "../src/operations/command";
import { haOverride, OVERRIDE_HA_FLAG } from "../src/operations/ha-manager";

export const createCommand: CommandSpec<OperationArgs> = {
  verb: "create",
  summary: "start a guest from its config on a node (default: its home; checks, approval; --dry-run)",
  usage: "create [cluster] GUEST [on NODE] [--dry-run] [--override-ha]",
  role: "operator",
  flags: ["--dry-run", OVERRIDE_HA_FLAG],
  parse({ positionals, flags }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    const [guestWord, ...more] = rest;
    if (guestWord === undefined) throw new UsageError("name the guest to start");
    const guest = pickGuest(cluster, guestWord);
    let node: string | null = null;
    if (more.length === 2 && more[0] === "on") node = pickNode(cluster, more[1] as string);
    else if (more.length === 1) node = pickNode(cluster, more[0] as string);
    else if (more.length > 0) throw new UsageError(`too many arguments: ${more.join(" ").slice(0, 60)}`);
    return {
      cluster: cluster.name,
      operation: { action: "create", guest, node, ...haOverride(flags) },
      dryRun: flags.has("--dry-run"),
    };
  },
  run: (ctx, args) => enqueuePlan(ctx, args),
};
