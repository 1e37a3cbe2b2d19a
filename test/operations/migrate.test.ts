/**
 * Live migration end to end on the in-process simulator: plan, approve, execute with the real approval
 * engine and locks, verify. Success paths (xm/DRBD 8 with allow-two-primaries in the config; xl/DRBD 9
 * enabling it for the migration only) and failure paths (migration fails midway, timeout, state
 * changed after approval, a check failing only at execution time, locks busy, a second execution).
 */
import { afterEach, describe, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { modernLab, referenceLab } from "../../src/sim";
import { holdCommand } from "../../src/sim/hooks";
import { allText, type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const fast = { timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 } };

function domainsOn(h: Harness, node: string): string[] {
  return (h.sim.node(node)?.domains ?? []).filter((d) => d.guest).map((d) => d.name);
}

describe("migrate (xm, DRBD 8.2, heartbeat)", () => {
  it("moves the guest, demotes the source and verifies it on every node", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    expect(h.executions).toHaveLength(1);
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    expect(outcome.summary).toContain("internet runs on ics1");
    expect(domainsOn(h, "ics1")).toEqual(["internet"]);
    expect(domainsOn(h, "ics2")).toEqual([]);
    const r = h.sim.resource("internet");
    expect(r?.local.ics1?.role).toBe("Primary");
    expect(r?.local.ics2?.role).toBe("Secondary");
    expect(h.calls.filter((c) => c.argv[0] === "xm" && c.argv[1] === "migrate").map((c) => c.argv)).toEqual([
      ["xm", "migrate", "--live", "internet", "ics1"],
    ]);
    const journal = await h.deps.approvals.journal(id);
    expect(journal?.finished?.outcome).toBe("ok");
    expect(journal?.steps.map((s) => s.status)).toEqual(["done", "done", "done"]);
    // The card (the approval message, edited) ends with the verified result.
    const card = h.notifier.current(h.notifier.posts[0]?.ref.ts ?? "");
    expect(card?.text).toContain("Done");
    expect(JSON.stringify(card?.blocks)).toContain("internet runs on ics1 only (checked on every node)");
  });

  it("a migration that fails midway leaves the guest on its source and undoes the promotion", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    h.sim.state.migrationFaults = [{ guest: "internet", fraction: 0.5 }];
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(false);
    expect(outcome.summary).toBe("internet was not moved: it still runs on ics2 only");
    expect(outcome.details.join("\n")).toMatch(/undone: promotion of internet on ics1/);
    expect(domainsOn(h, "ics2")).toEqual(["internet"]);
    expect(domainsOn(h, "ics1")).toEqual([]);
    expect(h.sim.resource("internet")?.local.ics1?.role).toBe("Secondary");
    // Never retried.
    expect(h.calls.filter((c) => c.argv[1] === "migrate")).toHaveLength(1);
    expect((await h.deps.approvals.journal(id))?.finished?.outcome).toBe("failed");
  });

  it("a destructive step that times out is a failure, never retried; the held command never ran", async () => {
    h = await harness(referenceLab(fast), {
      settings: { migrateBaseTimeoutMs: 300, migratePerGiBTimeoutMs: 1 },
    });
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    const hold = holdCommand(h.sim, { argv: ["xm", "migrate"] });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    hold.release();
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.details[0]).toMatch(/step 2 .* timed out/);
    expect(outcome.summary).toContain("still runs on ics2 only");
    expect(hold.count).toBe(1);
    expect(domainsOn(h, "ics2")).toEqual(["internet"]);
    expect(h.sim.resource("internet")?.local.ics1?.role).toBe("Secondary");
  });

  it("refuses and plans again when the state changed after approval (nothing runs)", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    h.sim.startResync("internet", "ics2", 100_000);
    const before = h.calls.length;
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("refused");
    if (outcome.status !== "refused") return;
    expect(outcome.summary).toBe("The cluster changed since this was approved: nothing ran");
    expect(outcome.replan).toBe(true);
    expect(h.enqueued.map((e) => e.name)).toEqual(["operation-plan"]);
    expect(h.enqueued[0]?.payload).toMatchObject({
      operation: { action: "migrate", guest: "internet", target: "ics1" },
      requestedBy: "UOPER1",
    });
    const mutations = h.calls.slice(before).filter((c) => c.argv[0] === "drbdadm" || c.argv[1] === "migrate");
    expect(mutations).toEqual([]);
    expect((await h.deps.approvals.journal(id))?.finished?.outcome).toBe("cancelled");
  });

  it("re-runs the preflight at execution: target memory taken meanwhile → refused", async () => {
    h = await harness(
      referenceLab({
        ...fast,
        guests: [
          {
            name: "internet",
            memoryMiB: 3070,
            vcpus: 2,
            drbd: ["internet"],
            home: "ics2",
            runningOn: "ics2",
          },
          { name: "spare", memoryMiB: 1024, vcpus: 1, drbd: [], home: "ics1", runningOn: null },
        ],
      }),
    );
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    const started = h.sim.createGuest("ics1", "spare");
    expect(started.ok).toBe(true);
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("refused");
    if (outcome.status !== "refused") return;
    expect(outcome.summary).toBe("A preflight check fails now");
    expect(outcome.reason).toMatch(/memory: ics1 has \d+ MiB free; internet needs 3070 MiB/);
    expect(domainsOn(h, "ics2")).toEqual(["internet"]);
  });

  it("refuses when another action holds a lock, and a second execution of one approval never runs", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    const other = await h.deps.locks.acquire(["guest:lab/internet"], {
      owner: "someone-else",
      ttlMs: 5_000,
      renew: false,
    });
    const busy = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    await other?.release();
    expect(busy.status).toBe("refused");
    if (busy.status === "refused") expect(busy.reason).toContain("guest:lab/internet (someone-else)");
    // The approval is consumed: the same (or another) job cannot run it later.
    const again = await executeApproved(h.deps, id, { jobId: "job-2" });
    expect(again.status).toBe("refused");
    if (again.status === "refused") expect(again.summary).toMatch(/Already executed/);
    expect(h.calls.filter((c) => c.argv[1] === "migrate")).toHaveLength(0);
  });

  it("two jobs racing for one approval: exactly one migrates", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    const [a, b] = await Promise.all([
      executeApproved(h.deps, id, { jobId: `exec-${id}` }),
      executeApproved(h.deps, id, { jobId: `exec-${id}` }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual(["refused", "succeeded"]);
    expect(h.calls.filter((c) => c.argv[1] === "migrate")).toHaveLength(1);
  });
});

