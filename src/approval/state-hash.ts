/**
 * The state a plan depends on, and its hash. The approver approves a plan made on a particular cluster
 * state; the executing job re-reads the cluster and refuses (state_changed) when the hash differs. So the
 * hash covers what makes the plan right or wrong (where guests run, DRBD roles, connection and disk
 * states, HA node statuses) and nothing that changes on its own from one second to the next (CPU time,
 * running/blocked flicker, sync percent, speed, ETA, out-of-sync amount, memory ballooning).
 */
import { createHash } from "node:crypto";
import { sortedKeysJson } from "../canonical-json";
import { userMention } from "../message/text";
import type { ClusterState, Domain, DrbdResourceState, NodeState } from "../model";

/** sha256 (hex) of the canonical JSON of `parts`. */
export function stateHash(parts: unknown): string {
  return createHash("sha256").update(sortedKeysJson(parts)).digest("hex");
}

/** The first 12 hex digits, for cards and logs. */
export function shortHash(hash: string): string {
  return hash.slice(0, 12);
}

export interface RelevantDomain {
  name: string;
  guest: string | null;
  id: number | null;
  /** Running or blocked: both mean "alive", and they alternate constantly. */
  alive: boolean;
  paused: boolean;
  shutdown: boolean;
  crashed: boolean;
  dying: boolean;
  migration: string | null;
}

export interface RelevantDrbd {
  name: string;
  role: string;
  diskState: string;
  unconfigured: boolean;
  peers: {
    node: string | null;
    connectionState: string;
    replicationState: string | null;
    role: string;
    diskState: string;
  }[];
}

export interface RelevantNode {
  name: string;
  reachable: boolean;
  /** null: that part could not be read (not "none"). */
  domains: RelevantDomain[] | null;
  drbd: RelevantDrbd[] | null;
  /** HA node statuses as this node sees them; null when HA could not be read or is not running. */
  ha: { name: string; status: string }[] | null;
}

/** A proof that a node is off (src/operations/liveness.ts) the plan relies on; null: it has none. */
export interface RelevantOffProof {
  node: string;
  proof: { kind: string; at: string; by: string[]; approvalId: string | null } | null;
}

export interface RelevantState {
  cluster: string;
  nodes: RelevantNode[];
  /** Only when the plan relies on off-proofs (absent otherwise, so other hashes do not change). */
  offProofs?: RelevantOffProof[];
}

/** The part of an off-proof the state hash covers (structurally an OffProof). */
export interface OffProofLike {
  kind: string;
  at: string;
  by: string[];
  approvalId: string | null;
}

