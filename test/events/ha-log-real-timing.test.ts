/**
 * heartbeat's takeover and auto_failback as the real heartbeat logs them (lines from the real-HA
 * lab), read with real timing: a monitor pass lists a node's domains, then tails heartbeat's log, and
 * heartbeat can finish in between; or the home node's SSH is still coming back. xenops waits for the
 * guests to be seen (one more pass at most) instead of saying they do not run there, tells a failback
 * once its home node is read, and once only (the home's own lines about it come a pass later).
 */
import { describe, expect, it } from "vitest";
import { emptyMemory, type Facts, type NodeFacts } from "../../src/events/facts";
import { applyHaLogs } from "../../src/events/heartbeat";
import { referenceLab, Simulation } from "../../src/sim";
import { toClusterConfig } from "../../src/sim/cluster";

const sim = new Simulation(referenceLab());
const cluster = toClusterConfig(
  sim,
  sim.state.nodes.map((n, i) => ({ name: n.name, host: "127.0.0.1", port: 22000 + i, hostKeyLine: "" })),
  "/nonexistent/key",
  ["C0LAB"],
  undefined,
);

function node(guests: string[] | null): NodeFacts {
  return {
    reachable: guests !== null,
    error: guests === null ? "ssh_connect_failed" : null,
    ha: null,
    haRunning: guests === null ? null : true,
    guests,
    migrating: [],
    drbd: null,
  };
}

function facts(prev: Facts | null, ics2Guests: string[] | null, ics1Guests: string[] = []): Facts {
  return {
    cluster: "lab",
    at: new Date().toISOString(),
    nodes: { ics1: node(ics1Guests), ics2: node(ics2Guests) },
    haResources: null,
    fences: [],
    memory: prev ? structuredClone(prev.memory) : emptyMemory(),
  };
}

const ICS1_BEFORE = [
  "Dec 04 20:20:01 ics1 heartbeat: [20]: info: Status update for node ics2: status active",
];
const ICS1_FAILBACK = [
  ...ICS1_BEFORE,
  "Dec 04 20:22:53 ics1 heartbeat: [20]: info: ics1 wants to go standby [foreign]",
  "2026/12/04_20:22:54  ResourceManager(default)[426]:    info: Releasing resource group: ics2 drbddisk::internet xen-guest::internet",
  "Dec 04 20:23:14 ics1 heartbeat: [20]: info: Other node completed standby takeover of foreign resources.",
];
const ICS2_BEFORE = [
  "Dec 04 20:22:40 ics2 heartbeat: [238]: info: Configuration validated. Starting heartbeat 3.0.6",
];
const ICS2_FAILBACK = [
  ...ICS2_BEFORE,
  "Dec 04 20:22:53 ics2 heartbeat: [238]: info: ics1 wants to go standby [foreign]",
  "Dec 04 20:23:14 ics2 heartbeat: [238]: info: Standby resource acquisition done [foreign].",
];

/** One monitor pass from `prev` to `next`, with what it read of each log (null: the node did not answer). */
function pass(prev: Facts | null, next: Facts, ics1: string[] | null, ics2: string[] | null) {
  return applyHaLogs(cluster, prev, next, {
    logs: [
      { node: "ics1", lines: ics1 },
      { node: "ics2", lines: ics2 },
    ],
    autoFailback: true,
  });
}

/** The first pass: both logs read up to now (nothing to tell yet), with ics2 running `ics2Guests`. */
function baseline(ics2Guests: string[]): Facts {
  const base = facts(null, ics2Guests);
  pass(null, base, ICS1_BEFORE, ICS2_BEFORE);
  return base;
}

describe("heartbeat's failback read while its home node is not answering yet", () => {
  it("is posted once, when the home node is read, with the guest there", () => {
    const base = baseline([]);

    // ics1's log says the failback is over; ics2 does not answer over SSH yet: nothing is said.
    const early = facts(base, null);
    expect(pass(base, early, ICS1_FAILBACK, null).events).toEqual([]);

    // ics2 answers: internet runs there, and its own log has the same failback.
    const later = facts(early, ["internet"]);
    const second = pass(early, later, ICS1_FAILBACK, ICS2_FAILBACK);
    expect(second.events.map((e) => [e.kind, e.title, e.severity])).toEqual([
      ["ha_failback", "heartbeat migrated internet back to ics2", "info"],
    ]);
    expect(second.events[0]?.evidence).toContain("now: internet on ics2");

    // Nothing more about it in the next pass.
    const after = facts(later, ["internet"]);
    expect(pass(later, after, ICS1_FAILBACK, ICS2_FAILBACK).events).toEqual([]);
    expect(after.memory.haLog?.failbacks).toEqual({});
  });

  it("waits one more pass when the home node was listed a moment before the holder logged the end", () => {
    const base = baseline([]);
    // ics2 answered, but its domains were listed before internet arrived: nothing said yet.
    const early = facts(base, []);
    expect(pass(base, early, ICS1_FAILBACK, ICS2_FAILBACK).events).toEqual([]);
    // The next pass sees it there.
    const later = facts(early, ["internet"]);
    expect(pass(early, later, ICS1_FAILBACK, ICS2_FAILBACK).events.map((e) => e.title)).toEqual([
      "heartbeat migrated internet back to ics2",
    ]);
  });

  it("says a guest is not home when it is still missing a pass later", () => {
    const base = baseline([]);
    const early = facts(base, []);
    pass(base, early, ICS1_FAILBACK, ICS2_FAILBACK);
    const later = facts(early, []);
    expect(pass(early, later, ICS1_FAILBACK, ICS2_FAILBACK).events.map((e) => [e.title, e.severity])).toEqual(
      [["heartbeat gave internet back to ics2, but not all of them run there", "warning"]],
    );
  });
});

const ICS1_TAKEOVER = [
  ...ICS1_BEFORE,
  "Dec 04 20:41:05 ics1 heartbeat: [20]: WARN: node ics2: is dead",
  "Dec 04 20:41:05 ics1 heartbeat: [149]: info: Resetting node ics2 with [APCSmart]",
  "Dec 04 20:41:05 ics1 heartbeat: [149]: info: node ics2 now reset.",
  "Dec 04 20:41:05 ics1 heartbeat: [20]: info: Resources being acquired from ics2.",
  "2026/12/04_20:41:05  ResourceManager(default)[203]:    info: Acquiring resource group: ics2 drbddisk::internet xen-guest::internet",
  "2026/12/04_20:41:07  mach_down(default)[179]:    info: mach_down takeover complete for node ics2.",
  "Dec 04 20:41:07 ics1 heartbeat: [20]: info: mach_down takeover complete.",
];

describe("heartbeat's takeover read just before the survivor lists the guest", () => {
  it("waits one pass for the guest instead of saying it does not run there", () => {
    const base = baseline(["internet"]);
    // ics1's domains were listed before xen-guest started internet there.
    const early = facts(base, null, []);
    expect(pass(base, early, ICS1_TAKEOVER, null).events).toEqual([]);
    const later = facts(early, null, ["internet"]);
    const told = pass(early, later, ICS1_TAKEOVER, null).events;
    expect(told.map((e) => [e.kind, e.title, e.severity])).toEqual([
      ["ha_takeover", "heartbeat started internet on ics1 after ics2 died", "warning"],
    ]);
    expect(told[0]?.evidence).toEqual(
      expect.arrayContaining([
        "Dec 04 20:41:05 ics1 heartbeat: [149]: info: Resetting node ics2 with [APCSmart]",
        "now: internet on ics1",
      ]),
    );
  });
});
