/**
 * The daily on-call digest (`oncall.digestAt`, UTC): per cluster, in its channel, what paged in the
 * last 24 hours (who acknowledged and how fast, snoozes, re-notifications and escalations, when it
 * resolved) and what is still open. Pure: summaries in, a neutral document out (`digestDocument`), and
 * the same as a Slack message (`renderDigest`).
 */
import type { OutboundMessage } from "../chat/types";
import type { Severity } from "../events/types";
import { date, type Inline, joinAll, type MessageDocument, section, strong, user } from "../message/document";
import { renderSlack } from "../slack/render/document";

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

/** Lines one under the other, at most MAX_LINES of them. */
function list(lines: readonly Inline[][]): Inline[] {
  const shown: Inline[][] = lines.slice(0, MAX_LINES);
  if (lines.length > MAX_LINES) shown.push([`…and ${lines.length - MAX_LINES} more`]);
  return joinAll(shown, "\n");
}

function pageLine(p: DigestPage): Inline[] {
  const what: Inline[][] = [
    p.ack
      ? ["acknowledged by ", user(p.ack.by), ` after ${span(p.pagedAt, p.ack.at)}`]
      : [strong("never acknowledged")],
    p.snoozes > 0 ? [`snoozed ${p.snoozes}×`] : [],
    p.renotified ? ["re-notified"] : [],
    p.escalated > 0 ? [`escalated ${p.escalated}×`] : [],
    [p.resolvedAt ? `resolved after ${span(p.pagedAt, p.resolvedAt)}` : "still open"],
  ];
  return ["• ", date(p.pagedAt), ` ${p.title}: `, ...joinAll(what, ", ")];
}

function openLine(o: DigestOpen): Inline[] {
  return [
    `${ICON[o.severity]} ${o.title} (since `,
    date(o.openedAt),
    ...(o.ackedBy ? [", acknowledged by ", user(o.ackedBy)] : []),
    ")",
  ];
}

export function digestDocument(
  cluster: string,
  since: string,
  pages: DigestPage[],
  open: DigestOpen[],
): MessageDocument {
  const acked = pages.filter((p) => p.ack);
  const unacked = pages.filter((p) => !p.ack);
  const plural = pages.length === 1 ? "" : "s";
  return {
    summary: [`On-call digest for ${cluster}: ${pages.length} page${plural} in 24 h, ${open.length} open`],
    blocks: [
      { kind: "heading", text: `🗓️ On-call digest · ${cluster} · last 24 h` },
      pages.length === 0
        ? section("Nobody was paged since ", date(since), ".")
        : section(
            strong(String(pages.length)),
            ` page${plural} since `,
            date(since),
            `: ${acked.length} acknowledged, ${unacked.length} not.\n`,
            ...list(pages.map(pageLine)),
          ),
      open.length === 0
        ? section("Nothing is open now.")
        : section(strong("Open now"), ` (${open.length})\n`, ...list(open.map(openLine))),
    ],
  };
}

export function renderDigest(
  cluster: string,
  since: string,
  pages: DigestPage[],
  open: DigestOpen[],
): OutboundMessage {
  return renderSlack(digestDocument(cluster, since, pages, open));
}

/** The next time (ms) at `hhmm` UTC strictly after `now`. */
export function nextDigestAt(now: number, hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  const d = new Date(now);
  const at = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h ?? 0, m ?? 0);
  return at > now ? at : at + 24 * 3600_000;
}
