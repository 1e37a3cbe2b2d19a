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

/** `doctor`: read every node's configuration and post the checks (read-only, like status). */
export const DoctorJob = z.object({ ...RequestFields });
export type DoctorJob = z.infer<typeof DoctorJob>;

/**
 * `drbd-watch`: follow a DRBD resync and keep one message updated until the resource is in sync (see
 * jobs/drbd-watch.ts; `enqueueWatch` there queues one from other jobs or events).
 */
export const DrbdWatchJob = z.object({
  ...RequestFields,
  resource: Name,
  /** Warn when nothing progressed for this long (default from the worker's settings). */
  stallSeconds: z.number().int().positive().max(86_400).optional(),
  /** Give up after this long (default from the worker's settings). */
  timeoutSeconds: z
    .number()
    .int()
    .positive()
    .max(7 * 86_400)
    .optional(),
  /** Why it was started when no one typed the command (e.g. "resync after migrate of web1"). */
  reason: z.string().max(300).optional(),
});
export type DrbdWatchJob = z.infer<typeof DrbdWatchJob>;

/** `monitor`: one snapshot of a cluster turned into events; queued by a job scheduler per cluster. */
export const MonitorJob = z.object({
  cluster: Name,
  /** schedule: the scheduler; start: the run when the monitor starts; poke: a push source hinted at a change. */
  reason: z.enum(["schedule", "start", "poke"]).optional(),
});
export type MonitorJob = z.infer<typeof MonitorJob>;

/** `maintenance`: start or end a node's maintenance window (`durationMs` null ends it). */
export const MaintenanceJob = z.object({
  ...RequestFields,
  node: Name,
  durationMs: z
    .number()
    .int()
    .positive()
    .max(7 * 24 * 3_600_000)
    .nullable(),
  reason: z.string().max(200),
});
export type MaintenanceJob = z.infer<typeof MaintenanceJob>;

/**
 * `split-brain-plan`: plan the recovery of a split brain keeping `survivor`'s data, like an
 * `operation-plan` (jobs/split-brain.ts); posts the approval card in the incident's thread. The approved
 * plan runs as an `operation-execute` job.
 */
export const SplitBrainPlanJob = z.object({
  ...RequestFields,
  resource: Name,
  survivor: Name,
  victim: Name,
  /** Thread of the split-brain incident, where the approval card goes. */
  threadTs: z.string().max(40).nullable(),
});
export type SplitBrainPlanJob = z.infer<typeof SplitBrainPlanJob>;

/** Checks bypassed by a typed flag (`--override-ha`: the cluster manager manages the guest). */
const Overrides = z
  .array(z.enum(["ha"]))
  .max(4)
  .optional();

/** The risky operations: what to plan, as typed (the cluster is the payload's). */
export const OperationSpec = z.discriminatedUnion("action", [
  z.object({ action: z.literal("migrate"), guest: Name, target: Name, overrides: Overrides }),
  z.object({ action: z.literal("create"), guest: Name, node: Name.nullable(), overrides: Overrides }),
  z.object({
    action: z.literal("fence"),
    node: Name,
    /** `--override-last-copy R...`: fence even though NODE holds the only UpToDate copy of R. */
    overrideLastCopy: z.array(Name).min(1).max(64).optional(),
  }),
  z.object({ action: z.literal("evacuate"), node: Name, overrides: Overrides }),
  z.object({ action: z.literal("attest_off"), node: Name }),
  /** Keep `survivor`'s data of `resource`, discard `victim`'s (the split-brain card's buttons). */
  z.object({ action: z.literal("split_brain_recover"), resource: Name, survivor: Name, victim: Name }),
]);
export type OperationSpec = z.infer<typeof OperationSpec>;

const ApprovalId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

/**
 * `operation-plan`: read-only. Snapshot, preflight, plan; posts the refusal, the dry run, or
 * the approval request (jobs/operation-plan.ts).
 */
export const OperationPlanJob = z.object({
  ...RequestFields,
  operation: OperationSpec,
  dryRun: z.boolean(),
  /** The thread the refusal or the approval card goes in (an incident's), if any. */
  threadTs: z.string().max(40).nullable().optional(),
});
export type OperationPlanJob = z.infer<typeof OperationPlanJob>;

/** `operation-execute`: runs an approved plan exactly once (queued by the approval engine). */
export const OperationExecuteJob = z.object({
  ...RequestFields,
  approvalId: ApprovalId,
});
export type OperationExecuteJob = z.infer<typeof OperationExecuteJob>;

/** `approve`: `/xen approve ID TEXT`, an approval with its typed confirmation. */
export const ApproveJob = z.object({
  ...RequestFields,
  approvalId: ApprovalId,
  typed: z.string().max(200),
});
export type ApproveJob = z.infer<typeof ApproveJob>;

export interface JobSpec {
  payload: z.ZodType;
  /**
   * Whether the job changes the cluster. Mutating jobs run at most once (never retried, never re-run after
   * a worker crash); read-only jobs are retried with exponential backoff.
   */
  mutating: boolean;
  /**
   * The job keeps a JobCard (src/job-cards/card.ts): a "queued" card is posted when it is enqueued and the
   * processor's card then updates that same message.
   */
  card?: boolean;
}

/** The registry: one entry per job. */
export const JOBS = {
  status: { payload: StatusJob, mutating: false, card: true },
  doctor: { payload: DoctorJob, mutating: false, card: true },
  "drbd-watch": { payload: DrbdWatchJob, mutating: false, card: true },
  monitor: { payload: MonitorJob, mutating: false },
  maintenance: { payload: MaintenanceJob, mutating: false },
  "split-brain-plan": { payload: SplitBrainPlanJob, mutating: false },
  "operation-plan": { payload: OperationPlanJob, mutating: false },
  "operation-execute": { payload: OperationExecuteJob, mutating: true },
  approve: { payload: ApproveJob, mutating: true },
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
