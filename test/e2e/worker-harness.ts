/**
 * Real worker PROCESSES for the end-to-end crash and lease tests (operations-crash, operations-lease):
 * a lab, the bot side in this process (commands, clicks), and workers started as child processes
 * (test/support/operations-worker.ts) that print every message they send as one JSON line. The tests
 * SIGKILL or SIGSTOP a worker in the middle of an operation and see what the others make of it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { APPROVE_ACTION_ID } from "../../src/approval/card";
import type { ExecutionJournal } from "../../src/approval/types";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { type Lab, startLab } from "../../src/lab/lab";
import type { OperationSettings } from "../../src/operations/context";
import { createDeps, type Deps } from "../../src/runtime/deps";
import { referenceLab, type SimClusterSpecInput } from "../../src/sim";
import { RecordingNotifier } from "../approval/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const ROOT = join(import.meta.dirname, "..", "..");
const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });

/** One JSON line a worker printed (a message it sent, a log line, `ready`). */
export type Line = Record<string, unknown>;

export interface Worker {
  child: ChildProcess;
  lines: Line[];
  ready: Promise<void>;
}

function startWorker(env: Record<string, string>): Worker {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/operations-worker.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Line[] = [];
  let buf = "";
  let stderr = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const parsed = JSON.parse(line) as Line;
          lines.push(parsed);
          if (parsed.kind === "ready") resolve();
        } catch {
          // not ours
        }
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    child.once("exit", (code) =>
      reject(new Error(`worker exited (${code}) before it was ready: ${stderr.slice(-2000)}`)),
    );
  });
  return { child, lines, ready };
}

export function kill(w: Worker): Promise<void> {
  return new Promise((resolve) => {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
    w.child.once("exit", () => resolve());
    // A stopped process only dies of SIGKILL, which works on it too.
    w.child.kill("SIGKILL");
  });
}

async function poll<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Scenario {
  lab: Lab;
  deps: Deps;
  env: Record<string, string>;
  workers: Worker[];
  /** Polls `fn` until it returns a value; fails naming `what` after the scenario's `waitMs`. */
  until<T>(
    what: string,
    fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ): Promise<T>;
  close(): Promise<void>;
}

export interface ScenarioOptions {
  /** The queue prefix's stem (made unique per scenario). */
  prefix: string;
  /** The operation settings every worker process runs with. */
  operations: Partial<OperationSettings>;
  /** The lab; default: the reference lab with short timings (see `shortReferenceLab`). */
  spec?: SimClusterSpecInput;
  /** How long one wait may take before the test fails with its name rather than at its timeout. */
  waitMs: number;
}

/** The reference lab with short timings: a migration takes 1.2 s per GiB, heartbeat's deadtime 200 ms. */
export function shortReferenceLab(): SimClusterSpecInput {
  return referenceLab({
    timing: { migrationMsPerGiB: 1_200, shutdownMs: 100, rebootMs: 60_000 },
    ha: { deadtimeMs: 200, autoTakeover: false, autoFailback: false, takeoverMs: 100 },
  });
}

/** A lab and the bot side in this process; every job runs in the worker processes `newWorker` starts. */
export async function workerScenario(options: ScenarioOptions): Promise<Scenario> {
  const lab = await startLab({
    redisUrl: testRedisUrl(),
    logger,
    commandTimeoutMs: 3_000,
    spec: options.spec ?? shortReferenceLab(),
  });
  const prefix = uniquePrefix(options.prefix);
  const inventoryFile = join(lab.dir, "inventory.json");
  await writeFile(inventoryFile, JSON.stringify(lab.inventory));
  const deps = await createDeps({
    inventory: lab.inventory,
    logger,
    redisUrl: lab.redisUrl,
    queuePrefix: prefix,
    secretEnv: {},
    notifier: new RecordingNotifier(),
    groups: new StaticGroupDirectory(),
    ssh: false,
  });
  const env = {
    XENOPS_TEST_WORKER: JSON.stringify({
      inventoryFile,
      redisUrl: lab.redisUrl,
      prefix,
      operations: options.operations,
    }),
  };
  const s: Scenario = {
    lab,
    deps,
    env,
    workers: [],
    until: (what, fn) => poll(what, fn, options.waitMs),
    async close() {
      // A paused worker is let go first (on an exited one this does nothing).
      for (const w of s.workers) w.child.kill("SIGCONT");
      await Promise.all(s.workers.map(kill));
      await deps.close();
      await lab.close();
    },
  };
  return s;
}

/** Starts a worker process (with `env` added) and waits until it is ready. */
export async function newWorker(s: Scenario, env: Record<string, string> = {}): Promise<Worker> {
  const w = startWorker({ ...s.env, ...env });
  s.workers.push(w);
  await w.ready;
  return w;
}

/** The id of the first approval card worker `w` posted, once it has. */
export function approvalCardId(s: Scenario, w: Worker): Promise<string> {
  return s.until("the approval card", () => {
    for (const l of w.lines) {
      const m = /"action_id":"xenops:approval:approve","value":"([A-Za-z0-9_-]+)"/.exec(
        JSON.stringify(l.blocks ?? []),
      );
      if (m?.[1]) return m[1];
    }
    return null;
  });
}

/** Requests and approves `text` (two approvers when needed); the execution job goes to the worker. */
export async function requestAndApprove(s: Scenario, w: Worker, text: string): Promise<string> {
  await s.deps.core.command({
    source: "console",
    deliveryId: `cmd-${Math.random()}`,
    teamId: null,
    channelId: "C0LAB",
    userId: "UOPER1",
    text,
  });
  const id = await approvalCardId(s, w);
  const record = await s.deps.approvals.get(id);
  for (const user of ["UAPPROVER1", "UAPPROVER2"].slice(0, record?.policy.approvals ?? 1))
    await s.deps.core.action({
      source: "console",
      deliveryId: `click-${user}`,
      channelId: "C0LAB",
      userId: user,
      messageTs: "0",
      actionId: APPROVE_ACTION_ID,
      value: id,
    });
  return id;
}

/** The journal of execution `id` once it is finished. */
export function finished(s: Scenario, id: string): Promise<ExecutionJournal> {
  return s.until("the execution to be finished", async () => {
    const j = await s.deps.approvals.journal(id);
    return j?.finished ? j : null;
  });
}

/** The messages worker `w` posted or updated (the cards and their thread replies). */
export const cardUpdates = (w: Worker) => w.lines.filter((l) => l.kind === "update" || l.kind === "post");

export const migrating = (s: Scenario) => s.lab.sim.cluster.migrationOf("internet") !== undefined;
