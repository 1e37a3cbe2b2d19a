/** What the operations (planner, executor, crash recovery) need from the composition root. */

import type { ApprovalEngine } from "../approval/engine";
import type { AuditEntryInput } from "../audit/schema";
import type { JobEnqueuer } from "../chat/enqueuer";
import type { Notifier } from "../chat/types";
import type { CommandRunner } from "../command-runner";
import type { ClusterConfig, InventoryConfig, OperationTimingsConfig } from "../config/schema";
import { resolveSecret, type SecretEnv } from "../config/secrets";
import type { FenceDriver } from "../drivers/fence";
import type { MutationDrivers } from "../drivers/registry";
import type { ClusterDrivers } from "../drivers/types";
import { XenopsError } from "../errors";
import type { LockManager } from "../locks/lock";
import type { Logger } from "../log";
import type { OffProofStore } from "./off-proofs";
import { DEFAULT_PLAN_SETTINGS, type PlanSettings } from "./preflight";

export interface OperationSettings extends PlanSettings {
  /** TTL of the action locks (renewed every third while held). A dead worker's locks free up after it. */
  lockTtlMs: number;
  /** Between two looks while verifying (placement settling, node going down). */
  pollIntervalMs: number;
  /** After `xm migrate` returned: how long the guest may take to show up on the target only. */
  migrateVerifyTimeoutMs: number;
  /** After the fence command: how long the node may take to be seen off. */
  fenceVerifyTimeoutMs: number;
  /** Per-command timeout of the verification snapshots (short: a fenced node does not answer). */
  probeTimeoutMs: number;
  /** While a long step runs, how often the card shows the time elapsed. */
  progressIntervalMs: number;
  /** How often a worker looks for executions whose worker died (also once at start). */
  recoveryIntervalMs: number;
  /** TTL of an execution's lease (renewed every third by its worker while it is alive). */
  leaseTtlMs: number;
  /**
   * Recovery takes an execution over only once its lease expired and the running step's deadline (its
   * timeout from its recorded start) plus this grace has passed.
   */
  stepGraceMs: number;
  /** Split-brain recovery: how long a guest may take to shut down on the victim. */
  shutdownTimeoutMs: number;
  /** Split-brain recovery: how long the resync after the discard is followed before giving up. */
  resyncTimeoutMs: number;
}

export const DEFAULT_OPERATION_SETTINGS: OperationSettings = {
  ...DEFAULT_PLAN_SETTINGS,
  lockTtlMs: 60_000,
  pollIntervalMs: 1_000,
  migrateVerifyTimeoutMs: 60_000,
  fenceVerifyTimeoutMs: 180_000,
  probeTimeoutMs: 5_000,
  progressIntervalMs: 5_000,
  recoveryIntervalMs: 15_000,
  leaseTtlMs: 30_000,
  stepGraceMs: 60_000,
  shutdownTimeoutMs: 180_000,
  resyncTimeoutMs: 6 * 3_600_000,
};

/** The inventory's `operations:` timings (milliseconds, names without the `Ms`) as settings. */
export function operationSettingsOf(timings: OperationTimingsConfig | undefined): Partial<OperationSettings> {
  const out: Partial<OperationSettings> = {};
  for (const [name, ms] of Object.entries(timings ?? {}))
    if (typeof ms === "number") (out as Record<string, number>)[`${name}Ms`] = ms;
  return out;
}

export interface OperationDeps {
  inventory: InventoryConfig;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  mutationsFor(cluster: string): MutationDrivers;
  notifier: Notifier;
  logger: Logger;
  approvals: ApprovalEngine;
  locks: LockManager;
  /** To queue a fresh plan when the cluster changed after approval. */
  jobs: JobEnqueuer;
  secretEnv: SecretEnv;
  settings: OperationSettings;
  audit?: (entry: AuditEntryInput) => Promise<void>;
  /**
   * The node's active maintenance window (src/events/maintenance.ts), or null. Risky actions on a node
   * in maintenance are refused (fence it, migrate to or from it, start guests on it).
   */
  maintenance?: (
    cluster: string,
    node: string,
  ) => Promise<{ by: string; until: string; reason: string } | null>;
  /**
   * Proofs that nodes are off (src/operations/off-proofs.ts). Without it no node is ever proven off
   * except through Pacemaker's fence history, so nothing is started in place of a silent node.
   */
  offProofs?: OffProofStore;
  /**
   * The event pipeline's side of a split-brain recovery (src/events/): while it runs, DRBD's own
   * reconnect is not reported as an automatic resolution; once resynced, the incident is resolved.
   */
  splitBrainEvents?: SplitBrainEvents;
}

export interface SplitBrainEvents {
  /** Marks the recovery of `resource` in progress (approvalId) or over (null). */
  recovering(cluster: string, resource: string, approvalId: string | null): Promise<unknown>;
  /** The recovery ended with both sides UpToDate: resolve the split-brain incident. */
  resolved(cluster: string, resource: string, title: string, evidence: string[]): Promise<unknown>;
}

export function clusterConfig(deps: Pick<OperationDeps, "inventory">, name: string): ClusterConfig {
  const cluster = deps.inventory.clusters.find((c) => c.name === name);
  if (!cluster) throw new XenopsError("unknown_cluster", `unknown cluster "${name}"`);
  return cluster;
}

/**
 * The fence method's secrets (the driver declares them), resolved now; values are only ever held in
 * memory. No driver (no fence method): none.
 */
export async function resolveFenceSecrets(
  fence: FenceDriver | null,
  cluster: string,
  env: SecretEnv,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, ref] of Object.entries(fence?.secrets ?? {}))
    out.set(name, await resolveSecret(ref, env, `${cluster} fence secret ${name}`));
  return out;
}

/** Replaces every secret value in `text` by [redacted] (for messages built from a command's output). */
export function redactValues(text: string, secrets: ReadonlyMap<string, string>): string {
  let out = text;
  for (const v of secrets.values()) {
    const value = v.replace(/\r?\n$/, "");
    if (value.length >= 3) out = out.split(value).join("[redacted]");
  }
  return out;
}

/** Audit without ever failing the caller. */
export async function auditSafely(
  deps: Pick<OperationDeps, "audit" | "logger">,
  entry: AuditEntryInput,
): Promise<void> {
  if (!deps.audit) return;
  try {
    await deps.audit(entry);
  } catch (err) {
    deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "audit write failed");
  }
}
