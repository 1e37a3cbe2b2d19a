/**
 * The cards of the risky operations: the refusal (every check, failed ones first), the dry run (plan,
 * checks, state, no buttons), and the execution card that replaces the approval card once it runs
 * (who approved, each step with its status, the verified result, and on-call when paged). Pure: each is
 * a document (`…Document`) and the same as a Slack message (`render…`).
 */

import { formatPlanLines, formatStepCommand, sentLength } from "../approval/card";
import { shortHash } from "../approval/state-hash";
import type { ActionPlan, ApprovalPolicy, ApprovalRecord, PreflightCheck } from "../approval/types";
import type { OutboundMessage } from "../chat/types";
import {
  code,
  context,
  type DocBlock,
  date,
  em,
  group,
  type Inline,
  join,
  type MessageDocument,
  pre,
  section,
  strong,
  user,
} from "../message/document";
import { type OncallTargets, truncate } from "../message/text";
import { renderSlack } from "../slack/render/document";
import type { ExecutionOutcome } from "./types";
import { type UnreadableOutput, unreadableBlocks } from "./unreadable";

const SECTION_MAX = 2_900;
const HEADER_MAX = 150;

function heading(text: string): DocBlock {
  return { kind: "heading", text: truncate(text, HEADER_MAX) };
}

/** Code lines cut to fit one section (as Slack counts it). */
function codeSection(title: readonly Inline[], lines: readonly string[]): DocBlock {
  const kept: string[] = [];
  let size = sentLength(...title) + 10;
  for (const line of lines) {
    const l = truncate(line, 400);
    size += sentLength(l) + 1;
    if (size > SECTION_MAX - 20) {
      kept.push("…");
      break;
    }
    kept.push(l);
  }
  return section(...title, "\n", pre(kept.length ? kept : ["(none)"]));
}

export function checksParts(checks: readonly PreflightCheck[], title = "Preflight checks"): Inline[] {
  const failed = checks.filter((c) => !c.ok);
  const ordered = [...failed, ...checks.filter((c) => c.ok)];
  const lines = ordered.map((c): Inline[] => [`${c.ok ? "✓" : "✗"} `, strong(c.name), `: ${c.detail}`]);
  const head = failed.length > 0 ? ` (${failed.length} failed)` : " (all passed)";
  // Slack's section limit cuts a long list (renderSlack); text front ends show all of it.
  return [strong(title), `${head}\n`, ...lines.flatMap((l, i) => (i > 0 ? ["\n", ...l] : l))];
}

/** The page's mentions: users, then groups, and a visible warning when nobody is configured. */
export function oncallPartsOrWarning(who: OncallTargets): Inline[] {
  const all = [...(who.users ?? []).map(user), ...(who.groups ?? []).map(group)];
  return all.length > 0 ? join(all, " ") : ["on-call (none configured!)"];
}

export interface RefusalOptions {
  what: string;
  requestedBy: string;
  checks: readonly PreflightCheck[];
  stateSummary: string;
  /** Output that could not be read behind the failed checks: its first lines go on the card. */
  unreadable?: readonly UnreadableOutput[];
}

export function refusalDocument(opts: RefusalOptions): MessageDocument {
  const failed = opts.checks.filter((c) => !c.ok);
  const reasons = failed.map((c) => `${c.name}: ${c.detail}`).join("; ");
  return {
    summary: [`Refused: ${opts.what}: ${truncate(reasons, 2_000)}`],
    blocks: [
      heading(`⛔ Refused: ${opts.what}`),
      section(
        "Requested by ",
        user(opts.requestedBy),
        `. Nothing ran and nothing was asked of the approvers: ${failed.length} check${failed.length === 1 ? "" : "s"} failed.`,
      ),
      section(...checksParts(opts.checks)),
      ...unreadableBlocks(opts.unreadable ?? []),
      codeSection([strong("Cluster state it was checked on")], opts.stateSummary.split("\n")),
    ],
  };
}

export function renderRefusal(opts: RefusalOptions): OutboundMessage {
  return renderSlack(refusalDocument(opts));
}

