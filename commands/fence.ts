import { pickCluster, pickNode, validName } from "../src/chat/resolve";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { enqueuePlan, type OperationArgs } from "../src/operations/command";

const OVERRIDE = "--override-last-copy";

export const fenceCommand: CommandSpec<OperationArgs> = {
  verb: "fence",
  summary:
    "power-cycle a node from a surviving peer (two approvers besides you; --dry-run; --override-last-copy RESOURCE... to fence the only UpToDate copy)",
  usage: `fence [cluster] NODE [${OVERRIDE} RESOURCE...] [--dry-run]`,
  role: "operator",
  flags: ["--dry-run", OVERRIDE],
  parse({ positionals, flags }, ctx) {
    const { cluster, rest } = pickCluster(positionals, ctx.clustersHere);
    const override = flags.has(OVERRIDE);
    const [first, ...resources] = rest;
    if (first === undefined || (!override && resources.length > 0))
      throw new UsageError("name the one node to fence");
    const node = pickNode(cluster, first);
    // The override names each resource whose only UpToDate copy may go down: never implied.
    if (override && resources.length === 0)
      throw new UsageError(
        `${OVERRIDE} needs the DRBD resource(s) whose only UpToDate copy may go down with ${node}`,
      );
    const names = [...new Set(resources.map((r) => validName(r, "DRBD resource")))];
    for (const r of names)
      if (!cluster.drbd.some((x) => x.name === r))
        throw new UsageError(
          `unknown DRBD resource "${r}" in ${cluster.name}; resources: ${cluster.drbd.map((x) => x.name).join(", ") || "none"}`,
        );
    return {
      cluster: cluster.name,
      operation: { action: "fence", node, ...(names.length ? { overrideLastCopy: names } : {}) },
      dryRun: flags.has("--dry-run"),
    };
  },
  run: (ctx, args) => enqueuePlan(ctx, args),
};
