/**
 * The lab directives on a real HA stack (`--ha real`): `!sim autoTakeover|autoFailback` only confirm
 * what the real stack does by itself and never switch the simulator into acting in its place; asking
 * for what it cannot do is refused with the reason. `!sim partition` says the real link is cut too
 * (the real-HA lab follows the simulator's partition; test/lab/real-ha.test.ts checks it for real).
 * No root needed: the real lab is only described here.
 */
import { describe, expect, it } from "vitest";
import { labDirectives } from "../../src/lab/directives";
import type { RealHaLab, RealHaPolicy } from "../../src/lab/real-ha/common";
import { referenceLab, type SimulatedCluster } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import { Simulation } from "../../src/sim/simulation";

function directives(stack: RealHaLab["stack"], policy: RealHaPolicy) {
  const sim = new Simulation(referenceLab());
  // The real-HA lab turns the simulator's own takeover off when it starts.
  sim.setHaPolicy({ autoTakeover: false, autoFailback: false });
  const lab = { cluster: sim, faults: createFaults(sim) } as unknown as SimulatedCluster;
  const realHa = { stack, policy } as unknown as RealHaLab;
  return { sim, directive: labDirectives(lab, realHa) };
}

const HEARTBEAT: RealHaPolicy = {
  autoTakeover: true,
  autoFailback: true,
  why: "heartbeat always takes over",
};
const PACEMAKER: RealHaPolicy = { autoTakeover: true, autoFailback: false, why: "stickiness keeps guests" };

describe("lab directives on the real HA stack", () => {
  it("heartbeat: takeover and auto_failback on are confirmed, off is refused; the simulator stays passive", async () => {
    const { sim, directive } = directives("heartbeat", HEARTBEAT);
    expect(await directive("!sim autoTakeover on")).toBe(
      "lab: the real heartbeat already fences a dead node and starts its guests on the survivor",
    );
    expect(await directive("!sim autoFailback on")).toBe(
      "lab: the real heartbeat already gives a returning node its guests back",
    );
    await expect(directive("!sim autoTakeover off")).rejects.toThrow(
      "!sim autoTakeover off has no equivalent on the real heartbeat: heartbeat always takes over. Use the examples/real-ha-*.txt scripts on the real stack",
    );
    await expect(directive("!sim autoFailback off")).rejects.toThrow(/no equivalent on the real heartbeat/);
    expect(sim.state.ha.autoTakeover).toBe(false);
    expect(sim.state.ha.autoFailback).toBe(false);
  });

  it("Pacemaker: failback off is what stickiness does; failback on is refused", async () => {
    const { sim, directive } = directives("pacemaker", PACEMAKER);
    expect(await directive("!sim autoFailback off")).toBe(
      "lab: the real Pacemaker already leaves the guests where they run when their node returns",
    );
    await expect(directive("!sim autoFailback on")).rejects.toThrow(
      "!sim autoFailback on has no equivalent on the real Pacemaker: stickiness keeps guests",
    );
    expect(sim.state.ha.autoFailback).toBe(false);
  });

  it("a partition says the real link is cut too", async () => {
    const { sim, directive } = directives("heartbeat", HEARTBEAT);
    expect(await directive("!sim partition ics2")).toBe(
      "lab: ics2 is partitioned: xenops and its peers cannot reach it; it keeps running its guests (its heartbeat link is down too)",
    );
    expect(sim.node("ics2")?.partitionedAt).not.toBeNull();
  });
});
