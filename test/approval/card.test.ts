import { describe, expect, it } from "vitest";
import {
  APPROVE_ACTION_ID,
  DENY_ACTION_ID,
  formatStepCommand,
  renderApprovalCard,
} from "../../src/approval/card";
import { policyFor } from "../../src/approval/policy";
import type { ApprovalRecord } from "../../src/approval/types";
import type { Block } from "../../src/chat/types";
import { renderPlainText } from "../../src/slack/render/text";
import { approvalRecord, migratePlan, splitBrainPlan } from "./plans";

/** A pending approval of the test migration whose card is posted. */
const record = (overrides: Partial<ApprovalRecord> = {}): ApprovalRecord =>
  approvalRecord(migratePlan(), { messageTs: "1700000000.000001", ...overrides });

const actions = (blocks: Block[] | undefined) => blocks?.filter((b) => b.type === "actions") ?? [];

describe("approval card", () => {
  it("shows the exact plan, quoted as it will run, with checks, state, requester and policy", () => {
    const text = renderPlainText(renderApprovalCard(record()));
    expect(text).toContain("⚠️ Approval needed: Live-migrate internet from ics2 to ics1");
    expect(text).toContain(
      "1. on ics1: Make DRBD internet primary on ics1 (dual-primary)\n   $ drbdadm primary internet",
    );
    expect(text).toContain(
      "2. on ics2: Live-migrate internet to ics1  [cannot be undone]\n   $ xm migrate --live internet ics1",
    );
    expect(text).toContain(`$ logger -t xenops 'migrated internet; it'\\''s on ics1'`);
    expect(text).toContain("✓ drbd-uptodate: internet UpToDate/UpToDate");
    expect(text).toContain("✗ memory: ics1 has 2048 MiB free");
    expect(text).toContain("(1 failed)");
    expect(text).toContain(`hash \`${"ab".repeat(6)}\``);
    expect(text).toContain("ics2: up; internet running");
    expect(text).toContain("requested by @UOPER1");
    expect(text).toContain("needs 1 approval from the approver role");
    expect(text).toContain("the requester cannot approve");
    expect(text).toContain("expires 2030-01-01 12:10:00 UTC");
    expect(text).toContain("[Approve] [Deny]");
  });

  it("puts the approval id in both buttons' values", () => {
    const card = renderApprovalCard(record());
    const [row] = actions(card.blocks);
    expect(row?.type === "actions" && row.elements).toEqual([
      expect.objectContaining({ action_id: APPROVE_ACTION_ID, value: "AbCdEfGhIjKlMnOp", style: "primary" }),
      expect.objectContaining({ action_id: DENY_ACTION_ID, value: "AbCdEfGhIjKlMnOp", style: "danger" }),
    ]);
    expect(card.text).toBe(
      "Approval needed: Live-migrate internet from ics2 to ics1 (request AbCdEfGhIjKlMnOp)",
    );
  });

  it("after approval: who and when, the execution job, no buttons", () => {
    const card = renderApprovalCard(
      record({
        status: "approved",
        approvedBy: ["UAPPROVER1"],
        decidedAt: "2030-01-01T12:03:00.000Z",
        executionJobId: "migrate-abc",
      }),
    );
    const text = renderPlainText(card);
    expect(text).toContain("✅ Approved: Live-migrate");
    expect(text).toContain("Approved by @UAPPROVER1 2030-01-01 12:03:00 UTC. Execution job `migrate-abc`.");
    expect(text).not.toContain("expires");
    expect(actions(card.blocks)).toHaveLength(0);
  });

  it("after denial and expiry: says so, no buttons", () => {
    const denied = renderApprovalCard(
      record({ status: "denied", deniedBy: "UAPPROVER2", decidedAt: "2030-01-01T12:01:00.000Z" }),
    );
    expect(renderPlainText(denied)).toContain(
      "Denied by @UAPPROVER2 2030-01-01 12:01:00 UTC. Nothing will run.",
    );
    expect(actions(denied.blocks)).toHaveLength(0);
    const expired = renderApprovalCard(record({ status: "expired", decidedAt: "2030-01-01T12:10:00.000Z" }));
    expect(renderPlainText(expired)).toContain("Expired 2030-01-01 12:10:00 UTC with 0 of 1 approvals");
    expect(actions(expired.blocks)).toHaveLength(0);
  });

  it("shows partial approvals and typed confirmation while pending", () => {
    const plan = splitBrainPlan();
    const text = renderPlainText(
      renderApprovalCard(
        record({
          plan,
          policy: { ...policyFor("split_brain_recover", {}, plan), approvals: 2 },
          approvedBy: ["UAPPROVER1"],
        }),
      ),
    );
    expect(text).toContain("Approved so far by @UAPPROVER1 (1 of 2)");
    expect(text).toContain("typed confirmation `ics2/internet`");
    expect(text).toContain("To approve, type `/xen approve AbCdEfGhIjKlMnOp ics2/internet`.");
    expect(text).toContain("$ drbdadm -- --discard-my-data connect internet");
  });

  it("escapes mrkdwn in node-supplied text and keeps sections within Slack's limits", () => {
    const steps = Array.from({ length: 200 }, (_, i) => ({
      node: "ics1",
      argv: ["echo", `<b>${"x".repeat(60)} & ${i}`],
      description: `step <${i}>`,
      destructive: false,
    }));
    const card = renderApprovalCard(
      record({ plan: migratePlan({ summary: "a <!channel> & b", steps, stateSummary: "<&>".repeat(2000) }) }),
    );
    for (const block of card.blocks ?? []) {
      if (block.type === "section") expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
      if (block.type === "header") expect(block.text.text.length).toBeLessThanOrEqual(150);
    }
    expect(card.blocks?.length).toBeLessThanOrEqual(50);
    // Only mrkdwn is parsed for mentions; the header is plain_text.
    const mrkdwn = (card.blocks ?? []).flatMap((b) => (b.type === "section" && b.text ? [b.text.text] : []));
    expect(mrkdwn.join("\n")).not.toContain("<!channel>");
    expect(card.text).not.toContain("<!channel>");
    expect(renderPlainText(card)).toContain("$ echo '<b>x");
  });

  it("never throws on an argv the runner would refuse", () => {
    expect(formatStepCommand({ argv: [] })).toBe("[]");
    expect(formatStepCommand({ argv: ["a\0b"] })).toBe(JSON.stringify(["a\0b"]));
  });
});
