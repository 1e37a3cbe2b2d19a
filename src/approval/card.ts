/**
 * The approval card: everything an approver needs to decide without leaving Slack (the exact commands,
 * the preflight checks, the state the plan was made on, the policy), and the same card after the
 * decision, without buttons. Pure: record in, document out (`approvalCard`), and the same as a Slack
 * message (`renderApprovalCard`). Plan, state and checks stay literal text: each front end escapes them.
 */
import type { OutboundMessage } from "../chat/types";
import {
  code,
  context,
  type DocBlock,
  date,
  type Inline,
  join,
  joinAll,
  type MessageDocument,
  pre,
  section,
  strong,
  user,
} from "../message/document";
import { truncate } from "../message/text";
import { renderSlack, toMrkdwn } from "../slack/render/document";
import { quoteArgv } from "../ssh/quote";
import { shortHash } from "./state-hash";
import type { ApprovalRecord, PlannedStep } from "./types";

export const APPROVAL_ACTION_PREFIX = "xenops:approval:";
export const APPROVE_ACTION_ID = `${APPROVAL_ACTION_PREFIX}approve`;
export const DENY_ACTION_ID = `${APPROVAL_ACTION_PREFIX}deny`;

/** Slack limits: header text 150, section text 3000 characters, 50 blocks per message. */
const HEADER_MAX = 150;
const SECTION_MAX = 2_900;
/**
 * Room for the plan on the card. Slack refuses a message whose blocks total about 12k characters
 * (src/slack/limits.ts), and the checks and the state need their share: a longer plan shows its first
 * steps and attaches the whole of it in the thread.
 */
const PLAN_BUDGET = 4_000;
const CHECKS_MAX = 2_000;
const STATE_MAX = 1_500;
/** Longest code line shown; even fully escaped (4x) it fits a section. Real commands are far shorter. */
const LINE_MAX = 700;

/**
 * How many characters parts take in the mrkdwn Slack receives (literal text escaped, marks added): the
 * budgets above are Slack's, counted on what it is sent.
 */
export function sentLength(...parts: Inline[]): number {
  return toMrkdwn(parts).length;
}

/**
 * Literal text cut with "…" to at most `max` characters as sent, never inside an escaped character
 * (unlike a cut of the mrkdwn, which could leave half an `&amp;`).
 */
export function truncateSent(text: string, max: number): string {
  if (sentLength(text) <= max) return text;
  let size = 0;
  let end = 0;
  for (const ch of text) {
    const add = sentLength(ch);
    if (size + add > max - 1) break;
    size += add;
    end += ch.length;
  }
  return `${text.slice(0, end)}…`;
}

/** As many whole lines as fit `max` characters once sent as a code block; "…" marks a cut. */
function linesWithin(lines: readonly string[], max: number): { lines: string[]; cut: boolean } {
  const kept: string[] = [];
  // The fences and their newlines.
  let size = 8;
  for (const line of lines) {
    const cut = truncate(line, LINE_MAX);
    size += sentLength(cut) + 1;
    if (size > max) {
      kept.push("…");
      break;
    }
    kept.push(cut);
  }
  // A line that is "…" itself reads as a cut too: the reader cannot tell them apart.
  return { lines: kept, cut: kept.includes("…") };
}

/** The command line exactly as the SSH runner will send it. */
export function formatStepCommand(step: Pick<PlannedStep, "argv">): string {
  try {
    return quoteArgv(step.argv);
  } catch {
    // Unquotable argv (empty, NUL byte): the runner would refuse it too; show it raw rather than fail the card.
    return JSON.stringify(step.argv);
  }
}

/** Plan steps as numbered code lines: "1. on ics2: what" / "   $ command". */
export function formatPlanLines(steps: readonly PlannedStep[]): string[][] {
  return steps.map((step, i) => [
    `${i + 1}. on ${step.node}: ${step.description}${step.destructive ? "  [cannot be undone]" : ""}`,
    `   $ ${formatStepCommand(step)}`,
  ]);
}

