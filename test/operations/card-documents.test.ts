/**
 * The approval and operation cards are documents: the console and plain text show their content (guest,
 * nodes, steps, who asked) with people as @ID and literal text as typed, and no Slack markup leaks; the
 * Slack message carries the same document and keeps its mrkdwn, mentions and buttons.
 */
import { describe, expect, it } from "vitest";
import { APPROVE_ACTION_ID, approvalCard, DENY_ACTION_ID, renderApprovalCard } from "../../src/approval/card";
import { policyFor } from "../../src/approval/policy";
import type { ActionPlan, PlannedStep } from "../../src/approval/types";
import { renderConsole } from "../../src/console/render";
import type { MessageDocument } from "../../src/message/document";
import { renderPlain, renderPlainSummary } from "../../src/message/plain";
import {
  dryRunDocument,
  executionCardDocument,
  oncallPartsOrWarning,
  pageDocument,
  refusalDocument,
  renderDryRun,
  renderExecutionCard,
  renderRefusal,
  type StepStatusView,
} from "../../src/operations/render";
import { type UnreadableOutput, unreadableBlocks } from "../../src/operations/unreadable";
import { renderSlack } from "../../src/slack/render/document";
import { migratePlan as approvalMigratePlan, approvalRecord } from "../approval/plans";

/** The approval tests' migration with literal text that is markup in Slack (<, >, &) in a step and a check. */
function migratePlan(overrides: Partial<ActionPlan> = {}): ActionPlan {
  const plan = approvalMigratePlan();
  return approvalMigratePlan({
    steps: plan.steps.map((step) =>
      step.argv[0] === "logger"
        ? { ...step, argv: ["logger", "-t", "xenops", "moved <internet> & done"] }
        : step,
    ),
    checks: plan.checks.map((check) =>
      check.name === "memory" ? { ...check, detail: "ics1 has <2048> MiB free & needs 4096" } : check,
    ),
    ...overrides,
  });
}

/** An evacuation of `guests` guests as the planner builds it: promote, migrate, demote each. */
function evacuatePlan(guests: number): ActionPlan {
  const steps: PlannedStep[] = [];
  for (let g = 1; g <= guests; g += 1) {
    const guest = `guest${String(g).padStart(2, "0")}`;
    steps.push(
      {
        node: "ics1",
        argv: ["drbdadm", "primary", `r${g}`],
        description: `Promote r${g} on ics1`,
        destructive: false,
      },
      {
        node: "ics2",
        argv: ["xm", "migrate", "--live", guest, "ics1"],
        description: `Live-migrate ${guest} to ics1`,
        destructive: true,
      },
      {
        node: "ics2",
        argv: ["drbdadm", "secondary", `r${g}`],
        description: `Demote r${g} on ics2`,
        destructive: false,
      },
    );
  }
  return migratePlan({
    action: "evacuate",
    summary: `Evacuate ics2: live-migrate ${guests} guests to ics1`,
    target: { node: "ics2" },
    params: { node: "ics2" },
    steps,
    checks: [{ name: "drbd", ok: true, detail: "all UpToDate" }],
  });
}

const unreadable: UnreadableOutput[] = [
  {
    node: "ics1",
    part: "drbd",
    code: "parse_error",
    message: "proc-drbd: line 3: <bad>",
    raw: Array.from({ length: 25 }, (_, i) => `raw-${i + 1} <cs:Connected> & more`),
  },
];

/** Slack markup that must never reach a text front end. */
function expectNoSlackMarkup(text: string): void {
  expect(text).not.toContain("<@U");
  expect(text).not.toContain("<!subteam");
  expect(text).not.toContain("<!date");
  expect(text).not.toContain("&lt;");
  expect(text).not.toContain("&gt;");
  expect(text).not.toContain("&amp;");
  expect(text).not.toContain("```");
  expect(text).not.toMatch(/(^|\s)\*[^*\s][^*\n]*\*(\s|$|[.,:;)])/m);
  expect(text).not.toMatch(/(^|\s)_[^_\s][^_\n]*_(\s|$|[.,:;)])/m);
}

/** The document as the console and as plain text, each checked for leaked markup. */
function texts(doc: MessageDocument): string[] {
  const out = [renderConsole(doc), renderPlain(doc), renderPlainSummary(doc)];
  for (const t of out) expectNoSlackMarkup(t);
  return out.slice(0, 2);
}

