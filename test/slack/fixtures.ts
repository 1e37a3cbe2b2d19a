/** ClusterState builders for renderer tests; every state is validated against the model schema. */
import {
  ClusterState,
  type ClusterWarning,
  type Domain,
  type DrbdResourceState,
  type HaView,
  type NodeState,
} from "../../src/model";

export function domain(name: string, over: Partial<Domain> = {}): Domain {
  const isDom0 = name === "Domain-0";
  return {
    name,
    guest: isDom0 ? null : name.replace(/^migrating-/, ""),
    id: isDom0 ? 0 : 3,
    memoryMiB: isDom0 ? 1024 : 512,
    vcpus: isDom0 ? 2 : 1,
    state: isDom0 ? "r-----" : "-b----",
    flags: null,
    timeSec: 12.5,
    migration: null,
    isDom0,
    ...over,
  };
}

export function drbd(
  name: string,
  over: Partial<DrbdResourceState> = {},
  peer: Record<string, unknown> = {},
): DrbdResourceState {
  return {
    name,
    minor: 0,
    role: "Primary",
    diskState: "UpToDate",
    unconfigured: false,
    peers: [
      {
        node: null,
        connectionState: "Connected",
        replicationState: "Established",
        role: "Secondary",
        diskState: "UpToDate",
        outOfSyncKiB: 0,
        sync: null,
        ...peer,
      } as DrbdResourceState["peers"][number],
    ],
    ...over,
  };
}

export function ha(observer: string, members: string[], over: Partial<HaView> = {}): HaView {
  return {
    stack: "heartbeat",
    observer,
    running: true,
    dc: members[0] ?? null,
    nodes: members.map((name) => ({ name, status: "online" as const })),
    resources: [
      { id: "xen-web1", agent: "Xen", runningOn: [members[0] ?? observer], role: null, failed: false },
    ],
    localResources: "all",
    fenceHistory: [],
    ...over,
  };
}

export function node(name: string, over: Partial<NodeState> = {}): NodeState {
  return {
    name,
    reachable: true,
    error: null,
    domains: [domain("Domain-0"), domain(`web-${name}`)],
    domainsError: null,
    xenInfo: {
      host: name,
      release: "2.6.18-xen",
      xenVersion: "3.0.3",
      xenMajor: 3,
      xenMinor: 0,
      totalMemoryMiB: 16384,
      freeMemoryMiB: 2048,
      nrCpus: 8,
      raw: {},
    },
    xenInfoError: null,
    drbd: [drbd("r0")],
    drbdError: null,
    ha: ha(name, ["ics1", "ics2"]),
    haError: null,
    durationMs: 120,
    ...over,
  };
}

export function warning(
  over: Partial<ClusterWarning> & Pick<ClusterWarning, "kind" | "severity" | "message">,
): ClusterWarning {
  return { node: null, resource: null, guest: null, percent: null, ...over };
}

export function cluster(nodes: NodeState[], warnings: ClusterWarning[] = [], name = "lab"): ClusterState {
  return ClusterState.parse({ cluster: name, takenAt: "2024-05-01T12:34:56.789Z", nodes, warnings });
}
