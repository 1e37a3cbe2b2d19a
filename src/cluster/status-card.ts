/**
 * The `/xen status` card as a neutral document (src/message/document.ts), so Slack, the console and
 * plain text show the same content. Warnings come first (what on-call must see), then each node:
 * reachability, Xen, HA, domains and DRBD. A part that could not be read says "unknown: <error>",
 * never "none". Sections are packed to Slack's limits, measured on the mrkdwn as sent; a cluster too
 * large for one message gets a summary card plus detail messages for its thread and a text version for
 * a file upload.
 */
import type { Block, OutboundMessage } from "../chat/types";
import { renderConsole } from "../console/render";
import {
  context,
  type DocBlock,
  date,
  em,
  emoji,
  type Inline,
  type MessageDocument,
  pre,
  strong,
} from "../message/document";
import { truncate } from "../message/text";
import type {
  ClusterState,
  ClusterWarning,
  Domain,
  DrbdResourceState,
  HaView,
  NodeState,
  PartError,
  Severity,
} from "../model";
import { renderSlack, SLACK_LIMITS, toBlock, toMrkdwn } from "../slack/render/document";

/** Slack's documented limits, and a conservative total per message (Slack truncates very long ones). */
export const BLOCK_KIT_LIMITS = {
  maxBlocks: 50,
  maxTextChars: 3_000,
  maxFields: 10,
  maxHeaderChars: 150,
  maxMessageChars: 12_000,
} as const;

/** A section's text is packed up to what the Slack renderer keeps whole (it cuts longer ones). */
const SECTION_MAX = SLACK_LIMITS.section;

export interface StatusCardDocuments {
  main: MessageDocument;
  /** Thread messages carrying what the main card only summarises; null when the main card has it all. */
  detail: MessageDocument[] | null;
  /** Everything on one document (for a file upload); null when the main card has it all. */
  full: MessageDocument | null;
}

export interface StatusCard {
  main: OutboundMessage;
  /** Thread messages carrying what the main card only summarises; null when the main card has it all. */
  detail: OutboundMessage[] | null;
  /** The full card as text (for a file upload); null when the main card has it all. */
  detailText: string | null;
}

export interface StatusOptions {
  focus?: { node?: string; guest?: string };
}

/** Inline parts: one line or several lines of a section. */
type Text = Inline[];

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };
const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: "rotating_light",
  warning: "warning",
  info: "information_source",
};
/** Error texts come from remote nodes: cap them so one chatty error cannot eat a whole section. */
const MAX_ERROR_CHARS = 300;
const MAX_CELL_CHARS = 40;
const MAX_NAMES = 8;
/** Warning sections on a summary card; the rest goes to the thread. */
const SUMMARY_WARNING_SECTIONS = 2;

// ---- small formatting helpers ----

/** Length as Slack counts it: the mrkdwn sent. */
function size(text: readonly Inline[]): number {
  return toMrkdwn(text).length;
}

function unknown(err: PartError | null): string {
  if (!err) return "unknown (not reported)";
  // The node answered, but with output that cannot be trusted: say so, so nobody reads "none" into it.
  if (err.code === "parse_error")
    return `unknown (unreadable output): ${truncate(err.message, MAX_ERROR_CHARS)}${rawHint(err)}`;
  return `unknown: ${err.code}: ${truncate(err.message, MAX_ERROR_CHARS)}`;
}

/** The first raw lines of an unreadable part, quoted, so the card shows what was there. */
function rawHint(err: PartError): string {
  const raw = err.raw;
  if (raw === undefined) return "";
  if (raw.length === 0) return " (output was empty)";
  const shown = raw.slice(0, 3).map((l) => truncate(l, 80));
  return ` (output began: ${shown.map((l) => `"${l}"`).join(" / ")}${raw.length > 3 ? ` … ${raw.length} lines` : ""})`;
}

function utc(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms)
    ? iso
    : new Date(ms)
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, " UTC");
}

