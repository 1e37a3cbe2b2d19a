/**
 * Crash safety: the worker PROCESS is SIGKILLed at each step of a migration and of a fence (a
 * simulator hold stops the step where we want it), then a new worker process starts. Its crash
 * recovery must re-read the cluster and finish the verification, or report the uncertain state and
 * page; it must never run a destructive step twice, and never fence twice for one approval.
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
import type { OperationSettings } from "../../src/operations/context";
import { createDeps, type Deps } from "../../src/runtime/deps";
import { type CommandMatch, type HoldPhase, referenceLab } from "../../src/sim";
import { RecordingNotifier } from "../approval/helpers";
import { withoutHaGuests } from "../operations/harness";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const ROOT = join(import.meta.dirname, "..", "..");
const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });

const SETTINGS: Partial<OperationSettings> = {
  lockTtlMs: 1_000,
  // Recovery takes over once the lease expired and the running step's timeout plus grace has passed.
  leaseTtlMs: 1_000,
  stepGraceMs: 300,
  migrateBaseTimeoutMs: 4_000,
  migratePerGiBTimeoutMs: 1_000,
  fenceTimeoutMs: 3_000,
  recoveryIntervalMs: 300,
  pollIntervalMs: 50,
  probeTimeoutMs: 1_500,
  migrateVerifyTimeoutMs: 15_000,
  fenceVerifyTimeoutMs: 1_500,
  progressIntervalMs: 500,
};

interface Worker {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  ready: Promise<void>;
}

function startWorker(env: Record<string, string>): Worker {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/operations-worker.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  let stderr = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
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
    w.child.kill("SIGKILL");
  });
}

async function until<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
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

async function scenario(): Promise<Scenario> {
  const lab = await startLab({
    redisUrl: testRedisUrl(),
    logger,
    commandTimeoutMs: 3_000,
    // The crash recovery is about xenops' own steps: guests no cluster manager owns.
    spec: withoutHaGuests(
      referenceLab({
        timing: { migrationMsPerGiB: 1_200, shutdownMs: 100, rebootMs: 60_000 },
        ha: { deadtimeMs: 200, autoTakeover: false, autoFailback: false, takeoverMs: 100 },
      }),
    ),
  });
  const prefix = uniquePrefix("e2e-crash");
  const inventoryFile = join(lab.dir, "inventory.json");
  await writeFile(inventoryFile, JSON.stringify(lab.inventory));
  // The bot side in this process (commands, clicks); every job runs in the worker processes.
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
      operations: SETTINGS,
    }),
  };
  const s: Scenario = {
    lab,
    deps,
    env,
    workers: [],
    async close() {
      await Promise.all(s.workers.map(kill));
      await deps.close();
      await lab.close();
    },
  };
  return s;
}

async function newWorker(s: Scenario): Promise<Worker> {
  const w = startWorker(s.env);
  s.workers.push(w);
  await w.ready;
  return w;
}

/** Requests and approves `text` (two approvers when needed); the execution job goes to the worker. */
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

async function finished(s: Scenario, id: string): Promise<ExecutionJournal> {
  return until("the execution to be finished", async () => {
    const j = await s.deps.approvals.journal(id);
    return j?.finished ? j : null;
  });
}

function lastCard(workers: Worker[]): string {
  const texts = workers.flatMap((w) =>
    w.lines.filter((l) => l.kind === "update" || l.kind === "post").map((l) => String(l.text)),
  );
  return texts.filter((t) => /Done|Failed|Uncertain|Not run/.test(t.split("\n")[0] ?? "")).at(-1) ?? "";
}

/** Runs `text`, kills the worker when `hold` holds (or `when()` holds), starts another, returns the journal and card. */
async function crashAt(
  s: Scenario,
  text: string,
  stop: { hold: CommandMatch; phase: HoldPhase } | { when: () => boolean },
): Promise<{ id: string; journal: ExecutionJournal; card: string }> {
  const first = await newWorker(s);
  const hold = "hold" in stop ? s.lab.sim.faults.holdCommand(stop.hold, stop.phase) : null;
  const id = await requestAndApprove(s, first, text);
  if (hold) await hold.held();
  else if ("when" in stop) await until("the crash point", stop.when);
  await kill(first);
  // What the dying worker's command does now: a held command sees its client gone (and, held before
  // it ran, never runs); an unheld one (a migration in flight) goes on without it. Wait until the
  // node noticed the connection is gone before letting go of the hold.
  if (hold) await until("the held command to see its client gone", () => hold.holding === 0);
  hold?.stop();
  const second = await newWorker(s);
  const journal = await finished(s, id);
  await until("the card to show the result", () => lastCard([second]).length > 0);
  return { id, journal, card: lastCard([second]) };
}

