/**
 * Split-brain recovery: the operation the split-brain card's "Keep X's data" buttons lead to.
 *
 * Plan (read-only, from a fresh snapshot): stop the resource's guests on the victim if they run
 * there, make the victim Secondary, disconnect it if it is still trying to connect, reconnect it
 * discarding its data (with the installed DRBD's syntax: `drbdadm -- --discard-my-data connect R` up
 * to 8.3, `drbdadm connect --discard-my-data R` from 8.4), reconnect the survivor if it is
 * StandAlone. The plan goes on an approval card whose approval needs `VICTIM/RESOURCE` typed (the node
 * whose changes are discarded and the resource), and the card shows the exact command to type.
 *
 * Execution (once approved, exactly once): claim, lock, re-read the cluster and compare its state
 * hash, run the steps with the journal, then follow the resync until both sides are UpToDate and
 * report in the incident's thread.
 */

import type { Notifier } from "../app/types";
import type { ApprovalEngine } from "../approval/engine";
import { policyFor } from "../approval/policy";
import {
  pickRelevantState,
  planStateHash,
  type StateFocus,
  summarizeRelevantState,
} from "../approval/state-hash";
import type { ActionPlan, ApprovalRecord, PlannedStep, PreflightCheck } from "../approval/types";
import { type ClusterDrivers, takeSnapshot } from "../cluster/snapshot";
import type { ClusterConfig, InventoryConfig } from "../config/schema";
import { mutationDriversFor } from "../drivers/registry";
import type { DrbdVersion } from "../drivers/types";
import { errorMessage, XenopsError } from "../errors";
import type { CommandRunner } from "../exec/runner";
import type { LockManager } from "../locks/lock";
import { lockKeysForPlan } from "../locks/lock";
import type { Logger } from "../log";
import type { ClusterState, DrbdResourceState } from "../model/schema";
import { codeBlock, escapeMrkdwn } from "../slack/render/text";
import type { MaintenanceStore } from "./maintenance";
import type { EventPipeline } from "./pipeline";

export interface SplitBrainRequest {
  cluster: string;
  resource: string;
  survivor: string;
  victim: string;
}

export type RecoveryPlanOutcome =
  | { ok: true; plan: ActionPlan; state: ClusterState }
  | { ok: false; checks: PreflightCheck[]; summary: string; state: ClusterState };

const SYNCING =
  /^(SyncSource|SyncTarget|PausedSyncS|PausedSyncT|StartingSyncS|StartingSyncT|WFBitMapS|WFBitMapT|WFSyncUUID)$/;

function resOn(state: ClusterState, node: string, resource: string): DrbdResourceState | null {
  return state.nodes.find((n) => n.name === node)?.drbd?.find((r) => r.name === resource) ?? null;
}

export function recoveryFocus(cluster: ClusterConfig, resource: string): StateFocus {
  return {
    resources: [resource],
    guests: cluster.guests.filter((g) => g.drbd.includes(resource)).map((g) => g.name),
  };
}

