import type { AuditRecord } from "../src/audit/schema";
import { documentReply } from "../src/chat/reply";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { code, type Inline, joinAll, strong, userOrText } from "../src/message/document";
import { formatDuration, utcTime } from "../src/message/text";
import { toMrkdwn } from "../src/slack/render/document";

interface HistoryArgs {
  n: number;
}

const DEFAULT_N = 10;
const MAX_N = 50;
/** Measured as Slack receives the reply (mrkdwn). */
const MAX_REPLY_CHARS = 3_500;

function command(text: string): Inline {
  return code(text.slice(0, 120).replace(/`/g, "'"));
}

export function historyLine(r: AuditRecord): Inline[] {
  const p = r.parameters ?? {};
  const job = r.jobNumber !== undefined ? ` · job ${r.jobNumber}` : "";
  const took = r.durationMs !== undefined ? ` in ${formatDuration(r.durationMs)}` : "";
  const err = r.error ? `: ${r.error.message.slice(0, 100)}` : "";
  const outcome = r.outcome ? ` → ${r.outcome}${err}` : err;
  let what: Inline[];
  switch (r.kind) {
    case "command":
    case "refusal":
      what = [`${r.kind} `, command(r.command ?? "")];
      break;
    case "job_finished":
    case "job_cancelled":
      what = [
        `${r.kind === "job_cancelled" ? "job cancelled" : "job finished"}: ${String(p.job ?? "")}${took}`,
      ];
      break;
    case "action":
      what = ["action ", command(r.command ?? "")];
      break;
    default:
      what = [r.kind.replace(/_/g, " "), ...(r.command ? [" ", command(r.command)] : [])];
  }
  return [
    `• #${r.seq} ${utcTime(Date.parse(r.time))} · `,
    userOrText(r.actor),
    " · ",
    ...what,
    `${outcome}${job}`,
  ];
}

export const historyCommand: CommandSpec<HistoryArgs> = {
  verb: "history",
  summary: `the last N records of the audit log for the clusters here (default ${DEFAULT_N}, at most ${MAX_N})`,
  usage: "history [N]",
  role: "viewer",
  parse({ positionals }) {
    const [n, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`too many arguments: ${rest.join(" ").slice(0, 60)}`);
    if (n === undefined) return { n: DEFAULT_N };
    if (!/^\d{1,4}$/.test(n) || Number(n) < 1)
      throw new UsageError(`"${n.slice(0, 20)}" is not a number of records`);
    return { n: Math.min(Number(n), MAX_N) };
  },
  async run(ctx, args) {
    if (!ctx.jobAdmin) return { text: "The audit log is not available in this process." };
    // Read more than asked: records of clusters that do not answer here are left out.
    const records = await ctx.jobAdmin.history(Math.min(args.n * 5, 500));
    if (records === null) return { text: "No audit log is configured for this bot (XENOPS_AUDIT_FILE)." };
    const here = new Set(ctx.clustersHere.map((c) => c.name));
    const shown = records.filter((r) => r.cluster === undefined || here.has(r.cluster)).slice(-args.n);
    if (shown.length === 0) return { text: "The audit log has no records for the clusters here yet." };
    const lines = shown.map(historyLine);
    while (lines.length > 1 && toMrkdwn(joinAll(lines, "\n")).length > MAX_REPLY_CHARS) lines.shift();
    return documentReply({
      summary: [
        strong(`Audit log: last ${lines.length} record${lines.length === 1 ? "" : "s"}`),
        " (verify with ",
        code("xenops audit verify"),
        ")\n",
        ...joinAll(lines, "\n"),
      ],
      blocks: [],
    });
  },
};
