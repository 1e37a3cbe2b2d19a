/**
 * Pure readings of a ClusterState that every operation needs: where a guest runs (under any of its
 * names), whether a DRBD resource is healthy on a node, whether a node is declared dead. "Unknown" is
 * always its own answer: a node whose domains could not be read is never taken to run nothing; only
 * a node proven off counts as running nothing (src/operations/liveness.ts).
 */
import type { ClusterConfig } from "../config/schema";
import type { ClusterState, Domain, DrbdResourceState, NodeState } from "../model";

export interface GuestPlacement {
  node: string;
  /** The domain as listed (its name may be `migrating-X`, `X--incoming`, `X--migratedaway`). */
  domain: Domain;
}

export interface GuestLocation {
  guest: string;
  /** Nodes with a domain of the guest, in any state and under any of its names. */
  on: GuestPlacement[];
  /** Nodes whose domain list is unknown (unreachable, or `xm list` failed or was unreadable). */
  unknown: string[];
}

export function nodeState(state: ClusterState, node: string): NodeState | undefined {
  return state.nodes.find((n) => n.name === node);
}

export function locateGuest(state: ClusterState, guest: string): GuestLocation {
  const on: GuestPlacement[] = [];
  const unknown: string[] = [];
  for (const n of state.nodes) {
    if (n.domains === null) {
      unknown.push(n.name);
      continue;
    }
    for (const d of n.domains)
      if (!d.isDom0 && (d.guest === guest || d.name === guest)) on.push({ node: n.name, domain: d });
  }
  return { guest, on, unknown };
}

/** Running (or blocked, or paused) under its plain name: not migrating, crashed, dying or shut down. */
export function runsPlainly(d: Domain): boolean {
  if (d.migration !== null || d.flags === null) return false;
  const f = d.flags;
  return !f.crashed && !f.dying && !f.shutdown;
}

/** How a domain is listed, for messages: "internet", "migrating-internet (migrating)", "internet (crashed)". */
export function describeDomain(d: Domain): string {
  if (d.migration !== null)
    return `${d.name} (${d.migration === "migrating" ? "migrating away" : d.migration})`;
  if (d.flags === null) return `${d.name} (state unknown)`;
  if (d.flags.crashed) return `${d.name} (crashed)`;
  if (d.flags.dying) return `${d.name} (dying)`;
  if (d.flags.shutdown) return `${d.name} (shut down)`;
  if (d.flags.paused) return `${d.name} (paused)`;
  return d.name;
}

/** "runs on ics2", "runs on ics1 (internet--incoming) and ics2", "runs nowhere", "...; unknown on ics3". */
export function describeLocation(loc: GuestLocation): string {
  const where =
    loc.on.length === 0
      ? "runs nowhere"
      : `runs on ${loc.on.map((p) => (describeDomain(p.domain) === loc.guest ? p.node : `${p.node} as ${describeDomain(p.domain)}`)).join(" and ")}`;
  return loc.unknown.length > 0
    ? `${loc.guest} ${where} as far as known; unknown on ${loc.unknown.join(", ")}`
    : `${loc.guest} ${where}`;
}

/** Exactly one known placement, on `node`, running plainly, and every node's list known. */
export function runsOnlyOn(loc: GuestLocation, node: string): boolean {
  const only = loc.on[0];
  return loc.unknown.length === 0 && loc.on.length === 1 && only?.node === node && runsPlainly(only.domain);
}

/** The guest's placement is settled (no migration names) — used while waiting after a migration. */
export function migrationSettled(loc: GuestLocation): boolean {
  return loc.on.every((p) => p.domain.migration === null);
}

/** HA verdicts about `node` from every observer whose HA stack runs. */
export function haVerdicts(state: ClusterState, node: string): { observer: string; status: string }[] {
  const out: { observer: string; status: string }[] = [];
  for (const n of state.nodes) {
    if (!n.ha?.running) continue;
    const seen = n.ha.nodes.find((x) => x.name === node);
    if (seen) out.push({ observer: n.name, status: seen.status });
  }
  return out;
}

export interface DeadVerdict {
  /** true: some running HA stack declares it offline/unclean; false: every view that knows it says online or standby; null: no view. */
  dead: boolean | null;
  detail: string;
}

/** Whether the HA stack declares `node` dead. Clusters without HA answer `dead: false` ("not declared"). */
export function declaredDead(cluster: ClusterConfig, state: ClusterState, node: string): DeadVerdict {
  if (cluster.toolstack.ha === "none") return { dead: false, detail: "no HA stack configured" };
  const verdicts = haVerdicts(state, node);
  const dead = verdicts.filter((v) => v.status === "offline" || v.status === "unclean");
  if (dead.length > 0)
    return { dead: true, detail: dead.map((v) => `${v.observer} sees ${node} ${v.status}`).join("; ") };
  const known = verdicts.filter((v) => v.status !== "unknown");
  if (known.length === 0)
    return { dead: null, detail: `no running ${cluster.toolstack.ha} view knows the status of ${node}` };
  return { dead: false, detail: known.map((v) => `${v.observer} sees ${node} ${v.status}`).join("; ") };
}

