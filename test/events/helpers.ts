/**
 * Event tests without SSH: a CommandRunner over the simulator in-process (a node that is down or
 * unreachable fails like SSH does, a stream of a node that dies breaks), the lab's cluster config,
 * and an event pipeline on the test Redis with a recording notifier and a manual clock.
 */

import { takeSnapshot } from "../../src/cluster/snapshot";
import type { CommandRunner, ExecResult, RunOptions, StreamHandle } from "../../src/command-runner";
import { type ClusterConfig, InventoryConfig } from "../../src/config/schema";
import { driversFor } from "../../src/drivers/registry";
import type { ClusterDrivers } from "../../src/drivers/types";
import { ExecError } from "../../src/errors";
import type { IncidentPolicy } from "../../src/events/incidents";
import { IncidentManager } from "../../src/events/incidents";
import { MaintenanceStore } from "../../src/events/maintenance";
import { readHeartbeat } from "../../src/events/monitor";
import { EventPipeline } from "../../src/events/pipeline";
import { EventStore, eventKeys } from "../../src/events/store";
import { silentLogger } from "../../src/log";
import type { ClusterState } from "../../src/model";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { handleCommand, type SimClusterSpecInput, Simulation } from "../../src/sim";
import { quoteArgv } from "../../src/ssh/quote";
import { RecordingNotifier } from "../approval/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";

function transport(
  node: string,
  argv: readonly string[],
  code: "ssh_connect_failed" | "ssh_disconnected",
  message: string,
) {
  return new ExecError(code, `${node}: ${message}`, {
    node,
    argv,
    exitCode: null,
    signal: null,
    stdout: "",
    stderr: "",
  });
}

/** A CommandRunner over the simulator: exit codes checked like the SSH runner, transport failures for dead nodes. */
export function simRunner(sim: Simulation, node: string): CommandRunner {
  const down = () => {
    const n = sim.node(node);
    return !n?.up || n.reachability !== "ok";
  };
  return {
    node,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
      if (down()) throw transport(node, argv, "ssh_connect_failed", "connect ECONNREFUSED");
      let stdout = "";
      let stderr = "";
      const ac = new AbortController();
      const { exitCode } = await handleCommand({ sim, node }, quoteArgv(argv), {
        stdout: (t) => {
          stdout += t;
        },
        stderr: (t) => {
          stderr += t;
        },
        readStdin: async () => options.stdin ?? "",
        signal: options.signal ?? ac.signal,
      });
      if (!(options.okExitCodes ?? [0]).includes(exitCode))
        throw new ExecError("exec_failed", `${node}: ${argv[0]} exited ${exitCode}: ${stderr.trim()}`, {
          node,
          argv,
          exitCode,
          signal: null,
          stdout,
          stderr,
        });
      return { stdout, stderr, exitCode, durationMs: 0 };
    },
    stream(argv, onLine, options = {}): StreamHandle {
      const ac = new AbortController();
      options.signal?.addEventListener("abort", () => ac.abort(), { once: true });
      let partial = "";
      let broke: ((err: Error) => void) | null = null;
      const brokenPromise = new Promise<never>((_, reject) => {
        broke = reject;
      });
      const off = sim.onChange(() => {
        if (down()) {
          off();
          ac.abort();
          broke?.(transport(node, argv, "ssh_disconnected", "connection lost"));
        }
      });
      const done = (async (): Promise<ExecResult> => {
        if (down()) {
          off();
          throw transport(node, argv, "ssh_connect_failed", "connect ECONNREFUSED");
        }
        const run = handleCommand({ sim, node }, quoteArgv(argv), {
          stdout: (t) => {
            partial += t;
            let nl = partial.indexOf("\n");
            while (nl >= 0) {
              onLine(partial.slice(0, nl));
              partial = partial.slice(nl + 1);
              nl = partial.indexOf("\n");
            }
          },
          stderr: () => {},
          readStdin: async () => "",
          signal: ac.signal,
        });
        const r = await Promise.race([run, brokenPromise]);
        off();
        return { stdout: "", stderr: "", exitCode: ac.signal.aborted ? -1 : r.exitCode, durationMs: 0 };
      })();
      done.catch(() => {});
      return { done, close: () => ac.abort() };
    },
  };
}

