/** The audit record of a command (or its refusal), with the job it queued. */

import type { CommandEvent } from "../chat/router";
import type { AuditEntryInput } from "./schema";

export interface QueuedBy {
  jobId: string;
  number: number;
  cluster: string;
}

/**
 * Remembers which job each delivery queued, so the command's audit record names it. Entries are taken
 * once; the map stays small even if a handler queues without its command being reported.
 */
export class DeliveryJobs {
  private readonly byDelivery = new Map<string, QueuedBy>();

  constructor(private readonly max = 1_000) {}

  remember(deliveryId: string, job: QueuedBy): void {
    if (this.byDelivery.size >= this.max) {
      const oldest = this.byDelivery.keys().next().value;
      if (oldest !== undefined) this.byDelivery.delete(oldest);
    }
    this.byDelivery.set(deliveryId, job);
  }

  take(deliveryId: string): QueuedBy | undefined {
    const job = this.byDelivery.get(deliveryId);
    this.byDelivery.delete(deliveryId);
    return job;
  }
}

const REFUSALS = new Set<CommandEvent["outcome"]>(["refused", "usage", "unknown_verb", "too_long"]);

export function commandAuditEntry(event: CommandEvent, job?: QueuedBy): AuditEntryInput {
  const { request } = event;
  const args =
    typeof event.parameters === "object" && event.parameters !== null && !Array.isArray(event.parameters)
      ? (event.parameters as Record<string, unknown>)
      : event.parameters === undefined || event.parameters === null
        ? {}
        : { args: event.parameters };
  const cluster = job?.cluster ?? (typeof args.cluster === "string" ? args.cluster : undefined);
  const refused = REFUSALS.has(event.outcome);
  return {
    kind: refused ? "refusal" : "command",
    actor: request.userId,
    ...(cluster ? { cluster } : {}),
    command: `/xen ${request.text}`.slice(0, 600),
    parameters: {
      ...(event.verb ? { verb: event.verb } : {}),
      ...(event.role ? { role: event.role } : {}),
      source: request.source,
      channel: request.channelId,
      deliveryId: request.deliveryId,
      ...(refused ? { reason: event.outcome } : {}),
      ...args,
    },
    outcome: refused ? "refused" : event.outcome === "failed" ? "failed" : "ok",
    ...(event.error ? { error: event.error } : {}),
    ...(job ? { jobId: job.jobId, jobNumber: job.number } : {}),
  };
}
