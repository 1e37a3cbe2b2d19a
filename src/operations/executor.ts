/**
 * Runs an approved plan, exactly once:
 *
 *   1. take the locks of everything the plan touches (guests, DRBD resources, nodes, the cluster's
 *      fence lock), all or nothing; busy → refused (the approval is consumed, nothing ran);
 *   2. claim the execution (ApprovalEngine.claimExecution): a duplicate job or delivery stops here;
 *   3. re-read the cluster, plan again and compare: a different state hash, a failed check or a
 *      different list of commands → refused, and a fresh plan is requested ("asks again");
 *   4. run the steps one by one: lock.assertHeld() and a journal entry before each, progress on the
 *      card, a read-back after the ones that move or start a guest or fence a node;
 *   5. verify the end state from a fresh read and report it.
 *
 * A step that fails or times out is never retried: the guest is located on every node, the
 * preparation is undone where the fresh state shows it safe, and on-call is paged when the guest runs
 * on two nodes, on none, or where it runs cannot be told. A fence is run at most once per approval.
 *
 * Every approved action runs here. One with hooks in the registry (src/operations/registry.ts, e.g.
 * split-brain recovery) gives its own check before a step, read-back, verification and failure
 * handling, and may name a point of no return (past it, cancel no longer aborts); the locks, lease,
 * journal, card and audit are the same for all.
 */
import { randomBytes } from "node:crypto";
import { planStateHash } from "../approval/state-hash";
import type { ApprovalRecord } from "../approval/types";
import type { MessageRef } from "../chat/types";
import type { ClusterConfig } from "../config/schema";
import { errorCode, errorMessage, XenopsError } from "../errors";
import { type Lock, lockKeys, lockKeysForPlan } from "../locks/lock";
import { userMention } from "../message/text";
import type { ClusterState } from "../model";
import { auditSafely, clusterConfig, type OperationDeps, redactValues, resolveFenceSecrets } from "./context";
import { ExecutionLease } from "./lease";
import { type OffProof, seenAlive } from "./liveness";
import { describeLocation, locateGuest, nodeState, runsOnlyOn } from "./locate";
import { operationSpecOf, planOperation, requestOfPlan } from "./plan";
import { focusOfPlan } from "./preflight";
import { type ActionContext, type ActionHooks, actionHooks } from "./registry";
import {
  type ExecutionView,
  oncallPartsOrWarning,
  renderExecutionCard,
  renderPage,
  type StepStatusView,
} from "./render";
import { type ExecutionOutcome, OperationStep } from "./types";
import {
  type BeforeFence,
  beforeFence,
  checkCreated,
  checkMigrated,
  errorOutput,
  type FenceEvidence,
  primariesOf,
  probe,
  readBootId,
  settleArrival,
  undoPreparation,
  unitStartProblems,
  verifyFenced,
  waitForPlacement,
} from "./verify";

/** How a migrate step went wrong, for the warning of a guest that arrived anyway. */
function migrateErrorText(err: unknown, exitCode: number | null, from: string): string {
  const code = errorCode(err);
  if (code === "state_unknown") return `the read-back after the migrate command did not settle in time`;
  if (code === "ssh_timeout") return `the migrate command on ${from} timed out`;
  return `the migrate command on ${from} reported an error (${exitCode !== null ? `exit ${exitCode}` : code})`;
}

/** Validates the stored plan's steps (they came back from Redis as JSON). */
export function parseSteps(record: ApprovalRecord): OperationStep[] {
  return record.plan.steps.map((s, i) => {
    const parsed = OperationStep.safeParse(s);
    if (!parsed.success)
      throw new XenopsError(
        "invalid_argument",
        `step ${i + 1} of the approved plan is malformed: ${parsed.error.issues[0]?.message ?? "invalid"}`,
      );
    return parsed.data;
  });
}

/** Every lock the plan needs: lockKeysForPlan plus each node a step runs on (and the fence target). */
export function operationLockKeys(
  record: ApprovalRecord,
  cluster: ClusterConfig,
  steps: readonly OperationStep[],
): string[] {
  const keys = new Set(lockKeysForPlan(record.plan, cluster));
  for (const s of steps) {
    keys.add(lockKeys.node(cluster.name, s.node));
    if (s.fenceTarget) keys.add(lockKeys.node(cluster.name, s.fenceTarget));
    if (s.guest) keys.add(lockKeys.guest(cluster.name, s.guest));
    if (s.resource) keys.add(lockKeys.drbd(cluster.name, s.resource));
  }
  return [...keys].sort();
}

