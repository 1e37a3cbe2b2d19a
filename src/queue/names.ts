/** Queue names, job ids and the Redis keys xenops keeps beside BullMQ's (all under the BullMQ prefix). */
import { createHash } from "node:crypto";
import type { JobName } from "./schema";

export function queueName(cluster: string): string {
  return `xenops-${cluster}`;
}

/**
 * The job id of a delivery: the same (cluster, job, delivery) always gives the same id, so a Slack retry or a
 * double submit finds the job already there. Never an integer and never a ':' (BullMQ rejects both).
 */
export function deriveJobId(cluster: string, name: JobName, deliveryId: string): string {
  const digest = createHash("sha256").update(`${cluster}\n${name}\n${deliveryId}`).digest("hex");
  return `${name}-${digest.slice(0, 32)}`;
}

export const xenopsKeys = (prefix: string) => ({
  /** INCR counter behind the human job numbers. */
  sequence: `${prefix}:xenops:seq`,
  /** Hash per job id: number, cluster, name, state ("pending" until BullMQ has it, then "added"). */
  job: (jobId: string) => `${prefix}:xenops:job:${jobId}`,
  /** Key prefix of the hash per job number: jobId, cluster, name. */
  numberPrefix: `${prefix}:xenops:num:`,
  number: (n: number) => `${prefix}:xenops:num:${n}`,
  /** Pub/sub channel for cancel requests to workers. */
  cancelChannel: `${prefix}:xenops:cancel`,
});
