/**
 * Composition root: builds the logger-bound pieces (SSH pools, drivers, queues, command core) from
 * the inventory. Entry points (CLI, lab) call createDeps and pass in the front-end specific parts
 * (notifier, group directory), so tests swap parts without monkey-patching.
 */
import type { Redis } from "ioredis";
import { commands } from "../commands";
import { createProcessors } from "../jobs";
import type { WatchSettings } from "../jobs/drbd-watch";
import { ApprovalEngine, approvalActionHandler } from "./approval/engine";
import { commandAuditEntry, DeliveryJobs } from "./audit/command-entry";
import { AuditLog } from "./audit/log";
import { AuditRecorder } from "./audit/recorder";
import { Authorizer } from "./chat/authz";
import type { EnqueuedJob, JobEnqueuer } from "./chat/enqueuer";
import type { JobAdmin } from "./chat/job-admin";
import type { ActionHandler } from "./chat/router";
import { createCommandCore } from "./chat/router";
import type { CommandCore, GroupDirectory, Notifier } from "./chat/types";
import type { CommandRunner } from "./command-runner";
import type { InventoryConfig } from "./config/schema";
import { resolveSecret, type SecretEnv } from "./config/secrets";
import { DoctorRuns } from "./doctor/monitor";
import { driversFor, type MutationDrivers, mutationDriversFor } from "./drivers/registry";
import type { ClusterDrivers } from "./drivers/types";
import { XenopsError } from "./errors";
import { Events, type EventsConfig } from "./events";
import { createCancelAction, createJobAdmin } from "./job-cards/admin";
import { announceQueuedJob } from "./job-cards/announce";
import { type CardStore, RedisCardStore } from "./job-cards/card-store";
import { RedisWatchRegistry } from "./job-cards/watch-registry";
import { LockManager } from "./locks/lock";
import type { Logger } from "./log";
import { instrumentProcessors, observeRunner } from "./observability/instrument";
import { jobContextLogger } from "./observability/job-context";
import { Metrics } from "./observability/metrics";
import {
  DEFAULT_OPERATION_SETTINGS,
  type OperationDeps,
  type OperationSettings,
  operationSettingsOf,
} from "./operations/context";
import { startRecovery } from "./operations/crash-recovery";
import { OffProofStore } from "./operations/off-proofs";
import { actionDefinition } from "./operations/registry";
import { RedisDurability } from "./queue/persistence";
import { createJobQueues, type JobQueues } from "./queue/queues";
import { closeConnection, createRedisConnection } from "./queue/redis";
import type { JobName } from "./queue/schema";
import { startWorkers, type Workers } from "./queue/worker";
// ssh2 is loaded only by processes that connect to nodes (workers, console): a bot never loads it.
import type { SshNodeSettings, SshPool, SshPoolOptions } from "./ssh/pool";

export interface DepsConfig {
  inventory: InventoryConfig;
  logger: Logger;
  redisUrl: string;
  queuePrefix: string;
  /** Where `{ env: NAME }` secrets are read from. */
  secretEnv: SecretEnv;
  notifier: Notifier;
  groups: GroupDirectory;
  /** Connect to nodes (workers). A bot-only process does not need the keys. */
  ssh?: boolean;
  sshOptions?: SshPoolOptions;
  /** Replace SSH entirely (tests of the layers above). */
  runnerFor?: (cluster: string, node: string) => CommandRunner;
  workerConcurrency?: number;
  actions?: readonly ActionHandler[];
  /** Called for every job a command or action queues (the console waits for them). */
  onEnqueued?: (job: EnqueuedJob & { cluster: string; name: JobName }) => void;
  /** Metrics of this process (default: a new registry without process metrics). */
  metrics?: Metrics;
  /** The audit log file (XENOPS_AUDIT_FILE); without it nothing is audited and `/xen history` says so. */
  auditFile?: string;
  /** DRBD resync watch timing (tests shorten it). */
  watch?: Partial<WatchSettings>;
  /** At close, how long jobs still running may take to finish before what they write to closes (default 5 s). */
  shutdownGraceMs?: number;
  /**
   * XENOPS_ALLOW_VOLATILE_REDIS (development only): risky actions run even when Redis has no AOF.
   * Without it they are refused, and /healthz says why.
   */
  allowVolatileRedis?: boolean;
  /** How often the Redis persistence settings are read again (default 60 s; tests: 0). */
  persistenceRefreshMs?: number;
  /** Risky operations: timeouts, lock TTL, verification and crash-recovery timing (tests shorten them). */
  operations?: Partial<OperationSettings>;
  /**
   * Cluster events: start the monitor, events2 streams and webhook with the workers. Off by
   * default; the runtime turns it on. An object tunes it (tests, lab).
   */
  events?:
    | boolean
    | Pick<EventsConfig, "webhookPort" | "removeSchedulersOnStop" | "incidentPolicy" | "now" | "operations">;
}