/** Keeps the card of one execution up to date: updates are sent in order, never concurrently. */
export class ExecutionCardWriter {
  readonly view: ExecutionView;
  private ref: MessageRef | null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    /** With `approvals`, the card never goes back from a final state to "running" (checked in Redis). */
    private readonly deps: Pick<OperationDeps, "notifier" | "logger" | "inventory"> &
      Partial<Pick<OperationDeps, "approvals">>,
    record: ApprovalRecord,
  ) {
    this.ref = record.messageTs ? { channel: record.channel, ts: record.messageTs } : null;
    this.view = {
      record,
      statuses: record.plan.steps.map(() => "pending"),
      notes: record.plan.steps.map(() => null),
      phase: null,
      result: null,
      oncall: null,
    };
  }

  /**
   * Sends the current view (queued behind the previous update). A "running" view is sent only while the
   * store records no final state; if one is recorded while it is on its way, the final card is sent again.
   */
  update(): Promise<void> {
    const message = renderExecutionCard(this.view);
    const final = this.view.result !== null;
    const id = this.view.record.id;
    const approvals = this.deps.approvals;
    const next = this.chain.then(async () => {
      try {
        if (!final && approvals && !(await approvals.cardMayShowRunning(id))) {
          this.deps.logger.info({ approvalId: id }, "execution card left as is: its final state is recorded");
          return;
        }
        if (final && approvals) await approvals.saveFinalCard(id, JSON.stringify(message));
        if (this.ref) await this.deps.notifier.update(this.ref, message);
        else this.ref = await this.deps.notifier.post(this.view.record.channel, message);
        if (!final && approvals && this.ref && !(await approvals.cardMayShowRunning(id))) {
          const stored = await approvals.finalCard(id);
          if (stored) await this.deps.notifier.update(this.ref, JSON.parse(stored) as typeof message);
        }
      } catch (err) {
        this.deps.logger.warn({ err }, "execution card update failed");
      }
    });
    this.chain = next;
    return next;
  }

  /**
   * What a worker whose execution was taken over found: in the journal and in the card's thread, never
   * on the card (its final state belongs to whoever took over).
   */
  async lateNote(text: string): Promise<void> {
    await this.deps.approvals?.addNote(this.view.record.id, text).catch((err: unknown) => {
      this.deps.logger.warn({ err }, "could not add the note to the journal");
    });
    await this.chain;
    try {
      const message = { text };
      await this.deps.notifier.post(
        this.view.record.channel,
        this.ref ? { ...message, threadTs: this.ref.ts } : message,
      );
    } catch (err) {
      this.deps.logger.warn({ err }, "could not post the note");
    }
  }

  step(i: number, status: StepStatusView, note: string | null = null): Promise<void> {
    this.view.statuses[i] = status;
    this.view.notes[i] = note;
    return this.update();
  }

  phase(text: string | null): Promise<void> {
    this.view.phase = text;
    return this.update();
  }

  /** The final card, and the page message when the outcome pages. */
  async finish(result: ExecutionOutcome, recovered = false): Promise<void> {
    this.view.result = result;
    this.view.phase = null;
    if (recovered) this.view.recovered = true;
    const pages = (result.status === "failed" || result.status === "uncertain") && result.page;
    if (pages) this.view.oncall = oncallPartsOrWarning(this.deps.inventory.oncall);
    this.view.statuses = this.view.statuses.map((s) =>
      s === "pending" && result.status !== "succeeded" ? "skipped" : s,
    );
    await this.update();
    if (pages) {
      const { record } = this.view;
      const page = renderPage({
        oncall: this.view.oncall ?? oncallPartsOrWarning(this.deps.inventory.oncall),
        cluster: record.plan.cluster,
        summary: `${record.plan.summary}: ${result.summary}`,
        details: result.status === "failed" || result.status === "uncertain" ? result.details : [],
      });
      try {
        await this.deps.notifier.post(record.channel, this.ref ? { ...page, threadTs: this.ref.ts } : page);
        // In the thread for the context, and in the channel so it is seen.
        if (this.ref) await this.deps.notifier.post(record.channel, page);
      } catch (err) {
        this.deps.logger.error({ err }, "could not post the page");
      }
    }
  }
}

const journalOutcome = (o: ExecutionOutcome) =>
  o.status === "succeeded" ? "ok" : o.status === "refused" ? "cancelled" : "failed";

/**
 * Writes the journal's end and the audit record; the first outcome stands. Returns how the journal took
 * it: "lost" or "finished" means another worker owns the outcome (do not show this one on the card).
 */
export async function recordOutcome(
  deps: OperationDeps,
  record: ApprovalRecord,
  jobId: string,
  outcome: ExecutionOutcome,
  extra: { exitCodes?: (number | null)[]; stepDurationsMs?: number[]; durationMs?: number } = {},
): Promise<"ok" | "finished" | "lost" | "missing" | "error"> {
  let settled: "ok" | "finished" | "lost" | "missing" | "error" = "error";
  try {
    settled = await deps.approvals.settle(record.id, journalOutcome(outcome), outcome.summary.slice(0, 500), {
      cardStatus: outcome.status,
    });
    if (settled === "missing")
      deps.logger.error({ approvalId: record.id }, "the execution journal is gone (Redis lost its data?)");
  } catch (err) {
    deps.logger.error({ approvalId: record.id, err }, "could not finish the execution journal");
  }
  if (settled === "lost" || settled === "finished") return settled;
  await auditSafely(deps, {
    kind: "action",
    actor: record.requestedBy,
    cluster: record.plan.cluster,
    parameters: {
      approvalId: record.id,
      action: record.plan.action,
      target: record.plan.target,
      approvedBy: record.approvedBy,
      result: outcome.status,
      summary: outcome.summary,
    },
    plan: record.plan.steps.map((s) => ({ node: s.node, argv: s.argv })),
    stateHash: record.plan.stateHash,
    outcome: outcome.status === "succeeded" ? "ok" : outcome.status === "refused" ? "refused" : "failed",
    jobId,
    ...(extra.exitCodes ? { exitCodes: extra.exitCodes } : {}),
    ...(extra.stepDurationsMs ? { stepDurationsMs: extra.stepDurationsMs } : {}),
    ...(extra.durationMs !== undefined ? { durationMs: extra.durationMs } : {}),
  });
  return settled;
}

export interface ExecuteOptions {
  jobId: string;
  /** Cancel: honoured between steps only (a running destructive step is never cut off halfway). */
  signal?: AbortSignal;
}

