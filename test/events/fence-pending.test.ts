/**
 * Pacemaker's fence history while a fence is under way: the real crm_mon lists it `pending` until the
 * fencer is done (seen on the real-HA lab, where apcsmart waits out the UPS's grace delay). That is
 * not a failed fence: nothing is said, and the success that follows is told once.
 */
import { describe, expect, it } from "vitest";
import { happenings } from "../../src/events/detect";
import { emptyMemory, type Facts, type FenceFact, type NodeFacts } from "../../src/events/facts";
import { modernLab, Simulation } from "../../src/sim";
import { toClusterConfig } from "../../src/sim/cluster";

const sim = new Simulation(modernLab());
const cluster = toClusterConfig(
  sim,
  sim.state.nodes.map((n, i) => ({ name: n.name, host: "127.0.0.1", port: 22000 + i, hostKeyLine: "" })),
  "/nonexistent/key",
  ["C0LAB"],
  undefined,
);

const node: NodeFacts = {
  reachable: true,
  error: null,
  ha: null,
  haRunning: true,
  guests: [],
  migrating: [],
  drbd: null,
};

function facts(fences: FenceFact[]): Facts {
  return {
    cluster: "modern",
    at: new Date().toISOString(),
    nodes: { hv1: node, hv2: { ...node, reachable: false, guests: null, haRunning: null } },
    haResources: null,
    fences,
    memory: emptyMemory(),
  };
}

const fence = (status: string, completed: string | null): FenceFact => ({
  key: ["hv2", "reboot", status, status === "pending" ? "" : "hv1", completed ?? ""].join("|"),
  target: "hv2",
  action: "reboot",
  status,
  delegate: status === "pending" ? null : "hv1",
  completed,
});

describe("Pacemaker's fence history", () => {
  it("a pending fence is not reported as failed; its success is reported when it lands", () => {
    const before = facts([]);
    const pending = facts([fence("pending", null)]);
    expect(happenings(cluster, before, pending)).toEqual([]);
    const done = facts([fence("success", "2026-12-04 20:23:54Z")]);
    expect(happenings(cluster, pending, done).map((e) => [e.kind, e.title])).toEqual([
      ["fence_succeeded", "hv2 was fenced (reboot) by hv1"],
    ]);
    const failed = facts([fence("failed", "2026-12-04 20:25:00Z")]);
    expect(happenings(cluster, pending, failed).map((e) => [e.kind, e.severity])).toEqual([
      ["fence_failed", "critical"],
    ]);
  });
});
