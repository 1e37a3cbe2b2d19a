/**
 * The monitor runs the doctor's checks every `monitor.doctorEvery` (default 24h, `off` never) and
 * opens a warning incident for each check that passed last time and fails now. The last statuses live
 * in Redis (`{prefix}:doctor:{cluster}:last`), so a restart does not forget them; a key with the
 * interval as its TTL (`...:due`) is the schedule, claimed with SET NX so two workers never run it twice.
 *
 * The monitor's runs never query the fence device (serial APC units hold the line heartbeat needs):
 * that query is made only by a doctor someone asked for.
 */
import type { Redis } from "ioredis";
import type { CommandRunner } from "../command-runner";
import type { ClusterConfig } from "../config/schema";
import type { SecretEnv } from "../config/secrets";
import type { ClusterEvent } from "../events/types";
import type { Logger } from "../log";
import { resultKey, runDoctor } from "./run";
import type { CheckResult, CheckStatus, DoctorReport } from "./types";

export const DEFAULT_DOCTOR_EVERY = "24h";

/** Nodes the background doctor reads at a time: a large cluster's run spread out, a pair's unchanged. */
const BACKGROUND_NODES_AT_ONCE = 8;

/** `monitor.doctorEvery` in ms; null when off. */
export function doctorEveryMs(cluster: ClusterConfig): number | null {
  const every = cluster.monitor?.doctorEvery ?? DEFAULT_DOCTOR_EVERY;
  if (every === "off") return null;
  const m = /^(\d+)(m|h|d)$/.exec(every);
  if (!m) return null;
  const unit = m[2] === "m" ? 60_000 : m[2] === "h" ? 3_600_000 : 86_400_000;
  return Number(m[1]) * unit;
}

/** Checks that passed in `previous` and fail in `report` (a check never seen before is not a regression). */
export function regressions(previous: Readonly<Record<string, string>>, report: DoctorReport): CheckResult[] {
  return report.results.filter((r) => r.status === "fail" && previous[resultKey(r)] === "pass");
}

/** The incident for one regression: the check's summary, evidence and fix. */
export function regressionEvent(cluster: string, r: CheckResult, at: number): ClusterEvent {
  return {
    cluster,
    kind: "config_check_failed",
    family: "config",
    severity: "warning",
    subject: resultKey(r),
    node: null,
    title: `Configuration check ${r.id}${r.subject ? ` (${r.subject})` : ""} passed before and fails now: ${r.summary}`,
    ...(r.fix ? { detail: `Fix: ${r.fix}` } : {}),
    evidence: r.evidence.flatMap((e) => e.lines.map((l) => `${e.node}: ${l}`)).slice(0, 40),
    source: "job",
    at: new Date(at).toISOString(),
  };
}

export interface DoctorRunsDeps {
  redis: Redis;
  prefix: string;
  runnerFor(cluster: string, node: string): CommandRunner;
  secretEnv: SecretEnv;
  logger: Logger;
  /** Where the incidents go (the event pipeline's report). */
  report(event: ClusterEvent): Promise<unknown>;
  now?: () => number;
}

export interface DoctorRunOutcome {
  ran: boolean;
  regressions: CheckResult[];
  counts?: Record<CheckStatus, number>;
}

export class DoctorRuns {
  private readonly running = new Set<Promise<DoctorRunOutcome>>();

  constructor(private readonly deps: DoctorRunsDeps) {}

  /** Starts a run when due without waiting for it (the monitor's poll must not wait on it). */
  start(cluster: ClusterConfig): void {
    const run = this.maybeRun(cluster);
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Waits for the runs in progress (at shutdown, before SSH and Redis close). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private key(cluster: string, what: "last" | "due"): string {
    return `${this.deps.prefix}:doctor:${cluster}:${what}`;
  }

  /** Runs the checks when due; reports every check that went from pass to fail. Never throws. */
  async maybeRun(cluster: ClusterConfig, signal?: AbortSignal): Promise<DoctorRunOutcome> {
    const every = doctorEveryMs(cluster);
    if (every === null) return { ran: false, regressions: [] };
    const log = this.deps.logger.child({ cluster: cluster.name, component: "doctor" });
    const { redis } = this.deps;
    const now = this.deps.now ?? Date.now;
    try {
      const claimed = await redis.set(this.key(cluster.name, "due"), String(now()), "PX", every, "NX");
      if (claimed !== "OK") return { ran: false, regressions: [] };
      const report = await runDoctor(
        cluster,
        { runnerFor: (node) => this.deps.runnerFor(cluster.name, node), secretEnv: this.deps.secretEnv, now },
        {
          queryFence: false,
          timeoutMs: cluster.commandTimeoutMs,
          nodesAtOnce: BACKGROUND_NODES_AT_ONCE,
          ...(signal ? { signal } : {}),
        },
      );
      const previous = await redis.hgetall(this.key(cluster.name, "last"));
      const found = regressions(previous, report);
      const statuses = Object.fromEntries(report.results.map((r) => [resultKey(r), r.status]));
      const last = this.key(cluster.name, "last");
      await redis.multi().del(last).hset(last, statuses).exec();
      for (const r of found) await this.deps.report(regressionEvent(cluster.name, r, now()));
      log.info({ ...report.counts, regressions: found.length }, "doctor run by the monitor");
      return { ran: true, regressions: found, counts: report.counts };
    } catch (err) {
      log.warn({ err }, "doctor run by the monitor failed");
      // Try again at the next monitor run rather than a whole interval later.
      await redis.del(this.key(cluster.name, "due")).catch(() => {});
      return { ran: false, regressions: [] };
    }
  }
}

type MonitorJobLike = { data: { cluster: string; reason?: string } };

/**
 * Wraps the monitor's processor: after each monitor run, the doctor's checks when due, in the
 * background. Not on the run at start (the workers have enough to do then): the next poll starts it.
 */
export function withDoctorRuns<P extends { monitor: (...args: never[]) => Promise<unknown> }>(
  processors: P,
  runs: DoctorRuns,
  clusterOf: (name: string) => ClusterConfig | undefined,
): P {
  const monitor = processors.monitor as unknown as (
    job: MonitorJobLike,
    token?: string,
    signal?: AbortSignal,
  ) => Promise<unknown>;
  const wrapped = async (job: MonitorJobLike, token?: string, signal?: AbortSignal) => {
    const result = await monitor(job, token, signal);
    const cluster = clusterOf(job.data.cluster);
    if (cluster && job.data.reason !== "start") runs.start(cluster);
    return result;
  };
  return { ...processors, monitor: wrapped as unknown as P["monitor"] };
}