/** Executes an approved request (the execution job's body). Never throws after the claim. */
export async function executeApproved(
  deps: OperationDeps,
  approvalId: string,
  options: ExecuteOptions,
): Promise<ExecutionOutcome> {
  const { jobId } = options;
  const log = deps.logger.child({ approvalId, jobId });
  const record = await deps.approvals.get(approvalId);
  if (!record) throw new XenopsError("invalid_argument", `approval ${approvalId} does not exist`);
  const cluster = clusterConfig(deps, record.plan.cluster);
  const card = new ExecutionCardWriter(deps, record);
  // Let this process's "approved" card update land before the execution card replaces it.
  await deps.approvals.settled();

  let steps: OperationStep[];
  try {
    steps = parseSteps(record);
  } catch (err) {
    const claim = await deps.approvals.claimExecution(approvalId, jobId);
    if (claim === "already_claimed") return duplicate();
    const outcome: ExecutionOutcome = {
      status: "refused",
      summary: "The approved plan cannot be read",
      reason: errorMessage(err),
      replan: false,
    };
    await recordOutcome(deps, record, jobId, outcome);
    await card.finish(outcome);
    return outcome;
  }

  // Redis without AOF would forget the journal on a restart: a risky action is refused, loudly.
  const volatile = await deps.approvals.durabilityRefusal();
  if (volatile) {
    const claim = await deps.approvals.claimExecution(approvalId, jobId);
    if (claim === "already_claimed") return duplicate();
    const outcome: ExecutionOutcome = {
      status: "refused",
      summary: "Redis does not keep the execution journal durably: nothing ran",
      reason: volatile,
      replan: false,
    };
    log.error({ reason: volatile }, "execution refused: Redis persistence");
    await recordOutcome(deps, record, jobId, outcome);
    await card.finish(outcome);
    return outcome;
  }

  const keys = operationLockKeys(record, cluster, steps);
  const lock = await deps.locks.acquire(keys, {
    owner: `exec-${jobId}`.replaceAll("|", "-"),
    ttlMs: deps.settings.lockTtlMs,
    // Whether this worker is alive is the lease's business: a pause past the lock TTL is not a loss
    // unless another action took the keys meanwhile.
    retakeExpired: true,
  });
  if (!lock) {
    const holders = (await deps.locks.holders(keys)).filter((h) => h !== null);
    const claim = await deps.approvals.claimExecution(approvalId, jobId);
    if (claim === "already_claimed") return duplicate();
    const outcome: ExecutionOutcome = {
      status: "refused",
      summary: "Another action is in progress on the same guest, disk or node",
      reason: `busy: ${holders.map((h) => `${h.key} (${h.owner})`).join(", ") || "a lock"}; nothing ran. Request it again once that action is done.`,
      replan: false,
    };
    log.warn({ busy: holders.map((h) => h.key) }, "execution refused: locks busy");
    await recordOutcome(deps, record, jobId, outcome);
    await card.finish(outcome);
    return outcome;
  }
  let lease: ExecutionLease | undefined;
  try {
    // Unique per run: a claim sent again (no replica confirmed it) is recognised as this run's own, and a
    // second delivery of the same job is not.
    const owner = `exec-${jobId}#${randomBytes(6).toString("hex")}`;
    const claim = await deps.approvals.claimExecution(approvalId, jobId, {
      owner,
      ttlMs: deps.settings.leaseTtlMs,
    });
    if (claim === "already_claimed") return duplicate();
    // The claim granted the lease with fencing token 1; every journal write, the outcome and the card's
    // "running" updates carry it from here on (deps.approvals.fenced), and each step checks it first.
    lease = new ExecutionLease(
      deps.approvals,
      { approvalId, owner, token: 1 },
      { ttlMs: deps.settings.leaseTtlMs, logger: log },
    ).start();
    const fencedDeps: OperationDeps = { ...deps, approvals: deps.approvals.fenced(lease.grant) };
    const held = lease;
    const fencing = {
      async assertHeld() {
        await lock.assertHeld();
        await held.assertHeld();
      },
    };
    return await new Execution(
      fencedDeps,
      record,
      cluster,
      steps,
      fencing,
      new ExecutionCardWriter(fencedDeps, record),
      jobId,
      options.signal,
    ).run();
  } finally {
    lease?.stop();
    await lock.release().catch((err: unknown) => log.warn({ err }, "lock release failed"));
  }

  function duplicate(): ExecutionOutcome {
    log.warn("execution already claimed by another job: not acting");
    return {
      status: "refused",
      summary: "Already executed (or being executed) by another job",
      reason: "this approval's execution was claimed before; nothing ran twice",
      replan: false,
    };
  }
}

class Execution {
  private readonly started = Date.now();
  private readonly exitCodes: (number | null)[];
  private readonly durations: number[];
  private secrets: ReadonlyMap<string, string> = new Map();
  /** What a probe right before the fence step saw of its target (fence verification needs it). */
  private beforeFence: BeforeFence = { aliveBefore: null, historyBefore: Number.POSITIVE_INFINITY };
  /** The off-proofs the fresh plan was made with (a create relies on them). */
  private offProofs: Readonly<Record<string, OffProof | null>> = {};
  /** The action's own read-back, verification and failure handling (src/operations/registry.ts). */
  private readonly hooks: ActionHooks | null;
  /** A step the action calls its point of no return has started: cancel no longer aborts. */
  private pastNoReturn = false;
  /** Cancel was asked for past the point of no return (the outcome says so). */
  private cancelIgnored = false;
  /** The guest whose migrate step ran and read back: its unit's tail runs even after a cancel. */
  private movedGuest: string | null = null;

  constructor(
    private readonly deps: OperationDeps,
    private readonly record: ApprovalRecord,
    private readonly cluster: ClusterConfig,
    private readonly steps: OperationStep[],
    /** The locks and the execution's lease: assertHeld checks both (fencing tokens, in Redis). */
    private readonly lock: Pick<Lock, "assertHeld">,
    private readonly card: ExecutionCardWriter,
    private readonly jobId: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.exitCodes = steps.map(() => null);
    this.durations = steps.map(() => 0);
    this.hooks = actionHooks(record.plan.action);
  }

  private ctx(): ActionContext {
    return {
      deps: this.deps,
      cluster: this.cluster,
      record: this.record,
      steps: this.steps,
      guard: () => this.lock.assertHeld(),
      phase: (text) => this.card.phase(text),
      recovered: false,
    };
  }

