/**
 * What sets one HA stack apart from another is its driver's to declare, never tested by name: whether
 * its view records every fence (then that history verifies a fence of any method), its name in
 * messages, its takeover log, its own commands. Below, a heartbeat cluster's drivers are handed a fence
 * history: the plan then counts on it, although the inventory still says heartbeat, so nothing in
 * operations can have looked at the stack's name.
 */
import { afterEach, describe, expect, it } from "vitest";
import { haConfigDriverOf, haDriverOf, mutationDriversFor } from "../../src/drivers/registry";
import type { HaManagedGuest } from "../../src/model";
import type { PlanOutcome } from "../../src/operations/types";
import { referenceLab } from "../../src/sim";
import { type Harness, harness } from "./harness";
import { partition, QUICK_HA } from "./labs";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const verifyCheck = (p: PlanOutcome) =>
  (p.ok ? p.plan.checks : p.checks).find((c) => c.name === "verify")?.detail;

describe("the registry's HA stacks declare their differences", () => {
  it("Pacemaker's view records fences; heartbeat keeps none but has a takeover log", () => {
    expect(haDriverOf("pacemaker").fenceHistory).toEqual({
      evidence: "Pacemaker's fencer records the fence",
    });
    expect(haDriverOf("pacemaker").log).toBeUndefined();
    expect(haDriverOf("heartbeat").fenceHistory).toBeUndefined();
    expect(haDriverOf("heartbeat").log).toBeDefined();
    expect([haDriverOf("heartbeat").label, haDriverOf("pacemaker").label]).toEqual([
      "heartbeat",
      "Pacemaker",
    ]);
    const toolstack = { hypervisor: "xl", drbd: 9, fence: { method: "stonith_admin" } } as const;
    expect(mutationDriversFor({ ...toolstack, ha: "pacemaker" }).fenceHistory).toBe(
      haDriverOf("pacemaker").fenceHistory,
    );
    expect(mutationDriversFor({ ...toolstack, ha: "heartbeat" }).fenceHistory).toBeNull();
    expect(mutationDriversFor({ ...toolstack, ha: "none" }).fenceHistory).toBeNull();
  });

  it("each manager says its own way to move a guest", () => {
    const entry: HaManagedGuest = {
      guest: "internet",
      resource: "xen-internet",
      agent: null,
      group: ["drbddisk::internet", "xen-guest::internet"],
      preferredNode: "ics2",
      allowMigrate: true,
      constraints: [],
    };
    expect(haConfigDriverOf("heartbeat").way(entry, "migrate", "ics1", "ics2")).toMatch(
      /^let heartbeat move it: on ics1 run `\/usr\/share\/heartbeat\/hb_takeover foreign` \(or on ics2: `\/usr\/share\/heartbeat\/hb_standby local`\)/,
    );
    expect(haConfigDriverOf("pacemaker").way(entry, "migrate", "ics1", "ics2")).toMatch(
      /^let Pacemaker move it: `crm_resource --move --resource xen-internet --node ics1`; Pacemaker live-migrates it/,
    );
  });
});

describe("a fence plan counts on a fence history only when the cluster's drivers have one", () => {
  it("a silent node, fenced by a method that cannot read power: unverifiable without one, verifiable with one", async () => {
    h = await harness(referenceLab(QUICK_HA));
    expect(h.cluster.toolstack.ha).toBe("heartbeat");
    await partition(h, "ics2", "ics1");

    const without = await h.plan({ action: "fence", node: "ics2" });
    expect(without.ok).toBe(true);
    expect(verifyCheck(without)).toBe(
      "ics2 is already silent and heartbeat stonith (apcsmart) cannot report power: the fence cannot be verified; once someone has checked ics2 is powered off, `/xen attest-off ics2`",
    );

    const toolstack = h.cluster.toolstack;
    h.deps.mutationsFor = () => ({
      ...mutationDriversFor(toolstack),
      fenceHistory: { evidence: "the test stack's fencer records the fence" },
    });
    const withHistory = await h.plan({ action: "fence", node: "ics2" });
    expect(withHistory.ok).toBe(true);
    expect(verifyCheck(withHistory)).toBe(
      "success only with evidence that did not hold before: the test stack's fencer records the fence",
    );
  });
});
