/**
 * Slack-side and deployment numbers: ack latency of the HTTP-mode bot under 200 concurrent slash
 * commands, command-to-card latency at 2 and 100 simulated nodes, and the memory of the bot and the
 * worker as separate processes. xenops runs in child processes (bench/proc-runtime.ts); this process
 * holds the fake Slack, the simulated cluster and the load, all on loopback.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import type { InventoryConfig } from "../src/config/schema";
import { LAB_CHANNEL } from "../src/lab/lab";
import { createJobQueues } from "../src/queue/queues";
import { FakeSlack, signSlackRequest } from "../support/fake-slack";
import {
  awaitCard,
  BOT_TOKEN,
  blockTexts,
  cardMark,
  commandBody,
  labEnvVars,
  SIGNING_SECRET,
  withChannels,
} from "../support/slack-harness";
import { unitLaunch } from "./deployed";
import type { ProcConfig } from "./proc-runtime";
import { processCpuMs, startSimProcess } from "./support/sim-client";
import { fmt, median, percentile, say, sleep, table, verdict, within } from "./util";

const ROOT = join(import.meta.dirname, "..");
/** XENOPS_BENCH_BUILD: another build's directory (e.g. `node scripts/build.mjs --outdir DIR`). */
const BUILD = join(process.env.XENOPS_BENCH_BUILD ?? join(ROOT, "dist"), "xenops.js");

/**
 * The bot and worker run as deployed, from the build (`node dist/xenops.js bot|worker -c FILE`), when
 * `npm run build` has made one (BENCH_FROM_SOURCE=1 forces the sources); else from the sources with tsx.
 */
export const ON_BUILD = existsSync(BUILD) && process.env.BENCH_FROM_SOURCE !== "1";

export function runtimeLabel(): string {
  if (!ON_BUILD)
    return "the TypeScript sources through tsx (no dist/: run `npm run build` to measure the build)";
  const launch = (role: "bot" | "worker") => {
    const unit = unitLaunch(role);
    const env = Object.entries(unit.env).map(([k, v]) => `${k}=${v} `);
    const flags = [...unit.nodeFlags, ...extraNodeFlags()];
    return `${env.join("")}node ${flags.length ? `${flags.join(" ")} ` : ""}${BUILD.startsWith(ROOT) ? BUILD.slice(ROOT.length + 1) : BUILD} ${role}`;
  };
  return `the build, started as the systemd units start it (\`${launch("bot")}\`, \`${launch("worker")}\`)`;
}

/** XENOPS_BENCH_NODE_FLAGS: node flags added to the units' own (e.g. --cpu-prof to profile a run). */
function extraNodeFlags(): string[] {
  return (process.env.XENOPS_BENCH_NODE_FLAGS ?? "").split(/\s+/).filter(Boolean);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

// ---- child processes ----

export interface Proc {
  role: ProcConfig["role"];
  pid: number;
  url: string | undefined;
  /** What the process logged (warn and above) and wrote to stderr, last lines first kept. */
  log: string[];
  /** VmRSS and VmHWM (peak) from /proc, in MB, and the CPU time used since the start, in s. */
  rss(): { rssMB: number; peakMB: number; cpuS: number };
  /** The JS heap (processes started from the sources only: the CLI has no IPC channel). */
  memory(): Promise<NodeJS.MemoryUsage | null>;
  close(): Promise<void>;
}

function procStatusMB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return kb / 1024;
}