function duration(sec: number): string {
  if (sec < 60) return `${Math.round(sec)}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(Math.round(sec % 60)).padStart(2, "0")}s`;
  return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}m`;
}

function names(list: readonly string[]): string {
  const shown = list.slice(0, MAX_NAMES).join(", ");
  return list.length > MAX_NAMES ? `${shown} +${list.length - MAX_NAMES} more` : shown;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cells = [header, ...rows].map((r) => r.map((c) => truncate(c, MAX_CELL_CHARS)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

/**
 * A titled table as texts, each within the section limit: a table too long for one section is cut
 * into several verbatim blocks that each repeat the header row.
 */
function tableSegments(title: string, lines: readonly string[], max: number): Text[] {
  const [head, ...body] = lines;
  if (head === undefined) return [[strong(title)]];
  const out: Text[] = [];
  let chunk: string[] = [];
  const render = (rows: string[], first: boolean): Text => [
    strong(title),
    ...(first ? [] : [" (cont.)"]),
    "\n",
    pre([head, ...rows]),
  ];
  for (const row of body) {
    if (chunk.length > 0 && size(render([...chunk, row], out.length === 0)) > max) {
      out.push(render(chunk, out.length === 0));
      chunk = [];
    }
    chunk.push(row);
  }
  out.push(render(chunk, out.length === 0));
  return out;
}

/**
 * Joins segments (one per line) into as few texts as possible, each at most `max` characters. A
 * segment longer than `max` stands alone (the renderer cuts it).
 */
function pack(segments: readonly Text[], max: number): Text[] {
  const out: Text[] = [];
  let current: Text = [];
  let currentSize = 0;
  for (const seg of segments) {
    const segSize = Math.min(size(seg), max);
    if (current.length > 0 && currentSize + 1 + segSize > max) {
      out.push(current);
      current = [];
      currentSize = 0;
    }
    if (current.length > 0) {
      current.push("\n");
      currentSize += 1;
    }
    current.push(...seg);
    currentSize += segSize;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function sectionOf(text: Text): DocBlock {
  return { kind: "section", text };
}

function blockChars(b: Block): number {
  switch (b.type) {
    case "header":
      return b.text.text.length;
    case "section":
      return (b.text?.text.length ?? 0) + (b.fields ?? []).reduce((n, f) => n + f.text.length, 0);
    case "context":
      return b.elements.reduce((n, e) => n + e.text.length, 0);
    case "actions":
      return b.elements.reduce((n, e) => n + e.text.text.length, 0);
    case "divider":
      return 0;
  }
}

/** Characters of the blocks as Slack receives them. */
function chars(blocks: readonly DocBlock[]): number {
  return blocks.reduce((n, b) => n + blockChars(toBlock(b)), 0);
}

// ---- warnings ----

export function sortWarnings(warnings: readonly ClusterWarning[]): ClusterWarning[] {
  // Array.prototype.sort is stable: within a severity the derivation order is kept.
  return [...warnings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}

function warningLine(w: ClusterWarning): Text {
  const pct =
    w.kind === "resync_running" && w.percent !== null && !w.message.includes("%")
      ? ` (${w.percent.toFixed(1)}%)`
      : "";
  return [emoji(SEVERITY_EMOJI[w.severity]), ` ${truncate(w.message, MAX_ERROR_CHARS * 2)}${pct}`];
}

function relevantWarnings(state: ClusterState, opts: StatusOptions): ClusterWarning[] {
  const { node, guest } = opts.focus ?? {};
  if (!node && !guest) return state.warnings;
  // Cluster-wide warnings (split-brain) stay visible in any focus: they concern everyone.
  return state.warnings.filter(
    (w) =>
      (w.node === null && w.guest === null) ||
      (node !== undefined && w.node === node) ||
      (guest !== undefined && w.guest === guest),
  );
}

function warningSegments(warnings: readonly ClusterWarning[]): Text[] {
  if (warnings.length === 0) return [[emoji("white_check_mark"), " ", strong("No warnings")]];
  const counts = (["critical", "warning", "info"] as const)
    .map((s) => [s, warnings.filter((w) => w.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(", ");
  return [[strong("Warnings"), ` (${counts})`], ...sortWarnings(warnings).map(warningLine)];
}

// ---- nodes ----

function xenLine(node: NodeState): string {
  const x = node.xenInfo;
  if (!x) return `Xen: ${unknown(node.xenInfoError)}`;
  const parts = [`Xen ${x.xenVersion ?? "version ?"}`];
  if (x.nrCpus !== null) parts.push(`${x.nrCpus} CPUs`);
  if (x.totalMemoryMiB !== null || x.freeMemoryMiB !== null)
    parts.push(`${x.freeMemoryMiB ?? "?"} of ${x.totalMemoryMiB ?? "?"} MiB free`);
  return parts.join(" · ");
}

/** Large clusters read the HA view on a sample of nodes: count members from the views read. */
function haSummary(nodes: readonly NodeState[]): string {
  const views = nodes.flatMap((n) => (n.ha ? [n.ha] : []));
  const members = views[0]?.nodes ?? [];
  const online = members.filter((m) => m.status === "online").length;
  return `${views.filter((v) => v.running).length} of ${views.length} views running; members ${online}/${members.length} online`;
}

function haLine(ha: HaView | null, err: PartError | null): string {
  if (!ha && err?.code === "ha_not_sampled") return `HA: ${err.message}`;
  if (!ha) return `HA: ${unknown(err)}`;
  const head = `HA (${ha.stack}, seen from ${ha.observer})`;
  if (!ha.running) return `${head}: not running`;
  const parts = [`${head}: running`, ha.dc ? `DC ${ha.dc}` : "no DC"];
  const online = ha.nodes.filter((n) => n.status === "online").length;
  const others = ha.nodes.filter((n) => n.status !== "online").map((n) => `${n.name} ${n.status}`);
  parts.push(`members ${online}/${ha.nodes.length} online${others.length ? ` (${names(others)})` : ""}`);
  const failed = ha.resources.filter((r) => r.failed).map((r) => r.id);
  const running = ha.resources.filter((r) => r.runningOn.length > 0).length;
  parts.push(
    `resources ${running}/${ha.resources.length} running${failed.length ? `, failed: ${names(failed)}` : ""}`,
  );
  if (ha.localResources) parts.push(`local resources: ${ha.localResources}`);
  return parts.join(" · ");
}

/** What xendomains starts at boot on this node, when anything (shown only then, to keep cards short). */
function bootLine(node: NodeState): string | null {
  const s = node.startup;
  if (!s) return null;
  const parts: string[] = [];
  const auto = s.auto.map((a) => a.guest ?? a.name);
  if (auto.length > 0) parts.push(`${s.autoDir}: ${names(auto)}`);
  if (s.restore && s.save) parts.push(`restores the guests saved in ${s.save} (XENDOMAINS_RESTORE=true)`);
  return parts.length > 0 ? `Boot (xendomains): ${parts.join(" · ")}` : null;
}

function domainName(d: Domain): string {
  return d.migration ? `${d.name} [${d.migration}]` : d.name;
}

function domainRows(domains: readonly Domain[]): string[] {
  return table(
    ["NAME", "ID", "MEM MiB", "VCPUS", "STATE"],
    domains.map((d) => [
      domainName(d),
      d.id === null ? "?" : String(d.id),
      d.memoryMiB === null ? "?" : String(d.memoryMiB),
      d.vcpus === null ? "?" : String(d.vcpus),
      d.state ?? "?",
    ]),
  );
}

function syncText(sync: { percent: number | null; etaSec: number | null } | null, syncing: boolean): string {
  if (!sync) return syncing ? "?%" : "";
  const pct = sync.percent === null ? "?%" : `${sync.percent.toFixed(1)}%`;
  return sync.etaSec === null ? pct : `${pct} eta ${duration(sync.etaSec)}`;
}

function drbdRows(resources: readonly DrbdResourceState[]): string[] {
  const rows: string[][] = [];
  for (const r of resources) {
    if (r.unconfigured) {
      rows.push([r.name, "-", "Unconfigured", "-", "-", ""]);
      continue;
    }
    if (r.peers.length === 0) {
      rows.push([r.name, "-", "no peer", `${r.role}/-`, `${r.diskState}/-`, ""]);
      continue;
    }
    for (const p of r.peers) {
      const conn =
        p.replicationState && p.replicationState !== "Established" ? p.replicationState : p.connectionState;
      const syncing = p.replicationState !== null && /Sync|Verify/.test(p.replicationState);
      rows.push([
        r.name,
        p.node ?? "peer",
        conn,
        `${r.role}/${p.role}`,
        `${r.diskState}/${p.diskState}`,
        syncText(p.sync, syncing),
      ]);
    }
  }
  return table(["RESOURCE", "PEER", "CONNECTION", "ROLE L/P", "DISK L/P", "SYNC"], rows);
}

/** The texts (each within the section limit) describing one node. */
function nodeTexts(node: NodeState, opts: StatusOptions): Text[] {
  const max = SECTION_MAX;
  const title = strong(node.name);
  if (!node.reachable) {
    const why = node.error
      ? `${node.error.code}: ${truncate(node.error.message, MAX_ERROR_CHARS)}`
      : "no answer";
    return pack(
      [
        [title, " ", emoji("red_circle"), ` unreachable: ${why}`],
        [em("Domains, DRBD and HA on this node: unknown (node unreachable)")],
      ],
      max,
    );
  }
  const segments: Text[] = [
    [title, " ", emoji("large_green_circle"), ` reachable · ${xenLine(node)}`],
    [haLine(node.ha, node.haError)],
  ];
  const boot = bootLine(node);
  if (boot) segments.push([boot]);

  const guest = opts.focus?.guest;
  if (node.domains === null) {
    segments.push([strong("Domains"), `: ${unknown(node.domainsError)}`]);
  } else {
    const shown = guest ? node.domains.filter((d) => d.guest === guest) : node.domains;
    if (shown.length === 0) segments.push([strong("Domains"), guest ? `: ${guest} not here` : ": none"]);
    else segments.push(...tableSegments("Domains", domainRows(shown), max));
  }

  if (node.drbd === null) segments.push([strong("DRBD"), `: ${unknown(node.drbdError)}`]);
  else if (node.drbd.length === 0) segments.push([strong("DRBD"), ": no resources"]);
  else segments.push(...tableSegments("DRBD", drbdRows(node.drbd), max));

  return pack(segments, max);
}

function nodesInFocus(state: ClusterState, opts: StatusOptions): NodeState[] {
  const { node, guest } = opts.focus ?? {};
  return state.nodes.filter((n) => {
    if (node !== undefined && n.name !== node) return false;
    // For a guest, the nodes it runs on, plus those where we cannot tell.
    if (guest !== undefined)
      return n.domains === null || !n.reachable || n.domains.some((d) => d.guest === guest);
    return true;
  });
}

function focusNote(state: ClusterState, opts: StatusOptions): Text | null {
  const { node, guest } = opts.focus ?? {};
  if (node !== undefined && !state.nodes.some((n) => n.name === node))
    return [emoji("grey_question"), " node ", strong(node), " is not part of this snapshot"];
  if (guest !== undefined) {
    const hosts = state.nodes.filter((n) => n.domains?.some((d) => d.guest === guest)).map((n) => n.name);
    const blind = state.nodes.filter((n) => n.domains === null).map((n) => n.name);
    const where = hosts.length ? `runs on ${names(hosts)}` : "is not running on any node we could read";
    const caveat = blind.length ? `; domains unknown on ${names(blind)}` : "";
    return [`Guest ${guest} ${where}${caveat}`];
  }
  return null;
}

// ---- assembly ----

function headerBlocks(state: ClusterState, opts: StatusOptions): DocBlock[] {
  const focus = opts.focus?.node ?? opts.focus?.guest;
  const title = truncate(
    `${state.cluster}${focus ? ` / ${focus}` : ""} · ${utc(state.takenAt)}`,
    BLOCK_KIT_LIMITS.maxHeaderChars,
  );
  const reachable = state.nodes.filter((n) => n.reachable).length;
  const guests = new Set(
    state.nodes.flatMap((n) => (n.domains ?? []).filter((d) => d.guest !== null).map((d) => d.guest)),
  );
  const blind = state.nodes.filter((n) => n.domains === null).length;
  const facts = [
    `${reachable}/${state.nodes.length} nodes reachable`,
    `${guests.size} guest${guests.size === 1 ? "" : "s"} seen${blind ? ` (domains unknown on ${blind} node${blind > 1 ? "s" : ""})` : ""}`,
  ].join(" · ");
  return [{ kind: "heading", text: title }, context("Snapshot ", date(state.takenAt), ` · ${facts}`)];
}

function nodeBlockGroups(state: ClusterState, opts: StatusOptions): DocBlock[][] {
  return nodesInFocus(state, opts).map((n) => [
    { kind: "divider" } as DocBlock,
    ...nodeTexts(n, opts).map(sectionOf),
  ]);
}

/** One line per node for the summary card of a large cluster. */
function overviewLines(nodes: readonly NodeState[]): string[] {
  return table(
    ["NODE", "STATE", "DOMAINS", "DRBD", "HA"],
    nodes.map((n) => {
      if (!n.reachable) return [n.name, `unreachable (${n.error?.code ?? "no answer"})`, "?", "?", "?"];
      const doms = n.domains === null ? "unknown" : String(n.domains.filter((d) => !d.isDom0).length);
      const drbd =
        n.drbd === null
          ? "unknown"
          : `${n.drbd.filter((r) => r.peers.some((p) => p.connectionState === "Connected")).length}/${n.drbd.length} conn`;
      const ha =
        n.ha === null
          ? n.haError?.code === "ha_not_sampled"
            ? "sampled"
            : "unknown"
          : n.ha.running
            ? "running"
            : "stopped";
      return [n.name, "ok", doms, drbd, ha];
    }),
  );
}

function summaryFields(state: ClusterState, nodes: readonly NodeState[]): DocBlock {
  const reachable = nodes.filter((n) => n.reachable).length;
  const down = nodes.filter((n) => !n.reachable).map((n) => n.name);
  const resources = nodes.flatMap((n) => n.drbd ?? []);
  const syncing = resources.filter((r) =>
    r.peers.some((p) => p.replicationState && /Sync/.test(p.replicationState)),
  );
  const notConnected = resources.filter(
    (r) => !r.unconfigured && !r.peers.some((p) => p.connectionState === "Connected"),
  );
  const bySeverity = (s: Severity) => state.warnings.filter((w) => w.severity === s).length;
  const drbdUnknown = nodes.filter((n) => n.drbd === null).length;
  const haUnknown = nodes.filter((n) => n.ha === null && n.haError?.code !== "ha_not_sampled").length;
  const fields: Text[] = [
    [
      strong("Nodes"),
      `\n${reachable}/${nodes.length} reachable${down.length ? `\nunreachable: ${names(down)}` : ""}`,
    ],
    [
      strong("Warnings"),
      `\n${bySeverity("critical")} critical, ${bySeverity("warning")} warning, ${bySeverity("info")} info`,
    ],
    [
      strong("DRBD"),
      `\n${resources.length} resource views, ${syncing.length} syncing, ${notConnected.length} not connected${
        drbdUnknown ? `\nunknown on ${drbdUnknown} nodes` : ""
      }`,
    ],
    [strong("HA"), `\n${haSummary(nodes)}${haUnknown ? `\nunknown on ${haUnknown} nodes` : ""}`],
  ];
  return { kind: "section", fields: fields.slice(0, BLOCK_KIT_LIMITS.maxFields) };
}

/** Packs block groups (never split) into messages within the block and character limits. */
function packMessages(groups: readonly DocBlock[][], reserve: number): DocBlock[][] {
  const maxBlocks = BLOCK_KIT_LIMITS.maxBlocks - reserve;
  const out: DocBlock[][] = [];
  let current: DocBlock[] = [];
  // A group that alone exceeds a limit (a node with hundreds of domains) is split block by block.
  const fitted = groups.flatMap((g) =>
    g.length > maxBlocks || chars(g) > BLOCK_KIT_LIMITS.maxMessageChars ? g.map((b) => [b]) : [g],
  );
  for (const group of fitted) {
    const fits =
      current.length + group.length <= maxBlocks &&
      chars(current) + chars(group) <= BLOCK_KIT_LIMITS.maxMessageChars;
    if (!fits && current.length > 0) {
      out.push(current);
      current = [];
    }
    current.push(...group);
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The status card as documents: the card, its thread messages and the whole of it, when it is split. */
export function statusCardDocuments(state: ClusterState, opts: StatusOptions = {}): StatusCardDocuments {
  const header = headerBlocks(state, opts);
  const note = focusNote(state, opts);
  const noteBlocks = note ? [sectionOf(note)] : [];
  const warnings = relevantWarnings(state, opts);
  const warningBlocks = pack(warningSegments(warnings), SECTION_MAX).map(sectionOf);
  const groups = nodeBlockGroups(state, opts);
  const summary: Text = [
    state.cluster,
    ` status (${utc(state.takenAt)}): ${warnings.length} warning${warnings.length === 1 ? "" : "s"}`,
  ];

  const full = [...header, ...noteBlocks, ...warningBlocks, ...groups.flat()];
  if (full.length <= BLOCK_KIT_LIMITS.maxBlocks && chars(full) <= BLOCK_KIT_LIMITS.maxMessageChars) {
    return { main: { summary, blocks: full }, detail: null, full: null };
  }

  // Too large for one message: a summary card, then everything in the thread and as a file.
  const nodes = nodesInFocus(state, opts);
  const shownWarnings = warningBlocks.slice(0, SUMMARY_WARNING_SECTIONS);
  const restWarnings = warningBlocks.slice(SUMMARY_WARNING_SECTIONS);
  const head: DocBlock[] = [
    ...header,
    ...noteBlocks,
    ...shownWarnings,
    ...(restWarnings.length
      ? [sectionOf([em(`More warnings in the thread (${restWarnings.length} more sections).`)])]
      : []),
    { kind: "divider" },
    summaryFields(state, nodes),
  ];
  // As much of the per-node overview as fits next to the warnings; the rest is in the thread anyway.
  const overview = tableSegments("Nodes", overviewLines(nodes), SECTION_MAX).map(sectionOf);
  const shownOverview: DocBlock[] = [];
  for (const b of overview) {
    const next = [...head, ...shownOverview, b];
    if (next.length + 1 > BLOCK_KIT_LIMITS.maxBlocks || chars(next) + 200 > BLOCK_KIT_LIMITS.maxMessageChars)
      break;
    shownOverview.push(b);
  }
  const hidden = overview.length - shownOverview.length;
  const main: DocBlock[] = [
    ...head,
    ...shownOverview,
    context(
      `Per-node detail is in the thread and in the attached file${hidden ? ` (the node overview continues there: ${hidden} more parts)` : ""}.`,
    ),
  ];

  const hiddenOverview = overview.slice(shownOverview.length).map((b) => [b]);
  const parts = packMessages([...restWarnings.map((b) => [b]), ...hiddenOverview, ...groups], 1);
  const detail = parts.map((blocks, i): MessageDocument => {
    const label = `${state.cluster} status detail ${i + 1}/${parts.length}`;
    return { summary: [label], blocks: [context(label), ...blocks] };
  });
  return { main: { summary, blocks: main }, detail, full: { summary, blocks: full } };
}

/** The status card as Slack messages (each carrying its document) and the text of the whole card. */
export function renderStatusCard(state: ClusterState, opts: StatusOptions = {}): StatusCard {
  const docs = statusCardDocuments(state, opts);
  return {
    main: renderSlack(docs.main),
    detail: docs.detail ? docs.detail.map(renderSlack) : null,
    // The file reads like the console: tables as they are, no markup.
    detailText: docs.full ? renderConsole(docs.full) : null,
  };
}
