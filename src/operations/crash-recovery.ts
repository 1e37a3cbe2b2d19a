/**
 * Crash recovery. A worker killed in the middle of an operation leaves a claimed, unfinished execution
 * journal and (for at most the lock TTL) its locks. A worker that starts, and then every
 * recoveryIntervalMs, looks at each unfinished execution whose locks it can take (taking them proves
 * the owner is gone: a live executor renews them), re-reads the cluster and either finishes the
 * verification or reports the uncertain state and pages. It never runs a destructive step: a fence
 * whose step was started is verified, never fenced again; a migration whose step was started is
 * located, never migrated again. Only the undo or the tail of non-destructive DRBD steps runs, and
 * only where the fresh state shows it safe.
 */
import type { ApprovalRecord, ExecutionJournal, StepStatus } from "../approval/types";
import type { ClusterConfig } from "../config/schema";
import { errorMessage } from "../errors";
import type { Lock } from "../locks/lock";
import { clusterConfig, type OperationDeps, resolveFenceSecrets } from "./context";
import { ExecutionCardWriter, fenceOutcome, operationLockKeys, parseSteps, recordOutcome } from "./executor";
import { ExecutionLease, takeoverVerdict } from "./lease";
import { describeLocation, locateGuest, runsOnlyOn } from "./locate";
import { type ActionContext, actionHooks, recoverableAction } from "./registry";
import type { StepStatusView } from "./render";
import { sweepOrphanedExecutions } from "./sweeper";
import type { ExecutionOutcome, OperationStep } from "./types";
import {
  checkCreated,
  readOffProofs,
  settleArrival,
  undoPreparation,
  verifyFenced,
  waitForPlacement,
} from "./verify";

export interface RecoveryReport {
  approvalId: string;
  outcome: ExecutionOutcome;
}

/** One pass over the unfinished executions of `clusters`. Returns what it settled. */
export async function recoverUnfinished(
  deps: OperationDeps,
  options: { clusters: readonly string[]; owner: string },
): Promise<RecoveryReport[]> {
  const reports: RecoveryReport[] = [];
  const journals = await deps.approvals.unfinishedExecutions();
  for (const j of journals) {
    const record = await deps.approvals.get(j.approvalId);
    if (!record || !recoverableAction(record.plan.action) || !options.clusters.includes(record.plan.cluster))
      continue;
    const log = deps.logger.child({ approvalId: record.id, jobId: j.jobId, component: "recovery" });
    let cluster: ClusterConfig;
    let steps: OperationStep[];
    try {
      cluster = clusterConfig(deps, record.plan.cluster);
      steps = parseSteps(record);
    } catch (err) {
      log.error({ err }, "cannot recover this execution");
      continue;
    }
    // A worker paused or cut off from Redis in the middle of a long step is not dead: take over only
    // once its lease expired and no step can still be running (its own deadline plus a grace period).
    const verdict = takeoverVerdict(j, steps, {
      nowMs: await deps.approvals.now(),
      graceMs: deps.settings.stepGraceMs,
      defaultStepTimeoutMs: cluster.commandTimeoutMs,
    });
    if (!verdict.ok || ExecutionLease.heldHere(record.id)) {
      log.debug({ why: verdict.ok ? "this process runs it" : verdict.why }, "execution not taken over");
      continue;
    }
    const lock = await deps.locks.acquire(operationLockKeys(record, cluster, steps), {
      owner: `recovery-${options.owner}`.replaceAll("|", "-"),
      ttlMs: deps.settings.lockTtlMs,
    });
    // Busy: its executor still holds them, or another action (or recovery) runs on the same things.
    if (!lock) continue;
    let lease: ExecutionLease | undefined;
    try {
      // Bumps the fencing token (atomically, only if still expired and unchanged): the old worker, if it
      // comes back, finds out before its next step and acts no more.
      const leaseOwner = `recovery-${options.owner}`;
      const taken = await deps.approvals.takeOverLease(
        record.id,
        verdict.token,
        leaseOwner,
        deps.settings.leaseTtlMs,
      );
      if (!taken.taken) {
        log.info({ why: taken.why, detail: taken.detail }, "execution not taken over");
        continue;
      }
      lease = new ExecutionLease(
        deps.approvals,
        { approvalId: record.id, owner: leaseOwner, token: taken.token },
        { ttlMs: deps.settings.leaseTtlMs, logger: log },
      ).start();
      const held = lease;
      const fencedDeps: OperationDeps = { ...deps, approvals: deps.approvals.fenced(held.grant) };
      const fencing = {
        async assertHeld() {
          await lock.assertHeld();
          await held.assertHeld();
        },
      };
      const journal = await deps.approvals.journal(record.id);
      if (!journal || journal.finished) continue;
      log.warn(
        { steps: journal.steps.map((s) => `${s.index}:${s.status}`) },
        "recovering an execution whose worker stopped",
      );
      const card = new ExecutionCardWriter(fencedDeps, record);
      for (const s of journal.steps) card.view.statuses[s.index] = viewOf(s.status);
      await card.phase("The worker running this stopped; re-reading the cluster to see how far it got…");
      let outcome: ExecutionOutcome;
      // An action with hooks of its own (src/operations/registry.ts) recovers through them.
      const hooks = actionHooks(record.plan.action);
      const ctx: ActionContext = {
        deps: fencedDeps,
        cluster,
        record,
        steps,
        guard: () => fencing.assertHeld(),
        phase: (text) => card.phase(text),
        recovered: true,
      };
      try {
        if (hooks) {
          await hooks.onStart?.(ctx);
          outcome = await hooks.recover(ctx, journal);
        } else outcome = await recoverOne(fencedDeps, record, cluster, steps, journal, fencing);
      } catch (err) {
        outcome = {
          status: "uncertain",
          summary: "The worker stopped mid-way and the outcome could not be established",
          details: [errorMessage(err), "nothing was run again"],
          page: true,
        };
      }
      await hooks?.onEnd?.(ctx, outcome).catch((err: unknown) => log.warn({ err }, "action end hook failed"));
      const settled = await recordOutcome(fencedDeps, record, journal.jobId, outcome);
      if (settled === "lost" || settled === "finished") {
        await card.lateNote(
          `A recovering worker lost this execution to another one; it found: ${outcome.summary}`,
        );
        continue;
      }
      await card.finish(outcome, true);
      log.warn({ status: outcome.status, summary: outcome.summary }, "execution recovered");
      reports.push({ approvalId: record.id, outcome });
    } finally {
      lease?.stop();
      await lock.release().catch(() => {});
    }
  }
  return reports;
}

