/**
 * What the `jobs`, `cancel` and `history` verbs need from the rest of xenops: a view of the queues, the
 * cancel path and the audit log. Implemented in src/job-cards/admin.ts and handed to the core by createDeps.
 */

import type { AuditRecord } from "../audit/schema";
import type { Reply } from "./types";

export type JobListState = "running" | "queued" | "completed" | "failed";

export interface JobSummary {
  jobId: string;
  /** The human job number ("job 42"); null when its record expired. */
  number: number | null;
  cluster: string;
  name: string;
  /** One line: "status of lab", "DRBD watch of internet". */
  title: string;
  state: JobListState;
  /** Slack user who asked, or "system". */
  requestedBy: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** What its card says it is doing ("step 2 of 5: promote ics1"), when it reports progress. */
  progress: string | null;
  /** Why it failed, or how it ended when it reports an outcome. */
  detail: string | null;
}

export interface CancelActor {
  userId: string;
  channelId: string;
  via: "command" | "button";
  deliveryId: string;
}

export interface JobAdmin {
  /** Running and queued jobs, then the `recent` latest finished ones, of these clusters. */
  list(clusters: readonly string[], options?: { recent?: number }): Promise<JobSummary[]>;
  /**
   * Cancels a job by number or id for the requester, an approver or an admin. Returns what to tell the
   * user; never throws for a refusal.
   */
  cancel(ref: string, actor: CancelActor): Promise<Reply>;
  /** The last `n` audit records, oldest first; null when this process has no audit log. */
  history(n: number): Promise<AuditRecord[] | null>;
}