describe("migrate (xl, DRBD 9, Pacemaker)", () => {
  it("enables allow-two-primaries for the migration only and turns it off again", async () => {
    const spec = modernLab(fast);
    for (const r of spec.drbd ?? []) r.allowTwoPrimaries = false;
    h = await harness(spec);
    const plan = await h.plan({ action: "migrate", guest: "web", target: "hv2" });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.plan.steps.map((s) => s.argv.join(" "))).toEqual([
      "drbdadm net-options --allow-two-primaries=yes web",
      "drbdadm net-options --allow-two-primaries=yes web",
      "drbdadm primary web",
      "xl migrate web hv2",
      "drbdadm secondary web",
      "drbdadm net-options --allow-two-primaries=no web",
      "drbdadm net-options --allow-two-primaries=no web",
    ]);
    const id = await h.approve({ action: "migrate", guest: "web", target: "hv2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    expect(domainsOn(h, "hv2").sort()).toEqual(["db", "web"]);
    expect(h.sim.resource("web")?.allowTwoPrimaries).toBe(false);
    expect(h.sim.resource("web")?.local.hv1?.role).toBe("Secondary");
  });

  it("xl: a migration that fails midway resumes at the sender and allow-two-primaries goes off again", async () => {
    const spec = modernLab(fast);
    for (const r of spec.drbd ?? []) r.allowTwoPrimaries = false;
    h = await harness(spec);
    const id = await h.approve({ action: "migrate", guest: "web", target: "hv2" });
    h.sim.state.migrationFaults = [{ guest: "web", fraction: 0.3 }];
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    expect(domainsOn(h, "hv1")).toEqual(["web"]);
    expect(h.sim.resource("web")?.allowTwoPrimaries).toBe(false);
    expect(h.sim.resource("web")?.local.hv2?.role).toBe("Secondary");
    expect(allText(h.notifier)).toContain("web was not moved: it still runs on hv1 only");
  });
});
