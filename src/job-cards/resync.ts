/**
 * The DRBD resync watch's view of a resource: what each node reports (normalized DrbdResourceState, so
 * DRBD 8 and 9 read the same), classified, and rendered as the blocks of its card.
 */
import {
  code,
  context,
  type DocBlock,
  emoji,
  type Inline,
  joinAll,
  section,
  strong,
} from "../message/document";
import { formatDuration, formatKiB, formatRate, progressBar } from "../message/text";
import type { DrbdPeer, DrbdResourceState } from "../model";

/** What one node said about the resource. */
export interface NodeReading {
  node: string;
  /** The resource as this node sees it; null when the node does not have it (or could not be read). */
  state: DrbdResourceState | null;
  /** Why the node could not be read. */
  error: string | null;
}

/** One node's side of one connection. */
export interface PeerLine {
  node: string;
  peer: string;
  role: string;
  disk: string;
  peerRole: string;
  peerDisk: string;
  connection: string;
  replication: string | null;
  oosKiB: number | null;
  percent: number | null;
  speedKiBps: number | null;
  etaSec: number | null;
}

export type ResyncPhase =
  /** Connected, UpToDate/UpToDate everywhere, nothing out of sync. */
  | "in_sync"
  /** Connected and not in sync yet (resyncing, or about to). */
  | "syncing"
  /** A node lost its peer (WFConnection, Connecting, Unconnected...): the resync waits. */
  | "disconnected"
  /** A node is StandAlone (or has no connection at all): it will not reconnect by itself. */
  | "standalone"
  /** No node could be read. */
  | "unknown";

export interface ResyncView {
  phase: ResyncPhase;
  lines: PeerLine[];
  /** Nodes that could not be read, or that do not have the resource. */
  missing: { node: string; why: string }[];
  /** Largest out-of-sync amount reported (null: none reported). */
  oosKiB: number | null;
  /** Least advanced resync progress (null: no resync progress reported). */
  percent: number | null;
  speedKiBps: number | null;
  etaSec: number | null;
  /** "ics1: WFConnection" for disconnected / standalone nodes. */
  problems: string[];
}

const STANDALONE = new Set(["StandAlone"]);

function maxOf(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? Math.max(...v) : null;
}

function minOf(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? Math.min(...v) : null;
}

function peerName(reading: NodeReading, peer: DrbdPeer, present: readonly string[]): string {
  if (peer.node) return peer.node;
  // DRBD 8 does not name the peer: in a pair it is the other node.
  const others = present.filter((n) => n !== reading.node);
  return others.length === 1 ? (others[0] as string) : "peer";
}

export function analyzeResync(readings: readonly NodeReading[]): ResyncView {
  const present = readings.filter((r) => r.state && !r.state.unconfigured).map((r) => r.node);
  const lines: PeerLine[] = [];
  const missing: { node: string; why: string }[] = [];
  const problems: string[] = [];
  let standalone = false;
  let disconnected = false;
  let allInSync = true;
  for (const r of readings) {
    if (r.error !== null || !r.state) {
      missing.push({ node: r.node, why: r.error ?? "does not have the resource" });
      if (r.error !== null) allInSync = false;
      continue;
    }
    const s = r.state;
    if (s.unconfigured) {
      disconnected = true;
      allInSync = false;
      problems.push(`${r.node}: unconfigured (down)`);
      continue;
    }
    if (s.peers.length === 0) {
      standalone = true;
      allInSync = false;
      problems.push(`${r.node}: StandAlone (no connection)`);
    }
    if (s.diskState !== "UpToDate") allInSync = false;
    for (const p of s.peers) {
      const line: PeerLine = {
        node: r.node,
        peer: peerName(r, p, present),
        role: s.role,
        disk: s.diskState,
        peerRole: p.role,
        peerDisk: p.diskState,
        connection: p.connectionState,
        replication: p.replicationState,
        oosKiB: p.outOfSyncKiB,
        percent: p.sync?.percent ?? null,
        speedKiBps: p.sync?.speedKiBps ?? null,
        etaSec: p.sync?.etaSec ?? null,
      };
      lines.push(line);
      if (STANDALONE.has(p.connectionState)) {
        standalone = true;
        problems.push(`${r.node}: StandAlone`);
      } else if (p.connectionState !== "Connected") {
        disconnected = true;
        problems.push(`${r.node}: ${p.connectionState}`);
      }
      const settled = p.replicationState === null || p.replicationState === "Established";
      if (
        p.connectionState !== "Connected" ||
        !settled ||
        p.diskState !== "UpToDate" ||
        (p.outOfSyncKiB !== null && p.outOfSyncKiB > 0)
      )
        allInSync = false;
    }
  }
  const syncing = lines.filter((l) => l.percent !== null);
  const view = {
    lines,
    missing,
    problems,
    oosKiB: maxOf(lines.map((l) => l.oosKiB)),
    percent: minOf(syncing.map((l) => l.percent)),
    speedKiBps: maxOf(lines.map((l) => l.speedKiBps)),
    etaSec: maxOf(lines.map((l) => l.etaSec)),
  };
  let phase: ResyncPhase;
  if (standalone) phase = "standalone";
  else if (disconnected) phase = "disconnected";
  else if (lines.length === 0) phase = "unknown";
  else if (allInSync) phase = "in_sync";
  else phase = "syncing";
  return { phase, ...view };
}

