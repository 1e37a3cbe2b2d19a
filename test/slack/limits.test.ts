/**
 * No silent drops: every card fits Slack's limits before it is sent (the fake Slack refuses like Slack:
 * `invalid_blocks` over a documented limit, `msg_blocks_too_long` over ~12k of blocks), what was cut is
 * attached in the thread, and a refused card is sent in a smaller form and surfaced (log, counter,
 * /readyz, the admins' direct messages).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renderApprovalCard } from "../../src/approval/card";
import type { ActionPlan, PlannedStep } from "../../src/approval/types";
import type { Block, OutboundMessage } from "../../src/chat/types";
import { renderIncident } from "../../src/events/render";
import { renderJobCard } from "../../src/job-cards/card";
import { Metrics } from "../../src/observability/metrics";
import { runHealthChecks } from "../../src/observability/ops-server";
import { renderExecutionCard, stepWindow } from "../../src/operations/render";
import { createSlackWebClient } from "../../src/slack/client";
import { BLOCKS_JSON_BUDGET, blocksSize, fitMessage, SLACK_LIMITS } from "../../src/slack/limits";
import { renderPlainText } from "../../src/slack/render/text";
import { SlackSender } from "../../src/slack/sender";
import { approvalRecord } from "../approval/plans";
import { FakeSlack, messageLimitError } from "../support/fake-slack";
import { BOT_TOKEN, captureLogger } from "./helpers";

/** An evacuation of `guests` guests planned as the planner does it: promote, migrate, demote each. */
function evacuatePlan(guests: number): ActionPlan {
  const steps: PlannedStep[] = [];
  const checks: ActionPlan["checks"] = [];
  const state: string[] = [];
  for (let g = 1; g <= guests; g += 1) {
    const guest = `guest${String(g).padStart(2, "0")}-web-frontend`;
    const r = `r${g}`;
    steps.push(
      {
        node: "ics1",
        argv: ["drbdadm", "primary", r],
        description: `Promote ${r} on ics1 (dual-primary while the guest moves)`,
        destructive: false,
      },
      {
        node: "ics2",
        argv: ["xm", "migrate", "--live", guest, "ics1"],
        description: `Live-migrate ${guest} from ics2 to ics1`,
        destructive: true,
      },
      {
        node: "ics2",
        argv: ["drbdadm", "secondary", r],
        description: `Demote ${r} on ics2 (the guest left it)`,
        destructive: false,
      },
    );
    checks.push(
      {
        name: `drbd ${r}`,
        ok: true,
        detail: `${r} Connected, UpToDate/UpToDate on ics1 and ics2, 0 KiB out of sync`,
      },
      { name: `runs once ${guest}`, ok: true, detail: `${guest} runs on ics2 only` },
    );
    state.push(`ics2: ${guest} running (2048 MiB); drbd ${r} Primary/UpToDate, peer Secondary/UpToDate`);
  }
  return {
    action: "evacuate",
    cluster: "lab",
    summary: `Evacuate ics2: live-migrate ${guests} guests to ics1`,
    target: { node: "ics2" },
    params: { node: "ics2" },
    steps,
    checks,
    stateHash: "ab".repeat(32),
    stateSummary: state.join("\n"),
  };
}

function incidentWithEvidence(lines: string[]) {
  return renderIncident(
    {
      id: "inc1",
      cluster: "lab",
      status: "open",
      severity: "critical",
      current: {
        cluster: "lab",
        kind: "drbd_split_brain",
        family: "drbd",
        severity: "critical",
        subject: "r0",
        node: null,
        title: "Split brain on r0",
        evidence: lines,
        source: "monitor",
        at: "2030-01-01T12:00:00.000Z",
        actions: [{ kind: "fence", node: "ics2" }],
      } as never,
      openedAt: "2030-01-01T12:00:00.000Z",
      lastAt: "2030-01-01T12:00:00.000Z",
      resolvedAt: null,
      resolution: null,
      count: 1,
      flaps: 0,
      paged: false,
    },
    { oncall: { users: [], groups: [] } as never },
  );
}

const sections = (m: OutboundMessage) =>
  (m.blocks ?? []).filter((b): b is Extract<Block, { type: "section" }> => b.type === "section");

