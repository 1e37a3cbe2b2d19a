/**
 * `drbd-watch` job: follows a DRBD resync and keeps ONE message (its JobCard) updated with a progress bar,
 * percent, speed, ETA and out-of-sync amount per node, until the resource is Connected and
 * UpToDate/UpToDate with nothing out of sync.
 *
 * - Reads every node that has the resource each `pollMs` through the cluster's DRBD driver: `cat
 *   /proc/drbd` on DRBD 8, `drbdsetup status --json` on DRBD 9. On DRBD 9 it also follows `drbdsetup
 *   events2 RESOURCE` (when the runner can stream) and reads again at once on any change, so a disconnect
 *   or the end of the resync shows without waiting for the next poll.
 * - The card is edited at most once per `editIntervalMs` (3 s: Slack's per-message budget; the Slack
 *   sender coalesces on top of that) and only when its text changes; the final state is always sent.
 * - A stall (no progress for `stallMs`) and a disconnect post an alert in the channel (once per episode)
 *   and a note on the card; StandAlone posts an alert and ends the watch (it will not reconnect by
 *   itself); after `timeoutMs` the watch gives up.
 * - Cancel (`/xen cancel N`, the card's button) aborts the signal: the running `cat`/`drbdsetup` is ended
 *   and the card says who cancelled.
 *
 * To watch a resync another job or an event started, call `enqueueWatch` (below).
 */
import type { Job } from "bullmq";
import type { EnqueuedJob, JobEnqueuer } from "../src/chat/enqueuer";
import type { Notifier } from "../src/chat/types";
import type { CommandRunner, StreamHandle } from "../src/command-runner";
import type { InventoryConfig } from "../src/config/schema";
import type { ClusterDrivers } from "../src/drivers/types";
import { errorMessage, XenopsError } from "../src/errors";
import { openJobCard } from "../src/job-cards/card";
import type { CardStore } from "../src/job-cards/card-store";
import { JobCancelled, JobControl } from "../src/job-cards/control";
import { describeJob } from "../src/job-cards/describe";
import {
  analyzeResync,
  type NodeReading,
  type ResyncView,
  renderResyncBlocks,
  summarizeResync,
} from "../src/job-cards/resync";
import type { WatchRegistry } from "../src/job-cards/watch-registry";
import type { Logger } from "../src/log";
import { escapeMrkdwn, formatDuration, formatKiB } from "../src/message/text";
import { isFinalFailure } from "../src/queue/retry";
import type { DrbdWatchJob } from "../src/queue/schema";

export interface WatchSettings {
  /** Read the nodes this often. */
  pollMs: number;
  /** Edit the card at most this often (Slack: one edit per message per 3 s). */
  editIntervalMs: number;
  /** Warn when nothing progressed for this long. */
  stallMs: number;
  /** Give up after this long. */
  timeoutMs: number;
}

export const DEFAULT_WATCH_SETTINGS: WatchSettings = {
  pollMs: 2_000,
  editIntervalMs: 3_000,
  stallMs: 120_000,
  timeoutMs: 12 * 3600_000,
};

export interface DrbdWatchDeps {
  inventory: InventoryConfig;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  notifier: Notifier;
  logger: Logger;
  cards?: CardStore;
  registry?: WatchRegistry;
  settings?: Partial<WatchSettings>;
  /** Cluster events seen by the watch (metrics): drbd_watch_disconnect, _standalone, _stall, _timeout. */
  onEvent?: (kind: string) => void;
}

export type WatchOutcome = "in_sync" | "standalone" | "timeout" | "already_watched";

export interface DrbdWatchResult {
  outcome: WatchOutcome;
  summary: string;
  cluster: string;
  resource: string;
  polls: number;
  /** Card edits sent (after the first post). */
  edits: number;
  messageTs: string | null;
  durationMs: number;
}

/** Resolves after `ms`, on wake(), or when `signal` aborts; wakes are spaced at least `minGapMs` apart. */
class Waker {
  private resolve: (() => void) | null = null;
  private woken = false;

  wake(): void {
    this.woken = true;
    this.resolve?.();
  }

