/**
 * What createDeps wraps around every processor and every CommandRunner, so jobs need not do it
 * themselves:
 *   - the job context (./job-context): log lines carry job id, number and Slack user; commands are counted;
 *   - metrics: jobs by name and outcome with durations; SSH latency per cluster/node;
 *   - the audit record of each job outcome: who asked, the command text, the parameters, the plan (or the
 *     commands run), exit codes, durations, host-key fingerprints of the nodes touched, state hash.
 *
 * Jobs whose payload has no `requestedBy` (scheduled system jobs such as the monitor) get metrics and
 * log context but no audit record.
 *
 * A processor may refine its record by returning `{ outcome?, summary?, audit? }` (JobOutcomeMeta):
 * `outcome` is a short label from code ("in_sync", "timeout", "standalone"), `audit` carries the approved
 * plan, its exit codes and the state hash when it has them.
 */
import type { Job } from "bullmq";
import type { AuditEntryInput, AuditOutcome, AuditPlanStep } from "../audit/schema";
import type { CommandRunner } from "../command-runner";
import type { InventoryConfig } from "../config/schema";
import { ExecError, errorCode, errorMessage } from "../errors";
import { cancelledBy, JobCancelled, pointOfNoReturnOf } from "../job-cards/control";
import type { Logger } from "../log";
import { isFinalFailure } from "../queue/retry";
import type { JobName } from "../queue/schema";
import type { JobProcessor } from "../queue/worker";
import { parseHostKeyPin } from "../ssh/hostkey";
import { type JobContext, recordCommand, runInJob } from "./job-context";
import type { Metrics } from "./metrics";

export interface JobAuditDetails {
  plan?: AuditPlanStep[];
  exitCodes?: (number | null)[];
  stepDurationsMs?: number[];
  stateHash?: string;
  /** Nodes touched, when the commands run do not say it all. */
  nodes?: string[];
}

/** What a processor may return besides its own result fields. */
export interface JobOutcomeMeta {
  /** Short label from code: "in_sync", "timeout", "standalone"... (metrics label and audit outcome). */
  outcome?: string;
  summary?: string;
  audit?: JobAuditDetails;
}

export interface InstrumentDeps {
  inventory: InventoryConfig;
  metrics?: Metrics;
  audit?: (entry: AuditEntryInput) => void;
  /** The human number of a job id. */
  jobNumber?: (jobId: string) => Promise<number | null>;
  logger: Logger;
}

/** Fields every request payload has; the rest are the job's parameters. */
const REQUEST_FIELDS = new Set([
  "cluster",
  "channel",
  "requestedBy",
  "deliveryId",
  "requestText",
  "messageTs",
  "pointOfNoReturn",
]);

const TIMEOUT_OUTCOMES = new Set(["timeout", "gave_up"]);
const OK_OUTCOMES = new Set(["completed", "ok", "in_sync", "done"]);

function auditOutcome(label: string): AuditOutcome {
  if (OK_OUTCOMES.has(label)) return "ok";
  if (TIMEOUT_OUTCOMES.has(label)) return "timeout";
  if (label === "cancelled") return "cancelled";
  return "failed";
}

/** Host-key fingerprints of these nodes, from the inventory's pins. */
export function hostKeysOf(
  inventory: InventoryConfig,
  cluster: string | null,
  nodes: Iterable<string>,
): Record<string, string> {
  const config = inventory.clusters.find((c) => c.name === cluster);
  const keys: Record<string, string> = {};
  if (!config) return keys;
  for (const name of nodes) {
    const node = config.nodes.find((n) => n.name === name);
    if (!node) continue;
    try {
      keys[name] = parseHostKeyPin(node.hostKey).fingerprint;
    } catch {
      // An unreadable pin never reaches a connection; nothing to record.
    }
  }
  return keys;
}

function metaOf(result: unknown): JobOutcomeMeta {
  if (typeof result !== "object" || result === null) return {};
  const r = result as Record<string, unknown>;
  return {
    ...(typeof r.outcome === "string" ? { outcome: r.outcome } : {}),
    ...(typeof r.summary === "string" ? { summary: r.summary } : {}),
    ...(typeof r.audit === "object" && r.audit !== null ? { audit: r.audit as JobAuditDetails } : {}),
  };
}

function parametersOf(data: unknown): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  if (typeof data !== "object" || data === null) return params;
  for (const [k, v] of Object.entries(data)) if (!REQUEST_FIELDS.has(k)) params[k] = v;
  return params;
}