function viewOf(status: StepStatus): StepStatusView {
  return status === "done" ? "done" : status === "failed" ? "failed" : "interrupted";
}

async function recoverOne(
  deps: OperationDeps,
  record: ApprovalRecord,
  cluster: ClusterConfig,
  steps: OperationStep[],
  journal: ExecutionJournal,
  lock: Pick<Lock, "assertHeld">,
): Promise<ExecutionOutcome> {
  const status = (i: number) => journal.steps.find((s) => s.index === i)?.status;
  const touched = journal.steps.length > 0;
  const notRun = (
    why: string,
    reason = "nothing was changed; request it again if it is still needed",
  ): ExecutionOutcome => ({
    status: "refused",
    summary: `Not executed: the worker stopped ${why}`,
    reason,
    replan: false,
  });

  if (record.plan.action === "fence") {
    const i = steps.findIndex((s) => s.kind === "fence");
    const step = steps[i];
    if (!step?.fenceTarget) return notRun("before planning a fence");
    if (status(i) === undefined) return notRun("before the fence ran (it was not run)");
    // Started: it may or may not have reached the device. Never fence again: look.
    const secrets = await resolveFenceSecrets(
      deps.mutationsFor(cluster.name).fence,
      cluster.name,
      deps.secretEnv,
    ).catch(() => new Map<string, string>());
    // What the executor saw right before the fence (kept before it ran); without it only the device
    // reading the power back as off can verify the fence now.
    const before = (await deps.offProofs?.beforeFence(record.id).catch(() => null)) ?? {
      aliveBefore: null,
      historyBefore: Number.POSITIVE_INFINITY,
    };
    const evidence = await verifyFenced(deps, cluster, {
      target: step.fenceTarget,
      fencer: step.node,
      before,
      secrets,
      timeoutMs: deps.settings.fenceVerifyTimeoutMs,
      action: step.fenceAction ?? "reboot",
    });
    const outcome = await fenceOutcome(deps, cluster, record, step, evidence, true);
    if (outcome.status === "succeeded") return outcome;
    return {
      status: "uncertain",
      summary: `The worker stopped while fencing ${step.fenceTarget}; it is not verified off`,
      details: [
        ...evidence.details,
        `${step.fenceTarget} does not count as off: once someone has checked it is powered off, \`/xen attest-off ${step.fenceTarget}\``,
        "the fence was not run again for this approval; check the node and the device by hand",
      ],
      page: true,
    };
  }

  if (record.plan.action === "attest_off") {
    // An attestation runs no command: it recorded its proof before the worker stopped, or not.
    const node = String(record.plan.params.node ?? record.plan.target.node ?? "");
    const proof = await deps.offProofs?.get(cluster.name, node).catch(() => null);
    if (proof?.approvalId === record.id)
      return {
        status: "succeeded",
        summary: `${node} is attested off (recorded before the worker stopped)`,
        details: [`recorded at ${proof.at}`],
      };
    return notRun(
      "before recording the attestation",
      "nothing was recorded; attest it again if it is still true",
    );
  }

  if (record.plan.action === "create") {
    const i = steps.findIndex((s) => s.kind === "create");
    const step = steps[i];
    if (!step?.guest) return notRun("before planning a create");
    const seen = await waitForPlacement(
      deps,
      cluster,
      step.guest,
      null,
      deps.settings.migrateVerifyTimeoutMs,
    );
    const loc = seen.loc;
    const resources = cluster.guests.find((g) => g.name === step.guest)?.drbd ?? [];
    if (runsOnlyOn(loc, step.node)) {
      const c = checkCreated(
        seen.state,
        step.guest,
        step.node,
        resources,
        cluster,
        await readOffProofs(deps, cluster),
      );
      if (status(i) === undefined)
        return {
          status: "failed",
          summary: `${step.guest} runs on ${step.node}, but this request never started it`,
          details: c.details,
          page: false,
        };
      return c.ok
        ? {
            status: "succeeded",
            summary: `${step.guest} runs on ${step.node} (verified after a worker restart)`,
            details: c.details,
          }
        : {
            status: "failed",
            summary: `${step.guest} runs but does not check out`,
            details: c.details,
            page: false,
          };
    }
    if (loc.on.length === 0 && loc.unknown.length === 0) {
      const started = steps.filter((_, k) => status(k) !== undefined);
      const undo = await undoPreparation(deps, cluster, seen.state, step.guest, started, () =>
        lock.assertHeld(),
      );
      if (!touched || status(i) === undefined)
        return notRun(
          `before starting ${step.guest}`,
          `${step.guest} runs nowhere; ${undo.lines.join("; ") || "nothing to undo"}`,
        );
      return {
        status: "failed",
        summary: `${step.guest} did not start; it runs nowhere`,
        details: undo.lines,
        page: false,
      };
    }
    return {
      status: "uncertain",
      summary: `${describeLocation(loc)}: look now`,
      details: ["nothing was run again"],
      page: true,
    };
  }

  // migrate / evacuate: guest by guest, in plan order.
  const units: { guest: string; idx: number[] }[] = [];
  steps.forEach((s, k) => {
    const g = s.guest ?? "";
    const last = units.at(-1);
    if (last?.guest === g) last.idx.push(k);
    else units.push({ guest: g, idx: [k] });
  });
  const details: string[] = [];
  const moved: string[] = [];
  const warnings: string[] = [];
  for (const [u, unit] of units.entries()) {
    const unitStarted = unit.idx.some((k) => status(k) !== undefined);
    const mig = unit.idx.find((k) => steps[k]?.kind === "migrate");
    const m = mig === undefined ? undefined : steps[mig];
    if (!m?.from || !m.to) continue;
    const later = units.slice(u + 1).map((x) => x.guest);
    if (!unitStarted) {
      if (moved.length === 0) return notRun(`before moving ${m.guest}`);
      details.push(`not attempted: ${[unit.guest, ...later].join(", ")}`);
      return { status: "failed", summary: `Stopped after moving ${moved.join(", ")}`, details, page: false };
    }
    const seen = await waitForPlacement(
      deps,
      cluster,
      unit.guest,
      null,
      deps.settings.migrateVerifyTimeoutMs,
    );
    const loc = seen.loc;
    const resources = cluster.guests.find((g) => g.name === unit.guest)?.drbd ?? [];
    if (runsOnlyOn(loc, m.to) && status(mig as number) === undefined) {
      details.push(`${unit.guest} runs on ${m.to} only, but this request never started its migration`);
      return {
        status: "failed",
        summary: `${unit.guest} was moved by something else; nothing was run`,
        details,
        page: false,
      };
    }
    if (runsOnlyOn(loc, m.to)) {
      // It moved (the executor's rule for a migration that arrived despite an error): finish the unit's
      // non-destructive tail (demote the source, allow-two-primaries off), then one Primary per resource.
      const errored = status(mig as number) === "failed";
      const tail = unit.idx
        .filter((k) => k > (mig as number) && status(k) !== "done")
        .map((k) => ({ index: k, step: steps[k] as OperationStep }));
      const settled = await settleArrival(
        deps,
        cluster,
        seen.state,
        { guest: unit.guest, from: m.from, to: m.to, resources },
        tail,
        { guard: () => lock.assertHeld() },
      );
      details.push(...settled.lines);
      if (settled.page)
        return {
          status: "failed",
          summary: `${unit.guest} moved to ${m.to}${errored ? " despite an error" : ""}, but the DRBD roles are not safe: look now`,
          details: [...details, "nothing more was run"],
          page: true,
        };
      if (!settled.ok)
        return {
          status: "failed",
          summary: `${unit.guest} moved to ${m.to}, but the DRBD roles do not check out`,
          details,
          page: false,
        };
      if (errored) warnings.push(`${unit.guest} moved despite an error from its migrate command`);
      moved.push(unit.guest);
      continue;
    }
    if (runsOnlyOn(loc, m.from)) {
      const started = unit.idx.filter((k) => status(k) !== undefined).map((k) => steps[k] as OperationStep);
      const undo = await undoPreparation(deps, cluster, seen.state, unit.guest, started, () =>
        lock.assertHeld(),
      );
      details.push(`${unit.guest} still runs on ${m.from} only`, ...undo.lines);
      if (later.length) details.push(`not attempted: ${later.join(", ")}`);
      const migrated = mig !== undefined && status(mig) !== undefined;
      return {
        status: "failed",
        summary: migrated
          ? `The migration of ${unit.guest} did not complete (the worker stopped); it still runs on ${m.from}`
          : `Stopped before migrating ${unit.guest}; it still runs on ${m.from}`,
        details,
        page: false,
      };
    }
    details.push(describeLocation(locateGuest(seen.state, unit.guest)), "nothing was run again");
    return { status: "uncertain", summary: `${describeLocation(loc)}: look now`, details, page: true };
  }
  return {
    status: "succeeded",
    summary: `${moved.join(", ")} ${moved.length === 1 ? "runs" : "run"} on ${[...new Set(steps.filter((s) => s.kind === "migrate").map((s) => s.to))].join(", ")} (verified after a worker restart)`,
    details,
    ...(warnings.length ? { warning: warnings.join("; ") } : {}),
  };
}

