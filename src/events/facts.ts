/**
 * Facts: the compact part of a cluster snapshot that events are derived from, plus what the monitor
 * must remember between snapshots (where each guest was last seen, fencing, split-brain reports).
 * Stored in Redis after every change, so a restarted bot compares against what it saw last.
 *
 * `null` is "not known", never "none": a node that did not answer has `guests: null` and
 * `drbd: null`, and nothing is concluded about what runs there.
 */

import { compareText } from "../compare-text";
import type { ClusterConfig } from "../config/schema";
import { fenceHistoryOf } from "../drivers/registry";
import type { ClusterState, DrbdResourceState, FenceEvent, HaNodeStatus, NodeState } from "../model";

export interface DrbdSideFacts {
  role: string;
  disk: string;
  /** Connection state to the peer (the first peer; DRBD 8 has one). StandAlone when it has none. */
  conn: string;
  repl: string | null;
  /** The peer's name; DRBD 8 does not print it, so it is inferred from the cluster. */
  peer: string | null;
  peerRole: string;
  peerDisk: string;
  oosKiB: number | null;
  syncPercent: number | null;
  etaSec: number | null;
  unconfigured: boolean;
}

export interface NodeFacts {
  reachable: boolean;
  error: string | null;
  /** This node's status according to the HA stack on another node (the worst reported), else its own. */
  ha: { status: HaNodeStatus; observer: string; stack: string } | null;
  /** Whether the HA stack runs on this node; null when unknown (unreachable, HA unreadable, no HA). */
  haRunning: boolean | null;
  /** Guests with a domain here (migrating ones excluded); null when unknown. */
  guests: string[] | null;
  /** Guests with a domain here under a migration name. */
  migrating: string[];
  /** DRBD resources as this node reports them; null when unknown. */
  drbd: Record<string, DrbdSideFacts> | null;
}

export interface FactsMemory {
  /** Guest → the node it was last seen running on (alone, not migrating). */
  lastSeenOn: Record<string, string>;
  /** Node → ISO time it was fenced successfully after it went down (cleared when it is back). */
  fencedAt: Record<string, string>;
  /** Resource → a node-side handler reported an unresolved split brain (ISO time, node). */
  splitBrainReports: Record<string, { node: string; at: string }>;
  /**
   * Resource → xenops is recovering its split brain (ISO time, approval id). Kept after the recovery
   * (`done`) until the resource is seen connected, so that reconnect is not taken for DRBD's own.
   */
  recovering: Record<string, { at: string; approvalId: string; done?: boolean }>;
  /** `resource|node` → ISO time this side was first seen not Connected. */
  disconnectedSince: Record<string, string>;
  /** Node → ISO time it came back after being down or unreachable (failback is offered for it). */
  returned?: Record<string, string>;
  /** What heartbeat's logs told so far (src/events/heartbeat.ts). */
  haLog?: HaLogMemory;
}

/** One death as heartbeat on a survivor logged it: STONITH, then the takeover of the dead node's groups. */
export interface HaLogEpisode {
  /** The node whose log tells it (the survivor). */
  observer: string;
  dead: string;
  /** ISO time of its first line, when the line has one. */
  since: string | null;
  stonith: "started" | "reported_reset" | "failed" | "none_configured" | null;
  device: string | null;
  takeover: "started" | "complete" | "not_needed" | null;
  /** Resources of the groups taken over, as heartbeat names them (`drbddisk::internet`). */
  resources: string[];
  /** Raw lines, oldest first (the first and the latest ones when there are many). */
  lines: string[];
  /**
   * Happenings already posted for it. A takeover heartbeat logged as complete is due, and told at the
   * end of the pass once its guests are seen on the survivor, or a pass later whatever is seen.
   */
  reported: {
    stonithFailed?: boolean;
    takeover?: boolean;
    takeoverDue?: boolean;
    takeoverSettling?: boolean;
  };
}