export function dryRunDocument(
  plan: ActionPlan,
  policy: ApprovalPolicy,
  requestedBy: string,
): MessageDocument {
  const lines = formatPlanLines(plan.steps).flat();
  return {
    summary: [`Dry run: ${plan.summary} (${plan.steps.length} steps; nothing ran)`],
    blocks: [
      heading(`🧪 Dry run: ${plan.summary}`),
      section(
        "Requested by ",
        user(requestedBy),
        " with ",
        code("--dry-run"),
        ": ",
        strong("nothing ran and no approval was requested."),
      ),
      codeSection(
        [strong("Plan"), ` (${plan.steps.length} step${plan.steps.length === 1 ? "" : "s"}, in this order)`],
        lines,
      ),
      section(...checksParts(plan.checks)),
      codeSection(
        [strong("Planned on this state"), " (hash ", code(shortHash(plan.stateHash)), ")"],
        plan.stateSummary.split("\n"),
      ),
      context(
        `Without --dry-run this needs ${policy.approvals} approval${policy.approvals === 1 ? "" : "s"} from the ${policy.approveRole} role${policy.twoPerson ? " (not the requester)" : ""}.`,
      ),
    ],
  };
}

export function renderDryRun(plan: ActionPlan, policy: ApprovalPolicy, requestedBy: string): OutboundMessage {
  return renderSlack(dryRunDocument(plan, policy, requestedBy));
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
  /** Who is paged (set when the result pages): `oncallPartsOrWarning`. */
  oncall: Inline[] | null;
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

export function executionCardDocument(view: ExecutionView): MessageDocument {
  const { record } = view;
  const { plan } = record;
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
    if (sentLength(stepLines.join("\n")) <= SECTION_MAX - 200) break;
    shown = stepWindow(plan.steps.length, current, before, after);
    stepLines = linesOf(shown);
  }
  const approvers: Inline[] =
    record.approvedBy.length > 0 ? join(record.approvedBy.map(user), ", ") : ["nobody"];
  const blocks: DocBlock[] = [
    heading(title(view)),
    section(
      strong(plan.summary),
      "\nRequested by ",
      user(record.requestedBy),
      ", approved by ",
      ...approvers,
      ...(record.decidedAt ? [" ", date(record.decidedAt)] : []),
      ". Request ",
      code(record.id),
      ...(record.executionJobId ? [", job ", code(record.executionJobId)] : []),
      ".",
    ),
    codeSection(
      plan.steps.length > shown.length
        ? [
            strong("Steps"),
            ` (the first, the last, and those around the current one, of ${plan.steps.length})`,
          ]
        : [strong("Steps")],
      stepLines,
    ),
  ];
  if (view.phase && !view.result) blocks.push(context(`⏳ ${view.phase}`));
  const r = view.result;
  if (r) {
    const lines = r.status === "refused" ? [r.reason] : r.details.length > 0 ? r.details : [];
    blocks.push(
      section(
        strong("Result:"),
        ` ${r.summary}`,
        ...(view.recovered ? [" ", em("(finished by a restarted worker)")] : []),
        ...(lines.length ? [`\n${lines.map((l) => `• ${l}`).join("\n")}`] : []),
      ),
    );
    if (r.status === "succeeded" && r.warning)
      blocks.push(section("⚠️ ", strong("Warning:"), ` ${r.warning}`));
    if ((r.status === "failed" || r.status === "uncertain") && r.page)
      blocks.push(
        section(
          "🚨 ",
          strong("Paging on-call:"),
          " ",
          ...(view.oncall ?? ["on-call"]),
          `: someone has to look at ${plan.cluster} now.`,
        ),
      );
    if (r.status === "refused" && r.replan)
      blocks.push(context("A fresh plan on the current state is being requested below."));
  }
  return { summary: [title(view).replace(/^\S+ /, ""), ...(r ? [`: ${r.summary}`] : [])], blocks };
}

export function renderExecutionCard(view: ExecutionView): OutboundMessage {
  return renderSlack(executionCardDocument(view));
}

export interface PageOptions {
  /** Who is paged: `oncallPartsOrWarning`. */
  oncall: Inline[];
  cluster: string;
  summary: string;
  details: readonly string[];
}

/** The page message posted in the channel (besides the card). */
export function pageDocument(opts: PageOptions): MessageDocument {
  const head: Inline[] = ["🚨 ", ...opts.oncall, ` page: ${opts.summary} (cluster ${opts.cluster})`];
  return {
    summary: head,
    blocks: [
      section(...head, ...(opts.details.length ? [`\n${opts.details.map((d) => `• ${d}`).join("\n")}`] : [])),
    ],
  };
}

export function renderPage(opts: PageOptions): OutboundMessage {
  return renderSlack(pageDocument(opts));
}