/** User + system CPU time of a process so far (utime and stime of /proc/PID/stat, in clock ticks of 1/100 s). */
function procCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** `xenops bot` / `xenops worker` from the build, as a deployment runs them. */
async function startCliProc(config: ProcConfig, dir: string): Promise<Proc> {
  const inventoryFile = join(dir, `${config.role}-${Date.now()}-inventory.yml`);
  // JSON is YAML: the inventory as the lab built it.
  await writeFile(inventoryFile, JSON.stringify(config.inventory), { mode: 0o600 });
  const port = config.role === "bot-http" ? await freePort() : undefined;
  // As the systemd unit starts it: its node flags and Environment= lines.
  const unit = unitLaunch(config.role === "worker" ? "worker" : "bot");
  const child = spawn(
    process.execPath,
    [
      ...unit.nodeFlags,
      ...extraNodeFlags(),
      BUILD,
      config.role === "worker" ? "worker" : "bot",
      "-c",
      inventoryFile,
    ],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        ...unit.env,
        ...config.env,
        REDIS_URL: config.redisUrl,
        // "xenops started" is logged at info; the bench keeps warn and above.
        LOG_LEVEL: "info",
        ...(port !== undefined ? { PORT: String(port) } : {}),
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const pid = child.pid;
  if (!pid) throw new Error(`could not start the ${config.role} process`);
  const log: string[] = [];
  let partial = "";
  let onLine: ((line: string) => void) | null = null;
  child.stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      onLine?.(line);
      const level = /"level":(\d+)/.exec(line)?.[1];
      if (line.trim() && (level === undefined || Number(level) >= 40) && log.length < 200) log.push(line);
    }
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  try {
    await within(
      60_000,
      `the ${config.role} process start`,
      new Promise<void>((resolve, reject) => {
        onLine = (line) => {
          if (line.includes('"msg":"xenops started"')) resolve();
        };
        child.once("exit", (code) =>
          reject(new Error(`the ${config.role} process exited with ${code}: ${log.slice(-3).join(" | ")}`)),
        );
      }),
    );
  } catch (err) {
    kill();
    throw err;
  }
  onLine = null;
  return {
    role: config.role,
    pid,
    url: port !== undefined ? `http://127.0.0.1:${port}/slack/events` : undefined,
    log,
    rss: () => ({
      rssMB: procStatusMB(pid, "VmRSS"),
      peakMB: procStatusMB(pid, "VmHWM"),
      cpuS: procCpuS(pid),
    }),
    memory: async () => null,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      if (!(await waitExit(child, 10_000))) {
        log.push(`the ${config.role} process did not exit within 10 s of SIGTERM; killed`);
        kill();
        await waitExit(child, 5_000);
      }
    },
  };
}

