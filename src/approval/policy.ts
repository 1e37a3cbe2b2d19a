/**
 * Approval policies: who may request and approve each risky action, how many distinct approvals it needs
 * and for how long a request stays open. Defaults here; the inventory's optional `approvals:` section
 * overrides them per action.
 */
import type { InventoryConfig } from "../config/schema";
import { XenopsError } from "../errors";
import type { ActionPlan, ApprovalPolicy, RiskyAction } from "./types";

export const DEFAULT_EXPIRY_MS = 10 * 60_000;

export const RISKY_ACTIONS: readonly RiskyAction[] = [
  "migrate",
  "create",
  "fence",
  "evacuate",
  "split_brain_recover",
  "failback",
];

const DEFAULTS: Record<RiskyAction, Omit<ApprovalPolicy, "typedConfirmation">> = {
  migrate: {
    requestRole: "operator",
    approveRole: "approver",
    approvals: 1,
    twoPerson: true,
    expiresInMs: DEFAULT_EXPIRY_MS,
  },
  create: {
    requestRole: "operator",
    approveRole: "approver",
    approvals: 1,
    twoPerson: true,
    expiresInMs: DEFAULT_EXPIRY_MS,
  },
  evacuate: {
    requestRole: "operator",
    approveRole: "approver",
    approvals: 1,
    twoPerson: true,
    expiresInMs: DEFAULT_EXPIRY_MS,
  },
  failback: {
    requestRole: "operator",
    approveRole: "approver",
    approvals: 1,
    twoPerson: true,
    expiresInMs: DEFAULT_EXPIRY_MS,
  },
  // Fencing power-cycles a node: two approvers besides the requester.
  fence: {
    requestRole: "operator",
    approveRole: "approver",
    approvals: 2,
    twoPerson: true,
    expiresInMs: DEFAULT_EXPIRY_MS,
  },
  // Discarding one side's data: only approvers may even ask, and the approver types the victim's name.
  split_brain_recover: {
    requestRole: "approver",
    approveRole: "approver",
    approvals: 1,
    twoPerson: true,
    expiresInMs: DEFAULT_EXPIRY_MS,
  },
};

/** The split-brain victim a plan names: `params.victim`, else the target node. */
function splitBrainVictim(plan: Pick<ActionPlan, "params" | "target"> | undefined): string | undefined {
  const victim = plan?.params.victim;
  if (typeof victim === "string" && victim !== "") return victim;
  return plan?.target.node;
}

/**
 * The policy of an action: defaults, then the inventory's overrides. `plan` is needed for
 * split_brain_recover, whose typed confirmation is the victim node's name.
 */
export function policyFor(
  action: RiskyAction,
  inventory: Pick<InventoryConfig, "approvals">,
  plan?: Pick<ActionPlan, "params" | "target">,
): ApprovalPolicy {
  const override = inventory.approvals?.[action] ?? {};
  const policy: ApprovalPolicy = {
    requestRole: override.requestRole ?? DEFAULTS[action].requestRole,
    approveRole: override.approveRole ?? DEFAULTS[action].approveRole,
    approvals: override.approvals ?? DEFAULTS[action].approvals,
    twoPerson: override.twoPerson ?? DEFAULTS[action].twoPerson,
    expiresInMs:
      override.expiresInMinutes !== undefined
        ? override.expiresInMinutes * 60_000
        : DEFAULTS[action].expiresInMs,
  };
  if (action === "split_brain_recover") {
    const victim = splitBrainVictim(plan);
    if (!victim)
      throw new XenopsError("invalid_argument", "split-brain recovery needs the victim node (params.victim)");
    policy.typedConfirmation = victim;
  }
  return enforcePolicyInvariants(action, policy);
}

/**
 * Rules no configuration (or caller) can relax; applied again when a request is stored, so a policy
 * built by hand cannot bypass them either.
 */
export function enforcePolicyInvariants(action: RiskyAction, policy: ApprovalPolicy): ApprovalPolicy {
  const fixed = { ...policy };
  if (action === "fence") fixed.twoPerson = true;
  if (!Number.isInteger(fixed.approvals) || fixed.approvals < 1) fixed.approvals = 1;
  if (!(fixed.expiresInMs > 0)) fixed.expiresInMs = DEFAULT_EXPIRY_MS;
  return fixed;
}
