/**
 * One meaning of "down". A node that does not answer is not known to run nothing: it may be cut off
 * from us (and from its peer) while its guests keep writing. Only two things prove a node off:
 *
 *  - `fenced`: a fence xenops verified with evidence that did not hold before the fence (the device's
 *    power status read back as off, Pacemaker's fencer recording the fence, or the node seen alive right
 *    before the fence and gone after it), or Pacemaker's fence history recording a successful fence of
 *    the node while the node is unreachable and Pacemaker calls it (cleanly) offline;
 *  - `attested-off`: two approvers attested that someone checked it is powered off (`/xen attest-off`).
 *
 * heartbeat's "dead" verdict alone never proves anything: heartbeat only stopped hearing the node.
 *
 * A proof is void as soon as the node is seen alive (SSH answers, or an HA view says online/standby):
 * nodeLiveness ignores it then, and one store method clears it, OffProofStore.clearSeenAlive, on every
 * snapshot that decides or watches: the planner's before it reads the proofs (plan.ts gatherFacts),
 * and the monitor's every few seconds (so a node that came back and went silent again before anyone
 * planned anything does not keep a proof from before).
 */
import type { ClusterConfig } from "../config/schema";
import { fenceHistoryOf } from "../drivers/registry";
import { userMention } from "../message/text";
import type { ClusterState } from "../model";
import { haVerdicts, nodeState } from "./locate";

export type LivenessKind = "alive" | "unreachable" | "declared-dead" | "fenced" | "attested-off";

export interface OffProof {
  kind: "fenced" | "attested-off";
  /** ISO time the proof was established. */
  at: string;
  /** Slack user IDs (the approvers of the fence or the attestation), or "heartbeat"/"pacemaker". */
  by: string[];
  /** What showed it off (power status, fence history, SSH gone after being seen alive, a human). */
  evidence: string[];
  /** The approval the fence or attestation ran under; null when read from the HA stack. */
  approvalId: string | null;
}

export interface Liveness {
  node: string;
  kind: LivenessKind;
  detail: string;
  /** The proof `fenced`/`attested-off` rely on (stored, or read from Pacemaker's history); else null. */
  proof: OffProof | null;
}

/** Only a fenced or attested-off node counts as running nothing. */
export function provenOff(l: Liveness): boolean {
  return (l.kind === "fenced" || l.kind === "attested-off") && l.proof !== null;
}

/** Seen alive: SSH answers, or an HA view (other than its own) says it is online or in standby. */
export function seenAlive(state: ClusterState, node: string): { alive: boolean; detail: string } {
  const n = nodeState(state, node);
  if (n?.reachable) return { alive: true, detail: `${node} answers over SSH` };
  const up = haVerdicts(state, node).filter(
    (v) => v.observer !== node && (v.status === "online" || v.status === "standby"),
  );
  if (up.length > 0)
    return {
      alive: true,
      detail: `${node} does not answer over SSH, but ${up.map((v) => `${v.observer} sees it ${v.status}`).join(", ")}`,
    };
  return { alive: false, detail: `${node} does not answer over SSH${n?.error ? ` (${n.error.code})` : ""}` };
}

/**
 * The number of successful fences of `node` in the HA stack's fence history (Pacemaker's: the largest
 * any running view that keeps a history shows); null when no such view was read.
 */
export function recordedFenceCount(state: ClusterState, node: string): number | null {
  let count: number | null = null;
  for (const o of state.nodes) {
    const ha = o.ha;
    if (!o.reachable || !ha?.running || !fenceHistoryOf(ha)) continue;
    const n = ha.fenceHistory.filter((f) => f.target === node && f.status === "success").length;
    count = Math.max(count ?? 0, n);
  }
  return count;
}

/**
 * The HA stack's fencer (Pacemaker's) recorded a successful fence of `node` (its latest fence event for
 * the node) and a running view of that stack calls it offline — not UNCLEAN, which means "needs fencing".
 * `countWhenAlive`: the fence count (recordedFenceCount) when the node was last seen alive; the
 * history keeps fences from before the node came back, and Pacemaker calls a node offline without a
 * new fence when stonith is disabled or Pacemaker stopped cleanly on it, so only a success recorded
 * since counts.
 */
