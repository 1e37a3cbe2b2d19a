/**
 * Node states for the pure tests of fencing and liveness: whether a node answered over SSH, and what
 * its own HA view (running) says of the members. A node that did not answer has no HA view.
 */
import type { ClusterState, FenceEvent, HaNodeStatus, NodeState } from "../../src/model";

export interface SeenByHa {
  stack: "heartbeat" | "pacemaker";
  /** The status this node's view gives each member, in the view's order. */
  sees: Record<string, HaNodeStatus>;
  /** The fence history the view carries (Pacemaker's); none by default. */
  fences?: FenceEvent[];
}

/** A node with no guests and no DRBD resources when it answers; everything unknown when it does not. */
export function haNode(name: string, reachable: boolean, ha: SeenByHa | null): NodeState {
  return {
    name,
    reachable,
    error: reachable ? null : { code: "ssh_connect_failed", message: "connection refused" },
    domains: reachable ? [] : null,
    domainsError: null,
    xenInfo: null,
    xenInfoError: null,
    drbd: reachable ? [] : null,
    drbdError: null,
    ha:
      reachable && ha
        ? {
            stack: ha.stack,
            observer: name,
            running: true,
            dc: null,
            nodes: Object.entries(ha.sees).map(([n, status]) => ({ name: n, status })),
            resources: [],
            localResources: null,
            fenceHistory: ha.fences ?? [],
          }
        : null,
    haError: null,
    durationMs: 1,
  };
}

/** A snapshot of cluster `lab` taken at 2030-01-01 12:00 UTC. */
export function clusterState(...nodes: NodeState[]): ClusterState {
  return { cluster: "lab", takenAt: "2030-01-01T12:00:00.000Z", nodes, warnings: [] };
}
