/**
 * Contracts of the approval engine. A risky action is planned by a job (read-only), shown on an
 * approval card, decided atomically in Redis, and executed exactly once by another job that
 * re-checks the cluster against the state hash the plan was approved on.
 */
import type { RoleName } from "../config/schema";
import type { ErrorCode } from "../errors";

export type RiskyAction =
  | "migrate"
  | "create"
  | "fence"
  | "evacuate"
  | "split_brain_recover"
  | "failback"
  | "attest_off";

/** One command of the plan, exactly as it will run. */
export interface PlannedStep {
  node: string;
  argv: string[];
  description: string;
  /** Past this step the action cannot be undone or safely cancelled. */
  destructive: boolean;
}

export interface PreflightCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ActionPlan {
  action: RiskyAction;
  cluster: string;
  /** One line: "Live-migrate internet from ics2 to ics1". */
  summary: string;
  /** What the action is about (for locks and display). */
  target: { guest?: string; node?: string; resource?: string };
  /** Action parameters the executing job needs (e.g. source and target node). */
  params: Record<string, string | number | boolean | string[]>;
  steps: PlannedStep[];
  checks: PreflightCheck[];
  /** sha256 over the parts of the cluster state this plan depends on (see stateHash()). */
  stateHash: string;
  /** Human summary of that state, shown on the card. */
  stateSummary: string;
}

export interface ApprovalPolicy {
  /** Roles that may request this action / approve it. */
  requestRole: RoleName;
  approveRole: RoleName;
  /** Distinct approvals needed. */
  approvals: number;
  /** The requester cannot approve their own request. Always on for fence. */
  twoPerson: boolean;
  expiresInMs: number;
  /** When set, approving requires typing this text (e.g. the split-brain victim's node name). */
  typedConfirmation?: string;
}

export type ApprovalStatus = "pending" | "approved" | "denied" | "expired" | "superseded";

export interface ApprovalRecord {
  id: string;
  plan: ActionPlan;
  policy: ApprovalPolicy;
  requestedBy: string;
  channel: string;
  messageTs: string | null;
  createdAt: string;
  expiresAt: string;
  status: ApprovalStatus;
  approvedBy: string[];
  deniedBy: string | null;
  decidedAt: string | null;
  /** The execution job, set once when the approval completes (exactly-once execution). */
  executionJobId: string | null;
}

/** What a click did. "recorded": the approval counted but more distinct approvals are needed. */
export type DecisionOutcome = "approved" | "recorded" | "denied" | "refused";

export interface DecisionResult {
  outcome: DecisionOutcome;
  /** Why it was refused, or a note for the clicker (e.g. "1 more approval needed"). */
  reason?: string;
  /** Stable code of a refusal (src/errors.ts), for the audit log. */
  code?: ErrorCode;
  /** The record after the decision; null only when no such approval exists. */
  record: ApprovalRecord | null;
}

export type StepStatus = "started" | "done" | "failed";

export interface JournalStep {
  index: number;
  status: StepStatus;
  /** ISO time of the last status change. */
  at: string;
  details?: Record<string, unknown>;
}

export type ExecutionOutcome = "ok" | "failed" | "cancelled";

/** How far an execution got: written by the executing job, read by a restarted worker. */
export interface ExecutionJournal {
  approvalId: string;
  jobId: string;
  claimedAt: string;
  /** By index; only steps that were started. */
  steps: JournalStep[];
  finished: { outcome: ExecutionOutcome; at: string; detail?: string } | null;
  /**
   * The execution's lease: who runs it, its fencing token (bumped by a takeover) and until when the
   * holder is known alive (its worker renews it). Null for journals written before leases existed.
   */
  lease: { owner: string; token: number; expiresAtMs: number } | null;
  /** What a worker that lost its lease found afterwards (it never overwrites the outcome). */
  notes: string[];
}

/** The final states of an execution card: once one is recorded, the card never shows "running" again. */
export type ExecutionCardStatus = "running" | "succeeded" | "failed" | "refused" | "uncertain";
