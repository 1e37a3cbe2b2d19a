/**
 * Cluster events (monitor, events2 streams, webhook, incidents, on-call paging) wired to the rest of the
 * process: its runner and drivers, its queues, the approvals and locks, its metrics and audit trail.
 */

import type { AuditRecorder } from "../audit/recorder";
import type { JobEnqueuer } from "../chat/enqueuer";
import type { GroupDirectory, Notifier } from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import type { SecretEnv } from "../config/secrets";
import { Events, type EventsConfig } from "../events";
import type { Logger } from "../log";
import type { Metrics } from "../observability/metrics";
import type { JobQueues } from "../queue/queues";
import type { ClusterAccess } from "./cluster-access";
import type { Operations } from "./operations";

/** What a caller may tune (tests, lab); the runtime fills in the rest. */
export type EventOptions = Pick<
  EventsConfig,
  "webhookPort" | "removeSchedulersOnStop" | "incidentPolicy" | "now" | "operations"
>;

export interface ClusterEventsOptions {
  inventory: InventoryConfig;
  logger: Logger;
  /** The lifecycle client: plain commands, like the card store's and the off-proofs'. */
  redis: EventsConfig["redis"];
  prefix: string;
  notifier: Notifier;
  groups: GroupDirectory;
  secretEnv: SecretEnv;
  access: ClusterAccess;
  queues: JobQueues;
  jobs: JobEnqueuer;
  operations: Pick<Operations, "approvals" | "locks" | "offProofs">;
  metrics: Metrics;
  audit: AuditRecorder;
  tuning?: EventOptions;
}

export function createClusterEvents(options: ClusterEventsOptions): Events {
  const { metrics, audit, operations } = options;
  return new Events({
    inventory: options.inventory,
    logger: options.logger,
    redis: options.redis,
    prefix: options.prefix,
    notifier: options.notifier,
    secretEnv: options.secretEnv,
    groups: options.groups,
    runnerFor: options.access.runnerFor,
    driversFor: options.access.driversFor,
    queues: options.queues,
    jobs: options.jobs,
    approvals: () => ({ engine: operations.approvals, locks: operations.locks }),
    onEvent: (kind) => metrics.event(kind),
    paging: {
      onPage: (service, action, result) => metrics.page(service, action, result),
      audit: (entry) => audit.record(entry),
    },
    // A proof that a node is off is void once the node is seen alive (src/operations/liveness.ts).
    onSnapshot: (state) => operations.offProofs.clearSeenAlive(state.cluster, state),
    onMonitorPass: (pass) => metrics.monitorPass(pass),
    ...options.tuning,
  });
}