/** heartbeat's auto_failback of `home`'s groups by `holder`. */
export interface HaFailbackEpisode {
  holder: string;
  home: string;
  since: string | null;
  resources: string[];
  lines: string[];
  done: boolean;
  /**
   * Posted. A finished failback waits for its home node to be read (its guests known, not "not
   * there"), and stays until the home's own log has been read too, so its lines add to it.
   */
  reported?: boolean;
  /** The home node was read once after it finished without all its guests there yet. */
  settling?: boolean;
}

export interface HaLogMemory {
  /** Node → the last lines of its log as last read (where the next read continues). */
  cursors: Record<string, string[]>;
  /** Dead node → its episode (dropped once the node is back). */
  episodes: Record<string, HaLogEpisode>;
  /** Home node → its failback (dropped once done and reported). */
  failbacks: Record<string, HaFailbackEpisode>;
  /** heartbeat's auto_failback is on: it gives a returning node its groups back itself. */
  autoFailback?: boolean;
}

export interface Facts {
  cluster: string;
  /** ISO time of the observation. */
  at: string;
  nodes: Record<string, NodeFacts>;
  /** HA resource id → nodes it is active on, from a node where HA runs; null when unknown. */
  haResources: Record<string, string[]> | null;
  /** Pacemaker's fencing history as last read (newest last), keyed for comparison. */
  fences: FenceFact[];
  memory: FactsMemory;
}

export interface FenceFact {
  key: string;
  target: string;
  action: string;
  status: string;
  delegate: string | null;
  completed: string | null;
}

export function emptyMemory(): FactsMemory {
  return { lastSeenOn: {}, fencedAt: {}, splitBrainReports: {}, recovering: {}, disconnectedSince: {} };
}

const HA_WORSE: Record<HaNodeStatus, number> = { unknown: 0, online: 1, standby: 2, offline: 3, unclean: 4 };

function fenceKey(f: FenceEvent): string {
  return [f.target, f.action, f.status, f.delegate ?? "", f.completed ?? ""].join("|");
}

/** The peer a DRBD side talks to: named by DRBD 9; for DRBD 8, the other node that has the resource. */
function peerOf(
  cluster: ClusterConfig,
  nodes: readonly NodeState[],
  node: string,
  res: DrbdResourceState,
): string | null {
  const named = res.peers[0]?.node;
  if (named) return named;
  const others = nodes.filter((n) => n.name !== node && n.drbd?.some((r) => r.name === res.name));
  if (others.length === 1) return others[0]?.name ?? null;
  const rest = cluster.nodes.filter((n) => n.name !== node);
  return rest.length === 1 ? (rest[0]?.name ?? null) : null;
}

export function drbdSide(
  cluster: ClusterConfig,
  nodes: readonly NodeState[],
  node: string,
  res: DrbdResourceState,
): DrbdSideFacts {
  const p = res.peers[0];
  return {
    role: res.role,
    disk: res.diskState,
    conn: p?.connectionState ?? "StandAlone",
    repl: p?.replicationState ?? null,
    peer: peerOf(cluster, nodes, node, res),
    peerRole: p?.role ?? "Unknown",
    peerDisk: p?.diskState ?? "DUnknown",
    oosKiB: p?.outOfSyncKiB ?? null,
    syncPercent: p?.sync?.percent ?? null,
    etaSec: p?.sync?.etaSec ?? null,
    unconfigured: res.unconfigured,
  };
}

