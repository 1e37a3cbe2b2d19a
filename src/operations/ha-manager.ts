/**
 * Safety rule 7, "go through the cluster manager": a guest that heartbeat (haresources) or Pacemaker
 * (a Xen/VirtualDomain primitive) manages is never started or moved by hand, because the manager's
 * bookkeeping would then disagree with where the guest runs, and it may start the guest a second time.
 * The preflight refuses and says the manager's way, with the exact command and node; a typed
 * `--override-ha` lets an operator who knows the manager will not act (it is stopped, or in
 * maintenance) go ahead, and the approval card then says it bypasses the manager. When the manager's
 * configuration cannot be read, whether it manages the guest is unknown, which refuses too.
 */
import type { ActionPlan, PreflightCheck } from "../approval/types";
import type { ClusterConfig } from "../config/schema";
import { haConfigDriverOf, haDriverOf } from "../drivers/registry";
import type { HaAction } from "../drivers/types";
import type { ClusterState, HaManagedGuest } from "../model";
import { locateGuest } from "./locate";
import type { PlanOutcome } from "./types";

/** What a request may override by typing it (`--override-ha`). */
export const OPERATION_OVERRIDES = ["ha"] as const;
export type OperationOverride = (typeof OPERATION_OVERRIDES)[number];
export const OVERRIDE_HA_FLAG = "--override-ha";

/** The typed overrides of a command's flags, as an object to spread into its operation. */
export function haOverride(flags: ReadonlySet<string>): { overrides?: OperationOverride[] } {
  return flags.has(OVERRIDE_HA_FLAG) ? { overrides: ["ha"] } : {};
}

export type HaManagement =
  | { status: "none"; detail: string }
  | { status: "unmanaged"; detail: string }
  | { status: "managed"; stack: "heartbeat" | "pacemaker"; entry: HaManagedGuest; source: string }
  | { status: "unknown"; stack: "heartbeat" | "pacemaker"; detail: string };

function managerName(stack: "heartbeat" | "pacemaker"): string {
  return haDriverOf(stack).label;
}

/** Whether the cluster manager manages `guest`, from the snapshot's haConfig parts. */
export function haManagement(cluster: ClusterConfig, state: ClusterState, guest: string): HaManagement {
  const stack = cluster.toolstack.ha;
  if (stack === "none")
    return { status: "none", detail: `${cluster.name} has no cluster manager (toolstack.ha: none)` };
  const read = state.nodes.filter((n) => n.haConfig);
  for (const n of read) {
    const entry = n.haConfig?.guests.find((g) => g.guest === guest);
    if (entry && n.haConfig)
      return { status: "managed", stack, entry, source: `${n.haConfig.source} on ${n.name}` };
  }
  // haresources is identical on every node (heartbeat requires it) and the CIB is cluster-wide: one
  // node's answer is enough to say the guest is not in it.
  if (read.length > 0)
    return {
      status: "unmanaged",
      detail: `${managerName(stack)} does not manage ${guest} (${read[0]?.haConfig?.source} read on ${read.map((n) => n.name).join(", ")})`,
    };
  const why = state.nodes
    .map((n) =>
      n.haConfigError
        ? `${n.name}: ${n.haConfigError.message}`
        : n.haConfig === undefined
          ? `${n.name}: not read`
          : `${n.name}: ${n.error?.message ?? "unreadable"}`,
    )
    .join("; ");
  return { status: "unknown", stack, detail: why || "no node was read" };
}

/** The manager's way to do what was asked, with the exact commands and nodes (its driver says how). */
export function haWay(
  state: ClusterState,
  m: Extract<HaManagement, { status: "managed" }>,
  action: HaAction,
  node: string,
): string {
  const holder = locateGuest(state, m.entry.guest).on[0]?.node ?? null;
  return haConfigDriverOf(m.stack).way(m.entry, action, node, holder);
}

/**
 * The "ha manager" check of one guest: passes when no manager manages it, fails when one does (or it
 * cannot be told) unless `--override-ha` was typed, in which case it passes and says "OVERRIDE".
 */
export function haManagerCheck(
  input: { cluster: ClusterConfig; state: ClusterState; overrides?: readonly string[] | undefined },
  action: HaAction,
  guest: string,
  node: string,
  label = "",
): PreflightCheck {
  const name = `${label}ha manager`;
  const override = input.overrides?.includes("ha") === true;
  const m = haManagement(input.cluster, input.state, guest);
  const verb = action === "create" ? "start" : action === "migrate" ? "migrate" : "move";
  switch (m.status) {
    case "none":
    case "unmanaged":
      return { name, ok: true, detail: m.detail };
    case "unknown":
      return override
        ? {
            name,
            ok: true,
            detail: `OVERRIDE (${OVERRIDE_HA_FLAG}): whether ${managerName(m.stack)} manages ${guest} is unknown (${m.detail}); this ${verb} bypasses it`,
          }
        : {
            name,
            ok: false,
            detail: `whether ${managerName(m.stack)} manages ${guest} is unknown (${m.detail}); a guest it manages must be moved through it. Check its configuration, or add \`${OVERRIDE_HA_FLAG}\``,
          };
    case "managed": {
      // A manager that runs nowhere cannot act: then the override is the way, and the refusal says so.
      const seen = input.state.nodes.filter((n) => n.ha);
      const down = seen.length > 0 && !seen.some((n) => n.ha?.running);
      const what = `${managerName(m.stack)} manages ${guest} (${m.entry.resource} in ${m.source})${down ? `, but ${managerName(m.stack)} runs on no node (${seen.map((n) => n.name).join(", ")} read)` : ""}`;
      const way = haWay(input.state, m, action, node);
      return override
        ? {
            name,
            ok: true,
            detail: `OVERRIDE (${OVERRIDE_HA_FLAG}): ${what}; this hand ${verb} bypasses ${managerName(m.stack)}, whose own view of where ${guest} runs will be wrong (the HA way: ${way})`,
          }
        : {
            name,
            ok: false,
            detail: `${what}: xenops does not ${verb} it by hand. ${way[0]?.toUpperCase()}${way.slice(1)}. If ${managerName(m.stack)} cannot act, add \`${OVERRIDE_HA_FLAG}\``,
          };
    }
  }
}

/** The overrides stored with a plan (its params), for planning it again at execution time. */
export function overridesOf(params: Record<string, unknown>): OperationOverride[] {
  const v = params.overrides;
  return Array.isArray(v)
    ? v.filter((x): x is OperationOverride => (OPERATION_OVERRIDES as readonly unknown[]).includes(x))
    : [];
}

/**
 * Records the typed overrides on the plan (so the execution plans again with them) and, when one was
 * used to bypass the cluster manager, says so in the plan's summary, which heads the approval card.
 */
export function noteOverrides(outcome: PlanOutcome, overrides: readonly string[] | undefined): PlanOutcome {
  if (!outcome.ok || !overrides?.length) return outcome;
  const bypassed = outcome.plan.checks.some(
    (c) => c.name.endsWith("ha manager") && c.detail.startsWith("OVERRIDE"),
  );
  const plan: ActionPlan = {
    ...outcome.plan,
    summary: bypassed
      ? `${outcome.plan.summary}, bypassing the HA manager (${OVERRIDE_HA_FLAG})`
      : outcome.plan.summary,
    params: { ...outcome.plan.params, overrides: [...overrides] },
  };
  return { ...outcome, plan };
}
