import { describe, expect, it } from "vitest";
import { deriveWarnings } from "../../src/cluster/warnings";
import { ClusterConfig } from "../../src/config/schema";
import type { Domain, DrbdPeer, DrbdResourceState, NodeState } from "../../src/model";

const cluster = ClusterConfig.parse({
  name: "lab",
  channels: ["C0LAB"],
  toolstack: { hypervisor: "xm", drbd: 8, ha: "heartbeat" },
  nodes: ["ics1", "ics2"].map((name) => ({
    name,
    host: "127.0.0.1",
    privateKey: { file: "/dev/null" },
    hostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
  })),
  drbd: [{ name: "internet", minor: 0 }],
  guests: [{ name: "internet", home: "ics2", drbd: ["internet"] }],
});

function dom(name: string, guest: string | null, migration: Domain["migration"] = null): Domain {
  return {
    name,
    guest,
    id: 1,
    memoryMiB: 3070,
    vcpus: 2,
    state: "-b----",
    flags: null,
    timeSec: 1,
    migration,
    isDom0: false,
  };
}

function peer(overrides: Partial<DrbdPeer> = {}): DrbdPeer {
  return {
    node: null,
    connectionState: "Connected",
    replicationState: "Established",
    role: "Secondary",
    diskState: "UpToDate",
    outOfSyncKiB: 0,
    sync: null,
    ...overrides,
  };
}

function res(
  role: DrbdResourceState["role"],
  overrides: Partial<DrbdResourceState> = {},
  p: Partial<DrbdPeer> = {},
): DrbdResourceState {
  return {
    name: "internet",
    minor: 0,
    role,
    diskState: "UpToDate",
    unconfigured: false,
    peers: [peer(p)],
    ...overrides,
  };
}

function node(name: string, overrides: Partial<NodeState> = {}): NodeState {
  return {
    name,
    reachable: true,
    error: null,
    domains: [],
    domainsError: null,
    xenInfo: null,
    xenInfoError: null,
    drbd: [],
    drbdError: null,
    ha: null,
    haError: null,
    durationMs: 1,
    ...overrides,
  };
}

const healthy = () => [
  node("ics1", { drbd: [res("Secondary", {}, { role: "Primary" })] }),
  node("ics2", { domains: [dom("internet", "internet")], drbd: [res("Primary")] }),
];

describe("deriveWarnings", () => {
  it("says nothing about a healthy cluster", () => {
    expect(deriveWarnings(cluster, healthy())).toEqual([]);
  });

  it("puts an unreachable node first, as critical, and does not judge its unknown parts", () => {
    const nodes = healthy();
    nodes[0] = node("ics1", {
      reachable: false,
      error: { code: "ssh_timeout", message: "timed out" },
      domains: null,
      drbd: null,
    });
    const w = deriveWarnings(cluster, nodes);
    expect(w.map((x) => [x.kind, x.severity, x.node])).toEqual([["node_unreachable", "critical", "ics1"]]);
  });

  it("reports a part that could not be read as unknown, not as empty", () => {
    const nodes = healthy();
    nodes[1] = {
      ...nodes[1]!,
      domains: null,
      domainsError: { code: "parse_error", message: "xm-list: line 3: bad row" },
    };
    const w = deriveWarnings(cluster, nodes);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ kind: "state_unknown", node: "ics2" });
    expect(w[0]!.message).toContain("domains unknown (parse_error)");
  });

  it("reports resync with percent and the Inconsistent side", () => {
    const nodes = [
      node("ics1", {
        drbd: [
          res(
            "Secondary",
            { diskState: "Inconsistent" },
            {
              replicationState: "SyncTarget",
              role: "Primary",
              sync: { percent: 34.9, etaSec: 22, speedKiBps: 61440 },
            },
          ),
        ],
      }),
      node("ics2", {
        domains: [dom("internet", "internet")],
        drbd: [
          res(
            "Primary",
            {},
            {
              replicationState: "SyncSource",
              diskState: "Inconsistent",
              sync: { percent: 34.9, etaSec: 22, speedKiBps: 61440 },
            },
          ),
        ],
      }),
    ];
    const kinds = deriveWarnings(cluster, nodes).map(
      (x) => `${x.severity}:${x.kind}:${x.node}:${x.percent ?? ""}`,
    );
    expect(kinds).toContain("warning:disk_inconsistent:ics1:");
    expect(kinds).toContain("info:resync_running:ics1:34.9");
    expect(kinds).toContain("info:resync_running:ics2:34.9");
  });

  it("suspects split-brain when both sides are StandAlone, critical first", () => {
    const sa = {
      connectionState: "StandAlone",
      replicationState: null,
      role: "Unknown" as const,
      diskState: "DUnknown",
    };
    const nodes = [
      node("ics1", { drbd: [res("Primary", {}, sa)] }),
      node("ics2", { domains: [dom("internet", "internet")], drbd: [res("Primary", {}, sa)] }),
    ];
    const w = deriveWarnings(cluster, nodes);
    expect(w.map((x) => x.kind)).toEqual(["standalone", "standalone", "split_brain_suspected"]);
    expect(w.every((x) => x.severity === "critical")).toBe(true);
  });

  it("flags a guest on two nodes and a guest on a Secondary", () => {
    const nodes = [
      node("ics1", {
        domains: [dom("internet", "internet")],
        drbd: [res("Secondary", {}, { role: "Primary" })],
      }),
      node("ics2", { domains: [dom("internet", "internet")], drbd: [res("Primary")] }),
    ];
    const kinds = deriveWarnings(cluster, nodes).map((x) => `${x.kind}:${x.node ?? ""}`);
    expect(kinds).toEqual(["guest_on_two_nodes:", "guest_on_secondary:ics1"]);
  });

  it("treats a live migration's names as migrating, not as two writers", () => {
    const nodes = [
      node("ics1", {
        domains: [dom("internet", "internet")],
        drbd: [res("Primary", {}, { role: "Primary" })],
      }),
      node("ics2", {
        domains: [dom("migrating-internet", "internet", "migrating")],
        drbd: [res("Primary", {}, { role: "Primary" })],
      }),
    ];
    expect(deriveWarnings(cluster, nodes).map((x) => x.kind)).toEqual(["guest_migrating"]);
  });

  it("reports a node declared dead by HA and a declared resource missing on a node", () => {
    const nodes = healthy();
    nodes[0] = {
      ...nodes[0]!,
      drbd: [],
      ha: {
        stack: "heartbeat",
        observer: "ics1",
        running: true,
        dc: null,
        nodes: [
          { name: "ics1", status: "online" },
          { name: "ics2", status: "offline" },
        ],
        resources: [],
        localResources: "all",
        fenceHistory: [],
      },
    };
    const w = deriveWarnings(cluster, nodes).map((x) => `${x.severity}:${x.kind}:${x.node}`);
    expect(w).toEqual(["critical:node_dead:ics2", "warning:disk_degraded:ics1"]);
  });
});
