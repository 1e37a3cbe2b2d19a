/**
 * Split-brain recovery, the plan (pure): what the split-brain card's "Keep X's data" buttons lead to.
 * Shut the resource's guests down on the victim if they run there, make the victim Secondary,
 * disconnect it if it is still trying to connect, reconnect it discarding its data (with the installed
 * DRBD's syntax: `drbdadm -- --discard-my-data connect R` up to 8.3, `drbdadm connect
 * --discard-my-data R` from 8.4), reconnect the survivor if it is StandAlone. Approving needs
 * `VICTIM/RESOURCE` typed (src/approval/policy.ts). The executor (src/operations/executor.ts) runs it
 * like every other action; what is particular to it (read-backs, the resync it follows, failure and
 * crash handling) is in ./split-brain.ts.
 */
import {
  pickRelevantState,
  planStateHash,
  type StateFocus,
  summarizeRelevantState,
} from "../approval/state-hash";
import type { ActionPlan, PreflightCheck } from "../approval/types";
import type { ClusterConfig } from "../config/schema";
import { mutationDriversFor } from "../drivers/registry";
import type { DrbdVersion } from "../drivers/types";
import type { ClusterState, DrbdResourceState } from "../model";
import type { OperationStep, PlanFacts } from "./types";

export interface SplitBrainRequest {
  cluster: string;
  resource: string;
  survivor: string;
  victim: string;
}

export type RecoveryPlanOutcome =
  | { ok: true; plan: ActionPlan; state: ClusterState }
  | { ok: false; checks: PreflightCheck[]; summary: string; state: ClusterState };

export function resourceOn(state: ClusterState, node: string, resource: string): DrbdResourceState | null {
  return state.nodes.find((n) => n.name === node)?.drbd?.find((r) => r.name === resource) ?? null;
}

/** The connection state of a two-node resource (StandAlone when it has no peer entry). */
export function connectionOf(r: DrbdResourceState | null): string {
  return r?.peers[0]?.connectionState ?? "StandAlone";
}

/** The guests whose disks use `resource`. */
export function guestsOf(cluster: ClusterConfig, resource: string): string[] {
  return cluster.guests.filter((g) => g.drbd.includes(resource)).map((g) => g.name);
}

export function recoveryFocus(cluster: ClusterConfig, resource: string): StateFocus {
  return { resources: [resource], guests: guestsOf(cluster, resource) };
}

/**
 * The recovery plan for a fresh snapshot. Pure apart from the DRBD version, read by the caller;
 * `facts` adds the maintenance windows of the two nodes (the planner reads them).
 */
