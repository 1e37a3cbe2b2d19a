/**
 * An attestation that a node is off lets its guests start elsewhere: the second approver types the
 * node's name. The engine holds to that whoever built the policy (as for the data-losing plans).
 */
import { afterEach, expect, it } from "vitest";
import type { ApprovalEngine } from "../../src/approval/engine";
import { policyFor } from "../../src/approval/policy";
import { makeEngine, migratePlan } from "./helpers";

const engines: ApprovalEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
const track = (e: ApprovalEngine) => {
  engines.push(e);
};

const attestPlan = () =>
  migratePlan({
    action: "attest_off",
    summary: "Attest that ics2 is powered off",
    target: { node: "ics2" },
    params: { node: "ics2" },
    steps: [],
  });

it("a policy without the typed node name is refused when the attestation is requested", async () => {
  const h = makeEngine({}, track);
  const plan = attestPlan();
  const { typedConfirmation: _dropped, ...loose } = policyFor("attest_off", { approvals: undefined }, plan);
  await expect(
    h.engine.request(plan, { requestedBy: "UAPPROVER1", channel: "C0OPS", policy: loose }),
  ).rejects.toThrow(/typed confirmation ics2/);

  // With the policy as policyFor builds it: requested, and approved only by typing the node.
  const record = await h.engine.request(plan, {
    requestedBy: "UAPPROVER1",
    channel: "C0OPS",
    policy: policyFor("attest_off", { approvals: undefined }, plan),
  });
  expect((await h.engine.decide(record.id, "UAPPROVER2", "approve")).outcome).toBe("refused");
  expect((await h.engine.decide(record.id, "UAPPROVER2", "approve", { typed: "ics2" })).outcome).toBe(
    "approved",
  );
});