export interface Deps {
  inventory: InventoryConfig;
  logger: Logger;
  jobs: JobQueues;
  core: CommandCore;
  notifier: Notifier;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  pools: ReadonlyMap<string, SshPool>;
  /** Starts workers for these clusters (default: all) in this process. */
  startWorkers(clusters?: readonly string[]): Workers;
  close(): Promise<void>;
  /** Jobs by name and outcome, SSH latency, events (`metrics.event(kind)`), Slack sender (set by the runtime). */
  metrics: Metrics;
  /** Audit records (no-op without `auditFile`); `audit.append` is the ApprovalEngine's `audit` hook. */
  audit: AuditRecorder;
  /** The client the lifecycle pieces share (audit, cards, healthz). */
  redis: Redis;
  jobAdmin: JobAdmin;
  cards: CardStore;
  /** For /healthz: whether this process runs workers, and for which clusters. */
  workerHealth(): { running: boolean; clusters: readonly string[] };
  /** Cluster events: pipeline, incidents, `isInMaintenance(cluster, node)`, `reportFence(...)`. */
  events: Events;
  /** The approval engine (requests, atomic decisions, execution claims and journals). */
  approvals: ApprovalEngine;
  /** Locks of risky actions (fencing tokens). */
  locks: LockManager;
  /** Whether Redis keeps what is written (AOF): refusals of risky actions, /healthz `redis_persistence`. */
  durability: RedisDurability;
  /** What the risky operations (migrate, create, fence, evacuate) run on: planner, executor, recovery. */
  operations: OperationDeps;
}

async function sshSettings(
  inventory: InventoryConfig,
  cluster: string,
  env: SecretEnv,
): Promise<SshNodeSettings[]> {
  const config = inventory.clusters.find((c) => c.name === cluster);
  if (!config) throw new XenopsError("unknown_cluster", `unknown cluster "${cluster}"`);
  const { sshNodeSettings } = await import("./ssh/pool");
  return Promise.all(
    config.nodes.map(async (node) => {
      const what = `${cluster}/${node.name}`;
      const privateKey = await resolveSecret(node.privateKey, env, `${what} privateKey`);
      const passphrase = node.passphrase
        ? await resolveSecret(node.passphrase, env, `${what} passphrase`)
        : undefined;
      return sshNodeSettings(node, passphrase === undefined ? { privateKey } : { privateKey, passphrase });
    }),
  );
}

/** Wraps each processor so that its runs in progress are in `inFlight`. */
function trackRunning<P extends object>(inFlight: Set<Promise<unknown>>, processors: P): P {
  const out: Record<string, unknown> = {};
  for (const [name, processor] of Object.entries(processors)) {
    const run = processor as (job: unknown, token: unknown, signal: unknown) => Promise<unknown>;
    // Three declared parameters: BullMQ only creates abort signals for processors of length >= 3.
    out[name] = (job: unknown, token: unknown, signal: unknown) => {
      const p = run(job, token, signal);
      inFlight.add(p);
      void p.then(
        () => inFlight.delete(p),
        () => inFlight.delete(p),
      );
      return p;
    };
  }
  return out as P;
}

/** Waits up to `graceMs` for the jobs still running; the ones left are the next worker's to recover. */
async function settleRunning(
  inFlight: Set<Promise<unknown>>,
  graceMs: number,
  logger: Logger,
): Promise<void> {
  if (inFlight.size === 0) return;
  logger.info({ jobs: inFlight.size, graceMs }, "shutdown: waiting for running jobs");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), graceMs);
  });
  const outcome = await Promise.race([Promise.allSettled([...inFlight]).then(() => "done" as const), late]);
  clearTimeout(timer);
  if (outcome === "late")
    logger.warn({ jobs: inFlight.size }, "shutdown: jobs still running; the next worker recovers them");
}

