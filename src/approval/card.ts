/**
 * The approval card: everything an approver needs to decide without leaving Slack (the exact commands,
 * the preflight checks, the state the plan was made on, the policy), and the same card after the
 * decision, without buttons. Pure: record in, message out.
 */
import type { Block, OutboundMessage } from "../chat/types";
import { escapeMrkdwn, truncate, userMention } from "../message/text";
import { codeBlock, slackDate } from "../slack/render/text";
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

/** A code block of as many whole lines as fit `max` characters once escaped. */
function codeWithin(lines: readonly string[], max: number): string {
  const kept: string[] = [];
  let size = 8;
  for (const line of lines) {
    const cut = truncate(line, LINE_MAX);
    size += escapeMrkdwn(cut).length + 1;
    if (size > max) {
      kept.push("…");
      break;
    }
    kept.push(cut);
  }
  return codeBlock(kept);
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
function planSections(steps: readonly PlannedStep[]): { blocks: Block[]; cut: boolean } {
  const title = `*Plan* (${steps.length} step${steps.length === 1 ? "" : "s"}, run in this order)`;
  if (steps.length === 0)
    return {
      blocks: [{ type: "section", text: { type: "mrkdwn", text: `${title}\nNo commands.` } }],
      cut: false,
    };
  const chunks: string[][] = [];
  let current: string[] = [];
  let size = title.length + 10;
  let total = size;
  let shownSteps = 0;
  for (const lines of formatPlanLines(steps)) {
    const fitted = lines.map((l) => truncate(l, LINE_MAX));
    // Measured escaped: codeBlock escapes & < > and the limit applies to what is sent.
    const add = fitted.reduce((n, l) => n + escapeMrkdwn(l).length + 1, 0);
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
  const blocks: Block[] = chunks.map((chunk, i) => ({
    type: "section",
    text: { type: "mrkdwn", text: `${i === 0 ? `${title}\n` : ""}${codeBlock(chunk)}` },
  }));
  const rest = steps.length - shownSteps;
  if (rest > 0)
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `Steps 1–${shownSteps} of ${steps.length} shown: the ${rest} more and every command are in the plan attached in this message's thread.`,
        },
      ],
    });
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

function checksText(record: ApprovalRecord): string {
  const { checks } = record.plan;
  if (checks.length === 0) return "*Preflight checks*\nNone.";
  const failed = checks.filter((c) => !c.ok).length;
  const lines = checks.map((c) => `${c.ok ? "✓" : "✗"} ${escapeMrkdwn(c.name)}: ${escapeMrkdwn(c.detail)}`);
  const head = failed > 0 ? `*Preflight checks* (${failed} failed)` : "*Preflight checks* (all passed)";
  return truncate(`${head}\n${lines.join("\n")}`, CHECKS_MAX);
}

function policyText(record: ApprovalRecord): string {
  const p = record.policy;
  const parts = [
    `needs ${p.approvals} approval${p.approvals === 1 ? "" : "s"} from the *${p.approveRole}* role`,
    p.twoPerson ? "the requester cannot approve" : "the requester may approve",
  ];
  if (p.typedConfirmation !== undefined)
    parts.push(`approving needs the typed confirmation \`${escapeMrkdwn(p.typedConfirmation)}\``);
  if (record.status === "pending") parts.push(`expires ${slackDate(record.expiresAt)}`);
  return `Policy: ${parts.join(" · ")}`;
}

const mention = userMention;
const mentions = (users: readonly string[]) => users.map(mention).join(", ");

function statusText(record: ApprovalRecord): string {
  const { approvedBy, policy } = record;
  const when = record.decidedAt ? ` ${slackDate(record.decidedAt)}` : "";
  switch (record.status) {
    case "pending": {
      const typed =
        policy.typedConfirmation !== undefined
          ? `\nTo approve, type \`/xen approve ${record.id} ${escapeMrkdwn(policy.typedConfirmation)}\`.`
          : "";
      const so =
        approvedBy.length > 0 ? `Approved so far by ${mentions(approvedBy)} ` : "Waiting for approval ";
      return `⏳ ${so}(${approvedBy.length} of ${policy.approvals}).${typed}`;
    }
    case "approved": {
      const job = record.executionJobId
        ? ` Execution job \`${escapeMrkdwn(record.executionJobId)}\`.`
        : " Queuing the execution.";
      return `✅ *Approved* by ${mentions(approvedBy)}${when}.${job}`;
    }
    case "denied":
      return `⛔ *Denied* by ${record.deniedBy ? mention(record.deniedBy) : "someone"}${when}. Nothing will run.`;
    case "expired":
      return `⌛ *Expired*${when} with ${approvedBy.length} of ${policy.approvals} approvals. Nothing will run; request it again if it is still needed.`;
    case "superseded":
      return `↪️ *Superseded*${when} by a newer request. Nothing will run.`;
  }
}

const TITLES: Record<ApprovalRecord["status"], string> = {
  pending: "⚠️ Approval needed",
  approved: "✅ Approved",
  denied: "⛔ Denied",
  expired: "⌛ Expired",
  superseded: "↪️ Superseded",
};

export function renderApprovalCard(record: ApprovalRecord): OutboundMessage {
  const { plan } = record;
  const title = truncate(`${TITLES[record.status]}: ${plan.summary}`, HEADER_MAX);
  const planned = planSections(plan.steps);
  const stateLines = plan.stateSummary.split("\n");
  const state = codeWithin(stateLines, STATE_MAX);
  const checksCut = checksText(record).endsWith("…");
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: title, emoji: true } },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text:
          `*${escapeMrkdwn(plan.summary)}*\n` +
          `Action \`${plan.action}\` on cluster \`${escapeMrkdwn(plan.cluster)}\`, requested by ${mention(record.requestedBy)} ${slackDate(record.createdAt)}. Request \`${record.id}\`.`,
      },
    },
    ...planned.blocks,
    { type: "section", text: { type: "mrkdwn", text: checksText(record) } },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: `*Planned on this state* (hash \`${escapeMrkdwn(shortHash(plan.stateHash))}\`; it runs only if the cluster still matches)\n${state}`,
      },
    },
    { type: "context", elements: [{ type: "mrkdwn", text: policyText(record) }] },
    { type: "section", text: { type: "mrkdwn", text: statusText(record) } },
  ];
  if (record.status === "pending")
    blocks.push({
      type: "actions",
      block_id: "xenops-approval",
      elements: [
        {
          type: "button",
          text: { type: "plain_text", text: "Approve" },
          action_id: APPROVE_ACTION_ID,
          value: record.id,
          style: "primary",
        },
        {
          type: "button",
          text: { type: "plain_text", text: "Deny" },
          action_id: DENY_ACTION_ID,
          value: record.id,
          style: "danger",
        },
      ],
    });
  // Fallback text is mrkdwn too (notifications): escape the summary.
  const fallback = `${TITLES[record.status].replace(/^\S+ /, "")}: ${escapeMrkdwn(plan.summary)} (request ${record.id})`;
  // Only the card that asks for a decision carries the attachment: it is posted once, in its thread.
  const cut = planned.cut || checksCut || state.includes("\n…\n");
  return {
    text: fallback,
    blocks,
    ...(cut && record.status === "pending"
      ? {
          attachment: {
            filename: `plan-${record.id}.txt`,
            title: "The whole plan",
            content: planAttachment(record),
          },
        }
      : {}),
  };
}
