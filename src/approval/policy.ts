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
  "attest_off",
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
  // Humans say a node is powered off, so that its guests may start elsewhere: an approver asks, another
  // approver confirms by typing the node's name.
  attest_off: {
    requestRole: "approver",
    approveRole: "approver",
    approvals: 1,
    twoPerson: true,
    expiresInMs: DEFAULT_EXPIRY_MS,
  },
  // Discarding one side's data: only approvers may even ask, and the approver types `VICTIM/RESOURCE`.
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

/** The resources a fence plan overrides the "last UpToDate copy" refusal for (`params.overrideLastCopy`). */
export function lastCopyOverrides(plan: { params: Record<string, unknown> } | undefined): string[] {
  const v = plan?.params.overrideLastCopy;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && x !== "") : [];
}

/**
 * The typed confirmation of a data-losing plan, naming the node and the resource(s) (`NODE/RESOURCE`,
 * several resources `NODE/R1,R2`): a split-brain recovery (the victim whose changes are discarded)
 * and a fence that overrides the refusal to fence the last UpToDate copy. undefined: none needed.
 * Throws when such a plan lacks the node or the resource.
 */
export function dataLossConfirmation(
  action: RiskyAction,
  plan: Pick<ActionPlan, "params" | "target"> | undefined,
): string | undefined {
  if (action === "split_brain_recover") {
    const victim = splitBrainVictim(plan);
    if (!victim)
      throw new XenopsError("invalid_argument", "split-brain recovery needs the victim node (params.victim)");
    const resource = plan?.params.resource ?? plan?.target.resource;
    if (typeof resource !== "string" || resource === "")
      throw new XenopsError("invalid_argument", "split-brain recovery needs the resource (params.resource)");
    return `${victim}/${resource}`;
  }
  if (action === "fence") {
    const overrides = lastCopyOverrides(plan);
    if (overrides.length === 0) return undefined;
    const node = plan?.params.victim ?? plan?.target.node;
    if (typeof node !== "string" || node === "")
      throw new XenopsError("invalid_argument", "a fence plan needs the node (params.victim)");
    return `${node}/${overrides.join(",")}`;
  }
  return undefined;
}

/**
 * The policy of an action: defaults, then the inventory's overrides. `plan` is needed for
 * split_brain_recover (typed confirmation `VICTIM/RESOURCE`) and for a fence that overrides the
 * last-UpToDate-copy refusal (`NODE/RESOURCE`).
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
  const confirmation = dataLossConfirmation(action, plan);
  if (confirmation !== undefined) policy.typedConfirmation = confirmation;
  if (action === "attest_off") {
    const node = plan?.params.node ?? plan?.target.node;
    if (typeof node !== "string" || node === "")
      throw new XenopsError("invalid_argument", "an attestation needs the node (params.node)");
    policy.typedConfirmation = node;
  }
  return enforcePolicyInvariants(action, policy);
}

/**
 * Rules no configuration (or caller) can relax; applied again when a request is stored, so a policy
 * built by hand cannot bypass them either.
 */
export function enforcePolicyInvariants(action: RiskyAction, policy: ApprovalPolicy): ApprovalPolicy {
  const fixed = { ...policy };
  if (action === "fence" || action === "attest_off") fixed.twoPerson = true;
  if (!Number.isInteger(fixed.approvals) || fixed.approvals < 1) fixed.approvals = 1;
  if (!(fixed.expiresInMs > 0)) fixed.expiresInMs = DEFAULT_EXPIRY_MS;
  return fixed;
}