function arrow(line: PeerLine): string {
  if (line.connection !== "Connected") return "✕";
  if (line.replication?.includes("SyncSource") || line.replication === "SyncSource") return "⇢";
  if (line.replication?.includes("SyncT")) return "⇠";
  return "⇄";
}

/** One section per node side: states, then bar, percent, speed, ETA and out-of-sync amount. */
export function renderResyncBlocks(view: ResyncView, extra: { speedKiBps?: number | null } = {}): DocBlock[] {
  const blocks: DocBlock[] = [];
  for (const l of view.lines) {
    const head: Inline[] = [
      strong(l.node),
      ` ${l.role} · ${l.disk} ${arrow(l)} `,
      strong(l.peer),
      ` ${l.peerRole} · ${l.peerDisk}`,
    ];
    const state: Inline[] =
      l.connection === "Connected" ? [l.replication ?? "Connected"] : [emoji("warning"), " ", l.connection];
    const facts: Inline[][] = [];
    if (l.percent !== null) {
      const speed = l.speedKiBps ?? extra.speedKiBps ?? null;
      facts.push([code(`${progressBar(l.percent)} ${l.percent.toFixed(1).padStart(5)}%`)]);
      if (speed !== null) facts.push([formatRate(speed)]);
      if (l.etaSec !== null) facts.push([`ETA ${formatDuration(l.etaSec * 1000)}`]);
    }
    if (l.oosKiB !== null)
      facts.push([l.oosKiB > 0 ? `${formatKiB(l.oosKiB)} out of sync` : "nothing out of sync"]);
    blocks.push(section(...head, " · ", ...state, ...(facts.length ? ["\n", ...joinAll(facts, " · ")] : [])));
  }
  for (const m of view.missing) blocks.push(context(strong(m.node), ": ", m.why.slice(0, 300)));
  return blocks;
}

/** One line for the card's activity and the log: "34.7% · 10.0 MiB/s · ETA 6s · 70.0 MiB out of sync". */
export function summarizeResync(view: ResyncView, speedKiBps: number | null = view.speedKiBps): string {
  switch (view.phase) {
    case "in_sync":
      return "Connected, UpToDate/UpToDate, nothing out of sync";
    case "standalone":
    case "disconnected":
      return `${view.phase === "standalone" ? "StandAlone" : "disconnected"}: ${view.problems.join(", ")}`;
    case "unknown":
      return view.missing.length ? `cannot read: ${view.missing.map((m) => m.node).join(", ")}` : "no data";
    case "syncing": {
      const parts: string[] = [];
      const repl = [...new Set(view.lines.map((l) => l.replication).filter((r): r is string => r !== null))];
      parts.push(repl.join("/") || "Connected");
      if (view.percent !== null) parts.push(`${view.percent.toFixed(1)}%`);
      if (speedKiBps !== null) parts.push(formatRate(speedKiBps));
      if (view.etaSec !== null) parts.push(`ETA ${formatDuration(view.etaSec * 1000)}`);
      if (view.oosKiB !== null) parts.push(`${formatKiB(view.oosKiB)} out of sync`);
      return parts.join(" · ");
    }
  }
}