/** What a plan is about: guests (their domains), nodes (everything on them), DRBD resources. */
export interface StateFocus {
  guests?: readonly string[];
  nodes?: readonly string[];
  resources?: readonly string[];
  /** Nodes taken to run nothing because of an off-proof: the proofs are part of the state. */
  offProofNodes?: readonly string[];
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function pickDomain(d: Domain): RelevantDomain {
  return {
    name: d.name,
    guest: d.guest,
    id: d.id,
    alive: d.flags ? d.flags.running || d.flags.blocked : false,
    paused: d.flags?.paused ?? false,
    shutdown: d.flags?.shutdown ?? false,
    crashed: d.flags?.crashed ?? false,
    dying: d.flags?.dying ?? false,
    migration: d.migration,
  };
}

function pickDrbd(r: DrbdResourceState): RelevantDrbd {
  return {
    name: r.name,
    role: r.role,
    diskState: r.diskState,
    unconfigured: r.unconfigured,
    peers: r.peers
      .map((p) => ({
        node: p.node,
        connectionState: p.connectionState,
        replicationState: p.replicationState,
        role: p.role,
        diskState: p.diskState,
      }))
      .sort((a, b) => ((a.node ?? "") < (b.node ?? "") ? -1 : (a.node ?? "") > (b.node ?? "") ? 1 : 0)),
  };
}

function pickNode(node: NodeState, focus: StateFocus): RelevantNode {
  const whole = focus.nodes?.includes(node.name) ?? false;
  const guests = new Set(focus.guests ?? []);
  const resources = new Set(focus.resources ?? []);
  const domains =
    node.domains
      ?.filter((d) => !d.isDom0 && (whole || (d.guest !== null && guests.has(d.guest)) || guests.has(d.name)))
      .map(pickDomain)
      .sort(byName) ?? null;
  const drbd =
    node.drbd
      ?.filter((r) => whole || resources.has(r.name))
      .map(pickDrbd)
      .sort(byName) ?? null;
  const ha =
    node.ha?.running === true
      ? node.ha.nodes.map((n) => ({ name: n.name, status: n.status })).sort(byName)
      : null;
  return { name: node.name, reachable: node.reachable, domains, drbd, ha };
}

/**
 * The part of `state` a plan with this focus depends on. Every node is listed (its reachability and HA
 * view always matter); domains and DRBD resources only when focused, or all of them on a focused node.
 */
export function pickRelevantState(
  state: ClusterState,
  focus: StateFocus,
  proofs: Readonly<Record<string, OffProofLike | null>> = {},
): RelevantState {
  const relevant: RelevantState = {
    cluster: state.cluster,
    nodes: state.nodes.map((n) => pickNode(n, focus)).sort(byName),
  };
  const proofNodes = [...new Set(focus.offProofNodes ?? [])].sort();
  if (proofNodes.length > 0)
    relevant.offProofs = proofNodes.map((node) => {
      const p = proofs[node];
      return {
        node,
        proof: p ? { kind: p.kind, at: p.at, by: [...p.by], approvalId: p.approvalId } : null,
      };
    });
  return relevant;
}

/** A guest and the DRBD resources its disks use (migrate, create, failback). */
export function pickGuestState(
  state: ClusterState,
  guest: string,
  resources: readonly string[],
): RelevantState {
  return pickRelevantState(state, { guests: [guest], resources });
}

/** Everything on a node (fence, evacuate). */
export function pickNodeState(state: ClusterState, node: string): RelevantState {
  return pickRelevantState(state, { nodes: [node] });
}

/** DRBD resources on every node (split-brain recovery). */
export function pickResourceState(state: ClusterState, resources: readonly string[]): RelevantState {
  return pickRelevantState(state, { resources });
}

/** The hash of the focused state, as stored in ActionPlan.stateHash. */
export function planStateHash(
  state: ClusterState,
  focus: StateFocus,
  proofs: Readonly<Record<string, OffProofLike | null>> = {},
): string {
  return stateHash(pickRelevantState(state, focus, proofs));
}

/** One line per node for ActionPlan.stateSummary: "ics1: up; internet running; drbd internet Primary/UpToDate ...". */
export function summarizeRelevantState(relevant: RelevantState): string {
  const proofs = (relevant.offProofs ?? []).map((o) =>
    o.proof
      ? `${o.node}: ${o.proof.kind === "attested-off" ? "attested off" : "fenced"} at ${o.proof.at} (by ${o.proof.by.map((b) => (/^[UW][A-Z0-9]+$/.test(b) ? userMention(b) : b)).join(", ")})`
      : `${o.node}: no off-proof`,
  );
  const nodes = relevant.nodes.map((n) => {
    if (!n.reachable) return `${n.name}: unreachable`;
    const parts: string[] = [];
    if (n.domains === null) parts.push("domains unknown");
    else if (n.domains.length === 0) parts.push("no focused guests");
    else
      for (const d of n.domains) {
        const what =
          d.migration ?? (d.crashed ? "crashed" : d.paused ? "paused" : d.alive ? "running" : "not running");
        parts.push(`${d.guest ?? d.name} ${what}`);
      }
    if (n.drbd === null) parts.push("drbd unknown");
    else
      for (const r of n.drbd) {
        const peers = r.peers.map((p) => `${p.connectionState} ${p.role}/${p.diskState}`).join(", ");
        parts.push(`drbd ${r.name} ${r.role}/${r.diskState}${peers ? ` (peer ${peers})` : ""}`);
      }
    if (n.ha) parts.push(`HA ${n.ha.map((h) => `${h.name} ${h.status}`).join(", ")}`);
    return `${n.name}: ${parts.join("; ")}`;
  });
  return [...nodes, ...proofs].join("\n");
}