/**
 * Packs steps into code blocks that each fit a section, a step never split across two, within the card's
 * plan budget; `cut` tells that steps were left for the attachment.
 */
function planSections(steps: readonly PlannedStep[]): { blocks: DocBlock[]; cut: boolean } {
  const title: Inline[] = [
    strong("Plan"),
    ` (${steps.length} step${steps.length === 1 ? "" : "s"}, run in this order)`,
  ];
  if (steps.length === 0) return { blocks: [section(...title, "\nNo commands.")], cut: false };
  const chunks: string[][] = [];
  let current: string[] = [];
  let size = sentLength(...title) + 10;
  let total = size;
  let shownSteps = 0;
  for (const lines of formatPlanLines(steps)) {
    const fitted = lines.map((l) => truncate(l, LINE_MAX));
    const add = fitted.reduce((n, l) => n + sentLength(l) + 1, 0);
    if (shownSteps > 0 && total + add > PLAN_BUDGET) break;
    if (current.length > 0 && size + add > SECTION_MAX) {
      chunks.push(current);
      current = [];
      size = 10;
      total += 10;
    }
    current.push(...fitted);
    size += add;
    total += add;
    shownSteps += 1;
  }
  chunks.push(current);
  const blocks = chunks.map((chunk, i) =>
    i === 0 ? section(...title, "\n", pre(chunk)) : section(pre(chunk)),
  );
  const rest = steps.length - shownSteps;
  if (rest > 0)
    blocks.push(
      context(
        `Steps 1–${shownSteps} of ${steps.length} shown: the ${rest} more and every command are in the plan attached in this message's thread.`,
      ),
    );
  return { blocks, cut: rest > 0 };
}

