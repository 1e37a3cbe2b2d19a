/**
 * The operations on an in-process simulated cluster (no SSH): a CommandRunner over the simulator that
 * quotes argv like the SSH runner and emulates refused connections and timeouts, the cluster config a
 * deployment would write for it, and OperationDeps on the test Redis (real approval engine and locks).
 */
import { ApprovalEngine } from "../../src/approval/engine";
import { policyFor } from "../../src/approval/policy";
import type { ApprovalRecord } from "../../src/approval/types";
import { Authorizer, StaticGroupDirectory } from "../../src/chat/authz";
import type { JobEnqueuer } from "../../src/chat/enqueuer";
import type { CommandRunner, ExecResult, RunOptions } from "../../src/command-runner";
import {
  type ClusterConfig,
  ClusterConfig as ClusterSchema,
  type InventoryConfig,
  InventoryConfig as InventorySchema,
} from "../../src/config/schema";
import { driversFor, mutationDriversFor } from "../../src/drivers/registry";
import { ExecError } from "../../src/errors";
import { LockManager } from "../../src/locks/lock";
import { silentLogger } from "../../src/log";
import {
  DEFAULT_OPERATION_SETTINGS,
  type OperationDeps,
  type OperationSettings,
} from "../../src/operations/context";
import { OffProofStore } from "../../src/operations/off-proofs";
import { planOperation } from "../../src/operations/plan";
import type { OperationRequest, PlanOutcome } from "../../src/operations/types";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import type { JobName, JobPayloads, OperationSpec } from "../../src/queue/schema";
import {
  execInProcess,
  type SimClusterSpecInput,
  Simulation,
  SystemClock,
  toClusterConfig,
} from "../../src/sim";
import { quoteArgv } from "../../src/ssh/quote";
import { RecordingNotifier } from "../approval/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";

export interface RunCall {
  node: string;
  argv: readonly string[];
  stdin: string | undefined;
}

/** A runner on the simulator: quoted like SSH, refused when the node is down or unreachable. */
export function simRunner(sim: Simulation, node: string, calls: RunCall[] = []): CommandRunner {
  return {
    node,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
      const details = (extra: Partial<ExecError> = {}) => ({
        node,
        argv,
        exitCode: null,
        signal: null,
        stdout: "",
        stderr: "",
        ...extra,
      });
      const n = sim.node(node);
      if (!n?.up || n.reachability !== "ok")
        throw new ExecError("ssh_connect_failed", `${node}: connection refused`, details());
      calls.push({ node, argv: [...argv], stdin: options.stdin });
      const ac = new AbortController();
      const timeoutMs = options.timeoutMs ?? 10_000;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, timeoutMs);
      const onAbort = () => ac.abort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      const started = performance.now();
      try {
        const res = await execInProcess(sim, node, quoteArgv(argv), {
          ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
          signal: ac.signal,
        });
        if (timedOut)
          throw new ExecError(
            "ssh_timeout",
            `${node}: ${argv[0]} timed out after ${timeoutMs} ms`,
            details(),
          );
        if (options.signal?.aborted)
          throw new ExecError("exec_aborted", `${node}: ${argv[0]} aborted`, details());
        if (!(options.okExitCodes ?? [0]).includes(res.exitCode))
          throw new ExecError(
            "exec_failed",
            `${node}: ${argv[0]} exited with code ${res.exitCode}: ${res.stderr.trim().split("\n")[0] ?? ""}`,
            details({ exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr }),
          );
        return { ...res, durationMs: Math.round(performance.now() - started) };
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      }
    },
  };
}

const HOST_KEY = `SHA256:${"A".repeat(43)}`;

/** The inventory entry for an in-process simulation (like SimulatedCluster.toClusterConfig). */
export function clusterConfigFor(sim: Simulation, overrides: Partial<ClusterConfig> = {}): ClusterConfig {
  // No SSH servers here: the runner executes in-process, so connection data are placeholders.
  const nodes = sim.state.nodes.map((n) => ({
    name: n.name,
    host: "127.0.0.1",
    port: 22,
    hostKeyLine: HOST_KEY,
  }));
  return ClusterSchema.parse({ ...toClusterConfig(sim, nodes, "/dev/null", ["C0LAB"], 5_000), ...overrides });
}

export const ROLES = {
  viewer: { users: ["UVIEWER1"], groups: [] },
  operator: { users: ["UOPER1", "UOPER2"], groups: [] },
  approver: { users: ["UAPPROVER1", "UAPPROVER2", "UAPPROVER3"], groups: [] },
  admin: { users: ["UADMIN1"], groups: [] },
};

/** Fast timings: everything in the lab happens within a second or two. */
export const FAST: Partial<OperationSettings> = {
  lockTtlMs: 2_000,
  pollIntervalMs: 50,
  migrateVerifyTimeoutMs: 3_000,
  fenceVerifyTimeoutMs: 3_000,
  probeTimeoutMs: 2_000,
  progressIntervalMs: 200,
  migrateBaseTimeoutMs: 5_000,
  migratePerGiBTimeoutMs: 1_000,
  createTimeoutMs: 5_000,
  fenceTimeoutMs: 5_000,
};

