/**
 * Fencing a node that holds the only UpToDate copy of a resource (its peer Inconsistent during a
 * resync, Outdated, or unreadable) is refused unless the request names the resource
 * (`--override-last-copy R`); then approving needs `NODE/RESOURCE` typed, and the card says so.
 */
import { afterEach, describe, expect, it } from "vitest";
import { fenceCommand } from "../../commands/fence";
import { policyFor } from "../../src/approval/policy";
import type { PreflightCheck } from "../../src/approval/types";
import type { CommandContext } from "../../src/chat/spec";
import { UsageError } from "../../src/chat/spec";
import { mutationDriversFor } from "../../src/drivers/registry";
import { executeApproved } from "../../src/operations/executor";
import { gatherFacts, requestOfPlan, snapshotCluster } from "../../src/operations/plan";
import { buildPlan, DEFAULT_PLAN_SETTINGS } from "../../src/operations/preflight";
import type { OperationRequest, PlanOutcome } from "../../src/operations/types";
import { referenceLab } from "../../src/sim";
import { watchCommands } from "../../src/sim/hooks";
import { allText, type Harness, harness } from "./harness";
import { QUICK_HA } from "./labs";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function failed(outcome: PlanOutcome): Record<string, string> {
  const checks: PreflightCheck[] = outcome.ok ? outcome.plan.checks : outcome.checks;
  return Object.fromEntries(checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
}

/** A resync from ics2 (where internet runs) to ics1: ics1 is Inconsistent for an hour at this rate. */
function resyncing(h: Harness): void {
  h.sim.startResync("internet", "ics2", 40_000_000);
}

describe("fence preflight: the last UpToDate copy", () => {
  it("refuses to fence ics2 while ics1 is Inconsistent (resync), saying exactly what to request", async () => {
    h = await harness(referenceLab(QUICK_HA));
    resyncing(h);
    const outcome = await h.plan({ action: "fence", node: "ics2" });
    expect(outcome.ok).toBe(false);
    const f = failed(outcome);
    expect(Object.keys(f)).toEqual(["last copy internet"]);
    expect(f["last copy internet"]).toMatch(
      /^ics2 may hold the only UpToDate copy of internet \(ics2 is UpToDate; ics1 Inconsistent \(SyncTarget [\d.]+%\)\)/,
    );
    expect(f["last copy internet"]).toContain(
      "request `/xen fence lab ics2 --override-last-copy internet`; the approvers then type `ics2/internet`",
    );
    // The Inconsistent side holds no UpToDate copy: fencing it loses nothing.
    const other = await h.plan({ action: "fence", node: "ics1" });
    expect(failed(other)).toEqual({});
  });

  it("refuses when the peer is Outdated, or its disk state cannot be read", async () => {
    h = await harness(referenceLab(QUICK_HA));
    const { cluster } = h;
    const state = await snapshotCluster(h.deps, cluster);
    const request: OperationRequest = { action: "fence", cluster: "lab", node: "ics2" };
    const facts = await gatherFacts(h.deps, cluster, state, request);
    const input = {
      cluster,
      state,
      facts,
      drivers: mutationDriversFor(cluster.toolstack),
      settings: DEFAULT_PLAN_SETTINGS,
    };
    expect(failed(buildPlan(input, request))).toEqual({});
    const ics1 = state.nodes.find((n) => n.name === "ics1");
    const r = ics1?.drbd?.find((x) => x.name === "internet");
    if (!ics1 || !r) throw new Error("no internet on ics1");
    r.diskState = "Outdated";
    expect(failed(buildPlan(input, request))["last copy internet"]).toMatch(
      /^ics2 may hold the only UpToDate copy of internet \(ics2 is UpToDate; ics1 Outdated\)/,
    );
    ics1.drbd = null;
    expect(failed(buildPlan(input, request))["last copy internet"]).toMatch(
      /^ics2 may hold the only UpToDate copy of internet \(ics2 is UpToDate; ics1 cannot be read \(ics2 sees its disk UpToDate\)\)/,
    );
  });

  it("with the exact override the plan passes and approving needs ics2/internet typed", async () => {
    h = await harness(referenceLab(QUICK_HA));
    resyncing(h);
    const outcome = await h.plan({ action: "fence", node: "ics2", overrideLastCopy: ["internet"] });
    expect(failed(outcome)).toEqual({});
    if (!outcome.ok) return;
    expect(outcome.plan.params.overrideLastCopy).toEqual(["internet"]);
    expect(outcome.plan.checks.find((c) => c.name === "last copy internet")?.detail).toMatch(
      /^OVERRIDDEN: ics2 may hold the only UpToDate copy of internet .*approving needs `ics2\/internet` typed$/,
    );
    // The executor plans again from the approved plan: the override travels with it.
    expect(requestOfPlan(outcome.plan)).toEqual({
      action: "fence",
      cluster: "lab",
      node: "ics2",
      overrideLastCopy: ["internet"],
    });

    const policy = policyFor("fence", h.inventory, outcome.plan);
    expect(policy.typedConfirmation).toBe("ics2/internet");
    // A policy without the confirmation cannot be stored for such a plan.
    await expect(
      h.deps.approvals.request(outcome.plan, {
        requestedBy: "UOPER1",
        channel: "C0LAB",
        policy: policyFor("fence", h.inventory),
      }),
    ).rejects.toThrow(/needs the typed confirmation ics2\/internet/);
    const record = await h.deps.approvals.request(outcome.plan, {
      requestedBy: "UOPER1",
      channel: "C0LAB",
      policy,
    });
    await h.deps.approvals.settled();
    // The card shows the exact text to type.
    expect(allText(h.notifier)).toContain(`/xen approve ${record.id} ics2/internet`);

    const none = await h.deps.approvals.decide(record.id, "UAPPROVER1", "approve");
    expect(none.outcome).toBe("refused");
    expect(none.reason).toContain(`type \`/xen approve ${record.id} ics2/internet\``);
    const nodeOnly = await h.deps.approvals.decide(record.id, "UAPPROVER1", "approve", { typed: "ics2" });
    expect(nodeOnly.outcome).toBe("refused");
    expect(nodeOnly.reason).toBe(
      `The confirmation "ics2" does not match: type exactly \`/xen approve ${record.id} ics2/internet\`.`,
    );
    for (const user of ["UAPPROVER1", "UAPPROVER2"]) {
      const r = await h.deps.approvals.decide(record.id, user, "approve", { typed: "ics2/internet" });
      expect(r.outcome).not.toBe("refused");
    }
    expect((await h.deps.approvals.get(record.id))?.status).toBe("approved");

    const watch = watchCommands(h.sim, { argv: ["stonith", "-t", "apcsmart", "-T"] });
    await executeApproved(h.deps, record.id, { jobId: `exec-${record.id}` });
    watch.stop();
    // The override holds at execution time too: the fence ran (once).
    expect(watch.count).toBe(1);
  });

  it("an override of a resource that is not at risk changes nothing; an unknown resource is refused", async () => {
    h = await harness(referenceLab(QUICK_HA));
    const fine = await h.plan({ action: "fence", node: "ics2", overrideLastCopy: ["internet"] });
    expect(failed(fine)).toEqual({});
    if (!fine.ok) return;
    expect(fine.plan.params.overrideLastCopy).toBeUndefined();
    expect(policyFor("fence", h.inventory, fine.plan).typedConfirmation).toBeUndefined();
    expect(fine.plan.checks.find((c) => c.name === "last copy internet")?.detail).toBe(
      "ics1 also holds an UpToDate copy of internet: no override needed",
    );
    const unknown = await h.plan({ action: "fence", node: "ics2", overrideLastCopy: ["nosuch"] });
    expect(failed(unknown)).toEqual({ "override nosuch": "nosuch is not a DRBD resource of lab" });
  });
});

describe("/xen fence --override-last-copy", () => {
  it("parses the resources after the node, and refuses the flag without one", async () => {
    h = await harness(referenceLab(QUICK_HA));
    const ctx = { clustersHere: [h.cluster] } as unknown as CommandContext;
    const parse = (words: string[]) =>
      fenceCommand.parse(
        {
          positionals: words.filter((w) => !w.startsWith("--")),
          flags: new Set(words.filter((w) => w.startsWith("--"))),
        },
        ctx,
      );
    expect(parse(["ics2", "--override-last-copy", "internet"])).toEqual({
      cluster: "lab",
      operation: { action: "fence", node: "ics2", overrideLastCopy: ["internet"] },
      dryRun: false,
    });
    expect(parse(["lab", "ics2", "--dry-run"])).toEqual({
      cluster: "lab",
      operation: { action: "fence", node: "ics2" },
      dryRun: true,
    });
    expect(() => parse(["ics2", "--override-last-copy"])).toThrow(UsageError);
    expect(() => parse(["ics2", "--override-last-copy"])).toThrow(/needs the DRBD resource/);
    expect(() => parse(["ics2", "internet"])).toThrow(/name the one node/);
    expect(() => parse(["ics2", "--override-last-copy", "nosuch"])).toThrow(/unknown DRBD resource "nosuch"/);
  });
});
