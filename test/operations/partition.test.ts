/**
 * One meaning of "down", through the simulator: a partitioned node keeps running its guest while
 * xenops and its peer cannot reach it. Nothing is started in its place until it is proven off: a fence
 * verified with evidence that did not hold before, or an attestation by two approvers.
 */
import { afterEach, describe, expect, it } from "vitest";
import { policyFor } from "../../src/approval/policy";
import type { OperationSettings } from "../../src/operations/context";
import { executeApproved } from "../../src/operations/executor";
import type { PlanOutcome } from "../../src/operations/types";
import { modernLab, referenceLab } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import { type Harness, harness } from "./harness";
import { partition, QUICK_HA } from "./labs";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const failed = (p: PlanOutcome) =>
  p.ok ? {} : Object.fromEntries(p.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));

/** `/xen attest-off NODE` by UAPPROVER1, approved by UAPPROVER2 typing the node's name. */
async function attest(x: Harness, node: string): Promise<string> {
  const outcome = await x.plan({ action: "attest_off", node });
  if (!outcome.ok) throw new Error(`attest-off refused: ${JSON.stringify(failed(outcome))}`);
  const policy = policyFor("attest_off", x.inventory, outcome.plan);
  const record = await x.deps.approvals.request(outcome.plan, {
    requestedBy: "UAPPROVER1",
    channel: "C0LAB",
    policy,
  });
  // The two-person rule and the typed confirmation.
  expect((await x.deps.approvals.decide(record.id, "UAPPROVER1", "approve", { typed: node })).outcome).toBe(
    "refused",
  );
  expect((await x.deps.approvals.decide(record.id, "UAPPROVER2", "approve")).outcome).toBe("refused");
  expect((await x.deps.approvals.decide(record.id, "UAPPROVER2", "approve", { typed: node })).outcome).toBe(
    "approved",
  );
  await x.deps.approvals.settled();
  return record.id;
}