export interface Harness {
  sim: Simulation;
  cluster: ClusterConfig;
  inventory: InventoryConfig;
  deps: OperationDeps;
  notifier: RecordingNotifier;
  calls: RunCall[];
  enqueued: { name: JobName; payload: unknown; deliveryId: string }[];
  executions: { record: ApprovalRecord; deliveryId: string }[];
  /** The off-proof store the operations use (verified fences, attestations). */
  offProofs: OffProofStore;
  plan(request: OperationSpec): Promise<PlanOutcome>;
  /**
   * Plans, requests approval as UOPER1 and approves with enough approvers (typing the confirmation the
   * policy asks for, if any); returns the approval id.
   */
  approve(request: OperationSpec): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  cluster?: Partial<ClusterConfig>;
  settings?: Partial<OperationSettings>;
  secretEnv?: Record<string, string>;
  oncall?: { users: string[]; groups: string[] };
  /**
   * Whether the cluster manager manages the spec's guests (haresources, Xen primitives). Default false:
   * the operations' mechanics are tested on guests no manager owns (a managed one is refused unless
   * `--override-ha`); true keeps the spec's own (the presets manage every guest with a home).
   */
  haManaged?: boolean;
  /** The approval engine's Redis persistence check (default: none, i.e. durable). */
  durability?: { refusal(): Promise<string | null> };
}

/** The spec with none of its guests managed by the cluster manager (unless they say otherwise). */
export function withoutHaGuests(spec: SimClusterSpecInput): SimClusterSpecInput {
  return { ...spec, guests: (spec.guests ?? []).map((g) => ({ haManaged: false, ...g })) };
}

export async function harness(spec: SimClusterSpecInput, options: HarnessOptions = {}): Promise<Harness> {
  const start = Date.parse(spec.startTime ?? "2009-01-12T10:00:00Z");
  const sim = new Simulation(options.haManaged ? spec : withoutHaGuests(spec), {
    clock: new SystemClock(start),
  });
  sim.startRealTime(20);
  const cluster = clusterConfigFor(sim, options.cluster);
  const inventory = InventorySchema.parse({
    clusters: [cluster],
    roles: ROLES,
    oncall: options.oncall ?? { users: ["UADMIN1"], groups: ["SONCALL1"] },
  });
  const notifier = new RecordingNotifier();
  const calls: RunCall[] = [];
  const prefix = uniquePrefix("ops");
  const logger = silentLogger();
  const executions: Harness["executions"] = [];
  // A connection each, as src/runtime/redis-clients.ts gives them (their durable writes WAIT on it).
  const approvalsRedis = createRedisConnection(testRedisUrl(), { role: "client", name: "xenops:approval" });
  const locksRedis = createRedisConnection(testRedisUrl(), { role: "client", name: "xenops:locks" });
  const approvals = new ApprovalEngine({
    redis: approvalsRedis,
    prefix,
    notifier,
    authorizer: new Authorizer(inventory.roles, new StaticGroupDirectory()),
    logger,
    enqueueExecution: async (record, { deliveryId }) => {
      executions.push({ record, deliveryId });
      return { jobId: `exec-${record.id}` };
    },
    ...(options.durability ? { durability: options.durability } : {}),
  });
  const locks = new LockManager({ redis: locksRedis, prefix, logger });
  const redis = createRedisConnection(testRedisUrl(), { role: "client" });
  const offProofs = new OffProofStore(redis, prefix, logger);
  const enqueued: Harness["enqueued"] = [];
  const jobs: JobEnqueuer = {
    async enqueue<N extends JobName>(
      _cluster: string,
      name: N,
      payload: JobPayloads[N],
      opts: { deliveryId: string },
    ) {
      enqueued.push({ name, payload, deliveryId: opts.deliveryId });
      return { jobId: `${name}-${enqueued.length}`, number: enqueued.length, duplicate: false };
    },
  };
  const deps: OperationDeps = {
    inventory,
    runnerFor: (_c, node) => simRunner(sim, node, calls),
    driversFor: () => driversFor(cluster.toolstack),
    mutationsFor: () => mutationDriversFor(cluster.toolstack),
    notifier,
    logger,
    approvals,
    locks,
    jobs,
    secretEnv: options.secretEnv ?? {},
    settings: { ...DEFAULT_OPERATION_SETTINGS, ...FAST, ...options.settings },
    offProofs,
  };
  const h: Harness = {
    sim,
    cluster,
    inventory,
    deps,
    notifier,
    calls,
    enqueued,
    executions,
    offProofs,
    plan: (request) => planOperation(deps, { ...request, cluster: cluster.name } as OperationRequest),
    async approve(request) {
      const outcome = await h.plan(request);
      if (!outcome.ok)
        throw new Error(
          `plan refused: ${outcome.checks
            .filter((c) => !c.ok)
            .map((c) => `${c.name}: ${c.detail}`)
            .join("; ")}`,
        );
      const policy = policyFor(outcome.plan.action, inventory, outcome.plan);
      const record = await approvals.request(outcome.plan, {
        requestedBy: "UOPER1",
        channel: "C0LAB",
        policy,
      });
      for (const user of ["UAPPROVER1", "UAPPROVER2"].slice(0, policy.approvals)) {
        // A data-losing plan needs its typed confirmation (NODE/RESOURCE): the approvers type it.
        const typed = policy.typedConfirmation;
        const r = await approvals.decide(record.id, user, "approve", typed !== undefined ? { typed } : {});
        if (r.outcome === "refused") throw new Error(`approval refused: ${r.reason}`);
      }
      await approvals.settled();
      return record.id;
    },
    async close() {
      sim.stopRealTime();
      await approvals.close();
      await locks.close();
      await closeConnection(approvalsRedis);
      await closeConnection(locksRedis);
      await closeConnection(redis);
    },
  };
  return h;
}

/** Every text of every message the notifier saw (posts, updates, ephemerals). */
export function allText(notifier: RecordingNotifier): string {
  const texts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === "string") texts.push(v);
    else if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x);
  };
  walk(notifier.posts);
  walk(notifier.updates);
  walk(notifier.ephemerals);
  return texts.join("\n");
}