  private get log() {
    return this.deps.logger.child({ approvalId: this.record.id, jobId: this.jobId });
  }

  private async end(result: ExecutionOutcome): Promise<ExecutionOutcome> {
    const outcome: ExecutionOutcome =
      this.cancelIgnored && "details" in result
        ? {
            ...result,
            details: [
              ...result.details,
              "cancel was asked for past the point of no return: it finished and verified",
            ],
          }
        : result;
    await this.hooks
      ?.onEnd?.(this.ctx(), outcome)
      .catch((err: unknown) => this.log.warn({ err }, "action end hook failed"));
    const settled = await recordOutcome(this.deps, this.record, this.jobId, outcome, {
      exitCodes: this.exitCodes,
      stepDurationsMs: this.durations,
      durationMs: Date.now() - this.started,
    });
    if (settled === "lost" || settled === "finished") {
      // Taken over while this worker was stalled: the outcome and the card belong to the new holder.
      const details = "details" in outcome ? outcome.details : [outcome.reason];
      await this.card.lateNote(
        `The worker that started this execution came back after another worker had taken it over; it ran nothing more. What it found: ${outcome.summary}${details.length ? ` (${details.join("; ")})` : ""}`,
      );
      this.log.warn(
        { status: outcome.status, summary: outcome.summary },
        "execution taken over: reported as a note",
      );
      return outcome;
    }
    await this.card.finish(outcome);
    this.log.info({ status: outcome.status, summary: outcome.summary }, "execution finished");
    return outcome;
  }

  async run(): Promise<ExecutionOutcome> {
    const { plan } = this.record;
    await this.card.phase("Re-reading the cluster to compare it with the state that was approved…");
    const request = requestOfPlan(plan);
    if (!request)
      return this.end({
        status: "refused",
        summary: "The approved plan names no operation xenops can run",
        reason: `action ${plan.action}`,
        replan: false,
      });
    let fresh: Awaited<ReturnType<typeof planOperation>>;
    try {
      fresh = await planOperation(this.deps, request);
    } catch (err) {
      return this.end({
        status: "refused",
        summary: "Could not re-read the cluster",
        reason: `${errorMessage(err)}; nothing ran`,
        replan: false,
      });
    }
    // The off-proofs the plan relied on are part of the state it was approved on.
    this.offProofs = fresh.facts?.offProofs ?? {};
    const now = planStateHash(fresh.state, focusOfPlan(plan), this.offProofs);
    const sameSteps =
      fresh.ok &&
      fresh.plan.steps.length === plan.steps.length &&
      fresh.plan.steps.every(
        (s, i) =>
          s.node === plan.steps[i]?.node && JSON.stringify(s.argv) === JSON.stringify(plan.steps[i]?.argv),
      );
    if (now !== plan.stateHash || (fresh.ok && !sameSteps))
      return this.stateChanged(
        now !== plan.stateHash
          ? `the relevant state changed (hash ${plan.stateHash.slice(0, 12)} when approved, ${now.slice(0, 12)} now)`
          : "planned again now, the commands would differ",
        fresh.ok ? fresh.plan.stateSummary : null,
      );
    if (!fresh.ok) {
      const failed = fresh.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
      return this.end({
        status: "refused",
        summary: "A preflight check fails now",
        reason: `${failed.join("; ")}; nothing ran`,
        replan: false,
      });
    }
    if (this.steps.some((s) => s.kind === "fence")) {
      try {
        this.secrets = await resolveFenceSecrets(
          this.deps.mutationsFor(this.cluster.name).fence,
          this.cluster.name,
          this.deps.secretEnv,
        );
      } catch (err) {
        return this.end({
          status: "refused",
          summary: "The fence secrets cannot be resolved",
          reason: `${errorMessage(err)}; nothing ran`,
          replan: false,
        });
      }
    }

    this.card.view.phase = null;
    if (this.hooks?.onStart) await this.hooks.onStart(this.ctx());
    for (let i = 0; i < this.steps.length; i++) {
      const step = this.steps[i] as OperationStep;
      // Once a guest has moved, its unit's tail (demote the source, dual-primary off) is past the point
      // of no return: stopping before it would leave the resource Primary on both nodes.
      const movedTail =
        !this.hooks &&
        step.guest !== undefined &&
        step.guest === this.movedGuest &&
        (step.kind === "drbd-secondary" || step.kind === "drbd-disallow-two-primaries");
      if (this.signal?.aborted && !this.pastNoReturn && !movedTail) {
        // A later unit is not started: the note "it finished" would not be true of the execution.
        this.cancelIgnored = false;
        return this.failed(i, new XenopsError("exec_aborted", "cancelled before this step"), false);
      }
      if (this.signal?.aborted && !this.cancelIgnored) {
        this.cancelIgnored = true;
        this.log.info({ step: i }, "cancel past the point of no return: finishing");
      }
      try {
        await this.lock.assertHeld();
      } catch (err) {
        return this.failed(i, err, false);
      }
      if (this.hooks?.beforeStep)
        try {
          await this.hooks.beforeStep(this.ctx(), i, step);
        } catch (err) {
          return this.failed(i, err, false);
        }
      // The plan was checked before the first guest moved; a later guest's unit starts minutes after
      // that: read its location and disks again first (a disconnected copy may be stale).
      if (!this.hooks && i > 0 && step.kind !== "fence" && step.from && step.to && step.guest) {
        const prev = this.steps[i - 1];
        if (prev?.guest !== step.guest) {
          const problems = unitStartProblems(
            await probe(this.deps, this.cluster, [step.from, step.to]),
            step as OperationStep & { guest: string; from: string; to: string },
            this.cluster.guests.find((g) => g.name === step.guest)?.drbd ?? [],
          );
          if (problems.length > 0)
            return this.failed(
              i,
              new XenopsError(
                "state_changed",
                `${step.guest}'s unit was not started, the state changed since approval: ${problems.join("; ")}`,
              ),
              false,
            );
        }
      }
      if (this.hooks?.pointOfNoReturn?.(step)) this.pastNoReturn = true;
      if (step.kind === "fence" && step.fenceTarget) {
        // Fence verification needs evidence that did not hold before: look at the target right now.
        const seen = await probe(this.deps, this.cluster, [step.fenceTarget, step.node]);
        // Its boot id too: a reset node that is back before the HA view noticed shows by a new one.
        const bootId = nodeState(seen, step.fenceTarget)?.reachable
          ? await readBootId(this.deps, this.cluster, step.fenceTarget)
          : null;
        this.beforeFence = beforeFence(seen, step.fenceTarget, step.node, bootId);
        // Kept before the fence runs: crash recovery verifies with the same evidence.
        await this.deps.offProofs
          ?.noteBeforeFence(this.record.id, this.beforeFence)
          .catch((err: unknown) => this.log.warn({ err }, "could not keep the pre-fence observation"));
      }
      try {
        // With the lease's token: a stale worker learns here, atomically, that it must not run the step.
        await this.deps.approvals.stepStarted(this.record.id, i);
      } catch (err) {
        return this.failed(i, err, false);
      }
      // Not awaited: nothing slow between the token check above and the command (updates stay in order).
      void this.card.step(i, "running");
      const t0 = Date.now();
      const ticker = setInterval(() => {
        void this.card.step(i, "running", `${Math.round((Date.now() - t0) / 1000)} s`);
      }, this.deps.settings.progressIntervalMs);
      ticker.unref();
      try {
        const res = await this.runStep(step);
        this.exitCodes[i] = res.exitCode;
        this.durations[i] = res.durationMs;
      } catch (err) {
        this.durations[i] = Date.now() - t0;
        this.exitCodes[i] =
          err instanceof Error && "exitCode" in err && typeof err.exitCode === "number" ? err.exitCode : null;
        clearInterval(ticker);
        await this.deps.approvals
          .stepFailed(this.record.id, i, {
            code: errorCode(err),
            message: redactValues(errorMessage(err), this.secrets).slice(0, 500),
          })
          .catch(() => {});
        await this.card.step(
          i,
          "failed",
          errorCode(err) === "ssh_timeout" ? "timed out" : `exit ${this.exitCodes[i] ?? "?"}`,
        );
        return this.failed(i, err, true);
      } finally {
        clearInterval(ticker);
      }
      try {
        await this.deps.approvals.stepDone(this.record.id, i, {
          exitCode: this.exitCodes[i],
          durationMs: this.durations[i],
        });
      } catch (err) {
        // Taken over, or the journal is gone, while the step ran: stop, look, report.
        return this.failed(i, err, true);
      }
      await this.card.step(i, "done", `${Math.max(1, Math.round(this.durations[i]! / 1000))} s`);

      const readBack = await this.readBack(i, step);
      if (readBack) return readBack;
      if (step.kind === "migrate") this.movedGuest = step.guest ?? null;
    }
    return this.verifyEnd();
  }

