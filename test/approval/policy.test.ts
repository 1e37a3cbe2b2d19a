import { describe, expect, it } from "vitest";
import { enforcePolicyInvariants, policyFor, RISKY_ACTIONS } from "../../src/approval/policy";
import { InventoryConfig } from "../../src/config/schema";

function inventory(approvals?: unknown) {
  return InventoryConfig.safeParse({
    clusters: [
      {
        name: "lab",
        channels: ["C0OPS"],
        toolstack: { hypervisor: "xm", drbd: 9, ha: "heartbeat" },
        nodes: [
          {
            name: "ics1",
            host: "127.0.0.1",
            privateKey: { env: "KEY" },
            hostKey: `SHA256:${"A".repeat(43)}`,
          },
        ],
      },
    ],
    ...(approvals === undefined ? {} : { approvals }),
  });
}

describe("policyFor", () => {
  it("has the documented defaults", () => {
    for (const action of ["migrate", "create", "evacuate", "failback"] as const)
      expect(policyFor(action, {})).toEqual({
        requestRole: "operator",
        approveRole: "approver",
        approvals: 1,
        twoPerson: true,
        expiresInMs: 600_000,
      });
    expect(policyFor("fence", {})).toMatchObject({ approvals: 2, twoPerson: true, requestRole: "operator" });
    expect(
      policyFor("split_brain_recover", {}, { params: { victim: "ics2", resource: "internet" }, target: {} }),
    ).toMatchObject({
      requestRole: "approver",
      approveRole: "approver",
      typedConfirmation: "ics2/internet",
    });
    expect(policyFor("attest_off", {}, { params: { node: "ics2" }, target: {} })).toMatchObject({
      requestRole: "approver",
      approveRole: "approver",
      approvals: 1,
      twoPerson: true,
      typedConfirmation: "ics2",
    });
    expect(() => policyFor("attest_off", {})).toThrow(/node/);
    expect(RISKY_ACTIONS).toHaveLength(7);
  });

  it("takes the victim and resource from the target, and refuses split-brain recovery without them", () => {
    expect(
      policyFor("split_brain_recover", {}, { params: {}, target: { node: "ics1", resource: "internet" } })
        .typedConfirmation,
    ).toBe("ics1/internet");
    expect(() => policyFor("split_brain_recover", {})).toThrow(/victim/);
    expect(() => policyFor("split_brain_recover", {}, { params: { victim: "ics1" }, target: {} })).toThrow(
      /resource/,
    );
  });

  it("a fence that overrides the last-UpToDate-copy refusal needs NODE/RESOURCE typed; a plain fence none", () => {
    const plan = {
      params: { victim: "ics2", overrideLastCopy: ["internet", "mail"] },
      target: { node: "ics2" },
    };
    expect(policyFor("fence", {}, plan).typedConfirmation).toBe("ics2/internet,mail");
    expect(
      policyFor("fence", {}, { params: { victim: "ics2" }, target: {} }).typedConfirmation,
    ).toBeUndefined();
  });

  it("applies the inventory's overrides", () => {
    const parsed = inventory({
      migrate: { approvals: 2, expiresInMinutes: 5, twoPerson: false },
      fence: { approvals: 3, approveRole: "admin" },
    });
    expect(parsed.success).toBe(true);
    if (!parsed.success) return;
    expect(policyFor("migrate", parsed.data)).toMatchObject({
      approvals: 2,
      expiresInMs: 300_000,
      twoPerson: false,
    });
    expect(policyFor("fence", parsed.data)).toMatchObject({
      approvals: 3,
      approveRole: "admin",
      twoPerson: true,
    });
    expect(policyFor("create", parsed.data).approvals).toBe(1);
  });

  it("rejects a config that turns off two-person for fence, or lets viewers approve", () => {
    const fence = inventory({ fence: { twoPerson: false } });
    expect(fence.success).toBe(false);
    expect(fence.error?.issues[0]).toMatchObject({ path: ["approvals", "fence", "twoPerson"] });
    expect(inventory({ migrate: { approveRole: "viewer" } }).success).toBe(false);
    expect(inventory({ migrate: { approvals: 0 } }).success).toBe(false);
    expect(inventory({ reboot: {} }).success).toBe(false);
    expect(inventory({}).success).toBe(true);
    expect(inventory().success).toBe(true);
  });

  it("cannot be relaxed by hand for fence", () => {
    expect(enforcePolicyInvariants("fence", { ...policyFor("fence", {}), twoPerson: false }).twoPerson).toBe(
      true,
    );
    expect(enforcePolicyInvariants("migrate", { ...policyFor("migrate", {}), approvals: 0 }).approvals).toBe(
      1,
    );
  });
});
