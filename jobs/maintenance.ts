/**
 * `maintenance` job: starts or ends a node's maintenance window (src/events/maintenance.ts) and says
 * so in the channel. Ending it lets the event pipeline post what it held back meanwhile.
 */
import type { Job } from "bullmq";
import { UnrecoverableError } from "bullmq";
import type { Notifier } from "../src/chat/types";
import type { InventoryConfig } from "../src/config/schema";
import type { MaintenanceStore } from "../src/events/maintenance";
import { renderMaintenanceEnded, renderMaintenanceStarted } from "../src/events/maintenance-render";
import type { EventPipeline } from "../src/events/pipeline";
import type { Logger } from "../src/log";
import type { MaintenanceJob } from "../src/queue/schema";

export interface MaintenanceJobDeps {
  inventory: InventoryConfig;
  maintenance: MaintenanceStore;
  pipeline: EventPipeline;
  notifier: Notifier;
  logger: Logger;
}

export function createMaintenanceProcessor(deps: MaintenanceJobDeps) {
  return async function maintenanceProcessor(
    job: Job<MaintenanceJob>,
  ): Promise<{ node: string; until: string | null }> {
    const d = job.data;
    if (!deps.inventory.clusters.some((c) => c.name === d.cluster && c.nodes.some((n) => n.name === d.node)))
      throw new UnrecoverableError(`unknown node ${d.node} in ${d.cluster}`);
    if (d.durationMs === null) {
      const ended = await deps.maintenance.end(d.cluster, d.node);
      await deps.notifier.post(
        d.channel,
        renderMaintenanceEnded({
          cluster: d.cluster,
          node: d.node,
          requestedBy: d.requestedBy,
          ended: ended !== null,
        }),
      );
      await deps.pipeline
        .flush(d.cluster)
        .catch((err: unknown) => deps.logger.warn({ err }, "flush after maintenance failed"));
      return { node: d.node, until: null };
    }
    const w = await deps.maintenance.set(
      { cluster: d.cluster, node: d.node, by: d.requestedBy, reason: d.reason },
      d.durationMs,
    );
    await deps.notifier.post(
      d.channel,
      renderMaintenanceStarted({
        cluster: d.cluster,
        node: d.node,
        durationMs: d.durationMs,
        until: w.until,
        requestedBy: d.requestedBy,
        reason: d.reason,
      }),
    );
    return { node: d.node, until: w.until };
  };
}
