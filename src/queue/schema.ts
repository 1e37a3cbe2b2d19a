/**
 * Job names, payload schemas and per-job policy. To add a job (migrate, create, fence, evacuate, drbd-watch,
 * monitor): define its payload schema and add one entry to `JOBS`; `JobName`, `JobPayloads`, the parser and
 * the retry policy follow from it, and `startWorkers` then requires a processor for it.
 */
import { z } from "zod";
import { Name } from "../config/schema";
import { XenopsError } from "../errors";

/** Fields every user-requested job carries, so its worker can answer in the right place. */
const RequestFields = {
  /** Cluster the job acts on; must match the queue it was put on. */
  cluster: Name,
  /** Channel to answer in. */
  channel: z.string().min(1),
  /** Slack user ID (or console user) who asked. */
  requestedBy: z.string().min(1),
  /** The delivery that created the job (Slack trigger_id, console line id). */
  deliveryId: z.string().min(1),
  /** The command text as typed, for the record. */
  requestText: z.string().max(4_000),
};

export const StatusJob = z.object({
  ...RequestFields,
  /** A node or guest to focus on; null for the whole cluster. */
  target: Name.nullable(),
});
export type StatusJob = z.infer<typeof StatusJob>;

export interface JobSpec {
  payload: z.ZodType;
  /**
   * Whether the job changes the cluster. Mutating jobs run at most once (never retried, never re-run after
   * a worker crash); read-only jobs are retried with exponential backoff.
   */
  mutating: boolean;
}

/** The registry: one entry per job. */
export const JOBS = {
  status: { payload: StatusJob, mutating: false },
} as const satisfies Record<string, JobSpec>;

export type JobName = keyof typeof JOBS;
const jobNames = Object.keys(JOBS) as [JobName, ...JobName[]];
export const JobName = z.enum(jobNames);

export type JobPayloads = { [N in JobName]: z.infer<(typeof JOBS)[N]["payload"]> };

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name);
}

/** Validates a payload for `name`; throws XenopsError("invalid_argument") naming the bad fields. */
export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayloads[N] {
  if (!isJobName(name)) throw new XenopsError("invalid_argument", `unknown job "${String(name)}"`);
  const result = JOBS[name].payload.safeParse(data);
  if (!result.success) {
    const details = result.error.issues
      .map((i) => `${i.path.length ? i.path.join(".") : "(payload)"}: ${i.message}`)
      .join("; ");
    throw new XenopsError("invalid_argument", `invalid ${name} job payload: ${details}`, {
      cause: result.error,
    });
  }
  return result.data as JobPayloads[N];
}

/** The cluster a payload names, if its job has one. */
export function payloadCluster(data: unknown): string | undefined {
  if (typeof data !== "object" || data === null || !("cluster" in data)) return undefined;
  return typeof data.cluster === "string" ? data.cluster : undefined;
}

export interface RetryPolicy {
  attempts: number;
  backoff?: { type: "exponential"; delay: number };
}

/** Read-only jobs: 3 attempts, exponential backoff from `backoffMs` (1 s, 2 s). Mutating jobs: 1 attempt. */
export function retryPolicyFor(spec: Pick<JobSpec, "mutating">, backoffMs = 1_000): RetryPolicy {
  return spec.mutating
    ? { attempts: 1 }
    : { attempts: 3, backoff: { type: "exponential", delay: backoffMs } };
}

export function retryPolicy(name: JobName, backoffMs = 1_000): RetryPolicy {
  return retryPolicyFor(JOBS[name], backoffMs);
}
