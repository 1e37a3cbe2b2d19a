/**
 * Risky operations: one approval engine and one lock manager per process, each on its own Redis client, the
 * store of proofs that nodes are off, and what the planner, executor and recovery run on.
 */
import { ApprovalEngine } from "../approval/engine";
import type { AuditRecorder } from "../audit/recorder";
import { Authorizer } from "../chat/authz";
import type { JobEnqueuer } from "../chat/enqueuer";
import type { GroupDirectory, Notifier } from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import type { SecretEnv } from "../config/secrets";
import type { Events } from "../events";
import { LockManager } from "../locks/lock";
import type { Logger } from "../log";
import {
  DEFAULT_OPERATION_SETTINGS,
  type OperationDeps,
  type OperationSettings,
  operationSettingsOf,
} from "../operations/context";
import { OffProofStore } from "../operations/off-proofs";
import { actionDefinition } from "../operations/registry";
import type { RedisDurability } from "../queue/persistence";
import type { ClusterAccess } from "./cluster-access";
import type { RedisClients } from "./redis-clients";

export interface OperationsOptions {
  inventory: InventoryConfig;
  logger: Logger;
  prefix: string;
  redis: RedisClients;
  access: ClusterAccess;
  notifier: Notifier;
  groups: GroupDirectory;
  secretEnv: SecretEnv;
  jobs: JobEnqueuer;
  audit: AuditRecorder;
  durability: RedisDurability;
  /** Overrides of the inventory's operation settings (tests shorten them). */
  settings?: Partial<OperationSettings> | undefined;
  /** The cluster events, built after this (they need the approvals and locks); read only when used. */
  events: () => Events;
}

export interface Operations {
  approvals: ApprovalEngine;
  locks: LockManager;
  offProofs: OffProofStore;
  operations: OperationDeps;
}

export function createOperations(options: OperationsOptions): Operations {
  const { inventory, logger, prefix, redis, access, notifier, jobs, audit } = options;
  const locksLogger = logger.child({ component: "locks" });
  const locks = new LockManager({ redis: redis.locks, prefix, logger: locksLogger });
  const approvals = new ApprovalEngine({
    redis: redis.approvals,
    prefix,
    notifier,
    authorizer: new Authorizer(inventory.roles, options.groups),
    logger,
    audit: (entry) => audit.append(entry),
    durability: options.durability,
    // The winner of a decision queues the execution; the delivery id makes a retried enqueue the same job.
    async enqueueExecution(record, { deliveryId }) {
      const cluster = record.plan.cluster;
      // Every approved action runs in the one executor (src/operations/registry.ts); unknown ones throw.
      return jobs.enqueue(
        cluster,
        actionDefinition(record.plan.action).executionJob,
        {
          cluster,
          channel: record.channel,
          requestedBy: record.requestedBy,
          deliveryId,
          requestText: record.plan.summary,
          approvalId: record.id,
        },
        { deliveryId },
      );
    },
  });
  // Proofs that nodes are off (verified fences, attestations), on the shared lifecycle client.
  const offProofs = new OffProofStore(redis.lifecycle, prefix, logger.child({ component: "off-proofs" }));
  const operations: OperationDeps = {
    inventory,
    runnerFor: access.runnerFor,
    driversFor: access.driversFor,
    mutationsFor: access.mutationsFor,
    notifier,
    logger: logger.child({ component: "operations" }),
    approvals,
    locks,
    jobs,
    secretEnv: options.secretEnv,
    settings: {
      ...DEFAULT_OPERATION_SETTINGS,
      ...operationSettingsOf(inventory.operations),
      ...options.settings,
    },
    audit: (entry) => audit.append(entry),
    // Risky actions are refused on a node in a maintenance window.
    maintenance: (cluster, node) => options.events().isInMaintenance(cluster, node),
    offProofs,
    // A split-brain recovery tells the incidents it runs and resolves them (src/events/index.ts).
    splitBrainEvents: {
      recovering: (cluster, resource, approvalId) =>
        options.events().splitBrainEvents.recovering(cluster, resource, approvalId),
      resolved: (cluster, resource, title, evidence) =>
        options.events().splitBrainEvents.resolved(cluster, resource, title, evidence),
    },
  };
  return { approvals, locks, offProofs, operations };
}