/** The recovery plan for a fresh snapshot. Pure apart from the DRBD version, read by the caller. */
export function planSplitBrainRecovery(
  cluster: ClusterConfig,
  state: ClusterState,
  req: SplitBrainRequest,
  version: DrbdVersion | null,
): RecoveryPlanOutcome {
  const { resource, survivor, victim } = req;
  const commands = mutationDriversFor(cluster.toolstack);
  const checks: PreflightCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const users = cluster.guests.filter((g) => g.drbd.includes(resource)).map((g) => g.name);
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
  const s = resOn(state, survivor, resource);
  const v = resOn(state, victim, resource);
  check(
    `${resource} on both nodes`,
    !!s && !!v,
    `${survivor}: ${s ? "present" : "absent"}, ${victim}: ${v ? "present" : "absent"}`,
  );
  const conn = (r: DrbdResourceState | null) => r?.peers[0]?.connectionState ?? "StandAlone";
  if (s && v) {
    const split =
      conn(s) !== "Connected" &&
      conn(v) !== "Connected" &&
      (conn(s) === "StandAlone" || conn(v) === "StandAlone");
    check(
      "split brain",
      split,
      `${survivor} ${conn(s)}, ${victim} ${conn(v)}${split ? "" : ": not a split brain (a side is connected or none is StandAlone)"}`,
    );
    check(
      `${survivor}'s data usable`,
      s.diskState === "UpToDate" || s.diskState === "Consistent",
      `${survivor}'s disk is ${s.diskState}${s.diskState === "UpToDate" || s.diskState === "Consistent" ? "" : ": keeping it would keep nothing usable"}`,
    );
  }
  check(
    "DRBD version known",
    version !== null,
    version ? `DRBD ${version.text}` : "could not read /proc/drbd on the victim",
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

  const steps: (PlannedStep & { kind: string; guest?: string })[] = [];
  for (const d of runningOnVictim)
    steps.push({
      node: victim,
      argv: commands.hypervisor.shutdown(d.name),
      description: `Shut down ${d.guest} on ${victim} (its writes since the split are about to be discarded)`,
      destructive: true,
      kind: "shutdown",
      guest: d.guest ?? d.name,
    });
  if (v.role === "Primary")
    steps.push({
      node: victim,
      argv: commands.drbd.secondary(resource),
      description: `Make ${resource} Secondary on ${victim}`,
      destructive: false,
      kind: "secondary",
    });
  if (conn(v) !== "StandAlone")
    steps.push({
      node: victim,
      argv: commands.drbd.disconnect(resource),
      description: `Disconnect ${resource} on ${victim}`,
      destructive: false,
      kind: "disconnect",
    });
  steps.push({
    node: victim,
    argv: commands.drbd.connectDiscardMyData(resource, version),
    description: `Reconnect ${resource} on ${victim} DISCARDING its changes since the split (DRBD ${version.text} syntax)`,
    destructive: true,
    kind: "discard",
  });
  if (conn(s) === "StandAlone")
    steps.push({
      node: survivor,
      argv: commands.drbd.connect(resource),
      description: `Reconnect ${resource} on ${survivor}`,
      destructive: false,
      kind: "connect",
    });

  const focus = recoveryFocus(cluster, resource);
  const plan: ActionPlan = {
    action: "split_brain_recover",
    cluster: cluster.name,
    summary: `Recover the split brain of ${resource}: keep ${survivor}'s data, discard ${victim}'s`,
    target: { resource, node: victim },
    params: { resource, survivor, victim, drbdVersion: version.text },
    steps,
    checks,
    stateHash: planStateHash(state, focus),
    stateSummary: summarizeRelevantState(pickRelevantState(state, focus)),
  };
  return { ok: true, plan, state };
}

export interface RecoveryDeps {
  inventory: InventoryConfig;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  notifier: Notifier;
  maintenance: MaintenanceStore;
  pipeline: EventPipeline;
  logger: Logger;
  /** The approval engine and lock manager (bound late: they are built with the runtime). */
  approvals(): { engine: ApprovalEngine; locks: LockManager } | null;
  /** Resync follow-up: poll interval and how long to wait at most. */
  pollMs?: number;
  resyncTimeoutMs?: number;
  /** The thread of the resource's split-brain incident, where progress is reported. */
  threadOf?: (cluster: string, resource: string) => Promise<string | null>;
  sleep?: (ms: number) => Promise<void>;
}

function clusterOf(inventory: InventoryConfig, name: string): ClusterConfig {
  const c = inventory.clusters.find((x) => x.name === name);
  if (!c) throw new XenopsError("unknown_cluster", `unknown cluster "${name}"`);
  return c;
}

async function snapshot(
  deps: RecoveryDeps,
  cluster: ClusterConfig,
  signal?: AbortSignal,
): Promise<ClusterState> {
  return takeSnapshot(
    cluster,
    {
      runnerFor: (n) => deps.runnerFor(cluster.name, n),
      drivers: deps.driversFor(cluster.name),
      logger: deps.logger,
    },
    signal ? { signal } : {},
  );
}

/** Plans and, when the checks pass, files the approval request (card in the incident's thread). */
export async function requestSplitBrainRecovery(
  deps: RecoveryDeps,
  req: SplitBrainRequest & { requestedBy: string; channel: string; threadTs: string | null },
  signal?: AbortSignal,
): Promise<{ ok: boolean; approvalId: string | null; summary: string }> {
  const cluster = clusterOf(deps.inventory, req.cluster);
  const say = (text: string) =>
    deps.notifier.post(req.channel, { text, ...(req.threadTs ? { threadTs: req.threadTs } : {}) });
  try {
    await deps.maintenance.assertNotInMaintenance(cluster.name, [req.victim, req.survivor]);
  } catch (err) {
    await say(`:no_entry: ${escapeMrkdwn(errorMessage(err))}`);
    return { ok: false, approvalId: null, summary: errorMessage(err) };
  }
  const access = deps.approvals();
  if (!access) {
    await say(
      ":no_entry: The approval engine is not running in this worker: the recovery cannot be requested.",
    );
    return { ok: false, approvalId: null, summary: "no approval engine" };
  }
  // Redis without AOF would forget the approval and the journal on a restart: refused before planning.
  const volatile = await access.engine.durabilityRefusal();
  if (volatile) {
    await say(
      `:no_entry: Split-brain recovery of ${escapeMrkdwn(req.resource)} refused: ${escapeMrkdwn(volatile)}`,
    );
    return { ok: false, approvalId: null, summary: volatile };
  }
  const state = await snapshot(deps, cluster, signal);
  let version: DrbdVersion | null = null;
  try {
    version = await mutationDriversFor(cluster.toolstack).drbd.version(
      deps.runnerFor(cluster.name, req.victim),
      signal ? { signal } : {},
    );
  } catch (err) {
    deps.logger.warn({ err }, "DRBD version unreadable");
  }
  const outcome = planSplitBrainRecovery(cluster, state, req, version);
  if (!outcome.ok) {
    const lines = outcome.checks.map((c) => `${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
    await say(`:no_entry: ${escapeMrkdwn(outcome.summary)}\n${codeBlock(lines)}`);
    return { ok: false, approvalId: null, summary: outcome.summary };
  }
  const record = await access.engine.request(outcome.plan, {
    requestedBy: req.requestedBy,
    channel: req.channel,
    policy: policyFor("split_brain_recover", deps.inventory, outcome.plan),
    ...(req.threadTs ? { threadTs: req.threadTs } : {}),
  });
  return { ok: true, approvalId: record.id, summary: outcome.plan.summary };
}

interface StepView extends PlannedStep {
  kind?: string;
  guest?: string;
}

/** Runs an approved recovery. Returns a summary; throws only for programming errors. */
export async function executeSplitBrainRecovery(
  deps: RecoveryDeps,
  approvalId: string,
  jobId: string,
  signal?: AbortSignal,
): Promise<{ outcome: "ok" | "failed" | "refused" | "duplicate"; summary: string }> {
  const access = deps.approvals();
  if (!access) throw new XenopsError("internal", "the approval engine is not running in this worker");
  const { engine, locks } = access;
  const claim = await engine.claimExecution(approvalId, jobId);
  if (claim === "already_claimed") return { outcome: "duplicate", summary: "already run by another job" };
  const record = (await engine.get(approvalId)) as ApprovalRecord;
  const plan = record.plan;
  const cluster = clusterOf(deps.inventory, plan.cluster);
  const resource = String(plan.params.resource);
  const survivor = String(plan.params.survivor);
  const victim = String(plan.params.victim);
  // Into the incident's thread (the card is a reply there); else under the card itself.
  const incidentThread = (await deps.threadOf?.(cluster.name, resource).catch(() => null)) ?? null;
  const threadTs = incidentThread ?? record.messageTs;
  const thread = threadTs ? { threadTs } : {};
  const say = (text: string) => deps.notifier.post(record.channel, { text, ...thread });
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const finish = async (outcome: "ok" | "failed" | "cancelled", detail: string) => {
    await engine.finish(approvalId, outcome, detail).catch(() => false);
  };

  // Redis without AOF would forget this journal on a restart: a data-losing recovery is refused, loudly.
  const volatile = await engine.durabilityRefusal();
  if (volatile) {
    const msg = `Recovery of ${resource} not started: ${volatile} Nothing ran.`;
    await say(`:no_entry: ${escapeMrkdwn(msg)}`);
    await finish("cancelled", msg.slice(0, 500));
    return { outcome: "refused", summary: msg };
  }

  const lock = await locks.acquire(lockKeysForPlan(plan, cluster), {
    owner: `split-brain-recover ${jobId}`,
    ttlMs: 60_000,
  });
  if (!lock) {
    const msg = `Recovery of ${resource} not started: another action holds ${resource} or ${victim}. Nothing ran.`;
    await say(`:no_entry: ${escapeMrkdwn(msg)}`);
    await finish("cancelled", msg);
    return { outcome: "refused", summary: msg };
  }
  await deps.pipeline.markRecovering(cluster.name, resource, approvalId).catch(() => undefined);
  try {
    try {
      await deps.maintenance.assertNotInMaintenance(cluster.name, [victim, survivor]);
    } catch (err) {
      await say(`:no_entry: ${escapeMrkdwn(errorMessage(err))} Nothing ran.`);
      await finish("cancelled", errorMessage(err));
      return { outcome: "refused", summary: errorMessage(err) };
    }
    const state = await snapshot(deps, cluster, signal);
    const hash = planStateHash(state, recoveryFocus(cluster, resource));
    if (hash !== plan.stateHash) {
      const msg = `The cluster changed since the recovery of ${resource} was approved; nothing ran. Now:\n${summarizeRelevantState(pickRelevantState(state, recoveryFocus(cluster, resource)))}\nPress "Keep …'s data" again to plan it on the current state.`;
      await say(`:warning: ${escapeMrkdwn(msg)}`);
      await finish("cancelled", "state changed");
      return { outcome: "refused", summary: msg };
    }
    await say(
      `:gear: Recovering the split brain of ${escapeMrkdwn(resource)}: keeping ${escapeMrkdwn(survivor)}'s data, discarding ${escapeMrkdwn(victim)}'s (approved by ${record.approvedBy.map((u) => `<@${u}>`).join(", ")}).`,
    );
    const steps = plan.steps as StepView[];
    const hypervisor = deps.driversFor(cluster.name).hypervisor;
    for (const [i, step] of steps.entries()) {
      if (signal?.aborted) throw new XenopsError("exec_aborted", "cancelled");
      await lock.assertHeld();
      await engine.stepStarted(approvalId, i);
      const runner = deps.runnerFor(cluster.name, step.node);
      try {
        const res = await runner.run(step.argv, {
          timeoutMs: cluster.commandTimeoutMs,
          ...(signal ? { signal } : {}),
        });
        if (step.kind === "shutdown") {
          const name = step.guest ?? "";
          const deadline = Date.now() + 180_000;
          for (;;) {
            const domains = await hypervisor.listDomains(runner, { timeoutMs: cluster.commandTimeoutMs });
            if (!domains.some((d) => d.guest === name)) break;
            if (Date.now() > deadline)
              throw new XenopsError(
                "exec_failed",
                `${name} did not shut down on ${step.node} within 3 minutes`,
              );
            await sleep(deps.pollMs ?? 1_000);
          }
        }
        await engine.stepDone(approvalId, i, { exitCode: res.exitCode });
      } catch (err) {
        await engine.stepFailed(approvalId, i, { error: errorMessage(err) }).catch(() => undefined);
        const after = await snapshot(deps, cluster).catch(() => null);
        const now = after
          ? summarizeRelevantState(pickRelevantState(after, recoveryFocus(cluster, resource)))
          : "state unknown";
        const msg = `Step ${i + 1} (${step.description}) FAILED: ${errorMessage(err)}. Stopped there. Now:\n${now}`;
        await say(`:x: ${escapeMrkdwn(msg)}`);
        await finish("failed", msg);
        return { outcome: "failed", summary: msg };
      }
    }
    // Follow the resync to UpToDate/UpToDate on both sides.
    const timeoutMs = deps.resyncTimeoutMs ?? 6 * 3600_000;
    const deadline = Date.now() + timeoutMs;
    let lastPct = -1;
    let lastNote = 0;
    for (;;) {
      const [a, b] = await Promise.all(
        [survivor, victim].map((n) =>
          deps
            .driversFor(cluster.name)
            .drbd.status(
              deps.runnerFor(cluster.name, n),
              { resources: cluster.drbd },
              { timeoutMs: cluster.commandTimeoutMs },
            )
            .catch(() => null),
        ),
      );
      const ra = a?.find((r) => r.name === resource) ?? null;
      const rb = b?.find((r) => r.name === resource) ?? null;
      const done = (r: DrbdResourceState | null) =>
        !!r &&
        r.diskState === "UpToDate" &&
        r.peers[0]?.connectionState === "Connected" &&
        r.peers[0]?.diskState === "UpToDate" &&
        !SYNCING.test(r.peers[0]?.replicationState ?? "");
      if (done(ra) && done(rb)) {
        const msg = `Split brain of ${resource} recovered: ${survivor}'s data kept, ${victim}'s changes discarded and resynced. ${resource} is UpToDate/UpToDate on ${survivor} and ${victim}.`;
        await say(`:white_check_mark: ${escapeMrkdwn(msg)}`);
        await deps.pipeline
          .report({
            cluster: cluster.name,
            kind: "split_brain_resolved",
            family: "link",
            severity: "info",
            subject: resource,
            node: null,
            title: `Recovered by xenops: kept ${survivor}'s data; ${resource} is UpToDate/UpToDate`,
            evidence: [ra, rb].map(
              (r, i) =>
                `${i === 0 ? survivor : victim}: ${r?.role}/${r?.peers[0]?.role} ${r?.diskState}/${r?.peers[0]?.diskState} ${r?.peers[0]?.connectionState}`,
            ),
            source: "job",
            at: new Date().toISOString(),
          })
          .catch(() => undefined);
        await finish("ok", msg);
        return { outcome: "ok", summary: msg };
      }
      const pct = [ra, rb].map((r) => r?.peers[0]?.sync?.percent).find((p) => typeof p === "number") ?? null;
      if (pct !== null && pct - lastPct >= 10 && Date.now() - lastNote > 30_000) {
        lastPct = pct;
        lastNote = Date.now();
        await say(
          `:arrows_counterclockwise: Resync of ${escapeMrkdwn(resource)} from ${escapeMrkdwn(survivor)} to ${escapeMrkdwn(victim)}: ${pct.toFixed(1)}%`,
        );
      }
      if (Date.now() > deadline || signal?.aborted) {
        const msg = `The steps ran, but ${resource} did not reach UpToDate/UpToDate within ${Math.round(timeoutMs / 60_000)} min (now ${ra?.diskState ?? "?"}/${rb?.diskState ?? "?"}). Check it; the incident stays open.`;
        await say(`:warning: ${escapeMrkdwn(msg)}`);
        await finish("failed", msg);
        return { outcome: "failed", summary: msg };
      }
      await sleep(deps.pollMs ?? 1_000);
    }
  } finally {
    await deps.pipeline.markRecovering(cluster.name, resource, null).catch(() => undefined);
    await lock.release().catch(() => false);
  }
}