/** The inventory of a simulated lab (no SSH details needed by in-process runners). */
export function simInventory(
  sim: Simulation,
  extra: Partial<ClusterConfig> = {},
  top: Record<string, unknown> = {},
): InventoryConfig {
  const s = sim.state;
  return InventoryConfig.parse({
    clusters: [
      {
        name: s.name,
        channels: ["C0LAB"],
        toolstack: { hypervisor: s.toolstack.hypervisor, drbd: s.toolstack.drbd, ha: s.toolstack.ha },
        nodes: s.nodes.map((n) => ({
          name: n.name,
          host: "127.0.0.1",
          privateKey: { file: "/dev/null" },
          hostKey: `SHA256:${"A".repeat(43)}`,
        })),
        guests: s.guests.map((g) => ({ name: g.name, ...(g.home ? { home: g.home } : {}), drbd: g.drbd })),
        drbd: s.drbd.map((r) => ({ name: r.name, minor: r.minor, nodes: [...r.nodes] })),
        ...extra,
      },
    ],
    roles: {
      viewer: { users: ["UVIEWER1"] },
      operator: { users: ["UOPER1", "UOPER2"] },
      approver: { users: ["UAPPROVER1", "UAPPROVER2"] },
      admin: { users: ["UADMIN1"] },
    },
    oncall: { users: ["UONCALL1"], groups: ["SONCALL1"] },
    ...top,
  });
}

export function snapshotOf(
  sim: Simulation,
  cluster: ClusterConfig,
  drivers?: ClusterDrivers,
): Promise<ClusterState> {
  return takeSnapshot(
    cluster,
    {
      runnerFor: (n) => simRunner(sim, n),
      drivers: drivers ?? driversFor(cluster.toolstack),
      logger: silentLogger(),
      now: () => new Date(sim.now()),
    },
    { timeoutMs: 2_000 },
  );
}

export interface Harness {
  sim: Simulation;
  inventory: InventoryConfig;
  cluster: ClusterConfig;
  notifier: RecordingNotifier;
  pipeline: EventPipeline;
  incidents: IncidentManager;
  maintenance: MaintenanceStore;
  store: EventStore;
  prefix: string;
  /** Snapshot the simulated cluster and feed it to the pipeline (one monitor run). */
  poll(): ReturnType<EventPipeline["observe"]>;
  /** Advance simulated time (the pipeline's clock follows the sim's). */
  tick(ms: number): void;
  /** A second pipeline on the same Redis state (a restarted bot). */
  restart(): Harness;
  close(): Promise<void>;
}

export function harness(
  spec: SimClusterSpecInput,
  opts: {
    prefix?: string;
    policy?: Partial<IncidentPolicy>;
    cluster?: Partial<ClusterConfig>;
    sim?: Simulation;
    notifier?: RecordingNotifier;
    /** poll() also tails heartbeat's log, as the monitor does. */
    haLog?: boolean;
  } = {},
): Harness {
  const sim = opts.sim ?? new Simulation(spec);
  const inventory = simInventory(sim, opts.cluster ?? {});
  const cluster = inventory.clusters[0] as ClusterConfig;
  const prefix = opts.prefix ?? uniquePrefix("events");
  const redis = createRedisConnection(testRedisUrl(), { role: "client" });
  const keys = eventKeys(prefix);
  const now = () => sim.now();
  const store = new EventStore(redis, keys);
  const maintenance = new MaintenanceStore(redis, keys, now);
  const notifier = opts.notifier ?? new RecordingNotifier();
  const incidents = new IncidentManager({
    store,
    maintenance,
    notifier,
    inventory,
    logger: silentLogger(),
    now,
    ...(opts.policy ? { policy: opts.policy } : {}),
  });
  const pipeline = new EventPipeline({ store, incidents, inventory, logger: silentLogger(), now });
  const h: Harness = {
    sim,
    inventory,
    cluster,
    notifier,
    pipeline,
    incidents,
    maintenance,
    store,
    prefix,
    poll: async () => {
      const state = await snapshotOf(sim, cluster);
      const heartbeat = opts.haLog
        ? await readHeartbeat(cluster, state, (n) => simRunner(sim, n), { timeoutMs: 2_000 })
        : undefined;
      return pipeline.observe(state, heartbeat ? { heartbeat } : {});
    },
    tick: (ms) => sim.tick(ms),
    restart: () => harness(spec, { ...opts, prefix, sim, notifier }),
    close: () => closeConnection(redis),
  };
  return h;
}

/** Plain text of every post (and the current version of each parent), for assertions. */
export function texts(notifier: RecordingNotifier): string[] {
  return notifier.posts.map((p) => JSON.stringify(notifier.current(p.ref.ts)));
}

export function parents(notifier: RecordingNotifier) {
  return notifier.posts.filter((p) => !p.message.threadTs);
}

export function replies(notifier: RecordingNotifier, threadTs: string) {
  return notifier.posts.filter((p) => p.message.threadTs === threadTs);
}