export function planSplitBrainRecovery(
  cluster: ClusterConfig,
  state: ClusterState,
  req: SplitBrainRequest,
  version: DrbdVersion | null,
  facts?: Pick<PlanFacts, "maintenance">,
): RecoveryPlanOutcome {
  const { resource, survivor, victim } = req;
  const commands = mutationDriversFor(cluster.toolstack);
  const checks: PreflightCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const users = guestsOf(cluster, resource);
  const nodeOf = (n: string) => state.nodes.find((x) => x.name === n);

  check("two different nodes", survivor !== victim, `keep ${survivor}, discard ${victim}`);
  for (const n of [survivor, victim]) {
    const ns = nodeOf(n);
    check(
      `${n} answers`,
      !!ns?.reachable,
      ns?.reachable ? "reachable over SSH" : `unreachable: ${ns?.error?.message ?? "not in the snapshot"}`,
    );
    check(
      `${n} DRBD state known`,
      !!ns?.drbd,
      ns?.drbd ? "read" : `unknown: ${ns?.drbdError?.message ?? "no answer"}`,
    );
    check(
      `${n} guests known`,
      !!ns?.domains,
      ns?.domains ? "read" : `unknown: ${ns?.domainsError?.message ?? "no answer"}`,
    );
  }
  const s = resourceOn(state, survivor, resource);
  const v = resourceOn(state, victim, resource);
  check(
    `${resource} on both nodes`,
    !!s && !!v,
    `${survivor}: ${s ? "present" : "absent"}, ${victim}: ${v ? "present" : "absent"}`,
  );
  if (s && v) {
    const split =
      connectionOf(s) !== "Connected" &&
      connectionOf(v) !== "Connected" &&
      (connectionOf(s) === "StandAlone" || connectionOf(v) === "StandAlone");
    check(
      "split brain",
      split,
      `${survivor} ${connectionOf(s)}, ${victim} ${connectionOf(v)}${split ? "" : ": not a split brain (a side is connected or none is StandAlone)"}`,
    );
    const usable = s.diskState === "UpToDate" || s.diskState === "Consistent";
    check(
      `${survivor}'s data usable`,
      usable,
      `${survivor}'s disk is ${s.diskState}${usable ? "" : ": keeping it would keep nothing usable"}`,
    );
  }
  check(
    "DRBD version known",
    version !== null,
    version ? `DRBD ${version.text}` : "could not read /proc/drbd on the victim",
  );
  for (const [node, w] of Object.entries(facts?.maintenance ?? {}))
    if (w !== "")
      check(
        `maintenance ${node}`,
        false,
        w === null
          ? `whether ${node} is in a maintenance window is unknown`
          : `${w}; end it first (\`/xen maintenance ${node} off\`)`,
      );
  const runningOnVictim = (nodeOf(victim)?.domains ?? []).filter((d) => d.guest && users.includes(d.guest));
  const runningOnSurvivor = (nodeOf(survivor)?.domains ?? []).filter(
    (d) => d.guest && users.includes(d.guest),
  );
  if (runningOnVictim.length > 0)
    check(
      "guests on the victim",
      true,
      `${runningOnVictim.map((d) => d.guest).join(", ")} run${runningOnVictim.length === 1 ? "s" : ""} on ${victim} and will be shut down first${runningOnSurvivor.length === 0 ? `; start ${runningOnVictim.length === 1 ? "it" : "them"} on ${survivor} afterwards` : ""}`,
    );
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0 || !s || !v || !version)
    return {
      ok: false,
      checks,
      summary: `Cannot plan the recovery of ${resource}: ${failed.map((c) => c.detail).join("; ")}`,
      state,
    };
  // Safety rule 6: the victim's changes are gone once the discard ran; xenops does not copy them.
  check(
    "snapshot",
    true,
    `${victim}'s changes to ${resource} since the split are discarded for good and xenops takes no snapshot of them: snapshot ${victim}'s backing device by hand before approving if they may be needed`,
  );

  const steps: OperationStep[] = [];
  for (const d of runningOnVictim)
    steps.push({
      node: victim,
      argv: commands.hypervisor.shutdown(d.name),
      description: `Shut down ${d.guest} on ${victim} (its writes since the split are about to be discarded)`,
      destructive: true,
      kind: "guest-shutdown",
      guest: d.guest ?? d.name,
      resource,
    });
  if (v.role === "Primary")
    steps.push({
      node: victim,
      argv: commands.drbd.secondary(resource),
      description: `Make ${resource} Secondary on ${victim}`,
      destructive: false,
      kind: "drbd-secondary",
      resource,
    });
  if (connectionOf(v) !== "StandAlone")
    steps.push({
      node: victim,
      argv: commands.drbd.disconnect(resource),
      description: `Disconnect ${resource} on ${victim}`,
      destructive: false,
      kind: "drbd-disconnect",
      resource,
    });
  steps.push({
    node: victim,
    argv: commands.drbd.connectDiscardMyData(resource, version),
    description: `Reconnect ${resource} on ${victim} DISCARDING its changes since the split (DRBD ${version.text} syntax)`,
    destructive: true,
    kind: "drbd-discard-my-data",
    resource,
  });
  if (connectionOf(s) === "StandAlone")
    steps.push({
      node: survivor,
      argv: commands.drbd.connect(resource),
      description: `Reconnect ${resource} on ${survivor}`,
      destructive: false,
      kind: "drbd-connect",
      resource,
    });

  const focus = recoveryFocus(cluster, resource);
  const plan: ActionPlan = {
    action: "split_brain_recover",
    cluster: cluster.name,
    summary: `Recover the split brain of ${resource}: keep ${survivor}'s data, discard ${victim}'s`,
    target: { resource, node: victim },
    params: {
      resource,
      survivor,
      victim,
      drbdVersion: version.text,
      // What the executor compares again before it acts (focusOfPlan).
      focusGuests: [...(focus.guests ?? [])],
      focusResources: [...(focus.resources ?? [])],
    },
    steps,
    checks,
    stateHash: planStateHash(state, focus),
    stateSummary: summarizeRelevantState(pickRelevantState(state, focus)),
  };
  return { ok: true, plan, state };
}
