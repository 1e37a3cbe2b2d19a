/**
 * Incident messages: the parent (severity, what happened, evidence, counters, buttons), follow-ups
 * in its thread, and the storm digest. Pure: record in, document out (`…Document`), and the same as a
 * Slack message (`render…`). Text read from nodes stays literal text, which every front end escapes as
 * it needs; button values carry only names the action handler validates again.
 */
import type { ButtonElement, OutboundMessage } from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import {
  context,
  type DocBlock,
  type DocButton,
  date,
  type Inline,
  joinAll,
  type MessageDocument,
  oncallParts,
  pre,
  section,
  strong,
} from "../message/document";
import { escapeMrkdwn, formatKiBShort as kib, truncate } from "../message/text";
import { type OncallMark, oncallBlocks } from "../paging/render";
import { renderSlack, toButton } from "../slack/render/document";
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

/** Room for the evidence's code block in a section (the section limit less its title). */
const EVIDENCE_MAX = SECTION_MAX - 100;

/**
 * Evidence lines for a code block within one section, measured as Slack counts them (escaped): whole
 * lines while they fit, then how many were left out. `cut` says whether anything was (the caller
 * attaches it all).
 */
function evidenceLines(lines: readonly string[]): { shown: string[]; cut: boolean } {
  if (lines.length === 0) return { shown: ["(no raw evidence)"], cut: false };
  const shown: string[] = [];
  // The fences and their newlines, then each line escaped and its newline.
  let size = 8;
  let cut = false;
  for (const line of lines.slice(0, EVIDENCE_LINES)) {
    const l = truncate(line, 300);
    if (l !== line) cut = true;
    const add = escapeMrkdwn(l).length + 1;
    if (size + add > EVIDENCE_MAX - 60) break;
    shown.push(l);
    size += add;
  }
  const more = lines.length - shown.length;
  if (more > 0) {
    cut = true;
    shown.push(`… ${more} more line${more === 1 ? "" : "s"} (all of it is attached in the thread)`);
  }
  return { shown, cut };
}

