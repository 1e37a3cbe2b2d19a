/**
 * Cluster events, assembled: the Redis store, maintenance windows, incidents, the pipeline,
 * the button handler, and the sources a worker starts (monitor schedulers, DRBD 9
 * events2 streams, the webhook). createDeps builds one per process; only workers start the sources.
 *
 * For other code:
 * - `isInMaintenance(cluster, node)`: call before anything risky on a node (null: go ahead).
 * - `reportFence(...)`: a fencing job tells the incident of the node how it went; a verified fence
 *   offers "Start its guests on SURVIVOR".
 * - `pipeline.report(event)`: anything else worth an incident.
 */

import type { Redis } from "ioredis";
import type { ApprovalEngine } from "../approval/engine";
import { Authorizer } from "../chat/authz";
import type { JobEnqueuer } from "../chat/enqueuer";
import type { GroupDirectory, Notifier } from "../chat/types";
import type { CommandRunner } from "../command-runner";
import type { AlertmanagerConfig, InventoryConfig } from "../config/schema";
import type { SecretEnv } from "../config/secrets";
import type { ClusterDrivers } from "../drivers/types";
import type { LockManager } from "../locks/lock";
import type { Logger } from "../log";
import type { ClusterState } from "../model";
import type { MonitorPassSummary } from "../observability/metrics";
import type { SplitBrainEvents } from "../operations/context";
import {
  type AlertmanagerRoute,
  AlertmanagerSource,
  resolveAlertmanagerCredentials,
} from "../paging/alertmanager";
import { type OncallOptions, OncallService } from "../paging/oncall";
import { PagerRegistry } from "../paging/registry";
import type { JobQueues } from "../queue/queues";
import { createEventActionHandler, type EventActionHandler, type OperationRequests } from "./actions";
import { Events2Watcher } from "./events2";
import { IncidentManager, type IncidentPolicy } from "./incidents";
import { MaintenanceStore, type MaintenanceWindow } from "./maintenance";
import { type MonitorDeps, monitorSettings, passReporter, poke, schedulerId, startMonitors } from "./monitor";
import { EventPipeline } from "./pipeline";
import { EventStore, eventKeys } from "./store";
import type { ClusterEvent, Condition } from "./types";
import { resolveWebhookSecrets, startWebhookServer, type WebhookServer } from "./webhook";

export type { MaintenanceWindow } from "./maintenance";

export interface EventsConfig {
  inventory: InventoryConfig;
  logger: Logger;
  /** The composition root's plain client (store, maintenance, webhook replay keys); close() leaves it open. */
  redis: Redis;
  prefix: string;
  notifier: Notifier;
  secretEnv: SecretEnv;
  groups: GroupDirectory;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  /** The queues (monitor schedulers, pokes). */
  queues: JobQueues;
  /** The enqueuer commands use (observed: the console waits for what it queues). */
  jobs: JobEnqueuer;
  /** The approval engine and locks, bound late (built with the rest of the runtime). */
  approvals?: () => { engine: ApprovalEngine; locks: LockManager } | null;
  /** How clicks reach the risky operations; default: their `operation-plan` jobs. */
  operations?: OperationRequests;
  now?: () => number;
  incidentPolicy?: Partial<IncidentPolicy>;
  /** Webhook listen port override (tests, lab: 0 for any free port). */
  webhookPort?: number;
  /** Counts events by kind (the process's metrics). */
  onEvent?: (kind: string) => void;
  /** Every monitor snapshot (the operations clear the off-proofs of nodes seen alive). */
  onSnapshot?: (state: ClusterState) => Promise<unknown>;
  /** After each monitor pass: its summary with the open incidents (the process's metrics). */
  onMonitorPass?: (pass: MonitorPassSummary) => void;
  /** Remove the monitor schedulers when the sources stop (throwaway queue prefixes: console, tests). */
  removeSchedulersOnStop?: boolean;
  /** On-call paging (src/paging/): metrics of each page, the audit of acknowledgements, retry timing. */
  paging?: Pick<OncallOptions, "onPage" | "audit" | "retry">;
}

export interface EventSources {
  /** The webhook, when configured and listening in this process. */
  webhook: WebhookServer | null;
  watchers: Events2Watcher[];
  monitors: string[];
  stop(): Promise<void>;
}

