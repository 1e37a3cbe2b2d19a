/**
 * The daily on-call digest (`oncall.digestAt`, UTC): per cluster, in its channel, what paged in the
 * last 24 hours (who acknowledged and how fast, snoozes, re-notifications and escalations, when it
 * resolved) and what is still open. Pure: summaries in, message out.
 */
import type { Block, OutboundMessage } from "../chat/types";
import type { Severity } from "../events/types";
import { escapeMrkdwn, truncate, userMention } from "../message/text";
import { slackDate } from "../slack/render/text";

export interface DigestPage {
  title: string;
  pagedAt: string;
  ack: { by: string; at: string } | null;
  snoozes: number;
  renotified: boolean;
  escalated: number;
  resolvedAt: string | null;
}

export interface DigestOpen {
  title: string;
  severity: Severity;
  openedAt: string;
  ackedBy: string | null;
}

const ICON: Record<Severity, string> = { critical: "🔴", warning: "🟠", info: "🔵" };
const MAX_LINES = 25;

function span(fromIso: string, toIso: string): string {
  const min = Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 60_000));
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

function list(lines: string[]): string {
  const shown = lines.slice(0, MAX_LINES);
  if (lines.length > MAX_LINES) shown.push(`…and ${lines.length - MAX_LINES} more`);
  return shown.join("\n");
}

/** Slack's section text limit is 3000 characters. */
function cut(text: string): string {
  return truncate(text, 2_900);
}

export function renderDigest(
  cluster: string,
  since: string,
  pages: DigestPage[],
  open: DigestOpen[],
): OutboundMessage {
  const acked = pages.filter((p) => p.ack);
  const unacked = pages.filter((p) => !p.ack);
  const pageLines = pages.map((p) => {
    const what = [
      p.ack
        ? `acknowledged by ${userMention(p.ack.by)} after ${span(p.pagedAt, p.ack.at)}`
        : "*never acknowledged*",
      p.snoozes > 0 ? `snoozed ${p.snoozes}×` : null,
      p.renotified ? "re-notified" : null,
      p.escalated > 0 ? `escalated ${p.escalated}×` : null,
      p.resolvedAt ? `resolved after ${span(p.pagedAt, p.resolvedAt)}` : "still open",
    ]
      .filter((x) => x !== null)
      .join(", ");
    return `• ${slackDate(p.pagedAt)} ${escapeMrkdwn(p.title)}: ${what}`;
  });
  const openLines = open.map(
    (o) =>
      `${ICON[o.severity]} ${escapeMrkdwn(o.title)} (since ${slackDate(o.openedAt)}${o.ackedBy ? `, acknowledged by ${userMention(o.ackedBy)}` : ""})`,
  );
  const blocks: Block[] = [
    {
      type: "header",
      text: { type: "plain_text", text: `🗓️ On-call digest · ${cluster} · last 24 h`, emoji: true },
    },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: cut(
          pages.length === 0
            ? `Nobody was paged since ${slackDate(since)}.`
            : `*${pages.length}* page${pages.length === 1 ? "" : "s"} since ${slackDate(since)}: ${acked.length} acknowledged, ${unacked.length} not.\n${list(pageLines)}`,
        ),
      },
    },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: cut(
          open.length === 0 ? "Nothing is open now." : `*Open now* (${open.length})\n${list(openLines)}`,
        ),
      },
    },
  ];
  return {
    text: `On-call digest for ${escapeMrkdwn(cluster)}: ${pages.length} page${pages.length === 1 ? "" : "s"} in 24 h, ${open.length} open`,
    blocks,
  };
}

/** The next time (ms) at `hhmm` UTC strictly after `now`. */
export function nextDigestAt(now: number, hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  const d = new Date(now);
  const at = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h ?? 0, m ?? 0);
  return at > now ? at : at + 24 * 3600_000;
}
