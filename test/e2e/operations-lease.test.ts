/**
 * Leases with real worker PROCESSES and signals: the worker running a migration is paused with SIGSTOP
 * (longer than its lock and lease TTLs) while a second worker runs crash recovery.
 *
 * - While the migration step may still run (its timeout from its recorded start, plus grace, has not
 *   passed) the second worker does not take the execution over, even though the lease expired; after
 *   SIGCONT the first worker takes its expired locks back and finishes.
 * - Once the step's deadline passed, the second worker takes over (bumping the fencing token) and
 *   finishes; the first, on SIGCONT, finds its token stale, runs nothing more, leaves a note, and the
 *   card never goes back from its final state to "Running".
 *
 * Short settings instead of real minutes; nothing asserts on wall-clock durations.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { APPROVE_ACTION_ID } from "../../src/approval/card";
import type { ExecutionJournal } from "../../src/approval/types";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { type Lab, startLab } from "../../src/lab/lab";
import { lockKeys } from "../../src/locks/lock";
import type { OperationSettings } from "../../src/operations/context";
import { createDeps, type Deps } from "../../src/runtime/deps";
import { referenceLab } from "../../src/sim";
import { RecordingNotifier } from "../approval/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const ROOT = join(import.meta.dirname, "..", "..");
const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });

const BASE: Partial<OperationSettings> = {
  lockTtlMs: 1_000,
  leaseTtlMs: 1_000,
  stepGraceMs: 300,
  recoveryIntervalMs: 200,
  pollIntervalMs: 50,
  probeTimeoutMs: 1_500,
  migrateVerifyTimeoutMs: 15_000,
  progressIntervalMs: 300,
};

type Line = Record<string, unknown>;

interface Worker {
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

function kill(w: Worker): Promise<void> {
  return new Promise((resolve) => {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
    w.child.once("exit", () => resolve());
    // A stopped process only dies of SIGKILL, which works on it too.
    w.child.kill("SIGKILL");
  });
}

async function until<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Scenario {
  lab: Lab;
  deps: Deps;
  env: Record<string, string>;
  workers: Worker[];
  close(): Promise<void>;
}

async function scenario(settings: Partial<OperationSettings>): Promise<Scenario> {
  const lab = await startLab({
    redisUrl: testRedisUrl(),
    logger,
    commandTimeoutMs: 3_000,
    spec: referenceLab({
      timing: { migrationMsPerGiB: 1_200, shutdownMs: 100, rebootMs: 60_000 },
      ha: { deadtimeMs: 200, autoTakeover: false, autoFailback: false, takeoverMs: 100 },
    }),
  });
  const prefix = uniquePrefix("e2e-lease");
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
      operations: { ...BASE, ...settings },
    }),
  };
  const s: Scenario = {
    lab,
    deps,
    env,
    workers: [],
    async close() {
      for (const w of s.workers) w.child.kill("SIGCONT");
      await Promise.all(s.workers.map(kill));
      await deps.close();
      await lab.close();
    },
  };
  return s;
}

async function newWorker(s: Scenario, env: Record<string, string> = {}): Promise<Worker> {
  const w = startWorker({ ...s.env, ...env });
  s.workers.push(w);
  await w.ready;
  return w;
}

async function requestAndApprove(s: Scenario, w: Worker, text: string): Promise<string> {
  await s.deps.core.command({
    source: "console",
    deliveryId: `cmd-${Math.random()}`,
    teamId: null,
    channelId: "C0LAB",
    userId: "UOPER1",
    text,
  });
  const id = await until("the approval card", () => {
    for (const l of w.lines) {
      const m = /"action_id":"xenops:approval:approve","value":"([A-Za-z0-9_-]+)"/.exec(
        JSON.stringify(l.blocks ?? []),
      );
      if (m?.[1]) return m[1];
    }
    return null;
  });
  await s.deps.core.action({
    source: "console",
    deliveryId: "click-UAPPROVER1",
    channelId: "C0LAB",
    userId: "UAPPROVER1",
    messageTs: "0",
    actionId: APPROVE_ACTION_ID,
    value: id,
  });
  return id;
}

function finished(s: Scenario, id: string): Promise<ExecutionJournal> {
  return until("the execution to be finished", async () => {
    const j = await s.deps.approvals.journal(id);
    return j?.finished ? j : null;
  });
}

const cardUpdates = (w: Worker) => w.lines.filter((l) => l.kind === "update" || l.kind === "post");
const heading = (l: Line) => String(l.text).split("\n")[0] ?? "";
const migrating = (s: Scenario) => s.lab.sim.cluster.migrationOf("internet") !== undefined;

describe("a worker paused (SIGSTOP) in the middle of a migration", () => {
  it.concurrent("is not taken over while its step may still run; after SIGCONT it finishes", async () => {
    // The migration step's deadline is far away: only the lease expires during the pause.
    const s = await scenario({ migrateBaseTimeoutMs: 120_000, migratePerGiBTimeoutMs: 1_000 });
    try {
      const migrate = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
      const demote = s.lab.sim.faults.watchCommands({ argv: ["drbdadm", "secondary"] });
      const first = await newWorker(s);
      const id = await requestAndApprove(s, first, "migrate internet ics1 --override-ha");
      await until("the migration to run", () => migrating(s));
      first.child.kill("SIGSTOP");

      const second = await newWorker(s, { E2E_LOG_LEVEL: "debug" });
      // Its lease expired and its locks too (both TTLs are 1 s) ...
      await until(
        "the first worker's locks to expire",
        async () => (await s.deps.locks.holders([lockKeys.guest("lab", "internet")]))[0] === null,
      );
      // ... yet recovery passes keep leaving it alone, because the migration step may still run.
      const refusals = () =>
        second.lines.filter(
          (l) =>
            l.msg === "execution not taken over" && /step 2 started .* may still run/.test(String(l.why)),
        );
      await until("three recovery passes that leave it alone", () => refusals().length >= 3);
      const journalDuringPause = await s.deps.approvals.journal(id);
      expect(journalDuringPause?.finished).toBeNull();
      expect(journalDuringPause?.lease?.token).toBe(1);

      first.child.kill("SIGCONT");
      const journal = await finished(s, id);
      expect(journal.finished?.outcome).toBe("ok");
      // Never taken over: still the first worker's token.
      expect(journal.lease).toMatchObject({ token: 1, owner: expect.stringContaining("exec-") });
      const final = await until("the first worker's final card", () =>
        cardUpdates(first).find((l) => heading(l).includes("Done: Live-migrate internet from ics2 to ics1")),
      );
      expect(String(final?.text)).not.toContain("finished by a restarted worker");
      // The second worker never touched the card, and nothing ran twice.
      expect(cardUpdates(second)).toEqual([]);
      expect(migrate.count).toBe(1);
      expect(demote.count).toBe(1);
      expect(s.lab.sim.cluster.guestLocations("internet")).toEqual(["ics1"]);
      expect(s.lab.sim.cluster.resource("internet")?.local.ics2?.role).toBe("Secondary");
    } finally {
      await s.close();
    }
  }, 90_000);

  it.concurrent("taken over once its step's deadline passed: on SIGCONT it checks its token and runs nothing", async () => {
    // The migration step times out after 2 s + 1 s per GiB (5 s here, the migration takes about 3.6 s).
    const s = await scenario({ migrateBaseTimeoutMs: 2_000, migratePerGiBTimeoutMs: 1_000 });
    try {
      const promote = s.lab.sim.faults.watchCommands({ argv: ["drbdadm", "primary"] });
      const migrate = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
      const demote = s.lab.sim.faults.watchCommands({ argv: ["drbdadm", "secondary"] });
      const first = await newWorker(s);
      const id = await requestAndApprove(s, first, "migrate internet ics1 --override-ha");
      await until("the migration to run", () => migrating(s));
      first.child.kill("SIGSTOP");

      const second = await newWorker(s);
      const journal = await finished(s, id);
      // The second worker took over (token bumped), found the guest on ics1 and completed the demotion.
      expect(journal.finished?.outcome).toBe("ok");
      expect(journal.lease).toMatchObject({ token: 2, owner: expect.stringContaining("recovery-") });
      await until("the recovered card", () =>
        cardUpdates(second).some((l) => heading(l).includes("Done: Live-migrate internet")),
      );
      const finalCard = cardUpdates(second).at(-1);
      expect(String(finalCard?.text)).toContain("verified after a worker restart");

      const mark = first.lines.length;
      first.child.kill("SIGCONT");
      const noted = await until("the first worker's note", async () => {
        const j = await s.deps.approvals.journal(id);
        return j && j.notes.length > 0 ? j : null;
      });
      expect(noted.notes[0]).toContain("ran nothing more");
      // The outcome is still the second worker's.
      expect(noted.finished).toMatchObject({ outcome: "ok" });
      expect(noted.lease?.token).toBe(2);
      // After SIGCONT the first worker never edited the card (no "Running" over the final state); it only
      // posted its note in the card's thread.
      const after = first.lines.slice(mark);
      expect(after.filter((l) => l.kind === "update")).toEqual([]);
      const posts = after.filter((l) => l.kind === "post");
      expect(posts.map((l) => String(l.text))).toEqual([expect.stringContaining("ran nothing more")]);
      // Nothing destructive ran twice: one promotion, one migration, one demotion (by the recovery).
      expect(promote.count).toBe(1);
      expect(migrate.count).toBe(1);
      expect(demote.count).toBe(1);
      expect(s.lab.sim.cluster.guestLocations("internet")).toEqual(["ics1"]);
      expect(s.lab.sim.cluster.resource("internet")?.local.ics2?.role).toBe("Secondary");
    } finally {
      await s.close();
    }
  }, 90_000);
});
