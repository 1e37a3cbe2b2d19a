/**
 * Crash recovery follows the executor's rules for a failed migration: a worker that stopped after the
 * migrate command failed leaves a journal whose migrate step "failed". The next worker locates the
 * guest: arrived on the target → source demoted, one Primary verified, "moved despite an error";
 * on two nodes → paged, nothing run.
 */
import { afterEach, describe, expect, it } from "vitest";
import { recoverUnfinished } from "../../src/operations/crash-recovery";
import { referenceLab } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import { watchCommands } from "../../src/sim/hooks";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const fast = { timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 } };

/**
 * What a worker that died right after the migrate command failed leaves behind: the claim (its lease
 * already expired), the promotion done, the migrate step failed, nothing after it.
 */
async function diedAfterFailedMigrate(h: Harness): Promise<string> {
  const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
  const record = await h.deps.approvals.get(id);
  if (!record) throw new Error("no record");
  createFaults(h.sim).failMigration("internet", 0.5, { arrived: true });
  expect(await h.deps.approvals.claimExecution(id, `exec-${id}`, { ttlMs: 1 })).toBe("claimed");
  const [promote, migrate] = record.plan.steps;
  if (!promote || !migrate) throw new Error("unexpected plan");
  await h.deps.approvals.stepStarted(id, 0);
  await h.deps.runnerFor("lab", promote.node).run(promote.argv);
  await h.deps.approvals.stepDone(id, 0, { exitCode: 0 });
  await h.deps.approvals.stepStarted(id, 1);
  await expect(h.deps.runnerFor("lab", migrate.node).run(migrate.argv)).rejects.toThrow(/exited with code 1/);
  await h.deps.approvals.stepFailed(id, 1, { code: "exec_failed" });
  return id;
}

describe("crash recovery after a failed migrate command", () => {
  it("the guest arrived: demotes the source, verifies one Primary, reports 'moved despite an error'", async () => {
    h = await harness(referenceLab(fast));
    const id = await diedAfterFailedMigrate(h);
    expect(h.sim.guestLocations("internet")).toEqual(["ics1"]);
    const reports = await recoverUnfinished(h.deps, { clusters: ["lab"], owner: "w2" });
    expect(reports.map((r) => r.approvalId)).toEqual([id]);
    const outcome = reports[0]?.outcome;
    expect(outcome?.status).toBe("succeeded");
    if (outcome?.status !== "succeeded") return;
    expect(outcome.warning).toBe("internet moved despite an error from its migrate command");
    expect(outcome.details).toContain("ran: drbdadm secondary internet on ics2");
    expect(outcome.details).toContain("internet: Primary on ics1 only (read back on every node)");
    expect(h.sim.resource("internet")?.local.ics2?.role).toBe("Secondary");
    expect(h.sim.resource("internet")?.local.ics1?.role).toBe("Primary");
  });

  it("the guest runs on both nodes: pages and runs nothing", async () => {
    h = await harness(referenceLab(fast));
    await diedAfterFailedMigrate(h);
    expect(h.sim.createGuest("ics2", "internet").ok).toBe(true);
    const watch = watchCommands(h.sim, {
      argv: (a) => a[0] === "drbdadm" && ["primary", "secondary", "net-options"].includes(a[1] ?? ""),
    });
    const reports = await recoverUnfinished(h.deps, { clusters: ["lab"], owner: "w2" });
    watch.stop();
    const outcome = reports[0]?.outcome;
    expect(outcome?.status).toBe("uncertain");
    if (outcome?.status !== "uncertain") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toBe("internet runs on ics1 and ics2: look now");
    expect(watch.count).toBe(0);
  });
});