  wait(ms: number, signal: AbortSignal, minGapMs: number): Promise<void> {
    return new Promise((resolve) => {
      const started = Date.now();
      const finish = () => {
        clearTimeout(timer);
        clearTimeout(gap);
        signal.removeEventListener("abort", finish);
        this.resolve = null;
        resolve();
      };
      let gap: NodeJS.Timeout | undefined;
      const onWake = () => {
        this.woken = false;
        const left = minGapMs - (Date.now() - started);
        if (left <= 0) finish();
        else gap ??= setTimeout(finish, left);
      };
      const timer = setTimeout(finish, Math.max(0, ms));
      signal.addEventListener("abort", finish, { once: true });
      this.resolve = onWake;
      if (signal.aborted) finish();
      else if (this.woken) onWake();
    });
  }
}

/** Progress = less out of sync or a higher percent than ever seen in this watch. */
class ProgressTracker {
  private bestOos: number | null = null;
  private bestPercent: number | null = null;

  observe(view: ResyncView): boolean {
    let progressed = false;
    if (view.oosKiB !== null && (this.bestOos === null || view.oosKiB < this.bestOos)) {
      progressed = this.bestOos !== null;
      this.bestOos = view.oosKiB;
    }
    if (view.percent !== null && (this.bestPercent === null || view.percent > this.bestPercent)) {
      progressed = progressed || this.bestPercent !== null;
      this.bestPercent = view.percent;
    }
    return progressed;
  }
}

