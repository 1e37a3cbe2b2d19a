/**
 * Split-brain recovery, the execution side: what the executor (and crash recovery) do for it beyond
 * running the planned commands (./split-brain-plan.ts).
 *
 * - Before the discard: the victim is read again and must be Secondary and StandAlone with none of the
 *   resource's guests running there; otherwise the discard is not run.
 * - After a guest's shutdown: read back until it runs on the victim no more.
 * - The discard is the point of no return: a cancel after it no longer aborts; the survivor is
 *   reconnected and the resync followed to UpToDate/UpToDate, then the incident is resolved.
 * - Crash recovery never runs the discard again: started and taken effect (the victim is connecting
 *   or syncing), the survivor is reconnected if needed and the resync followed; not taken effect, or
 *   unreadable, it reports the state and pages.
 */
import { pickRelevantState, summarizeRelevantState } from "../approval/state-hash";
import type { ExecutionJournal } from "../approval/types";
import { errorCode, errorMessage, XenopsError } from "../errors";
import type { ClusterState, DrbdResourceState } from "../model";
import type { ActionContext, ActionHooks } from "./registry";
import { connectionOf, guestsOf, recoveryFocus, resourceOn } from "./split-brain-plan";
import type { ExecutionOutcome, OperationStep } from "./types";
import { probe, sleep } from "./verify";

const SYNCING =
  /^(SyncSource|SyncTarget|PausedSyncS|PausedSyncT|StartingSyncS|StartingSyncT|WFBitMapS|WFBitMapT|WFSyncUUID)$/;

const DISCARD = "drbd-discard-my-data";

function params(ctx: ActionContext) {
  const p = ctx.record.plan.params;
  return {
    resource: String(p.resource ?? ""),
    survivor: String(p.survivor ?? ""),
    victim: String(p.victim ?? ""),
  };
}

/** "ics1: Secondary/Primary UpToDate/UpToDate Connected" for the report. */
function sideLine(node: string, r: DrbdResourceState | null): string {
  if (!r) return `${node}: unknown`;
  const peer = r.peers[0];
  return `${node}: ${r.role}/${peer?.role ?? "Unknown"} ${r.diskState}/${peer?.diskState ?? "DUnknown"} ${connectionOf(r)}${typeof peer?.sync?.percent === "number" ? ` ${peer.sync.percent.toFixed(1)}%` : ""}`;
}

function nowSummary(ctx: ActionContext, state: ClusterState | null): string {
  if (!state) return "state unknown (the nodes could not be read)";
  return summarizeRelevantState(pickRelevantState(state, recoveryFocus(ctx.cluster, params(ctx).resource)));
}

const synced = (r: DrbdResourceState | null) =>
  !!r &&
  r.diskState === "UpToDate" &&
  r.peers[0]?.connectionState === "Connected" &&
  r.peers[0]?.diskState === "UpToDate" &&
  !SYNCING.test(r.peers[0]?.replicationState ?? "");

/** Follows the resync after the discard until both sides are UpToDate/UpToDate, or the timeout. */
async function followResync(ctx: ActionContext): Promise<ExecutionOutcome> {
  const { resource, survivor, victim } = params(ctx);
  const { deps, cluster } = ctx;
  const timeoutMs = deps.settings.resyncTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const again = ctx.recovered ? " (verified after a worker restart)" : "";
  let lastPct: number | null = null;
  await ctx.phase(`Following the resync of ${resource} from ${survivor} to ${victim}…`);
  for (;;) {
    const state = await probe(deps, cluster, [survivor, victim]).catch(() => null);
    const s = state ? resourceOn(state, survivor, resource) : null;
    const v = state ? resourceOn(state, victim, resource) : null;
    if (synced(s) && synced(v)) {
      const evidence = [sideLine(survivor, s), sideLine(victim, v)];
      await deps.splitBrainEvents
        ?.resolved(
          cluster.name,
          resource,
          `Recovered by xenops: kept ${survivor}'s data; ${resource} is UpToDate/UpToDate`,
          evidence,
        )
        .catch((err: unknown) => deps.logger.warn({ err }, "could not resolve the split-brain incident"));
      return {
        status: "succeeded",
        summary: `Split brain of ${resource} recovered: ${survivor}'s data kept, ${victim}'s changes discarded and resynced${again}`,
        details: [`${resource} is UpToDate/UpToDate on ${survivor} and ${victim}`, ...evidence],
      };
    }
    const pct = [s, v].map((r) => r?.peers[0]?.sync?.percent).find((p) => typeof p === "number") ?? null;
    if (pct !== null && pct !== lastPct) {
      lastPct = pct;
      await ctx.phase(`Resync of ${resource} from ${survivor} to ${victim}: ${pct.toFixed(1)}%`);
    }
    if (Date.now() > deadline)
      return {
        status: "failed",
        summary: `The steps ran, but ${resource} did not reach UpToDate/UpToDate within ${Math.round(timeoutMs / 60_000)} min`,
        details: [
          sideLine(survivor, s),
          sideLine(victim, v),
          `check it (\`/xen drbd watch ${resource}\`); the split brain's incident stays open`,
        ],
        page: false,
      };
    await sleep(deps.settings.pollIntervalMs);
  }
}