describe("renderers stay within Slack's limits", () => {
  it("a 40-guest evacuate approval card fits, shows its first steps and attaches the whole plan", () => {
    const card = renderApprovalCard(approvalRecord(evacuatePlan(40)));
    // Before: 14.0k of blocks, refused with msg_blocks_too_long.
    expect(blocksSize(card.blocks ?? [])).toBeLessThanOrEqual(BLOCKS_JSON_BUDGET);
    expect(messageLimitError({ text: card.text, blocks: card.blocks })).toBeNull();
    const text = renderPlainText(card);
    expect(text).toContain("1. on ics1: Promote r1 on ics1");
    expect(text).toMatch(/of 120 shown/);
    expect(card.attachment?.content).toContain("120. on ics2: Demote r40 on ics2");
    expect(card.attachment?.content).toContain("$ xm migrate --live guest40-web-frontend ics1");
    expect(card.blocks?.some((b) => b.type === "actions")).toBe(true);
  });

  it("20 evidence lines of 300 characters stay in one section and are attached whole", () => {
    const lines = Array.from(
      { length: 20 },
      (_, i) => `${String(i + 1).padStart(2, "0")} ${"x".repeat(297)}`,
    );
    const msg = incidentWithEvidence(lines);
    // Before: a 4,968-character section.
    for (const s of sections(msg))
      expect(s.text?.text.length ?? 0).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(messageLimitError({ text: msg.text, blocks: msg.blocks })).toBeNull();
    expect(renderPlainText(msg)).toMatch(/… \d+ more lines \(all of it is attached in the thread\)/);
    expect(msg.attachment?.content.split("\n")).toEqual(lines);
  });

  it("a 60-step execution card follows the running step instead of ending near step 38", () => {
    const plan = evacuatePlan(20); // 60 steps
    const statuses = plan.steps.map((_, i) => (i < 45 ? "done" : i === 45 ? "running" : "pending")) as (
      | "done"
      | "running"
      | "pending"
    )[];
    const card = renderExecutionCard({
      record: approvalRecord(plan, { status: "approved", approvedBy: ["UAPPROVER1"] }),
      statuses,
      notes: plan.steps.map(() => null),
      phase: null,
      result: null,
      oncall: null,
    });
    const text = renderPlainText(card);
    expect(text).toContain("▶ 46. on ics1: Promote r16 on ics1");
    expect(text).toContain("✓ 1. on ics1");
    expect(text).toContain("· 56. on ics2");
    expect(text).toContain("· 60. on ics2: Demote r20");
    expect(text).not.toContain(" 20. on ");
    expect(messageLimitError({ text: card.text, blocks: card.blocks })).toBeNull();
    expect(stepWindow(60, 45)).toEqual([
      0,
      1,
      2,
      null,
      ...Array.from({ length: 16 }, (_, i) => 40 + i),
      null,
      57,
      58,
      59,
    ]);
    expect(stepWindow(5, 2)).toEqual([0, 1, 2, 3, 4]);
  });
});

it("a job card with a long failure and output full of < & > stays within the section limit", () => {
  const card = renderJobCard({
    phase: "failed",
    title: "status lab",
    jobId: "j1",
    jobNumber: 7,
    requestedBy: "UOPER1",
    cancellable: true,
    createdAt: 0,
    startedAt: 0,
    endedAt: 60_000,
    step: null,
    activity: null,
    summary: `ssh ics1 failed: ${"<error detail> ".repeat(300)}`,
    body: [],
    notes: [],
    output: Array.from({ length: 40 }, (_, i) => `${i} <<<>>> &&& ${"o".repeat(150)}`),
    pointOfNoReturn: null,
    cancelledBy: null,
  });
  // Before: a 4,577-character section.
  for (const s of sections(card))
    expect(s.text?.text.length ?? 0).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
  expect(messageLimitError({ text: card.text, blocks: card.blocks })).toBeNull();
});