export function createDrbdWatchProcessor(deps: DrbdWatchDeps) {
  return async function drbdWatchProcessor(
    job: Job<DrbdWatchJob>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<DrbdWatchResult> {
    const { data } = job;
    const base = { ...DEFAULT_WATCH_SETTINGS, ...deps.settings };
    const settings: WatchSettings = {
      ...base,
      ...(data.stallSeconds ? { stallMs: data.stallSeconds * 1000 } : {}),
      ...(data.timeoutSeconds ? { timeoutMs: data.timeoutSeconds * 1000 } : {}),
    };
    const log = deps.logger.child({
      jobId: job.id,
      user: data.requestedBy,
      cluster: data.cluster,
      resource: data.resource,
    });
    const cluster = deps.inventory.clusters.find((c) => c.name === data.cluster);
    if (!cluster) throw new XenopsError("unknown_cluster", `unknown cluster "${data.cluster}"`);
    if (!cluster.drbd.some((r) => r.name === data.resource))
      throw new XenopsError("invalid_argument", `no DRBD resource "${data.resource}" in ${cluster.name}`);
    const drivers = deps.driversFor(cluster.name);
    const started = Date.now();

    const card = openJobCard(job, deps, {
      title: describeJob(job.name, data),
      minEditIntervalMs: settings.editIntervalMs,
      settleMs: Math.min(1_000, settings.editIntervalMs),
      logger: log,
    });
    card.start(data.reason ? `Started by xenops: ${escapeMrkdwn(data.reason)}` : "Reading the nodes…");
    const control = new JobControl(job, signal, card);
    const where = `DRBD *${escapeMrkdwn(data.resource)}* in ${escapeMrkdwn(cluster.name)}`;
    const jobName = () => (card.state.jobNumber !== null ? `job ${card.state.jobNumber}` : "the watch");
    const alert = async (text: string) => {
      card.note(text);
      await deps.notifier.post(data.channel, { text }).catch(() => null);
    };

    const result = async (outcome: WatchOutcome, summary: string): Promise<DrbdWatchResult> => ({
      outcome,
      summary,
      cluster: cluster.name,
      resource: data.resource,
      polls,
      edits: card.edits,
      messageTs: (await card.ref())?.ts ?? null,
      durationMs: Date.now() - started,
    });

    let polls = 0;
    const streams: StreamHandle[] = [];
    let claimed = false;
    try {
      if (deps.registry && job.id) {
        const holder = await deps.registry.claim(
          cluster.name,
          data.resource,
          job.id,
          settings.timeoutMs + 300_000,
        );
        if (holder) {
          const summary = `already watched by another job (${holder})`;
          await card.done(
            `${escapeMrkdwn(data.resource)} is already being watched by another job; see its card.`,
          );
          return await result("already_watched", summary);
        }
        claimed = true;
      }

      const waker = new Waker();
      const progress = new ProgressTracker();
      let watched = cluster.nodes.map((n) => n.name);
      let narrowed = false;
      let lastProgressAt = Date.now();
      let stallWarned = false;
      let linkAlerted = false;
      let lastPhase: string | null = null;
      let lastDecile = -1;
      let firstOos: number | null = null;
      let lastOos: { at: number; kib: number } | null = null;
      let measuredSpeed: number | null = null;

      const read = async (node: string): Promise<NodeReading> => {
        try {
          const states = await drivers.drbd.status(
            deps.runnerFor(cluster.name, node),
            { resources: cluster.drbd },
            { signal: control.signal, timeoutMs: cluster.commandTimeoutMs },
          );
          return { node, state: states.find((s) => s.name === data.resource) ?? null, error: null };
        } catch (err) {
          control.throwIfCancelled();
          return { node, state: null, error: errorMessage(err) };
        }
      };

      const follow = (nodes: readonly string[]) => {
        if (drivers.drbd.id !== 9) return;
        for (const node of nodes) {
          const runner = deps.runnerFor(cluster.name, node);
          if (!runner.stream) continue;
          const handle = runner.stream(
            ["drbdsetup", "events2", data.resource],
            (line) => {
              if (!line.startsWith("exists")) waker.wake();
            },
            { signal: control.signal },
          );
          handle.done.catch((err: unknown) => log.debug({ node, err }, "events2 stream ended"));
          streams.push(handle);
        }
      };

      for (;;) {
        control.throwIfCancelled();
        const readings = await Promise.all(watched.map(read));
        control.throwIfCancelled();
        polls += 1;
        if (!narrowed) {
          const present = readings.filter((r) => r.state !== null).map((r) => r.node);
          if (present.length > 0) {
            narrowed = true;
            watched = present;
            follow(present);
          }
        }
        const view = analyzeResync(readings.filter((r) => watched.includes(r.node)));
        const now = Date.now();

        // Speed: the nodes' own figure, else measured from the out-of-sync amount.
        if (view.oosKiB !== null) {
          firstOos ??= view.oosKiB;
          if (lastOos && now > lastOos.at && view.oosKiB < lastOos.kib)
            measuredSpeed = ((lastOos.kib - view.oosKiB) * 1000) / (now - lastOos.at);
          if (!lastOos || view.oosKiB !== lastOos.kib) lastOos = { at: now, kib: view.oosKiB };
        }
        const speed = view.speedKiBps ?? (view.phase === "syncing" ? measuredSpeed : null);

        if (progress.observe(view)) {
          lastProgressAt = now;
          if (stallWarned) {
            stallWarned = false;
            card.note(`:arrow_forward: Progress resumed ${formatDuration(now - started)} in.`);
          }
        }

        const summary = summarizeResync(view, speed);
        if (view.phase !== lastPhase) {
          card.log(`${new Date(now).toISOString().slice(11, 19)} ${summary}`);
          lastPhase = view.phase;
        } else if (view.percent !== null && Math.floor(view.percent / 10) > lastDecile) {
          card.log(`${new Date(now).toISOString().slice(11, 19)} ${summary}`);
        }
        if (view.percent !== null) lastDecile = Math.max(lastDecile, Math.floor(view.percent / 10));

        if (view.phase === "standalone" || view.phase === "disconnected") {
          if (!linkAlerted) {
            linkAlerted = true;
            deps.onEvent?.(view.phase === "standalone" ? "drbd_watch_standalone" : "drbd_watch_disconnect");
            await alert(
              view.phase === "standalone"
                ? `:rotating_light: ${where} is StandAlone (${escapeMrkdwn(view.problems.join(", "))}): the nodes will not reconnect by themselves (split brain or a manual disconnect). ${jobName()} stops watching.`
                : `:rotating_light: ${where} lost its connection during the resync (${escapeMrkdwn(view.problems.join(", "))}). ${jobName()} keeps watching.`,
            );
          }
        } else if (linkAlerted && view.phase !== "unknown") {
          linkAlerted = false;
          lastProgressAt = now;
          card.note(`:link: Reconnected ${formatDuration(now - started)} in.`);
        }

        if (view.phase === "syncing" && !stallWarned && now - lastProgressAt >= settings.stallMs) {
          stallWarned = true;
          deps.onEvent?.("drbd_watch_stall");
          await alert(
            `:warning: ${where}: the resync has not progressed for ${formatDuration(now - lastProgressAt)} (${escapeMrkdwn(summary)}).`,
          );
        }

        card.body(renderResyncBlocks(view, { speedKiBps: speed })).activity(escapeMrkdwn(summary));

        if (view.phase === "in_sync") {
          const moved = firstOos !== null && firstOos > 0 ? ` (${formatKiB(firstOos)} resynced)` : "";
          const text = `${escapeMrkdwn(data.resource)} is Connected and UpToDate/UpToDate, nothing out of sync${moved}.`;
          await card.done(text, { body: renderResyncBlocks(view) });
          log.info({ polls, edits: card.edits }, "resync finished");
          return await result("in_sync", `in sync${moved}`);
        }
        if (view.phase === "standalone") {
          await card.failed(
            `StandAlone: ${escapeMrkdwn(view.problems.join(", "))}. Reconnect, then watch again.`,
          );
          return await result("standalone", `StandAlone: ${view.problems.join(", ")}`);
        }
        const left = settings.timeoutMs - (now - started);
        if (left <= 0) {
          deps.onEvent?.("drbd_watch_timeout");
          const text = `still not in sync after ${formatDuration(settings.timeoutMs)} (${summary}).`;
          await card.gaveUp(escapeMrkdwn(text));
          return await result("timeout", text);
        }
        await waker.wait(Math.min(settings.pollMs, left), control.signal, Math.min(250, settings.pollMs));
      }
    } catch (err) {
      if (err instanceof JobCancelled || control.cancelled) {
        const by = control.cancelRequest?.by ?? null;
        await card.cancelled(by);
        throw err instanceof JobCancelled ? err : new JobCancelled(by, errorMessage(err));
      }
      if (isFinalFailure(job, err, signal)) await card.failed(err);
      throw err;
    } finally {
      for (const s of streams) s.close();
      control.dispose();
      if (claimed && job.id)
        await deps.registry?.release(cluster.name, data.resource, job.id).catch(() => {});
    }
  };
}

export interface WatchRequest {
  cluster: string;
  resource: string;
  /** Where the card goes (default: the cluster's first channel). */
  channel?: string;
  /** Slack user ID to credit, or "system" (default). */
  requestedBy?: string;
  /** Shown on the card: why xenops started watching ("resync after reconnect of ics1"). */
  reason?: string;
  /**
   * Identifies this resync, so several callers noticing the same resync queue one watch (default: a new
   * watch per call). E.g. `${resource}:${resyncStartedAt}`.
   */
  key?: string;
  stallSeconds?: number;
  timeoutSeconds?: number;
}

/**
 * Queues a watch of a resync that another job or an event started:
 *
 *   await enqueueWatch(deps.jobs, deps.inventory, { cluster: "lab", resource: "internet",
 *                                                    reason: "resync after split-brain recovery" });
 *
 * A resource that is already watched is not watched twice (the second watch ends at once).
 */
export async function enqueueWatch(
  jobs: JobEnqueuer,
  inventory: InventoryConfig,
  request: WatchRequest,
): Promise<EnqueuedJob> {
  const cluster = inventory.clusters.find((c) => c.name === request.cluster);
  if (!cluster) throw new XenopsError("unknown_cluster", `unknown cluster "${request.cluster}"`);
  if (!cluster.drbd.some((r) => r.name === request.resource))
    throw new XenopsError("invalid_argument", `no DRBD resource "${request.resource}" in ${cluster.name}`);
  const channel = request.channel ?? cluster.channels[0];
  if (!channel) throw new XenopsError("config_invalid", `cluster ${cluster.name} has no channel`);
  const deliveryId = `watch:${cluster.name}:${request.resource}:${request.key ?? `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`}`;
  return jobs.enqueue(
    cluster.name,
    "drbd-watch",
    {
      cluster: cluster.name,
      channel,
      requestedBy: request.requestedBy ?? "system",
      deliveryId,
      requestText: `drbd watch ${request.resource} ${cluster.name} (automatic)`,
      resource: request.resource,
      ...(request.reason ? { reason: request.reason.slice(0, 300) } : {}),
      ...(request.stallSeconds ? { stallSeconds: request.stallSeconds } : {}),
      ...(request.timeoutSeconds ? { timeoutSeconds: request.timeoutSeconds } : {}),
    },
    { deliveryId: deliveryId.slice(0, 200) },
  );
}
