/**
 * The command core every front end calls: the verbs, the job admin (`/xen jobs`, cancel, history), and the
 * button handlers (the front end's own, cancel, incidents, on-call, approvals). Each command's outcome is
 * recorded in the audit trail with the job its delivery queued.
 */
import { type ApprovalEngine, approvalActionHandler } from "../approval/engine";
import { commandAuditEntry, type DeliveryJobs } from "../audit/command-entry";
import type { AuditRecorder } from "../audit/recorder";
import type { JobEnqueuer } from "../chat/enqueuer";
import type { JobAdmin } from "../chat/job-admin";
import { type ActionHandler, createCommandCore } from "../chat/router";
import type { CommandSpec } from "../chat/spec";
import type { CommandCore, GroupDirectory, Notifier } from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import type { Events } from "../events";
import { createCancelAction, createJobAdmin } from "../job-cards/admin";
import type { CardStore } from "../job-cards/card-store";
import type { Logger } from "../log";
import type { JobQueues } from "../queue/queues";

export interface CommandCoreOptions {
  inventory: InventoryConfig;
  logger: Logger;
  /** The verbs (commands/index.ts, passed in by the root). */
  commands: readonly CommandSpec[];
  queues: JobQueues;
  jobs: JobEnqueuer;
  queuedBy: DeliveryJobs;
  groups: GroupDirectory;
  notifier: Notifier;
  cards: CardStore;
  audit: AuditRecorder;
  /** Whether an audit file is kept: without one `/xen history` says so. */
  audited: boolean;
  events: Events;
  approvals: ApprovalEngine;
  /** The front end's own button handlers, tried first. */
  actions?: readonly ActionHandler[] | undefined;
}

export function createCore(options: CommandCoreOptions): { core: CommandCore; jobAdmin: JobAdmin } {
  const { inventory, logger, audit, events } = options;
  const jobAdmin = createJobAdmin({
    jobs: options.queues,
    inventory,
    groups: options.groups,
    notifier: options.notifier,
    cards: options.cards,
    audit: (entry) => audit.record(entry),
    ...(options.audited ? { history: (n: number) => audit.recent(n) } : {}),
    logger,
  });
  const core = createCommandCore({
    inventory,
    commands: options.commands,
    jobs: options.jobs,
    groups: options.groups,
    logger: logger.child({ component: "core" }),
    actions: [
      ...(options.actions ?? []),
      createCancelAction(jobAdmin),
      events.actionHandler,
      events.oncall.actionHandler(),
      approvalActionHandler(options.approvals),
    ],
    jobAdmin,
    onCommand: (event) =>
      audit.record(commandAuditEntry(event, options.queuedBy.take(event.request.deliveryId))),
  });
  return { core, jobAdmin };
}
