/**
 * `status` job: snapshot the cluster over SSH and post the card. Read-only, so BullMQ may retry it.
 * The message is its JobCard (src/job-cards/card.ts): the "queued" card posted at enqueue time (when a
 * card store is given) becomes "collecting…", then the status card itself with the job's facts in a
 * footer. Its ts is remembered in the job data too, so a retry edits the same message.
 */
import type { Job } from "bullmq";
import { takeSnapshot } from "../src/cluster/snapshot";
import { renderStatusCard } from "../src/cluster/status-card";
import { userMention } from "../src/message/text";
import type { StatusJob } from "../src/queue/schema";
import { type CardJobDeps, runCardJob } from "./card-job";
import type { JobDeps } from "./types";

export type StatusJobDeps = CardJobDeps & Pick<JobDeps, "runnerFor" | "driversFor">;

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
    return runCardJob(deps, job, signal, {
      name: "status",
      starting: (cluster) =>
        `:hourglass_flowing_sand: Collecting status of ${cluster.name}${data.target ? ` (${data.target})` : ""} for ${userMention(data.requestedBy)}…`,
      async run({ cluster, log, signal: cancelled, throwIfCancelled, card }) {
        // The snapshot is read in a function of its own so that only the card and a few counts outlive
        // it: the posts below may wait seconds on Slack's pacing, and a 100-node snapshot is megabytes.
        const { statusCard, nodes, unreachable, warnings } = await (async () => {
          const state = await takeSnapshot(
            cluster,
            {
              runnerFor: (node) => deps.runnerFor(cluster.name, node),
              drivers: deps.driversFor(cluster.name),
              logger: log,
            },
            { signal: cancelled },
          );
          throwIfCancelled();
          const focus = data.target
            ? cluster.nodes.some((n) => n.name === data.target)
              ? { node: data.target }
              : { guest: data.target }
            : undefined;
          return {
            statusCard: renderStatusCard(state, focus ? { focus } : undefined),
            nodes: state.nodes.length,
            unreachable: state.nodes.filter((n) => !n.reachable).map((n) => n.name),
            warnings: state.warnings.length,
          };
        })();
        await card.done(undefined, { message: statusCard.main });
        const messageTs = (await card.ref())?.ts ?? null;
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
        log.info({ warnings, unreachable: unreachable.length }, "status card posted");
        return { cluster: cluster.name, nodes, unreachable, warnings, messageTs };
      },
    });
  };
}
