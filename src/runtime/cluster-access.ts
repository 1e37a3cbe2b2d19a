/**
 * How this process reaches the clusters: SSH settings and one pool per cluster (or the runner a test passes
 * in), the runner every layer uses (observed: SSH latency in the metrics, the commands in each job's audit
 * record), and each cluster's drivers and mutation argv builders.
 */
import type { CommandRunner } from "../command-runner";
import type { InventoryConfig } from "../config/schema";
import { resolveSecret, type SecretEnv } from "../config/secrets";
import { driversFor, type MutationDrivers, mutationDriversFor } from "../drivers/registry";
import type { ClusterDrivers } from "../drivers/types";
import { XenopsError } from "../errors";
import type { Logger } from "../log";
import { observeRunner } from "../observability/instrument";
import type { Metrics } from "../observability/metrics";
// ssh2 is loaded only by processes that connect to nodes (workers, console): a bot never loads it.
import type { SshNodeSettings, SshPool, SshPoolOptions } from "../ssh/pool";

export interface ClusterAccessOptions {
  inventory: InventoryConfig;
  logger: Logger;
  secretEnv: SecretEnv;
  metrics: Metrics;
  /** Connect to nodes (workers). A bot-only process does not need the keys. */
  ssh?: boolean;
  sshOptions?: SshPoolOptions;
  /** Replace SSH entirely (tests of the layers above). */
  runnerFor?: (cluster: string, node: string) => CommandRunner;
}

export interface ClusterAccess {
  pools: ReadonlyMap<string, SshPool>;
  /** The observed runner: metrics and audit around the pool's (or the test's) runner. */
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  /** Built on first use per cluster. */
  mutationsFor(cluster: string): MutationDrivers;
  /** Closes the SSH pools. */
  close(): Promise<void>;
}

function clusterConfig(inventory: InventoryConfig, cluster: string) {
  const config = inventory.clusters.find((c) => c.name === cluster);
  if (!config) throw new XenopsError("unknown_cluster", `unknown cluster "${cluster}"`);
  return config;
}

async function sshSettings(
  inventory: InventoryConfig,
  cluster: string,
  env: SecretEnv,
): Promise<SshNodeSettings[]> {
  const config = clusterConfig(inventory, cluster);
  const { sshNodeSettings } = await import("../ssh/pool");
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

async function openPools(options: ClusterAccessOptions): Promise<Map<string, SshPool>> {
  const pools = new Map<string, SshPool>();
  if (options.ssh === false || options.runnerFor) return pools;
  const { SshPool } = await import("../ssh/pool");
  for (const cluster of options.inventory.clusters) {
    const nodes = await sshSettings(options.inventory, cluster.name, options.secretEnv);
    pools.set(
      cluster.name,
      new SshPool({
        nodes,
        logger: options.logger.child({ component: "ssh", cluster: cluster.name }),
        options: { defaultTimeoutMs: cluster.commandTimeoutMs, ...options.sshOptions },
      }),
    );
  }
  return pools;
}

export async function openClusterAccess(options: ClusterAccessOptions): Promise<ClusterAccess> {
  const { inventory, metrics } = options;
  const pools = await openPools(options);
  const runnerFor =
    options.runnerFor ??
    ((cluster: string, node: string): CommandRunner => {
      const pool = pools.get(cluster);
      if (!pool)
        throw new XenopsError("unknown_cluster", `no SSH access configured for cluster "${cluster}"`);
      return pool.runner(node);
    });
  const clusterDrivers = new Map(inventory.clusters.map((c) => [c.name, driversFor(c.toolstack)]));
  const mutations = new Map<string, MutationDrivers>();
  return {
    pools,
    // SSH latency per node (metrics) and the commands each job ran (its audit record).
    runnerFor: (cluster, node) =>
      observeRunner(runnerFor(cluster, node), cluster, (c, n, seconds, ok) =>
        metrics.sshCommand(c, n, seconds, ok),
      ),
    driversFor(cluster) {
      const drivers = clusterDrivers.get(cluster);
      if (!drivers) throw new XenopsError("unknown_cluster", `unknown cluster "${cluster}"`);
      return drivers;
    },
    mutationsFor(cluster) {
      const known = mutations.get(cluster);
      if (known) return known;
      const built = mutationDriversFor(clusterConfig(inventory, cluster).toolstack);
      mutations.set(cluster, built);
      return built;
    },
    async close() {
      await Promise.allSettled([...pools.values()].map((p) => p.close()));
    },
  };
}
