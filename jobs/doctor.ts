/**
 * `doctor` job: read every node's configuration (read-only; one fence-device status query) and post
 * the doctor's card: failing and warning checks first, by area, with evidence and fixes. Read-only, so
 * BullMQ may retry it. Long evidence is attached to the card's thread as a file, like job logs.
 */
import type { Job } from "bullmq";
import type { Notifier } from "../src/app/types";
import type { InventoryConfig } from "../src/config/schema";
import type { SecretEnv } from "../src/config/secrets";
import { renderDoctorCard } from "../src/doctor/render";
import { runDoctor } from "../src/doctor/run";
import { XenopsError } from "../src/errors";
import type { CommandRunner } from "../src/exec/runner";
import { openJobCard } from "../src/jobs-ui/card";
import type { CardStore } from "../src/jobs-ui/card-store";
import { JobCancelled, JobControl } from "../src/jobs-ui/control";
import { describeJob } from "../src/jobs-ui/describe";
import type { Logger } from "../src/log";
import { userMention } from "../src/message/text";
import { isFinalFailure } from "../src/queue/retry";
import type { DoctorJob } from "../src/queue/schema";

export interface DoctorJobDeps {
  inventory: InventoryConfig;
  runnerFor(cluster: string, node: string): CommandRunner;
  notifier: Notifier;
  logger: Logger;
  secretEnv: SecretEnv;
  cards?: CardStore;
}

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
    const log = deps.logger.child({ jobId: job.id, user: data.requestedBy, cluster: data.cluster });
    const cluster = deps.inventory.clusters.find((c) => c.name === data.cluster);
    if (!cluster) throw new XenopsError("unknown_cluster", `unknown cluster "${data.cluster}"`);
    const card = openJobCard(job, deps, {
      title: describeJob("doctor", data),
      logger: log,
      settleMs: 4_000,
      ...(data.messageTs ? { existing: { channel: data.channel, ts: data.messageTs } } : {}),
    });
    card.start(
      `:stethoscope: Reading the configuration of every node of ${cluster.name} for ${userMention(data.requestedBy)}…`,
    );
    const control = new JobControl(job, signal, card);
    if (!data.messageTs)
      void card.ref().then(async (ref) => {
        if (ref?.ts) await job.updateData({ ...data, messageTs: ref.ts }).catch(() => {});
      });
    try {
      const report = await runDoctor(
        cluster,
        { runnerFor: (node) => deps.runnerFor(cluster.name, node), secretEnv: deps.secretEnv },
        { signal: control.signal, timeoutMs: cluster.commandTimeoutMs },
      );
      control.throwIfCancelled();
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
