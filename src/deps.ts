/**
 * Composition root: builds the logger-bound pieces (SSH pools, drivers, queues, command core) from
 * the inventory. Entry points (CLI, lab) call createDeps and pass in the front-end specific parts
 * (notifier, group directory), so tests swap parts without monkey-patching.
 */
import { commands } from "../commands";
import { createStatusProcessor } from "../jobs/status";
import type { CommandCore, GroupDirectory, Notifier } from "./app/types";
import type { ClusterDrivers } from "./cluster/snapshot";
import type { InventoryConfig } from "./config/schema";
import { resolveSecret, type SecretEnv } from "./config/secrets";
import type { EnqueuedJob, JobEnqueuer } from "./core/enqueuer";
import type { ActionHandler } from "./core/router";
import { createCommandCore } from "./core/router";
import { driversFor } from "./drivers/registry";
import { XenopsError } from "./errors";
import type { CommandRunner } from "./exec/runner";
import type { Logger } from "./log";
import { createJobQueues, type JobQueues } from "./queue/queues";
import type { JobName } from "./queue/schema";
import { startWorkers, type Workers } from "./queue/worker";
import { type SshNodeSettings, SshPool, type SshPoolOptions, sshNodeSettings } from "./ssh/pool";

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
}

async function sshSettings(
  inventory: InventoryConfig,
  cluster: string,
  env: SecretEnv,
): Promise<SshNodeSettings[]> {
  const config = inventory.clusters.find((c) => c.name === cluster);
  if (!config) throw new XenopsError("unknown_cluster", `unknown cluster "${cluster}"`);
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

export async function createDeps(config: DepsConfig): Promise<Deps> {
  const { inventory, logger } = config;
  const clusterNames = inventory.clusters.map((c) => c.name);
  const pools = new Map<string, SshPool>();
  if (config.ssh !== false && !config.runnerFor) {
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
  const observedJobs: JobEnqueuer = {
    async enqueue(cluster, name, payload, options) {
      const job = await jobs.enqueue(cluster, name, payload, options);
      config.onEnqueued?.({ ...job, cluster, name });
      return job;
    },
  };
  const core = createCommandCore({
    inventory,
    commands,
    jobs: observedJobs,
    groups: config.groups,
    logger: logger.child({ component: "core" }),
    ...(config.actions ? { actions: config.actions } : {}),
  });

  const running: Workers[] = [];
  return {
    inventory,
    logger,
    jobs,
    core,
    notifier: config.notifier,
    runnerFor,
    driversFor: driversForCluster,
    pools,
    startWorkers(clusters = clusterNames) {
      const workers = startWorkers({
        redisUrl: config.redisUrl,
        prefix: config.queuePrefix,
        clusters,
        concurrency: config.workerConcurrency ?? 4,
        logger: logger.child({ component: "worker" }),
        processors: {
          status: createStatusProcessor({
            inventory,
            runnerFor,
            driversFor: driversForCluster,
            notifier: config.notifier,
            logger: logger.child({ component: "job" }),
          }),
        },
      });
      running.push(workers);
      return workers;
    },
    async close() {
      await Promise.allSettled(running.map((w) => w.close(true)));
      await jobs.close();
      await Promise.allSettled([...pools.values()].map((p) => p.close()));
    },
  };
}