/** `operation-plan` jobs, the default way a click asks for fence, start and failback. */
export function operationPlanRequests(jobs: JobEnqueuer): OperationRequests {
  const base = (
    r: {
      cluster: string;
      channel: string;
      requestedBy: string;
      requestText: string;
      dryRun?: boolean;
    },
    deliveryId: string,
  ) => ({
    cluster: r.cluster,
    channel: r.channel,
    requestedBy: r.requestedBy,
    deliveryId,
    requestText: r.requestText,
    dryRun: r.dryRun === true,
  });
  return {
    async fence(r) {
      return [
        await jobs.enqueue(
          r.cluster,
          "operation-plan",
          { ...base(r, r.deliveryId), operation: { action: "fence", node: r.node } },
          { deliveryId: r.deliveryId },
        ),
      ];
    },
    async start(r) {
      const out = [];
      for (const guest of r.guests) {
        const deliveryId = `${r.deliveryId}:${guest}`;
        out.push(
          await jobs.enqueue(
            r.cluster,
            "operation-plan",
            { ...base(r, deliveryId), operation: { action: "create", guest, node: r.node } },
            { deliveryId },
          ),
        );
      }
      return out;
    },
    async migrate(r) {
      const out = [];
      for (const guest of r.guests) {
        const deliveryId = `${r.deliveryId}:${guest}`;
        out.push(
          await jobs.enqueue(
            r.cluster,
            "operation-plan",
            { ...base(r, deliveryId), operation: { action: "migrate", guest, target: r.target } },
            { deliveryId },
          ),
        );
      }
      return out;
    },
  };
}

export class Events {
  readonly store: EventStore;
  readonly maintenance: MaintenanceStore;
  readonly incidents: IncidentManager;
  readonly pipeline: EventPipeline;
  readonly actionHandler: EventActionHandler;
  readonly operations: OperationRequests;
  /** Paging services, Acknowledge / Snooze, re-notification and escalation (src/paging/). */
  readonly oncall: OncallService;
  private readonly redis: Redis;
  private readonly log: Logger;
  private readonly sources = new Set<EventSources>();

  constructor(private readonly config: EventsConfig) {
    this.log = config.logger.child({ component: "events" });
    this.redis = config.redis;
    const keys = eventKeys(config.prefix);
    const now = config.now ?? Date.now;
    this.store = new EventStore(this.redis, keys);
    this.maintenance = new MaintenanceStore(this.redis, keys, now);
    const authorizer = new Authorizer(config.inventory.roles, config.groups);
    this.oncall = new OncallService({
      inventory: config.inventory,
      store: this.store,
      prefix: config.prefix,
      notifier: config.notifier,
      pagers: new PagerRegistry(config.inventory, config.secretEnv),
      logger: config.logger,
      authorizer,
      now,
      autoTick: true,
      ...config.paging,
    });
    this.incidents = new IncidentManager({
      listener: this.oncall,
      store: this.store,
      maintenance: this.maintenance,
      notifier: config.notifier,
      inventory: config.inventory,
      logger: config.logger,
      now,
      ...(config.incidentPolicy ? { policy: config.incidentPolicy } : {}),
    });
    this.operations = config.operations ?? operationPlanRequests(config.jobs);
    this.pipeline = new EventPipeline({
      store: this.store,
      incidents: this.incidents,
      inventory: config.inventory,
      logger: config.logger,
      now,
      onOpened: (cluster, c) => this.autoFailback(cluster.name, c),
      ...(config.onEvent ? { onEvent: config.onEvent } : {}),
    });
    this.actionHandler = createEventActionHandler({
      inventory: config.inventory,
      authorizer,
      maintenance: this.maintenance,
      incidents: this.incidents,
      jobs: config.jobs,
      operations: this.operations,
      logger: config.logger,
      now,
    });
  }

  /** URLs of the webhooks this process listens on (benchmarks, the lab's banner). */
  webhookUrls(): string[] {
    return [...this.sources].flatMap((s) => (s.webhook ? [s.webhook.url] : []));
  }

  /** Binds the approval engine and locks (built after this module in the composition root). */
  bindApprovals(access: () => { engine: ApprovalEngine; locks: LockManager } | null): void {
    this.config.approvals = access;
  }

  /** The active maintenance window of a node, or null. Call before planning or running anything risky on it. */
  isInMaintenance(cluster: string, node: string): Promise<MaintenanceWindow | null> {
    return this.maintenance.isInMaintenance(cluster, node);
  }