  private async runStep(step: OperationStep) {
    const runner = this.deps.runnerFor(this.cluster.name, step.node);
    let stdin: string | undefined;
    let okExitCodes: readonly number[] | undefined;
    if (step.kind === "fence") {
      const fence = this.deps.mutationsFor(this.cluster.name).fence;
      if (!fence || !step.fenceTarget)
        throw new XenopsError("config_invalid", "the cluster has no fence method any more");
      const inv = fence.fence(step.fenceTarget, step.fenceAction ?? "reboot", step.paramOrder);
      if (
        JSON.stringify(inv.argv) !== JSON.stringify(step.argv) ||
        (inv.stdinShown ?? null) !== (step.stdinShown ?? null)
      )
        throw new XenopsError("state_changed", "the fence configuration changed since the plan was approved");
      stdin = inv.stdin ? inv.stdin(this.secrets) : undefined;
      okExitCodes = fence.exitCodes.fence;
    }
    // The job's cancel signal is not passed on: cutting the SSH channel would not stop a migration or
    // a fence, it would only stop us from learning how it ended.
    return runner.run(step.argv, {
      timeoutMs: step.timeoutMs ?? this.cluster.commandTimeoutMs,
      ...(stdin !== undefined ? { stdin } : {}),
      ...(okExitCodes ? { okExitCodes } : {}),
    });
  }

  /** After a step that moves or starts a guest, or fences a node: read the result back. */
  private async readBack(i: number, step: OperationStep): Promise<ExecutionOutcome | null> {
    if (this.hooks) {
      try {
        await this.hooks.readBack?.(this.ctx(), i, step);
      } catch (err) {
        return this.failed(i, err, true);
      }
      return null;
    }
    const s = this.deps.settings;
    // After a migrate or a create the guest must run on its destination only.
    const placedOn = step.kind === "migrate" ? step.to : step.kind === "create" ? step.node : undefined;
    if (step.guest && placedOn) {
      await this.card.phase(`Checking that ${step.guest} runs on ${placedOn} only…`);
      const seen = await waitForPlacement(
        this.deps,
        this.cluster,
        step.guest,
        placedOn,
        s.migrateVerifyTimeoutMs,
      );
      await this.card.phase(null);
      if (!seen.ok)
        return this.failed(
          i,
          new XenopsError(
            "state_unknown",
            `after the ${step.kind === "migrate" ? "migration" : "create"}, ${describeLocation(seen.loc)}`,
          ),
          true,
        );
    }
    if (step.kind === "fence" && step.fenceTarget) {
      await this.card.phase(`Waiting until ${step.fenceTarget} is seen off (SSH, HA view, fence device)…`);
      const evidence = await verifyFenced(this.deps, this.cluster, {
        target: step.fenceTarget,
        fencer: step.node,
        before: this.beforeFence,
        secrets: this.secrets,
        timeoutMs: s.fenceVerifyTimeoutMs,
        action: step.fenceAction ?? "reboot",
      });
      return this.end(await fenceOutcome(this.deps, this.cluster, this.record, step, evidence));
    }
    return null;
  }

