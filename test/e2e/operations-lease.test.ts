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
import { describe, expect, it } from "vitest";
import { lockKeys } from "../../src/locks/lock";
import type { OperationSettings } from "../../src/operations/context";
import {
  cardUpdates,
  finished,
  type Line,
  migrating,
  newWorker,
  requestAndApprove,
  workerScenario,
} from "./worker-harness";

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

const scenario = (settings: Partial<OperationSettings>) =>
  workerScenario({ prefix: "e2e-lease", operations: { ...BASE, ...settings }, waitMs: 30_000 });

const heading = (l: Line) => String(l.text).split("\n")[0] ?? "";

describe("a worker paused (SIGSTOP) in the middle of a migration", () => {
  it.concurrent("is not taken over while its step may still run; after SIGCONT it finishes", async () => {
    // The migration step's deadline is far away: only the lease expires during the pause.
    const s = await scenario({ migrateBaseTimeoutMs: 120_000, migratePerGiBTimeoutMs: 1_000 });
    try {
      const migrate = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
      const demote = s.lab.sim.faults.watchCommands({ argv: ["drbdadm", "secondary"] });
      const first = await newWorker(s);
      const id = await requestAndApprove(s, first, "migrate internet ics1 --override-ha");
      await s.until("the migration to run", () => migrating(s));
      first.child.kill("SIGSTOP");

      const second = await newWorker(s, { E2E_LOG_LEVEL: "debug" });
      // Its lease expired and its locks too (both TTLs are 1 s) ...
      await s.until(
        "the first worker's locks to expire",
        async () => (await s.deps.locks.holders([lockKeys.guest("lab", "internet")]))[0] === null,
      );
      // ... yet recovery passes keep leaving it alone, because the migration step may still run.
      const refusals = () =>
        second.lines.filter(
          (l) =>
            l.msg === "execution not taken over" && /step 2 started .* may still run/.test(String(l.why)),
        );
      await s.until("three recovery passes that leave it alone", () => refusals().length >= 3);
      const journalDuringPause = await s.deps.approvals.journal(id);
      expect(journalDuringPause?.finished).toBeNull();
      expect(journalDuringPause?.lease?.token).toBe(1);

      first.child.kill("SIGCONT");
      const journal = await finished(s, id);
      expect(journal.finished?.outcome).toBe("ok");
      // Never taken over: still the first worker's token.
      expect(journal.lease).toMatchObject({ token: 1, owner: expect.stringContaining("exec-") });
      const final = await s.until("the first worker's final card", () =>
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
      await s.until("the migration to run", () => migrating(s));
      first.child.kill("SIGSTOP");

      const second = await newWorker(s);
      const journal = await finished(s, id);
      // The second worker took over (token bumped), found the guest on ics1 and completed the demotion.
      expect(journal.finished?.outcome).toBe("ok");
      expect(journal.lease).toMatchObject({ token: 2, owner: expect.stringContaining("recovery-") });
      await s.until("the recovered card", () =>
        cardUpdates(second).some((l) => heading(l).includes("Done: Live-migrate internet")),
      );
      const finalCard = cardUpdates(second).at(-1);
      expect(String(finalCard?.text)).toContain("verified after a worker restart");

      const mark = first.lines.length;
      first.child.kill("SIGCONT");
      const noted = await s.until("the first worker's note", async () => {
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
