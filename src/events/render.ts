/**
 * Incident messages: the parent (severity, what happened, evidence, counters, buttons), follow-ups
 * in its thread, and the storm digest. Pure: record in, message out. Everything read from nodes is
 * escaped; button values carry only names the action handler validates again.
 */
import type { Block, ButtonElement, OutboundMessage } from "../app/types";
import type { InventoryConfig } from "../config/schema";
import { type OncallMark, oncallBlocks } from "../paging/render";
import { codeBlock, escapeMrkdwn, slackDate } from "../slack/render/text";
import type { ClusterEvent, IncidentAction, Severity, SplitBrainSide } from "./types";

export const EVENT_ACTION_PREFIX = "xenops:event:";

export interface IncidentView {
  id: string;
  cluster: string;
  status: "open" | "resolved";
  severity: Severity;
  current: ClusterEvent;
  openedAt: string;
  lastAt: string;
  resolvedAt: string | null;
  resolution: { title: string; evidence: string[] } | null;
  count: number;
  flaps: number;
  paged: boolean;
  silencedUntil?: string | null;
  /** The title at the worst it got: what a resolved incident is remembered by. */
  peakTitle?: string;
  /** The latest news that paged on-call again (data loss, two writers). */
  escalation?: { reason: string; at: string } | null;
  /** Who acknowledged or snoozed it (src/paging/). */
  oncall?: OncallMark | null;
}

const ICON: Record<Severity, string> = { critical: "🔴", warning: "🟠", info: "🔵" };
const HEADER_MAX = 150;
const SECTION_MAX = 2_900;
const EVIDENCE_LINES = 20;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** `<!subteam^S…>` and `<@U…>` for the configured on-call; empty when none is configured. */
export function oncallMentions(oncall: InventoryConfig["oncall"]): string {
  return [...oncall.groups.map((g) => `<!subteam^${g}>`), ...oncall.users.map((u) => `<@${u}>`)].join(" ");
}

/** Room for the evidence's code block in a section (the section limit less its title). */
const EVIDENCE_MAX = SECTION_MAX - 100;

/**
 * Evidence lines as a code block within one section, measured as sent (escaped): whole lines while they
 * fit, then how many were left out. `cut` says whether anything was (the caller attaches it all).
 */
function evidenceCode(lines: readonly string[]): { text: string; cut: boolean } {
  if (lines.length === 0) return { text: codeBlock(["(no raw evidence)"]), cut: false };
  const shown: string[] = [];
  let size = 8;
  let cut = false;
  for (const line of lines.slice(0, EVIDENCE_LINES)) {
    const l = truncate(line, 300);
    if (l !== line) cut = true;
    const add = codeBlock([l]).length - 7;
    if (size + add > EVIDENCE_MAX - 60) break;
    shown.push(l);
    size += add;
  }
  const more = lines.length - shown.length;
  if (more > 0) {
    cut = true;
    shown.push(`… ${more} more line${more === 1 ? "" : "s"} (all of it is attached in the thread)`);
  }
  return { text: codeBlock(shown), cut };
}

function evidenceBlock(lines: readonly string[]): string {
  return evidenceCode(lines).text;
}

function evidenceAttachment(lines: readonly string[]): OutboundMessage["attachment"] {
  return evidenceCode(lines).cut
    ? { filename: "evidence.txt", title: "Evidence (every line as read)", content: lines.join("\n") }
    : undefined;
}

function withAttachment(a: OutboundMessage["attachment"]): Pick<OutboundMessage, "attachment"> {
  return a ? { attachment: a } : {};
}

export function actionLabel(a: IncidentAction): string {
  switch (a.kind) {
    case "fence":
      return `Fence ${a.node}`;
    case "start_guests":
      return `Start its guests on ${a.survivor}`;
    case "keep_data":
      return `Keep ${a.survivor}'s data`;
    case "failback":
      return `Fail back to ${a.node}`;
  }
}