function nodeFacts(cluster: ClusterConfig, state: ClusterState, node: NodeState): NodeFacts {
  const domains = node.domains;
  const guests = domains
    ? [...new Set(domains.filter((d) => d.guest && !d.isDom0 && !d.migration).map((d) => d.guest as string))]
    : null;
  const migrating = domains
    ? [...new Set(domains.filter((d) => d.guest && d.migration).map((d) => d.guest as string))]
    : [];
  let ha: NodeFacts["ha"] = null;
  for (const observer of state.nodes) {
    if (observer.name === node.name || !observer.ha?.running) continue;
    const seen = observer.ha.nodes.find((m) => m.name === node.name);
    if (!seen || seen.status === "unknown") continue;
    if (!ha || HA_WORSE[seen.status] > HA_WORSE[ha.status])
      ha = { status: seen.status, observer: observer.name, stack: observer.ha.stack };
  }
  if (!ha && node.ha?.running) {
    const self = node.ha.nodes.find((m) => m.name === node.name);
    if (self && self.status !== "unknown")
      ha = { status: self.status, observer: node.name, stack: node.ha.stack };
  }
  const drbd = node.drbd
    ? Object.fromEntries(node.drbd.map((r) => [r.name, drbdSide(cluster, state.nodes, node.name, r)]))
    : null;
  return {
    reachable: node.reachable,
    // Without the reconnect countdown the SSH pool appends, so the same failure reads the same.
    error: node.error?.message.replace(/\s*\(next attempt in \d+ ?ms\)/g, "") ?? null,
    ha,
    haRunning: node.ha ? node.ha.running : null,
    guests: guests?.sort() ?? null,
    migrating: migrating.sort(),
    drbd,
  };
}

/** Facts of a fresh snapshot; memory carried over from `previous` and brought up to date. */
export function factsFromState(cluster: ClusterConfig, state: ClusterState, previous: Facts | null): Facts {
  const nodes: Record<string, NodeFacts> = {};
  for (const node of state.nodes) nodes[node.name] = nodeFacts(cluster, state, node);
  const observer = state.nodes.find((n) => n.ha?.running && n.ha.resources.length > 0);
  const haResources = observer?.ha
    ? Object.fromEntries(observer.ha.resources.map((r) => [r.id, [...r.runningOn].sort()]))
    : null;
  const fenceSource = state.nodes.find((n) => n.ha?.running && fenceHistoryOf(n.ha));
  const fences = fenceSource?.ha
    ? fenceSource.ha.fenceHistory.map((f) => ({
        key: fenceKey(f),
        target: f.target,
        action: f.action,
        status: f.status,
        delegate: f.delegate,
        completed: f.completed,
      }))
    : (previous?.fences ?? []);
  return withMemory(
    { cluster: cluster.name, at: state.takenAt, nodes, haResources, fences, memory: emptyMemory() },
    previous,
  );
}

/** Replaces one node's DRBD facts (an events2 update) and brings the memory up to date. */
export function withNodeDrbd(
  cluster: ClusterConfig,
  facts: Facts,
  node: string,
  resources: readonly DrbdResourceState[],
  at: string,
): Facts {
  const current = facts.nodes[node];
  if (!current) return facts;
  // DRBD 8 peers are unnamed: infer them from the other nodes' last known resources.
  const pseudoNodes: NodeState[] = Object.entries(facts.nodes).map(([name, f]) => ({
    name,
    reachable: f.reachable,
    error: null,
    domains: null,
    domainsError: null,
    xenInfo: null,
    xenInfoError: null,
    drbd: f.drbd
      ? Object.keys(f.drbd).map((r) => ({
          name: r,
          minor: null,
          role: "Unknown" as const,
          diskState: "DUnknown",
          unconfigured: false,
          peers: [],
        }))
      : null,
    drbdError: null,
    ha: null,
    haError: null,
    durationMs: 0,
  }));
  const drbd = Object.fromEntries(resources.map((r) => [r.name, drbdSide(cluster, pseudoNodes, node, r)]));
  const next: Facts = {
    ...facts,
    at,
    nodes: { ...facts.nodes, [node]: { ...current, reachable: true, error: null, drbd } },
  };
  return withMemory(next, facts);
}

