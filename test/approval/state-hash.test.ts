import { describe, expect, it } from "vitest";
import {
  pickGuestState,
  pickNodeState,
  pickResourceState,
  planStateHash,
  shortHash,
  stateHash,
  summarizeRelevantState,
} from "../../src/approval/state-hash";
import { sortedKeysJson } from "../../src/canonical-json";
import type { ClusterState, Domain, DrbdResourceState, NodeState } from "../../src/model";

function domain(name: string, overrides: Partial<Domain> = {}): Domain {
  return {
    name,
    guest: name === "Domain-0" ? null : name,
    id: name === "Domain-0" ? 0 : 7,
    memoryMiB: 3070,
    vcpus: 1,
    state: "-b----",
    flags: { running: false, blocked: true, paused: false, shutdown: false, crashed: false, dying: false },
    timeSec: 1234.5,
    migration: null,
    isDom0: name === "Domain-0",
    ...overrides,
  };
}

function drbd(
  name: string,
  role: "Primary" | "Secondary",
  peerRole: "Primary" | "Secondary",
): DrbdResourceState {
  return {
    name,
    minor: 0,
    role,
    diskState: "UpToDate",
    unconfigured: false,
    peers: [
      {
        node: null,
        connectionState: "Connected",
        replicationState: "Established",
        role: peerRole,
        diskState: "UpToDate",
        outOfSyncKiB: 0,
        sync: null,
      },
    ],
  };
}

function node(name: string, domains: Domain[], resources: DrbdResourceState[]): NodeState {
  return {
    name,
    reachable: true,
    error: null,
    domains: [domain("Domain-0"), ...domains],
    domainsError: null,
    xenInfo: null,
    xenInfoError: null,
    drbd: resources,
    drbdError: null,
    ha: {
      stack: "heartbeat",
      observer: name,
      running: true,
      dc: null,
      nodes: [
        { name: "ics1", status: "online" },
        { name: "ics2", status: "online" },
      ],
      resources: [],
      localResources: "all",
      fenceHistory: [],
    },
    haError: null,
    durationMs: 42,
  };
}

function cluster(): ClusterState {
  return {
    cluster: "lab",
    takenAt: "2030-01-01T12:00:00Z",
    nodes: [
      node(
        "ics1",
        [domain("mail")],
        [drbd("internet", "Secondary", "Primary"), drbd("mail", "Primary", "Secondary")],
      ),
      node(
        "ics2",
        [domain("internet")],
        [drbd("internet", "Primary", "Secondary"), drbd("mail", "Secondary", "Primary")],
      ),
    ],
    warnings: [],
  };
}

const guestHash = (s: ClusterState) => stateHash(pickGuestState(s, "internet", ["internet"]));

describe("stateHash", () => {
  it("is sha256 of canonical JSON: key order does not matter, array order does", () => {
    expect(sortedKeysJson({ b: 1, a: { d: [2, 1], c: undefined } })).toBe('{"a":{"d":[2,1]},"b":1}');
    expect(stateHash({ a: 1, b: 2 })).toBe(stateHash({ b: 2, a: 1 }));
    expect(stateHash([1, 2])).not.toBe(stateHash([2, 1]));
    expect(stateHash({})).toMatch(/^[0-9a-f]{64}$/);
    expect(shortHash(stateHash({}))).toHaveLength(12);
  });

  it("ignores volatile things: cpu time, running/blocked, memory, sync progress, timestamps, node order", () => {
    const base = guestHash(cluster());
    const s = cluster();
    s.takenAt = "2031-01-01T00:00:00Z";
    const ics2 = s.nodes[1]!;
    const internet = ics2.domains![1]!;
    internet.timeSec = 99_999;
    internet.state = "r-----";
    internet.flags = { ...internet.flags!, running: true, blocked: false };
    internet.memoryMiB = 2048;
    const peer = ics2.drbd![0]!.peers[0]!;
    peer.outOfSyncKiB = 4096;
    peer.sync = { percent: 42.1, etaSec: 60, speedKiBps: 10_000 };
    ics2.durationMs = 900;
    s.nodes.reverse();
    expect(guestHash(s)).toBe(base);
  });

  it("changes when the guest moves, a DRBD role/connection/disk state changes, or an HA node goes away", () => {
    const base = guestHash(cluster());
    const moved = cluster();
    moved.nodes[1]!.domains = [domain("Domain-0")];
    moved.nodes[0]!.domains!.push(domain("internet"));
    expect(guestHash(moved)).not.toBe(base);

    const role = cluster();
    role.nodes[0]!.drbd![0]!.role = "Primary";
    expect(guestHash(role)).not.toBe(base);

    const standalone = cluster();
    standalone.nodes[0]!.drbd![0]!.peers[0]!.connectionState = "StandAlone";
    expect(guestHash(standalone)).not.toBe(base);

    const disk = cluster();
    disk.nodes[1]!.drbd![0]!.diskState = "Inconsistent";
    expect(guestHash(disk)).not.toBe(base);

    const ha = cluster();
    ha.nodes[0]!.ha!.nodes[1]!.status = "offline";
    expect(guestHash(ha)).not.toBe(base);

    const unreachable = cluster();
    unreachable.nodes[0]!.reachable = false;
    expect(guestHash(unreachable)).not.toBe(base);

    const paused = cluster();
    paused.nodes[1]!.domains![1]!.flags!.paused = true;
    expect(guestHash(paused)).not.toBe(base);
  });

  it("ignores guests and resources outside the focus, but a node focus covers everything on the node", () => {
    const base = guestHash(cluster());
    const other = cluster();
    other.nodes[0]!.domains = [domain("Domain-0")];
    other.nodes[0]!.drbd![1]!.role = "Secondary";
    expect(guestHash(other)).toBe(base);
    expect(stateHash(pickNodeState(other, "ics1"))).not.toBe(stateHash(pickNodeState(cluster(), "ics1")));
    expect(stateHash(pickResourceState(other, ["mail"]))).not.toBe(
      stateHash(pickResourceState(cluster(), ["mail"])),
    );
    expect(planStateHash(cluster(), { guests: ["internet"], resources: ["internet"] })).toBe(base);
  });

  it("summarizes the focused state for the card", () => {
    expect(summarizeRelevantState(pickGuestState(cluster(), "internet", ["internet"]))).toBe(
      [
        "ics1: no focused guests; drbd internet Secondary/UpToDate (peer Connected Primary/UpToDate); HA ics1 online, ics2 online",
        "ics2: internet running; drbd internet Primary/UpToDate (peer Connected Secondary/UpToDate); HA ics1 online, ics2 online",
      ].join("\n"),
    );
  });
});
