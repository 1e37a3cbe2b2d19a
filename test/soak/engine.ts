/**
 * Scale-out soak: xenops deployed as it is in production — bot replicas and workers as separate
 * `xenops bot` / `xenops worker` processes on one Redis (AOF) — drives a few hundred live migrations
 * on a simulated cluster while the soak SIGKILLs and SIGSTOPs bots and workers, delivers Slack
 * requests twice, double-clicks approvals and restarts Redis. At the end it counts, from the
 * simulator's own record of the commands the nodes ran and from the approvals in Redis:
 * operations approved, executed, executed twice (must be 0), lost (must be 0), and cards not in a
 * final state (must be 0).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "node:querystring";
import { pino } from "pino";
import { APPROVE_ACTION_ID } from "../../src/approval/card";
import { ApprovalEngine } from "../../src/approval/engine";
import type { ApprovalRecord } from "../../src/approval/types";
import { ClusterConfig, type InventoryConfig } from "../../src/config/schema";
import { LAB_ROLES } from "../../src/lab/lab";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { Rng, type SimulatedCluster, scaleLab, startSimulatedCluster } from "../../src/sim";
import { blockActionsPayload, FakeSlack, signSlackRequest, slashCommandPayload } from "../support/fake-slack";
import { startSentinelSetup } from "../support/sentinel";

const ROOT = join(import.meta.dirname, "..", "..");
const BOT_TOKEN = "xoxb-soak-bot-token-1234567890";
const SIGNING_SECRET = "soak5b10e8888abcd99yyyzzz85a5e2e";
const CHANNEL = "C0SOAK";
const OPERATOR = "UOPER1";
const APPROVERS = ["UAPPROVER1", "UAPPROVER2"];

export interface SoakOptions {
  /** Live migrations to run (each one request, one approval, one execution). */
  operations: number;
  seed: number;
  bots: number;
  workers: number;
  /** Simulated nodes (pairs); guests are two per node. */
  nodes: number;
  /** Operations in flight at once (never two on one node pair: xenops locks nodes as well as guests). */
  concurrency: number;
  /** Random SIGKILL/SIGSTOP of bots and workers. */
  chaos: boolean;
  /** Redis is SIGKILLed and restarted (AOF) this many times, spread over the run (Sentinel: failed over). */
  redisRestarts: number;
  /** One redis-server (AOF), or a master, a replica and a sentinel that fail over instead of restarting. */
  redis: "single" | "sentinel";
  /** Give up waiting for one operation after this long. */
  operationTimeoutMs: number;
  log?: (line: string) => void;
}

export const DEFAULT_SOAK: SoakOptions = {
  operations: 200,
  seed: 1,
  bots: 2,
  workers: 3,
  nodes: 6,
  concurrency: 3,
  chaos: true,
  redisRestarts: 1,
  redis: "single",
  operationTimeoutMs: 150_000,
};

export interface SoakReport {
  seed: number;
  requested: number;
  approved: number;
  executed: number;
  executedTwice: number;
  lost: number;
  notFinal: number;
  /** Final outcomes by kind (succeeded, failed, refused, ...). */
  outcomes: Record<string, number>;
  chaos: {
    sigkill: number;
    sigstop: number;
    redisRestarts: number;
    duplicateDeliveries: number;
    doubleClicks: number;
  };
  /** One line per operation that broke a promise. */
  problems: string[];
  /** One line per operation that ended other than ok (refused, failed: allowed, but shown). */
  notes: string[];
  durationMs: number;
}

export function soakPassed(r: SoakReport): boolean {
  return (
    r.executedTwice === 0 && r.lost === 0 && r.notFinal === 0 && r.approved > 0 && r.problems.length === 0
  );
}