/** The victim right before the discard: Secondary, StandAlone, none of the resource's guests running. */
async function assertReadyToDiscard(ctx: ActionContext, step: OperationStep): Promise<void> {
  const { resource, victim } = params(ctx);
  await ctx.phase(`Checking that ${resource} is Secondary and StandAlone on ${victim}…`);
  const state = await probe(ctx.deps, ctx.cluster, [victim]);
  await ctx.phase(null);
  const r = resourceOn(state, step.node, resource);
  const domains = state.nodes.find((n) => n.name === victim)?.domains ?? null;
  const users = guestsOf(ctx.cluster, resource);
  const running =
    domains?.filter((d) => (d.guest && users.includes(d.guest)) || users.includes(d.name)) ?? [];
  const problems = [
    ...(r === null ? [`${resource} cannot be read on ${victim}`] : []),
    ...(r && r.role !== "Secondary" ? [`${resource} is ${r.role} on ${victim}, not Secondary`] : []),
    ...(r && connectionOf(r) !== "StandAlone"
      ? [`${resource} is ${connectionOf(r)} on ${victim}, not StandAlone`]
      : []),
    ...(domains === null ? [`the guests on ${victim} cannot be read`] : []),
    ...(running.length
      ? [`${running.map((d) => d.guest ?? d.name).join(", ")} still runs on ${victim}`]
      : []),
  ];
  if (problems.length > 0)
    throw new XenopsError("state_changed", `${problems.join("; ")}: the discard was not run`);
}

/** After `xm shutdown`: the guest must be gone from the victim (it may take a while to shut down). */
async function waitShutDown(ctx: ActionContext, step: OperationStep): Promise<void> {
  const guest = step.guest ?? "";
  const { deps, cluster } = ctx;
  await ctx.phase(`Waiting until ${guest} has shut down on ${step.node}…`);
  const deadline = Date.now() + deps.settings.shutdownTimeoutMs;
  for (;;) {
    const state = await probe(deps, cluster, [step.node]).catch(() => null);
    const domains = state?.nodes.find((n) => n.name === step.node)?.domains ?? null;
    if (domains && !domains.some((d) => d.guest === guest || d.name === guest)) break;
    if (Date.now() > deadline)
      throw new XenopsError(
        domains ? "exec_failed" : "state_unknown",
        domains
          ? `${guest} did not shut down on ${step.node} within ${Math.round(deps.settings.shutdownTimeoutMs / 1000)} s`
          : `whether ${guest} shut down on ${step.node} cannot be read`,
      );
    await sleep(deps.settings.pollIntervalMs);
  }
  await ctx.phase(null);
}

