/**
 * The registry of approved actions: every action that goes through approval, the job that executes it
 * (always `operation-execute`: one executor, src/operations/executor.ts, with the same locks, lease,
 * cancel rules, journal, crash recovery, audit and card for all), and what is particular to it.
 *
 * An action gives its plan (preflight checks + steps; planned by src/operations/plan.ts through
 * buildPlan), and its read-back, verification, failure handling and crash recovery. Those of migrate,
 * evacuate (and failback, planned as migrations), create, fence and attest_off are the executor's
 * built-in ones (executor.ts, verify.ts, crash-recovery.ts); an action with `hooks` has them in its own
 * module (src/operations/split-brain.ts is one) and the executor and crash recovery call them at the same points:
 *
 *   onStart → for each step: [cancel check, unless past the point of no return] → lock/lease check →
 *   beforeStep → journal "started" → command → journal "done" → readBack → … → verify → onEnd
 *
 * A new action: add it to RiskyAction (src/approval/types.ts) and OperationRequest/StepKind
 * (./types.ts), plan it in buildPlan (./preflight.ts) and requestOfPlan/operationSpecOf (./plan.ts),
 * then give it an entry here with its hooks.
 */
import type { ApprovalRecord, ExecutionJournal, RiskyAction } from "../approval/types";
import type { ClusterConfig } from "../config/schema";
import { XenopsError } from "../errors";
import type { OperationDeps } from "./context";
import { splitBrainHooks } from "./split-brain";
import type { ExecutionOutcome, OperationStep } from "./types";

/** What a hook may use: the execution's deps (journal writes carry the lease's fencing token). */
export interface ActionContext {
  deps: OperationDeps;
  cluster: ClusterConfig;
  record: ApprovalRecord;
  steps: readonly OperationStep[];
  /** The locks and the execution's lease, checked in Redis: call before running anything. */
  guard(): Promise<void>;
  /** The live card's phase line (null: none). */
  phase(text: string | null): Promise<void>;
  /** Crash recovery (a restarted worker) rather than the first execution. */
  recovered: boolean;
}

export interface ActionHooks {
  /** Right before the execution's first step (after the state-hash comparison). */
  onStart?(ctx: ActionContext): Promise<void>;
  /** Whether starting `step` passes the point of no return: from then on cancel no longer aborts. */
  pointOfNoReturn?(step: OperationStep): boolean;
  /** Before step i runs (after the lock check): a throw stops the execution without running it. */
  beforeStep?(ctx: ActionContext, i: number, step: OperationStep): Promise<void>;
  /** After step i ran: a throw is a failure of that step (handled by onFailure). */
  readBack?(ctx: ActionContext, i: number, step: OperationStep): Promise<void>;
  /** Every step ran: verify the end state (and follow what must settle). */
  verify(ctx: ActionContext): Promise<ExecutionOutcome>;
  /** Step i failed, was not run (`ran` false: cancel, a refused read), or its read-back failed. */
  onFailure(
    ctx: ActionContext,
    i: number,
    err: unknown,
    ran: boolean,
    stepText: string,
  ): Promise<ExecutionOutcome>;
  /** Crash recovery: the journal of a worker that stopped. Never runs a destructive step again. */
  recover(ctx: ActionContext, journal: ExecutionJournal): Promise<ExecutionOutcome>;
  /** Whatever the outcome (also a refusal before the first step). Never throws. */
  onEnd?(ctx: ActionContext, outcome: ExecutionOutcome): Promise<void>;
}

export interface ActionDefinition {
  /** The job that executes an approved plan of this action. */
  executionJob: "operation-execute";
  /** The action its plans carry (failback is planned and executed as migrations). */
  plannedAs: RiskyAction;
  /** null: the executor's built-in handling (executor.ts, verify.ts, crash-recovery.ts). */
  hooks: ActionHooks | null;
}

const builtin = (plannedAs: RiskyAction): ActionDefinition => ({
  executionJob: "operation-execute",
  plannedAs,
  hooks: null,
});

export const ACTIONS: Readonly<Record<RiskyAction, ActionDefinition>> = {
  migrate: builtin("migrate"),
  evacuate: builtin("evacuate"),
  // "Fail back to NODE": one live migration per guest (src/events/index.ts operationPlanRequests).
  failback: builtin("migrate"),
  create: builtin("create"),
  fence: builtin("fence"),
  // Records a human attestation that a node is off: no command; executor.ts recordAttestation and the
  // attest_off branch of crash-recovery.ts (candidates for hooks of their own, like split-brain recovery).
  attest_off: builtin("attest_off"),
  split_brain_recover: {
    executionJob: "operation-execute",
    plannedAs: "split_brain_recover",
    hooks: splitBrainHooks,
  },
};

/** The registry entry of an approved plan's action; throws for an action nothing executes. */
export function actionDefinition(action: string): ActionDefinition {
  const def = (ACTIONS as Record<string, ActionDefinition | undefined>)[action];
  if (!def) throw new XenopsError("internal", `no execution for action ${action}`);
  return def;
}

/** The hooks of an action, or null for the executor's built-in handling (or an unknown action). */
export function actionHooks(action: string): ActionHooks | null {
  return (ACTIONS as Record<string, ActionDefinition | undefined>)[action]?.hooks ?? null;
}

/** Actions crash recovery takes over (every registered one). */
export function recoverableAction(action: string): boolean {
  return action in ACTIONS;
}