  /**
   * The incidents' side of a split-brain recovery, which runs in the operations' executor
   * (src/operations/split-brain.ts): while it runs, DRBD's reconnect is not reported as an
   * automatic resolution; once both sides are UpToDate the incident is resolved.
   */
  readonly splitBrainEvents: SplitBrainEvents = {
    recovering: (cluster, resource, approvalId) =>
      this.pipeline.markRecovering(cluster, resource, approvalId),
    resolved: (cluster, resource, title, evidence) =>
      this.pipeline.report({
        cluster,
        kind: "split_brain_resolved",
        family: "link",
        severity: "info",
        subject: resource,
        node: null,
        title,
        evidence,
        source: "job",
        at: new Date((this.config.now ?? Date.now)()).toISOString(),
      }),
  };

  /**
   * What the `monitor` job reports to besides the pipeline: every snapshot (`onSnapshot`) and, after each
   * pass, its summary with the open incidents (`onPass`). The job itself is built with the others
   * (jobs/index.ts).
   */
  monitorHooks(): Pick<MonitorDeps, "onSnapshot" | "onPass"> {
    return {
      ...(this.config.onSnapshot ? { onSnapshot: this.config.onSnapshot } : {}),
      ...(this.config.onMonitorPass
        ? { onPass: passReporter(this.incidents, this.config.onMonitorPass, this.config.now) }
        : {}),
    };
  }

  /**
   * How a fencing attempt ended, for the node's incident. A fence that succeeded and was verified
   * (the node is seen off) offers to start the node's guests on a survivor.
   */
  reportFence(
    cluster: string,
    node: string,
    outcome: {
      ok: boolean;
      verified: boolean;
      summary: string;
      details?: string[];
      title?: string;
      /** Verified as a reset (new boot id): the node runs again, so it is not remembered as fenced off. */
      reset?: boolean;
    },
  ): Promise<unknown> {
    const at = new Date((this.config.now ?? Date.now)()).toISOString();
    const event: ClusterEvent = {
      cluster,
      kind: outcome.ok ? "fence_succeeded" : "fence_failed",
      family: "node",
      severity: outcome.ok && outcome.verified ? "warning" : "critical",
      subject: null,
      node,
      title: outcome.title
        ? outcome.title
        : outcome.ok
          ? outcome.verified
            ? outcome.reset
              ? `${node} was reset by the fence (verified) and runs again`
              : `${node} was fenced and is verified off`
            : `${node}: fence command succeeded but the node is NOT verified off`
          : `Fencing ${node} FAILED: ${outcome.summary}`,
      evidence: [outcome.summary, ...(outcome.details ?? [])],
      source: "job",
      at,
    };
    return this.pipeline.report(
      event,
      outcome.ok && outcome.verified && !outcome.reset
        ? (facts) => {
            facts.memory.fencedAt[node] = at;
            return facts;
          }
        : undefined,
    );
  }

  /**
   * Wraps the risky operations' execution processor: when an approved fence ends, its node's
   * incident hears how (a verified fence offers to start the node's guests elsewhere).
   */
  observeExecutions<J extends { data: { approvalId: string } }, R>(
    processor: (job: J, token?: string, signal?: AbortSignal) => Promise<R>,
  ): (job: J, token?: string, signal?: AbortSignal) => Promise<R> {
    return async (job, token, signal) => {
      const result = await processor(job, token, signal);
      try {
        const record = await this.config.approvals?.()?.engine.get(job.data.approvalId);
        const outcome = result as {
          status?: string;
          summary?: string;
          details?: string[];
          fenceReset?: boolean;
        };
        if (record?.plan.action === "fence" && outcome.status && outcome.status !== "refused") {
          const node = String(record.plan.params.victim ?? record.plan.target.node ?? "");
          if (node)
            await this.reportFence(record.plan.cluster, node, {
              ok: outcome.status !== "failed",
              verified: outcome.status === "succeeded",
              summary: outcome.summary ?? outcome.status,
              details: outcome.details ?? [],
              ...(outcome.fenceReset ? { reset: true } : {}),
            });
        }
        // Humans attested the node is off (`/xen attest-off`): like a verified fence, its guests may
        // start elsewhere.
        if (record?.plan.action === "attest_off" && outcome.status === "succeeded") {
          const node = String(record.plan.params.node ?? record.plan.target.node ?? "");
          if (node)
            await this.reportFence(record.plan.cluster, node, {
              ok: true,
              verified: true,
              summary: outcome.summary ?? "attested off",
              details: outcome.details ?? [],
              title: `${node} was attested off by hand (not fenced by xenops)`,
            });
        }
      } catch (err) {
        this.log.warn({ err }, "could not report the fence outcome to its incident");
      }
      return result;
    };
  }

