/**
 * The cards of the risky operations: the refusal (every check, failed ones first), the dry run (plan,
 * checks, state, no buttons), and the execution card that replaces the approval card once it runs
 * (who approved, each step with its status, the verified result, and on-call when paged). Pure.
 */

import { formatPlanLines, formatStepCommand } from "../approval/card";
import { shortHash } from "../approval/state-hash";
import type { ActionPlan, ApprovalPolicy, ApprovalRecord, PreflightCheck } from "../approval/types";
import type { Block, OutboundMessage } from "../chat/types";
import { escapeMrkdwn, truncate, userMention } from "../message/text";
import { codeBlock, slackDate } from "../slack/render/text";
import type { ExecutionOutcome } from "./types";
import { type UnreadableOutput, unreadableBlocks } from "./unreadable";

const SECTION_MAX = 2_900;
const HEADER_MAX = 150;

function section(text: string): Block {
  return { type: "section", text: { type: "mrkdwn", text: truncate(text, SECTION_MAX) } };
}

function header(text: string): Block {
  return { type: "header", text: { type: "plain_text", text: truncate(text, HEADER_MAX), emoji: true } };
}

/** Code lines cut to fit one section. */
function codeSection(title: string, lines: readonly string[]): Block {
  const kept: string[] = [];
  let size = title.length + 10;
  for (const line of lines) {
    const l = truncate(line, 400);
    size += escapeMrkdwn(l).length + 1;
    if (size > SECTION_MAX - 20) {
      kept.push("…");
      break;
    }
    kept.push(l);
  }
  return section(`${title}\n${codeBlock(kept.length ? kept : ["(none)"])}`);
}

export function checksText(checks: readonly PreflightCheck[], title = "Preflight checks"): string {
  const failed = checks.filter((c) => !c.ok);
  const ordered = [...failed, ...checks.filter((c) => c.ok)];
  const lines = ordered.map(
    (c) => `${c.ok ? "✓" : "✗"} *${escapeMrkdwn(c.name)}*: ${escapeMrkdwn(c.detail)}`,
  );
  const head = failed.length > 0 ? `*${title}* (${failed.length} failed)` : `*${title}* (all passed)`;
  return truncate(`${head}\n${lines.join("\n")}`, SECTION_MAX);
}

export function renderRefusal(opts: {
  what: string;
  requestedBy: string;
  checks: readonly PreflightCheck[];
  stateSummary: string;
  /** Output that could not be read behind the failed checks: its first lines go on the card. */
  unreadable?: readonly UnreadableOutput[];
}): OutboundMessage {
  const failed = opts.checks.filter((c) => !c.ok);
  const reasons = failed.map((c) => `${c.name}: ${c.detail}`).join("; ");
  return {
    text: `Refused: ${escapeMrkdwn(opts.what)}: ${escapeMrkdwn(truncate(reasons, 2_000))}`,
    blocks: [
      header(`⛔ Refused: ${opts.what}`),
      section(
        `Requested by ${userMention(opts.requestedBy)}. Nothing ran and nothing was asked of the approvers: ${failed.length} check${failed.length === 1 ? "" : "s"} failed.`,
      ),
      section(checksText(opts.checks)),
      ...unreadableBlocks(opts.unreadable ?? []),
      codeSection("*Cluster state it was checked on*", opts.stateSummary.split("\n")),
    ],
  };
}

export function renderDryRun(plan: ActionPlan, policy: ApprovalPolicy, requestedBy: string): OutboundMessage {
  const lines = formatPlanLines(plan.steps).flat();
  return {
    text: `Dry run: ${escapeMrkdwn(plan.summary)} (${plan.steps.length} steps; nothing ran)`,
    blocks: [
      header(`🧪 Dry run: ${plan.summary}`),
      section(
        `Requested by ${userMention(requestedBy)} with \`--dry-run\`: *nothing ran and no approval was requested.*`,
      ),
      codeSection(
        `*Plan* (${plan.steps.length} step${plan.steps.length === 1 ? "" : "s"}, in this order)`,
        lines,
      ),
      section(checksText(plan.checks)),
      codeSection(
        `*Planned on this state* (hash \`${shortHash(plan.stateHash)}\`)`,
        plan.stateSummary.split("\n"),
      ),
      {
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: `Without --dry-run this needs ${policy.approvals} approval${policy.approvals === 1 ? "" : "s"} from the ${policy.approveRole} role${policy.twoPerson ? " (not the requester)" : ""}.`,
          },
        ],
      },
    ],
  };
}

export type StepStatusView = "pending" | "running" | "done" | "failed" | "skipped" | "interrupted";

export interface ExecutionView {
  record: ApprovalRecord;
  statuses: StepStatusView[];
  /** Per step, a short note ("12 s", "exit 1"). */
  notes: (string | null)[];
  /** What is happening besides the steps ("Re-reading the cluster", "Verifying"). */
  phase: string | null;
  result: ExecutionOutcome | null;
  /** Mentions for a page (set when the result pages). */
  oncall: string | null;
  /** Set when a restarted worker finished this (crash recovery). */
  recovered?: boolean;
}

const MARK: Record<StepStatusView, string> = {
  pending: "·",
  running: "▶",
  done: "✓",
  failed: "✗",
  skipped: "–",
  interrupted: "?",
};

