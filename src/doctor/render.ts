/**
 * The doctor's card and its plain-text form. Failing and warning checks come first, grouped by area,
 * each with its evidence (per node, the lines read) and its fix; passing checks are one line per area.
 * The card is a neutral document (src/message/document.ts). Slack limits: a section holds 3000
 * characters and a message 50 blocks, so evidence is cut short on the card and the whole report
 * (every line) goes to the thread as a file.
 */
import type { OutboundMessage } from "../chat/types";
import {
  code,
  context,
  type DocBlock,
  emoji,
  type Inline,
  type MessageDocument,
  pre,
  section,
  strong,
} from "../message/document";
import { renderSlack, SLACK_LIMITS, toMrkdwn } from "../slack/render/document";
import { AREAS, type CheckResult, type CheckStatus, type DoctorReport } from "./types";

const ICON: Record<CheckStatus, string> = { fail: "x", warn: "warning", pass: "white_check_mark" };
const SECTION_MAX = SLACK_LIMITS.section;
const EVIDENCE_LINES = 6;
const MAX_BLOCKS = 45;

function evidenceLines(r: CheckResult, max: number): string[] {
  const out: string[] = [];
  for (const e of r.evidence) {
    const shown = e.lines.slice(0, max);
    out.push(...shown.map((l) => `${e.node}: ${l}`));
    if (e.lines.length > max)
      out.push(`${e.node}: … ${e.lines.length - max} more line(s) in the attached report`);
  }
  return out;
}

function subjectOf(r: CheckResult): string {
  return r.subject ? ` (${r.subject})` : "";
}

function verdict(report: DoctorReport): { status: CheckStatus; word: string } {
  const { fail, warn } = report.counts;
  if (fail > 0) return { status: "fail", word: "fails" };
  if (warn > 0) return { status: "warn", word: "has warnings" };
  return { status: "pass", word: "passes" };
}

function countsText(report: DoctorReport): string {
  const { fail, warn, pass } = report.counts;
  return `${fail} failing, ${warn} warning, ${pass} passing check(s)`;
}

function headline(report: DoctorReport): Inline[] {
  const v = verdict(report);
  return [
    `Doctor of ${report.cluster} `,
    emoji(ICON[v.status]),
    " ",
    strong(v.word),
    `: ${countsText(report)}`,
  ];
}

/** One failing or warning check: its evidence (shortened when the section would be too long) and fix. */
function resultText(r: CheckResult): { text: Inline[]; shortened: boolean } {
  const head: Inline[] = [emoji(ICON[r.status]), " ", code(r.id), `${subjectOf(r)}: ${r.summary}`];
  const fix: Inline[] = r.fix ? ["\n", strong("Fix:"), ` ${r.fix}`] : [];
  const all = evidenceLines(r, EVIDENCE_LINES);
  let shortened = all.some((l) => l.includes("more line(s)"));
  let text: Inline[] = [...head, ...(all.length ? ["\n", pre(all)] : []), ...fix];
  if (toMrkdwn(text).length > SECTION_MAX) {
    // Too long even at six lines a node: two lines a node (the renderer cuts what is still too long).
    shortened = true;
    text = [...head, "\n", pre(evidenceLines(r, 2)), ...fix];
  }
  return { text, shortened };
}

export interface DoctorCardDocument {
  document: MessageDocument;
  /** Evidence or checks were left off the card (the whole report belongs in the thread). */
  truncated: boolean;
}

export function doctorDocument(report: DoctorReport): DoctorCardDocument {
  const blocks: DocBlock[] = [section(...headline(report))];
  let truncated = false;
  const problems = report.results.filter((r) => r.status !== "pass");
  for (const area of AREAS) {
    const mine = problems.filter((r) => r.area === area);
    if (mine.length === 0) continue;
    if (blocks.length >= MAX_BLOCKS) {
      truncated = true;
      break;
    }
    blocks.push(section(strong(area.toUpperCase())));
    for (const r of mine) {
      if (blocks.length >= MAX_BLOCKS) {
        truncated = true;
        break;
      }
      const { text, shortened } = resultText(r);
      if (shortened) truncated = true;
      blocks.push(section(...text));
    }
  }
  const passing = report.results.filter((r) => r.status === "pass");
  if (passing.length > 0) {
    const byArea = AREAS.map((a) => [a, passing.filter((r) => r.area === a)] as const).filter(
      ([, rs]) => rs.length > 0,
    );
    blocks.push(
      context(emoji(ICON.pass), ` Passing: ${byArea.map(([a, rs]) => `${a} ${rs.length}`).join(" · ")}`),
    );
  }
  const q = report.fenceQuery;
  blocks.push(
    q
      ? context(
          "The doctor queried the fence device once (",
          code(q.shown),
          ` from ${q.from}); status and the monitor never do.`,
        )
      : context("The fence device was not queried."),
  );
  if (truncated) blocks.push(context("Evidence shortened: the full report is attached in the thread."));
  const v = verdict(report);
  return {
    document: {
      summary: [`Doctor of ${report.cluster} `, emoji(ICON[v.status]), ` ${v.word}: ${countsText(report)}`],
      blocks,
    },
    truncated,
  };
}

export interface DoctorCard {
  main: OutboundMessage;
  /** The whole report as text, for an attached file; null when the card shows everything. */
  detailText: string | null;
}

export function renderDoctorCard(report: DoctorReport): DoctorCard {
  const { document, truncated } = doctorDocument(report);
  return { main: renderSlack(document), detailText: truncated ? renderDoctorText(report) : null };
}

/** Plain text (CLI, attached file): every result with all its evidence. */
export function renderDoctorText(report: DoctorReport): string {
  const out: string[] = [`Doctor of ${report.cluster} ${verdict(report).word}: ${countsText(report)}`, ""];
  for (const r of report.results) {
    out.push(`[${r.status.toUpperCase()}] ${r.area} ${r.id}${subjectOf(r)}: ${r.summary}`);
    for (const e of r.evidence) for (const l of e.lines) out.push(`    ${e.node}: ${l}`);
    if (r.fix) out.push(`    fix: ${r.fix}`);
  }
  const q = report.fenceQuery;
  out.push(
    "",
    q
      ? `Fence device queried once by the doctor: ${q.shown} (from ${q.from}): ${q.detail}`
      : "Fence device not queried.",
  );
  return `${out.join("\n")}\n`;
}