describe("approval card as a document", () => {
  it("a 3-step migrate: plan, checks, state, requester and buttons, with no markup", () => {
    const { document } = approvalCard(approvalRecord(migratePlan()));
    for (const text of texts(document)) {
      expect(text).toContain("Approval needed: Live-migrate internet from ics2 to ics1");
      expect(text).toContain("requested by @UOPER1");
      expect(text).toContain("1. on ics1: Make DRBD internet primary on ics1 (dual-primary)");
      expect(text).toContain("2. on ics2: Live-migrate internet to ics1  [cannot be undone]");
      expect(text).toContain("$ xm migrate --live internet ics1");
      // Literal text as typed: never escaped for Slack.
      expect(text).toContain("$ logger -t xenops 'moved <internet> & done'");
      expect(text).toContain("✗ memory: ics1 has <2048> MiB free & needs 4096");
      expect(text).toContain("ics2: up; internet running");
      expect(text).toContain("expires 2030-01-01 12:10:00 UTC");
    }
    expect(renderConsole(document)).toContain("[Approve] [Deny]");
    expect(renderPlain(document)).toContain("Actions (in chat): Approve · Deny");
  });

  it("decided: approvers and the denier as readable mentions, no buttons", () => {
    const approved = approvalCard(
      approvalRecord(migratePlan(), {
        status: "approved",
        approvedBy: ["UAPPROVER1", "UAPPROVER2"],
        decidedAt: "2030-01-01T12:03:00.000Z",
        executionJobId: "exec-7",
      }),
    ).document;
    const [console] = texts(approved);
    expect(console).toContain(
      "✅ Approved by @UAPPROVER1, @UAPPROVER2 2030-01-01 12:03:00 UTC. Execution job `exec-7`.",
    );
    expect(console).not.toContain("[Approve]");
    const denied = approvalCard(
      approvalRecord(migratePlan(), {
        status: "denied",
        deniedBy: "UAPPROVER2",
        decidedAt: "2030-01-01T12:01:00.000Z",
      }),
    ).document;
    expect(texts(denied)[1]).toContain("⛔ Denied by @UAPPROVER2 2030-01-01 12:01:00 UTC. Nothing will run.");
  });

  it("the Slack message carries the document, the mrkdwn mentions and the buttons' ids and values", () => {
    const rec = approvalRecord(migratePlan());
    const message = renderApprovalCard(rec);
    expect(message.document).toEqual(approvalCard(rec).document);
    const mrkdwn = JSON.stringify(message.blocks);
    expect(mrkdwn).toContain("requested by <@UOPER1> <!date^");
    expect(mrkdwn).toContain("'moved &lt;internet&gt; &amp; done'");
    expect(message.blocks?.find((b) => b.type === "actions")).toEqual({
      type: "actions",
      block_id: "xenops-approval",
      elements: [
        {
          type: "button",
          text: { type: "plain_text", text: "Approve" },
          action_id: APPROVE_ACTION_ID,
          value: rec.id,
          style: "primary",
        },
        {
          type: "button",
          text: { type: "plain_text", text: "Deny" },
          action_id: DENY_ACTION_ID,
          value: rec.id,
          style: "danger",
        },
      ],
    });
  });

  it("a 60-step evacuate shows its first steps and attaches the whole plan", () => {
    const card = approvalCard(approvalRecord(evacuatePlan(20)));
    const [console, plain] = texts(card.document);
    for (const text of [console, plain]) {
      expect(text).toContain("1. on ics1: Promote r1 on ics1");
      expect(text).toMatch(/Steps 1–\d+ of 60 shown/);
    }
    expect(card.attachment?.content).toContain("60. on ics2: Demote r20 on ics2");
    expect(renderApprovalCard(approvalRecord(evacuatePlan(20))).attachment).toEqual(card.attachment);
  });
});

