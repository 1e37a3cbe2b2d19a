/**
 * `doctor` job: read every node's configuration (read-only; one fence-device status query) and post
 * the doctor's card: failing and warning checks first, by area, with evidence and fixes. Read-only, so
 * BullMQ may retry it. Long evidence is attached to the card's thread as a file, like job logs.
 */
import type { Job } from "bullmq";
import { renderDoctorCard } from "../src/doctor/render";
import { runDoctor } from "../src/doctor/run";
import { userMention } from "../src/message/text";
import type { DoctorJob } from "../src/queue/schema";
import { type CardJobDeps, runCardJob } from "./card-job";
import type { JobDeps } from "./types";

export type DoctorJobDeps = CardJobDeps & Pick<JobDeps, "runnerFor" | "secretEnv">;

export interface DoctorJobResult {
  cluster: string;
  pass: number;
  warn: number;
  fail: number;
  messageTs: string | null;
}

type DoctorJobData = DoctorJob & { messageTs?: string };

export function createDoctorProcessor(deps: DoctorJobDeps) {
  return async function doctorProcessor(
    job: Job<DoctorJobData>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<DoctorJobResult> {
    const { data } = job;
    return runCardJob(deps, job, signal, {
      name: "doctor",
      starting: (cluster) =>
        `:stethoscope: Reading the configuration of every node of ${cluster.name} for ${userMention(data.requestedBy)}…`,
      async run({ cluster, log, signal: cancelled, throwIfCancelled, card }) {
        const report = await runDoctor(
          cluster,
          { runnerFor: (node) => deps.runnerFor(cluster.name, node), secretEnv: deps.secretEnv },
          { signal: cancelled, timeoutMs: cluster.commandTimeoutMs },
        );
        throwIfCancelled();
        const rendered = renderDoctorCard(report);
        await card.done(undefined, { message: rendered.main });
        const messageTs = (await card.ref())?.ts ?? null;
        if (messageTs && rendered.detailText && deps.notifier.upload)
          await deps.notifier.upload(data.channel, {
            filename: `doctor-${cluster.name}.txt`,
            title: `Doctor of ${cluster.name}`,
            content: rendered.detailText,
            threadTs: messageTs,
          });
        log.info({ ...report.counts }, "doctor card posted");
        return { cluster: cluster.name, ...report.counts, messageTs };
      },
    });
  };
}
