import { pickCluster, pickNode } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { enqueuePlan, type OperationArgs } from "../src/operations/command";

/**
 * `/xen attest-off NODE`: someone checked NODE is powered off. The only way a node no fence could
 * verify (already silent, a device without power status) counts as running nothing. Refused while the
 * node answers; a second approver confirms by typing the node's name; void once the node is seen alive.
 */
export const attestOffCommand: CommandSpec<OperationArgs> = {
  verb: "attest-off",
  summary:
    "record that someone checked a silent node is powered off, so its guests may start elsewhere (a second approver types the node's name)",
  usage: "attest-off [cluster] NODE [--dry-run]",
  role: "approver",
  flags: ["--dry-run"],
  parse({ positionals, flags }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    if (rest.length !== 1) throw new UsageError("name the one node that was checked to be powered off");
    const node = pickNode(cluster, rest[0] as string);
    return {
      cluster: cluster.name,
      operation: { action: "attest_off", node },
      dryRun: flags.has("--dry-run"),
    };
  },
  run: (ctx, args) => enqueuePlan(ctx, args),
};
