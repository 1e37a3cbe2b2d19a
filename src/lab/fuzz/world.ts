/**
 * The world a two-writer hunt runs in: the simulated cluster served over SSH on loopback (manual
 * clock), and "the bot": the real operations code (planner, approval engine, executor, locks, crash
 * recovery) wired like test/operations/harness.ts but over an SSH pool, on a real Redis. The bot can
 * be restarted (a fresh instance on the same Redis and key prefix), like a redeployed worker.
 *
 * Time: the simulation only moves when told. Fault steps move it explicitly (`advance`); while the bot
 * executes something, a pump moves it at a fixed multiple of real time so migrations finish, HA
 * deadtime passes and fenced nodes are seen off without costing real seconds.
 */
import { randomBytes } from "node:crypto";
import { ApprovalEngine } from "../../approval/engine";
import type { ApprovalRecord } from "../../approval/types";
import { Authorizer, StaticGroupDirectory } from "../../chat/authz";
import type { JobEnqueuer } from "../../chat/enqueuer";
import type { MessageRef, Notifier, OutboundMessage } from "../../chat/types";
import {
  type ClusterConfig,
  type InventoryConfig,
  InventoryConfig as InventorySchema,
} from "../../config/schema";
import { driversFor, mutationDriversFor } from "../../drivers/registry";
import { LockManager } from "../../locks/lock";
import { type Logger, silentLogger } from "../../log";
import {
  DEFAULT_OPERATION_SETTINGS,
  type OperationDeps,
  type OperationSettings,
} from "../../operations/context";
import { OffProofStore } from "../../operations/off-proofs";
import { createRedisConnection } from "../../queue/redis";
import type { JobName } from "../../queue/schema";
import { type SimClusterSpecInput, type SimulatedCluster, startSimulatedCluster } from "../../sim";
import { SshPool } from "../../ssh/pool";

/** The lab's identities (as src/lab/lab.ts grants them). */
export const FUZZ_ROLES = {
  viewer: { users: ["UVIEWER1"], groups: [] },
  operator: { users: ["UOPER1", "UOPER2"], groups: [] },
  approver: { users: ["UAPPROVER1", "UAPPROVER2", "UAPPROVER3"], groups: [] },
  admin: { users: ["UADMIN1"], groups: [] },
};
export const FUZZ_REQUESTER = "UOPER1";
/** Who asks for what only approvers may ask for (split-brain recovery, attest-off); never one of its approvers. */
export const FUZZ_RECOVERY_REQUESTER = "UAPPROVER3";
export const FUZZ_APPROVERS = ["UAPPROVER1", "UAPPROVER2"] as const;
export const FUZZ_CHANNEL = "C0FUZZ";

/**
 * Short operation timings: a verification that cannot succeed gives up after a few hundred real
 * milliseconds (hundreds of simulated seconds at the pump's rate), so a whole sequence takes well
 * under a second of real time.
 */
export const FUZZ_SETTINGS: Partial<OperationSettings> = {
  // A crashed worker's locks, lease and running step free up within about a second (real time).
  lockTtlMs: 1_200,
  leaseTtlMs: 600,
  stepGraceMs: 100,
  pollIntervalMs: 10,
  migrateVerifyTimeoutMs: 400,
  fenceVerifyTimeoutMs: 400,
  probeTimeoutMs: 1_000,
  progressIntervalMs: 5_000,
  recoveryIntervalMs: 3_600_000,
  shutdownTimeoutMs: 1_000,
  resyncTimeoutMs: 1_000,
  migrateBaseTimeoutMs: 1_000,
  migratePerGiBTimeoutMs: 100,
  createTimeoutMs: 1_000,
  fenceTimeoutMs: 1_000,
};

/** Simulated milliseconds per real millisecond while the bot executes. */
export const PUMP_RATE = 1_000;

/** A notifier that keeps nothing: the hunt reads the ground truth, not the cards. */
class QuietNotifier implements Notifier {
  private seq = 0;
  async post(channel: string, _message: OutboundMessage): Promise<MessageRef> {
    this.seq += 1;
    return { channel, ts: `1700000000.${String(this.seq).padStart(6, "0")}` };
  }
  async update(_ref: MessageRef, _message: OutboundMessage): Promise<void> {}
  async postEphemeral(_channel: string, _user: string, _message: OutboundMessage): Promise<void> {}
}

/** One instance of the bot: what a worker process builds at start. */
export interface Bot {
  deps: OperationDeps;
  /** Approvals whose last decision asked for an execution, by id (filled by the engine's enqueue hook). */
  approved: Map<string, ApprovalRecord>;
  /** Plans the executor asked to be made again (a state change after approval). */
  replans: number;
  close(): Promise<void>;
  /**
   * The process dies: every command it runs from now on never returns, its SSH connections drop (a
   * command held there never runs, or its answer is lost) and it renews no lock or lease any more.
   */
  kill(): Promise<void>;
}

