/**
 * The monitor: a BullMQ job scheduler per cluster (every `monitor.intervalMs`, 10 s by default) whose
 * jobs snapshot the cluster and hand the state to the event pipeline. One extra run is queued when
 * the monitor starts (what changed while the bot was down is reported at once) and whenever a push
 * source hints at a change ("poke": webhook, an events2 stream that dropped).
 *
 * A run that finds the previous run of the same cluster still going (a hanging node costs a whole
 * command timeout) is skipped: the next tick comes soon enough.
 */
import type { Job } from "bullmq";
import { takeSnapshot } from "../cluster/snapshot";
import type { CommandRunner } from "../command-runner";
import type { ClusterConfig, InventoryConfig } from "../config/schema";
import { haDrivers } from "../drivers/registry";
import type { ClusterDrivers } from "../drivers/types";
import type { Logger } from "../log";
import type { ClusterState } from "../model";
import type { MonitorPassSummary } from "../observability/metrics";
import type { JobQueues } from "../queue/queues";
import type { MonitorJob } from "../queue/schema";
import type { HaLogRead, HeartbeatRead } from "./heartbeat";
import type { IncidentManager } from "./incidents";
import type { EventPipeline } from "./pipeline";

export const DEFAULT_MONITOR_INTERVAL_MS = 10_000;

export function monitorSettings(cluster: ClusterConfig): {
  enabled: boolean;
  intervalMs: number;
  push: boolean;
} {
  const m = cluster.monitor;
  return {
    enabled: m?.enabled ?? true,
    intervalMs: m?.intervalMs ?? DEFAULT_MONITOR_INTERVAL_MS,
    push: m?.push ?? true,
  };
}

export function schedulerId(cluster: string): string {
  return `monitor-${cluster}`;
}

const JOB_OPTS = { attempts: 1, removeOnComplete: { count: 20 }, removeOnFail: { count: 50 } };

/** Creates or updates the schedulers of these clusters and queues one run each right away. */
export async function startMonitors(
  jobs: JobQueues,
  inventory: InventoryConfig,
  clusters: readonly string[],
): Promise<string[]> {
  const started: string[] = [];
  for (const name of clusters) {
    const cluster = inventory.clusters.find((c) => c.name === name);
    if (!cluster) continue;
    const settings = monitorSettings(cluster);
    const queue = jobs.queue(name);
    if (!settings.enabled) {
      await queue.removeJobScheduler(schedulerId(name));
      continue;
    }
    const data: MonitorJob = { cluster: name, reason: "schedule" };
    await queue.upsertJobScheduler(
      schedulerId(name),
      { every: settings.intervalMs },
      { name: "monitor", data, opts: JOB_OPTS },
    );
    await poke(jobs, name, "start");
    started.push(name);
  }
  return started;
}

/** Queues one monitor run now (at most one per cluster per second). */
export async function poke(
  jobs: JobQueues,
  cluster: string,
  reason: "start" | "poke" = "poke",
): Promise<void> {
  const data: MonitorJob = { cluster, reason };
  await jobs.queue(cluster).add("monitor", data, {
    ...JOB_OPTS,
    jobId: `monitor-${reason}-${cluster}-${Math.floor(Date.now() / 1000)}`,
  });
}

/**
 * The HA stack's log on every node that answered, and its auto_failback setting (stacks whose driver
 * reads such a log: heartbeat's ha-log). Read here, by the monitor, and never by `/xen status`: status
 * stays light. A node whose log cannot be read gives null.
 */