export async function createDeps(config: DepsConfig): Promise<Deps> {
  const { inventory } = config;
  // Every line logged while a job runs carries its job id, number and Slack user (src/observability/job-context).
  const logger = jobContextLogger(config.logger);
  const metrics = config.metrics ?? new Metrics({ defaultMetrics: false });
  const clusterNames = inventory.clusters.map((c) => c.name);
  const pools = new Map<string, SshPool>();
  if (config.ssh !== false && !config.runnerFor) {
    const { SshPool } = await import("./ssh/pool");
    for (const cluster of inventory.clusters) {
      const nodes = await sshSettings(inventory, cluster.name, config.secretEnv);
      pools.set(
        cluster.name,
        new SshPool({
          nodes,
          logger: logger.child({ component: "ssh", cluster: cluster.name }),
          options: { defaultTimeoutMs: cluster.commandTimeoutMs, ...config.sshOptions },
        }),
      );
    }
  }

  const runnerFor =
    config.runnerFor ??
    ((cluster: string, node: string): CommandRunner => {
      const pool = pools.get(cluster);
      if (!pool)
        throw new XenopsError("unknown_cluster", `no SSH access configured for cluster "${cluster}"`);
      return pool.runner(node);
    });
  // SSH latency per node (metrics) and the commands each job ran (its audit record).
  const observedRunnerFor = (cluster: string, node: string): CommandRunner =>
    observeRunner(runnerFor(cluster, node), cluster, (c, n, seconds, ok) =>
      metrics.sshCommand(c, n, seconds, ok),
    );
  const clusterDrivers = new Map(inventory.clusters.map((c) => [c.name, driversFor(c.toolstack)]));
  const driversForCluster = (cluster: string): ClusterDrivers => {
    const drivers = clusterDrivers.get(cluster);
    if (!drivers) throw new XenopsError("unknown_cluster", `unknown cluster "${cluster}"`);
    return drivers;
  };

  const jobs = createJobQueues({
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    clusters: clusterNames,
    logger: logger.child({ component: "queue" }),
  });
  const redis = createRedisConnection(config.redisUrl, { role: "client", name: "xenops:lifecycle", logger });
  const auditLog = config.auditFile
    ? new AuditLog({ redis, prefix: config.queuePrefix, file: config.auditFile, logger })
    : null;
  const audit = new AuditRecorder(auditLog, logger.child({ component: "audit" }), {
    redis,
    prefix: config.queuePrefix,
  });
  const cards = new RedisCardStore(redis, config.queuePrefix);
  const durability = new RedisDurability(redis, {
    allowVolatile: config.allowVolatileRedis === true,
    logger: logger.child({ component: "persistence" }),
    ...(config.persistenceRefreshMs !== undefined ? { refreshMs: config.persistenceRefreshMs } : {}),
  });
  // Read at start, so a Redis without AOF is reported in the log right away.
  void durability
    .persistence()
    .catch((err: unknown) => logger.warn({ err }, "could not read Redis persistence"));
  const queuedBy = new DeliveryJobs();
  const observedJobs: JobEnqueuer = {
    async enqueue(cluster, name, payload, options) {
      const job = await jobs.enqueue(cluster, name, payload, options);
      config.onEnqueued?.({ ...job, cluster, name });
      queuedBy.remember(options.deliveryId, { jobId: job.jobId, number: job.number, cluster });
      // The "queued" card, off the ack path (jobs whose JobSpec has `card: true`).
      if (!job.duplicate)
        void announceQueuedJob(
          { notifier: config.notifier, cards, logger },
          { jobId: job.jobId, number: job.number, name, payload },
        );
      return job;
    },
  };
  // Risky operations: one approval engine and one lock manager per process, each on a connection of its
  // own (their durable writes WAIT on it; a lock renewal must not queue behind an approval's WAIT).
  const locksLogger = logger.child({ component: "locks" });
  const locksRedis = createRedisConnection(config.redisUrl, {
    role: "client",
    name: "xenops:locks",
    logger: locksLogger,
  });
  const locks = new LockManager({ redis: locksRedis, prefix: config.queuePrefix, logger: locksLogger });
  const approvalsRedis = createRedisConnection(config.redisUrl, {
    role: "client",
    name: "xenops:approval",
    logger: logger.child({ component: "approval" }),
  });
  const approvals = new ApprovalEngine({
    redis: approvalsRedis,
    prefix: config.queuePrefix,
    notifier: config.notifier,
    authorizer: new Authorizer(inventory.roles, config.groups),
    logger,
    audit: (entry) => audit.append(entry),
    durability,
    // The winner of a decision queues the execution; the delivery id makes a retried enqueue the same job.
    async enqueueExecution(record, { deliveryId }) {
      const cluster = record.plan.cluster;
      // Every approved action runs in the one executor (src/operations/registry.ts); unknown ones throw.
      return observedJobs.enqueue(
        cluster,
        actionDefinition(record.plan.action).executionJob,
        {
          cluster,
          channel: record.channel,
          requestedBy: record.requestedBy,
          deliveryId,
          requestText: record.plan.summary,
          approvalId: record.id,
        },
        { deliveryId },
      );
    },
  });
  const mutations = new Map<string, MutationDrivers>();
  // Proofs that nodes are off (verified fences, attestations), on the shared lifecycle client.
  const offProofs = new OffProofStore(redis, config.queuePrefix, logger.child({ component: "off-proofs" }));
  const operations: OperationDeps = {
    inventory,
    runnerFor: observedRunnerFor,
    driversFor: driversForCluster,
    mutationsFor(cluster) {
      const known = mutations.get(cluster);
      if (known) return known;
      const c = inventory.clusters.find((x) => x.name === cluster);
      if (!c) throw new XenopsError("unknown_cluster", `unknown cluster "${cluster}"`);
      const built = mutationDriversFor(c.toolstack);
      mutations.set(cluster, built);
      return built;
    },
    notifier: config.notifier,
    logger: logger.child({ component: "operations" }),
    approvals,
    locks,
    jobs: observedJobs,
    secretEnv: config.secretEnv,
    settings: {
      ...DEFAULT_OPERATION_SETTINGS,
      ...operationSettingsOf(config.inventory.operations),
      ...config.operations,
    },
    audit: (entry) => audit.append(entry),
    // Risky actions are refused on a node in a maintenance window.
    maintenance: (cluster, node) => events.isInMaintenance(cluster, node),
    offProofs,
    // A split-brain recovery tells the incidents it runs and resolves them (src/events/index.ts).
    splitBrainEvents: {
      recovering: (cluster, resource, approvalId) =>
        events.splitBrainEvents.recovering(cluster, resource, approvalId),
      resolved: (cluster, resource, title, evidence) =>
        events.splitBrainEvents.resolved(cluster, resource, title, evidence),
    },
  };
  const recoveries: { stop(): Promise<void> }[] = [];

  const eventOptions = typeof config.events === "object" ? config.events : {};
  const events = new Events({
    inventory,
    logger,
    // The lifecycle client: plain commands, like the card store's and the off-proofs'.
    redis,
    prefix: config.queuePrefix,
    notifier: config.notifier,
    secretEnv: config.secretEnv,
    groups: config.groups,
    runnerFor: observedRunnerFor,
    driversFor: driversForCluster,
    queues: jobs,
    jobs: observedJobs,
    approvals: () => ({ engine: approvals, locks }),
    onEvent: (kind) => metrics.event(kind),
    paging: {
      onPage: (service, action, result) => metrics.page(service, action, result),
      audit: (entry) => audit.record(entry),
    },
    // A proof that a node is off is void once the node is seen alive (src/operations/liveness.ts).
    onSnapshot: (state) => offProofs.clearSeenAlive(state.cluster, state),
    onMonitorPass: (pass) => metrics.monitorPass(pass),
    ...eventOptions,
  });
  const jobAdmin = createJobAdmin({
    jobs,
    inventory,
    groups: config.groups,
    notifier: config.notifier,
    cards,
    audit: (entry) => audit.record(entry),
    ...(auditLog ? { history: (n: number) => audit.recent(n) } : {}),
    logger,
  });
  const isRunning = async (jobId: string): Promise<boolean> => {
    const job = await jobs.getJob(jobId);
    return job ? ["active", "waiting", "delayed", "prioritized"].includes(await job.getState()) : false;
  };
  const core = createCommandCore({
    inventory,
    commands,
    jobs: observedJobs,
    groups: config.groups,
    logger: logger.child({ component: "core" }),
    actions: [
      ...(config.actions ?? []),
      createCancelAction(jobAdmin),
      events.actionHandler,
      events.oncall.actionHandler(),
      approvalActionHandler(approvals),
    ],
    jobAdmin,
    onCommand: (event) => audit.record(commandAuditEntry(event, queuedBy.take(event.request.deliveryId))),
  });

  const running: Workers[] = [];
  const inFlight = new Set<Promise<unknown>>();
  // The doctor's checks the monitor runs in the background (monitor.doctorEvery).
  const doctorRuns = new DoctorRuns({
    redis,
    prefix: config.queuePrefix,
    runnerFor: observedRunnerFor,
    secretEnv: config.secretEnv,
    logger: logger.child({ component: "doctor" }),
    report: (event) => events.pipeline.report(event),
  });
  let closing = false;
  return {
    inventory,
    logger,
    jobs,
    core,
    notifier: config.notifier,
    runnerFor: observedRunnerFor,
    driversFor: driversForCluster,
    pools,
    metrics,
    audit,
    redis,
    jobAdmin,
    cards,
    events,
    approvals,
    locks,
    durability,
    operations,
    workerHealth() {
      return {
        running: running.length > 0 && !closing,
        clusters: [...new Set(running.flatMap((w) => w.clusters))],
      };
    },
    startWorkers(clusters = clusterNames) {
      const workers = startWorkers({
        redisUrl: config.redisUrl,
        prefix: config.queuePrefix,
        clusters,
        concurrency: config.workerConcurrency ?? 4,
        logger: logger.child({ component: "worker" }),
        // Instrumented: job context in the logs, metrics by job and outcome, the outcome's audit record;
        // tracked, so close() lets running jobs write their outcome before the audit log closes.
        processors: trackRunning(
          inFlight,
          instrumentProcessors(
            createProcessors({
              inventory,
              logger,
              notifier: config.notifier,
              secretEnv: config.secretEnv,
              runnerFor: observedRunnerFor,
              driversFor: driversForCluster,
              cards,
              watchRegistry: new RedisWatchRegistry(redis, config.queuePrefix, isRunning),
              ...(config.watch ? { watch: config.watch } : {}),
              onEvent: (kind) => metrics.event(kind),
              events,
              doctorRuns,
              operations,
              approvals,
            }),
            {
              inventory,
              metrics,
              audit: (entry) => audit.record(entry),
              jobNumber: (jobId) => cards.jobNumber(jobId),
              logger,
            },
          ),
        ),
      });
      running.push(workers);
      // Approval expiry and stalled enqueues; then executions whose worker died (at start and periodically).
      approvals.start();
      recoveries.push(
        startRecovery(operations, {
          clusters,
          owner: `${process.pid}-${Date.now().toString(36)}`,
          // The orphan sweep: an approved execution whose job is gone and whose journal Redis lost.
          jobState: async (jobId) => (await (await jobs.getJob(jobId))?.getState()) ?? "unknown",
        }),
      );
      if (!config.events) return workers;
      // The event sources (monitor schedulers, events2 streams, webhook) run where the workers run.
      const sources = events.start(clusters).catch((err: unknown) => {
        logger.error({ err }, "cluster event sources did not start");
        return null;
      });
      return { ...workers, ready: async () => void (await Promise.all([workers.ready(), sources])) };
    },
    async close() {
      closing = true;
      await Promise.allSettled(recoveries.map((r) => r.stop()));
      await events.stopSources();
      await Promise.allSettled(running.map((w) => w.close(true)));
      // The workers take no more jobs; the running ones still use the queues, SSH and the audit log.
      await settleRunning(inFlight, config.shutdownGraceMs ?? 5_000, logger);
      await doctorRuns.settle();
      await events.close();
      await jobs.close();
      await Promise.allSettled([...pools.values()].map((p) => p.close()));
      await approvals.close();
      await locks.close();
      await closeConnection(approvalsRedis);
      await closeConnection(locksRedis);
      await audit.flush();
      await auditLog?.close();
      await closeConnection(redis);
    },
  };
}
