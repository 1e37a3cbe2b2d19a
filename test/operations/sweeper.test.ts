/**
 * Redis losing data under an execution (real Redis, the simulator): the orphan sweep finds an approved
 * execution whose journal is gone, marks it uncertain (it can never run again), locates the guest
 * read-only and pages; a worker whose journal vanishes mid-execution stops, looks, and pages.
 */
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { sweepOrphanedExecutions } from "../../src/operations/sweeper";
import { referenceLab } from "../../src/sim";
import { holdCommand } from "../../src/sim/hooks";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const fast = { timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 } };

/** The engine's own client and keys: what a Redis that lost data would have lost. */
function store(h: Harness): { redis: Redis; exec: (id: string) => string; approval: (id: string) => string } {
  const engine = h.deps.approvals as unknown as {
    redis: Redis;
    keys: { exec: (id: string) => string; approval: (id: string) => string };
  };
  return { redis: engine.redis, exec: engine.keys.exec, approval: engine.keys.approval };
}

/** The card: the approval message, as last edited. */
const cardText = (h: Harness) =>
  JSON.stringify(h.notifier.current(h.notifier.posts[0]?.ref.ts ?? "") ?? null);

const pages = (h: Harness) => h.notifier.posts.filter((p) => (p.message.text ?? "").includes("<@UADMIN1>"));

describe("the orphan sweep", () => {
  it("marks a running execution whose journal Redis lost uncertain, locates the guest and pages", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    // The execution started (claimed, step 1 run: internet Primary on ics1 too) ...
    expect(await h.deps.approvals.claimExecution(id, `exec-${id}`)).toBe("claimed");
    await h.deps.approvals.stepStarted(id, 0);
    await h.deps.runnerFor(h.cluster.name, "ics1").run(["drbdadm", "primary", "internet"]);
    // ... then Redis came back from an older state: the approval survived, the journal did not.
    const s = store(h);
    await s.redis.del(s.exec(id));
    const calls = h.calls.length;

    const reports = await sweepOrphanedExecutions(h.deps, { clusters: [h.cluster.name] });
    expect(reports.map((r) => [r.approvalId, r.outcome.status])).toEqual([[id, "uncertain"]]);
    // Read-only: nothing but the snapshot ran.
    const ran = h.calls.slice(calls).map((c) => c.argv.join(" "));
    expect(ran.some((c) => /drbdadm (primary|secondary)|xm (migrate|create)/.test(c))).toBe(false);

    const text = cardText(h);
    expect(text).toContain("Uncertain");
    expect(text).toContain("journal was lost");
    expect(text).toContain("internet runs on ics2");
    expect(text).toContain("DRBD internet: Primary on ics1 and ics2");
    expect(pages(h).length).toBeGreaterThan(0);

    // The store says so, and the execution can never be claimed (run) again.
    const journal = await h.deps.approvals.journal(id);
    expect(journal?.finished).toMatchObject({
      outcome: "failed",
      detail: expect.stringContaining("uncertain"),
    });
    expect(await h.deps.approvals.claimExecution(id, `exec-${id}`)).toBe("already_claimed");
    // Swept once.
    expect(await sweepOrphanedExecutions(h.deps, { clusters: [h.cluster.name] })).toEqual([]);
  });

  it("an approval whose job is gone and never claimed is swept; one whose job still waits is not", async () => {
    h = await harness(referenceLab(fast));
    const waiting = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    const states: Record<string, string> = { [`exec-${waiting}`]: "waiting" };
    const jobState = async (jobId: string) => states[jobId] ?? "unknown";
    expect(await sweepOrphanedExecutions(h.deps, { clusters: [h.cluster.name], jobState })).toEqual([]);
    expect(await h.deps.approvals.journal(waiting)).toBeNull();

    // Its job vanished with the data Redis lost: nobody will ever say whether it ran.
    states[`exec-${waiting}`] = "unknown";
    const reports = await sweepOrphanedExecutions(h.deps, { clusters: [h.cluster.name], jobState });
    expect(reports.map((r) => r.approvalId)).toEqual([waiting]);
    expect(reports[0]?.outcome.status).toBe("uncertain");
    expect(pages(h).length).toBeGreaterThan(0);
  });

  it("a finished execution is not swept", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    expect((await executeApproved(h.deps, id, { jobId: `exec-${id}` })).status).toBe("succeeded");
    expect(await sweepOrphanedExecutions(h.deps, { clusters: [h.cluster.name] })).toEqual([]);
    expect(await h.deps.approvals.executingApprovals()).toEqual([]);
  });
});

describe("Redis losing its data in the middle of an execution", () => {
  it("the worker stops at its next journal write, runs nothing more, locates the guest and pages", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    const hold = holdCommand(h.sim, { argv: ["xm", "migrate"] }, "after");
    const running = executeApproved(h.deps, id, { jobId: `exec-${id}` });
    await hold.held();
    // Redis restarted without persistence: everything is gone, the approval too.
    const s = store(h);
    await s.redis.del(s.exec(id), s.approval(id));
    hold.release();
    const outcome = await running;
    expect(outcome.status).toBe("uncertain");
    if (outcome.status !== "uncertain") return;
    expect(outcome.page).toBe(true);
    expect(outcome.details.join("\n")).toContain("gone from Redis");
    expect(outcome.details.join("\n")).toContain("internet runs on ics1");
    // Stopped before the demotion: it is not run on a journal nobody can follow.
    expect(h.calls.filter((c) => c.argv[0] === "drbdadm" && c.argv[1] === "secondary")).toEqual([]);
    expect(pages(h).length).toBeGreaterThan(0);
    expect(cardText(h)).toContain("Uncertain");
  });
});
