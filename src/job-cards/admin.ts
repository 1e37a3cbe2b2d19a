/**
 * JobAdmin: what `/xen jobs`, `/xen cancel JOB`, the card's Cancel button and `/xen history` do. Reads
 * BullMQ and the job-number records; cancels through JobQueues.cancel (→ the processor's abort signal →
 * the SSH runner ends the remote command). Only the requester, approvers and admins may cancel.
 */
import type { Job } from "bullmq";
import type { AuditEntryInput, AuditRecord } from "../audit/schema";
import { Authorizer } from "../chat/authz";
import type { JobAdmin, JobListState, JobSummary } from "../chat/job-admin";
import { documentReply } from "../chat/reply";
import type { ActionHandler } from "../chat/router";
import type { GroupDirectory, Notifier, Reply } from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import type { Logger } from "../log";
import { type Inline, user } from "../message/document";
import type { JobQueues } from "../queue/queues";
import { CANCEL_ACTION_ID, queuedState, renderJobCard } from "./card";
import type { CardStore } from "./card-store";
import { cancelReason, pointOfNoReturnOf } from "./control";
import { describeJob } from "./describe";

export interface JobAdminDeps {
  jobs: JobQueues;
  inventory: InventoryConfig;
  groups: GroupDirectory;
  notifier: Notifier;
  cards: CardStore;
  /** Fire-and-forget audit write. */
  audit: (entry: AuditEntryInput) => void;
  /** The latest audit records; absent when no audit log is configured. */
  history?: (n: number) => Promise<AuditRecord[]>;
  logger: Logger;
}

type RequestData = { requestedBy?: unknown; requestText?: unknown; channel?: unknown; cluster?: unknown };

/** A one-line reply (no blocks): text front ends print it without Slack markup. */
function textReply(...summary: Inline[]): Reply {
  return documentReply({ summary, blocks: [] });
}

function requester(job: Job): string | null {
  const by = (job.data as RequestData).requestedBy;
  return typeof by === "string" ? by : null;
}

function progressText(progress: unknown): string | null {
  if (typeof progress === "object" && progress !== null && "text" in progress) {
    const text = (progress as { text?: unknown }).text;
    return typeof text === "string" ? text : null;
  }
  return null;
}

function outcomeText(job: Job): string | null {
  if (job.failedReason) return job.failedReason;
  const rv = job.returnvalue as { outcome?: unknown; summary?: unknown } | null | undefined;
  if (rv && typeof rv === "object") {
    if (typeof rv.summary === "string") return rv.summary;
    if (typeof rv.outcome === "string") return rv.outcome;
  }
  return null;
}

