/**
 * Crash safety: the worker PROCESS is SIGKILLed at each step of a migration and of a fence (a
 * simulator hold stops the step where we want it), then a new worker process starts. Its crash
 * recovery must re-read the cluster and finish the verification, or report the uncertain state and
 * page; it must never run a destructive step twice, and never fence twice for one approval.
 */
import { describe, expect, it } from "vitest";
import type { ExecutionJournal } from "../../src/approval/types";
import type { OperationSettings } from "../../src/operations/context";
import type { CommandMatch, HoldPhase } from "../../src/sim";
import { withoutHaGuests } from "../operations/harness";
import {
  approvalCardId,
  cardUpdates,
  finished,
  kill,
  migrating,
  newWorker,
  requestAndApprove,
  type Scenario,
  shortReferenceLab,
  type Worker,
  workerScenario,
} from "./worker-harness";

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

const scenario = () =>
  workerScenario({
    prefix: "e2e-crash",
    // The crash recovery is about xenops' own steps: guests no cluster manager owns.
    spec: withoutHaGuests(shortReferenceLab()),
    operations: SETTINGS,
    waitMs: 20_000,
  });

function lastCard(workers: Worker[]): string {
  const texts = workers.flatMap((w) => cardUpdates(w).map((l) => String(l.text)));
  return texts.filter((t) => /Done|Failed|Uncertain|Not run/.test(t.split("\n")[0] ?? "")).at(-1) ?? "";
}

/**
 * Requests `what` (a command's text, or a function that files and approves a request) on a worker,
 * kills that worker when `hold` holds (or `when()` holds), starts another, returns the journal and card.
 */
async function crashAt(
  s: Scenario,
  what: string | ((s: Scenario, w: Worker) => Promise<string>),
  stop: { hold: CommandMatch; phase: HoldPhase } | { when: () => boolean },
): Promise<{ id: string; journal: ExecutionJournal; card: string }> {
  const first = await newWorker(s);
  const hold = "hold" in stop ? s.lab.sim.faults.holdCommand(stop.hold, stop.phase) : null;
  const id = typeof what === "string" ? await requestAndApprove(s, first, what) : await what(s, first);
  if (hold) await hold.held();
  else if ("when" in stop) await s.until("the crash point", stop.when);
  await kill(first);
  // What the dying worker's command does now: a held command sees its client gone (and, held before
  // it ran, never runs); an unheld one (a migration in flight) goes on without it. Wait until the
  // node noticed the connection is gone before letting go of the hold.
  if (hold) await s.until("the held command to see its client gone", () => hold.holding === 0);
  hold?.stop();
  const second = await newWorker(s);
  const journal = await finished(s, id);
  await s.until("the card to show the result", () => lastCard([second]).length > 0);
  return { id, journal, card: lastCard([second]) };
}

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

/** Fences ics1 and kills the worker while the fence command is held (`phase`); another settles it. */
async function crashDuringFence(s: Scenario, phase: HoldPhase) {
  const fence: CommandMatch = { argv: ["stonith", "-t", "apcsmart", "-T"] };
  const ran = s.lab.sim.faults.watchCommands(fence);
  const { journal, card } = await crashAt(s, "fence ics1", { hold: fence, phase });
  return { journal, card, ran };
}

describe("a worker killed in the middle of a fence", () => {
  it.concurrent("before the fence command ran: never fenced again; the uncertain state is reported and paged", async () => {
    const s = await scenario();
    try {
      const { journal, card, ran } = await crashDuringFence(s, "before");
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
      const { journal, card, ran } = await crashDuringFence(s, "after");
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
  const id = await approvalCardId(s, w);
  const decided = await s.deps.approvals.decide(id, "UAPPROVER2", "approve", { typed: "ics2/internet" });
  expect(decided.outcome).toBe("approved");
  return id;
}

/** Kills the worker while the discard is held (`phase`), starts another; its crash recovery settles it. */
async function crashDuringDiscard(s: Scenario, phase: HoldPhase) {
  const discard: CommandMatch = { node: "ics2", argv: ["drbdadm", "--", "--discard-my-data"] };
  const ran = s.lab.sim.faults.watchCommands(discard);
  s.lab.sim.faults.splitBrain("internet");
  const { journal, card } = await crashAt(s, requestRecovery, { hold: discard, phase });
  return { journal, card, ran };
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