function evidenceAttachment(lines: readonly string[]): OutboundMessage["attachment"] {
  return evidenceLines(lines).cut
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

/** An incident's action buttons (at most five); action ids and values are what src/events/actions.ts reads. */
export function incidentButtons(
  incidentId: string,
  cluster: string,
  actions: readonly IncidentAction[],
): DocButton[] {
  return actions.slice(0, 5).map((a, i) => ({
    label: actionLabel(a),
    actionId: `${EVENT_ACTION_PREFIX}${a.kind}:${i}`,
    value: JSON.stringify({ v: 1, i: incidentId, c: cluster, a }),
    style: a.kind === "fence" || a.kind === "keep_data" ? "danger" : "primary",
  }));
}

/** The same buttons as Slack elements, for Block Kit built elsewhere (the Home tab). */
export function actionButtons(
  incidentId: string,
  cluster: string,
  actions: readonly IncidentAction[],
): ButtonElement[] {
  return incidentButtons(incidentId, cluster, actions).map(toButton);
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

export function splitBrainBlocks(sides: readonly SplitBrainSide[]): DocBlock[] {
  const fields = sides.map((s): Inline[] => [
    strong(s.node),
    [
      "",
      `role: ${s.role}`,
      `disk: ${s.disk}`,
      `connection: ${s.connection}`,
      `out of sync: ${kib(s.outOfSyncKiB)}`,
      `runs: ${s.runs.length ? s.runs.join(", ") : "no guest"}`,
    ].join("\n"),
    ...(s.disconnectedSince ? ["\ndisconnected since ", date(s.disconnectedSince)] : []),
  ]);
  return [{ kind: "section", fields }, section(strong("Who wrote last:"), " ", writerHint(sides))];
}

export function incidentDocument(
  view: IncidentView,
  inventory: Pick<InventoryConfig, "oncall">,
): MessageDocument {
  const e = view.current;
  const resolved = view.status === "resolved";
  const sev = view.severity.toUpperCase();
  const headline = resolved ? (view.peakTitle ?? e.title) : e.title;
  const title = truncate(
    `${resolved ? "✅ RESOLVED" : `${ICON[view.severity]} ${sev}`} · ${view.cluster} · ${headline}`,
    HEADER_MAX,
  );
  const counters = joinAll(
    [
      ["opened ", date(view.openedAt)],
      view.count > 1 ? ["seen ", strong(String(view.count)), " times"] : [],
      view.flaps > 0 ? ["flapped ", strong(String(view.flaps)), " times"] : [],
      view.count > 1 ? ["last ", date(view.lastAt)] : [],
    ],
    " · ",
  );
  const blocks: DocBlock[] = [
    { kind: "heading", text: title },
    section(strong(e.title), ...(e.detail ? ["\n", e.detail] : [])),
  ];
  if (e.splitBrain && e.splitBrain.length > 0 && !resolved) blocks.push(...splitBrainBlocks(e.splitBrain));
  blocks.push(section(strong("Evidence"), "\n", pre(evidenceLines(e.evidence).shown)));
  if (resolved && view.resolution)
    blocks.push(
      section(
        "✅ ",
        strong("Resolved"),
        " ",
        ...(view.resolvedAt ? [date(view.resolvedAt)] : []),
        ": ",
        view.resolution.title,
      ),
    );
  const mentions = oncallParts(inventory.oncall);
  blocks.push(
    context(
      ...joinAll(
        [
          counters,
          [`source ${e.source}`],
          view.silencedUntil ? ["silenced by maintenance until ", date(view.silencedUntil)] : [],
          view.paged && mentions.length > 0 ? ["on-call: ", ...mentions] : [],
          view.escalation && !resolved
            ? ["⚠️ on-call paged again ", date(view.escalation.at), ": ", view.escalation.reason]
            : [],
        ],
        " · ",
      ),
    ),
  );
  if (!resolved && e.actions && e.actions.length > 0)
    blocks.push({
      kind: "actions",
      id: `xenops-event-${view.id}`,
      buttons: incidentButtons(view.id, view.cluster, e.actions),
    });
  // Acknowledge / Snooze and who did it (src/paging/render.ts).
  blocks.push(...oncallBlocks(view, inventory));
  const page = view.paged && !resolved && mentions.length > 0 ? [...mentions, " "] : [];
  return {
    summary: [...page, `${resolved ? "RESOLVED" : sev}: `, view.cluster, ": ", e.title],
    blocks,
  };
}

export function renderIncident(
  view: IncidentView,
  inventory: Pick<InventoryConfig, "oncall">,
): OutboundMessage {
  return {
    ...renderSlack(incidentDocument(view, inventory)),
    ...withAttachment(evidenceAttachment(view.current.evidence)),
  };
}

export interface FollowUpOptions {
  icon: string;
  title: string;
  detail?: string;
  evidence?: readonly string[];
  /** Who to notify (on-call, the person who clicked). */
  mention?: Inline[];
  buttons?: { incidentId: string; cluster: string; actions: readonly IncidentAction[] };
}

export function followUpDocument(opts: FollowUpOptions): MessageDocument {
  const mention: Inline[] = opts.mention && opts.mention.length > 0 ? [...opts.mention, " "] : [];
  const blocks: DocBlock[] = [
    section(`${opts.icon} `, ...mention, strong(opts.title), ...(opts.detail ? ["\n", opts.detail] : [])),
  ];
  if (opts.evidence && opts.evidence.length > 0)
    blocks.push(section(pre(evidenceLines(opts.evidence).shown)));
  if (opts.buttons && opts.buttons.actions.length > 0)
    blocks.push({
      kind: "actions",
      buttons: incidentButtons(opts.buttons.incidentId, opts.buttons.cluster, opts.buttons.actions),
    });
  return { summary: [...mention, opts.title], blocks };
}

/** A follow-up in an incident's thread. */
export function renderFollowUp(opts: FollowUpOptions, threadTs: string): OutboundMessage {
  return {
    ...renderSlack(followUpDocument(opts)),
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

export function stormDocument(view: StormView, inventory: Pick<InventoryConfig, "oncall">): MessageDocument {
  const shown = view.lines.slice(-30);
  const list = shown.flatMap((l, i): Inline[] => [
    i > 0 ? "\n" : "",
    `${l.resolved ? "✅" : ICON[l.severity]} ${truncate(l.text, 200)}`,
  ]);
  const more = view.lines.length > shown.length ? `\n…and ${view.lines.length - shown.length} earlier` : "";
  const mentions = view.paged ? oncallParts(inventory.oncall) : [];
  return {
    summary: [
      ...(mentions.length > 0 ? [...mentions, " "] : []),
      `Event storm: ${view.total} more incidents`,
    ],
    blocks: [
      { kind: "heading", text: "🌪️ Event storm: incidents are grouped here" },
      section(
        "Too many incidents at once since ",
        date(view.startedAt),
        ": ",
        strong(String(view.total)),
        " more are listed here instead of one message each. ",
        { kind: "code", text: "/xen status" },
        " shows the whole cluster.\n",
        ...list,
        more,
      ),
      ...(mentions.length > 0 ? [context("on-call: ", ...mentions)] : []),
    ],
  };
}

export function renderStorm(view: StormView, inventory: Pick<InventoryConfig, "oncall">): OutboundMessage {
  return renderSlack(stormDocument(view, inventory));
}