const migrating = (s: Scenario) => s.lab.sim.cluster.migrationOf("internet") !== undefined;

describe("a worker killed in the middle of a migration", () => {
  it.concurrent("at step 1 (promote): nothing moved; recovery reports it and runs nothing more", async () => {
    const s = await scenario();
    try {
      const migrate = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
      const { journal, card } = await crashAt(s, "migrate internet ics1", {
        hold: { node: "ics1", argv: ["drbdadm", "primary"] },
        phase: "before",
      });
      expect(journal.finished?.outcome).toBe("failed");
      expect(card).toContain("Stopped before migrating internet; it still runs on ics2");
      expect(card).toContain("finished by a restarted worker");
      expect(migrate.count).toBe(0);
      expect(s.lab.sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
      expect(s.lab.sim.cluster.resource("internet")?.local.ics1?.role).toBe("Secondary");
    } finally {
      await s.close();
    }
  });

  it.concurrent("at step 2 before the migration ran: the promotion is undone, never migrated", async () => {
    const s = await scenario();
    try {
      const { journal, card } = await crashAt(s, "migrate internet ics1", {
        hold: { argv: ["xm", "migrate"] },
        phase: "before",
      });
      expect(journal.finished?.outcome).toBe("failed");
      expect(card).toContain(
        "The migration of internet did not complete (the worker stopped); it still runs on ics2",
      );
      expect(card).toContain("undone: promotion of internet on ics1");
      expect(s.lab.sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
      expect(s.lab.sim.cluster.resource("internet")?.local.ics1?.role).toBe("Secondary");
    } finally {
      await s.close();
    }
  });

  it.concurrent("during step 2 (the migration runs on without the worker): recovery verifies and completes", async () => {
    const s = await scenario();
    try {
      const migrate = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
      const { journal, card } = await crashAt(s, "migrate internet ics1", { when: () => migrating(s) });
      expect(journal.finished?.outcome).toBe("ok");
      expect(card).toContain("Done: Live-migrate internet from ics2 to ics1");
      expect(card).toContain("internet runs on ics1 (verified after a worker restart)");
      expect(card).toContain("ran: drbdadm secondary internet on ics2");
      expect(card).toContain("internet: Primary on ics1 only (read back on every node)");
      expect(migrate.count).toBe(1);
      expect(s.lab.sim.cluster.guestLocations("internet")).toEqual(["ics1"]);
      expect(s.lab.sim.cluster.resource("internet")?.local.ics2?.role).toBe("Secondary");
    } finally {
      await s.close();
    }
  });

  it.concurrent("at step 3 after the demotion ran: verified, nothing destructive again", async () => {
    const s = await scenario();
    try {
      const migrate = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
      const { journal, card } = await crashAt(s, "migrate internet ics1", {
        hold: { node: "ics2", argv: ["drbdadm", "secondary"] },
        phase: "after",
      });
      expect(journal.finished?.outcome).toBe("ok");
      expect(card).toContain("internet runs on ics1 (verified after a worker restart)");
      expect(migrate.count).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe("a worker killed in the middle of a fence", () => {
  it.concurrent("before the fence command ran: never fenced again; the uncertain state is reported and paged", async () => {
    const s = await scenario();
    try {
      const ran = s.lab.sim.faults.watchCommands({ argv: ["stonith", "-t", "apcsmart", "-T"] });
      const { journal, card } = await crashAt(s, "fence ics1", {
        hold: { argv: ["stonith", "-t", "apcsmart", "-T"] },
        phase: "before",
      });
      expect(journal.finished?.outcome).toBe("failed");
      expect(card).toContain("Uncertain: Fence ics1");
      expect(card).toContain("The worker stopped while fencing ics1; it is not verified off");
      expect(card).toContain("Paging on-call: @UADMIN1");
      expect(card).toContain("the fence was not run again for this approval");
      // Held once, never let through, never re-run.
      expect(ran.count).toBe(1);
      expect(s.lab.sim.cluster.node("ics1")?.up).toBe(true);
    } finally {
      await s.close();
    }
  });

  it.concurrent("after the fence command ran: recovery verifies the node is off; fenced exactly once", async () => {
    const s = await scenario();
    try {
      const ran = s.lab.sim.faults.watchCommands({ argv: ["stonith", "-t", "apcsmart", "-T"] });
      const { journal, card } = await crashAt(s, "fence ics1", {
        hold: { argv: ["stonith", "-t", "apcsmart", "-T"] },
        phase: "after",
      });
      expect(journal.finished?.outcome).toBe("ok");
      expect(card).toContain("ics1 is verified off (the fence had been sent when the worker stopped)");
      expect(card).toContain("the fence was not run again");
      expect(ran.count).toBe(1);
      expect(s.lab.sim.cluster.node("ics1")?.up).toBe(false);
    } finally {
      await s.close();
    }
  });
});

/** Files the split-brain recovery of internet keeping ics1's data (the card's button) and approves it. */
async function requestRecovery(s: Scenario, w: Worker): Promise<string> {
  await s.deps.jobs.enqueue(
    "lab",
    "split-brain-plan",
    {
      cluster: "lab",
      channel: "C0LAB",
      requestedBy: "UAPPROVER1",
      deliveryId: `sb-${Math.random()}`,
      requestText: "[button] recover internet keeping ics1's data (discarding ics2's)",
      resource: "internet",
      survivor: "ics1",
      victim: "ics2",
      threadTs: null,
    },
    { deliveryId: `sb-${Math.random()}` },
  );
  const id = await until("the approval card", () => {
    for (const l of w.lines) {
      const m = /"action_id":"xenops:approval:approve","value":"([A-Za-z0-9_-]+)"/.exec(
        JSON.stringify(l.blocks ?? []),
      );
      if (m?.[1]) return m[1];
    }
    return null;
  });
  const decided = await s.deps.approvals.decide(id, "UAPPROVER2", "approve", { typed: "ics2/internet" });
  expect(decided.outcome).toBe("approved");
  return id;
}

/** Kills the worker while the discard is held (`phase`), starts another; its crash recovery settles it. */
async function crashDuringDiscard(s: Scenario, phase: HoldPhase) {
  const discard: CommandMatch = { node: "ics2", argv: ["drbdadm", "--", "--discard-my-data"] };
  const ran = s.lab.sim.faults.watchCommands(discard);
  s.lab.sim.faults.splitBrain("internet");
  const first = await newWorker(s);
  const hold = s.lab.sim.faults.holdCommand(discard, phase);
  const id = await requestRecovery(s, first);
  await hold.held();
  await kill(first);
  await until("the held command to see its client gone", () => hold.holding === 0);
  hold.stop();
  const second = await newWorker(s);
  const journal = await finished(s, id);
  await until("the card to show the result", () => lastCard([second]).length > 0);
  return { journal, card: lastCard([second]), ran };
}

describe("a worker killed during a split-brain recovery", () => {
  it.concurrent("after the discard ran: recovery reconnects the survivor, follows the resync, never discards again", async () => {
    const s = await scenario();
    try {
      const { journal, card, ran } = await crashDuringDiscard(s, "after");
      expect(journal.finished?.outcome).toBe("ok");
      expect(card).toContain("Split brain of internet recovered: ics1's data kept");
      expect(card).toContain("(verified after a worker restart)");
      expect(card).toContain("completed: Reconnect internet on ics1");
      expect(card).toContain("finished by a restarted worker");
      expect(ran.count).toBe(1);
      const r = s.lab.sim.cluster.resource("internet");
      expect(r?.local.ics1).toMatchObject({ disk: "UpToDate", splitBrain: false });
      expect(r?.local.ics2).toMatchObject({ role: "Secondary", disk: "UpToDate", splitBrain: false });
    } finally {
      await s.close();
    }
  });

  it.concurrent("before the discard ran: not run again; the uncertain state is reported and paged", async () => {
    const s = await scenario();
    try {
      const { journal, card, ran } = await crashDuringDiscard(s, "before");
      expect(journal.finished?.outcome).toBe("failed");
      expect(card).toContain("Uncertain: Recover the split brain of internet");
      expect(card).toContain("internet is still StandAlone on ics2");
      expect(card).toContain("the discard was not run again");
      expect(card).toContain("Paging on-call: @UADMIN1");
      expect(ran.count).toBe(1);
      expect(s.lab.sim.cluster.resource("internet")?.local.ics2?.splitBrain).toBe(true);
    } finally {
      await s.close();
    }
  });
});