/** Carries `previous.memory` into `next`, updated with what `next` shows. */
export function withMemory(next: Facts, previous: Facts | null): Facts {
  const old = previous?.memory ?? emptyMemory();
  const memory: FactsMemory = {
    lastSeenOn: { ...old.lastSeenOn },
    fencedAt: { ...old.fencedAt },
    splitBrainReports: { ...old.splitBrainReports },
    recovering: { ...old.recovering },
    disconnectedSince: {},
    returned: { ...(old.returned ?? {}) },
    ...(old.haLog ? { haLog: structuredClone(old.haLog) } : {}),
  };
  const returned = memory.returned ?? {};
  for (const [name, n] of Object.entries(next.nodes)) {
    if (!nodeHealthy(n)) delete returned[name];
    else if (previous?.nodes[name] && !nodeHealthy(previous.nodes[name])) returned[name] = next.at;
  }
  // Where each guest runs: only a guest seen on exactly one node, and no node unknown that could
  // also have it... an unknown node cannot un-see it elsewhere, so one known location is enough.
  const seen = new Map<string, string[]>();
  for (const [name, n] of Object.entries(next.nodes))
    for (const g of n.guests ?? []) seen.set(g, [...(seen.get(g) ?? []), name]);
  // Not while it migrates: xm shows the incoming domain under the plain name before the move is done.
  const migrating = new Set(Object.values(next.nodes).flatMap((n) => n.migrating));
  for (const [g, where] of seen)
    if (where.length === 1 && where[0] && !migrating.has(g)) memory.lastSeenOn[g] = where[0];

  for (const [name, n] of Object.entries(next.nodes)) {
    // Back (answers and HA online): fencing is history.
    if (n.reachable && (n.ha === null || n.ha.status === "online")) delete memory.fencedAt[name];
  }
  for (const [name, n] of Object.entries(next.nodes)) {
    for (const [res, side] of Object.entries(n.drbd ?? {})) {
      const key = `${res}|${name}`;
      if (side.conn !== "Connected") memory.disconnectedSince[key] = old.disconnectedSince[key] ?? next.at;
    }
  }
  // A resource seen connected on every side after the report is no longer split.
  for (const [res, report] of Object.entries(memory.splitBrainReports)) {
    const sides = Object.values(next.nodes).flatMap((n) => (n.drbd?.[res] ? [n.drbd[res]] : []));
    const after = Date.parse(next.at) > Date.parse(report.at);
    if (after && sides.length > 0 && sides.every((s) => s.conn === "Connected"))
      delete memory.splitBrainReports[res];
  }
  for (const [res, r] of Object.entries(memory.recovering)) {
    const sides = Object.values(next.nodes).flatMap((n) => (n.drbd?.[res] ? [n.drbd[res]] : []));
    if (r.done && sides.length > 0 && sides.every((s) => s.conn === "Connected"))
      delete memory.recovering[res];
  }
  return { ...next, memory };
}

/** Every resource name any node reports, plus the declared ones. */
export function resourceNames(cluster: ClusterConfig, facts: Facts): string[] {
  const names = new Set(cluster.drbd.map((r) => r.name));
  for (const n of Object.values(facts.nodes)) for (const r of Object.keys(n.drbd ?? {})) names.add(r);
  return [...names].sort();
}

/** The sides of a resource: every node that reports it, with its facts. */
export function sidesOf(facts: Facts, resource: string): { node: string; side: DrbdSideFacts }[] {
  return Object.entries(facts.nodes)
    .flatMap(([node, n]) => {
      const side = n.drbd?.[resource];
      return side ? [{ node, side }] : [];
    })
    .sort((a, b) => compareText(a.node, b.node));
}

/** A node that is up as far as we know: answers, and HA (if any) does not call it dead. */
export function nodeHealthy(n: NodeFacts | undefined): boolean {
  return !!n && n.reachable && (n.ha === null || n.ha.status === "online" || n.ha.status === "standby");
}

/** A node the HA stack declares dead (offline or unclean). */
export function nodeDead(n: NodeFacts | undefined): boolean {
  return !!n?.ha && (n.ha.status === "offline" || n.ha.status === "unclean");
}