/** Wraps a processor with the job context, metrics and the outcome's audit record. */
export function instrumentProcessor<N extends JobName>(
  name: N,
  processor: JobProcessor<N>,
  deps: InstrumentDeps,
): JobProcessor<N> {
  // Three declared parameters: BullMQ only creates abort signals for processors of length >= 3.
  return async (job: Job, token: string | undefined, signal: AbortSignal | undefined) => {
    const data = job.data as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" ? v : null);
    const started = performance.now();
    const ctx: JobContext = {
      jobId: job.id ?? "unknown",
      jobNumber: job.id && deps.jobNumber ? await deps.jobNumber(job.id).catch(() => null) : null,
      name,
      cluster: str(data.cluster),
      user: str(data.requestedBy),
      commands: new Map(),
      commandCount: 0,
    };
    const finish = (label: string, meta: JobOutcomeMeta, err?: unknown) => {
      const ms = performance.now() - started;
      deps.metrics?.jobFinished(name, label, ms / 1000);
      // Jobs nobody asked for (the monitor's periodic runs) are counted, not audited: they would bury
      // the record of what people did. Jobs xenops queues on someone's behalf carry requestedBy.
      if (label === "retried" || !deps.audit || ctx.user === null) return;
      const commands = [...ctx.commands.values()];
      const a = meta.audit ?? {};
      const plan = a.plan ?? commands.map((c) => ({ node: c.node, argv: c.argv }));
      const nodes = new Set([...(a.nodes ?? []), ...plan.map((p) => p.node)]);
      const marker = pointOfNoReturnOf(job.data);
      const outcome = auditOutcome(label);
      const entry: AuditEntryInput = {
        kind: outcome === "cancelled" ? "job_cancelled" : "job_finished",
        actor: ctx.user ?? "system",
        ...(ctx.cluster ? { cluster: ctx.cluster } : {}),
        ...(str(data.requestText) !== null ? { command: `/xen ${str(data.requestText) as string}` } : {}),
        parameters: {
          job: name,
          ...parametersOf(data),
          attempt: job.attemptsMade + 1,
          commandsRun: ctx.commandCount,
          ...(label !== outcome ? { result: label } : {}),
          ...(meta.summary ? { summary: meta.summary } : {}),
          ...(marker ? { pointOfNoReturn: marker.reason } : {}),
          ...(outcome === "cancelled" ? { cancelledBy: cancelledBy(signal?.reason) ?? "unknown" } : {}),
        },
        ...(plan.length > 0 ? { plan } : {}),
        ...(a.exitCodes
          ? { exitCodes: a.exitCodes }
          : plan.length > 0 && !a.plan
            ? { exitCodes: commands.map((c) => c.exitCode) }
            : {}),
        ...(a.stepDurationsMs
          ? { stepDurationsMs: a.stepDurationsMs }
          : plan.length > 0 && !a.plan
            ? { stepDurationsMs: commands.map((c) => Math.round(c.durationMs)) }
            : {}),
        ...(a.stateHash ? { stateHash: a.stateHash } : {}),
        hostKeys: hostKeysOf(deps.inventory, ctx.cluster, nodes),
        durationMs: Math.round(ms),
        outcome,
        ...(err !== undefined && outcome !== "cancelled"
          ? { error: { code: errorCode(err), message: errorMessage(err).slice(0, 1000) } }
          : {}),
        ...(job.id ? { jobId: job.id } : {}),
        ...(ctx.jobNumber !== null ? { jobNumber: ctx.jobNumber } : {}),
      };
      deps.audit(entry);
    };
    try {
      const result = await runInJob(ctx, () => processor(job as Job<never>, token, signal));
      const meta = metaOf(result);
      finish(meta.outcome ?? "completed", meta);
      return result;
    } catch (err) {
      const cancelled = signal?.aborted === true || err instanceof JobCancelled;
      const final = cancelled || isFinalFailure(job, err, signal);
      finish(cancelled ? "cancelled" : final ? "failed" : "retried", {}, err);
      throw err;
    }
  };
}

/**
 * A runner that times each command (SSH latency per node) and records it for the running job's audit
 * record. Streams pass through untimed (they last as long as the job wants).
 */
export function observeRunner(
  runner: CommandRunner,
  cluster: string,
  onCommand?: (cluster: string, node: string, seconds: number, ok: boolean) => void,
): CommandRunner {
  const report = (argv: readonly string[], started: number, exitCode: number | null, ok: boolean) => {
    const ms = performance.now() - started;
    recordCommand(runner.node, argv, exitCode, ms);
    onCommand?.(cluster, runner.node, ms / 1000, ok);
  };
  const observed: CommandRunner = {
    node: runner.node,
    async run(argv, options) {
      const started = performance.now();
      try {
        const result = await runner.run(argv, options);
        report(argv, started, result.exitCode, true);
        return result;
      } catch (err) {
        report(argv, started, err instanceof ExecError ? err.exitCode : null, false);
        throw err;
      }
    },
  };
  const batch = runner.runBatch?.bind(runner);
  if (batch) {
    // A batch is one exec, but each of its commands is recorded and timed as if run alone (the
    // batch's time for each), so the audit and the metrics list what ran.
    observed.runBatch = async (commands, options) => {
      const started = performance.now();
      const outcomes = await batch(commands, options);
      outcomes.forEach((o, i) => {
        const argv = commands[i]?.argv ?? [];
        if (o.ok) report(argv, started, o.result.exitCode, true);
        else report(argv, started, o.error instanceof ExecError ? o.error.exitCode : null, false);
      });
      return outcomes;
    };
  }
  if (runner.stream) observed.stream = runner.stream.bind(runner);
  return observed;
}

/** instrumentProcessor over every entry of a processors map (whatever jobs it holds). */
export function instrumentProcessors<P extends object>(processors: P, deps: InstrumentDeps): P {
  const out: Record<string, unknown> = {};
  for (const [name, processor] of Object.entries(processors))
    out[name] = instrumentProcessor(name as JobName, processor as JobProcessor<JobName>, deps);
  return out as P;
}