/** The whole plan, checks and state as plain text (attached when the card cannot show it all). */
export function planAttachment(record: ApprovalRecord): string {
  const { plan } = record;
  return [
    `${plan.summary} (request ${record.id}, cluster ${plan.cluster})`,
    "",
    `Plan (${plan.steps.length} steps, run in this order):`,
    ...formatPlanLines(plan.steps).flat(),
    "",
    "Preflight checks:",
    ...plan.checks.map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`),
    "",
    `Planned on this state (hash ${shortHash(plan.stateHash)}):`,
    plan.stateSummary,
  ].join("\n");
}

/** The checks within CHECKS_MAX as sent; `cut` when they did not fit. */
function checksParts(record: ApprovalRecord): { parts: Inline[]; cut: boolean } {
  const { checks } = record.plan;
  const title = strong("Preflight checks");
  if (checks.length === 0) return { parts: [title, "\nNone."], cut: false };
  const failed = checks.filter((c) => !c.ok).length;
  const lines = checks.map((c) => `${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
  const head = failed > 0 ? ` (${failed} failed)` : " (all passed)";
  const rest = truncateSent(`${head}\n${lines.join("\n")}`, CHECKS_MAX - sentLength(title));
  return { parts: [title, rest], cut: rest.endsWith("…") };
}

function policyParts(record: ApprovalRecord): Inline[] {
  const p = record.policy;
  return [
    "Policy: ",
    ...joinAll(
      [
        [
          `needs ${p.approvals} approval${p.approvals === 1 ? "" : "s"} from the `,
          strong(p.approveRole),
          " role",
        ],
        [p.twoPerson ? "the requester cannot approve" : "the requester may approve"],
        p.typedConfirmation !== undefined
          ? ["approving needs the typed confirmation ", code(p.typedConfirmation)]
          : [],
        record.status === "pending" ? ["expires ", date(record.expiresAt)] : [],
      ],
      " · ",
    ),
  ];
}

const mentions = (users: readonly string[]): Inline[] => join(users.map(user), ", ");

function statusParts(record: ApprovalRecord): Inline[] {
  const { approvedBy, policy } = record;
  const when: Inline[] = record.decidedAt ? [" ", date(record.decidedAt)] : [];
  switch (record.status) {
    case "pending": {
      const typed: Inline[] =
        policy.typedConfirmation !== undefined
          ? ["\nTo approve, type ", code(`/xen approve ${record.id} ${policy.typedConfirmation}`), "."]
          : [];
      const so: Inline[] =
        approvedBy.length > 0
          ? ["Approved so far by ", ...mentions(approvedBy), " "]
          : ["Waiting for approval "];
      return ["⏳ ", ...so, `(${approvedBy.length} of ${policy.approvals}).`, ...typed];
    }
    case "approved": {
      const job: Inline[] = record.executionJobId
        ? [" Execution job ", code(record.executionJobId), "."]
        : [" Queuing the execution."];
      return ["✅ ", strong("Approved"), " by ", ...mentions(approvedBy), ...when, ".", ...job];
    }
    case "denied":
      return [
        "⛔ ",
        strong("Denied"),
        " by ",
        record.deniedBy ? user(record.deniedBy) : "someone",
        ...when,
        ". Nothing will run.",
      ];
    case "expired":
      return [
        "⌛ ",
        strong("Expired"),
        ...when,
        ` with ${approvedBy.length} of ${policy.approvals} approvals. Nothing will run; request it again if it is still needed.`,
      ];
    case "superseded":
      return ["↪️ ", strong("Superseded"), ...when, " by a newer request. Nothing will run."];
  }
}

const TITLES: Record<ApprovalRecord["status"], string> = {
  pending: "⚠️ Approval needed",
  approved: "✅ Approved",
  denied: "⛔ Denied",
  expired: "⌛ Expired",
  superseded: "↪️ Superseded",
};

export interface ApprovalCard {
  document: MessageDocument;
  /** The whole plan, when the card shows only part of it (only on the card that asks for a decision). */
  attachment?: NonNullable<OutboundMessage["attachment"]>;
}

export function approvalCard(record: ApprovalRecord): ApprovalCard {
  const { plan } = record;
  const planned = planSections(plan.steps);
  const state = linesWithin(plan.stateSummary.split("\n"), STATE_MAX);
  const checks = checksParts(record);
  const blocks: DocBlock[] = [
    { kind: "heading", text: truncate(`${TITLES[record.status]}: ${plan.summary}`, HEADER_MAX) },
    section(
      strong(plan.summary),
      "\nAction ",
      code(plan.action),
      " on cluster ",
      code(plan.cluster),
      ", requested by ",
      user(record.requestedBy),
      " ",
      date(record.createdAt),
      ". Request ",
      code(record.id),
      ".",
    ),
    ...planned.blocks,
    section(...checks.parts),
    section(
      strong("Planned on this state"),
      " (hash ",
      code(shortHash(plan.stateHash)),
      "; it runs only if the cluster still matches)\n",
      pre(state.lines),
    ),
    context(...policyParts(record)),
    section(...statusParts(record)),
  ];
  if (record.status === "pending")
    blocks.push({
      kind: "actions",
      id: "xenops-approval",
      buttons: [
        { label: "Approve", actionId: APPROVE_ACTION_ID, value: record.id, style: "primary" },
        { label: "Deny", actionId: DENY_ACTION_ID, value: record.id, style: "danger" },
      ],
    });
  const document: MessageDocument = {
    summary: [`${TITLES[record.status].replace(/^\S+ /, "")}: `, plan.summary, ` (request ${record.id})`],
    blocks,
  };
  // Only the card that asks for a decision carries the attachment: it is posted once, in its thread.
  const cut = planned.cut || checks.cut || state.cut;
  if (!cut || record.status !== "pending") return { document };
  return {
    document,
    attachment: {
      filename: `plan-${record.id}.txt`,
      title: "The whole plan",
      content: planAttachment(record),
    },
  };
}

export function renderApprovalCard(record: ApprovalRecord): OutboundMessage {
  const card = approvalCard(record);
  return { ...renderSlack(card.document), ...(card.attachment ? { attachment: card.attachment } : {}) };
}
