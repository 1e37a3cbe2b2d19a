/**
 * The orphan sweep, run with crash recovery in the workers. Crash recovery needs an execution journal;
 * when Redis lost data (a restart without AOF, a replica promoted before it caught up, an old RDB
 * snapshot) an approval can survive its journal. Its card then says "Running" (or "Approved") forever
 * and nobody is paged, while a migration may have stopped half-way (DRBD Primary on both nodes).
 *
 * For every approved execution of these clusters whose journal is missing although it was claimed (the
 * approval records the claim itself) or whose execution job is gone: mark it uncertain in the store (a
 * finished journal, so it can never be claimed and run again), locate its guests read-only, put that on
 * its card and page on-call. It never runs a command on a node other than the read-only snapshot.
 */
import type { ApprovalRecord } from "../approval/types";
import { errorMessage } from "../errors";
import { auditSafely, clusterConfig, type OperationDeps } from "./context";
import { ExecutionCardWriter } from "./executor";
import { describeLocation, locateGuest } from "./locate";
import type { ExecutionOutcome } from "./types";
import { primariesOf, probe } from "./verify";

/** BullMQ states in which an execution job will still claim its execution itself. */
const PENDING_JOB_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

export interface SweepOptions {
  clusters: readonly string[];
  /** The state of a queued job ("unknown" when it does not exist). Without it, only claimed executions are swept. */
  jobState?: (jobId: string) => Promise<string>;
}

export interface SweepReport {
  approvalId: string;
  outcome: ExecutionOutcome;
}

function guestsOf(record: ApprovalRecord): string[] {
  const guests = new Set<string>();
  if (record.plan.target.guest) guests.add(record.plan.target.guest);
  const listed = record.plan.params.guests;
  if (Array.isArray(listed)) for (const g of listed) guests.add(g);
  for (const s of record.plan.steps as { guest?: unknown }[])
    if (typeof s.guest === "string") guests.add(s.guest);
  return [...guests];
}

/** One pass. Returns what it marked uncertain. */
export async function sweepOrphanedExecutions(
  deps: OperationDeps,
  options: SweepOptions,
): Promise<SweepReport[]> {
  const reports: SweepReport[] = [];
  for (const id of await deps.approvals.executingApprovals()) {
    const record = await deps.approvals.get(id);
    if (record?.status !== "approved") {
      await deps.approvals.forgetExecuting(id);
      continue;
    }
    if (!options.clusters.includes(record.plan.cluster)) continue;
    const journal = await deps.approvals.journal(id);
    if (journal) {
      if (journal.finished) await deps.approvals.forgetExecuting(id);
      continue;
    }
    const claimedAt = await deps.approvals.executionClaimedAt(id);
    let why: string;
    if (claimedAt) why = `its execution started at ${claimedAt}, but its journal is gone from Redis`;
    else {
      // Not claimed (as far as Redis remembers): orphaned only when no job is left to claim it.
      if (!record.executionJobId || !options.jobState) continue;
      const state = await options.jobState(record.executionJobId).catch(() => "error");
      if (PENDING_JOB_STATES.has(state) || state === "error") continue;
      why = `it was approved and queued as job ${record.executionJobId}, but that job is ${state === "unknown" ? "gone" : state} and no journal says whether it ran`;
    }
    const log = deps.logger.child({ approvalId: id, component: "sweeper" });
    const detail = `uncertain: ${why} (Redis lost data?)`;
    // First the store, atomically: from here on the execution can never be claimed (run) again.
    if (!(await deps.approvals.markOrphaned(id, detail.slice(0, 500)))) continue;
    log.error({ why }, "execution journal lost: locating and paging");

    const details = [
      `${why}: Redis lost data (restarted without AOF, or a replica without the latest writes)`,
    ];
    try {
      const cluster = clusterConfig(deps, record.plan.cluster);
      const state = await probe(deps, cluster);
      const guests = guestsOf(record);
      for (const g of guests) details.push(describeLocation(locateGuest(state, g)));
      const resources = new Set([
        ...guests.flatMap((g) => cluster.guests.find((c) => c.name === g)?.drbd ?? []),
        ...(record.plan.target.resource ? [record.plan.target.resource] : []),
      ]);
      for (const r of resources) {
        // A node whose DRBD state cannot be read may be Primary too: say so, never "no node".
        const { primary, unknown } = primariesOf(state, r);
        details.push(
          `DRBD ${r}: Primary on ${primary.join(" and ") || "no node"}${unknown.length ? `${primary.length ? ";" : " as far as known;"} unknown on ${unknown.join(", ")} (cannot be read)` : ""}`,
        );
      }
      if (guests.length === 0) details.push("nothing to locate for this action; check by hand");
    } catch (err) {
      details.push(`could not read the cluster: ${errorMessage(err)}`);
    }
    details.push("nothing was run; check the guests and the DRBD roles by hand");
    const outcome: ExecutionOutcome = {
      status: "uncertain",
      summary: "The execution's journal was lost (Redis lost data): where things stand is not known",
      details,
      page: true,
    };
    await auditSafely(deps, {
      kind: "action",
      actor: record.requestedBy,
      cluster: record.plan.cluster,
      parameters: {
        approvalId: id,
        action: record.plan.action,
        result: "uncertain",
        summary: outcome.summary,
      },
      stateHash: record.plan.stateHash,
      outcome: "failed",
      ...(record.executionJobId ? { jobId: record.executionJobId } : {}),
    });
    await new ExecutionCardWriter(deps, record).finish(outcome, true);
    reports.push({ approvalId: id, outcome });
  }
  return reports;
}