/**
 * Recovery at start and then periodically, until stopped; each pass also sweeps approved executions
 * whose journal Redis lost (src/operations/sweeper.ts).
 */
export function startRecovery(
  deps: OperationDeps,
  options: {
    clusters: readonly string[];
    owner: string;
    intervalMs?: number;
    /** A queued job's state, for the orphan sweep (see SweepOptions.jobState). */
    jobState?: (jobId: string) => Promise<string>;
  },
): { stop(): Promise<void>; runOnce(): Promise<RecoveryReport[]> } {
  let running: Promise<RecoveryReport[]> | null = null;
  let stopped = false;
  const pass = async (): Promise<RecoveryReport[]> => {
    const recovered = await recoverUnfinished(deps, options);
    const swept = await sweepOrphanedExecutions(deps, options).catch((err: unknown) => {
      deps.logger.warn({ err }, "orphaned execution sweep failed");
      return [];
    });
    return [...recovered, ...swept];
  };
  const runOnce = (): Promise<RecoveryReport[]> => {
    if (stopped) return Promise.resolve([]);
    running ??= pass()
      .catch((err: unknown) => {
        deps.logger.warn({ err }, "crash recovery pass failed");
        return [];
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void runOnce(), options.intervalMs ?? deps.settings.recoveryIntervalMs);
  timer.unref();
  void runOnce();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
