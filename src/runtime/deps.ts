/**
 * Composition root: builds the logger-bound pieces (SSH pools, drivers, queues, command core) from the
 * inventory, one small factory each (this folder). Entry points (CLI, lab) call createDeps and pass in the
 * front-end specific parts (notifier, group directory), so tests swap parts without monkey-patching. Only
 * this file imports commands/ and jobs/.
 */
import type { Redis } from "ioredis";
import { commands } from "../../commands";
import { createProcessors } from "../../jobs";
import type { WatchSettings } from "../../jobs/drbd-watch";
import type { ApprovalEngine } from "../approval/engine";
import type { AuditRecorder } from "../audit/recorder";
import type { EnqueuedJob } from "../chat/enqueuer";
import type { JobAdmin } from "../chat/job-admin";
import type { ActionHandler } from "../chat/router";
import type { CommandCore, GroupDirectory, Notifier } from "../chat/types";
import type { CommandRunner } from "../command-runner";
import type { InventoryConfig } from "../config/schema";
import type { SecretEnv } from "../config/secrets";
import { DoctorRuns } from "../doctor/monitor";
import type { ClusterDrivers } from "../drivers/types";
import type { Events } from "../events";
import type { CardStore } from "../job-cards/card-store";
import { RedisWatchRegistry } from "../job-cards/watch-registry";
import type { LockManager } from "../locks/lock";
import type { Logger } from "../log";
import { jobContextLogger } from "../observability/job-context";
import { Metrics } from "../observability/metrics";
import type { OperationDeps, OperationSettings } from "../operations/context";
import type { RedisDurability } from "../queue/persistence";
import { createJobQueues, type JobQueues } from "../queue/queues";
import type { JobName } from "../queue/schema";
import type { Workers } from "../queue/worker";
import type { SshPool, SshPoolOptions } from "../ssh/pool";
import { openClusterAccess } from "./cluster-access";
import { createCore } from "./command-core";
import { observedEnqueuer } from "./enqueuer";
import { createClusterEvents, type EventOptions } from "./events";
import { createOperations } from "./operations";
import { openRedisClients } from "./redis-clients";
import { openStores } from "./stores";
import { createWorkerHost } from "./workers";

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
  events?: boolean | EventOptions;
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

export async function createDeps(config: DepsConfig): Promise<Deps> {
  const { inventory, notifier, groups, secretEnv, queuePrefix: prefix } = config;
  // Every line logged while a job runs carries its job id, number and Slack user (src/observability/job-context).
  const logger = jobContextLogger(config.logger);
  const metrics = config.metrics ?? new Metrics({ defaultMetrics: false });
  const clusterNames = inventory.clusters.map((c) => c.name);
  const access = await openClusterAccess({
    inventory,
    logger,
    secretEnv,
    metrics,
    ...(config.ssh !== undefined ? { ssh: config.ssh } : {}),
    ...(config.sshOptions ? { sshOptions: config.sshOptions } : {}),
    ...(config.runnerFor ? { runnerFor: config.runnerFor } : {}),
  });
  const queues = createJobQueues({
    redisUrl: config.redisUrl,
    prefix,
    clusters: clusterNames,
    logger: logger.child({ component: "queue" }),
  });
  const redis = openRedisClients(config.redisUrl, logger);
  const stores = openStores({
    redis: redis.lifecycle,
    prefix,
    logger,
    auditFile: config.auditFile,
    allowVolatileRedis: config.allowVolatileRedis,
    persistenceRefreshMs: config.persistenceRefreshMs,
  });
  const { audit, cards, durability } = stores;
  const { jobs, queuedBy } = observedEnqueuer({
    queues,
    notifier,
    cards,
    logger,
    onEnqueued: config.onEnqueued,
  });
  const ops = createOperations({
    inventory,
    logger,
    prefix,
    redis,
    access,
    notifier,
    groups,
    secretEnv,
    jobs,
    audit,
    durability,
    settings: config.operations,
    // The events need the approvals and locks; the operations call them only once everything is built.
    events: () => events,
  });
  const events = createClusterEvents({
    inventory,
    logger,
    redis: redis.lifecycle,
    prefix,
    notifier,
    groups,
    secretEnv,
    access,
    queues,
    jobs,
    operations: ops,
    metrics,
    audit,
    ...(typeof config.events === "object" ? { tuning: config.events } : {}),
  });
  const { core, jobAdmin } = createCore({
    inventory,
    logger,
    commands,
    queues,
    jobs,
    queuedBy,
    groups,
    notifier,
    cards,
    audit,
    audited: stores.audited,
    events,
    approvals: ops.approvals,
    actions: config.actions,
  });
  // The doctor's checks the monitor runs in the background (monitor.doctorEvery).
  const doctorRuns = new DoctorRuns({
    redis: redis.lifecycle,
    prefix,
    runnerFor: access.runnerFor,
    secretEnv,
    logger: logger.child({ component: "doctor" }),
    report: (event) => events.pipeline.report(event),
  });
  const isRunning = async (jobId: string): Promise<boolean> => {
    const job = await queues.getJob(jobId);
    return job ? ["active", "waiting", "delayed", "prioritized"].includes(await job.getState()) : false;
  };
  const workers = createWorkerHost({
    inventory,
    logger,
    redisUrl: config.redisUrl,
    prefix,
    concurrency: config.workerConcurrency ?? 4,
    processors: () =>
      createProcessors({
        inventory,
        logger,
        notifier,
        secretEnv,
        runnerFor: access.runnerFor,
        driversFor: access.driversFor,
        cards,
        watchRegistry: new RedisWatchRegistry(redis.lifecycle, prefix, isRunning),
        ...(config.watch ? { watch: config.watch } : {}),
        onEvent: (kind) => metrics.event(kind),
        events,
        doctorRuns,
        operations: ops.operations,
        approvals: ops.approvals,
      }),
    metrics,
    audit,
    cards,
    queues,
    approvals: ops.approvals,
    operations: ops.operations,
    events,
    eventSources: Boolean(config.events),
    shutdownGraceMs: config.shutdownGraceMs ?? 5_000,
  });
  return {
    inventory,
    logger,
    jobs: queues,
    core,
    notifier,
    runnerFor: access.runnerFor,
    driversFor: access.driversFor,
    pools: access.pools,
    metrics,
    audit,
    redis: redis.lifecycle,
    jobAdmin,
    cards,
    events,
    approvals: ops.approvals,
    locks: ops.locks,
    durability,
    operations: ops.operations,
    workerHealth: () => workers.health(),
    startWorkers: (clusters = clusterNames) => workers.start(clusters),
    async close() {
      await workers.close();
      await doctorRuns.settle();
      await events.close();
      await queues.close();
      await access.close();
      await ops.approvals.close();
      await ops.locks.close();
      await redis.close("approvals", "locks");
      await stores.close();
      await redis.close("lifecycle");
    },
  };
}