export async function startProc(config: ProcConfig, dir: string): Promise<Proc> {
  if (ON_BUILD && config.role !== "idle") return startCliProc(config, dir);
  if (config.role === "bot-http")
    config = { ...config, env: { ...config.env, PORT: String(await freePort()) } };
  const file = join(dir, `${config.role}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  const child = fork(join(ROOT, "bench", "proc-runtime.ts"), [file], {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  const pid = child.pid;
  if (!pid) throw new Error(`could not start the ${config.role} process`);
  const log: string[] = [];
  let partial = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim() && log.length < 200) log.push(line);
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  let ready: { url?: string };
  try {
    ready = await within(
      30_000,
      `the ${config.role} process start`,
      new Promise<{ url?: string }>((resolve, reject) => {
        child.on("message", (m: { type?: string; url?: string }) => {
          if (m.type === "ready") resolve(m);
        });
        child.once("exit", (code) => reject(new Error(`the ${config.role} process exited with ${code}`)));
      }),
    );
  } catch (err) {
    kill();
    throw err;
  }
  return {
    role: config.role,
    pid,
    url: ready.url,
    log,
    rss: () => ({
      rssMB: procStatusMB(pid, "VmRSS"),
      peakMB: procStatusMB(pid, "VmHWM"),
      cpuS: procCpuS(pid),
    }),
    memory: () =>
      within(
        5_000,
        `memory of the ${config.role} process`,
        new Promise<NodeJS.MemoryUsage>((resolve) => {
          const on = (m: { type?: string; usage?: NodeJS.MemoryUsage }) => {
            if (m.type !== "memory" || !m.usage) return;
            child.off("message", on);
            resolve(m.usage);
          };
          child.on("message", on);
          child.send({ type: "memory" });
        }),
      ),
    async close() {
      if (child.connected) child.send({ type: "close" });
      if (!(await waitExit(child, 10_000))) {
        kill();
        await waitExit(child, 5_000);
      }
    },
  };
}

// ---- b. ack latency ----

/** One line per log entry of the child processes: `[role] level: msg (err)`. */
export function summarizeLogs(procs: readonly Pick<Proc, "role" | "log">[]): string[] {
  const names: Record<number, string> = { 30: "info", 40: "warn", 50: "error", 60: "fatal" };
  return procs.flatMap((p) =>
    p.log.map((line) => {
      try {
        const e = JSON.parse(line) as { level?: number; msg?: string; err?: unknown; component?: string };
        const err =
          e.err === undefined
            ? ""
            : ` (${typeof e.err === "string" ? e.err : JSON.stringify(e.err).slice(0, 160)})`;
        return `[${p.role}] ${names[e.level ?? 0] ?? e.level}: ${e.component ? `${e.component}: ` : ""}${e.msg ?? ""}${err}`;
      } catch {
        return `[${p.role}] ${line.slice(0, 200)}`;
      }
    }),
  );
}

export interface AckResult {
  verb: "status" | "help";
  label: string;
  n: number;
  /** Request sent → ack read. */
  latencies: number[];
  /** Request sent → the command's reply seen: the ack's body, or the POST to its response_url. */
  replyLatencies: number[];
  wallMs: number;
  failures: number;
  /**
   * CPU time (user + system) of the bot process from the burst's start until it is idle again (replies,
   * enqueues and audit records of the burst included), per request.
   */
  botCpuMsPerRequest: number;
  /** CPU time of this process (the client) during the burst, per request: it must stay small. */
  clientCpuMsPerRequest: number;
}

/** A slash command ready to send: body and signature made before any timer starts. */
interface SignedRequest {
  body: string;
  headers: Record<string, string>;
  /** The path of its response_url at the fake Slack. */
  replyPath: string;
}

interface Sent {
  ms: number;
  /** Date.now() when sent: the fake Slack stamps what reaches a response_url so. */
  sentAt: number;
  status: number;
  text: string;
}

/** Waits until the process has used no CPU for `quietMs` (at most `maxMs`): the previous burst's tail is done. */
async function untilIdle(pid: number, quietMs = 200, maxMs = 5_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  let last = processCpuMs(pid);
  while (performance.now() < deadline) {
    await sleep(quietMs);
    const now = processCpuMs(pid);
    if (now === last) return;
    last = now;
  }
}

export async function ackBench(opts: {
  redisUrl: string;
  logger: Logger;
  concurrency: number;
  bursts: number;
  /** Receives what the child processes logged (warn and above). */
  log: string[];
}): Promise<AckResult[]> {
  const dir = await mkdtemp(join(tmpdir(), "xenops-bench-ack-"));
  const slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
  // The simulator in its own process: its CPU and memory are not xenops'.
  const lab = await startSimProcess({ nodes: "reference", dir, channels: [LAB_CHANNEL] });
  const prefix = `bench-ack-${process.pid}-${Date.now()}`;
  // node:http with kept-alive connections, one per request in flight: a fetch() per request costs this
  // process several times the CPU and would be measured as the bot's latency.
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  let bot: Proc | undefined;
  try {
    bot = await startProc(
      {
        role: "bot-http",
        inventory: lab.inventory,
        redisUrl: opts.redisUrl,
        env: labEnvVars({
          slackApiUrl: slack.apiUrl,
          queuePrefix: prefix,
          mode: "http",
          auditFile: join(dir, "audit.jsonl"),
        }),
      },
      dir,
    );
    const url = new URL(bot.url ?? "");
    let seq = 0;
    const sign = (verb: "status" | "help"): SignedRequest => {
      const id = ++seq;
      const body = commandBody({
        text: verb,
        user_id: "UVIEWER1",
        channel_id: LAB_CHANNEL,
        trigger_id: `bench-${prefix}-${id}`,
        response_url: slack.responseUrl(id),
      });
      const ts = Math.floor(Date.now() / 1000);
      return {
        body,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "content-length": String(Buffer.byteLength(body)),
          "x-slack-request-timestamp": String(ts),
          "x-slack-signature": signSlackRequest(SIGNING_SECRET, body, ts),
        },
        replyPath: new URL(slack.responseUrl(id)).pathname,
      };
    };
    const send = (req: SignedRequest): Promise<Sent> =>
      new Promise((resolve, reject) => {
        const sentAt = Date.now();
        const t = performance.now();
        const r = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: "POST",
            agent,
            headers: req.headers,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("error", reject);
            res.on("end", () => {
              const ms = performance.now() - t;
              resolve({
                ms,
                sentAt,
                status: res.statusCode ?? 0,
                text: Buffer.concat(chunks).toString("utf8"),
              });
            });
          },
        );
        r.on("error", reject);
        r.end(req.body);
      });
    const expected = { status: "Queued as job", help: "operate the Xen/DRBD clusters" };
    /**
     * The reply of each command and when it was seen: in the ack's body (a build that answers in the ack, or
     * an answer ready at once), else at the fake Slack's response_url (waited for, at most 30 s).
     */
    const replies = async (
      verb: "status" | "help",
      signed: readonly SignedRequest[],
      sent: readonly Sent[],
    ) => {
      const deadline = Date.now() + 30_000;
      const out: { ms: number; ok: boolean }[] = [];
      for (const [i, req] of signed.entries()) {
        const s = sent[i] as Sent;
        if (s.status !== 200) {
          out.push({ ms: Number.NaN, ok: false });
          continue;
        }
        if (s.text !== "") {
          out.push({ ms: s.ms, ok: s.text.includes(expected[verb]) });
          continue;
        }
        let call = slack.calls.find((c) => c.method === "response_url" && c.args.path === req.replyPath);
        while (!call && Date.now() < deadline) {
          await sleep(20);
          call = slack.calls.find((c) => c.method === "response_url" && c.args.path === req.replyPath);
        }
        out.push(
          call
            ? { ms: call.at - s.sentAt, ok: String(call.args.text ?? "").includes(expected[verb]) }
            : { ms: Number.NaN, ok: false },
        );
      }
      return out;
    };
    const burst = (verb: "status" | "help", n: number) => {
      const signed = Array.from({ length: n }, () => sign(verb));
      return { signed, fire: () => Promise.all(signed.map((req) => send(req))) };
    };
    // Warm-up: JIT, Redis scripts, then one untimed burst that opens the connections the timed ones reuse.
    for (let i = 0; i < 20; i++) {
      const one = burst("status", 1);
      await replies("status", one.signed, await one.fire());
    }
    const warm = burst("status", opts.concurrency);
    await replies("status", warm.signed, await within(60_000, "the warm-up burst", warm.fire()));
    const results: AckResult[] = [];
    // The status bursts are the target; a help burst (no Redis write) shows what the enqueue costs.
    const bursts = [
      ...Array.from({ length: opts.bursts }, (_, i) => ({
        verb: "status" as const,
        label: `status burst ${i + 1}`,
      })),
      { verb: "help" as const, label: "help burst (no enqueue)" },
    ];
    for (const b of bursts) {
      // Each burst starts with the bot idle (the previous one's audit records and cards written).
      await untilIdle(bot.pid);
      const { signed, fire } = burst(b.verb, opts.concurrency);
      const cpu0 = processCpuMs(bot.pid);
      const client0 = process.cpuUsage();
      const t = performance.now();
      const all = await within(60_000, "a burst of slash commands", fire());
      const wallMs = performance.now() - t;
      const client = process.cpuUsage(client0);
      const answered = await replies(b.verb, signed, all);
      await untilIdle(bot.pid);
      results.push({
        verb: b.verb,
        label: b.label,
        n: all.length,
        latencies: all.map((r) => r.ms),
        replyLatencies: answered.map((r) => r.ms),
        wallMs,
        failures: answered.filter((r) => !r.ok).length,
        botCpuMsPerRequest: (processCpuMs(bot.pid) - cpu0) / all.length,
        clientCpuMsPerRequest: (client.user + client.system) / 1000 / all.length,
      });
    }
    return results;
  } finally {
    agent.destroy();
    await bot?.close();
    if (bot) opts.log.push(...summarizeLogs([bot]));
    // The queued status jobs had no worker; drop them.
    const cluster = lab.inventory.clusters[0]?.name ?? "lab";
    const jobs = createJobQueues({
      redisUrl: opts.redisUrl,
      prefix,
      clusters: [cluster],
      logger: opts.logger,
    });
    await jobs
      .queue(cluster)
      .obliterate({ force: true })
      .catch(() => {});
    await jobs.close();
    await lab.close();
    await slack.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function printAckTable(results: readonly AckResult[]): string[] {
  say(
    table(
      [
        "run",
        "requests",
        "ack p50 ms",
        "ack p99 ms",
        "ack max ms",
        "burst wall ms",
        "reply p99 ms",
        "failed",
        "bot CPU ms/command",
        "client CPU ms/request",
      ],
      results.map((r) => [
        r.label,
        String(r.n),
        fmt(median(r.latencies)),
        fmt(percentile(r.latencies, 99)),
        fmt(Math.max(...r.latencies)),
        fmt(r.wallMs, 0),
        fmt(percentile(r.replyLatencies.filter(Number.isFinite), 99)),
        String(r.failures),
        fmt(r.botCpuMsPerRequest, 2),
        fmt(r.clientCpuMsPerRequest, 2),
      ]),
    ),
  );
  const status = results.filter((r) => r.verb === "status");
  const worst = Math.max(...status.map((r) => percentile(r.latencies, 99)));
  const failed = results.reduce((a, r) => a + r.failures, 0);
  const lines = [
    verdict(
      "ack p99 < 100 ms under 200 concurrent /xen status",
      worst < 100 && failed === 0,
      `worst p99 ${fmt(worst)} ms${failed ? `, ${failed} requests not acked or answered as expected` : ""}`,
    ),
  ];
  for (const l of lines) say(l);
  return lines;
}

// ---- c. command-to-card latency, d. memory ----

export interface CardResult {
  nodes: number;
  ackMs: number[];
  /** First run: the worker connects to every node. */
  coldCardMs: number;
  warmCardMs: number[];
  reachable: string[];
  memory: {
    role: string;
    rssMB: number;
    peakMB: number;
    cpuS: number;
    /** CPU used during the warm runs. */
    warmCpuS: number;
    heapMB: number;
    externalMB: number;
  }[];
}

export async function cardBench(opts: {
  redisUrl: string;
  logger: Logger;
  nodes: number;
  runs: number;
  budgetMs: number;
  /** Receives what the child processes logged (warn and above). */
  log: string[];
}): Promise<CardResult> {
  const dir = await mkdtemp(join(tmpdir(), "xenops-bench-card-"));
  const slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
  // One channel per run: the sender paces posts per channel (1/s), and a large card's thread messages
  // would otherwise hold up the next run's placeholder.
  const channels = Array.from({ length: opts.runs }, (_, i) => `C0BENCH${String(i).padStart(3, "0")}`);
  // The simulator in its own process: its CPU and memory are not xenops'.
  const lab = await startSimProcess({
    nodes: opts.nodes > 2 ? opts.nodes : "reference",
    flavour: "modern",
    dir,
    channels,
  });
  const inventory: InventoryConfig = withChannels(lab.inventory, channels);
  const prefix = `bench-card-${opts.nodes}-${process.pid}-${Date.now()}`;
  const env = labEnvVars({
    slackApiUrl: slack.apiUrl,
    queuePrefix: prefix,
    auditFile: join(dir, "audit.jsonl"),
  });
  const procs: Proc[] = [];
  try {
    const redisUrl = opts.redisUrl;
    const [bot, worker] = await Promise.all([
      startProc({ role: "bot", inventory, redisUrl, env }, dir),
      startProc({ role: "worker", inventory, redisUrl, env }, dir),
    ]);
    procs.push(bot, worker);
    // From the sources only: the same modules loaded and nothing started, for reference.
    if (!ON_BUILD) procs.push(await startProc({ role: "idle", inventory, redisUrl, env }, dir));
    await slack.waitForSocketConnection(10_000);

    const ackMs: number[] = [];
    const cardMs: number[] = [];
    const reachable: string[] = [];
    const started = performance.now();
    // CPU used from the first warm run to the end (background work, the monitor's, included).
    const cpuAtWarm = new Map<Proc, number>();
    for (const [i, channel] of channels.entries()) {
      if (i > 1 && performance.now() - started > opts.budgetMs) break;
      if (i === 1) for (const p of procs) cpuAtWarm.set(p, p.rss().cpuS);
      const mark = cardMark(slack);
      const t0 = Date.now();
      const ack = await slack.sendSlashCommand({ text: "status", user_id: "UVIEWER1", channel_id: channel });
      ackMs.push(ack.ackedAt - ack.sentAt);
      const { card } = await awaitCard(slack, channel, mark, 60_000);
      cardMs.push(card.at - t0);
      const texts = blockTexts(card.args.blocks).join("\n");
      reachable.push(/(\d+\/\d+) nodes reachable/.exec(texts)?.[1] ?? `no card: ${String(card.args.text)}`);
    }
    const memory = [];
    for (const p of procs) {
      const usage = await p.memory();
      const rss = p.rss();
      memory.push({
        role: p.role,
        ...rss,
        warmCpuS: rss.cpuS - (cpuAtWarm.get(p) ?? Number.NaN),
        heapMB: usage ? usage.heapUsed / 1024 / 1024 : Number.NaN,
        externalMB: usage ? usage.external / 1024 / 1024 : Number.NaN,
      });
    }
    return {
      nodes: opts.nodes,
      ackMs,
      coldCardMs: cardMs[0] ?? Number.NaN,
      warmCardMs: cardMs.slice(1),
      reachable,
      memory,
    };
  } finally {
    await Promise.all(procs.map((p) => p.close()));
    opts.log.push(...summarizeLogs(procs));
    await lab.close();
    await slack.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function printCardTables(results: readonly CardResult[]): string[] {
  say(
    table(
      [
        "nodes",
        "runs",
        "ack p50 ms",
        "card ms, 1st run (connects)",
        "card ms, later runs p50 / max",
        "card says",
      ],
      results.map((r) => [
        String(r.nodes),
        String(r.ackMs.length),
        fmt(median(r.ackMs), 0),
        fmt(r.coldCardMs, 0),
        r.warmCardMs.length
          ? `${fmt(median(r.warmCardMs), 0)} / ${fmt(Math.max(...r.warmCardMs), 0)}`
          : "n/a",
        [...new Set(r.reachable)].map((x) => `${x} reachable`).join(", "),
      ]),
    ),
  );
  return [];
}

function memoryRow(label: string, m: CardResult["memory"][number]): string[] {
  return [
    label,
    fmt(m.rssMB),
    fmt(m.peakMB),
    fmt(m.cpuS, 2),
    fmt(m.warmCpuS, 2),
    fmt(m.heapMB),
    fmt(m.externalMB),
  ];
}

export function printMemoryTable(result: CardResult, target: boolean): string[] {
  const parts = result.memory.filter((m) => m.role === "bot" || m.role === "worker");
  const idle = result.memory.find((m) => m.role === "idle");
  const total = parts.reduce((a, m) => a + m.rssMB, 0);
  const peak = parts.reduce((a, m) => a + m.peakMB, 0);
  say(
    table(
      [
        "process",
        "RSS MB",
        "peak RSS MB",
        "CPU s since start",
        "CPU s, warm runs",
        "JS heap used MB",
        "external MB",
      ],
      [
        ...parts.map((m) => memoryRow(m.role, m)),
        ["bot + worker", fmt(total), fmt(peak), "", "", "", ""],
        ...(idle ? [memoryRow("(reference: same modules loaded, nothing started)", idle)] : []),
      ],
    ),
  );
  if (!target) return [];
  const line = verdict(
    `bot + worker RSS <= 200 MB with ${result.nodes} nodes`,
    total <= 200,
    `${fmt(total)} MB after the status commands (peaks sum to ${fmt(peak)} MB)`,
  );
  say(line);
  return [line];
}