export interface World {
  lab: SimulatedCluster;
  cluster: ClusterConfig;
  inventory: InventoryConfig;
  redisUrl: string;
  prefix: string;
  bot: Bot;
  /** A fresh bot on the same Redis and prefix (the old one is closed first). */
  restart(): Promise<void>;
  /** The bot dies where it stands (kill) and a fresh one starts on the same Redis. */
  crash(): Promise<void>;
  /** Moves simulated time on at PUMP_RATE while `work` runs. */
  pumping<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface WorldOptions {
  spec: SimClusterSpecInput;
  redisUrl: string;
  logger?: Logger;
  settings?: Partial<OperationSettings>;
}

export async function startWorld(options: WorldOptions): Promise<World> {
  const logger = options.logger ?? silentLogger();
  const lab = await startSimulatedCluster(options.spec, { clock: "manual", channels: [FUZZ_CHANNEL] });
  const cluster = lab.toClusterConfig("/dev/null", { channels: [FUZZ_CHANNEL], commandTimeoutMs: 2_000 });
  const inventory = InventorySchema.parse({
    clusters: [cluster],
    roles: FUZZ_ROLES,
    oncall: { users: ["UADMIN1"], groups: [] },
  });
  const parsedCluster = inventory.clusters[0] as ClusterConfig;
  const prefix = `fuzz-${randomBytes(4).toString("hex")}`;
  const secretEnv = { XENOPS_SIM_FENCE_PASSWORD: lab.cluster.state.fence?.password ?? "" };
  const settings: OperationSettings = {
    ...DEFAULT_OPERATION_SETTINGS,
    ...FUZZ_SETTINGS,
    ...options.settings,
  };

  const buildBot = (): Bot => {
    const sim = lab.inventory();
    const pool = new SshPool({
      nodes: sim.nodes.map((n) => ({
        name: n.name,
        host: n.host,
        port: n.port,
        user: n.user,
        privateKey: sim.privateKey,
        hostKeyPin: n.hostKey,
      })),
      logger,
      // A node that comes back is asked again at once, not after a backoff of real seconds.
      options: {
        defaultTimeoutMs: 2_000,
        connectTimeoutMs: 2_000,
        reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      },
    });
    const notifier = new QuietNotifier();
    const approved = new Map<string, ApprovalRecord>();
    const bot: Bot = {
      approved,
      replans: 0,
      deps: undefined as unknown as OperationDeps,
      close: async () => {},
      kill: async () => {},
    };
    let dead = false;
    // Each of a bot's components on a connection of its own, as src/runtime/redis-clients.ts opens them.
    const approvalsRedis = createRedisConnection(options.redisUrl, {
      role: "client",
      name: "xenops:approval",
      logger,
    });
    const locksRedis = createRedisConnection(options.redisUrl, {
      role: "client",
      name: "xenops:locks",
      logger,
    });
    const approvals = new ApprovalEngine({
      redis: approvalsRedis,
      prefix,
      notifier,
      authorizer: new Authorizer(inventory.roles, new StaticGroupDirectory()),
      logger,
      enqueueExecution: async (record) => {
        approved.set(record.id, record);
        return { jobId: `exec-${record.id}` };
      },
    });
    const locks = new LockManager({ redis: locksRedis, prefix, logger });
    const proofRedis = createRedisConnection(options.redisUrl, {
      role: "client",
      name: "xenops:fuzz-proofs",
      logger,
    });
    const jobs: JobEnqueuer = {
      async enqueue<N extends JobName>(_cluster: string, name: N) {
        bot.replans += 1;
        return { jobId: `${name}-${bot.replans}`, number: bot.replans, duplicate: false };
      },
    };
    const deps: OperationDeps = {
      inventory,
      runnerFor: (_c, node) => {
        const runner = pool.runner(node);
        // A dead process never hears back (nor acts again).
        return { node, run: (argv, opts) => (dead ? new Promise(() => {}) : runner.run(argv, opts)) };
      },
      driversFor: () => driversFor(parsedCluster.toolstack),
      mutationsFor: () => mutationDriversFor(parsedCluster.toolstack),
      notifier,
      logger,
      approvals,
      locks,
      jobs,
      secretEnv,
      settings,
      offProofs: new OffProofStore(proofRedis, prefix, logger),
    };
    bot.deps = deps;
    bot.close = async () => {
      await approvals.settled().catch(() => {});
      await approvals.close();
      await locks.close();
      approvalsRedis.disconnect();
      locksRedis.disconnect();
      proofRedis.disconnect();
      await pool.close();
    };
    bot.kill = async () => {
      dead = true;
      await pool.close();
      await approvals.close().catch(() => {});
      await locks.close().catch(() => {});
      approvalsRedis.disconnect();
      locksRedis.disconnect();
      proofRedis.disconnect();
    };
    return bot;
  };

  let pumps = 0;
  let timer: NodeJS.Timeout | null = null;
  let last = 0;
  const tick = (): void => {
    const now = performance.now();
    const ms = Math.round((now - last) * PUMP_RATE);
    last = now;
    if (ms > 0) lab.cluster.tick(ms);
  };

  const world: World = {
    lab,
    cluster: parsedCluster,
    inventory,
    redisUrl: options.redisUrl,
    prefix,
    bot: buildBot(),
    async restart() {
      await world.bot.close();
      world.bot = buildBot();
    },
    async crash() {
      await world.bot.kill();
      world.bot = buildBot();
    },
    async pumping(work) {
      if (pumps++ === 0) {
        last = performance.now();
        timer = setInterval(tick, 2);
      }
      try {
        return await work();
      } finally {
        if (--pumps === 0 && timer) {
          tick();
          clearInterval(timer);
          timer = null;
        }
      }
    },
    async close() {
      if (timer) clearInterval(timer);
      await world.bot.close().catch(() => {});
      await lab.close();
    },
  };
  return world;
}