export function formatSoakReport(r: SoakReport): string {
  const lines = [
    `soak seed ${r.seed}: ${r.requested} operations requested in ${Math.round(r.durationMs / 1000)} s`,
    `  approved        ${r.approved}`,
    `  executed        ${r.executed}`,
    `  executed twice  ${r.executedTwice}   (must be 0)`,
    `  lost            ${r.lost}   (must be 0)`,
    `  cards not final ${r.notFinal}   (must be 0)`,
    `  outcomes        ${Object.entries(r.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `  chaos           ${r.chaos.sigkill} SIGKILL, ${r.chaos.sigstop} SIGSTOP, ${r.chaos.redisRestarts} Redis restarts/failovers, ${r.chaos.duplicateDeliveries} duplicate deliveries, ${r.chaos.doubleClicks} double clicks`,
    ...r.notes.slice(0, 20).map((n) => `  note: ${n}`),
    ...(r.notes.length > 20 ? [`  note: ... and ${r.notes.length - 20} more`] : []),
    ...r.problems.map((p) => `  PROBLEM: ${p}`),
  ];
  return lines.join("\n");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const chance = (rng: Rng, p: number): boolean => rng.next() < p;
function pick<T>(rng: Rng, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[rng.int(0, items.length - 1)];
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `probe` returns a value or the attempts run out (null). */
async function poll<T>(
  timeoutMs: number,
  everyMs: number,
  probe: () => Promise<T | null>,
): Promise<T | null> {
  const attempts = Math.max(1, Math.ceil(timeoutMs / everyMs));
  for (let i = 0; i < attempts; i++) {
    try {
      const got = await probe();
      if (got !== null) return got;
    } catch {
      // Redis restarting, a bot gone: look again.
    }
    await pause(everyMs);
  }
  return null;
}

/** A redis-server with AOF on every write, restartable on the same port and directory. */
class SoakRedis {
  private child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const child = spawn(
        "redis-server",
        [
          "--port",
          String(this.port),
          "--bind",
          "127.0.0.1",
          "--dir",
          this.dir,
          "--save",
          "",
          "--appendonly",
          "yes",
          "--appendfsync",
          "always",
          "--loglevel",
          "warning",
        ],
        { stdio: "ignore" },
      );
      child.on("error", () => {});
      const exited = new Promise<boolean>((r) => child.once("exit", () => r(true)));
      const up = await poll(5_000, 50, async () => {
        if (child.exitCode !== null) return false;
        const { Redis } = await import("ioredis");
        const r = new Redis({
          port: this.port,
          host: "127.0.0.1",
          lazyConnect: true,
          retryStrategy: () => null,
          maxRetriesPerRequest: 0,
        });
        r.on("error", () => {});
        try {
          await r.connect();
          return (await r.ping()) === "PONG" ? true : null;
        } finally {
          r.disconnect();
        }
      });
      if (up === true) {
        this.child = child;
        return;
      }
      child.kill("SIGKILL");
      await exited;
      await pause(100); // the port may still be held by the killed server's socket
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
  }
}

interface Proc {
  kind: "bot" | "worker";
  index: number;
  port: number | null;
  child: ChildProcess;
  stopped: boolean;
  stderr: string[];
}

interface Operation {
  n: number;
  guest: string;
  from: string;
  to: string;
  triggerId: string;
  approvalId: string | null;
  approved: boolean;
  final: string | null;
  migrates: number;
  startedAt: number;
  detail?: string;
  /** What the soak last read of its approval and execution, for the report. */
  lastSeen?: string;
}

export async function runSoak(partial: Partial<SoakOptions> = {}): Promise<SoakReport> {
  const o: SoakOptions = { ...DEFAULT_SOAK, ...partial };
  const say = o.log ?? (() => {});
  const started = Date.now();
  const rng = new Rng(o.seed);
  const dir = mkdtempSync(join(tmpdir(), "xenops-soak-"));
  const closers: (() => Promise<void>)[] = [async () => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  const report: SoakReport = {
    seed: o.seed,
    requested: 0,
    approved: 0,
    executed: 0,
    executedTwice: 0,
    lost: 0,
    notFinal: 0,
    outcomes: {},
    chaos: { sigkill: 0, sigstop: 0, redisRestarts: 0, duplicateDeliveries: 0, doubleClicks: 0 },
    problems: [],
    notes: [],
    durationMs: 0,
  };
  try {
    // --- the cluster, Slack and Redis ---
    // Guests outside the cluster manager's control, so xenops may migrate them by hand.
    const spec = scaleLab(o.nodes, { flavour: "modern", name: "soak" });
    spec.guests = (spec.guests ?? []).map((g) => ({ ...g, haManaged: false }));
    const sim: SimulatedCluster = await startSimulatedCluster(spec, { clock: "real" });
    closers.push(() => sim.close());
    const slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    closers.push(() => slack.close());
    const redisDir = join(dir, "redis");
    mkdirSync(redisDir);
    const single = o.redis === "single" ? new SoakRedis(await freePort(), redisDir) : null;
    const sentinel = o.redis === "sentinel" ? await startSentinelSetup(`soak${o.seed}`) : null;
    if (sentinel) closers.push(() => sentinel.stop());
    if (single) {
      await single.start();
      closers.push(() => single.kill());
    }
    const redis = {
      url: sentinel?.url ?? single?.url ?? "",
      /** SIGKILL and restart on the same data (AOF), or a Sentinel failover. */
      async disrupt(): Promise<string> {
        if (sentinel) {
          const { from, to } = await sentinel.failover();
          return `Sentinel failover from port ${from} to ${to}`;
        }
        await single?.kill();
        await pause(rng.int(200, 2_000));
        await single?.start();
        return "Redis SIGKILL and restart (AOF)";
      },
    };
    const keyFile = join(dir, "id_ed25519");
    writeFileSync(keyFile, sim.clientKey.privateKey, { mode: 0o600 });
    const cluster = ClusterConfig.parse(
      sim.toClusterConfig(keyFile, { channels: [CHANNEL], commandTimeoutMs: 10_000 }),
    );
    // Short step timeouts, so crash recovery (lease expired AND the running step's timeout passed)
    // takes over a killed worker's execution within the soak's patience.
    const operations = {
      migrateBaseTimeout: "30s",
      migratePerGiBTimeout: "5s",
      migrateVerifyTimeout: "20s",
      lockTtl: "10s",
      leaseTtl: "6s",
      stepGrace: "5s",
      recoveryInterval: "2s",
      pollInterval: "500ms",
      probeTimeout: "3s",
    };
    const inventory = {
      clusters: [cluster],
      roles: LAB_ROLES,
      oncall: { users: ["UADMIN1"], groups: [] },
      operations,
    } as unknown as InventoryConfig;
    const inventoryFile = join(dir, "xenops.json");
    writeFileSync(inventoryFile, JSON.stringify(inventory));
    const prefix = `soak${o.seed}`;

    // The soak reads approvals the way the product stores them, through its own engine (read only).
    const approvalsRedis = createRedisConnection(redis.url, { role: "client", name: "xenops:approval" });
    // Closers run last first: the engine closes, then its connection.
    closers.push(() => closeConnection(approvalsRedis));
    const approvals = new ApprovalEngine({
      redis: approvalsRedis,
      prefix,
      logger: pino({ level: "silent" }),
      notifier: {
        post: async () => ({ channel: CHANNEL, ts: "0" }),
        update: async () => {},
        postEphemeral: async () => {},
      },
      authorizer: { has: async () => false },
      enqueue: async () => {
        throw new Error("the soak never enqueues");
      },
    } as unknown as ConstructorParameters<typeof ApprovalEngine>[0]);
    closers.push(() => approvals.close());

    // --- processes ---
    const procs: Proc[] = [];
    const botPorts: number[] = [];
    for (let i = 0; i < o.bots; i++) botPorts.push(await freePort());
    const spawnProc = (kind: "bot" | "worker", index: number): Proc => {
      const port = kind === "bot" ? (botPorts[index] ?? null) : null;
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", kind], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? dir,
          XENOPS_CONFIG: inventoryFile,
          REDIS_URL: redis.url,
          XENOPS_QUEUE_PREFIX: prefix,
          SLACK_BOT_TOKEN: BOT_TOKEN,
          SLACK_SIGNING_SECRET: SIGNING_SECRET,
          SLACK_API_URL: slack.apiUrl,
          XENOPS_AUDIT_FILE: join(dir, `audit-${kind}${index}-${Date.now()}.jsonl`),
          LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? "error",
          ...(port !== null ? { PORT: String(port) } : {}),
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      const proc: Proc = { kind, index, port, child, stopped: false, stderr: [] };
      // SOAK_LOG_DIR: every process's log kept whole (with SOAK_LOG_LEVEL=info), to read a failure.
      const logFile = process.env.SOAK_LOG_DIR ? join(process.env.SOAK_LOG_DIR, `${kind}${index}.log`) : null;
      child.stderr?.on("data", (d: Buffer) => {
        if (logFile) appendFileSync(logFile, d);
        proc.stderr.push(d.toString("utf8"));
        if (proc.stderr.length > 50) proc.stderr.shift();
      });
      child.on("error", () => {});
      return proc;
    };
    const stopProc = async (p: Proc, signal: NodeJS.Signals) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return;
      if (p.stopped) p.child.kill("SIGCONT");
      const gone = new Promise((r) => p.child.once("exit", r));
      p.child.kill(signal);
      await Promise.race([gone, pause(10_000)]);
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill("SIGKILL");
        await gone;
      }
    };
    closers.push(async () => {
      await Promise.all(procs.map((p) => stopProc(p, "SIGTERM")));
    });
    for (let i = 0; i < o.bots; i++) procs.push(spawnProc("bot", i));
    for (let i = 0; i < o.workers; i++) procs.push(spawnProc("worker", i));
    const botUrl = (i: number) => `http://127.0.0.1:${botPorts[i]}/slack/events`;
    // Ready when every bot answers HTTP (a 401 to an unsigned probe is an answer).
    for (let i = 0; i < o.bots; i++) {
      const ok = await poll(60_000, 200, async () => {
        const res = await fetch(botUrl(i), { method: "POST", body: "" });
        return res.status > 0 ? true : null;
      });
      if (!ok)
        throw new Error(
          `bot ${i} did not start: ${procs
            .find((p) => p.kind === "bot" && p.index === i)
            ?.stderr.join("")
            .slice(-2000)}`,
        );
    }
    say(`soak: ${o.bots} bots, ${o.workers} workers, redis ${redis.url}, ${o.nodes} nodes`);

    // --- ground truth: every migrate command the nodes ran ---
    const migrations = sim.faults.watchCommands({
      argv: (argv) => (argv[0] === "xl" || argv[0] === "xm") && argv[1] === "migrate",
    });
    closers.push(async () => migrations.stop());
    const migratesOf = (guest: string, since: number) =>
      migrations.seen.slice(since).filter((argv) => argv.includes(guest)).length;

    // --- Slack deliveries ---
    /** The text of the last 200 answer per body: what the user was told ("Queued as job N", ...). */
    const replies = new Map<string, string>();
    const deliver = async (body: string, opts: { bot?: number; retry?: number } = {}): Promise<number> => {
      const bot = opts.bot ?? rng.int(0, o.bots - 1);
      const ts = Math.floor(Date.now() / 1000);
      try {
        const res = await fetch(botUrl(bot), {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": String(ts),
            "x-slack-signature": signSlackRequest(SIGNING_SECRET, body, ts),
            ...(opts.retry
              ? { "x-slack-retry-num": String(opts.retry), "x-slack-retry-reason": "http_timeout" }
              : {}),
          },
          body,
          signal: AbortSignal.timeout(5_000),
        });
        const text = await res.text();
        if (res.status === 200) replies.set(body, text);
        return res.status;
      } catch {
        return 0;
      }
    };
    /** Delivers like Slack: retried (same body, new signature) until a bot answers 200, sometimes twice anyway. */
    const deliverLikeSlack = async (body: string): Promise<void> => {
      let status = await deliver(body);
      if (status === 200 && chance(rng, 0.2)) {
        report.chaos.duplicateDeliveries += 1;
        await deliver(body, { retry: 1 });
      }
      for (let retry = 1; status !== 200 && retry <= 20; retry++) {
        await pause(250 * retry);
        status = await deliver(body, { retry });
      }
    };

    // --- the guests and where they are (the soak's own bookkeeping, checked against the sim) ---
    const state = sim.state();
    const guests = state.guests.map((g) => g.name);
    const pairOf = new Map(state.drbd.map((d) => [d.name, d.nodes] as const));
    const busy = new Set<string>();
    const ops: Operation[] = [];

    /** The node the guest runs on, plainly (not mid-migration); null otherwise. */
    const whereRuns = (guest: string): string | null => {
      const on = sim.state().nodes.filter((n) => n.up && n.domains.some((d) => d.name === guest));
      return on.length === 1 ? (on[0]?.name ?? null) : null;
    };

    const findApproval = async (op: Operation): Promise<string | null> => {
      for (const m of slack.messages.values()) {
        if (m.channel !== CHANNEL) continue;
        const ids = approveButtons(m.blocks);
        for (const id of ids) {
          const rec = await approvals.get(id);
          if (rec && rec.plan.target.guest === op.guest && Date.parse(rec.createdAt) >= op.startedAt - 1_000)
            return id;
        }
      }
      return null;
    };

    const finalOf = (rec: ApprovalRecord | null, finished: string | null): string | null => {
      if (!rec) return null;
      if (rec.status === "denied" || rec.status === "expired" || rec.status === "superseded")
        return rec.status;
      return finished;
    };

    const runOperation = async (n: number, guest: string): Promise<void> => {
      const from = whereRuns(guest);
      const nodes = pairOf.get(guest) ?? [];
      const to = nodes.find((x) => x !== from);
      if (!from || !to) return;
      const op: Operation = {
        n,
        guest,
        from,
        to,
        triggerId: `soak-${o.seed}-${n}`,
        approvalId: null,
        approved: false,
        final: null,
        migrates: 0,
        startedAt: Date.now(),
      };
      ops.push(op);
      report.requested += 1;
      const since = migrations.seen.length;
      const body = stringify({
        ...slashCommandPayload({
          text: `migrate ${guest} to ${to}`,
          user_id: OPERATOR,
          channel_id: CHANNEL,
          trigger_id: op.triggerId,
          response_url: slack.responseUrl(op.triggerId),
        }),
      });
      await deliverLikeSlack(body);
      // The plan either asks for approval (a card with Approve) or is refused by preflight (final).
      const refusalOf = (): string | null => {
        const refused = slack
          .callsTo("chat.postMessage")
          .find(
            (c) =>
              c.at >= op.startedAt &&
              c.args.channel === CHANNEL &&
              String(c.args.text ?? "").includes(`Refused: Live-migrate ${guest} to ${to}`),
          );
        return refused ? String(refused.args.text) : null;
      };
      const planned = await poll<{ id: string | null; refusal: string | null }>(
        o.operationTimeoutMs,
        250,
        async () => {
          const id = await findApproval(op);
          if (id) return { id, refusal: null };
          const refusal = refusalOf();
          return refusal ? { id: null, refusal } : null;
        },
      );
      if (planned?.refusal) {
        op.final = "refused by preflight";
        op.detail = planned.refusal.slice(0, 300);
        return;
      }
      op.approvalId = planned?.id ?? null;
      say(`soak: #${n} ${guest} ${from}→${to}: approval ${op.approvalId ?? "none"}`);
      if (!op.approvalId) {
        // Lost only if the user was told it was queued; "nothing was queued" / "may have been
        // queued: see /xen jobs" (Redis restarting or failing over) is an honest answer.
        // HTTP-mode bots ack a command that waits on Redis empty and answer through its response_url.
        const answered = slack.calls.find(
          (c) => c.method === "response_url" && c.args.path === `/response/${op.triggerId}`,
        );
        const reply = replies.get(body) || String(answered?.args.text ?? "");
        op.final = /Queued as job/.test(reply) || reply === "" ? "no approval card" : "not queued (told so)";
        op.detail = reply.slice(0, 200);
        return;
      }
      const click = (user: string) =>
        stringify({
          payload: JSON.stringify(
            blockActionsPayload({
              actionId: APPROVE_ACTION_ID,
              value: op.approvalId ?? "",
              userId: user,
              channelId: CHANNEL,
            }),
          ),
        });
      const approver = pick(rng, APPROVERS) ?? "UAPPROVER1";
      await deliverLikeSlack(click(approver));
      if (chance(rng, 0.3)) {
        report.chaos.doubleClicks += 1;
        await Promise.all([
          deliverLikeSlack(click(approver)),
          deliverLikeSlack(click(pick(rng, APPROVERS) ?? "UAPPROVER2")),
        ]);
      }
      const done = await poll(o.operationTimeoutMs, 250, async () => {
        const rec = await approvals.get(op.approvalId ?? "");
        const journal = rec ? await approvals.journal(rec.id) : null;
        if (rec?.status === "approved") op.approved = true;
        const fin = finalOf(rec, journal?.finished ? journal.finished.outcome : null);
        if (fin && journal?.finished?.detail) op.detail = journal.finished.detail;
        op.lastSeen = `approval ${rec?.status ?? "missing"}, execution job ${rec?.executionJobId ?? "none"}, journal ${
          journal
            ? `steps [${journal.steps.map((st) => `${st.index}:${st.status}`).join(" ")}] finished ${journal.finished ? journal.finished.outcome : "no"}`
            : "none"
        }`;
        return fin;
      });
      op.final = done;
      op.migrates = migratesOf(guest, since);
    };

    // --- chaos ---
    let running = true;
    const chaosLoop = async () => {
      const restartsAt = new Set(
        Array.from({ length: o.redisRestarts }, (_, i) =>
          Math.floor(((i + 1) * o.operations) / (o.redisRestarts + 1)),
        ),
      );
      // Redis is disrupted as soon as its operation count is reached (looked at twice a second);
      // bots and workers are hit every few seconds.
      let nextHit = Date.now() + rng.int(3_000, 10_000);
      while (running) {
        await pause(500);
        if (!running) break;
        const due = [...restartsAt].find((at) => report.requested >= at);
        if (due !== undefined) {
          restartsAt.delete(due);
          say(`soak: ${await redis.disrupt()}`);
          report.chaos.redisRestarts += 1;
          continue;
        }
        if (!o.chaos || Date.now() < nextHit) continue;
        nextHit = Date.now() + rng.int(3_000, 10_000);
        const live = procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
        const victim = pick(rng, live);
        if (!victim) continue;
        if (chance(rng, 0.5)) {
          say(`soak: SIGSTOP ${victim.kind} ${victim.index}`);
          victim.child.kill("SIGSTOP");
          victim.stopped = true;
          report.chaos.sigstop += 1;
          await pause(rng.int(500, 8_000));
          victim.child.kill("SIGCONT");
          victim.stopped = false;
        } else {
          say(`soak: SIGKILL ${victim.kind} ${victim.index}`);
          await stopProc(victim, "SIGKILL");
          report.chaos.sigkill += 1;
          const i = procs.indexOf(victim);
          procs[i] = spawnProc(victim.kind, victim.index);
        }
      }
    };
    const chaos = chaosLoop();

    // --- the operations: `concurrency` lanes, never two on one guest ---
    let next = 0;
    const lane = async () => {
      while (next < o.operations) {
        const n = next++;
        // xenops locks the nodes an operation touches too: one operation per node pair at a time.
        const busyNodes = new Set([...busy].flatMap((g) => pairOf.get(g) ?? []));
        const free = guests.filter((g) => !(pairOf.get(g) ?? []).some((n) => busyNodes.has(n)));
        const guest = pick(rng, free);
        if (!guest) {
          await pause(100);
          continue;
        }
        busy.add(guest);
        try {
          await runOperation(n, guest);
          if (n % 10 === 0) say(`soak: ${n + 1}/${o.operations} operations`);
        } finally {
          busy.delete(guest);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, guests.length) }, lane));
    running = false;
    await chaos;
    for (const p of procs) if (p.stopped) p.child.kill("SIGCONT");

    // --- the counts ---
    for (const op of ops) {
      // Approved: seen approved, or it reached an execution outcome (approved, then run or refused).
      const executionOutcome = op.final === "ok" || op.final === "failed" || op.final === "cancelled";
      if (op.approved || (op.approvalId !== null && executionOutcome)) report.approved += 1;
      report.executed += op.migrates;
      if (op.migrates > 1) {
        report.executedTwice += 1;
        report.problems.push(
          `#${op.n} ${op.guest} ${op.from}→${op.to}: migrate ran ${op.migrates} times (approval ${op.approvalId})`,
        );
      }
      if (op.final === null) {
        report.notFinal += 1;
        report.problems.push(
          `#${op.n} ${op.guest}: approval ${op.approvalId} not in a final state (${op.lastSeen ?? "never read"})`,
        );
      } else if (op.final === "no approval card") {
        report.lost += 1;
        report.problems.push(`#${op.n} ${op.guest}: the request was acknowledged but no approval card came`);
      } else {
        report.outcomes[op.final] = (report.outcomes[op.final] ?? 0) + 1;
        if (op.final !== "ok")
          report.notes.push(`#${op.n} ${op.guest} ${op.from}→${op.to}: ${op.final}: ${op.detail ?? ""}`);
      }
    }
    // Every approval in Redis must be accounted for by an operation (nothing filed twice).
    const extra = new Set<string>();
    for (const m of slack.messages.values()) for (const id of approveButtons(m.blocks)) extra.add(id);
    for (const op of ops) if (op.approvalId) extra.delete(op.approvalId);
    for (const id of extra) {
      const rec = await approvals.get(id).catch(() => null);
      report.problems.push(
        `approval card filed for no request: ${id} (${rec ? `${rec.plan.summary}, requested by ${rec.requestedBy} at ${rec.createdAt}, ${rec.status}` : "no record"})`,
      );
    }
    report.durationMs = Date.now() - started;
    return report;
  } finally {
    await close();
  }
}

/** The approval ids of the Approve buttons in a message's blocks. */
function approveButtons(blocks: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (o.action_id === APPROVE_ACTION_ID && typeof o.value === "string") out.push(o.value);
      for (const x of Object.values(o)) walk(x);
    }
  };
  walk(blocks);
  return out;
}