export function createJobAdmin(deps: JobAdminDeps): JobAdmin {
  const authorizer = new Authorizer(deps.inventory.roles, deps.groups);
  const log = deps.logger.child({ component: "job-admin" });

  async function summarize(cluster: string, job: Job, state: JobListState): Promise<JobSummary | null> {
    // Jobs nobody asked for (the monitor's scheduled runs) are not listed: they are not anyone's to cancel.
    if (!job.id || requester(job) === null) return null;
    const ref = await deps.jobs.lookup(job.id).catch(() => null);
    return {
      jobId: job.id,
      number: ref?.number ?? null,
      cluster,
      name: job.name,
      title: describeJob(job.name, job.data),
      state,
      requestedBy: requester(job),
      createdAt: job.timestamp,
      startedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
      progress: progressText(job.progress),
      detail: state === "completed" || state === "failed" ? outcomeText(job) : null,
    };
  }

  return {
    async list(clusters, options = {}) {
      const recent = Math.max(0, Math.min(options.recent ?? 10, 50));
      const out: JobSummary[] = [];
      const finished: JobSummary[] = [];
      for (const cluster of clusters.filter((c) => deps.jobs.clusters.includes(c))) {
        const q = deps.jobs.queue(cluster);
        // Scheduled system jobs are left out below, so look further back than `recent`.
        const window = Math.min(recent * 10, 200) - 1;
        const [active, waiting, completed, failed] = await Promise.all([
          q.getJobs(["active"], 0, 49),
          q.getJobs(["waiting", "prioritized", "delayed", "waiting-children"], 0, 49),
          recent > 0 ? q.getJobs(["completed"], 0, window) : Promise.resolve([]),
          recent > 0 ? q.getJobs(["failed"], 0, window) : Promise.resolve([]),
        ]);
        const add = async (jobs: Job[], state: JobListState, into: JobSummary[]) => {
          for (const job of jobs) {
            const s = await summarize(cluster, job, state);
            if (s) into.push(s);
          }
        };
        await add(active, "running", out);
        await add(waiting, "queued", out);
        const latest = (jobs: Job[]) =>
          jobs
            .filter((j) => requester(j) !== null)
            .sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))
            .slice(0, recent);
        await add(latest(completed), "completed", finished);
        await add(latest(failed), "failed", finished);
      }
      finished.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0));
      return [...out, ...finished.slice(0, recent)];
    },

    async cancel(refText, actor) {
      const ref = refText.trim().replace(/^#/, "");
      const shown = ref.slice(0, 40);
      const found = await deps.jobs.lookup(ref);
      if (!found) return textReply(`There is no job ${shown} (job numbers are remembered for 24 hours).`);
      const label = `job ${found.number}`;
      const job = await deps.jobs.getJob(found.jobId);
      if (!job) return { text: `Job ${found.number} is no longer in the queue: it finished a while ago.` };
      const title = describeJob(job.name, job.data);
      const data = job.data as RequestData;
      const owner = requester(job);
      const base = {
        actor: actor.userId,
        cluster: found.cluster,
        command: actor.via === "command" ? `/xen cancel ${ref.slice(0, 40)}` : "button: Cancel",
        jobId: found.jobId,
        jobNumber: found.number,
      };
      const allowed = owner === actor.userId || (await authorizer.has(actor.userId, "approver"));
      if (!allowed) {
        deps.audit({
          ...base,
          kind: "refusal",
          outcome: "refused",
          error: { code: "forbidden", message: "only the requester, approvers and admins may cancel" },
        });
        return textReply(
          "Only the requester",
          ...(owner ? [" (", user(owner), ")"] : []),
          `, approvers and admins may cancel ${label}.`,
        );
      }
      const state = await job.getState();
      if (state === "completed" || state === "failed")
        return textReply(`Job ${found.number} (${title}) already finished.`);
      const marker = pointOfNoReturnOf(job.data);
      const result = await deps.jobs.cancel(found.jobId, cancelReason(actor.userId));
      deps.audit({ ...base, kind: "action", outcome: "ok", parameters: { cancel: result, via: actor.via } });
      log.info(
        { jobId: found.jobId, jobNumber: found.number, user: actor.userId, result },
        "cancel requested",
      );
      switch (result) {
        case "removed": {
          deps.audit({
            kind: "job_cancelled",
            actor: owner ?? actor.userId,
            cluster: found.cluster,
            ...(typeof data.requestText === "string" ? { command: data.requestText } : {}),
            parameters: { cancelledBy: actor.userId, beforeStart: true },
            outcome: "cancelled",
            jobId: found.jobId,
            jobNumber: found.number,
            durationMs: 0,
          });
          await markCancelledBeforeStart(deps, found.jobId, found.number, title, owner, actor.userId);
          return textReply(`Cancelled ${label} (${title}) before it started.`);
        }
        case "signalled":
          return marker
            ? textReply(
                `Job ${found.number} (${title}) is past its point of no return (${marker.reason}): it will finish and verify; its card says how it ends.`,
              )
            : textReply(
                `Cancelling ${label} (${title}): its worker was told to stop and ends the remote command. The card shows when it has stopped.`,
              );
        case "finished":
          return textReply(`Job ${found.number} (${title}) already finished.`);
        case "unknown":
          return { text: `Job ${found.number} is no longer known to the queue.` };
      }
    },

    async history(n) {
      if (!deps.history) return null;
      return deps.history(n);
    },
  };
}

async function markCancelledBeforeStart(
  deps: JobAdminDeps,
  jobId: string,
  jobNumber: number,
  title: string,
  owner: string | null,
  by: string,
): Promise<void> {
  try {
    const ref = await deps.cards.ref(jobId);
    if (!ref) return;
    const now = Date.now();
    await deps.notifier.update(
      ref,
      renderJobCard({
        ...queuedState({
          title,
          jobId,
          jobNumber,
          requestedBy: owner ?? "system",
          cancellable: false,
          createdAt: now,
        }),
        phase: "cancelled",
        endedAt: now,
        cancelledBy: by,
      }),
    );
  } catch (err) {
    deps.logger.warn({ jobId, err }, "could not update the card of a cancelled job");
  }
}

/** The card's Cancel button (action_id `xenops:job:cancel`, value: the job id). */
export function createCancelAction(admin: JobAdmin): ActionHandler {
  return {
    prefix: CANCEL_ACTION_ID,
    handle: (request) =>
      admin.cancel(request.value, {
        userId: request.userId,
        channelId: request.channelId,
        via: "button",
        deliveryId: request.deliveryId,
      }),
  };
}