  private async verifyEnd(): Promise<ExecutionOutcome> {
    const { plan } = this.record;
    if (this.hooks) return this.end(await this.hooks.verify(this.ctx()));
    await this.card.phase("Verifying the result on every node…");
    const state = await probe(this.deps, this.cluster);
    if (plan.action === "attest_off") return this.end(await recordAttestation(this.deps, this.record, state));
    if (plan.action === "create") {
      const step = this.steps.find((s) => s.kind === "create") as OperationStep;
      const resources = this.cluster.guests.find((g) => g.name === step.guest)?.drbd ?? [];
      const c = checkCreated(state, step.guest ?? "", step.node, resources, this.cluster, this.offProofs);
      return this.end(
        c.ok
          ? {
              status: "succeeded",
              summary: `${step.guest} runs on ${step.node} (verified)`,
              details: c.details,
            }
          : {
              status: "failed",
              summary: `${step.guest} was started but the result does not check out`,
              details: c.details,
              page: !c.placed,
            },
      );
    }
    // migrate / evacuate: every guest moved.
    const migrations = this.steps.filter((s) => s.kind === "migrate");
    const details: string[] = [];
    let ok = true;
    let page = false;
    for (const m of migrations) {
      const resources = this.cluster.guests.find((g) => g.name === m.guest)?.drbd ?? [];
      const c = checkMigrated(state, m, resources);
      details.push(...c.details);
      ok &&= c.ok;
      page ||= !c.placed;
    }
    const names = migrations.map((m) => m.guest).join(", ");
    const to = [...new Set(migrations.map((m) => m.to))].join(", ");
    return this.end(
      ok
        ? {
            status: "succeeded",
            summary: `${names} ${migrations.length === 1 ? "runs" : "run"} on ${to} (verified)`,
            details,
          }
        : { status: "failed", summary: `The migration ran but the result does not check out`, details, page },
    );
  }

  private async stateChanged(why: string, nowSummary: string | null): Promise<ExecutionOutcome> {
    const { record } = this;
    const request = requestOfPlan(record.plan);
    let replanned = false;
    if (request) {
      try {
        await this.deps.jobs.enqueue(
          record.plan.cluster,
          "operation-plan",
          {
            cluster: record.plan.cluster,
            channel: record.channel,
            requestedBy: record.requestedBy,
            deliveryId: `replan-${record.id}`,
            requestText: `(plan again after a state change; request ${record.id})`,
            operation: operationSpecOf(request),
            dryRun: false,
          },
          { deliveryId: `replan-${record.id}` },
        );
        replanned = true;
      } catch (err) {
        this.log.warn({ err }, "could not queue the new plan");
      }
    }
    return this.end({
      status: "refused",
      summary: "The cluster changed since this was approved: nothing ran",
      reason: `${why}.${nowSummary ? ` Now:\n${nowSummary}` : ""}${replanned ? "" : " Request it again."}`,
      replan: replanned,
    });
  }

  /**
   * Step `i` failed (or its read-back did). Locate the guest on every node, undo the preparation where
   * that is safe, page when the guest is on two nodes, none, or unknown, and report.
   */
  private async failed(i: number, err: unknown, ran: boolean): Promise<ExecutionOutcome> {
    const step = this.steps[i] as OperationStep;
    const why = redactValues(errorMessage(err), this.secrets);
    const code = errorCode(err);
    const stepText = `step ${i + 1} (${step.description} on ${step.node}) ${ran ? (code === "ssh_timeout" ? "timed out" : "failed") : "was not run"}: ${why}`;
    this.log.warn({ step: i, code, ran }, "execution step failed");
    await this.card.phase(`Step ${i + 1} failed; locating everything it touched…`);
    if (code === "lock_lost") {
      // Someone else may be acting on the same guest, disk or node now: run nothing, not even an undo.
      const guest = step.guest;
      const where = guest ? describeLocation(locateGuest(await probe(this.deps, this.cluster), guest)) : null;
      return this.end({
        status: "uncertain",
        summary: `Stopped before step ${i + 1}: the lock was lost`,
        details: [
          stepText,
          ...(where ? [where] : []),
          "nothing more was run, not even an undo of the steps before",
        ],
        page: true,
      });
    }
    if (this.hooks) return this.end(await this.hooks.onFailure(this.ctx(), i, err, ran, stepText));
    const guard = () => this.lock.assertHeld();

    if (step.kind === "fence") {
      const target = step.fenceTarget ?? "";
      const state = await probe(this.deps, this.cluster, [target]);
      const up = state.nodes[0]?.reachable;
      return this.end({
        status: "failed",
        summary: `Fencing ${target} failed; it is not known to be off`,
        details: [
          stepText,
          up
            ? `${target} still answers over SSH`
            : `${target} does not answer over SSH (that alone does not prove it is off)`,
          "the fence is not retried; fix the device or fence by hand",
        ],
        page: true,
      });
    }

    const guest = step.guest ?? "";
    const unitSteps = this.steps.map((s, k) => ({ s, k })).filter((x) => x.s.guest === guest);
    const ranSteps = unitSteps.filter((x) => x.k < i || (x.k === i && ran)).map((x) => x.s);
    const earlier = [
      ...new Set(
        this.steps
          .slice(0, i)
          .filter((s) => s.kind === "migrate" && s.guest !== guest)
          .map((s) => s.guest),
      ),
    ];
    const later = [
      ...new Set(
        this.steps
          .slice(i + 1)
          .filter((s) => s.kind === "migrate" && s.guest !== guest)
          .map((s) => s.guest),
      ),
    ];
    const context = [
      ...(earlier.length ? [`moved before the failure: ${earlier.join(", ")}`] : []),
      ...(later.length ? [`not attempted: ${later.join(", ")}`] : []),
    ];

    if (step.kind === "create" || this.record.plan.action === "create") {
      const node = step.node;
      const seen = await waitForPlacement(
        this.deps,
        this.cluster,
        guest,
        null,
        this.deps.settings.migrateVerifyTimeoutMs,
      );
      const loc = seen.loc;
      if (loc.on.length === 0 && loc.unknown.length === 0) {
        const undo = await undoPreparation(this.deps, this.cluster, seen.state, guest, ranSteps, guard);
        return this.end({
          status: "failed",
          summary: `${guest} did not start; it runs nowhere`,
          details: [stepText, ...undo.lines],
          page: false,
        });
      }
      if (runsOnlyOn(loc, node))
        return this.end({
          status: "failed",
          summary: `${guest} runs on ${node}, but a step failed`,
          details: [stepText, describeLocation(loc)],
          page: false,
        });
      return this.end({
        status: "uncertain",
        summary: `${describeLocation(loc)}: look now`,
        details: [stepText, "nothing more was run"],
        page: true,
      });
    }

    // migrate / evacuate
    const from = step.from ?? "";
    const to = step.to ?? "";
    const seen = await waitForPlacement(
      this.deps,
      this.cluster,
      guest,
      null,
      this.deps.settings.migrateVerifyTimeoutMs,
    );
    const loc = seen.loc;
    if (runsOnlyOn(loc, from)) {
      const undo = await undoPreparation(this.deps, this.cluster, seen.state, guest, ranSteps, guard);
      return this.end({
        status: "failed",
        summary: `${guest} was not moved: it still runs on ${from} only`,
        details: [stepText, ...errorOutput(err, this.secrets), ...undo.lines, ...context],
        page: false,
      });
    }
    if (runsOnlyOn(loc, to)) return this.arrived(i, err, ran, stepText, seen.state, context, later);
    const located = locateGuest(seen.state, guest);
    return this.end({
      status: located.unknown.length > 0 ? "uncertain" : "failed",
      summary: `${describeLocation(located)}: look now`,
      details: [
        stepText,
        ...errorOutput(err, this.secrets),
        "nothing more was run (one writer per disk: xenops will not guess)",
        ...context,
      ],
      page: true,
    } as ExecutionOutcome);
  }