function title(view: ExecutionView): string {
  const r = view.result;
  const summary = view.record.plan.summary;
  if (!r) return `▶️ Running: ${summary}`;
  switch (r.status) {
    case "succeeded":
      return r.warning ? `⚠️ Done despite an error: ${summary}` : `✅ Done: ${summary}`;
    case "refused":
      return `⛔ Not run: ${summary}`;
    case "failed":
      return `❌ Failed: ${summary}`;
    case "uncertain":
      return `🚨 Uncertain: ${summary}`;
  }
}

/** The step that matters now: the running one, else the last that failed or broke off, else the next. */
function currentStep(statuses: readonly StepStatusView[], total: number): number {
  const running = statuses.indexOf("running");
  if (running >= 0) return running;
  const failed = Math.max(statuses.lastIndexOf("failed"), statuses.lastIndexOf("interrupted"));
  if (failed >= 0) return failed;
  const pending = statuses.findIndex((s, i) => i < total && s === "pending");
  if (pending >= 0) return pending;
  return statuses.length < total ? statuses.length : total - 1;
}

/**
 * Which steps a long plan shows (null: a gap): the first 3, the current one with 5 before and 10 after,
 * and the last 3, so the card follows step 46 of 60 instead of ending at whatever fits.
 */
export function stepWindow(total: number, current: number, before = 5, after = 10): (number | null)[] {
  const keep = new Set<number>();
  const add = (from: number, to: number) => {
    for (let i = Math.max(0, from); i <= Math.min(total - 1, to); i += 1) keep.add(i);
  };
  add(0, 2);
  add(current - before, current + after);
  add(total - 3, total - 1);
  const out: (number | null)[] = [];
  let last = -1;
  for (const i of [...keep].sort((a, b) => a - b)) {
    if (i > last + 1) out.push(null);
    out.push(i);
    last = i;
  }
  return out;
}

export function renderExecutionCard(view: ExecutionView): OutboundMessage {
  const { record } = view;
  const { plan } = record;
  const approvers = record.approvedBy.map(userMention).join(", ");
  const current = currentStep(view.statuses, plan.steps.length);
  const linesOf = (shown: (number | null)[]) =>
    shown.flatMap((i) => {
      if (i === null) return ["   …"];
      const step = plan.steps[i];
      if (!step) return [];
      const status = view.statuses[i] ?? "pending";
      const note = view.notes[i];
      return [
        `${MARK[status]} ${i + 1}. on ${step.node}: ${step.description}${note ? ` (${note})` : ""}`,
        `     $ ${formatStepCommand(step)}`,
      ];
    });
  // Narrower windows until the steps fit their section (long commands), so the current step shows.
  let shown = stepWindow(plan.steps.length, current);
  let stepLines = linesOf(shown);
  for (const [before, after] of [
    [3, 6],
    [1, 3],
    [0, 1],
  ] as const) {
    if (escapeMrkdwn(stepLines.join("\n")).length <= SECTION_MAX - 200) break;
    shown = stepWindow(plan.steps.length, current, before, after);
    stepLines = linesOf(shown);
  }
  const blocks: Block[] = [
    header(title(view)),
    section(
      `*${escapeMrkdwn(plan.summary)}*\nRequested by ${userMention(record.requestedBy)}, approved by ${approvers || "nobody"}${record.decidedAt ? ` ${slackDate(record.decidedAt)}` : ""}. Request \`${record.id}\`${record.executionJobId ? `, job \`${escapeMrkdwn(record.executionJobId)}\`` : ""}.`,
    ),
    codeSection(
      plan.steps.length > shown.length
        ? `*Steps* (the first, the last, and those around the current one, of ${plan.steps.length})`
        : "*Steps*",
      stepLines,
    ),
  ];
  if (view.phase && !view.result)
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `⏳ ${escapeMrkdwn(view.phase)}` }] });
  const r = view.result;
  if (r) {
    const lines = r.status === "refused" ? [r.reason] : r.details.length > 0 ? r.details : [];
    const recovered = view.recovered ? " _(finished by a restarted worker)_" : "";
    blocks.push(
      section(
        `*Result:* ${escapeMrkdwn(r.summary)}${recovered}${lines.length ? `\n${lines.map((l) => `• ${escapeMrkdwn(l)}`).join("\n")}` : ""}`,
      ),
    );
    if (r.status === "succeeded" && r.warning)
      blocks.push(section(`⚠️ *Warning:* ${escapeMrkdwn(r.warning)}`));
    if ((r.status === "failed" || r.status === "uncertain") && r.page)
      blocks.push(
        section(
          `🚨 *Paging on-call:* ${view.oncall ?? "on-call"}: someone has to look at ${escapeMrkdwn(plan.cluster)} now.`,
        ),
      );
    if (r.status === "refused" && r.replan)
      blocks.push({
        type: "context",
        elements: [{ type: "mrkdwn", text: "A fresh plan on the current state is being requested below." }],
      });
  }
  const fallback = `${title(view).replace(/^\S+ /, "")}${r ? `: ${escapeMrkdwn(r.summary)}` : ""}`;
  return { text: truncate(fallback, 3_000), blocks };
}

/** The page message posted in the channel (besides the card). */
export function renderPage(opts: {
  oncall: string;
  cluster: string;
  summary: string;
  details: readonly string[];
}): OutboundMessage {
  const text = `🚨 ${opts.oncall} page: ${escapeMrkdwn(opts.summary)} (cluster ${escapeMrkdwn(opts.cluster)})`;
  return {
    text,
    blocks: [
      section(
        `${text}${opts.details.length ? `\n${opts.details.map((d) => `• ${escapeMrkdwn(d)}`).join("\n")}` : ""}`,
      ),
    ],
  };
}