describe("a partitioned node is not proven off", () => {
  it("partition → create refused; ineffective fence → not verified, still refused; attest-off → allowed", async () => {
    h = await harness(referenceLab(QUICK_HA));
    await partition(h, "ics2", "ics1");
    // The guest still runs on ics2, DRBD Primary there, disconnected on both sides.
    expect(h.sim.findGuestDomain("ics2", "internet")).toBeDefined();
    expect(h.sim.resource("internet")?.connected).toBe(false);

    const refused = failed(await h.plan({ action: "create", guest: "internet", node: "ics1" }));
    expect(refused["not running"]).toContain(
      "ics2 is not proven off (ics2 does not answer over SSH (ssh_connect_failed); heartbeat on ics1 declares it dead, which only says it went silent)",
    );
    expect(refused["not running"]).toContain(
      "fence it with `/xen fence ics2`, or `/xen attest-off ics2` once someone has checked it is powered off",
    );
    expect(refused["drbd internet"]).toContain("ics2 is not proven off");

    // The fence device powers the wrong outlet: stonith exits 0, ics2 keeps running.
    createFaults(h.sim).fenceIneffective("ics2");
    const fenceId = await h.approve({ action: "fence", node: "ics2" });
    const fence = await executeApproved(h.deps, fenceId, { jobId: `exec-${fenceId}` });
    expect(fence.status).toBe("uncertain");
    if (fence.status !== "uncertain") return;
    expect(fence.summary).toBe("ics2: fence reported success; power-off not verified");
    expect(fence.details.join("\n")).toContain(
      "once someone has checked it is powered off, attest it with `/xen attest-off ics2`",
    );
    expect(h.sim.node("ics2")?.up).toBe(true);
    expect(await h.offProofs.get(h.cluster.name, "ics2")).toBeNull();
    expect(
      failed(await h.plan({ action: "create", guest: "internet", node: "ics1" }))["not running"],
    ).toContain("ics2 is not proven off");

    // Someone goes to the rack, finds ics2 on, and pulls its power; then two approvers attest it.
    h.sim.nodeDown("ics2");
    const attestId = await attest(h, "ics2");
    const attested = await executeApproved(h.deps, attestId, { jobId: `exec-${attestId}` });
    expect(attested).toMatchObject({
      status: "succeeded",
      summary: "ics2 is attested off by <@UAPPROVER1> and <@UAPPROVER2>",
    });
    expect(await h.offProofs.get(h.cluster.name, "ics2")).toMatchObject({
      kind: "attested-off",
      by: ["UAPPROVER1", "UAPPROVER2"],
      approvalId: attestId,
    });

    const plan = await h.plan({ action: "create", guest: "internet", node: "ics1" });
    expect(failed(plan)).toEqual({});
    if (!plan.ok) return;
    // The card says which proof it relies on.
    expect(plan.plan.checks.find((c) => c.name === "off-proof ics2")?.detail).toMatch(
      /^ics2 attested off by <@UAPPROVER1>, <@UAPPROVER2> at /,
    );
    expect(plan.plan.stateSummary).toMatch(/ics2: attested off at .* \(by <@UAPPROVER1>, <@UAPPROVER2>\)/);
    const createId = await h.approve({ action: "create", guest: "internet", node: "ics1" });
    const created = await executeApproved(h.deps, createId, { jobId: `exec-${createId}` });
    expect(created.status).toBe("succeeded");
    if (created.status !== "succeeded") return;
    expect(created.details[0]).toBe("internet runs on ics1 only (checked on every node; ics2 proven off)");
    expect(h.sim.findGuestDomain("ics1", "internet")).toBeDefined();
  });

  it("an approval planned on a proof is refused when the proof disappeared", async () => {
    h = await harness(referenceLab(QUICK_HA));
    await partition(h, "ics2", "ics1");
    h.sim.nodeDown("ics2");
    const attestId = await attest(h, "ics2");
    expect(await executeApproved(h.deps, attestId, { jobId: `exec-${attestId}` })).toMatchObject({
      status: "succeeded",
    });
    const createId = await h.approve({ action: "create", guest: "internet", node: "ics1" });
    await h.offProofs.clear(h.cluster.name, "ics2");
    const outcome = await executeApproved(h.deps, createId, { jobId: `exec-${createId}` });
    expect(outcome.status).toBe("refused");
    if (outcome.status !== "refused") return;
    expect(outcome.summary).toBe("The cluster changed since this was approved: nothing ran");
    expect(h.sim.findGuestDomain("ics1", "internet")).toBeUndefined();
  });

  it("refuses to attest a node that answers, and a proof is void once the node is seen alive", async () => {
    h = await harness(referenceLab(QUICK_HA));
    const answering = failed(await h.plan({ action: "attest_off", node: "ics2" }));
    expect(answering["not answering"]).toBe(
      "ics2 answers over SSH: a node that answers is not off, so it cannot be attested off",
    );

    await partition(h, "ics2", "ics1");
    const attestId = await attest(h, "ics2");
    await executeApproved(h.deps, attestId, { jobId: `exec-${attestId}` });
    expect(await h.offProofs.get(h.cluster.name, "ics2")).not.toBeNull();
    // The partition heals: ics2 answers again (it never was off). The next plan voids the proof.
    createFaults(h.sim).heal();
    const plan = await h.plan({ action: "create", guest: "internet", node: "ics1" });
    expect(failed(plan)["not running"]).toBe("internet runs on ics2");
    expect(await h.offProofs.get(h.cluster.name, "ics2")).toBeNull();
  });
});

describe("fence verification with a device that reads power back", () => {
  const modern = (settings: Partial<OperationSettings> = {}) =>
    harness(modernLab(QUICK_HA), { secretEnv: { XENOPS_SIM_FENCE_PASSWORD: "xenops-lab" }, settings });

  it("a silent node is powered off, and the power status read back as off verifies it", async () => {
    h = await modern();
    await partition(h, "hv2", "hv1");
    const plan = await h.plan({ action: "fence", node: "hv2" });
    expect(failed(plan)).toEqual({});
    if (!plan.ok) return;
    expect(plan.plan.summary).toBe("Fence hv2 (power it off)");
    const id = await h.approve({ action: "fence", node: "hv2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    if (outcome.status !== "succeeded") return;
    expect(outcome.details).toContain("fence agent fence_ipmilan reports hv2 powered off");
    expect(h.sim.node("hv2")?.up).toBe(false);
    expect(await h.offProofs.get(h.cluster.name, "hv2")).toMatchObject({ kind: "fenced", approvalId: id });
  });

  it("an ineffective fence: the device reads the power back as on, so it is not verified", async () => {
    h = await modern({ fenceVerifyTimeoutMs: 1_000 });
    await partition(h, "hv2", "hv1");
    createFaults(h.sim).fenceIneffective("hv2");
    const id = await h.approve({ action: "fence", node: "hv2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toBe("hv2: the fence did not take effect; the device reports it powered on");
    expect(await h.offProofs.get(h.cluster.name, "hv2")).toBeNull();
    expect(h.sim.node("hv2")?.up).toBe(true);
  });
});