export const splitBrainHooks: ActionHooks = {
  async onStart(ctx) {
    const { resource } = params(ctx);
    await ctx.deps.splitBrainEvents
      ?.recovering(ctx.cluster.name, resource, ctx.record.id)
      .catch((err: unknown) => ctx.deps.logger.warn({ err }, "could not mark the split-brain recovery"));
  },

  pointOfNoReturn: (step) => step.kind === DISCARD,

  async beforeStep(ctx, _i, step) {
    if (step.kind === DISCARD) await assertReadyToDiscard(ctx, step);
  },

  async readBack(ctx, _i, step) {
    if (step.kind === "guest-shutdown") await waitShutDown(ctx, step);
  },

  verify: followResync,

  async onFailure(ctx, i, err, ran, stepText) {
    const { resource, survivor, victim } = params(ctx);
    const step = ctx.steps[i] as OperationStep;
    const discard = ctx.steps.findIndex((s) => s.kind === DISCARD);
    const state = await probe(ctx.deps, ctx.cluster, [survivor, victim]).catch(() => null);
    const now = nowSummary(ctx, state);
    const cancelled = errorCode(err) === "exec_aborted";
    // The discard ran (or may have): the victim's changes may be gone; a human must look.
    const pastDiscard = i > discard || (i === discard && ran);
    if (pastDiscard)
      return {
        status: "failed",
        summary: `Step ${i + 1} (${step.description}) failed after the discard: ${resource} is not recovered`,
        details: [stepText, `now: ${now}`, "nothing was run again; the split brain's incident stays open"],
        page: true,
      };
    return {
      status: "failed",
      summary: cancelled
        ? `Cancelled before step ${i + 1}: ${victim}'s data was not discarded`
        : `Step ${i + 1} (${step.description}) ${ran ? "failed" : "was not run"}: stopped before discarding ${victim}'s data`,
      details: [
        stepText,
        `now: ${now}`,
        `the split brain of ${resource} is not recovered; press "Keep ${survivor}'s data" again to plan it on the current state`,
      ],
      // A guest whose shutdown may or may not have happened: one writer per disk is not known.
      page: step.kind === "guest-shutdown" && ran && errorCode(err) === "state_unknown",
    };
  },

  async recover(ctx, journal: ExecutionJournal) {
    const { resource, survivor, victim } = params(ctx);
    const status = (k: number) => journal.steps.find((s) => s.index === k)?.status;
    const discard = ctx.steps.findIndex((s) => s.kind === DISCARD);
    const done = ctx.steps.filter((_, k) => status(k) === "done").map((s) => `${s.description}: done`);
    if (journal.steps.length === 0)
      return {
        status: "refused",
        summary: "Not executed: the worker stopped before the first step",
        reason: `nothing was changed; press "Keep ${survivor}'s data" again if it is still needed`,
        replan: false,
      };
    const state = await probe(ctx.deps, ctx.cluster, [survivor, victim]).catch(() => null);
    const s = state ? resourceOn(state, survivor, resource) : null;
    const v = state ? resourceOn(state, victim, resource) : null;
    if (status(discard) === undefined)
      return {
        status: "failed",
        summary: `The worker stopped before discarding ${victim}'s data: the split brain of ${resource} is not recovered`,
        details: [
          ...done,
          `now: ${nowSummary(ctx, state)}`,
          `nothing was run again; press "Keep ${survivor}'s data" again to plan it on the current state`,
        ],
        page: false,
      };
    // The discard was started: never run it again. Did it take effect?
    if (!s || !v)
      return {
        status: "uncertain",
        summary: `The worker stopped while discarding ${victim}'s data; ${resource} cannot be read now`,
        details: [sideLine(survivor, s), sideLine(victim, v), "the discard was not run again: look now"],
        page: true,
      };
    if (connectionOf(v) === "StandAlone")
      return {
        status: "uncertain",
        summary: `The worker stopped while discarding ${victim}'s data; ${resource} is still StandAlone on ${victim}`,
        details: [
          sideLine(survivor, s),
          sideLine(victim, v),
          `the discard was not run again; whether it reached DRBD is not known: look at ${victim}, then recover it by hand or press "Keep ${survivor}'s data" again`,
        ],
        page: true,
      };
    // It took effect (the victim connects or syncs): finish the non-destructive tail (reconnect the
    // survivor, once), then follow the resync.
    const notes: string[] = [];
    for (const [k, step] of ctx.steps.entries()) {
      if (k <= discard || status(k) === "done" || step.kind !== "drbd-connect") continue;
      const fresh = await probe(ctx.deps, ctx.cluster, [step.node]).catch(() => null);
      const r = fresh ? resourceOn(fresh, step.node, resource) : null;
      if (r && connectionOf(r) !== "StandAlone") {
        notes.push(`${resource} on ${step.node} was already ${connectionOf(r)}: not reconnected`);
        continue;
      }
      await ctx.guard();
      await ctx.deps.approvals.stepStarted(ctx.record.id, k);
      try {
        const res = await ctx.deps
          .runnerFor(ctx.cluster.name, step.node)
          .run(step.argv, { timeoutMs: step.timeoutMs ?? ctx.cluster.commandTimeoutMs });
        await ctx.deps.approvals.stepDone(ctx.record.id, k, {
          exitCode: res.exitCode,
          durationMs: res.durationMs,
        });
        notes.push(`completed: ${step.description} (${step.argv.join(" ")} on ${step.node})`);
      } catch (err) {
        await ctx.deps.approvals
          .stepFailed(ctx.record.id, k, { code: errorCode(err), message: errorMessage(err).slice(0, 500) })
          .catch(() => {});
        return {
          status: "failed",
          summary: `${victim}'s data was discarded, but reconnecting ${resource} on ${step.node} failed`,
          details: [
            `${step.argv.join(" ")} on ${step.node}: ${errorMessage(err)}`,
            sideLine(survivor, s),
            sideLine(victim, v),
          ],
          page: true,
        };
      }
    }
    const outcome = await followResync(ctx);
    return "details" in outcome ? { ...outcome, details: [...notes, ...outcome.details] } : outcome;
  },

  async onEnd(ctx) {
    await ctx.deps.splitBrainEvents
      ?.recovering(ctx.cluster.name, params(ctx).resource, null)
      .catch((err: unknown) =>
        ctx.deps.logger.warn({ err }, "could not clear the split-brain recovery mark"),
      );
  },
};