  /**
   * Step `i` of a migration unit failed, yet the guest runs on its target only. When the migrate step
   * itself failed (or its read-back), the guest moved despite the error: finish the unit's
   * non-destructive tail (demote the source, allow-two-primaries off) and require one Primary per
   * resource. When another step failed (the demotion), or the migrate step never ran, nothing is run or
   * retried; the Primaries are only read.
   * Two Primaries left, or a node that cannot be read, page: with allow-two-primaries on, DRBD no
   * longer stops a second start of the guest.
   */
  private async arrived(
    i: number,
    err: unknown,
    ran: boolean,
    stepText: string,
    state: Awaited<ReturnType<typeof probe>>,
    context: string[],
    later: readonly (string | undefined)[],
  ): Promise<ExecutionOutcome> {
    const step = this.steps[i] as OperationStep;
    const guest = step.guest ?? "";
    const from = step.from ?? "";
    const to = step.to ?? "";
    const resources = this.cluster.guests.find((g) => g.name === guest)?.drbd ?? [];
    const output = errorOutput(err, this.secrets);
    // Only a migrate command that ran can have moved it; otherwise something else did: only read.
    if (step.kind !== "migrate" || !ran) {
      const lines: string[] = [];
      let page = false;
      for (const r of resources) {
        const { primary, unknown } = primariesOf(state, r);
        const single = unknown.length === 0 && primary.length === 1 && primary[0] === to;
        page ||= !single;
        lines.push(
          single
            ? `${r}: Primary on ${to} only`
            : `${r}: Primary on ${primary.join(" and ") || "no node"}${unknown.length ? `; unknown on ${unknown.join(", ")}` : ""}`,
        );
      }
      return this.end({
        status: "failed",
        summary: `${guest} runs on ${to} only, but step ${i + 1} failed`,
        details: [
          stepText,
          ...output,
          ...lines,
          "the remaining steps were not run",
          ...(page
            ? ["two Primaries (or an unreadable node): nothing may start the guest anywhere else"]
            : []),
          ...context,
        ],
        page,
      });
    }
    await this.card.phase(`${guest} arrived on ${to} despite the error; demoting ${from}…`);
    const tail = this.steps
      .map((s, k) => ({ index: k, step: s }))
      .filter(
        (x) =>
          x.index > i &&
          x.step.guest === guest &&
          (x.step.kind === "drbd-secondary" || x.step.kind === "drbd-disallow-two-primaries"),
      );
    const settled = await settleArrival(
      this.deps,
      this.cluster,
      state,
      { guest, from, to, resources },
      tail,
      {
        guard: () => this.lock.assertHeld(),
        onRun: async (k, res) => {
          this.exitCodes[k] = res.exitCode;
          this.durations[k] = res.durationMs;
          await this.deps.approvals.stepStarted(this.record.id, k).catch(() => {});
          if (res.ok)
            await this.deps.approvals
              .stepDone(this.record.id, k, { exitCode: res.exitCode, durationMs: res.durationMs })
              .catch(() => {});
          else
            await this.deps.approvals
              .stepFailed(this.record.id, k, {
                code: errorCode(res.error),
                message: redactValues(errorMessage(res.error), this.secrets).slice(0, 500),
              })
              .catch(() => {});
          await this.card.step(k, res.ok ? "done" : "failed", res.ok ? "after the error" : "failed");
        },
      },
    );
    await this.card.phase(null);
    const details = [stepText, ...output, ...settled.lines, ...context];
    if (settled.page)
      return this.end({
        status: "failed",
        summary: `${guest} moved to ${to} despite an error, but the DRBD roles are not safe: look now`,
        details: [...details, "nothing more was run"],
        page: true,
      });
    if (!settled.ok)
      return this.end({
        status: "failed",
        summary: `${guest} moved to ${to} despite an error, but the result does not check out`,
        details,
        page: false,
      });
    if (later.length > 0)
      return this.end({
        status: "failed",
        summary: `${guest} moved to ${to} despite an error; stopped before the other guests`,
        details,
        page: false,
      });
    return this.end({
      status: "succeeded",
      summary: `${guest} moved despite an error: it runs on ${to} only (verified)`,
      warning: `${migrateErrorText(err, this.exitCodes[i] ?? null, from)}, but ${guest} arrived on ${to}; ${from} was demoted and one Primary per resource verified`,
      details,
    });
  }
}

