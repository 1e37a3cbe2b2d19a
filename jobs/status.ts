/**
 * `status` job: snapshot the cluster over SSH and post the card. Read-only, so BullMQ may retry it.
 * The message is its JobCard (src/jobs-ui/card.ts): the "queued" card posted at enqueue time (when a
 * card store is given) becomes "collecting…", then the status card itself with the job's facts in a
 * footer. Its ts is remembered in the job data too, so a retry edits the same message.
 */
import type { Job } from "bullmq";
import type { Notifier } from "../src/app/types";
import { type ClusterDrivers, takeSnapshot } from "../src/cluster/snapshot";
import type { InventoryConfig } from "../src/config/schema";
import { XenopsError } from "../src/errors";
import type { CommandRunner } from "../src/exec/runner";
import { openJobCard } from "../src/jobs-ui/card";
import type { CardStore } from "../src/jobs-ui/card-store";
import { JobCancelled, JobControl } from "../src/jobs-ui/control";
import { describeJob } from "../src/jobs-ui/describe";
import type { Logger } from "../src/log";
import { userMention } from "../src/message/text";
import { isFinalFailure } from "../src/queue/retry";
import type { StatusJob } from "../src/queue/schema";
import { renderStatusCard } from "../src/slack/render/status";

export interface StatusJobDeps {
  inventory: InventoryConfig;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  notifier: Notifier;
  logger: Logger;
  /** Shares the card with the "queued" message posted at enqueue time. */
  cards?: CardStore;
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
    if (!cluster) throw new XenopsError("unknown_cluster", `unknown cluster "${data.cluster}"`);

    const card = openJobCard(job, deps, {
      title: describeJob("status", data),
      logger: log,
      // A status usually takes a second or two: edit the card once, with the result, unless it is slow.
      settleMs: 4_000,
      ...(data.messageTs ? { existing: { channel: data.channel, ts: data.messageTs } } : {}),
    });
    card.start(
      `:hourglass_flowing_sand: Collecting status of ${cluster.name}${data.target ? ` (${data.target})` : ""} for ${userMention(data.requestedBy)}…`,
    );
    const control = new JobControl(job, signal, card);
    let messageTs = data.messageTs ?? null;
    if (!messageTs)
      void card.ref().then(async (ref) => {
        if (ref?.ts) await job.updateData({ ...data, messageTs: ref.ts }).catch(() => {});
      });

    try {
      const state = await takeSnapshot(
        cluster,
        {
          runnerFor: (node) => deps.runnerFor(cluster.name, node),
          drivers: deps.driversFor(cluster.name),
          logger: log,
        },
        { signal: control.signal },
      );
      control.throwIfCancelled();
      const focus = data.target
        ? cluster.nodes.some((n) => n.name === data.target)
          ? { node: data.target }
          : { guest: data.target }
        : undefined;
      const statusCard = renderStatusCard(state, focus ? { focus } : undefined);
      await card.done(undefined, { message: statusCard.main });
      messageTs = (await card.ref())?.ts ?? null;
      if (messageTs) {
        for (const detail of statusCard.detail ?? [])
          await deps.notifier.post(data.channel, { ...detail, threadTs: messageTs });
        if (statusCard.detailText && deps.notifier.upload)
          await deps.notifier.upload(data.channel, {
            filename: `status-${cluster.name}.txt`,
            title: `Status of ${cluster.name}`,
            content: statusCard.detailText,
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
      if (err instanceof JobCancelled || control.cancelled) {
        await card.cancelled(control.cancelRequest?.by ?? null);
        throw err;
      }
      if (isFinalFailure(job, err, signal)) await card.failed(err);
      throw err;
    } finally {
      control.dispose();
    }
  };
}
