/**
 * The doctor's card and its plain-text form. Failing and warning checks come first, grouped by area,
 * each with its evidence (per node, the lines read) and its fix; passing checks are one line per area.
 * Slack limits: a section holds 3000 characters and a message 50 blocks, so evidence is cut short on
 * the card and the whole report (every line) goes to the thread as a file.
 */
import type { Block, OutboundMessage } from "../chat/types";
import { codeBlock, escapeMrkdwn } from "../slack/render/text";
import { AREAS, type CheckResult, type DoctorReport } from "./types";

const ICON = { fail: ":x:", warn: ":warning:", pass: ":white_check_mark:" } as const;
const SECTION_MAX = 2900;
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

function headline(report: DoctorReport): string {
  const { fail, warn, pass } = report.counts;
  const state =
    fail > 0 ? ":x: *fails*" : warn > 0 ? ":warning: *has warnings*" : ":white_check_mark: *passes*";
  return `Doctor of ${escapeMrkdwn(report.cluster)} ${state}: ${fail} failing, ${warn} warning, ${pass} passing check(s)`;
}

export interface DoctorCard {
  main: OutboundMessage;
  /** The whole report as text, for an attached file; null when the card shows everything. */
  detailText: string | null;
}

export function renderDoctorCard(report: DoctorReport): DoctorCard {
  const blocks: Block[] = [{ type: "section", text: { type: "mrkdwn", text: headline(report) } }];
  let truncated = false;
  const problems = report.results.filter((r) => r.status !== "pass");
  for (const area of AREAS) {
    const mine = problems.filter((r) => r.area === area);
    if (mine.length === 0) continue;
    if (blocks.length >= MAX_BLOCKS) {
      truncated = true;
      break;
    }
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `*${area.toUpperCase()}*` } });
    for (const r of mine) {
      if (blocks.length >= MAX_BLOCKS) {
        truncated = true;
        break;
      }
      const head = `${ICON[r.status]} \`${r.id}\`${escapeMrkdwn(subjectOf(r))}: ${escapeMrkdwn(r.summary)}`;
      const fix = r.fix ? `\n*Fix:* ${escapeMrkdwn(r.fix)}` : "";
      const all = evidenceLines(r, EVIDENCE_LINES);
      let text = `${head}${all.length ? `\n${codeBlock(all)}` : ""}${fix}`;
      if (text.length > SECTION_MAX) {
        truncated = true;
        const short = evidenceLines(r, 2);
        text = `${head}\n${codeBlock(short)}${fix}`.slice(0, SECTION_MAX);
      }
      if (all.some((l) => l.includes("more line(s)"))) truncated = true;
      blocks.push({ type: "section", text: { type: "mrkdwn", text } });
    }
  }
  const passing = report.results.filter((r) => r.status === "pass");
  if (passing.length > 0) {
    const byArea = AREAS.map((a) => [a, passing.filter((r) => r.area === a)] as const).filter(
      ([, rs]) => rs.length > 0,
    );
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `${ICON.pass} Passing: ${byArea.map(([a, rs]) => `${a} ${rs.length}`).join(" · ")}`,
        },
      ],
    });
  }
  const q = report.fenceQuery;
  blocks.push({
    type: "context",
    elements: [
      {
        type: "mrkdwn",
        text: q
          ? `The doctor queried the fence device once (\`${escapeMrkdwn(q.shown)}\` from ${escapeMrkdwn(q.from)}); status and the monitor never do.`
          : "The fence device was not queried.",
      },
    ],
  });
  if (truncated)
    blocks.push({
      type: "context",
      elements: [{ type: "mrkdwn", text: "Evidence shortened: the full report is attached in the thread." }],
    });
  const text = headline(report).replace(/[*]/g, "");
  return { main: { text, blocks }, detailText: truncated ? renderDoctorText(report) : null };
}

/** Plain text (CLI, attached file): every result with all its evidence. */
export function renderDoctorText(report: DoctorReport): string {
  const out: string[] = [
    headline(report)
      .replace(/[*]|:x:|:warning:|:white_check_mark:/g, "")
      .replace(/\s+/g, " ")
      .trim(),
    "",
  ];
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