/** How a fence ended, from its evidence; a verified fence records its off-proof. */
export async function fenceOutcome(
  deps: OperationDeps,
  cluster: ClusterConfig,
  record: ApprovalRecord,
  step: OperationStep,
  evidence: FenceEvidence,
  recovered = false,
): Promise<ExecutionOutcome> {
  const target = step.fenceTarget ?? "";
  const label = deps.mutationsFor(cluster.name).fence?.label ?? "the fence device";
  const notAgain = recovered
    ? "the fence was not run again"
    : "the fence is not run again for this approval; check the device and the node by hand";
  if (evidence.verified && evidence.reset)
    // It rebooted and runs again: verified, but not off. No off-proof, so nothing counts it as off.
    return {
      status: "succeeded",
      summary: recovered
        ? `${target} was reset and runs again (verified by its new boot id; the fence had been sent when the worker stopped)`
        : `${target} was reset and runs again (verified by its new boot id)`,
      details: [
        `fenced (power-cycled) from ${step.node} with ${label}`,
        ...evidence.details,
        ...(recovered ? [notAgain] : []),
      ],
      fenceReset: true,
    };
  if (evidence.verified) {
    const proof: OffProof = {
      kind: "fenced",
      at: new Date().toISOString(),
      by: record.approvedBy.length > 0 ? [...record.approvedBy] : [record.requestedBy],
      evidence: evidence.evidence,
      approvalId: record.id,
    };
    let stored = "";
    if (deps.offProofs)
      try {
        await deps.offProofs.record(cluster.name, target, proof);
      } catch (err) {
        deps.logger.error({ err }, "could not record the off-proof of a verified fence");
        stored = `; could not record the off-proof (${errorMessage(err)}): nothing will count it as off`;
      }
    return {
      status: "succeeded",
      summary: recovered
        ? `${target} is verified off (the fence had been sent when the worker stopped)`
        : `${target} was fenced and is verified off`,
      details: [
        `fenced (${step.fenceAction === "off" ? "powered off" : "power-cycled"}) from ${step.node} with ${label}`,
        ...evidence.details.map((d, i) => (i === evidence.details.length - 1 ? `${d}${stored}` : d)),
        ...(recovered ? [notAgain] : []),
      ],
    };
  }
  if (evidence.unverifiable)
    return {
      status: "uncertain",
      summary: `${target}: fence reported success; power-off not verified`,
      details: [
        ...evidence.details,
        `${target} does not count as off: once someone has checked it is powered off, attest it with \`/xen attest-off ${target}\``,
        notAgain,
      ],
      page: true,
    };
  if (evidence.poweredOn)
    return {
      status: "failed",
      summary: `${target}: the fence did not take effect; the device reports it powered on`,
      details: [
        ...evidence.details,
        `${target} does not count as off: check the device's outlet map; once someone has checked it is powered off, \`/xen attest-off ${target}\``,
        notAgain,
      ],
      page: true,
    };
  return {
    status: evidence.sshDown ? "uncertain" : "failed",
    summary: evidence.sshDown
      ? `${target} stopped answering, but nothing confirmed it is off`
      : `${target} did not go down: the fence command succeeded but the node still answers`,
    details: [...evidence.details, notAgain],
    page: true,
  } as ExecutionOutcome;
}

/**
 * The execution of an approved attestation: no command runs. The node is read once more and must
 * still not be seen alive; then the `attested-off` proof is recorded, naming the requester and the
 * approvers.
 */
export async function recordAttestation(
  deps: OperationDeps,
  record: ApprovalRecord,
  state: ClusterState,
): Promise<ExecutionOutcome> {
  const node = String(record.plan.params.node ?? record.plan.target.node ?? "");
  const alive = seenAlive(state, node);
  if (alive.alive)
    return {
      status: "refused",
      summary: `${node} is not attested off: it was seen alive`,
      reason: `${alive.detail}; a node that answers is not off. Nothing was recorded.`,
      replan: false,
    };
  if (!deps.offProofs)
    return {
      status: "refused",
      summary: `${node} is not attested off: this deployment has no off-proof store`,
      reason: "nothing was recorded",
      replan: false,
    };
  const by = [record.requestedBy, ...record.approvedBy.filter((u) => u !== record.requestedBy)];
  const proof: OffProof = {
    kind: "attested-off",
    at: new Date().toISOString(),
    by,
    evidence: [
      `checked powered off by hand; requested by ${userMention(record.requestedBy)}, confirmed by ${record.approvedBy.map(userMention).join(", ")} (typed ${node})`,
      `${alive.detail} when recorded`,
    ],
    approvalId: record.id,
  };
  await deps.offProofs.record(record.plan.cluster, node, proof);
  return {
    status: "succeeded",
    summary: `${node} is attested off by ${by.map(userMention).join(" and ")}`,
    details: [
      `${alive.detail}; recorded at ${proof.at}`,
      `${node} now counts as running nothing until it is seen alive again; its guests may be started elsewhere`,
    ],
  };
}
