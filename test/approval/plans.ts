/**
 * Plans and approval records as the planner and the engine make them. No Redis here, so unit tests
 * can use them too (helpers.ts re-exports the plans for the tests on Redis).
 */
import { policyFor } from "../../src/approval/policy";
import type { ActionPlan, ApprovalRecord } from "../../src/approval/types";

export function migratePlan(overrides: Partial<ActionPlan> = {}): ActionPlan {
  return {
    action: "migrate",
    cluster: "lab",
    summary: "Live-migrate internet from ics2 to ics1",
    target: { guest: "internet", node: "ics1" },
    params: { guest: "internet", from: "ics2", to: "ics1" },
    steps: [
      {
        node: "ics1",
        argv: ["drbdadm", "primary", "internet"],
        description: "Make DRBD internet primary on ics1 (dual-primary)",
        destructive: false,
      },
      {
        node: "ics2",
        argv: ["xm", "migrate", "--live", "internet", "ics1"],
        description: "Live-migrate internet to ics1",
        destructive: true,
      },
      {
        node: "ics2",
        argv: ["logger", "-t", "xenops", "migrated internet; it's on ics1"],
        description: "Note it in syslog",
        destructive: false,
      },
    ],
    checks: [
      { name: "drbd-uptodate", ok: true, detail: "internet UpToDate/UpToDate" },
      { name: "memory", ok: false, detail: "ics1 has 2048 MiB free, guest needs 3070 MiB" },
    ],
    stateHash: "ab".repeat(32),
    stateSummary: "ics1: up; drbd internet Secondary/UpToDate\nics2: up; internet running",
    ...overrides,
  };
}

export function fencePlan(): ActionPlan {
  return migratePlan({
    action: "fence",
    summary: "Fence ics2 (power off)",
    target: { node: "ics2" },
    params: { victim: "ics2" },
    steps: [
      {
        node: "ics1",
        argv: ["stonith_admin", "--fence", "ics2"],
        description: "Fence ics2",
        destructive: true,
      },
    ],
  });
}

export function splitBrainPlan(): ActionPlan {
  return migratePlan({
    action: "split_brain_recover",
    summary: "Recover split brain of internet, discarding ics2's changes",
    target: { resource: "internet", node: "ics2" },
    params: { resource: "internet", victim: "ics2" },
    steps: [
      {
        node: "ics2",
        argv: ["drbdadm", "--", "--discard-my-data", "connect", "internet"],
        description: "Discard ics2's data",
        destructive: true,
      },
    ],
  });
}

/** A pending approval of `plan` with its default policy, as the engine files it (no card posted yet). */
export function approvalRecord(plan: ActionPlan, overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id: "AbCdEfGhIjKlMnOp",
    plan,
    policy: policyFor(plan.action, {}, plan),
    requestedBy: "UOPER1",
    channel: "C0OPS",
    messageTs: null,
    createdAt: "2030-01-01T12:00:00.000Z",
    expiresAt: "2030-01-01T12:10:00.000Z",
    status: "pending",
    approvedBy: [],
    deniedBy: null,
    decidedAt: null,
    executionJobId: null,
    ...overrides,
  };
}