export function actionButtons(
  incidentId: string,
  cluster: string,
  actions: readonly IncidentAction[],
): ButtonElement[] {
  return actions.slice(0, 5).map((a, i) => ({
    type: "button",
    text: { type: "plain_text", text: truncate(actionLabel(a), 75) },
    action_id: `${EVENT_ACTION_PREFIX}${a.kind}:${i}`,
    value: JSON.stringify({ v: 1, i: incidentId, c: cluster, a }),
    ...(a.kind === "fence" || a.kind === "keep_data"
      ? { style: "danger" as const }
      : { style: "primary" as const }),
  }));
}

function kib(n: number | null): string {
  if (n === null) return "unknown";
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} GiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} MiB`;
  return `${n} KiB`;
}

/** "Who wrote last", as far as anything tells. */
function writerHint(sides: readonly SplitBrainSide[]): string {
  const running = sides.filter((s) => s.runs.length > 0);
  if (running.length === 1 && running[0])
    return `${running[0].node} runs ${running[0].runs.join(", ")}: it has been writing since the split. Keeping its data is usually right.`;
  if (running.length > 1)
    return "Guests run on both sides: both have been writing. Whatever you choose, the other side's writes are lost.";
  const oos = sides
    .filter((s) => (s.outOfSyncKiB ?? 0) > 0)
    .sort((a, b) => (b.outOfSyncKiB ?? 0) - (a.outOfSyncKiB ?? 0));
  if (oos[0] && oos.length > 1)
    return `No guest runs on either side. ${oos[0].node} has more changed data since the split (${kib(oos[0].outOfSyncKiB)}).`;
  return "No guest runs on either side and DRBD does not tell which side wrote last.";
}

export function splitBrainFields(sides: readonly SplitBrainSide[]): Block[] {
  const fields = sides.map((s) => ({
    type: "mrkdwn" as const,
    text: truncate(
      [
        `*${escapeMrkdwn(s.node)}*`,
        `role: ${escapeMrkdwn(s.role)}`,
        `disk: ${escapeMrkdwn(s.disk)}`,
        `connection: ${escapeMrkdwn(s.connection)}`,
        `out of sync: ${kib(s.outOfSyncKiB)}`,
        `runs: ${s.runs.length ? escapeMrkdwn(s.runs.join(", ")) : "no guest"}`,
        ...(s.disconnectedSince ? [`disconnected since ${slackDate(s.disconnectedSince)}`] : []),
      ].join("\n"),
      1_900,
    ),
  }));
  return [
    { type: "section", fields: fields.slice(0, 10) },
    {
      type: "section",
      text: { type: "mrkdwn", text: `*Who wrote last:* ${escapeMrkdwn(writerHint(sides))}` },
    },
  ];
}

export function renderIncident(
  view: IncidentView,
  inventory: Pick<InventoryConfig, "oncall">,
): OutboundMessage {
  const e = view.current;
  const resolved = view.status === "resolved";
  const sev = view.severity.toUpperCase();
  const headline = resolved ? (view.peakTitle ?? e.title) : e.title;
  const title = truncate(
    `${resolved ? "✅ RESOLVED" : `${ICON[view.severity]} ${sev}`} · ${view.cluster} · ${headline}`,
    HEADER_MAX,
  );
  const counters = [
    `opened ${slackDate(view.openedAt)}`,
    view.count > 1 ? `seen *${view.count}* times` : null,
    view.flaps > 0 ? `flapped *${view.flaps}* times` : null,
    view.count > 1 ? `last ${slackDate(view.lastAt)}` : null,
  ]
    .filter((x) => x !== null)
    .join(" · ");
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: title, emoji: true } },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: truncate(
          `*${escapeMrkdwn(e.title)}*${e.detail ? `\n${escapeMrkdwn(e.detail)}` : ""}`,
          SECTION_MAX,
        ),
      },
    },
  ];
  if (e.splitBrain && e.splitBrain.length > 0 && !resolved) blocks.push(...splitBrainFields(e.splitBrain));
  blocks.push({
    type: "section",
    text: { type: "mrkdwn", text: `*Evidence*\n${evidenceBlock(e.evidence)}` },
  });
  if (resolved && view.resolution)
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: truncate(
          `✅ *Resolved* ${view.resolvedAt ? slackDate(view.resolvedAt) : ""}: ${escapeMrkdwn(view.resolution.title)}`,
          SECTION_MAX,
        ),
      },
    });
  const mentions = oncallMentions(inventory.oncall);
  const context = [
    counters,
    `source ${e.source}`,
    ...(view.silencedUntil ? [`silenced by maintenance until ${slackDate(view.silencedUntil)}`] : []),
    ...(view.paged && mentions ? [`on-call: ${mentions}`] : []),
    ...(view.escalation && !resolved
      ? [`⚠️ on-call paged again ${slackDate(view.escalation.at)}: ${escapeMrkdwn(view.escalation.reason)}`]
      : []),
  ];
  blocks.push({
    type: "context",
    elements: [{ type: "mrkdwn", text: truncate(context.join(" · "), SECTION_MAX) }],
  });
  if (!resolved && e.actions && e.actions.length > 0)
    blocks.push({
      type: "actions",
      block_id: `xenops-event-${view.id}`,
      elements: actionButtons(view.id, view.cluster, e.actions),
    });
  // Acknowledge / Snooze and who did it (src/paging/render.ts).
  blocks.push(...oncallBlocks(view, inventory));
  const page = view.paged && !resolved && mentions ? `${mentions} ` : "";
  return {
    text: truncate(
      `${page}${resolved ? "RESOLVED" : sev}: ${escapeMrkdwn(view.cluster)}: ${escapeMrkdwn(e.title)}`,
      3_000,
    ),
    blocks,
    ...withAttachment(evidenceAttachment(e.evidence)),
  };
}

/** A follow-up in an incident's thread. */
export function renderFollowUp(
  opts: {
    icon: string;
    title: string;
    detail?: string;
    evidence?: readonly string[];
    mention?: string;
    buttons?: { incidentId: string; cluster: string; actions: readonly IncidentAction[] };
  },
  threadTs: string,
): OutboundMessage {
  const head = `${opts.icon} ${opts.mention ? `${opts.mention} ` : ""}*${escapeMrkdwn(opts.title)}*`;
  const blocks: Block[] = [
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: truncate(`${head}${opts.detail ? `\n${escapeMrkdwn(opts.detail)}` : ""}`, SECTION_MAX),
      },
    },
  ];
  if (opts.evidence && opts.evidence.length > 0)
    blocks.push({ type: "section", text: { type: "mrkdwn", text: evidenceBlock(opts.evidence) } });
  if (opts.buttons && opts.buttons.actions.length > 0)
    blocks.push({
      type: "actions",
      elements: actionButtons(opts.buttons.incidentId, opts.buttons.cluster, opts.buttons.actions),
    });
  return {
    text: truncate(`${opts.mention ? `${opts.mention} ` : ""}${escapeMrkdwn(opts.title)}`, 3_000),
    blocks,
    threadTs,
    ...withAttachment(opts.evidence ? evidenceAttachment(opts.evidence) : undefined),
  };
}

export interface StormView {
  channel: string;
  startedAt: string;
  total: number;
  lines: { id: string; text: string; severity: Severity; resolved: boolean }[];
  paged: boolean;
}

export function renderStorm(view: StormView, inventory: Pick<InventoryConfig, "oncall">): OutboundMessage {
  const shown = view.lines.slice(-30);
  const list = shown
    .map((l) => `${l.resolved ? "✅" : ICON[l.severity]} ${escapeMrkdwn(truncate(l.text, 200))}`)
    .join("\n");
  const more = view.lines.length > shown.length ? `\n…and ${view.lines.length - shown.length} earlier` : "";
  const mentions = view.paged ? oncallMentions(inventory.oncall) : "";
  return {
    text: `${mentions ? `${mentions} ` : ""}Event storm: ${view.total} more incidents`,
    blocks: [
      {
        type: "header",
        text: { type: "plain_text", text: "🌪️ Event storm: incidents are grouped here", emoji: true },
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: truncate(
            `Too many incidents at once since ${slackDate(view.startedAt)}: *${view.total}* more are listed here instead of one message each. \`/xen status\` shows the whole cluster.\n${list}${more}`,
            SECTION_MAX,
          ),
        },
      },
      ...(mentions
        ? [
            {
              type: "context" as const,
              elements: [{ type: "mrkdwn" as const, text: `on-call: ${mentions}` }],
            },
          ]
        : []),
    ],
  };
}