describe("fitMessage", () => {
  it("brings every documented limit and the total budget in line and returns what it cut", () => {
    const huge: OutboundMessage = {
      text: "t".repeat(50_000),
      blocks: [
        { type: "header", text: { type: "plain_text", text: "H".repeat(300) } },
        {
          type: "section",
          text: { type: "mrkdwn", text: `\`\`\`\n${"line &amp; more\n".repeat(400)}\`\`\`` },
        },
        ...Array.from(
          { length: 60 },
          (_, i): Block => ({
            type: "section",
            text: { type: "mrkdwn", text: `block ${i} ${"y".repeat(150)}` },
          }),
        ),
        {
          type: "actions",
          elements: [
            {
              type: "button",
              text: { type: "plain_text", text: "B".repeat(100) },
              action_id: "a",
              value: "v",
            },
            {
              type: "button",
              text: { type: "plain_text", text: "x" },
              action_id: "b",
              value: "v".repeat(3_000),
            },
          ],
        },
      ],
    };
    expect(messageLimitError({ text: huge.text, blocks: huge.blocks })).toBe("msg_too_long");
    const { message, overflow } = fitMessage(huge);
    expect(messageLimitError({ text: message.text, blocks: message.blocks })).toBeNull();
    expect(blocksSize(message.blocks ?? [])).toBeLessThanOrEqual(BLOCKS_JSON_BUDGET);
    expect(message.blocks?.length).toBeLessThanOrEqual(50);
    expect(message.blocks?.[0]?.type).toBe("header");
    // The button with a usable value stays; the one whose value would be cut is left out.
    const actions = message.blocks?.find((b) => b.type === "actions");
    expect(actions?.type === "actions" && actions.elements.map((e) => e.action_id)).toEqual(["a"]);
    // A cut code block is closed again, and never cut inside an entity.
    const cut = sections(message).find((s) => s.text?.text.startsWith("```"));
    expect((cut?.text?.text.match(/```/g) ?? []).length % 2).toBe(0);
    expect(cut?.text?.text).not.toMatch(/&[a-z]*\n/);
    expect(overflow.join("\n")).toContain("block 59");
  });

  it("leaves a message within limits untouched", () => {
    const msg: OutboundMessage = {
      text: "ok",
      blocks: [{ type: "section", text: { type: "mrkdwn", text: "hi" } }],
    };
    expect(fitMessage(msg)).toEqual({ message: msg, overflow: [] });
  });
});

describe("SlackSender against a Slack that enforces its limits", () => {
  let slack: FakeSlack;
  let log: ReturnType<typeof captureLogger>;

  beforeEach(async () => {
    slack = await FakeSlack.start({
      validTokens: [BOT_TOKEN],
      channels: { C0OPS: {}, COUT: { member: false }, UADMIN1: {} },
    });
    log = captureLogger();
  });
  afterEach(async () => {
    await slack.close();
  });

  function sender(): SlackSender {
    const client = createSlackWebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, logger: log.logger });
    const s = new SlackSender(client, log.logger, {
      limits: { retryBaseMs: 10, channelIntervalMs: 0, updateIntervalMs: 0 },
    });
    s.escalateTo(["UADMIN1"]);
    return s;
  }

  it("posts the 40-guest approval card whole and attaches the full plan in its thread", async () => {
    const s = sender();
    const ref = await s.post("C0OPS", renderApprovalCard(approvalRecord(evacuatePlan(40))));
    await s.drain();
    expect(ref).not.toBeNull();
    const posted = slack.messages.get(`C0OPS/${ref?.ts}`);
    expect(JSON.stringify(posted?.blocks)).toContain("xenops:approval:approve");
    expect(slack.uploads.map((u) => u.filename)).toEqual(["plan-AbCdEfGhIjKlMnOp.txt"]);
    expect(slack.uploads[0]?.content).toContain("120. on ics2");
    const complete = slack.callsTo("files.completeUploadExternal")[0];
    expect(complete?.args.thread_ts).toBe(ref?.ts);
    expect(s.deliveryHealth().ok).toBe(true);
  });

  it("cuts an oversized message instead of losing it, and attaches the rest", async () => {
    const s = sender();
    const blocks: Block[] = Array.from({ length: 8 }, (_, i) => ({
      type: "section",
      text: { type: "mrkdwn", text: `part ${i}\n${"z".repeat(2_500)}` },
    }));
    const ref = await s.update((await s.post("C0OPS", { text: "v0" })) ?? { channel: "C0OPS", ts: "0" }, {
      text: "job card",
      blocks,
    });
    void ref;
    await s.drain();
    const update = slack.callsTo("chat.update").at(-1);
    expect(update?.status).toBe(200);
    expect(slack.callsTo("chat.update").every((c) => c.args.blocks !== undefined)).toBe(true);
    expect(slack.uploads).toHaveLength(1);
    // The longest parts were cut (the first ones, all equally long); the whole of each is in the file.
    expect(slack.uploads[0]?.content).toContain(`part 0\n${"z".repeat(2_500)}`);
    expect(JSON.stringify(update?.args.blocks)).toContain("part 7");
    expect(
      log.entries().some((e) => e.msg === "slack message cut to fit, the rest attached in the thread"),
    ).toBe(true);
  });

  it("answers a refusal with the smaller form and the buttons, then surfaces it", async () => {
    const s = sender();
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.observeSender(() => s.stats());
    slack.failWith("chat.postMessage", "invalid_blocks");
    const card = renderApprovalCard(approvalRecord(evacuatePlan(2)));
    const ref = await s.post("C0OPS", card);
    await s.drain();
    expect(ref).not.toBeNull();
    const [refused, smaller, ...rest] = slack.callsTo("chat.postMessage");
    expect(refused?.args.channel).toBe("C0OPS");
    expect(smaller?.args.channel).toBe("C0OPS");
    const smallerBlocks = JSON.stringify(smaller?.args.blocks);
    expect(smallerBlocks).toContain("Slack refused the full message");
    expect(smallerBlocks).toContain("xenops:approval:approve");
    expect(smallerBlocks).toContain("xenops:approval:deny");
    // The admins hear of it directly.
    const dm = rest.find((c) => c.args.channel === "UADMIN1");
    expect(String(dm?.args.text)).toContain("invalid_blocks");
    // The whole card's text is in the thread.
    expect(slack.uploads.some((u) => u.content.includes("drbdadm primary r1"))).toBe(true);
    const error = log.entries().find((e) => e.msg === "slack refused a message, sent a smaller form");
    expect(error).toMatchObject({ code: "invalid_blocks", channel: "C0OPS", delivered: "smaller_form" });
    expect((error?.err as { message?: string })?.message).toContain("invalid_blocks");
    const health = s.deliveryHealth();
    expect(health).toMatchObject({ ok: false, refused: 1, undelivered: 0, lastCode: "invalid_blocks" });
    const report = await runHealthChecks(
      { redis: async () => true, slackDelivery: () => s.deliveryHealth() },
      1_000,
    );
    expect(report.status).toBe("degraded");
    const text = await metrics.render();
    expect(text).toContain('xenops_slack_calls_total{method="chat.postMessage",result="invalid_blocks"} 1');
    expect(text).toMatch(/xenops_slack_calls_total\{method="chat.postMessage",result="ok"\} [2-9]/);
  });

  it("msg_blocks_too_long on an edit: the smaller form replaces the card", async () => {
    const s = sender();
    const ref = await s.post("C0OPS", { text: "v0" });
    if (!ref) throw new Error("post failed");
    slack.failWith("chat.update", "msg_blocks_too_long");
    await s.update(ref, renderApprovalCard(approvalRecord(evacuatePlan(3))));
    await s.drain();
    expect(slack.callsTo("chat.update").map((c) => c.status)).toEqual([200, 200]);
    expect(JSON.stringify(slack.messages.get(`C0OPS/${ref.ts}`)?.blocks)).toContain("msg_blocks_too_long");
    expect(s.deliveryHealth().refused).toBe(1);
  });

  it("not_in_channel: no pointless retry, the admins are told once, /readyz degraded", async () => {
    const s = sender();
    const first = await s.post("COUT", incidentWithEvidence(["r0 StandAlone"]));
    const second = await s.post("COUT", incidentWithEvidence(["r0 StandAlone again"]));
    await s.drain();
    expect(first).toBeNull();
    expect(second).toBeNull();
    const calls = slack.callsTo("chat.postMessage");
    expect(calls.filter((c) => c.args.channel === "COUT")).toHaveLength(2);
    // One direct message for the two (throttled per code and channel).
    const dms = calls.filter((c) => c.args.channel === "UADMIN1");
    expect(dms).toHaveLength(1);
    expect(String(dms[0]?.args.text)).toContain("could not deliver");
    expect(String(dms[0]?.args.text)).toContain("not_in_channel");
    expect(log.entries().filter((e) => e.msg === "slack message not delivered")).toHaveLength(2);
    expect(s.deliveryHealth()).toMatchObject({ ok: false, undelivered: 2 });
  });
});