describe("operation cards as documents", () => {
  it("an execution card of 60 steps at step 46 follows the running step", () => {
    const plan = evacuatePlan(20);
    const statuses: StepStatusView[] = plan.steps.map((_, i) =>
      i < 45 ? "done" : i === 45 ? "running" : "pending",
    );
    const doc = executionCardDocument({
      record: approvalRecord(plan, {
        status: "approved",
        approvedBy: ["UAPPROVER1"],
        executionJobId: "exec-1",
      }),
      statuses,
      notes: plan.steps.map((_, i) => (i < 45 ? "2.0s" : null)),
      phase: "Re-reading <the> cluster",
      result: null,
      oncall: null,
    });
    for (const text of texts(doc)) {
      expect(text).toContain("Running: Evacuate ics2: live-migrate 20 guests to ics1");
      expect(text).toContain("Requested by @UOPER1, approved by @UAPPROVER1");
      expect(text).toContain("▶ 46. on ics1: Promote r16 on ics1");
      expect(text).toContain("$ xm migrate --live guest16 ics1");
      expect(text).toContain("✓ 1. on ics1: Promote r1 on ics1 (2.0s)");
      expect(text).toContain("· 60. on ics2: Demote r20 on ics2");
      expect(text).not.toContain(" 20. on ");
      expect(text).toContain("Re-reading <the> cluster");
    }
  });

  it("a failed execution pages on-call by readable mentions, on the card and in the page", () => {
    const oncall = oncallPartsOrWarning({ users: ["UONCALL1"], groups: ["SONCALL"] });
    const doc = executionCardDocument({
      record: approvalRecord(migratePlan(), { status: "approved", approvedBy: ["UAPPROVER1"] }),
      statuses: ["done", "failed", "skipped"],
      notes: [null, "exit 1", null],
      phase: null,
      result: { status: "failed", summary: "migrate failed", details: ["internet on <both>"], page: true },
      oncall,
      recovered: true,
    });
    const [console] = texts(doc);
    expect(console).toContain("✗ 2. on ics2: Live-migrate internet to ics1 (exit 1)");
    expect(console).toContain(
      "Result: migrate failed (finished by a restarted worker)\n• internet on <both>",
    );
    expect(console).toContain("Paging on-call: @UONCALL1 @SONCALL: someone has to look at lab now.");
    const page = pageDocument({ oncall, cluster: "lab", summary: "migrate failed", details: ["x & y"] });
    expect(texts(page)[1]).toContain("🚨 @UONCALL1 @SONCALL page: migrate failed (cluster lab)\n• x & y");
    expect(
      renderPlainSummary(
        pageDocument({ ...{ cluster: "lab", summary: "s", details: [] }, oncall: oncallPartsOrWarning({}) }),
      ),
    ).toBe("🚨 on-call (none configured!) page: s (cluster lab)");
  });

  it("a refusal with unreadable output: failed checks first, the raw lines as read, the requester", () => {
    const opts = {
      what: "Live-migrate internet to ics1",
      requestedBy: "UOPER1",
      checks: migratePlan().checks,
      stateSummary: "ics1: up & <ok>\nics2: up",
      unreadable,
    };
    const doc = refusalDocument(opts);
    for (const text of texts(doc)) {
      expect(text).toContain("⛔ Refused: Live-migrate internet to ics1");
      expect(text).toContain(
        "Requested by @UOPER1. Nothing ran and nothing was asked of the approvers: 1 check failed.",
      );
      expect(text.indexOf("✗ memory")).toBeLessThan(text.indexOf("✓ drbd-uptodate"));
      expect(text).toContain(
        "Unreadable output: DRBD status on ics1 (parse_error: proc-drbd: line 3: <bad>)",
      );
      expect(text).toContain("raw-20 <cs:Connected> & more");
      expect(text).not.toContain("raw-21");
      expect(text).toContain("First 20 of 25 lines; all of them are in the attached file.");
      expect(text).toContain("ics1: up & <ok>");
    }
    expect(renderRefusal(opts).document).toEqual(doc);
    expect(renderRefusal(opts).text).toBe(
      "Refused: Live-migrate internet to ics1: memory: ics1 has &lt;2048&gt; MiB free &amp; needs 4096",
    );
  });

  it("the unreadable-parts blocks alone, in every front end", () => {
    const doc: MessageDocument = { summary: ["unreadable"], blocks: unreadableBlocks(unreadable) };
    for (const text of texts(doc)) expect(text).toContain("raw-1 <cs:Connected> & more");
    const slack = renderSlack(doc).blocks?.[0];
    expect(slack?.type === "section" && slack.text?.text).toContain(
      "*Unreadable output: DRBD status on ics1* (parse_error: proc-drbd: line 3: &lt;bad&gt;)\n```\nraw-1 &lt;cs:Connected&gt; &amp; more",
    );
  });

  it("a dry run: the plan, checks, state and policy, nothing ran", () => {
    const plan = migratePlan();
    const doc = dryRunDocument(plan, policyFor("migrate", {}), "UOPER2");
    for (const text of texts(doc)) {
      expect(text).toContain("🧪 Dry run: Live-migrate internet from ics2 to ics1");
      expect(text).toContain(
        "Requested by @UOPER2 with `--dry-run`: nothing ran and no approval was requested.",
      );
      expect(text).toContain("3. on ics2: Note it in syslog");
      expect(text).toContain("$ logger -t xenops 'moved <internet> & done'");
      expect(text).toContain(`Planned on this state (hash \`${"ab".repeat(6)}\`)`);
      expect(text).toContain(
        "Without --dry-run this needs 1 approval from the approver role (not the requester).",
      );
    }
    const message = renderDryRun(plan, policyFor("migrate", {}), "UOPER2");
    expect(message.document).toEqual(doc);
    expect(JSON.stringify(message.blocks)).toContain("Requested by <@UOPER2> with `--dry-run`");
  });

  it("the execution card's Slack message carries its document", () => {
    const view = {
      record: approvalRecord(migratePlan(), { status: "approved" as const, approvedBy: ["UAPPROVER1"] }),
      statuses: ["done", "running", "pending"] as StepStatusView[],
      notes: [null, null, null],
      phase: null,
      result: null,
      oncall: null,
    };
    const message = renderExecutionCard(view);
    expect(message.document).toEqual(executionCardDocument(view));
    expect(message.text).toBe("Running: Live-migrate internet from ics2 to ics1");
  });
});
