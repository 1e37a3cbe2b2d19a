/**
 * Contracts of the risky operations (migrate, create, fence, evacuate, attest_off, split-brain
 * recovery; src/operations/registry.ts). Planning is read-only and
 * produces an ActionPlan (src/approval/types.ts) from a fresh ClusterState; execution runs exactly
 * the approved plan's steps, after re-reading the cluster and comparing its state hash.
 */
import { z } from "zod";
import type { ActionPlan, PreflightCheck } from "../approval/types";
import type { DrbdVersion } from "../drivers/types";
import type { ClusterState } from "../model";
import type { OperationOverride } from "./ha-manager";
import type { OffProof } from "./liveness";

/**
 * overrides: checks a human chose to bypass by typing it (`--override-ha`: the cluster manager); may be
 * undefined as parsed from a job payload (zod's optional), which means none.
 */
export type OperationRequest =
  | {
      action: "migrate";
      cluster: string;
      guest: string;
      target: string;
      overrides?: OperationOverride[] | undefined;
    }
  | {
      action: "create";
      cluster: string;
      guest: string;
      node: string | null;
      overrides?: OperationOverride[] | undefined;
    }
  /** overrideLastCopy: resources whose only UpToDate copy the fence may take down (named by a human). */
  | { action: "fence"; cluster: string; node: string; overrideLastCopy?: string[] | undefined }
  | { action: "evacuate"; cluster: string; node: string; overrides?: OperationOverride[] | undefined }
  /** Record that humans checked `node` is powered off (no remote step; see src/operations/liveness.ts). */
  | { action: "attest_off"; cluster: string; node: string }
  /** Recover a split brain of `resource`: keep `survivor`'s data, discard `victim`'s changes. */
  | { action: "split_brain_recover"; cluster: string; resource: string; survivor: string; victim: string };

export type PlanOutcome =
  /** Every check passed: the plan can be shown for approval (or as a dry run). */
  | { ok: true; plan: ActionPlan; state: ClusterState; facts?: PlanFacts }
  /** A check failed: nothing may run. `checks` says which and why. */
  | { ok: false; checks: PreflightCheck[]; summary: string; state: ClusterState; facts?: PlanFacts };

export type ExecutionOutcome =
  /** `warning`: it ended where it should, but something went wrong on the way (shown on the card). */
  | {
      status: "succeeded";
      summary: string;
      details: string[];
      warning?: string;
      /** A fence verified as a reset (new boot id): the node runs again; it is not off. */
      fenceReset?: boolean;
    }
  /** Refused before any step ran: the cluster changed since approval, a lock is held, ... */
  | { status: "refused"; summary: string; reason: string; replan: boolean }
  /** Failed after steps ran: where things stand was re-read and is reported; `page` asks for on-call. */
  | { status: "failed"; summary: string; details: string[]; page: boolean }
  /** The outcome cannot be established (crash recovery, verification impossible): page. */
  | { status: "uncertain"; summary: string; details: string[]; page: true };

/** Progress of an execution, for the live card: step k of n and free text. */
export type ProgressReporter = (update: { step: number; total: number; text: string }) => Promise<void>;

// --- Steps as the executor reads them back ---------------------------------------------------------
// ActionPlan.steps are PlannedSteps (what the card shows). The operations store a little more on each
// step (its kind, the guest/resource it is about, its timeout); the approval record keeps the plan as
// JSON, so these fields travel with it and are validated again (zod) before anything runs.

export const StepKind = z.enum([
  /** `drbdadm net-options --allow-two-primaries=yes R` (DRBD 8.4+/9, for this migration only). */
  "drbd-allow-two-primaries",
  /** `drbdadm primary R` (never --force). */
  "drbd-primary",
  /** `xm migrate --live` / `xl migrate`. */
  "migrate",
  /** `drbdadm secondary R`. */
  "drbd-secondary",
  /** `drbdadm net-options --allow-two-primaries=no R`. */
  "drbd-disallow-two-primaries",
  /** `xm create CFG` / `xl create CFG`. */
  "create",
  /** The cluster's fence method, run from a surviving peer. */
  "fence",
  // Split-brain recovery (src/operations/split-brain.ts), on the victim unless said otherwise.
  /** `xm shutdown` / `xl shutdown` of a guest; read back until it runs there no more. */
  "guest-shutdown",
  /** `drbdadm disconnect R` (a victim still trying to connect). */
  "drbd-disconnect",
  /** `drbdadm -- --discard-my-data connect R` (8.3) / `drbdadm connect --discard-my-data R` (8.4+). */
  "drbd-discard-my-data",
  /** `drbdadm connect R` (the survivor). */
  "drbd-connect",
]);
export type StepKind = z.infer<typeof StepKind>;

export const OperationStep = z.object({
  node: z.string().min(1),
  argv: z.array(z.string()).min(1),
  description: z.string(),
  destructive: z.boolean(),
  kind: StepKind,
  /** The guest this step moves or starts (migrate, create, and the DRBD steps around them). */
  guest: z.string().optional(),
  resource: z.string().optional(),
  /** migrate: source and target nodes. */
  from: z.string().optional(),
  to: z.string().optional(),
  /** fence: the node being fenced, the action, the plugin parameter order (stonith -F). */
  fenceTarget: z.string().optional(),
  fenceAction: z.enum(["reboot", "off"]).optional(),
  paramOrder: z.array(z.string()).optional(),
  /** What goes on stdin, as shown (secrets `[redacted]`); the real text is built when the step runs. */
  stdinShown: z.string().nullable().optional(),
  timeoutMs: z.number().int().positive().optional(),
});
export type OperationStep = z.infer<typeof OperationStep>;

/**
 * Facts beyond the snapshot that a preflight needs, read (read-only) by the planner. `null` always
 * means "could not be established", which fails the check that needs it.
 */
export interface PlanFacts {
  /** DRBD module version per node (only read when a resource needs allow-two-primaries at run time). */
  drbdVersion: Record<string, DrbdVersion | null>;
  /** create: whether the guest's config file exists on the node (`test -f`). */
  configFile: Record<string, boolean | null>;
  /** fence: the device check run from the fencing node; ok null when the method has none. */
  fenceDevice: { ok: boolean | null; detail: string } | null;
  /** fence (heartbeat stonith with secret parameters): the plugin's parameter order. */
  fenceParamOrder: string[] | null;
  /**
   * Maintenance windows (`/xen maintenance`) of the nodes involved: a description of the window, "" for
   * none, null when it could not be read. Nodes not listed were not asked (no maintenance store).
   */
  maintenance: Record<string, string | null>;
  /**
   * Stored proofs that a node is off (fenced and verified, or attested off), by node; nodes seen alive
   * have none (their proofs are void and cleared). Empty when the cluster has no proof store.
   */
  offProofs: Record<string, OffProof | null>;
  /**
   * Per node, Pacemaker's count of successful fences of it when it was last seen alive: only a fence
   * recorded since proves it off (liveness.ts recordedFence). Absent without a proof store.
   */
  aliveFenceCounts?: Record<string, number>;
}

export function emptyFacts(): PlanFacts {
  return {
    drbdVersion: {},
    configFile: {},
    fenceDevice: null,
    fenceParamOrder: null,
    maintenance: {},
    offProofs: {},
  };
}