  private async autoFailback(cluster: string, c: Condition): Promise<void> {
    const config = this.config.inventory.clusters.find((x) => x.name === cluster);
    const action = c.actions?.[0];
    if (config?.monitor?.failback !== "auto" || c.kind !== "failback_ready" || action?.kind !== "failback")
      return;
    const as = config.monitor.failbackAs;
    const channel = config.channels[0];
    if (!as || !channel) return;
    if (await this.maintenance.isInMaintenance(cluster, action.node)) return;
    const incident = await this.incidents.byKey(c.key);
    await this.operations.migrate({
      cluster,
      requestedBy: as,
      channel,
      threadTs: incident?.threadTs ?? null,
      deliveryId: `failback:${cluster}:${action.node}:${c.at}`,
      requestText: `[automatic failback] ${action.guests.join(", ")} to ${action.node}`,
      guests: action.guests,
      target: action.node,
      failback: true,
    });
    this.log.info({ cluster, node: action.node, guests: action.guests }, "automatic failback requested");
  }

  /** Alertmanager's webhook (src/paging/alertmanager.ts), served by the event webhook's server. */
  private async alertmanagerRoute(config: AlertmanagerConfig): Promise<AlertmanagerRoute> {
    const source = new AlertmanagerSource({
      inventory: this.config.inventory,
      credentials: await resolveAlertmanagerCredentials(config, this.config.secretEnv),
      pipeline: this.pipeline,
      incidents: this.incidents,
      store: this.store,
      redis: this.redis,
      prefix: this.config.prefix,
      logger: this.config.logger,
      ...(this.config.now ? { now: this.config.now } : {}),
    });
    return source.route();
  }

  /** Starts the event sources of these clusters in this (worker) process. */
  async start(clusters: readonly string[]): Promise<EventSources> {
    const { inventory, queues } = this.config;
    const monitors = await startMonitors(queues, inventory, clusters);
    // Page deliveries, re-notifications and escalations due (kept in Redis across restarts).
    this.oncall.start();
    const watchers: Events2Watcher[] = [];
    for (const name of clusters) {
      const cluster = inventory.clusters.find((c) => c.name === name);
      if (cluster?.toolstack.drbd !== 9) continue;
      const settings = monitorSettings(cluster);
      if (!settings.enabled || !settings.push) continue;
      for (const node of cluster.nodes) {
        const w = new Events2Watcher({
          cluster: name,
          node: node.name,
          runner: this.config.runnerFor(name, node.name),
          pipeline: this.pipeline,
          logger: this.config.logger,
          poke: () => poke(queues, name),
        });
        w.start();
        watchers.push(w);
      }
    }
    let webhook: WebhookServer | null = null;
    const wh = inventory.webhook;
    if (wh) {
      try {
        const secrets = await resolveWebhookSecrets(inventory, this.config.secretEnv, this.config.logger);
        webhook = await startWebhookServer({
          inventory,
          secrets,
          host: wh.host,
          port: this.config.webhookPort ?? wh.port,
          maxSkewSeconds: wh.maxSkewSeconds,
          redis: this.redis,
          keys: this.store.keys,
          pipeline: this.pipeline,
          logger: this.config.logger,
          poke: (cluster) => (clusters.includes(cluster) ? poke(queues, cluster) : Promise.resolve()),
          ...(this.config.now ? { now: this.config.now } : {}),
          ...(wh.alertmanager ? { alertmanager: await this.alertmanagerRoute(wh.alertmanager) } : {}),
        });
      } catch (err) {
        this.log.error({ err }, "the event webhook could not start; node-side hooks are not heard");
      }
    }
    const sources: EventSources = {
      webhook,
      watchers,
      monitors,
      stop: async () => {
        this.sources.delete(sources);
        for (const w of watchers) w.close();
        await webhook?.close();
        await this.oncall.stop();
        if (this.config.removeSchedulersOnStop)
          await Promise.allSettled(monitors.map((c) => queues.queue(c).removeJobScheduler(schedulerId(c))));
      },
    };
    this.sources.add(sources);
    return sources;
  }

  /** Stops the sources (streams, webhook, throwaway schedulers); the pipeline stays usable. */
  async stopSources(): Promise<void> {
    await Promise.allSettled([...this.sources].map((s) => s.stop()));
  }

  async close(): Promise<void> {
    await this.stopSources();
  }
}