/** The resource on a node: the state, null when the node does not have it, undefined when unknown. */
export function drbdOn(
  state: ClusterState,
  node: string,
  resource: string,
): DrbdResourceState | null | undefined {
  const n = nodeState(state, node);
  if (!n || n.drbd === null) return undefined;
  return n.drbd.find((r) => r.name === resource) ?? null;
}

export interface DrbdHealth {
  ok: boolean;
  detail: string;
}

/**
 * Healthy for a live migration: Connected and Established (no resync), UpToDate on both sides, nothing
 * out of sync (an unknown out-of-sync amount fails).
 */
export function drbdHealthy(
  node: string,
  r: DrbdResourceState | null | undefined,
  resource: string,
): DrbdHealth {
  if (r === undefined) return { ok: false, detail: `DRBD state of ${node} unknown (could not be read)` };
  if (r === null) return { ok: false, detail: `${resource} is not configured on ${node}` };
  if (r.unconfigured) return { ok: false, detail: `${resource} is unconfigured on ${node}` };
  const peer = r.peers[0];
  if (!peer) return { ok: false, detail: `${resource} on ${node} has no peer connection` };
  if (r.peers.length > 1)
    return {
      ok: false,
      detail: `${resource} on ${node} has ${r.peers.length} peers; xenops migrates two-node resources only`,
    };
  if (peer.connectionState === "StandAlone")
    return {
      ok: false,
      detail: `${resource} on ${node} is StandAlone (split brain suspected, or disconnected by hand)`,
    };
  if (peer.connectionState !== "Connected")
    return { ok: false, detail: `${resource} on ${node} is ${peer.connectionState}, not Connected` };
  if (peer.replicationState !== null && peer.replicationState !== "Established") {
    const pct = peer.sync?.percent;
    return {
      ok: false,
      detail: `${resource} on ${node} is ${peer.replicationState}${pct !== null && pct !== undefined ? ` (${pct}% done)` : ""}: a resync is running`,
    };
  }
  if (r.diskState !== "UpToDate" || peer.diskState !== "UpToDate")
    return {
      ok: false,
      detail: `${resource} on ${node} is ${r.diskState}/${peer.diskState}, not UpToDate/UpToDate`,
    };
  if (peer.outOfSyncKiB === null)
    return { ok: false, detail: `${resource} on ${node}: out-of-sync amount unknown` };
  if (peer.outOfSyncKiB > 0)
    return { ok: false, detail: `${resource} on ${node}: ${peer.outOfSyncKiB} KiB out of sync` };
  return { ok: true, detail: `${resource} on ${node}: ${r.role}, Connected, UpToDate/UpToDate, in sync` };
}

/**
 * The memory a guest needs on a node it moves to: what its running domain uses now per `xm list` /
 * `xl list` (ballooning, `mem-set` and a config edited since make the inventory's figure stale); the
 * inventory's `memoryMiB` only for a guest that runs nowhere. null when unknown (a running domain
 * whose memory could not be read is not replaced by the inventory's figure).
 */
export function guestMemory(
  cluster: ClusterConfig,
  state: ClusterState,
  guest: string,
): { mib: number | null; source: string } {
  const on = locateGuest(state, guest).on;
  if (on.length > 0) {
    const live = on.find((p) => runsPlainly(p.domain) && p.domain.memoryMiB !== null) ?? on[0];
    const mib = live?.domain.memoryMiB ?? null;
    return {
      mib,
      source:
        mib === null
          ? `the memory of its running domain on ${live?.node ?? "?"} could not be read`
          : `what it uses now on ${live?.node ?? "?"} per the domain list`,
    };
  }
  const configured = cluster.guests.find((g) => g.name === guest)?.memoryMiB;
  return configured !== undefined
    ? { mib: configured, source: "memoryMiB in the inventory (it runs nowhere)" }
    : { mib: null, source: "it runs nowhere and the inventory has no memoryMiB" };
}

/** guestMemory's figure alone. */
export function guestMemoryMiB(cluster: ClusterConfig, state: ClusterState, guest: string): number | null {
  return guestMemory(cluster, state, guest).mib;
}

/** Healthy enough to act: reachable and not declared dead by HA. */
export function healthyNode(
  cluster: ClusterConfig,
  state: ClusterState,
  node: string,
): { ok: boolean; detail: string } {
  const n = nodeState(state, node);
  if (!n) return { ok: false, detail: `${node} is not in the snapshot` };
  if (!n.reachable)
    return { ok: false, detail: `${node} does not answer over SSH (${n.error?.message ?? "unreachable"})` };
  const dead = declaredDead(cluster, state, node);
  if (dead.dead === true) return { ok: false, detail: `${node} is declared dead: ${dead.detail}` };
  return { ok: true, detail: `${node} answers; ${dead.detail}` };
}