export function recordedFence(state: ClusterState, node: string, countWhenAlive?: number): OffProof | null {
  for (const o of state.nodes) {
    const ha = o.ha;
    if (o.name === node || !o.reachable || !ha?.running || !fenceHistoryOf(ha)) continue;
    if (ha.nodes.find((x) => x.name === node)?.status !== "offline") continue;
    const events = ha.fenceHistory.filter((f) => f.target === node);
    const last = events[events.length - 1];
    if (last?.status !== "success") continue;
    const successes = events.filter((f) => f.status === "success").length;
    if (countWhenAlive !== undefined && successes <= countWhenAlive) continue;
    return {
      kind: "fenced",
      at: last.completed ?? state.takenAt,
      by: [ha.stack],
      evidence: [
        `${ha.stack} on ${o.name}: the fencer recorded a successful ${last.action} of ${node}${last.completed ? ` at ${last.completed}` : ""}${last.delegate ? ` (by ${last.delegate})` : ""}`,
        `${ha.stack} on ${o.name} sees ${node} offline`,
      ],
      approvalId: null,
    };
  }
  return null;
}

/** How a proof reads on a card: "ics2 attested off by <@U1>, <@U2> at …" / "ics2 fenced at … (evidence: …)". */
export function describeProof(node: string, proof: OffProof): string {
  const people = proof.by.filter((b) => /^[UW][A-Z0-9]+$/.test(b)).map(userMention);
  if (proof.kind === "attested-off")
    return `${node} attested off by ${people.join(", ") || proof.by.join(", ")} at ${proof.at}${proof.evidence.length ? ` (${proof.evidence.join("; ")})` : ""}`;
  return `${node} fenced at ${proof.at}${people.length ? ` (approved by ${people.join(", ")})` : ""} (evidence: ${proof.evidence.join("; ") || "none recorded"})`;
}

/** The way forward for a node that is not proven off. */
export function wayForward(node: string): string {
  return `fence it with \`/xen fence ${node}\`, or \`/xen attest-off ${node}\` once someone has checked it is powered off`;
}

export function nodeLiveness(
  cluster: ClusterConfig,
  state: ClusterState,
  node: string,
  proofs: Readonly<Record<string, OffProof | null>>,
  /** Per node, Pacemaker's fence count when it was last seen alive (OffProofStore.aliveFenceCounts). */
  aliveFenceCounts: Readonly<Record<string, number>> = {},
): Liveness {
  const alive = seenAlive(state, node);
  const stored = proofs[node] ?? null;
  if (alive.alive)
    return {
      node,
      kind: "alive",
      detail: stored ? `${alive.detail}; its ${stored.kind} proof of ${stored.at} is void` : alive.detail,
      proof: null,
    };
  if (stored) return { node, kind: stored.kind, detail: describeProof(node, stored), proof: stored };
  const recorded = recordedFence(state, node, aliveFenceCounts[node]);
  if (recorded) return { node, kind: "fenced", detail: describeProof(node, recorded), proof: recorded };
  if (!nodeState(state, node))
    return { node, kind: "unreachable", detail: `${node} is not in the snapshot`, proof: null };
  if (cluster.toolstack.ha !== "none") {
    const dead = haVerdicts(state, node).filter(
      (v) => v.observer !== node && (v.status === "offline" || v.status === "unclean"),
    );
    if (dead.length > 0)
      return {
        node,
        kind: "declared-dead",
        detail: `${alive.detail}; ${dead.map((v) => `${cluster.toolstack.ha} on ${v.observer} declares it ${v.status === "unclean" ? "UNCLEAN" : "dead"}`).join(", ")}, which only says it went silent`,
        proof: null,
      };
  }
  return { node, kind: "unreachable", detail: alive.detail, proof: null };
}

/** "ics2 is not proven off (why): fence it with …, or … once someone has checked it is powered off". */
export function notProvenOff(l: Liveness): string {
  return `${l.node} is not proven off (${l.detail}): ${wayForward(l.node)}`;
}

/** Nodes whose stored proof the state voids (seen alive). */
export function voidedProofs(
  state: ClusterState,
  proofs: Readonly<Record<string, OffProof | null>>,
): string[] {
  return Object.entries(proofs)
    .filter(([node, p]) => p !== null && seenAlive(state, node).alive)
    .map(([node]) => node);
}
