/**
 * `status` job: snapshot the cluster over SSH and post the card. Read-only, so BullMQ may retry it;
 * the placeholder message is remembered in the job data so a retry edits the same message.
 */
import { type Job, UnrecoverableError } from "bullmq";
import type { Notifier } from "../src/app/types";
import { type ClusterDrivers, takeSnapshot } from "../src/cluster/snapshot";
import type { InventoryConfig } from "../src/config/schema";
import { errorMessage } from "../src/errors";
import type { CommandRunner } from "../src/exec/runner";
import type { Logger } from "../src/log";
import type { StatusJob } from "../src/queue/schema";
import { renderStatusCard } from "../src/slack/render/status";

export interface StatusJobDeps {
  inventory: InventoryConfig;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  notifier: Notifier;
  logger: Logger;
}

export interface StatusJobResult {
  cluster: string;
  nodes: number;
  unreachable: string[];
  warnings: number;
  messageTs: string | null;
}

type StatusJobData = StatusJob & { messageTs?: string };

export function createStatusProcessor(deps: StatusJobDeps) {
  return async function statusProcessor(
    job: Job<StatusJobData>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<StatusJobResult> {
    const { data } = job;
    const log = deps.logger.child({ jobId: job.id, user: data.requestedBy, cluster: data.cluster });
    const cluster = deps.inventory.clusters.find((c) => c.name === data.cluster);
    if (!cluster) throw new UnrecoverableError(`unknown cluster "${data.cluster}"`);

    let messageTs = data.messageTs ?? null;
    if (!messageTs) {
      const ref = await deps.notifier.post(data.channel, {
        text: `:hourglass_flowing_sand: Collecting status of ${cluster.name}${data.target ? ` (${data.target})` : ""} for <@${data.requestedBy}>…`,
      });
      messageTs = ref?.ts ?? null;
      if (messageTs) await job.updateData({ ...data, messageTs });
    }

    try {
      const state = await takeSnapshot(
        cluster,
        {
          runnerFor: (node) => deps.runnerFor(cluster.name, node),
          drivers: deps.driversFor(cluster.name),
          logger: log,
        },
        { signal },
      );
      const focus = data.target
        ? cluster.nodes.some((n) => n.name === data.target)
          ? { node: data.target }
          : { guest: data.target }
        : undefined;
      const card = renderStatusCard(state, focus ? { focus } : undefined);
      if (messageTs) await deps.notifier.update({ channel: data.channel, ts: messageTs }, card.main);
      else messageTs = (await deps.notifier.post(data.channel, card.main))?.ts ?? null;
      if (messageTs) {
        for (const detail of card.detail ?? [])
          await deps.notifier.post(data.channel, { ...detail, threadTs: messageTs });
        if (card.detailText && deps.notifier.upload)
          await deps.notifier.upload(data.channel, {
            filename: `status-${cluster.name}.txt`,
            title: `Status of ${cluster.name}`,
            content: card.detailText,
            threadTs: messageTs,
          });
      }
      const unreachable = state.nodes.filter((n) => !n.reachable).map((n) => n.name);
      log.info({ warnings: state.warnings.length, unreachable: unreachable.length }, "status card posted");
      return {
        cluster: cluster.name,
        nodes: state.nodes.length,
        unreachable,
        warnings: state.warnings.length,
        messageTs,
      };
    } catch (err) {
      const attempts = job.opts.attempts ?? 1;
      const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= attempts || signal?.aborted;
      if (final && messageTs)
        await deps.notifier.update(
          { channel: data.channel, ts: messageTs },
          { text: `:x: Status of ${cluster.name} failed: ${errorMessage(err)}` },
        );
      throw err;
    }
  };
}