export async function readHeartbeat(
  cluster: ClusterConfig,
  state: ClusterState,
  runnerFor: (node: string) => CommandRunner,
  options: { timeoutMs?: number; signal?: AbortSignal; logger?: Logger } = {},
): Promise<HeartbeatRead | undefined> {
  const log = haDrivers[cluster.toolstack.ha]?.log;
  if (!log) return undefined;
  const call = {
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const logs = await Promise.all(
    state.nodes.map(async (n): Promise<HaLogRead> => {
      if (!n.reachable) return { node: n.name, lines: null };
      try {
        return { node: n.name, lines: await log.tail(runnerFor(n.name), call) };
      } catch (err) {
        options.logger?.warn({ node: n.name, err }, "heartbeat log not read");
        return { node: n.name, lines: null };
      }
    }),
  );
  let autoFailback: boolean | null = null;
  const observer = state.nodes.find((n) => n.reachable && n.ha?.running);
  if (observer) {
    try {
      autoFailback = await log.autoFailback(runnerFor(observer.name), call);
    } catch (err) {
      options.logger?.warn({ node: observer.name, err }, "heartbeat auto_failback not read");
    }
  }
  return { logs, autoFailback };
}

export interface MonitorDeps {
  inventory: InventoryConfig;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  pipeline: EventPipeline;
  logger: Logger;
  /** Every snapshot the monitor takes (the operations void the off-proofs of nodes seen alive). */
  onSnapshot?: (state: ClusterState) => Promise<unknown>;
  /** After each pass that read the cluster and evaluated its events (the metrics' gauges). */
  onPass?: (state: ClusterState) => Promise<unknown>;
}

export interface MonitorResult {
  cluster: string;
  skipped: boolean;
  opened: string[];
  resolved: string[];
  happened: string[];
  durationMs: number;
}

/** The metrics' view of a pass: reachability, DRBD states as each node reports them, open incidents. */
export function monitorPassSummary(
  state: ClusterState,
  openIncidents: readonly { severity: string }[],
  at: number,
): MonitorPassSummary {
  const drbdConnections: string[] = [];
  const drbdDisks: string[] = [];
  for (const node of state.nodes)
    for (const r of node.drbd ?? []) {
      drbdDisks.push(r.diskState);
      for (const p of r.peers) drbdConnections.push(p.connectionState);
    }
  return {
    cluster: state.cluster,
    at,
    nodes: state.nodes.map((n) => ({ name: n.name, reachable: n.reachable })),
    drbdConnections,
    drbdDisks,
    openIncidents: openIncidents.map((i) => i.severity),
  };
}

/** The monitor's `onPass` that reports each pass with the cluster's open incidents (EventsRuntime). */
export function passReporter(
  incidents: Pick<IncidentManager, "active">,
  report: (pass: MonitorPassSummary) => void,
  now: () => number = Date.now,
): (state: ClusterState) => Promise<void> {
  return async (state) => {
    const open = (await incidents.active(state.cluster)).filter((r) => r.status === "open");
    report(monitorPassSummary(state, open, now()));
  };
}

export function createMonitorProcessor(deps: MonitorDeps) {
  const running = new Set<string>();
  return async function monitorProcessor(
    job: Job<MonitorJob>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<MonitorResult> {
    const started = Date.now();
    const name = job.data.cluster;
    const cluster = deps.inventory.clusters.find((c) => c.name === name);
    const empty = { cluster: name, opened: [], resolved: [], happened: [] };
    if (!cluster) return { ...empty, skipped: true, durationMs: 0 };
    if (running.has(name)) return { ...empty, skipped: true, durationMs: 0 };
    running.add(name);
    try {
      const log = deps.logger.child({ cluster: name, component: "monitor" });
      const state = await takeSnapshot(
        cluster,
        { runnerFor: (node) => deps.runnerFor(name, node), drivers: deps.driversFor(name), logger: log },
        {
          ...(signal ? { signal } : {}),
          timeoutMs: Math.min(cluster.commandTimeoutMs, monitorSettings(cluster).intervalMs * 2),
        },
      );
      const heartbeat = await readHeartbeat(cluster, state, (node) => deps.runnerFor(name, node), {
        ...(signal ? { signal } : {}),
        timeoutMs: Math.min(cluster.commandTimeoutMs, monitorSettings(cluster).intervalMs * 2),
        logger: log,
      });
      if (deps.onSnapshot)
        await deps.onSnapshot(state).catch((err: unknown) => log.warn({ err }, "snapshot hook failed"));
      // The first run after the workers start compares the cluster with the inventory afresh.
      const r = await deps.pipeline.observe(state, {
        ...(heartbeat ? { heartbeat } : {}),
        baseline: job.data.reason === "start",
      });
      if (deps.onPass)
        await deps.onPass(state).catch((err: unknown) => log.warn({ err }, "monitor pass hook failed"));
      return {
        cluster: name,
        skipped: false,
        opened: r.opened.map((c) => c.kind),
        resolved: r.resolved.map((c) => c.kind),
        happened: r.happened.map((e) => e.kind),
        durationMs: Date.now() - started,
      };
    } finally {
      running.delete(name);
    }
  };
}
